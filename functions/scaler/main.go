// Command scaler sizes each tenant's Spark workers and Kafka partitions to the load, every minute.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/logwise/controlplane/shared/setup"
)

func main() {
	app := setup.MustApp(context.Background(), "scaler")
	lambda.Start(app.Scheduled("scaler"))
}
