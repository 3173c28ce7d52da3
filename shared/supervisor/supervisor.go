// Package supervisor keeps each tenant's Spark streaming job alive: it reads the master's
// state, decides with a pure rule (Decide) whether a driver of the job is alive, and when none
// is, submits the job under the tenant's lease, within a crash-loop budget, recording every
// submission in MySQL and in the execution log. The scheduled sparkmonitor function calls Run;
// POST /monitor-spark-job calls Check.
package supervisor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/logstore"
	"github.com/logwise/controlplane/shared/metrics"
	"github.com/logwise/controlplane/shared/spark"
	"github.com/logwise/controlplane/shared/store"
)

// Cluster is the part of a tenant's Spark client the supervisor uses (*spark.Client).
type Cluster interface {
	Master(ctx context.Context) (spark.MasterState, error)
	Submit(ctx context.Context, req *spark.CreateRequest) (spark.Submission, error)
	Kill(ctx context.Context, submissionID string) error
}

// Store is the part of the database the supervisor uses (*store.DB): typed methods only, so
// that a map-backed fake can stand in for it.
type Store interface {
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (store.Lease, error)
	ReleaseLease(ctx context.Context, l store.Lease) error
	SparkSupervision(ctx context.Context, tenant string) (store.Supervision, error)
	CountedSubmissions(ctx context.Context, tenant string, from time.Time) ([]time.Time, error)
	RecordSubmissionAttempt(ctx context.Context, l store.Lease, s store.SparkSubmission) (int64, error)
	RecordSubmissionOutcome(ctx context.Context, id int64, submissionID, outcome, message, master string) error
	EnterCrashLoop(ctx context.Context, l store.Lease, tenant, reason string, seen uint64, now time.Time) (bool, error)
	SetSupervisionByOperator(ctx context.Context, tenant, operator, state, reason string, now time.Time) (string, error)
	SparkSubmissions(ctx context.Context, tenant string, limit int) ([]store.SparkSubmission, error)
	SetSparkReplayStep(ctx context.Context, l store.Lease, id int64, phase, from, to string, cleaned bool, now time.Time) error
	CompleteSparkReplayPhase(ctx context.Context, l store.Lease, id int64, phase, next, waiting, submitting, submissionID string, now time.Time) error
	EndSparkReplay(ctx context.Context, l store.Lease, id int64, by, reason string, now time.Time) error
	ApproveSparkReplay(ctx context.Context, id int64, by string, now time.Time) error
	SaveSparkReplayError(ctx context.Context, id int64, msg string) error
	SparkReplays(ctx context.Context, tenant string) ([]store.SparkReplay, error)
	SparkReplayByID(ctx context.Context, tenant string, id int64) (store.SparkReplay, error)
	OpenSparkReplay(ctx context.Context, tenant string) (*store.SparkReplay, error)
	CreateSparkReplay(ctx context.Context, r store.SparkReplay, now time.Time) (int64, error)
	AdoptSparkReplay(ctx context.Context, l store.Lease, r store.SparkReplay, now time.Time) (int64, error)
	SparkReplayOfPipelineExists(ctx context.Context, pipelineID string) (bool, error)
	ChangeSparkReplay(ctx context.Context, tenant string, id int64, now time.Time, decide func(store.SparkReplay) (store.ReplayChange, error)) error
}

// Recorder writes automatic actions to the execution log (*executions.Log).
type Recorder interface {
	Record(ctx context.Context, a executions.Action) (string, error)
}

// CredentialSource resolves the static S3A credentials of a tenant whose configuration names
// a Secrets Manager secret (spark.s3aCredentialsSecretArn).
type CredentialSource interface {
	S3ACredentials(ctx context.Context, secretARN string) (spark.Credentials, error)
}

// Deps are the supervisor's collaborators.
type Deps struct {
	Store Store
	// Clients returns the Spark client of a tenant (e.g. spark.New(spark.ConfigFrom(t.Spark))).
	Clients    func(t config.Tenant) (Cluster, error)
	Executions Recorder
	Metrics    *metrics.Writer // nil discards
	Log        *slog.Logger    // nil discards
	// Credentials is needed only for tenants with spark.s3aCredentialsSecretArn.
	Credentials CredentialSource
	// Holder names this process in the lease table (function name, request id).
	Holder string
	// CleanState deletes the tenant's Spark state for a replay: the whole checkpoint
	// directory and <logsDir>/_spark_metadata, verifying nothing is left (LogstoreCleaner).
	// Needed only for replays.
	CleanState func(ctx context.Context, t config.Tenant) (logstore.DeleteReport, error)
	// Pipelines governs replays through the execution log (*executions.Repository of the
	// local partition): each replay runs as a pipeline whose stages are its steps, so that
	// pause, resume, cancel and judgement act on it, and a region that takes a replay
	// pipeline over continues it. nil: replays run without a pipeline.
	Pipelines Pipelines
}

