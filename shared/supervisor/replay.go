package supervisor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/logstore"
	"github.com/logwise/controlplane/shared/spark"
	"github.com/logwise/controlplane/shared/store"
)

// Replay phases: first restart from StartingOffsetsTimestamp, then (at
// ResumeToSubscribePatternTimestamp) restart on the subscribe pattern.
const (
	PhaseTimestamp = "TIMESTAMP"
	PhaseResume    = "RESUME"
	PhaseDone      = "DONE"
)

// Replay steps inside a phase. Each is recorded before it is acted on, so that a crash
// resumes at the right step: KILLING is repeated until no driver is alive; CLEANING is only
// entered after KILLING and left for SUBMITTING once the state is verified gone, so the
// checkpoint of the new driver is never deleted; SUBMITTING first re-reads the master and
// does not submit again if a driver is alive.
const (
	StepWaiting    = "WAITING"
	StepKilling    = "KILLING"
	StepCleaning   = "CLEANING"
	StepSubmitting = "SUBMITTING"
)

// Replay actions in a Result.
const (
	ReplayKilling Action = "REPLAY_KILLING" // kill requested; waiting for the driver to stop
	ReplaySubmit  Action = "REPLAY_SUBMIT"  // state cleaned and the job submitted for a phase
)

// ReplayRequest is what an operator asks for (epoch milliseconds).
type ReplayRequest struct {
	StartingOffsetsTimestamp          int64 `json:"startingOffsetsTimestamp"`
	ResumeToSubscribePatternTimestamp int64 `json:"resumeToSubscribePatternTimestamp"`
	ApprovalRequired                  bool  `json:"approvalRequired"`
}

// Replay is one row of spark_submit_status.
type Replay struct {
	ID                                int64      `json:"id"`
	Tenant                            string     `json:"tenant"`
	StartingOffsetsTimestamp          int64      `json:"startingOffsetsTimestamp"`
	ResumeToSubscribePatternTimestamp int64      `json:"resumeToSubscribePatternTimestamp"`
	SubmittedForOffsetsTimestamp      bool       `json:"isSubmittedForOffsetsTimestamp"`
	ResumedToSubscribePattern         bool       `json:"isResumedToSubscribePattern"`
	ApprovalRequired                  bool       `json:"approvalRequired"`
	ApprovedBy                        string     `json:"approvedBy,omitempty"`
	ApprovedAt                        *time.Time `json:"approvedAt,omitempty"`
	CreatedBy                         string     `json:"createdBy,omitempty"`
	CanceledBy                        string     `json:"canceledBy,omitempty"`
	CanceledAt                        *time.Time `json:"canceledAt,omitempty"`
	Phase                             string     `json:"phase"`
	Step                              string     `json:"step"`
	CleanedPhases                     []string   `json:"cleanedPhases"`
	LastSubmissionID                  string     `json:"lastSubmissionId,omitempty"`
	LastError                         string     `json:"lastError,omitempty"`
	// PipelineID is the execution the replay runs as (see Deps.Pipelines).
	PipelineID string `json:"pipelineId,omitempty"`
	// EndReason says why a replay ended before its last phase (its pipeline was canceled,
	// judged stop or taken over).
	EndReason string `json:"endReason,omitempty"`
}

// open reports whether the replay still has work to do.
func (r *Replay) open() bool { return r.Phase != PhaseDone && r.CanceledAt == nil }

// dueAt is when the current phase starts.
func (r *Replay) dueAt() time.Time {
	if r.Phase == PhaseResume {
		return time.UnixMilli(r.ResumeToSubscribePatternTimestamp)
	}
	return time.UnixMilli(r.StartingOffsetsTimestamp)
}

// phaseTimestamp is the kafka.startingOffsetsTimestamp of the phase's submission.
func (r *Replay) phaseTimestamp() int64 {
	if r.Phase == PhaseTimestamp {
		return r.StartingOffsetsTimestamp
	}
	return 0
}

// ReplayStatus is a replay's progress in a Result.
type ReplayStatus struct {
	ID         int64  `json:"id"`
	PipelineID string `json:"pipelineId,omitempty"`
	Phase      string `json:"phase"`
	Step       string `json:"step"`
	Note       string `json:"note,omitempty"`
}

