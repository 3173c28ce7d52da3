// Command scaler sizes each tenant's Spark workers and Kafka partitions to the load, every
// minute, and applies the decisions the API sends it ({"scaleNow":{"tenant":...}}).
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/logwise/controlplane/shared/scaling/actuators"
	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/setup/buckets"
	"github.com/logwise/controlplane/shared/setup/scalewire"
	"github.com/logwise/controlplane/shared/tracing"
)

func main() {
	env := setup.MustLoad(context.Background(), "scaler")
	jobs := setup.NewJobs(env)
	sc := scalewire.New(env, buckets.New(env.AWS), actuators.InProcess(env.AWS, tracing.HTTPClient))
	sc.AddJobs(jobs)
	lambda.Start(sc.Handler(jobs))
}
