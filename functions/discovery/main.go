// Command discovery syncs the services found in each tenant's S3 logs into MySQL and
// publishes the log sync delay, every minute; it also applies the execution retention.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/setup/buckets"
	"github.com/logwise/controlplane/shared/setup/discoverywire"
)

func main() {
	env := setup.MustLoad(context.Background(), "discovery")
	jobs := setup.NewJobs(env)
	discoverywire.AddJobs(env, jobs, discoverywire.New(env, buckets.New(env.AWS), nil))
	lambda.Start(jobs.Scheduled("discovery", "retention"))
}