// CreateReplay records a replay for the tenant. Only one replay may be open at a time.
func (s *Supervisor) CreateReplay(ctx context.Context, tenant string, req ReplayRequest, operator string) (Replay, error) {
	switch {
	case operator == "":
		return Replay{}, fault.Invalidf("operator is required")
	case req.StartingOffsetsTimestamp <= 0:
		return Replay{}, fault.Invalidf("startingOffsetsTimestamp must be epoch milliseconds, got %d", req.StartingOffsetsTimestamp)
	case req.ResumeToSubscribePatternTimestamp <= req.StartingOffsetsTimestamp:
		return Replay{}, fault.Invalidf("resumeToSubscribePatternTimestamp (%d) must be after startingOffsetsTimestamp (%d)",
			req.ResumeToSubscribePatternTimestamp, req.StartingOffsetsTimestamp)
	case req.StartingOffsetsTimestamp < 1_000_000_000_000:
		return Replay{}, fault.Invalidf("startingOffsetsTimestamp %d looks like seconds; use epoch milliseconds", req.StartingOffsetsTimestamp)
	}
	// The pipeline is started before the row's transaction (a transaction must not wait on a
	// second connection: the embedded database has only one), and the row is written with its
	// pipeline id, so that a replay never runs ungoverned; a pipeline whose row is then not
	// committed is canceled below. The open-replay check is made first without a lock, so that
	// the common conflict starts no pipeline, and again under the lock.
	if open, err := s.d.Store.OpenSparkReplay(ctx, tenant); err != nil {
		return Replay{}, fmt.Errorf("create replay for tenant %s: %w", tenant, err)
	} else if open != nil {
		return Replay{}, fault.Conflictf("tenant %s already has open replay %d (phase %s, step %s); cancel it first", tenant, open.ID, open.Phase, open.Step)
	}
	var pipelineID string
	if s.d.Pipelines != nil {
		var err error
		if pipelineID, err = s.startReplayPipeline(ctx, tenant, req, operator); err != nil {
			return Replay{}, fmt.Errorf("create replay for tenant %s: %w", tenant, err)
		}
	}
	id, err := s.d.Store.CreateSparkReplay(ctx, store.SparkReplay{Tenant: tenant, StartingOffsetsTimestamp: req.StartingOffsetsTimestamp,
		ResumeToSubscribePatternTimestamp: req.ResumeToSubscribePatternTimestamp, ApprovalRequired: req.ApprovalRequired,
		CreatedBy: operator, Phase: PhaseTimestamp, Step: StepWaiting, PipelineID: pipelineID}, s.now())
	if err != nil {
		if pipelineID != "" {
			if _, cerr := s.d.Pipelines.Cancel(context.WithoutCancel(ctx), pipelineID, "logwise-controlplane", "its replay was not created: "+err.Error()); cerr != nil {
				s.log.ErrorContext(ctx, "cancel pipeline of a replay not created", "tenant", tenant, "pipeline", pipelineID, "error", cerr.Error())
			}
		}
		return Replay{}, err
	}
	s.log.InfoContext(ctx, "replay created", "tenant", tenant, "replay", id, "operator", operator,
		"startingOffsetsTimestamp", req.StartingOffsetsTimestamp, "resumeToSubscribePatternTimestamp", req.ResumeToSubscribePatternTimestamp,
		"pipeline", pipelineID)
	return s.replay(ctx, tenant, id)
}

// startReplayPipeline starts the replay's pipeline; a replay that requires approval has its
// judgment stage waiting at once, so that it can be answered from the start.
func (s *Supervisor) startReplayPipeline(ctx context.Context, tenant string, req ReplayRequest, operator string) (string, error) {
	id, err := s.d.Pipelines.StartPipeline(ctx, replayPipeline(tenant, req, operator))
	if err != nil {
		return "", err
	}
	if req.ApprovalRequired {
		if _, err := s.d.Pipelines.UpdateStage(ctx, id, stageRef(true, StageApprove), executions.Running,
			map[string]any{"inputs": map[string]any{"createdBy": operator}, "instructions": "continue: the driver is killed and the checkpoint deleted when the replay is due; stop: the replay ends and nothing is killed or deleted"}); err != nil {
			return id, err
		}
	}
	return id, nil
}

