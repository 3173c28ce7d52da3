package scaling

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/kafka"
	"github.com/logwise/controlplane/shared/metrics"
	"github.com/logwise/controlplane/shared/store"
)

// KindScaleWorkers is the execution kind of every worker-scaling decision.
const KindScaleWorkers = "scaleWorkers"

// LeaseTTL bounds how long one scaler run may hold a tenant's lease.
const LeaseTTL = 2 * time.Minute

// LeaseName is the lease every scaler run for a tenant takes.
func LeaseName(tenant string) string { return "scaler/" + tenant }

// scalingStore is the part of the store the service uses.
type scalingStore interface {
	InsertStageHistory(ctx context.Context, h store.StageHistory) error
	StageHistories(ctx context.Context, tenant string, limit int) ([]store.StageHistory, error)
	PurgeStageHistory(ctx context.Context, tenant string, maxAge time.Duration) (int64, error)
	ScaleOverride(ctx context.Context, tenant string) (store.ScaleOverride, error)
	SetScaleOverride(ctx context.Context, tenant string, o store.ScaleOverride) error
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (store.Lease, error)
	ReleaseLease(ctx context.Context, l store.Lease) error
	WithFence(ctx context.Context, l store.Lease, fn func(*sql.Tx) error) error
}

// clusterSource reads the master's view of the cluster, fresh on every call (MasterJSON, or
// shared/spark's client once wired).
type clusterSource interface {
	Cluster(ctx context.Context) (Cluster, error)
}

// sinkLogLister lists the object names under <logsDir>/_spark_metadata/ (shared/logstore).
type sinkLogLister interface {
	SinkLog(ctx context.Context) ([]string, error)
}

// partitionScaler runs Kafka partition scaling under the tenant's lease (kafka.Service).
type partitionScaler interface {
	Scale(ctx context.Context, tenant string, lease store.Lease) (kafka.Result, error)
}

// recorder writes the execution log (executions.Log).
type recorder interface {
	Record(ctx context.Context, a executions.Action) (string, error)
}

// Tenant is one tenant's scaling setup.
type Tenant struct {
	Name   string
	Policy Policy
	// ClusterType is asg, kubernetes, docker (never scaled) or empty (decide and record only).
	ClusterType string
	// DryRun records decisions without applying them (spark.dryRun).
	DryRun bool
	// HistoryRetention is how long reports are kept; the scheduled run purges older ones
	// (0: never).
	HistoryRetention time.Duration
	Master           clusterSource
	SinkLog          sinkLogLister
	Actuator         Actuator // nil: no actuator; decisions are recorded only
}

// Service stores the Spark job's reports, decides the worker count, applies and records it,
// and runs Kafka partition scaling on the schedule.
type Service struct {
	db      scalingStore
	rec     recorder
	kafka   partitionScaler
	tenants map[string]Tenant
	now     func() time.Time
	metrics *metrics.Writer // nil discards
}

// SetMetrics makes every decision emit SparkWorkersAlive, SparkWorkersExpected and
// SparkWorkersTarget (EMF, dimension tenant).
func (s *Service) SetMetrics(w *metrics.Writer) { s.metrics = w }

// NewService returns the scaling service. kafka may be nil (no partition scaling).
func NewService(db scalingStore, rec recorder, kafka partitionScaler, tenants []Tenant) *Service {
	s := &Service{db: db, rec: rec, kafka: kafka, tenants: map[string]Tenant{}, now: time.Now}
	for _, t := range tenants {
		s.tenants[t.Name] = t
	}
	return s
}

// SetClock replaces the clock (tests).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Outcome is what one scaling pass did: the decision (with its inputs and rule), what the
// actuator applied, and the execution that records it.
type Outcome struct {
	Decision    Decision `json:"decision"`
	Applied     *Applied `json:"applied,omitempty"`
	DryRun      bool     `json:"dryRun"`
	Skipped     string   `json:"skipped,omitempty"`
	ExecutionID string   `json:"executionId,omitempty"`
	// Error is an application failure that was recorded (retried on the next tick).
	Error string `json:"error,omitempty"`
}

// ReconcileResult is what a scheduled run did.
type ReconcileResult struct {
	Workers Outcome       `json:"workers"`
	Kafka   *kafka.Result `json:"kafka,omitempty"`
}

func (s *Service) tenant(name string) (Tenant, error) {
	t, ok := s.tenants[name]
	if !ok {
		return Tenant{}, fault.New(fault.NotFound, "tenant %s has no Spark scaling configuration", name)
	}
	return t, nil
}