// Supervisor monitors and resubmits tenants' streaming jobs. It is safe for concurrent use:
// every check of a tenant runs under the tenant's lease.
type Supervisor struct {
	d     Deps
	log   *slog.Logger
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error

	mu sync.Mutex
	// masterSeen is the master status each tenant's last check saw, so that a master that
	// is not ALIVE is logged once per change, not on every poll.
	masterSeen map[string]spark.RecoveryState
}

// RunParallel is how many tenants' Runs one sparkmonitor invocation runs at once. A Run
// spends its minute sleeping between polls, so they all run together: with the runner's
// default of 4, tenants beyond the first few were never checked before the function's
// timeout (4 at a time × 60 s each). The store's pool bounds the concurrent queries.
const RunParallel = 512

// LeaseTTL is the lease Check takes for one check.
const LeaseTTL = 2 * time.Minute

// CheckTimeout bounds Check, so that POST /monitor-spark-job answers inside API Gateway's
// 29 s.
const CheckTimeout = 25 * time.Second

// checkBudget is how long one check may take (a /json read and a submission, 10 s each):
// Run starts no poll closer than this to ctx's deadline.
const checkBudget = 25 * time.Second

// New returns a supervisor.
func New(d Deps) *Supervisor {
	l := d.Log
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &Supervisor{d: d, log: l, now: time.Now, sleep: sleepCtx, masterSeen: map[string]spark.RecoveryState{}}
}

// SetClock replaces the clock and the sleep between polls (tests).
func (s *Supervisor) SetClock(now func() time.Time, sleep func(ctx context.Context, d time.Duration) error) {
	s.now, s.sleep = now, sleep
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// LeaseName is the lease of a tenant's monitor.
func LeaseName(tenant string) string { return "sparkmonitor/" + tenant }

// Options are the per-check choices of the API.
type Options struct {
	DriverCores      int
	DriverMemoryInGB int
	// Trigger says what started the check: schedule, api, operator.
	Trigger string
}

// Result is what one check found and did.
type Result struct {
	Tenant           string              `json:"tenant"`
	MasterStatus     spark.RecoveryState `json:"masterStatus,omitempty"`
	DriverID         string              `json:"driverId,omitempty"`
	DriverState      spark.DriverState   `json:"driverState,omitempty"`
	Action           Action              `json:"action"`
	Reason           string              `json:"reason"`
	SubmissionID     string              `json:"submissionId,omitempty"`
	SupervisionState string              `json:"supervisionState,omitempty"`
	NotBefore        *time.Time          `json:"notBefore,omitempty"`
	Replay           *ReplayStatus       `json:"replay,omitempty"`
	// Error is why the check failed (in a Run's report; Check returns it as its error).
	Error string `json:"error,omitempty"`
}

// Report is what a scheduled Run did, one Result per poll.
type Report struct {
	Checks []Result `json:"checks"`
}

// Check does one check of the tenant's job under the tenant's lease and acts on it. When
// another invocation holds the lease it returns Action Busy and no error: that invocation is
// already looking after the job.
func (s *Supervisor) Check(ctx context.Context, t config.Tenant, opts Options) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	lease, err := s.d.Store.AcquireLease(ctx, LeaseName(t.Name), s.holder(), LeaseTTL)
	if errors.Is(err, store.ErrLeaseHeld) {
		return s.busy(ctx, t), nil
	}
	if err != nil {
		return Result{Tenant: t.Name}, fmt.Errorf("check spark job of tenant %s: %w", t.Name, err)
	}
	defer func() {
		if err := s.d.Store.ReleaseLease(context.WithoutCancel(ctx), lease); err != nil {
			s.log.WarnContext(ctx, "release monitor lease", "tenant", t.Name, "error", err.Error())
		}
	}()
	if opts.Trigger == "" {
		opts.Trigger = "api"
	}
	return s.check(ctx, t, lease, opts)
}