// ListReplays returns the tenant's replays, newest first.
func (s *Supervisor) ListReplays(ctx context.Context, tenant string) ([]Replay, error) {
	rows, err := s.d.Store.SparkReplays(ctx, tenant)
	if err != nil {
		return nil, err
	}
	out := make([]Replay, 0, len(rows))
	for _, r := range rows {
		out = append(out, Replay(r))
	}
	return out, nil
}

// CancelReplay cancels a replay that is waiting (before a phase starts or between phases).
// A replay in the middle of a phase (killing, cleaning, submitting) cannot be canceled: the
// job would be left stopped or without state.
func (s *Supervisor) CancelReplay(ctx context.Context, tenant string, id int64, operator string) (Replay, error) {
	return s.operatorReplay(ctx, tenant, id, operator, "cancel", func(r Replay) (store.ReplayChange, error) {
		if r.Step != StepWaiting {
			return store.ReplayChange{}, fault.Conflictf("replay %d is in step %s of phase %s and cannot be canceled now: %s", id, r.Step, r.Phase, uninterruptible).WithCode("CANCEL_REFUSED")
		}
		if s.governed(&r) {
			_, err := s.d.Pipelines.Cancel(ctx, r.PipelineID, operator, "replay canceled")
			if err != nil && !fault.Is(err, fault.Conflict) { // a pipeline already finished stays as it is
				return store.ReplayChange{}, err
			}
		}
		return store.ReplayChange{CancelBy: operator}, nil
	})
}

// ApproveReplay lets a replay that requires approval kill the driver and delete the state.
func (s *Supervisor) ApproveReplay(ctx context.Context, tenant string, id int64, operator string) (Replay, error) {
	return s.operatorReplay(ctx, tenant, id, operator, "approve", func(r Replay) (store.ReplayChange, error) {
		if r.ApprovedAt != nil {
			return store.ReplayChange{}, nil
		}
		if s.governed(&r) && r.ApprovalRequired {
			// Answer the judgment stage too, so that both paths agree; a stage already
			// answered "continue" through the execution is fine.
			v, err := s.pipelineVerdict(ctx, &r)
			if err != nil {
				return store.ReplayChange{}, err
			}
			if v.Ended {
				return store.ReplayChange{}, fault.Conflictf("replay %d has ended: %s", id, v.Reason)
			}
			if v.ApprovedBy == "" {
				if _, err := s.d.Pipelines.Judge(ctx, r.PipelineID, stageRef(true, StageApprove), executions.Continue, operator, "approved through the replay API"); err != nil {
					return store.ReplayChange{}, err
				}
			}
		}
		return store.ReplayChange{ApproveBy: operator}, nil
	})
}

func (s *Supervisor) operatorReplay(ctx context.Context, tenant string, id int64, operator, verb string, decide func(Replay) (store.ReplayChange, error)) (Replay, error) {
	if operator == "" {
		return Replay{}, fault.Invalidf("operator is required")
	}
	// decide acts on the replay's pipeline, which lives in the execution log and may need the
	// store's only connection (the embedded database): it runs before the row's transaction,
	// which then refuses if the replay moved meanwhile.
	before, err := s.d.Store.SparkReplayByID(ctx, tenant, id)
	var change store.ReplayChange
	switch {
	case err != nil:
	case !(*Replay)(&before).open():
		err = fault.Conflictf("replay %d is already %s", id, map[bool]string{true: "canceled", false: "done"}[before.CanceledAt != nil])
	default:
		change, err = decide(Replay(before))
	}
	if err == nil {
		err = s.d.Store.ChangeSparkReplay(ctx, tenant, id, s.now(), func(r store.SparkReplay) (store.ReplayChange, error) {
			if r.Phase != before.Phase || r.Step != before.Step {
				return store.ReplayChange{}, fault.Conflictf("replay %d moved from %s/%s to %s/%s meanwhile; try again", id, before.Phase, before.Step, r.Phase, r.Step)
			}
			return change, nil
		})
	}
	if err != nil {
		return Replay{}, fmt.Errorf("%s replay %d of tenant %s: %w", verb, id, tenant, err)
	}
	s.record(ctx, executions.Action{Tenant: tenant, Kind: "sparkReplay" + strings.ToUpper(verb[:1]) + verb[1:], Trigger: "operator",
		Description: verb + " replay " + fmt.Sprint(id) + " by " + operator, Inputs: map[string]any{"replay": id, "operator": operator},
		Rule: "operator request", Outcome: map[string]any{}})
	return s.replay(ctx, tenant, id)
}

