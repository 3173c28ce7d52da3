package setup

import (
	"context"
	"fmt"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/logstore"
	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/supervisor"
)

// wireSpark serves Spark supervision and replays and schedules the sparkmonitor job.
func wireSpark(a *App) error {
	sup := supervisor.New(supervisor.Deps{
		Store:       a.Env.Store,
		Clients:     func(t config.Tenant) (supervisor.Cluster, error) { return a.clients.Spark(t), nil },
		Executions:  a.Env.Executions,
		Metrics:     a.Env.Metrics,
		Log:         a.Env.Log,
		Credentials: supervisor.SecretCredentials(a.Env.Secret),
		Holder:      a.Env.Holder,
		CleanState:  supervisor.LogstoreCleaner(func(t config.Tenant) (logstore.S3API, error) { return a.clients.S3(t), nil }),
		Pipelines:   a.executions,
	})
	a.supervisor = sup
	a.deps.Spark = sup
	a.jobs["sparkmonitor"] = Job{
		Keys:     a.Env.TenantNames,
		TTL:      supervisor.LeaseTTL,
		Parallel: supervisor.RunParallel,
		Run: func(ctx context.Context, key string, l store.Lease) (any, error) {
			t, ok := a.Env.Config.Tenant(key)
			if !ok {
				return nil, fmt.Errorf("tenant %s is not configured", key)
			}
			return sup.Run(ctx, *t, l)
		},
	}
	return nil
}
