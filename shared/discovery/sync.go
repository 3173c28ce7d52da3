package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/metrics"
	"github.com/logwise/controlplane/shared/store"
)

// LeaseTTL bounds how long a sync may hold discovery/<tenant>; a sync of 10,000 services
// takes a few seconds.
const LeaseTTL = 2 * time.Minute

// maxRecordedNames bounds the names listed in one execution record.
const maxRecordedNames = 1000

// ServiceLister lists the services present in a tenant's bucket (*logstore.Store).
type ServiceLister interface {
	ListServices(ctx context.Context) ([]string, error)
}

// serviceDB is the part of *store.DB a sync uses.
type serviceDB interface {
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (store.Lease, error)
	ReleaseLease(ctx context.Context, l store.Lease) error
	Services(ctx context.Context, tenant string) ([]store.Service, error)
	ApplyServiceChanges(ctx context.Context, l store.Lease, c store.ServiceChanges) error
}

// recorder records automatic actions (*executions.Log).
type recorder interface {
	Record(ctx context.Context, a executions.Action) (string, error)
}

// Syncer runs service discovery for one tenant at a time.
type Syncer struct {
	DB       serviceDB
	Recorder recorder
	Metrics  *metrics.Writer // nil discards
	Log      *slog.Logger
	Holder   string // lease holder name of this invocation, e.g. the Lambda request ID
	Now      func() time.Time
}

// NewSyncer returns a Syncer writing to db, recording to rec and publishing to m; a nil log
// means slog.Default().
func NewSyncer(db serviceDB, rec recorder, m *metrics.Writer, log *slog.Logger, holder string) *Syncer {
	if log == nil {
		log = slog.Default()
	}
	return &Syncer{DB: db, Recorder: rec, Metrics: m, Log: log, Holder: holder, Now: time.Now}
}

// Result is what one sync did.
type Result struct {
	Tenant    string   `json:"tenant"`
	Listed    int      `json:"listed"`
	Known     int      `json:"known"`
	Onboarded []string `json:"onboarded"`
	Removed   []string `json:"removed"`
	Missed    []string `json:"missed"`
	Blocked   []string `json:"blocked"`
	Invalid   int      `json:"invalid"`
	Empty     bool     `json:"emptyListing"`
}

// LeaseName is the lease a sync of tenant runs under ("discovery/<tenant>"), the name the
// reconcile runner gives a job called "discovery".
func LeaseName(tenant string) string { return "discovery/" + tenant }

// Sync takes the lease LeaseName(tenant) and runs SyncUnder. Another sync holding the lease
// makes this one return an error wrapping store.ErrLeaseHeld (a Conflict) without listing.
func (s *Syncer) Sync(ctx context.Context, t *config.Tenant, objects ServiceLister) (Result, error) {
	lease, err := s.DB.AcquireLease(ctx, LeaseName(t.Name), s.Holder, LeaseTTL)
	if err != nil {
		return Result{Tenant: t.Name}, fmt.Errorf("sync services of tenant %s: %w", t.Name, err)
	}
	defer func() {
		if err := s.DB.ReleaseLease(context.WithoutCancel(ctx), lease); err != nil {
			s.Log.WarnContext(ctx, "release discovery lease", "tenant", t.Name, "error", err)
		}
	}()
	return s.SyncUnder(ctx, lease, t, objects)
}

// SyncUnder lists the tenant's services in S3 and applies Decide with writes fenced by lease
// (held by the caller, e.g. the reconcile runner). A listing error or an empty listing
// changes nothing. Onboardings and removals are each recorded as one execution per sync.
func (s *Syncer) SyncUnder(ctx context.Context, lease store.Lease, t *config.Tenant, objects ServiceLister) (Result, error) {
	res := Result{Tenant: t.Name}
	at := s.Now().UTC()
	listed, err := objects.ListServices(ctx)
	if err != nil {
		return res, fmt.Errorf("sync services of tenant %s: %w", t.Name, err)
	}
	known, err := s.DB.Services(ctx, t.Name)
	if err != nil {
		return res, fmt.Errorf("sync services of tenant %s: %w", t.Name, err)
	}
	p := Decide(known, listed, Policy{MaxRemovalPercent: t.Discovery.MaxRemovalPercent,
		MinAbsent: time.Duration(t.Discovery.RemoveAfterAbsentMinutes) * time.Minute}, at)
	res.Listed, res.Known, res.Empty, res.Invalid = p.Listed, p.Known, p.Empty, len(p.Invalid)
	for _, inv := range p.Invalid {
		s.Log.WarnContext(ctx, "skipped invalid service name", "tenant", t.Name, "name", truncate(inv.Name, 300), "reason", inv.Reason)
	}
	if p.Empty {
		s.Log.WarnContext(ctx, "service listing is empty; nothing changes", "tenant", t.Name, "known", p.Known, "invalid", len(p.Invalid))
		s.emit(t.Name, p)
		return res, nil
	}

	c := p.Changes()
	c.Tenant, c.RetentionDays, c.At = t.Name, t.DefaultLogsRetentionDays, at
	if err := s.DB.ApplyServiceChanges(ctx, lease, c); err != nil {
		return res, fmt.Errorf("sync services of tenant %s: %w", t.Name, err)
	}
	res.Onboarded, res.Removed, res.Missed, res.Blocked = p.Onboard, p.Remove, p.Missed, p.Blocked
	if len(p.Blocked) > 0 {
		s.Log.WarnContext(ctx, "service removal blocked by the removal guard", "tenant", t.Name,
			"due", len(p.Blocked), "known", p.Known, "maxRemovalPercent", t.Discovery.MaxRemovalPercent)
	}
	s.emit(t.Name, p)
	return res, s.record(ctx, t, p, at)
}

