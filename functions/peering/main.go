// Command peering copies executions from the peer regions' databases, one pass per
// invocation (the minute's schedule runs the first and queues the others, every
// peering.intervalMs, on the function's ticks queue), applies interlink events from the
// region's SQS queue, and copies named executions on demand.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/setup/peerwire"
	"github.com/logwise/controlplane/shared/setup/tickwire"
)

func main() {
	env := setup.MustLoad(context.Background(), "peering")
	jobs := setup.NewJobs(env)
	p := peerwire.New(env)
	p.AddJobs(jobs)
	lambda.Start(p.Handler(jobs, tickwire.New(env, jobs, "peeringcopier", p.TickInterval(), 0)))
}
