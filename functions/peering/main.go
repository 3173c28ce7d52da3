// Command peering copies executions from the peer regions' databases every minute (looping
// passes until shortly before its deadline), applies interlink events from the region's SQS
// queue, and copies named executions on demand.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/logwise/controlplane/shared/setup"
)

func main() {
	app := setup.MustApp(context.Background(), "peering")
	lambda.Start(app.PeeringHandler())
}