// advanceReplay moves an open, due replay forward by as many steps as it can now. handled says
// whether the replay took over this check (the ordinary monitor must then not act).
//
// A replay that runs as a pipeline reads it first: PAUSED takes no step (a replay paused in
// the middle of a phase keeps the job as it is: handled); CANCELED, a stop judgment or a
// takeover by another partition end the replay, and the ordinary monitor looks after the job
// again; a continue judgment is the approval. Each step then starts with moveStages, which the
// repository refuses unless the pipeline is still RUNNING, so that an operator's action that
// lands between the read and the step still stops it.
func (s *Supervisor) advanceReplay(ctx context.Context, t config.Tenant, lease store.Lease, cluster Cluster, obs Observation, r *Replay) (Result, bool, error) {
	run := &replayRun{s: s, t: t, lease: lease, cluster: cluster, obs: obs, r: r, res: s.result(t, obs, Decision{}),
		st: &ReplayStatus{ID: r.ID, PipelineID: r.PipelineID, Phase: r.Phase, Step: r.Step}}
	run.res.Replay = run.st
	// Read: the pipeline's verdict (an approval given through its judgment is recorded at
	// once) and the job's drivers. Decide: Next. Act and record: the executor of the step.
	var v verdict
	if s.governed(r) {
		var err error
		if v, err = s.pipelineVerdict(ctx, r); err != nil {
			return run.res, true, err
		}
		if !v.Ended && v.ApprovedBy != "" && r.ApprovedAt == nil {
			if err := s.approveFromJudgment(ctx, r, v.ApprovedBy); err != nil {
				return run.res, true, err
			}
		}
	}
	step := Next(ReplayState{ID: r.ID, Phase: r.Phase, Step: r.Step, DueAt: r.dueAt(), ApprovalRequired: r.ApprovalRequired,
		Approved: r.ApprovedAt != nil, CleanerWired: s.d.CleanState != nil},
		v, ReplayObserved{MasterStatus: obs.Master.Status, AliveDrivers: len(run.alive(obs))}, s.now())
	switch step.Kind {
	case StepEnd:
		if err := s.endReplay(ctx, lease, r, v); err != nil {
			return run.res, true, err
		}
		run.st.Note = step.Reason
		return run.res, false, nil
	case StepHold:
		return run.hold(v.Reason)
	case StepNotDue, StepAwaitApproval:
		run.st.Note = step.Reason
		return run.res, false, nil
	case StepRefuse: // before killing anything
		return run.res, true, fault.New(fault.Internal, "%s", step.Reason)
	case StepAwaitMaster:
		run.res.Action, run.res.Reason = WaitForMaster, step.Reason
		return run.res, true, nil
	}
	// A step that completes moves the row on, and the next executor runs in the same check.
	started := false
	if r.Step == StepWaiting { // StepKill from WAITING: enter KILLING
		if done, handled, err := run.enterKilling(ctx); done {
			return run.res, handled, err
		}
		started = true
	}
	if r.Step == StepKilling {
		if done, handled, err := run.kill(ctx, started); done {
			return run.res, handled, err
		}
	}
	if r.Step == StepCleaning {
		if done, handled, err := run.clean(ctx); done {
			return run.res, handled, err
		}
	}
	return run.submit(ctx)
}

// replayRun is one check's work on a replay: the executors of its steps share what the
// check read and the result it reports.
type replayRun struct {
	s       *Supervisor
	t       config.Tenant
	lease   store.Lease
	cluster Cluster
	obs     Observation
	r       *Replay
	res     Result
	st      *ReplayStatus
}

// alive are the job's alive drivers in o.
func (p *replayRun) alive(o Observation) []spark.Driver {
	return Decide(Observation{Master: o.Master, MainClass: o.MainClass, Now: o.Now}).Alive
}

// hold takes no step: mid-phase the check is the replay's (the job stays as it is); while
// waiting the ordinary monitor goes on.
func (p *replayRun) hold(reason string) (Result, bool, error) {
	p.st.Note = fmt.Sprintf("no step taken: %s", reason)
	if p.r.Step == StepWaiting {
		return p.res, false, nil
	}
	p.res.Action, p.res.Reason = ReplayPaused, fmt.Sprintf("replay %d (%s, %s) takes no step: %s", p.r.ID, p.r.Phase, p.r.Step, reason)
	return p.res, true, nil
}

