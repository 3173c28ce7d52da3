package supervisor

import (
	"context"
	"fmt"
	"strconv"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/store"
)

// Replays are governed through the execution log. CreateReplay starts a pipeline (named
// sparkReplay, its context holding the tenant, both timestamps, approvalRequired and the
// operator) whose stages are the replay's steps, and keeps its id on the replay row. Before
// each step the runner reads the pipeline: PAUSED takes no step; CANCELED, a "stop" judgment
// or ownership moving to another partition end the replay (nothing more is killed, deleted or
// submitted by it; the ordinary monitor looks after the job again); a "continue" judgment is
// the approval (ApproveReplay answers the same judgment). Each step is recorded with its
// inputs, rule and outcome in its stage; the last one finishes the pipeline SUCCEEDED. A
// region that takes a replay pipeline over (executions SetOwner) adopts it on its next check
// and continues at the first stage that has not SUCCEEDED.

// Pipelines is the part of the execution repository that governs replays
// (*executions.Repository of the local partition).
type Pipelines interface {
	Partition() string
	StartPipeline(ctx context.Context, p executions.PipelineSpec) (string, error)
	UpdateStage(ctx context.Context, id, refID string, s executions.Status, patch map[string]any) (executions.Detail, error)
	UpdateStages(ctx context.Context, id string, updates ...executions.StageUpdate) (executions.Detail, error)
	Finish(ctx context.Context, id string, s executions.Status, outputs map[string]any) (executions.Detail, error)
	Get(ctx context.Context, id string) (executions.Detail, error)
	List(ctx context.Context, f executions.Filter) (executions.Page, error)
	Cancel(ctx context.Context, id, user, reason string) (executions.Detail, error)
	Judge(ctx context.Context, id, stageID string, j executions.Judgment, user, input string) (executions.Detail, error)
}

// ReplayPipelineName is the name of every replay pipeline.
const ReplayPipelineName = "sparkReplay"

// ReplayPaused: the replay's pipeline is paused (or refused the next step); nothing is done.
const ReplayPaused Action = "REPLAY_PAUSED"

// Replay stages, in order. A replay that requires approval starts with a manual judgment:
// it comes before the kill so that the job keeps running while it waits for an operator, and
// answering it "stop" ends the replay before anything is killed or deleted. There is no
// stage for the wait before the first phase: its kill stage stays NOT_STARTED until then.
const (
	StageApprove         = "approveCheckpointDeletion"
	StageKillTimestamp   = "killDriverForTimestamp"
	StageCleanTimestamp  = "deleteCheckpointForTimestamp"
	StageSubmitTimestamp = "submitFromTimestamp"
	StageWaitResume      = "waitForResumeTime"
	StageKillResume      = "killDriverForResume"
	StageCleanResume     = "deleteCheckpointForResume"
	StageSubmitResume    = "submitOnSubscribePattern"
)

type stageDef struct{ key, typ, name, rule string }

var (
	ruleKill   = "a replay restarts the job from a clean state: no driver of the job may run while its state is deleted"
	ruleClean  = "starting offsets apply only to a query without a checkpoint; a file sink needs <logsDir>/_spark_metadata deleted with it"
	approveDef = stageDef{StageApprove, "manualJudgment", "Approve checkpoint deletion",
		"the replay was created with approvalRequired: an operator must answer continue before the driver is killed and the state deleted"}
	phaseDefs = []stageDef{
		{StageKillTimestamp, "sparkKill", "Kill the driver (timestamp phase)", ruleKill},
		{StageCleanTimestamp, "sparkCheckpointCleanup", "Delete the checkpoint (timestamp phase)", ruleClean},
		{StageSubmitTimestamp, "sparkSubmission", "Submit from the Kafka timestamp", "submit with kafka.startingOffsetsTimestamp once the state is gone, unless a driver is already alive"},
		{StageWaitResume, "wait", "Wait for the resume time", "the job reads from the timestamp until resumeToSubscribePatternTimestamp"},
		{StageKillResume, "sparkKill", "Kill the driver (resume phase)", ruleKill},
		{StageCleanResume, "sparkCheckpointCleanup", "Delete the checkpoint (resume phase)", ruleClean},
		{StageSubmitResume, "sparkSubmission", "Submit on the subscribe pattern", "submit without a starting timestamp once the state is gone, unless a driver is already alive"},
	}
)