// busy reports what the master shows, without acting, when another invocation holds the lease.
func (s *Supervisor) busy(ctx context.Context, t config.Tenant) Result {
	res := Result{Tenant: t.Name, Action: Busy, Reason: "another monitor invocation holds the tenant's lease and is acting on the job"}
	cluster, err := s.d.Clients(t)
	if err != nil {
		return res
	}
	obs, err := s.observe(ctx, t, cluster)
	if err != nil {
		return res
	}
	r := s.result(t, obs, Decide(obs))
	r.Action, r.Reason, r.NotBefore = Busy, res.Reason+"; seen now: "+r.Reason, nil
	return r
}

// Run is the scheduled monitor of one tenant, under a lease its caller holds: it checks every
// monitor.pollIntervalSeconds for up to monitor.durationSeconds, stops once it has submitted
// (or the tenant entered CRASH_LOOP), and starts no check that could outlive ctx's deadline.
// A failed check is logged and reported, and polling goes on: a master unreachable for one
// poll must not leave the job unwatched for the rest of the minute. Run returns the last
// check's error, if it failed.
func (s *Supervisor) Run(ctx context.Context, t config.Tenant, lease store.Lease) (Report, error) {
	interval := time.Duration(t.Spark.Monitor.PollIntervalSeconds) * time.Second
	duration := time.Duration(t.Spark.Monitor.DurationSeconds) * time.Second
	if interval <= 0 {
		interval = 15 * time.Second
	}
	if duration <= 0 {
		duration = 60 * time.Second
	}
	var rep Report
	start := s.now()
	for {
		res, err := s.check(ctx, t, lease, Options{Trigger: "schedule"})
		if err != nil {
			res.Error = err.Error()
			s.log.WarnContext(ctx, "spark monitor check failed; polling goes on", "tenant", t.Name, "error", err.Error())
			if errors.Is(err, store.ErrStaleToken) {
				rep.Checks = append(rep.Checks, res)
				return rep, err // the lease was taken over: another invocation watches the job
			}
		}
		rep.Checks = append(rep.Checks, res)
		if res.Action == Submit || res.Action == EnterCrashLoop || res.Action == ReplaySubmit {
			return rep, err // a refused submission is counted; the next run backs off
		}
		next := s.now().Add(interval)
		if next.Sub(start) >= duration {
			return rep, err
		}
		if dl, ok := ctx.Deadline(); ok && dl.Sub(next) < checkBudget {
			return rep, err
		}
		if serr := s.sleep(ctx, interval); serr != nil {
			return rep, err // ctx ended (deadline, or the lease was lost): stop cleanly
		}
	}
}

// check reads the master, decides and acts, under lease.
func (s *Supervisor) check(ctx context.Context, t config.Tenant, lease store.Lease, opts Options) (Result, error) {
	res := Result{Tenant: t.Name}
	cluster, err := s.d.Clients(t)
	if err != nil {
		return res, fmt.Errorf("spark client for tenant %s: %w", t.Name, err)
	}
	obs, err := s.observe(ctx, t, cluster)
	if err != nil {
		// Metrics on every check, whatever failed: an alarm that treats missing data as
		// fine must still see the driver down.
		s.emit(t.Name, map[string]float64{"SparkMasterReachable": 0, "SparkDriverAlive": 0})
		return res, err
	}
	s.noteMaster(ctx, t.Name, obs.Master.Status)
	s.adoptReplays(ctx, t, lease)
	replay, err := s.openReplay(ctx, t.Name)
	if err != nil {
		return res, err
	}
	var replayStatus *ReplayStatus
	if replay != nil {
		rres, handled, err := s.advanceReplay(ctx, t, lease, cluster, obs, replay)
		if handled || err != nil {
			return rres, err
		}
		replayStatus = rres.Replay
	}
	d := Decide(obs)
	if d.Action == Submit {
		// Re-read right before submitting: the lease excludes other monitors, not people or
		// tools that may have started a driver meanwhile.
		if obs, err = s.observe(ctx, t, cluster); err != nil {
			return res, err
		}
		d = Decide(obs)
	}
	res = s.result(t, obs, d)
	res.Replay = replayStatus
	s.emit(t.Name, map[string]float64{"SparkMasterReachable": 1, "SparkDriverAlive": boolf(d.Running()),
		"SparkDriverWaitingForWorkers": boolf(d.Action == WaitForWorkers),
		"SparkCrashLoop":               boolf(obs.Budget.State == StateCrashLoop || d.Action == EnterCrashLoop)})
	switch d.Action {
	case WaitForWorkers:
		s.log.WarnContext(ctx, "spark driver cannot start: no alive worker", "tenant", t.Name, "driver", d.Alive[0].ID,
			"aliveWorkers", obs.Master.AliveWorkers, "reason", d.Reason)
	case Keep:
		if len(d.Duplicates) > 0 {
			return s.killDuplicates(ctx, t, cluster, obs, d, opts, res)
		}
	case Submit:
		return s.submit(ctx, t, lease, cluster, obs, d.Reason, opts, resubmitTimestamp(replay), res)
	case EnterCrashLoop:
		return s.enterCrashLoop(ctx, t, lease, obs, d, opts, res)
	}
	return res, nil
}

