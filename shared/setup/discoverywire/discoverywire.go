// Package discoverywire wires service discovery and the log sync delay (the discovery
// function's jobs, the API's discovery routes and pipeline health) and the execution
// retention. It reads no secret and links neither scaling nor peering: the pipeline health
// check's Spark and Kafka probes are given by the API's wiring.
package discoverywire

import (
	"context"
	"time"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/discovery"
	"github.com/logwise/controlplane/shared/freshness"
	"github.com/logwise/controlplane/shared/health"
	"github.com/logwise/controlplane/shared/logstore"
	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/setup/buckets"
	"github.com/logwise/controlplane/shared/store"
)

// Health is what the pipeline health check needs beyond S3: the Spark driver's state and
// each tenant's Kafka probe. The discovery function leaves it nil (it checks no health).
type Health struct {
	Spark health.DriverState
	Kafka func(t *config.Tenant) (health.KafkaMetadata, error)
}

// New wires the discovery service; it contacts nothing.
func New(env *setup.Env, b *buckets.Buckets, h *Health) *discovery.Service {
	svc := &discovery.Service{
		Config:  env.Config,
		Store:   env.Store,
		Syncer:  discovery.NewSyncer(env.Store, env.Executions, env.Metrics, env.Log, env.Holder),
		Meter:   freshness.NewMeter(env.Metrics),
		Objects: func(t *config.Tenant) (*logstore.Store, error) { return b.Logs(*t), nil },
	}
	if h != nil {
		svc.Checker = health.NewChecker(env.HTTP, h.Spark)
		svc.Kafka = h.Kafka
	}
	return svc
}

// AddJobs registers the discovery job (per tenant: sync the services, then publish the
// delay) and, when executions.retentionDays is set, the retention job: completed executions
// older than that are deleted with tombstones, so peers delete them too.
func AddJobs(env *setup.Env, jobs *setup.Jobs, svc *discovery.Service) {
	jobs.Add("discovery", setup.Job{Keys: env.TenantNames, TTL: 2 * time.Minute, Run: svc.Scheduled})
	days := env.Config.Executions.RetentionDays
	if days <= 0 {
		return
	}
	jobs.Add("retention", setup.Job{
		Keys: func() []string { return []string{"executions"} },
		TTL:  2 * time.Minute,
		Run: func(ctx context.Context, _ string, _ store.Lease) (any, error) {
			n, err := env.Executions.PurgeCompleted(ctx, time.Now().Add(-time.Duration(days)*24*time.Hour), 1000)
			return map[string]int{"deleted": n}, err
		},
	})
}
