package discovery

import (
	"context"
	"errors"
	"fmt"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/freshness"
	"github.com/logwise/controlplane/shared/health"
	"github.com/logwise/controlplane/shared/logstore"
	"github.com/logwise/controlplane/shared/store"
)

// serviceReader reads the stored services (*store.DB).
type serviceReader interface {
	Services(ctx context.Context, tenant string) ([]store.Service, error)
}

// Service is what the API and the scheduled discovery function call: service sync and
// details, the log sync delay and the pipeline health, each for one tenant.
type Service struct {
	Config  *config.Config
	Store   serviceReader
	Syncer  *Syncer
	Meter   *freshness.Meter
	Checker *health.Checker
	// Objects returns the tenant's bucket (built once per tenant by the caller).
	Objects func(t *config.Tenant) (*logstore.Store, error)
	// Kafka returns a metadata probe of the tenant's cluster, e.g.
	// kafka.Probe{Admin: adm} with adm from kafka.Connect.
	Kafka func(t *config.Tenant) (health.KafkaMetadata, error)
}

// SyncServices runs one sync of the tenant's services under its own lease (the API's
// POST /component/sync).
func (s *Service) SyncServices(ctx context.Context, t *config.Tenant) (Result, error) {
	objs, err := s.Objects(t)
	if err != nil {
		return Result{Tenant: t.Name}, fmt.Errorf("sync services of tenant %s: %w", t.Name, err)
	}
	return s.Syncer.Sync(ctx, t, objs)
}

// ServiceDetails lists the tenant's stored services.
func (s *Service) ServiceDetails(ctx context.Context, tenant string) ([]store.Service, error) {
	return s.Store.Services(ctx, tenant)
}

// SyncDelay measures the tenant's log sync delay.
func (s *Service) SyncDelay(ctx context.Context, t *config.Tenant) (freshness.Report, error) {
	objs, err := s.Objects(t)
	if err != nil {
		return freshness.Report{}, fmt.Errorf("measure log sync delay of tenant %s: %w", t.Name, err)
	}
	return s.Meter.Measure(ctx, t, objs)
}

// PipelineHealth checks the tenant's pipeline. A dependency that cannot be built is reported
// as its component's DOWN, never as a failed request.
func (s *Service) PipelineHealth(ctx context.Context, t *config.Tenant) health.Report {
	var targets health.Targets
	if objs, err := s.Objects(t); err == nil {
		targets.Objects = objs
	}
	if s.Kafka != nil {
		if k, err := s.Kafka(t); err == nil {
			targets.Kafka = k
		}
	}
	return s.Checker.Check(ctx, t, targets)
}

// Scheduled is the discovery function's job for one tenant (a reconcile.Job under the lease
// "discovery/<tenant>"): sync the services, then measure and publish the delay as EMF. Both
// run even when the other fails.
func (s *Service) Scheduled(ctx context.Context, tenant string, lease store.Lease) (any, error) {
	t, ok := s.Config.Tenant(tenant)
	if !ok {
		return nil, fmt.Errorf("discovery: no tenant %s in the configuration", tenant)
	}
	objs, err := s.Objects(t)
	if err != nil {
		return nil, fmt.Errorf("discovery of tenant %s: %w", tenant, err)
	}
	res, syncErr := s.Syncer.SyncUnder(ctx, lease, t, objs)
	delay, delayErr := s.Meter.Publish(ctx, t, objs)
	return map[string]any{"sync": res, "delay": delay}, errors.Join(syncErr, delayErr)
}
