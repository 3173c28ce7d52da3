// Command migrate applies the database schema migrations. CloudFormation invokes it through
// a custom resource on every deploy, before the other functions are used; it also takes a
// plain {} invocation. The other functions only check the schema at start.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/cfn"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/setup/migratewire"
)

func main() {
	load := func(ctx context.Context) (*setup.Env, error) {
		return setup.Load(ctx, "migrate", setup.Options{Migrate: true})
	}
	lambda.Start(migratewire.Handler(load, cfn.LambdaWrap))
}
