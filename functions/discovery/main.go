// Command discovery syncs the services found in each tenant's S3 logs into MySQL and
// publishes the log sync delay, every minute; it also applies the execution retention.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/logwise/controlplane/shared/setup"
)

func main() {
	app := setup.MustApp(context.Background(), "discovery")
	lambda.Start(app.Scheduled("discovery", "retention"))
}
