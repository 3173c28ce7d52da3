// Command api is the control plane's REST API behind API Gateway (HTTP API or REST API).
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/logwise/controlplane/shared/httpapi"
	"github.com/logwise/controlplane/shared/setup"
)

func main() {
	app := setup.MustApp(context.Background(), "api")
	lambda.Start(httpapi.LambdaHandler(app.API.Handler()))
}
