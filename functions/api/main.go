// Command api is the control plane's REST API behind API Gateway (HTTP API or REST API).
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/logwise/controlplane/shared/httpapi"
	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/setup/apiwire"
)

func main() {
	ctx := context.Background()
	env := setup.MustLoad(ctx, "api")
	api, err := apiwire.New(ctx, env, apiwire.Options{})
	if err != nil {
		setup.Fatal(env.Log, "wire api", err)
	}
	lambda.Start(httpapi.LambdaHandler(api.Handler()))
}