func (s *Syncer) record(ctx context.Context, t *config.Tenant, p Plan, at time.Time) error {
	inputs := map[string]any{"listedServices": p.Listed, "knownServices": p.Known, "listedAt": at.Format(time.RFC3339)}
	var errs []error
	if len(p.Onboard) > 0 {
		_, err := s.Recorder.Record(ctx, executions.Action{
			Tenant: t.Name, Kind: "serviceOnboarding", Trigger: "schedule", StartTime: at,
			Description: fmt.Sprintf("Onboarded %d services for tenant %s", len(p.Onboard), t.Name),
			Inputs:      withRetention(inputs, t.DefaultLogsRetentionDays),
			Rule:        "a service listed under service_name= in S3 and absent from service_details is onboarded with the tenant's defaultLogsRetentionDays",
			Outcome:     map[string]any{"onboarded": len(p.Onboard), "services": capNames(p.Onboard)},
		})
		errs = append(errs, err)
	}
	if len(p.Remove) > 0 || p.NewlyBlocked {
		a := executions.Action{
			Tenant: t.Name, Kind: "serviceRemoval", Trigger: "schedule", StartTime: at,
			Inputs: withGuard(inputs, t.Discovery.MaxRemovalPercent),
			Rule: fmt.Sprintf("a service absent from %d consecutive successful listings is removed, unless the removals exceed %d%% of known services",
				RemoveAfterMissed, t.Discovery.MaxRemovalPercent),
		}
		if len(p.Remove) > 0 {
			a.Description = fmt.Sprintf("Removed %d services for tenant %s", len(p.Remove), t.Name)
			a.Outcome = map[string]any{"removed": len(p.Remove), "services": capNames(p.Remove)}
		} else {
			a.Status = executions.Stopped
			a.Description = fmt.Sprintf("Blocked removal of %d of %d services for tenant %s (guard %d%%)",
				len(p.Blocked), p.Known, t.Name, t.Discovery.MaxRemovalPercent)
			a.Outcome = map[string]any{"removed": 0, "blocked": len(p.Blocked), "services": capNames(p.Blocked)}
		}
		_, err := s.Recorder.Record(ctx, a)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("record service sync of tenant %s: %w", t.Name, err)
	}
	return nil
}

func (s *Syncer) emit(tenant string, p Plan) {
	err := s.Metrics.Emit(map[string]string{"tenant": tenant},
		metrics.Metric{Name: "ServicesListed", Value: float64(p.Listed), Unit: metrics.Count},
		metrics.Metric{Name: "ServicesOnboarded", Value: float64(len(p.Onboard)), Unit: metrics.Count},
		metrics.Metric{Name: "ServicesRemoved", Value: float64(len(p.Remove)), Unit: metrics.Count},
		metrics.Metric{Name: "ServiceRemovalsBlocked", Value: float64(len(p.Blocked)), Unit: metrics.Count},
		metrics.Metric{Name: "InvalidServiceNames", Value: float64(len(p.Invalid)), Unit: metrics.Count},
	)
	if err != nil {
		s.Log.Warn("emit discovery metrics", "tenant", tenant, "error", err)
	}
}

func withRetention(in map[string]any, days int) map[string]any {
	out := map[string]any{"retentionDays": days}
	for k, v := range in {
		out[k] = v
	}
	return out
}

func withGuard(in map[string]any, percent int) map[string]any {
	out := map[string]any{"maxRemovalPercent": percent, "removeAfterMissedListings": RemoveAfterMissed}
	for k, v := range in {
		out[k] = v
	}
	return out
}

func capNames(names []string) []string {
	if len(names) > maxRecordedNames {
		return names[:maxRecordedNames]
	}
	return names
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