// Intake handles POST /scale-spark-cluster: it validates the report, stores it, then decides
// and applies under the tenant's lease. When another scaler holds the lease, the report is
// stored and the decision is left to the next scheduled run (Skipped says so).
func (s *Service) Intake(ctx context.Context, tenant string, req IntakeRequest) (Outcome, error) {
	if err := req.Validate(); err != nil {
		return Outcome{}, err
	}
	t, err := s.tenant(tenant)
	if err != nil {
		return Outcome{}, err
	}
	if t.ClusterType == "docker" {
		return Outcome{Skipped: fmt.Sprintf("Skipped spark cluster scaling for tenant: %s (Docker cluster type)", tenant)}, nil
	}
	if err := s.db.InsertStageHistory(ctx, req.history(tenant)); err != nil {
		return Outcome{}, fmt.Errorf("store stage history for tenant %s: %w", tenant, err)
	}
	lease, err := s.db.AcquireLease(ctx, LeaseName(tenant), executions.NewID(s.now()), LeaseTTL)
	if errors.Is(err, store.ErrLeaseHeld) {
		return Outcome{Skipped: "another scaler run holds the tenant's lease; the report is stored and the next run decides"}, nil
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("take scaler lease for tenant %s: %w", tenant, err)
	}
	defer s.db.ReleaseLease(context.WithoutCancel(ctx), lease)
	up, down := req.flags()
	return s.scaleWorkers(ctx, t, lease, up, down, "intake")
}

// Run takes the tenant's lease and reconciles; when the lease is held elsewhere it returns
// store.ErrLeaseHeld (the other run acts).
func (s *Service) Run(ctx context.Context, tenant string) (ReconcileResult, error) {
	lease, err := s.db.AcquireLease(ctx, LeaseName(tenant), executions.NewID(s.now()), LeaseTTL)
	if err != nil {
		return ReconcileResult{}, fmt.Errorf("scaler for tenant %s: %w", tenant, err)
	}
	defer s.db.ReleaseLease(context.WithoutCancel(ctx), lease)
	return s.Reconcile(ctx, tenant, lease)
}

// Reconcile is the scheduled scaler for one tenant, run under its lease: re-decide the
// worker count from the stored reports (with the flags the newest report sent), apply it,
// purge reports past retention, then scale Kafka partitions. A failure of one part does not stop the other; both are
// reported in the joined error.
func (s *Service) Reconcile(ctx context.Context, tenant string, lease store.Lease) (ReconcileResult, error) {
	t, err := s.tenant(tenant)
	if err != nil {
		return ReconcileResult{}, err
	}
	var res ReconcileResult
	var werr error
	if t.ClusterType == "docker" {
		res.Workers.Skipped = "Docker cluster type: workers are not scaled"
	} else {
		up, down := true, true
		if hs, err := s.db.StageHistories(ctx, tenant, 1); err == nil && len(hs) == 1 {
			up = hs[0].EnableUpScale == nil || *hs[0].EnableUpScale
			down = hs[0].EnableDownScale == nil || *hs[0].EnableDownScale
		}
		res.Workers, werr = s.scaleWorkers(ctx, t, lease, up, down, "schedule")
	}
	var perr error
	if t.HistoryRetention > 0 {
		_, perr = s.db.PurgeStageHistory(ctx, tenant, t.HistoryRetention)
	}
	var kerr error
	if s.kafka != nil {
		kr, err := s.kafka.Scale(ctx, tenant, lease)
		res.Kafka, kerr = &kr, err
	}
	return res, errors.Join(werr, perr, kerr)
}