// gated is hold when the pipeline refused the next step.
func (p *replayRun) gated() (bool, bool, error) {
	_, handled, err := p.hold("its pipeline " + p.r.PipelineID + " refused the next step (paused, canceled or judged meanwhile)")
	return true, handled, err
}

// enterKilling records the kill stage's start and moves the row to KILLING.
func (p *replayRun) enterKilling(ctx context.Context) (done, handled bool, err error) {
	s, r, obs := p.s, p.r, p.obs
	finished, outcome := "", map[string]any(nil)
	if r.Phase == PhaseResume {
		finished, outcome = StageWaitResume, map[string]any{"outcome": map[string]any{"dueAt": r.ResumeToSubscribePatternTimestamp, "startedAt": s.now().UnixMilli()}}
	}
	return p.advance(ctx, finished, outcome, phaseStage(r.Phase, StepKilling), map[string]any{"inputs": map[string]any{
		"masterStatus": obs.Master.Status, "aliveDrivers": driverIDs(p.alive(obs)), "mainClass": obs.MainClass, "approvedBy": r.ApprovedBy}},
		StepKilling, false)
}

// advance records in the replay's pipeline that stage finished ended (with outcome) and stage
// next began (with inputs), then moves the row to step. If the pipeline refuses the next stage
// (paused, canceled or judged meanwhile), the row holds where it is.
func (p *replayRun) advance(ctx context.Context, finished string, outcome map[string]any, next string, inputs map[string]any, step string, cleaned bool) (done, handled bool, err error) {
	if gated, err := p.s.moveStages(ctx, p.r, finished, outcome, next, inputs); err != nil {
		return true, true, err
	} else if gated {
		return p.gated()
	}
	if err := p.s.setReplayStep(ctx, p.lease, p.r, step, cleaned); err != nil {
		return true, true, err
	}
	return false, true, nil
}

// kill asks the master to kill the job's drivers (each kill recorded when the step starts),
// and moves to CLEANING once none is alive.
func (p *replayRun) kill(ctx context.Context, started bool) (done, handled bool, err error) {
	s, r, t := p.s, p.r, p.t
	alive := p.alive(p.obs)
	for _, d := range alive {
		err := p.cluster.Kill(ctx, d.ID)
		if err != nil && !errors.Is(err, spark.ErrAlreadyFinished) {
			return true, true, fmt.Errorf("replay %d: kill driver %s of tenant %s: %w", r.ID, d.ID, t.Name, err)
		}
		if !started {
			continue // a repeated kill request while waiting for the worker; recorded once
		}
		s.record(ctx, executions.Action{Tenant: t.Name, Kind: "sparkKill", Trigger: "replay", Inputs: inputs(p.obs),
			Description: fmt.Sprintf("Kill driver %s for replay %d (%s)", d.ID, r.ID, r.Phase),
			Rule:        ruleKill,
			Outcome:     map[string]any{"driverId": d.ID, "state": d.State, "replay": r.ID, "pipeline": r.PipelineID}})
	}
	if len(alive) > 0 {
		again, err := s.observe(ctx, t, p.cluster)
		if err != nil {
			return true, true, err
		}
		if left := p.alive(again); len(left) > 0 {
			p.res.Action = ReplayKilling
			p.res.DriverID, p.res.DriverState = left[0].ID, left[0].State
			p.res.Reason = fmt.Sprintf("replay %d: kill requested; waiting for driver %s (%s) to stop", r.ID, left[0].ID, left[0].State)
			p.st.Step = r.Step
			return true, true, nil
		}
	}
	return p.advance(ctx, phaseStage(r.Phase, StepKilling), map[string]any{"outcome": map[string]any{
		"killRequested": driverIDs(alive), "verifiedNoDriverAlive": true}},
		phaseStage(r.Phase, StepCleaning), map[string]any{"inputs": map[string]any{
			"bucket": t.ObjectStore.AWS.Bucket, "checkpointDir": t.Spark.CheckPointDir, "logsDir": t.Spark.LogsDir}},
		StepCleaning, false)
}

