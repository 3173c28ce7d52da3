// Package sparkwire wires Spark supervision: the supervisor behind the API's Spark and
// replay routes and the sparkmonitor function's job. Its only secrets are the tenants' S3A
// credentials (spark.s3aCredentialsSecretArn), read when a submission needs them.
package sparkwire

import (
	"context"
	"fmt"
	"time"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/logstore"
	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/setup/buckets"
	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/supervisor"
)

// New builds the supervisor; it contacts nothing.
func New(env *setup.Env, b *buckets.Buckets) *supervisor.Supervisor {
	return supervisor.New(supervisor.Deps{
		Store:       env.Store,
		Clients:     supervisor.SparkClients(env.HTTP),
		Executions:  env.Executions,
		Metrics:     env.Metrics,
		Log:         env.Log,
		Credentials: supervisor.SecretCredentials(env.Secrets.Get),
		Holder:      env.Holder,
		CleanState:  supervisor.LogstoreCleaner(func(t config.Tenant) (logstore.S3API, error) { return b.S3(t), nil }),
		Pipelines:   env.Executions,
	})
}

// AddJobs registers the sparkmonitor job: per tenant, keep the streaming job alive and run
// due replays. Run polls for the minute inside one invocation (the local runner); Tick is one
// check (the sparkmonitor function, one invocation per tick).
func AddJobs(env *setup.Env, jobs *setup.Jobs, sup *supervisor.Supervisor) {
	perTenant := func(poll func(context.Context, config.Tenant, store.Lease) (supervisor.Report, error)) func(context.Context, string, store.Lease) (any, error) {
		return func(ctx context.Context, key string, l store.Lease) (any, error) {
			t, ok := env.Config.Tenant(key)
			if !ok {
				return nil, fmt.Errorf("tenant %s is not configured", key)
			}
			return poll(ctx, *t, l)
		}
	}
	jobs.Add("sparkmonitor", setup.Job{
		Keys:     env.TenantNames,
		TTL:      supervisor.LeaseTTL,
		Parallel: supervisor.RunParallel,
		Run:      perTenant(sup.Run),
		Tick:     perTenant(sup.Poll),
	})
}

// TickSchedule is the spacing of the sparkmonitor function's ticks and how long after each
// schedule they go on (supervisor.TickSchedule over the configured tenants).
func TickSchedule(env *setup.Env) (interval, span time.Duration) {
	return supervisor.TickSchedule(env.Config.Tenants)
}