// replayStages are a replay's stages in order; a stage's refId is its position from 1.
func replayStages(approval bool) []stageDef {
	if approval {
		return append([]stageDef{approveDef}, phaseDefs...)
	}
	return phaseDefs
}

// stageRef is the refId of stage key ("" if the replay has no such stage).
func stageRef(approval bool, key string) string {
	for i, d := range replayStages(approval) {
		if d.key == key {
			return strconv.Itoa(i + 1)
		}
	}
	return ""
}

// phaseStage is the stage of a phase's kill, clean or submit step.
func phaseStage(phase, step string) string {
	m := map[string]string{
		PhaseTimestamp + StepKilling: StageKillTimestamp, PhaseTimestamp + StepCleaning: StageCleanTimestamp, PhaseTimestamp + StepSubmitting: StageSubmitTimestamp,
		PhaseResume + StepKilling: StageKillResume, PhaseResume + StepCleaning: StageCleanResume, PhaseResume + StepSubmitting: StageSubmitResume,
	}
	return m[phase+step]
}

// uninterruptible is why a replay past its approval point refuses a cancel until its phase
// is submitted: from the kill to the submission the job has no driver and, once cleaning
// starts, a partial checkpoint; a restart from there (startingOffsets=latest, no timestamp)
// would skip logs or rewrite batches.
const uninterruptible = "the replay has started killing the driver and deleting its checkpoint; " +
	"it completes the phase with its own timestamp, and can be canceled while it waits for the next phase"

// replayPipeline is the pipeline a replay runs as. Its context carries everything a region
// that takes it over needs to continue it.
func replayPipeline(tenant string, req ReplayRequest, operator string) executions.PipelineSpec {
	spec := executions.PipelineSpec{Tenant: tenant, Name: ReplayPipelineName, Trigger: "operator",
		Description: fmt.Sprintf("Replay the Spark job of %s from Kafka timestamp %d, resuming the subscribe pattern at %d",
			tenant, req.StartingOffsetsTimestamp, req.ResumeToSubscribePatternTimestamp),
		Context: map[string]any{"tenant": tenant, "replay": map[string]any{
			"startingOffsetsTimestamp":          req.StartingOffsetsTimestamp,
			"resumeToSubscribePatternTimestamp": req.ResumeToSubscribePatternTimestamp,
			"approvalRequired":                  req.ApprovalRequired,
			"createdBy":                         operator,
		}}}
	for i, d := range replayStages(req.ApprovalRequired) {
		c := map[string]any{"replayStep": d.key, "rule": d.rule}
		if d.typ == "sparkKill" || d.typ == "sparkCheckpointCleanup" || d.typ == "sparkSubmission" {
			c[executions.UninterruptibleKey] = uninterruptible
		}
		spec.Stages = append(spec.Stages, executions.StageSpec{RefID: strconv.Itoa(i + 1), Type: d.typ, Name: d.name, Context: c})
	}
	return spec
}

// verdict is what a replay's pipeline allows its runner to do.
type verdict struct {
	Paused     bool   // take no step until it runs again
	Ended      bool   // the replay ends: nothing more is killed, deleted or submitted
	Reason     string // why it is paused or ended
	By         string // who ended it
	ApprovedBy string // who answered the approval judgment "continue"
}

