// Command sparkmonitor keeps each tenant's Spark streaming job alive and runs due replays, every minute.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/logwise/controlplane/shared/setup"
)

func main() {
	app := setup.MustApp(context.Background(), "sparkmonitor")
	lambda.Start(app.Scheduled("sparkmonitor"))
}