// clean deletes the checkpoint and <logsDir>/_spark_metadata, records it, and moves to
// SUBMITTING.
func (p *replayRun) clean(ctx context.Context) (done, handled bool, err error) {
	s, r, t := p.s, p.r, p.t
	if s.d.CleanState == nil {
		return true, true, fault.New(fault.Internal, "replay %d: no state cleaner is wired", r.ID)
	}
	rep, err := s.d.CleanState(ctx, t)
	if err != nil {
		s.saveReplayError(ctx, r.ID, err)
		if s.governed(r) { // what failed, for the operator reading the stage; retried next check
			s.d.Pipelines.UpdateStage(context.WithoutCancel(ctx), r.PipelineID, stageRef(r.ApprovalRequired, phaseStage(r.Phase, StepCleaning)),
				executions.Running, map[string]any{"lastError": truncate(err.Error(), 1024), "lastAttempt": deleteOutcome(rep)})
		}
		return true, true, fmt.Errorf("replay %d: delete spark state of tenant %s: %w", r.ID, t.Name, err)
	}
	cleanInputs := map[string]any{"bucket": t.ObjectStore.AWS.Bucket, "checkpointDir": t.Spark.CheckPointDir, "logsDir": t.Spark.LogsDir, "replay": r.ID, "phase": r.Phase}
	s.record(ctx, executions.Action{Tenant: t.Name, Kind: "sparkCheckpointCleanup", Trigger: "replay",
		Description: fmt.Sprintf("Delete the checkpoint and %s/_spark_metadata for replay %d (%s)", t.Spark.LogsDir, r.ID, r.Phase),
		Inputs:      cleanInputs, Rule: ruleClean, Outcome: deleteOutcome(rep)})
	// If the pipeline refuses SUBMITTING, the state is gone and the deletion recorded; the row
	// stays in CLEANING, whose repetition deletes nothing that a driver wrote (none runs).
	return p.advance(ctx, phaseStage(r.Phase, StepCleaning), map[string]any{"outcome": deleteOutcome(rep)},
		phaseStage(r.Phase, StepSubmitting), map[string]any{"inputs": map[string]any{"startingOffsetsTimestamp": r.phaseTimestamp()}},
		StepSubmitting, true)
}

// submit submits the phase unless an earlier attempt already got a driver going, completes
// the phase and records it in the pipeline.
func (p *replayRun) submit(ctx context.Context) (Result, bool, error) {
	s, r, t := p.s, p.r, p.t
	if s.governed(r) { // read the pipeline again right before submitting
		if v, err := s.pipelineVerdict(ctx, r); err != nil {
			return p.res, true, err
		} else if v.Paused || v.Ended {
			return p.hold(v.Reason)
		}
	}
	again, err := s.observe(ctx, t, p.cluster)
	if err != nil {
		return p.res, true, err
	}
	subID, outcome := "", "ALREADY_ALIVE"
	if alive := p.alive(again); len(alive) > 0 {
		subID = alive[0].ID
		p.res.Reason = fmt.Sprintf("replay %d (%s): driver %s already submitted", r.ID, r.Phase, subID)
	} else {
		reason := fmt.Sprintf("replay %d (%s)", r.ID, r.Phase)
		if ts := r.phaseTimestamp(); ts > 0 {
			reason += fmt.Sprintf(": restart from Kafka timestamp %d", ts)
		} else {
			reason += ": resume the subscribe pattern"
		}
		sres, err := s.submit(ctx, t, p.lease, p.cluster, again, reason, Options{Trigger: "replay"}, r.phaseTimestamp(), p.res)
		if err != nil {
			s.saveReplayError(ctx, r.ID, err)
			return sres, true, err
		}
		p.res, subID, outcome = sres, sres.SubmissionID, "ACCEPTED"
		p.res.Reason = reason
	}
	phase, submitStage := r.Phase, phaseStage(r.Phase, StepSubmitting)
	if err := s.completeReplayPhase(ctx, p.lease, r, subID); err != nil {
		return p.res, true, err
	}
	next := StageWaitResume
	if r.Phase == PhaseDone {
		next = ""
	}
	submitted := map[string]any{"outcome": map[string]any{"submissionId": subID, "result": outcome,
		"startingOffsetsTimestamp": timestampOf(phase, r)}}
	if g, err := s.moveStages(ctx, r, submitStage, submitted, next, map[string]any{"inputs": map[string]any{"dueAt": r.ResumeToSubscribePatternTimestamp}}); err != nil {
		s.log.ErrorContext(ctx, "record replay submission in its pipeline", "tenant", t.Name, "replay", r.ID, "error", err.Error())
	} else if !g && next == "" {
		s.finishPipeline(ctx, r, subID)
	}
	p.res.Action, p.res.SubmissionID = ReplaySubmit, subID
	p.res.Replay = &ReplayStatus{ID: r.ID, PipelineID: r.PipelineID, Phase: r.Phase, Step: r.Step, Note: phase + " phase submitted"}
	return p.res, true, nil
}