// readVerdict decides from the pipeline what the runner may do (no I/O).
func readVerdict(d executions.Detail, approval bool) verdict {
	if !d.Owned {
		return verdict{Ended: true, Reason: "its pipeline " + d.ID + " was taken over by partition " + d.Partition}
	}
	var v verdict
	if st, ok := d.StageOf(stageRef(approval, StageApprove)); approval && ok {
		judged, _ := st.Context["judgedBy"].(string)
		switch st.Status {
		case executions.Succeeded:
			v.ApprovedBy = nonEmpty(judged, "execution "+d.ID)
		case executions.Terminal:
			return verdict{Ended: true, By: judged, Reason: "stopped at the approval judgment by " + nonEmpty(judged, "an operator")}
		}
	}
	switch {
	case d.Status == executions.Running:
		return v
	case d.Status == executions.Canceled:
		by, _ := d.Body["canceledBy"].(string)
		why, _ := d.Body["cancellationReason"].(string)
		r := "its pipeline was canceled by " + nonEmpty(by, "an operator")
		if why != "" {
			r += ": " + why
		}
		return verdict{Ended: true, By: by, Reason: r}
	case d.Status.Complete():
		return verdict{Ended: true, Reason: "its pipeline ended " + string(d.Status)}
	case d.Status == executions.Paused:
		p, _ := d.Body["paused"].(map[string]any)
		by, _ := p["pausedBy"].(string)
		return verdict{Paused: true, ApprovedBy: v.ApprovedBy, Reason: "its pipeline was paused by " + nonEmpty(by, "an operator")}
	}
	return verdict{Paused: true, ApprovedBy: v.ApprovedBy, Reason: "its pipeline is " + string(d.Status)}
}

// governed reports whether r runs as a pipeline this supervisor can read.
func (s *Supervisor) governed(r *Replay) bool { return s.d.Pipelines != nil && r.PipelineID != "" }

// pipelineVerdict reads r's pipeline. A pipeline that no longer exists ends the replay.
func (s *Supervisor) pipelineVerdict(ctx context.Context, r *Replay) (verdict, error) {
	d, err := s.d.Pipelines.Get(ctx, r.PipelineID)
	if fault.Is(err, fault.NotFound) {
		return verdict{Ended: true, Reason: "its pipeline " + r.PipelineID + " no longer exists"}, nil
	}
	if err != nil {
		return verdict{}, fmt.Errorf("replay %d: read pipeline %s: %w", r.ID, r.PipelineID, err)
	}
	return readVerdict(d, r.ApprovalRequired), nil
}

// moveStages records in r's pipeline that every step before next is done (finished's outcome
// merged into its stage) and next has started (inputs merged), in one write the repository
// refuses unless the pipeline is RUNNING: the runner's "may I take this step". next "" only
// completes. gated reports the refusal (paused, canceled, judged stop, taken over): the runner
// then takes no step. Judgment stages are only ever completed by an operator.
func (s *Supervisor) moveStages(ctx context.Context, r *Replay, finished string, outcome map[string]any, next string, inputs map[string]any) (gated bool, err error) {
	if !s.governed(r) {
		return false, nil
	}
	var ups []executions.StageUpdate
	for i, d := range replayStages(r.ApprovalRequired) {
		ref := strconv.Itoa(i + 1)
		if d.key == next {
			ups = append(ups, executions.StageUpdate{RefID: ref, Status: executions.Running, Patch: inputs})
			break
		}
		if d.typ == "manualJudgment" {
			continue
		}
		u := executions.StageUpdate{RefID: ref, Status: executions.Succeeded, IfOpen: true}
		if d.key == finished {
			u.Patch = outcome
		} else {
			u.Patch = map[string]any{"outcome": map[string]any{"note": "completed before a later step; see the replay's orchestrations"}}
		}
		ups = append(ups, u)
		if d.key == finished && next == "" {
			break
		}
	}
	_, err = s.d.Pipelines.UpdateStages(ctx, r.PipelineID, ups...)
	if fault.Is(err, fault.Conflict) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("replay %d: advance pipeline %s to %s: %w", r.ID, r.PipelineID, nonEmpty(next, "the end"), err)
	}
	return false, nil
}