// observe reads the master's state and the tenant's budget. A master that is only standby is
// an observation (nothing will be submitted), not an error.
func (s *Supervisor) observe(ctx context.Context, t config.Tenant, cluster Cluster) (Observation, error) {
	ms, err := cluster.Master(ctx)
	if err != nil && !(errors.Is(err, spark.ErrStandby) && ms.Status != "") {
		return Observation{}, fmt.Errorf("read spark master of tenant %s: %w", t.Name, err)
	}
	now := s.now()
	b, err := s.budget(ctx, t.Name, t.Spark.Monitor.CrashLoop, now)
	if err != nil {
		return Observation{}, err
	}
	return Observation{Master: ms, MainClass: t.Spark.MainClass, Budget: b, Now: now}, nil
}

func (s *Supervisor) result(t config.Tenant, obs Observation, d Decision) Result {
	r := Result{Tenant: t.Name, MasterStatus: obs.Master.Status, Action: d.Action, Reason: d.Reason,
		SupervisionState: nonEmpty(obs.Budget.State, StateActive)}
	if len(d.Alive) > 0 {
		r.DriverID, r.DriverState = d.Alive[0].ID, d.Alive[0].State
	}
	if !d.NotBefore.IsZero() {
		nb := d.NotBefore
		r.NotBefore = &nb
	}
	if d.Action == EnterCrashLoop {
		r.SupervisionState = StateCrashLoop
	}
	return r
}

// submit builds the body, records the attempt under the fence, sends it and records the
// outcome. A request that got no answer is recorded UNKNOWN and not retried.
func (s *Supervisor) submit(ctx context.Context, t config.Tenant, lease store.Lease, cluster Cluster, obs Observation, reason string, opts Options, startingOffsetsTimestamp int64, res Result) (Result, error) {
	so := spark.SubmitOptions{DriverCores: opts.DriverCores, DriverMemoryInGB: opts.DriverMemoryInGB, StartingOffsetsTimestamp: startingOffsetsTimestamp}
	if arn := t.Spark.S3ACredentialsSecretARN; arn != "" {
		if s.d.Credentials == nil {
			return res, fault.New(fault.Internal, "tenant %s names an S3A credentials secret but no credential source is wired", t.Name)
		}
		c, err := s.d.Credentials.S3ACredentials(ctx, arn)
		if err != nil {
			return res, fmt.Errorf("resolve S3A credentials of tenant %s: %w", t.Name, err)
		}
		so.Credentials = &c
	}
	req, err := spark.BuildSubmission(t, so)
	if err != nil {
		return res, fmt.Errorf("build submission for tenant %s: %w", t.Name, err)
	}
	started := s.now()
	rowID, err := s.recordAttempt(ctx, lease, t.Name, started, reason, opts.Trigger, req)
	if err != nil {
		return res, fmt.Errorf("record submission for tenant %s: %w", t.Name, err)
	}
	sub, subErr := cluster.Submit(ctx, req)
	outcome, msg := "ACCEPTED", sub.Message
	switch {
	case errors.Is(subErr, spark.ErrOutcomeUnknown):
		outcome, msg = "UNKNOWN", subErr.Error()
	case subErr != nil:
		outcome, msg = "FAILED", subErr.Error()
	}
	if err := s.d.Store.RecordSubmissionOutcome(context.WithoutCancel(ctx), rowID, sub.ID, outcome, msg, sub.Master); err != nil {
		s.log.ErrorContext(ctx, "record submission outcome", "tenant", t.Name, "submission", sub.ID, "error", err.Error())
	}
	status := executions.Succeeded
	if subErr != nil {
		status = executions.Terminal
	}
	s.record(ctx, executions.Action{Tenant: t.Name, Kind: "sparkSubmission", Trigger: opts.Trigger, StartTime: started,
		Description: "Submit the Spark streaming job: " + reason, Inputs: inputs(obs), Status: status,
		Rule:    "submit when no driver of the job is SUBMITTED, RUNNING, RELAUNCHING or UNKNOWN, the master is ALIVE and the crash-loop budget allows it",
		Outcome: map[string]any{"submissionId": sub.ID, "outcome": outcome, "message": msg, "master": sub.Master, "request": string(req.RedactedJSON())}})
	if subErr != nil { // logged once, by the caller
		return res, fmt.Errorf("submit spark job for tenant %s (recorded as %s): %w", t.Name, outcome, subErr)
	}
	s.emit(t.Name, map[string]float64{"SparkSubmissions": 1})
	s.log.InfoContext(ctx, "submitted spark driver", "tenant", t.Name, "submission", sub.ID, "reason", reason, "request", req)
	res.SubmissionID, res.DriverID, res.DriverState = sub.ID, sub.ID, spark.Submitted
	return res, nil
}