// timestampOf is the starting timestamp a phase submitted with (0: the subscribe pattern).
func timestampOf(phase string, r *Replay) int64 {
	if phase == PhaseTimestamp {
		return r.StartingOffsetsTimestamp
	}
	return 0
}

// deleteOutcome is what a state deletion did, for the execution log.
func deleteOutcome(rep logstore.DeleteReport) map[string]any {
	failed := make([]string, 0, len(rep.Failed))
	for _, f := range rep.Failed {
		failed = append(failed, f.Key+": "+f.Code)
	}
	return map[string]any{"prefixes": rep.Prefixes, "objectsDeleted": rep.Deleted, "refused": failed,
		"remaining": rep.Remaining, "verifiedEmpty": len(rep.Failed) == 0 && rep.Remaining == 0}
}

func driverIDs(ds []spark.Driver) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

// resubmitTimestamp is the kafka.startingOffsetsTimestamp an ordinary resubmission passes
// while a replay sits between its phases (as Logwise did): the job keeps the source it was
// started with.
func resubmitTimestamp(r *Replay) int64 {
	if r != nil && r.open() && r.SubmittedForOffsetsTimestamp && !r.ResumedToSubscribePattern {
		return r.StartingOffsetsTimestamp
	}
	return 0
}

// ---- storage ----

// Replay returns the tenant's replay id, open or not (NotFound when it has none).
func (s *Supervisor) Replay(ctx context.Context, tenant string, id int64) (Replay, error) {
	return s.replay(ctx, tenant, id)
}

func (s *Supervisor) replay(ctx context.Context, tenant string, id int64) (Replay, error) {
	r, err := s.d.Store.SparkReplayByID(ctx, tenant, id)
	return Replay(r), err
}

// openReplay returns the tenant's oldest open replay, or nil.
func (s *Supervisor) openReplay(ctx context.Context, tenant string) (*Replay, error) {
	r, err := s.d.Store.OpenSparkReplay(ctx, tenant)
	if r == nil || err != nil {
		return nil, err
	}
	rp := Replay(*r)
	return &rp, nil
}

// setReplayStep records the next step under the fence (cleaned: the phase's state is gone)
// and updates r.
func (s *Supervisor) setReplayStep(ctx context.Context, lease store.Lease, r *Replay, step string, cleaned bool) error {
	if err := s.d.Store.SetSparkReplayStep(ctx, lease, r.ID, r.Phase, r.Step, step, cleaned, s.now()); err != nil {
		return err
	}
	if cleaned {
		r.CleanedPhases = append(r.CleanedPhases, r.Phase)
	}
	r.Step = step
	return nil
}

// completeReplayPhase sets Logwise's flag for the phase and moves to the next one.
func (s *Supervisor) completeReplayPhase(ctx context.Context, lease store.Lease, r *Replay, submissionID string) error {
	next := PhaseResume
	if r.Phase == PhaseResume {
		next = PhaseDone
	}
	if err := s.d.Store.CompleteSparkReplayPhase(ctx, lease, r.ID, r.Phase, next, StepWaiting, StepSubmitting, submissionID, s.now()); err != nil {
		return err
	}
	if r.Phase == PhaseTimestamp {
		r.SubmittedForOffsetsTimestamp = true
	} else {
		r.ResumedToSubscribePattern = true
	}
	r.Phase, r.Step, r.LastSubmissionID = next, StepWaiting, submissionID
	return nil
}

func (s *Supervisor) saveReplayError(ctx context.Context, id int64, cause error) {
	if err := s.d.Store.SaveSparkReplayError(context.WithoutCancel(ctx), id, cause.Error()); err != nil {
		s.log.ErrorContext(ctx, "record replay error", "replay", id, "error", err.Error())
	}
}
