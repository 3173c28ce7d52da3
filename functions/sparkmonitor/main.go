// Command sparkmonitor keeps each tenant's Spark streaming job alive and runs due replays, every minute.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/setup/buckets"
	"github.com/logwise/controlplane/shared/setup/sparkwire"
)

func main() {
	env := setup.MustLoad(context.Background(), "sparkmonitor")
	jobs := setup.NewJobs(env)
	sparkwire.AddJobs(env, jobs, sparkwire.New(env, buckets.New(env.AWS)))
	lambda.Start(jobs.Scheduled("sparkmonitor"))
}
