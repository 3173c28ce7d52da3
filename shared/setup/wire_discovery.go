package setup

import (
	"context"
	"fmt"
	"time"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/discovery"
	"github.com/logwise/controlplane/shared/freshness"
	"github.com/logwise/controlplane/shared/health"
	"github.com/logwise/controlplane/shared/logstore"
	"github.com/logwise/controlplane/shared/spark"
	"github.com/logwise/controlplane/shared/supervisor"
)

// wireDiscovery serves service discovery, the log sync delay and pipeline health, and
// schedules the discovery job (sync, then publish the delay) per tenant.
func wireDiscovery(a *App) error {
	svc := &discovery.Service{
		Config:  a.Env.Config,
		Store:   a.Env.Store,
		Syncer:  discovery.NewSyncer(a.Env.Store, a.Env.Executions, a.Env.Metrics, a.Env.Log, a.Env.Holder),
		Meter:   freshness.NewMeter(a.Env.Metrics),
		Checker: health.NewChecker(a.Env.HTTP, driverHealth{a}),
		Objects: func(t *config.Tenant) (*logstore.Store, error) { return a.clients.Logs(*t), nil },
		Kafka: func(t *config.Tenant) (health.KafkaMetadata, error) {
			adm, ok := a.kafkaAdmins[t.Name]
			if !ok {
				return nil, fmt.Errorf("tenant %s has no Kafka client", t.Name)
			}
			return health.KadmProbe{Admin: adm}, nil
		},
	}
	a.deps.Discovery = svc
	a.jobs["discovery"] = Job{Keys: a.Env.TenantNames, TTL: 2 * time.Minute, Run: svc.Scheduled}
	return nil
}

// driverHealth answers the pipeline health's Spark question by the monitor's definition: the
// master is ALIVE and a driver of the job is SUBMITTED, RUNNING, RELAUNCHING or UNKNOWN.
type driverHealth struct{ a *App }

func (d driverHealth) DriverAlive(ctx context.Context, tenant string) (bool, string, error) {
	t, ok := d.a.Env.Config.Tenant(tenant)
	if !ok {
		return false, "", fmt.Errorf("tenant %s is not configured", tenant)
	}
	st, err := d.a.clients.Spark(*t).Master(ctx)
	if err != nil {
		return false, "", err
	}
	if st.Status != spark.Alive {
		return false, fmt.Sprintf("the Spark master is %s, not ALIVE", st.Status), nil
	}
	for _, drv := range st.ActiveDrivers {
		if (t.Spark.MainClass == "" || drv.MainClass == t.Spark.MainClass) && supervisor.Alive(drv.State) {
			return true, fmt.Sprintf("driver %s is %s on the ALIVE master", drv.ID, drv.State), nil
		}
	}
	return false, fmt.Sprintf("no driver of %s is alive on the master (%d active drivers)", t.Spark.MainClass, len(st.ActiveDrivers)), nil
}