// finishPipeline ends r's pipeline SUCCEEDED once its last step is recorded.
func (s *Supervisor) finishPipeline(ctx context.Context, r *Replay, submissionID string) {
	if !s.governed(r) {
		return
	}
	if _, err := s.d.Pipelines.Finish(context.WithoutCancel(ctx), r.PipelineID, executions.Succeeded,
		map[string]any{"outcome": map[string]any{"replay": r.ID, "lastSubmissionId": submissionID}}); err != nil {
		s.log.ErrorContext(ctx, "finish replay pipeline", "tenant", r.Tenant, "replay", r.ID, "pipeline", r.PipelineID, "error", err.Error())
	}
}

// endReplay closes r because its pipeline says so: nothing more is killed, deleted or submitted.
func (s *Supervisor) endReplay(ctx context.Context, lease store.Lease, r *Replay, v verdict) error {
	now := s.now()
	if err := s.d.Store.EndSparkReplay(ctx, lease, r.ID, nonEmpty(v.By, "execution"), v.Reason, now); err != nil {
		return err
	}
	t := now.UTC()
	r.CanceledAt, r.CanceledBy, r.EndReason = &t, nonEmpty(v.By, "execution"), v.Reason
	s.log.InfoContext(ctx, "replay ended by its pipeline", "tenant", r.Tenant, "replay", r.ID, "pipeline", r.PipelineID, "reason", v.Reason)
	return nil
}

// approveFromJudgment records in the row an approval given through the pipeline's judgment.
func (s *Supervisor) approveFromJudgment(ctx context.Context, r *Replay, by string) error {
	now := s.now()
	if err := s.d.Store.ApproveSparkReplay(ctx, r.ID, by, now); err != nil {
		return err
	}
	t := now.UTC()
	r.ApprovedAt, r.ApprovedBy = &t, by
	return nil
}

// ---- takeover ----

// resumePoint is where a replay continues, read from its pipeline's stage statuses: the first
// stage that has not SUCCEEDED says the phase and step (no I/O). done means every stage
// succeeded. A kill stage that never started means the phase still waits for its time.
type resumePoint struct {
	Phase, Step string
	ApprovedBy  string
	Cleaned     []string
	Done        bool
}

func readResumePoint(d executions.Detail, approval bool) resumePoint {
	var p resumePoint
	for i, def := range replayStages(approval) {
		st, _ := d.StageOf(strconv.Itoa(i + 1))
		if st.Status == executions.Succeeded {
			switch def.key {
			case StageApprove:
				judged, _ := st.Context["judgedBy"].(string)
				p.ApprovedBy = nonEmpty(judged, "execution "+d.ID)
			case StageCleanTimestamp:
				p.Cleaned = append(p.Cleaned, PhaseTimestamp)
			case StageCleanResume:
				p.Cleaned = append(p.Cleaned, PhaseResume)
			}
			continue
		}
		started := st.Status != executions.NotStarted && st.Status != ""
		switch def.key {
		case StageApprove:
			p.Phase, p.Step = PhaseTimestamp, StepWaiting
		case StageKillTimestamp, StageKillResume:
			p.Phase, p.Step = PhaseTimestamp, StepWaiting
			if def.key == StageKillResume {
				p.Phase = PhaseResume
			}
			if started {
				p.Step = StepKilling
			}
		case StageCleanTimestamp:
			p.Phase, p.Step = PhaseTimestamp, StepCleaning
		case StageSubmitTimestamp:
			p.Phase, p.Step = PhaseTimestamp, StepSubmitting
		case StageWaitResume:
			p.Phase, p.Step = PhaseResume, StepWaiting
		case StageCleanResume:
			p.Phase, p.Step = PhaseResume, StepCleaning
		case StageSubmitResume:
			p.Phase, p.Step = PhaseResume, StepSubmitting
		}
		return p
	}
	p.Done = true
	return p
}

