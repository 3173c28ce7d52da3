// Command peering copies executions from the peer regions' databases every minute (looping
// passes until shortly before its deadline), applies interlink events from the region's SQS
// queue, and copies named executions on demand.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/setup/peerwire"
)

func main() {
	env := setup.MustLoad(context.Background(), "peering")
	jobs := setup.NewJobs(env)
	p := peerwire.New(env)
	p.AddJobs(jobs)
	lambda.Start(p.Handler(jobs))
}