// killDuplicates kills every alive driver of the job but the one kept (Decide: the newest
// RUNNING one), records each kill and counts them: two drivers on one checkpoint corrupt it.
func (s *Supervisor) killDuplicates(ctx context.Context, t config.Tenant, cluster Cluster, obs Observation, d Decision, opts Options, res Result) (Result, error) {
	killed := 0
	var errs []error
	for _, dup := range d.Duplicates {
		err := cluster.Kill(ctx, dup.ID)
		if err != nil && !errors.Is(err, spark.ErrAlreadyFinished) {
			errs = append(errs, fmt.Errorf("kill duplicate driver %s of tenant %s: %w", dup.ID, t.Name, err))
			continue
		}
		killed++
		s.record(ctx, executions.Action{Tenant: t.Name, Kind: "sparkKill", Trigger: opts.Trigger, Inputs: inputs(obs),
			Description: fmt.Sprintf("Kill duplicate driver %s of the job; %s is kept", dup.ID, d.Alive[0].ID),
			Rule:        "one driver of the job at a time: all but the newest RUNNING one (else the newest) are killed",
			Outcome:     map[string]any{"driverId": dup.ID, "state": dup.State, "kept": d.Alive[0].ID}})
		s.log.WarnContext(ctx, "killed duplicate spark driver", "tenant", t.Name, "driver", dup.ID, "state", dup.State, "kept", d.Alive[0].ID)
	}
	s.emit(t.Name, map[string]float64{"SparkDuplicateDriversKilled": float64(killed)})
	return res, errors.Join(errs...)
}

// noteMaster logs a master that is not ALIVE at WARN, once per change of its state (and its
// return to ALIVE at INFO): the reason otherwise went only to the invocation's result.
func (s *Supervisor) noteMaster(ctx context.Context, tenant string, status spark.RecoveryState) {
	s.mu.Lock()
	prev, seen := s.masterSeen[tenant]
	s.masterSeen[tenant] = status
	s.mu.Unlock()
	switch {
	case seen && prev == status:
	case status != spark.Alive:
		s.log.WarnContext(ctx, "spark master is not ALIVE; nothing is submitted until it is", "tenant", tenant,
			"status", statusName(status), "previous", string(prev))
	case seen:
		s.log.InfoContext(ctx, "spark master is ALIVE again", "tenant", tenant, "previous", string(prev))
	}
}

func (s *Supervisor) enterCrashLoop(ctx context.Context, t config.Tenant, lease store.Lease, obs Observation, d Decision, opts Options, res Result) (Result, error) {
	changed, err := s.d.Store.EnterCrashLoop(ctx, lease, t.Name, d.Reason, obs.Budget.Version, s.now())
	if err != nil {
		return res, fmt.Errorf("enter crash loop for tenant %s: %w", t.Name, err)
	}
	if !changed { // an operator changed the state since it was read; decide again next time
		res.Action, res.SupervisionState = Hold, obs.Budget.State
		res.Reason = "supervision state changed while deciding; not entering CRASH_LOOP"
		return res, nil
	}
	s.record(ctx, executions.Action{Tenant: t.Name, Kind: "sparkCrashLoop", Trigger: opts.Trigger,
		Description: "Stop resubmitting the Spark job: " + d.Reason, Inputs: inputs(obs),
		Rule:    fmt.Sprintf("at most %d submissions within %d minutes", t.Spark.Monitor.CrashLoop.MaxSubmissions, t.Spark.Monitor.CrashLoop.WindowMinutes),
		Outcome: map[string]any{"state": StateCrashLoop}})
	s.log.WarnContext(ctx, "spark job entered CRASH_LOOP; resubmission stopped until an operator resumes it", "tenant", t.Name, "reason", d.Reason)
	return res, nil
}