// replayParams reads the replay request from a pipeline's context.
func replayParams(d executions.Detail) (ReplayRequest, string, error) {
	c, _ := d.Body["context"].(map[string]any)
	rp, _ := c["replay"].(map[string]any)
	if rp == nil {
		return ReplayRequest{}, "", fmt.Errorf("pipeline %s has no replay in its context", d.ID)
	}
	num := func(k string) int64 { f, _ := rp[k].(float64); return int64(f) }
	req := ReplayRequest{StartingOffsetsTimestamp: num("startingOffsetsTimestamp"),
		ResumeToSubscribePatternTimestamp: num("resumeToSubscribePatternTimestamp")}
	req.ApprovalRequired, _ = rp["approvalRequired"].(bool)
	by, _ := rp["createdBy"].(string)
	if req.StartingOffsetsTimestamp <= 0 || req.ResumeToSubscribePatternTimestamp <= req.StartingOffsetsTimestamp {
		return req, by, fmt.Errorf("pipeline %s has invalid replay timestamps %d, %d", d.ID, req.StartingOffsetsTimestamp, req.ResumeToSubscribePatternTimestamp)
	}
	return req, by, nil
}

// adoptReplays gives a local replay row to every replay pipeline of the tenant that this
// partition took over (SetOwner) and that has none, starting at the step where its previous
// owner stopped, so that the check continues it. A pipeline that cannot be adopted is logged
// and skipped; the ordinary check goes on.
func (s *Supervisor) adoptReplays(ctx context.Context, t config.Tenant, lease store.Lease) {
	if s.d.Pipelines == nil {
		return
	}
	local := s.d.Pipelines.Partition()
	page, err := s.d.Pipelines.List(ctx, executions.Filter{Type: executions.Pipeline, Application: t.Name, Partition: &local,
		Statuses: []executions.Status{executions.Running, executions.Paused}, Limit: 50})
	if err != nil {
		s.log.WarnContext(ctx, "list replay pipelines to adopt", "tenant", t.Name, "error", err.Error())
		return
	}
	for _, sum := range page.Executions {
		if sum.Name != ReplayPipelineName {
			continue
		}
		if err := s.adoptReplay(ctx, t, lease, sum.ID); err != nil {
			s.log.ErrorContext(ctx, "adopt replay pipeline", "tenant", t.Name, "pipeline", sum.ID, "error", err.Error())
		}
	}
}

func (s *Supervisor) adoptReplay(ctx context.Context, t config.Tenant, lease store.Lease, id string) error {
	if known, err := s.d.Store.SparkReplayOfPipelineExists(ctx, id); err != nil || known {
		return err
	}
	d, err := s.d.Pipelines.Get(ctx, id)
	if err != nil {
		return err
	}
	c, _ := d.Body["context"].(map[string]any)
	if _, took := c["takeover"]; !took {
		return nil // created here; its row is being written by CreateReplay
	}
	req, createdBy, err := replayParams(d)
	if err != nil {
		return err
	}
	p := readResumePoint(d, req.ApprovalRequired)
	if p.Done {
		_, err := s.d.Pipelines.Finish(ctx, id, executions.Succeeded, map[string]any{"outcome": map[string]any{"note": "every step had succeeded before the takeover"}})
		return err
	}
	row := store.SparkReplay{Tenant: t.Name, StartingOffsetsTimestamp: req.StartingOffsetsTimestamp,
		ResumeToSubscribePatternTimestamp: req.ResumeToSubscribePatternTimestamp, SubmittedForOffsetsTimestamp: p.Phase == PhaseResume,
		ApprovalRequired: req.ApprovalRequired, ApprovedBy: p.ApprovedBy, CreatedBy: createdBy, Phase: p.Phase, Step: p.Step,
		CleanedPhases: p.Cleaned, PipelineID: id}
	if p.ApprovedBy != "" {
		now := s.now()
		row.ApprovedAt = &now
	}
	rowID, err := s.d.Store.AdoptSparkReplay(ctx, lease, row, s.now())
	if err != nil {
		return fmt.Errorf("adopt replay pipeline %s of tenant %s at %s/%s: %w", id, t.Name, p.Phase, p.Step, err)
	}
	s.log.InfoContext(ctx, "adopted replay pipeline taken over from another partition", "tenant", t.Name, "pipeline", id,
		"replay", rowID, "phase", p.Phase, "step", p.Step)
	return nil
}
