// Command scaler sizes each tenant's Spark workers and Kafka partitions to the load, every
// minute, and applies the decisions the API sends it ({"scaleNow":{"tenant":...}}).
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/setup/buckets"
	"github.com/logwise/controlplane/shared/setup/scalewire"
)

func main() {
	env := setup.MustLoad(context.Background(), "scaler")
	jobs := setup.NewJobs(env)
	sc := scalewire.New(env, buckets.New(env.AWS), scalewire.InProcess(env))
	sc.AddJobs(jobs)
	lambda.Start(sc.Handler(jobs))
}