// scaleWorkers observes, decides, applies (unless dry-run) and records one decision.
func (s *Service) scaleWorkers(ctx context.Context, t Tenant, lease store.Lease, reqUp, reqDown bool, trigger string) (Outcome, error) {
	start := s.now()
	if t.Master == nil || t.SinkLog == nil {
		return Outcome{}, fault.New(fault.Invalid, "tenant %s: scaling needs the Spark master and the file-sink log listing", t.Name)
	}
	o, err := s.db.ScaleOverride(ctx, t.Name)
	if err != nil {
		return Outcome{}, err
	}
	up, down := Flags(reqUp, reqDown, o.Upscale, o.Downscale)
	hs, err := s.db.StageHistories(ctx, t.Name, HistoryWindow)
	if err != nil {
		return Outcome{}, err
	}
	reports := make([]Report, len(hs))
	for i, h := range hs {
		reports[i] = Report{InputRecords: h.InputRecords, SubmissionTime: h.SubmissionTime}
	}
	cluster, err := t.Master.Cluster(ctx)
	if err != nil {
		return Outcome{}, fmt.Errorf("read Spark workers for tenant %s: %w", t.Name, err)
	}
	sink, err := t.SinkLog.SinkLog(ctx)
	if err != nil {
		return Outcome{}, fmt.Errorf("list file-sink log for tenant %s: %w", t.Name, err)
	}
	d := Decide(Observed{Reports: reports, SinkLog: sink, Workers: cluster.Alive(), DriverRunning: cluster.DriverRunning(), Up: up, Down: down}, t.Policy)
	out := Outcome{Decision: d, DryRun: t.DryRun}
	status := executions.Succeeded
	outcome := d.Outcome()
	switch {
	case !d.Changes():
	case t.DryRun:
		outcome["dryRun"] = true
	case t.Actuator == nil:
		out.Skipped = "no actuator: spark.cluster.clusterType is not asg or kubernetes"
		outcome["skipped"] = out.Skipped
	default:
		// Act only while still holding the lease: a run whose lease was taken over stops here.
		if err := s.db.WithFence(ctx, lease, func(*sql.Tx) error { return nil }); err != nil {
			return out, fmt.Errorf("scale workers for tenant %s: %w", t.Name, err)
		}
		applied, aerr := t.Actuator.Apply(ctx, d, cluster)
		if aerr != nil {
			out.Error = aerr.Error()
			outcome["error"] = aerr.Error()
			status = executions.Terminal
			if errors.Is(aerr, ErrActivityInProgress) {
				outcome["retry"] = "next tick"
				status = executions.Skipped
			}
		} else {
			out.Applied = &applied
			outcome["applied"] = applied
		}
	}
	// A scheduled decision that changes nothing is counted (SparkScaleUnchanged), not
	// recorded: one no-op execution per tick would drown the decision log.
	unchanged := trigger == "schedule" && !d.Changes()
	_ = s.metrics.Emit(map[string]string{"tenant": t.Name},
		metrics.Metric{Name: "SparkWorkersAlive", Value: float64(d.From), Unit: metrics.Count},
		metrics.Metric{Name: "SparkWorkersExpected", Value: float64(d.Clamped), Unit: metrics.Count},
		metrics.Metric{Name: "SparkWorkersTarget", Value: float64(d.Target), Unit: metrics.Count},
		metrics.Metric{Name: "SparkScaleUnchanged", Value: float64(b2i(unchanged)), Unit: metrics.Count})
	if unchanged {
		return out, nil
	}
	inputs := d.Inputs()
	inputs["clusterType"], inputs["dryRun"] = t.ClusterType, t.DryRun
	inputs["override"] = map[string]any{"upscale": o.Upscale, "downscale": o.Downscale}
	inputs["requested"] = map[string]any{"upscale": reqUp, "downscale": reqDown}
	inputs["policy"] = t.Policy
	id, rerr := s.rec.Record(ctx, executions.Action{
		Tenant: t.Name, Kind: KindScaleWorkers, Trigger: trigger, Status: status, StartTime: start,
		Description: fmt.Sprintf("Spark workers %s %d → %d: %s", d.Action, d.From, d.Target, d.Reason),
		Inputs:      inputs, Rule: string(d.Rule), Outcome: outcome,
	})
	out.ExecutionID = id
	if rerr != nil {
		return out, fmt.Errorf("record scaling decision for tenant %s: %w", t.Name, rerr)
	}
	if out.Error != "" && status == executions.Terminal {
		return out, fmt.Errorf("scale workers for tenant %s: %s", t.Name, out.Error)
	}
	return out, nil
}

// ScalePartitions handles POST /kafka/scale-partitions: Kafka partition scaling now, under
// the tenant's scaler lease. When a scaler run holds the lease it is a Conflict (that run
// scales partitions itself).
func (s *Service) ScalePartitions(ctx context.Context, tenant string) (kafka.Result, error) {
	if _, err := s.tenant(tenant); err != nil {
		return kafka.Result{}, err
	}
	if s.kafka == nil {
		return kafka.Result{}, fault.New(fault.NotFound, "Kafka partition scaling is not configured")
	}
	lease, err := s.db.AcquireLease(ctx, LeaseName(tenant), executions.NewID(s.now()), LeaseTTL)
	if err != nil {
		return kafka.Result{}, fmt.Errorf("scale Kafka partitions for tenant %s: %w", tenant, err)
	}
	defer s.db.ReleaseLease(context.WithoutCancel(ctx), lease)
	return s.kafka.Scale(ctx, tenant, lease)
}

// SetOverride handles POST /update-spark-scale-override: both flags are replaced; a nil flag
// clears that override. Repeating the same values succeeds.
func (s *Service) SetOverride(ctx context.Context, tenant string, o store.ScaleOverride) error {
	if _, err := s.tenant(tenant); err != nil {
		return err
	}
	return s.db.SetScaleOverride(ctx, tenant, o)
}

// DefaultHistoryLimit is GET /spark-stage-history's default limit; MaxHistoryLimit its bound.
const (
	DefaultHistoryLimit = 20
	MaxHistoryLimit     = 500
)

// History handles GET /spark-stage-history: the newest limit reports, newest first. limit 0
// means the default; outside 1..MaxHistoryLimit it is invalid.
func (s *Service) History(ctx context.Context, tenant string, limit int) ([]store.StageHistory, error) {
	if limit == 0 {
		limit = DefaultHistoryLimit
	}
	if limit < 1 || limit > MaxHistoryLimit {
		return nil, fault.New(fault.Invalid, "limit must be between 1 and %d, got %d", MaxHistoryLimit, limit)
	}
	return s.db.StageHistories(ctx, tenant, limit)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