// Resume takes the tenant out of CRASH_LOOP or PAUSED and restarts the crash-loop window;
// the next check may submit at once. It returns the state the tenant was in.
func (s *Supervisor) Resume(ctx context.Context, tenant, operator string) (string, error) {
	return s.setOperatorState(ctx, tenant, operator, StateActive, "sparkMonitorResume", "resumed by "+operator)
}

// Pause stops automatic resubmission for the tenant until Resume.
func (s *Supervisor) Pause(ctx context.Context, tenant, operator string) (string, error) {
	return s.setOperatorState(ctx, tenant, operator, StatePaused, "sparkMonitorPause", "paused by "+operator)
}

func (s *Supervisor) setOperatorState(ctx context.Context, tenant, operator, state, kind, reason string) (string, error) {
	if operator == "" {
		return "", fault.Invalidf("operator is required")
	}
	prev, err := s.d.Store.SetSupervisionByOperator(ctx, tenant, operator, state, reason, s.now())
	if err != nil {
		return "", fmt.Errorf("set supervision of tenant %s to %s: %w", tenant, state, err)
	}
	s.record(ctx, executions.Action{Tenant: tenant, Kind: kind, Trigger: "operator", Description: reason,
		Inputs: map[string]any{"previousState": prev, "operator": operator}, Rule: "operator request",
		Outcome: map[string]any{"state": state}})
	if state == StateActive {
		s.emit(tenant, map[string]float64{"SparkCrashLoop": 0})
	}
	s.log.InfoContext(ctx, "spark supervision changed by operator", "tenant", tenant, "operator", operator, "from", prev, "to", state)
	return prev, nil
}

// State returns the tenant's supervision state (ACTIVE, CRASH_LOOP or PAUSED).
func (s *Supervisor) State(ctx context.Context, tenant string) (string, error) {
	sup, err := s.d.Store.SparkSupervision(ctx, tenant)
	return sup.State, err
}

func (s *Supervisor) record(ctx context.Context, a executions.Action) {
	if s.d.Executions == nil {
		return
	}
	if _, err := s.d.Executions.Record(context.WithoutCancel(ctx), a); err != nil {
		s.log.ErrorContext(ctx, "record execution", "tenant", a.Tenant, "kind", a.Kind, "error", err.Error())
	}
}

func (s *Supervisor) emit(tenant string, values map[string]float64) {
	ms := make([]metrics.Metric, 0, len(values))
	for _, name := range []string{"SparkMasterReachable", "SparkDriverAlive", "SparkDriverWaitingForWorkers",
		"SparkSubmissions", "SparkCrashLoop", "SparkDuplicateDriversKilled"} {
		if v, ok := values[name]; ok {
			ms = append(ms, metrics.Metric{Name: name, Value: v, Unit: metrics.Count})
		}
	}
	if err := s.d.Metrics.Emit(map[string]string{"tenant": tenant}, ms...); err != nil {
		s.log.Warn("emit metrics", "tenant", tenant, "error", err.Error())
	}
}

// inputs is what a decision saw, for the execution log.
func inputs(o Observation) map[string]any {
	drivers := make([]map[string]any, 0, len(o.Master.ActiveDrivers))
	for _, d := range o.Master.ActiveDrivers {
		drivers = append(drivers, map[string]any{"id": d.ID, "state": d.State, "mainClass": d.MainClass, "worker": d.Worker})
	}
	return map[string]any{"masterStatus": o.Master.Status, "activeDrivers": drivers, "mainClass": o.MainClass,
		"supervisionState": nonEmpty(o.Budget.State, StateActive), "submissionsInWindow": len(o.Budget.RecentSubmissions)}
}

func (s *Supervisor) holder() string {
	b := make([]byte, 6)
	rand.Read(b)
	return nonEmpty(s.d.Holder, "supervisor") + "/" + hex.EncodeToString(b)
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func nonEmpty(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
