package executions

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"

	"github.com/logwise/controlplane/shared/fault"
)

// PipelineSpec is a multi-step operation the control plane runs as an Orca pipeline (a replay):
// the execution starts RUNNING with its stages NOT_STARTED, and the runner advances them with
// UpdateStage, checking the execution's status between steps so that pause, cancel and
// judgement through the API take effect.
type PipelineSpec struct {
	Tenant      string
	Name        string
	Description string
	Trigger     string
	Context     map[string]any
	Stages      []StageSpec
}

// StageSpec is one step; Type "manualJudgment" makes it wait for an operator's judgement.
type StageSpec struct {
	RefID   string
	Type    string
	Name    string
	Context map[string]any
}

// StartPipeline creates a RUNNING pipeline in the local partition and returns its id.
func (r *Repository) StartPipeline(ctx context.Context, p PipelineSpec) (string, error) {
	now := r.now()
	ex := Execution{
		ID: NewID(now), Type: Pipeline, Application: p.Tenant, Name: p.Name, Description: p.Description,
		Status: Running, BuildTime: now.UnixMilli(), StartTime: now.UnixMilli(), Partition: r.partition,
		Origin: "logwise-controlplane", Trigger: map[string]any{"type": nonEmpty(p.Trigger, "api"), "user": "logwise-controlplane"},
		Context: p.Context,
	}
	stages := make([]Stage, len(p.Stages))
	for i, s := range p.Stages {
		c := map[string]any{}
		maps.Copy(c, s.Context)
		stages[i] = Stage{ID: NewID(now), RefID: s.RefID, Type: s.Type, Name: s.Name, ExecutionID: ex.ID, Status: NotStarted,
			Context: c, Outputs: map[string]any{}, RequisiteStageRefIDs: []string{}}
		if i > 0 {
			stages[i].RequisiteStageRefIDs = []string{p.Stages[i-1].RefID}
		}
	}
	if err := r.insert(ctx, ex, stages, now); err != nil {
		return "", fmt.Errorf("start pipeline %s for tenant %s: %w", p.Name, p.Tenant, err)
	}
	return ex.ID, nil
}

// UpdateStage sets the status of stage refID of an owned, running execution and merges patch
// into its context. A paused, canceled or finished execution is refused (Conflict), so a
// runner that raced with an operator's action does not overwrite it.
func (r *Repository) UpdateStage(ctx context.Context, id, refID string, s Status, patch map[string]any) (Detail, error) {
	return r.mutate(ctx, id, func(d *Detail, now int64) error {
		if d.Status != Running {
			return fault.Conflictf("execution %s is %s; its stages do not advance", id, d.Status).WithCode("INVALID_STATE")
		}
		for _, st := range d.Stages {
			if st["refId"] == refID {
				setStage(st, s, now)
				c, _ := st["context"].(map[string]any)
				if c == nil {
					c = map[string]any{}
				}
				maps.Copy(c, patch)
				st["context"] = c
				return nil
			}
		}
		return fault.NotFoundf("execution %s has no stage %s", id, refID)
	})
}

// StageUpdate is one stage's change in UpdateStages.
type StageUpdate struct {
	RefID  string
	Status Status
	Patch  map[string]any
	// IfOpen leaves a stage that is already complete as it is (status, times and context), so
	// that a runner repeating a step after a crash does not rewrite what it recorded.
	IfOpen bool
}

// UpdateStages applies several stage changes of an owned, running execution in one
// transaction: a runner records "step A done, step B started" at once, and a paused, canceled
// or finished execution refuses both (Conflict), exactly as UpdateStage does.
func (r *Repository) UpdateStages(ctx context.Context, id string, updates ...StageUpdate) (Detail, error) {
	return r.mutate(ctx, id, func(d *Detail, now int64) error {
		if d.Status != Running {
			return fault.Conflictf("execution %s is %s; its stages do not advance", id, d.Status).WithCode("INVALID_STATE")
		}
		for _, u := range updates {
			var st map[string]any
			for _, s := range d.Stages {
				if s["refId"] == u.RefID {
					st = s
				}
			}
			if st == nil {
				return fault.NotFoundf("execution %s has no stage %s", id, u.RefID)
			}
			if u.IfOpen && stageStatus(st).Complete() {
				continue
			}
			setStage(st, u.Status, now)
			c, _ := st["context"].(map[string]any)
			if c == nil {
				c = map[string]any{}
			}
			maps.Copy(c, u.Patch)
			st["context"] = c
		}
		return nil
	})
}

// Finish ends an owned execution with status s (normally SUCCEEDED or TERMINAL), merging
// outputs into its context. An execution already finished is left as it is.
func (r *Repository) Finish(ctx context.Context, id string, s Status, outputs map[string]any) (Detail, error) {
	return r.mutate(ctx, id, func(d *Detail, now int64) error {
		if d.Status.Complete() {
			return nil
		}
		d.Status = s
		d.Body["endTime"] = now
		c, _ := d.Body["context"].(map[string]any)
		if c == nil {
			c = map[string]any{}
		}
		maps.Copy(c, outputs)
		d.Body["context"] = c
		return nil
	})
}

// StageOf returns the stage with refID of d, decoded.
func (d Detail) StageOf(refID string) (Stage, bool) {
	for _, st := range d.Stages {
		if st["refId"] == refID {
			b, _ := json.Marshal(st)
			var s Stage
			_ = json.Unmarshal(b, &s)
			return s, true
		}
	}
	return Stage{}, false
}
