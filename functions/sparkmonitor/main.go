// Command sparkmonitor keeps each tenant's Spark streaming job alive and runs due replays:
// one check per invocation, the minute's schedule running the first and queueing the others
// (every spark.monitor.pollIntervalSeconds) on the function's ticks queue.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/setup/buckets"
	"github.com/logwise/controlplane/shared/setup/sparkwire"
	"github.com/logwise/controlplane/shared/setup/tickwire"
)

func main() {
	env := setup.MustLoad(context.Background(), "sparkmonitor")
	jobs := setup.NewJobs(env)
	sparkwire.AddJobs(env, jobs, sparkwire.New(env, buckets.New(env.AWS)))
	interval, span := sparkwire.TickSchedule(env)
	lambda.Start(tickwire.New(env, jobs, "sparkmonitor", interval, span).Handler())
}
