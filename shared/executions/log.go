package executions

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Log is the execution log as the automatic actions see it: the Repository, through which
// they Record what they did.
type Log = Repository

// NewLog returns the execution log of db in the local partition.
func NewLog(db *sql.DB, partition string) *Log { return NewRepository(db, partition) }

// Record writes a completed action as an orchestration with its stages, in the local
// partition, and returns its id.
func (l *Repository) Record(ctx context.Context, a Action) (string, error) {
	now := l.now()
	if a.Status == "" {
		a.Status = Succeeded
	}
	if a.StartTime.IsZero() {
		a.StartTime = now
	}
	if a.EndTime.IsZero() && a.Status.Complete() {
		a.EndTime = now
	}
	steps := a.Steps
	if len(steps) == 0 {
		steps = []Step{{Name: a.Kind, Type: a.Kind, Status: a.Status, StartTime: a.StartTime, EndTime: a.EndTime,
			Context: map[string]any{"inputs": a.Inputs, "rule": a.Rule, "outcome": a.Outcome}}}
	}
	ex := Execution{
		ID: NewID(now), Type: Orchestration, Application: a.Tenant, Name: a.Kind, Description: a.Description,
		Status: a.Status, BuildTime: a.StartTime.UnixMilli(), StartTime: a.StartTime.UnixMilli(),
		Partition: l.partition, Origin: "logwise-controlplane",
		Trigger: map[string]any{"type": nonEmpty(a.Trigger, "schedule"), "user": "logwise-controlplane"},
		Context: map[string]any{"tenant": a.Tenant, "inputs": a.Inputs, "rule": a.Rule, "outcome": a.Outcome},
	}
	if !a.EndTime.IsZero() {
		ex.EndTime = a.EndTime.UnixMilli()
	}
	stages := make([]Stage, len(steps))
	for i, s := range steps {
		st := Stage{ID: NewID(now), RefID: strconv.Itoa(i + 1), Type: s.Type, Name: s.Name, ExecutionID: ex.ID,
			Status: s.Status, Context: s.Context, Outputs: map[string]any{}, RequisiteStageRefIDs: []string{}}
		if st.Status == "" {
			st.Status = a.Status
		}
		if i > 0 {
			st.RequisiteStageRefIDs = []string{strconv.Itoa(i)}
		}
		if !s.StartTime.IsZero() {
			st.StartTime = s.StartTime.UnixMilli()
		}
		if !s.EndTime.IsZero() {
			st.EndTime = s.EndTime.UnixMilli()
		}
		stages[i] = st
	}
	if err := l.insert(ctx, ex, stages, now); err != nil {
		return "", fmt.Errorf("record %s for tenant %s: %w", a.Kind, a.Tenant, err)
	}
	return ex.ID, nil
}

func (l *Repository) insert(ctx context.Context, ex Execution, stages []Stage, now time.Time) error {
	body, err := json.Marshal(ex)
	if err != nil {
		return fmt.Errorf("encode execution: %w", err)
	}
	tx, err := l.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	table, stageTable := tables(ex.Type)
	_, err = tx.ExecContext(ctx, "INSERT INTO "+table+
		" (id, `partition`, application, status, build_time, start_time, updated_at, canceled, body) VALUES (?, ?, ?, ?, ?, ?, ?, b'0', ?)",
		ex.ID, nullable(ex.Partition), ex.Application, ex.Status, ex.BuildTime, ex.StartTime, now.UnixMilli(), string(body))
	if err != nil {
		return fmt.Errorf("insert %s %s: %w", ex.Type, ex.ID, err)
	}
	for _, st := range stages {
		sb, err := json.Marshal(st)
		if err != nil {
			return fmt.Errorf("encode stage: %w", err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO "+stageTable+" (id, execution_id, status, updated_at, body) VALUES (?, ?, ?, ?, ?)",
			st.ID, ex.ID, st.Status, now.UnixMilli(), string(sb)); err != nil {
			return fmt.Errorf("insert stage %s: %w", st.ID, err)
		}
	}
	return tx.Commit()
}

// tables returns the execution and stage tables of an execution type.
func tables(t Type) (string, string) {
	if t == Pipeline {
		return "pipelines", "pipeline_stages"
	}
	return "orchestrations", "orchestration_stages"
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nonEmpty(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
