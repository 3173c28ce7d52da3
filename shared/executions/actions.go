package executions

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/logwise/controlplane/shared/fault"
)

// mutate loads an owned execution with its rows locked, lets fn change it, and writes it back
// with updated_at set to now, so that peers copy the change on their next pass.
func (r *Repository) mutate(ctx context.Context, id string, fn func(d *Detail, now int64) error) (Detail, error) {
	if err := validID(id); err != nil {
		return Detail{}, err
	}
	var out Detail
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return Detail{}, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	var d Detail
	found := false
	for _, t := range []Type{Orchestration, Pipeline} {
		d, err = r.get(ctx, tx, t, id, true)
		if err == nil {
			found = true
			break
		}
		if !fault.Is(err, fault.NotFound) {
			return Detail{}, err
		}
	}
	if !found {
		return Detail{}, fault.NotFoundf("execution %s does not exist", id)
	}
	if !r.Owns(d.Partition) {
		return Detail{}, ForeignError(id, d.Partition)
	}
	now := r.now().UnixMilli()
	if err := fn(&d, now); err != nil {
		return Detail{}, err
	}
	if err := r.write(ctx, tx, &d, now); err != nil {
		return Detail{}, err
	}
	if err := tx.Commit(); err != nil {
		return Detail{}, fmt.Errorf("commit %s: %w", id, err)
	}
	out = d
	return out, nil
}

// write stores the execution row and every stage row of d.
func (r *Repository) write(ctx context.Context, tx *sql.Tx, d *Detail, now int64) error {
	table, stageTable := tables(d.Type)
	d.Body["status"] = string(d.Status)
	d.Body["canceled"] = d.Canceled
	body, err := json.Marshal(d.Body)
	if err != nil {
		return fmt.Errorf("encode %s: %w", d.ID, err)
	}
	canceled := []byte{0}
	if d.Canceled {
		canceled = []byte{1}
	}
	if _, err := tx.ExecContext(ctx, "UPDATE "+table+" SET status = ?, canceled = ?, updated_at = ?, body = ? WHERE id = ?",
		string(d.Status), canceled, now, string(body), d.ID); err != nil {
		return fmt.Errorf("update %s %s: %w", d.Type, d.ID, err)
	}
	d.UpdatedAt = now
	for _, st := range d.Stages {
		sid, _ := st["id"].(string)
		status, _ := st["status"].(string)
		sb, err := json.Marshal(st)
		if err != nil {
			return fmt.Errorf("encode stage %s: %w", sid, err)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE "+stageTable+" SET status = ?, updated_at = ?, body = ? WHERE id = ? AND execution_id = ?",
			status, now, string(sb), sid, d.ID); err != nil {
			return fmt.Errorf("update stage %s: %w", sid, err)
		}
	}
	return nil
}

func stageStatus(st map[string]any) Status { s, _ := st["status"].(string); return Status(s) }

func setStage(st map[string]any, s Status, now int64) {
	st["status"] = string(s)
	if s == Running {
		if _, ok := st["startTime"]; !ok {
			st["startTime"] = now
		}
	}
	if s.Complete() {
		st["endTime"] = now
	}
}

// UninterruptibleKey in a stage's context says why the execution must not be canceled while
// that stage runs (or is paused): stopping there would leave the world half-changed (a
// replay's driver killed, its checkpoint half-deleted). Its value is the reason.
const UninterruptibleKey = "uninterruptible"

// Cancel stops an owned execution that has not finished: it and its unfinished stages become
// CANCELED. An execution inside an uninterruptible stage refuses with a Conflict coded
// CANCEL_REFUSED that names the stage and the reason; it can be canceled once that stage is
// done.
func (r *Repository) Cancel(ctx context.Context, id, user, reason string) (Detail, error) {
	return r.mutate(ctx, id, func(d *Detail, now int64) error {
		if d.Status.Complete() {
			return fault.Conflictf("execution %s is already %s", id, d.Status).WithCode("EXECUTION_COMPLETE")
		}
		for _, st := range d.Stages {
			c, _ := st["context"].(map[string]any)
			why, _ := c[UninterruptibleKey].(string)
			if s := stageStatus(st); why != "" && (s == Running || s == Paused) {
				name, _ := st["name"].(string)
				return fault.Conflictf("execution %s is in stage %q, which cannot be interrupted: %s; cancel it once the stage is done",
					id, name, why).WithCode("CANCEL_REFUSED")
			}
		}
		d.Status, d.Canceled = Canceled, true
		d.Body["canceledBy"] = user
		d.Body["cancellationReason"] = reason
		d.Body["endTime"] = now
		for _, st := range d.Stages {
			if !stageStatus(st).Complete() {
				setStage(st, Canceled, now)
			}
		}
		return nil
	})
}

// Pause pauses a RUNNING owned execution; its running stages pause with it.
func (r *Repository) Pause(ctx context.Context, id, user string) (Detail, error) {
	return r.mutate(ctx, id, func(d *Detail, now int64) error {
		if d.Status != Running {
			return fault.Conflictf("execution %s is %s; only a RUNNING execution can be paused", id, d.Status).WithCode("INVALID_STATE")
		}
		d.Status = Paused
		d.Body["paused"] = map[string]any{"pausedBy": user, "pauseTime": now}
		for _, st := range d.Stages {
			if stageStatus(st) == Running {
				st["status"] = string(Paused)
			}
		}
		return nil
	})
}

// Resume resumes a PAUSED owned execution.
func (r *Repository) Resume(ctx context.Context, id, user string) (Detail, error) {
	return r.mutate(ctx, id, func(d *Detail, now int64) error {
		if d.Status != Paused {
			return fault.Conflictf("execution %s is %s; only a PAUSED execution can be resumed", id, d.Status).WithCode("INVALID_STATE")
		}
		d.Status = Running
		p, _ := d.Body["paused"].(map[string]any)
		if p == nil {
			p = map[string]any{}
		}
		p["resumedBy"], p["resumeTime"] = user, now
		d.Body["paused"] = p
		for _, st := range d.Stages {
			if stageStatus(st) == Paused {
				st["status"] = string(Running)
			}
		}
		return nil
	})
}

// Judgment is an operator's answer to a manual judgment stage.
type Judgment string

// The answers.
const (
	Continue Judgment = "continue"
	Stop     Judgment = "stop"
)

// Judge answers the waiting manual judgment stage stageID of an owned execution: continue
// lets the execution go on; stop ends the stage and the execution TERMINAL.
func (r *Repository) Judge(ctx context.Context, id, stageID string, j Judgment, user, input string) (Detail, error) {
	if j != Continue && j != Stop {
		return Detail{}, fault.Invalidf("judgment must be %q or %q, got %q", Continue, Stop, truncate(string(j)))
	}
	return r.mutate(ctx, id, func(d *Detail, now int64) error {
		var st map[string]any
		for _, s := range d.Stages {
			if s["id"] == stageID || s["refId"] == stageID {
				st = s
			}
		}
		if st == nil {
			return fault.NotFoundf("execution %s has no stage %s", id, truncate(stageID))
		}
		if st["type"] != "manualJudgment" {
			return fault.Conflictf("stage %s is a %v stage, not a manual judgment", stageID, st["type"]).WithCode("NOT_A_JUDGMENT")
		}
		if d.Status != Running {
			return fault.Conflictf("execution %s is %s; a judgment needs a RUNNING execution", id, d.Status).WithCode("INVALID_STATE")
		}
		if stageStatus(st) != Running {
			return fault.Conflictf("stage %s is %s; it is not waiting for a judgment", stageID, stageStatus(st)).WithCode("INVALID_STATE")
		}
		c, _ := st["context"].(map[string]any)
		if c == nil {
			c = map[string]any{}
		}
		c["judgmentStatus"], c["judgedBy"], c["judgmentInput"] = string(j), user, input
		st["context"] = c
		st["lastModified"] = map[string]any{"user": user, "lastModifiedTime": now}
		if j == Continue {
			setStage(st, Succeeded, now)
			return nil
		}
		setStage(st, Terminal, now)
		d.Status = Terminal
		d.Body["endTime"] = now
		return nil
	})
}

// Delete removes an owned, finished execution and its stages and writes a tombstone in
// deleted_executions, so that peers delete their copies too.
func (r *Repository) Delete(ctx context.Context, id string) error {
	if err := validID(id); err != nil {
		return err
	}
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	for _, t := range []Type{Orchestration, Pipeline} {
		d, err := r.get(ctx, tx, t, id, true)
		if fault.Is(err, fault.NotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if !r.Owns(d.Partition) {
			return ForeignError(id, d.Partition)
		}
		if !d.Status.Complete() && d.Status != NotStarted {
			return fault.Conflictf("execution %s is %s; cancel it before deleting it", id, d.Status).WithCode("INVALID_STATE")
		}
		if err := deleteWithTombstone(ctx, tx, t, []string{id}, r.now()); err != nil {
			return err
		}
		return tx.Commit()
	}
	return fault.NotFoundf("execution %s does not exist", id)
}

// deleteWithTombstone deletes executions of one type with their stages, then records one
// tombstone per id (Orca's deleteInternal), dated now: the same clock that later purges old
// tombstones, not the database's.
func deleteWithTombstone(ctx context.Context, tx *sql.Tx, t Type, ids []string, now time.Time) error {
	table, stageTable := tables(t)
	for _, id := range ids {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+stageTable+" WHERE execution_id = ?", id); err != nil {
			return fmt.Errorf("delete stages of %s: %w", id, err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE id = ?", id); err != nil {
			return fmt.Errorf("delete %s %s: %w", t, id, err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO deleted_executions (execution_id, deleted_at, execution_type) VALUES (?, ?, ?)", id, now.UTC(), string(t)); err != nil {
			return fmt.Errorf("tombstone %s: %w", id, err)
		}
	}
	return nil
}

// PurgeCompleted deletes, with tombstones, up to limit owned executions that finished and
// were built before cutoff (the execution retention), and tombstones older than a week
// (peers read them within minutes). It returns how many executions it deleted.
func (r *Repository) PurgeCompleted(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	deleted := 0
	for _, t := range []Type{Orchestration, Pipeline} {
		table, _ := tables(t)
		q := "SELECT id FROM " + table + " WHERE build_time < ? AND status IN ('SUCCEEDED','FAILED_CONTINUE','TERMINAL','CANCELED','STOPPED','SKIPPED')"
		args := []any{cutoff.UnixMilli()}
		if r.partition != "" {
			q += " AND (`partition` IS NULL OR `partition` = ?)"
			args = append(args, r.partition)
		}
		q += fmt.Sprintf(" ORDER BY build_time LIMIT %d", limit-deleted)
		rows, err := r.db.QueryContext(ctx, q, args...)
		if err != nil {
			return deleted, fmt.Errorf("select expired %ss: %w", t, err)
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return deleted, err
			}
			ids = append(ids, id)
		}
		rows.Close()
		for start := 0; start < len(ids); start += 25 { // short transactions (Orca PR #3629)
			end := min(start+25, len(ids))
			tx, err := r.db.BeginTx(ctx, nil)
			if err != nil {
				return deleted, err
			}
			if err := deleteWithTombstone(ctx, tx, t, ids[start:end], r.now()); err != nil {
				tx.Rollback()
				return deleted, err
			}
			if err := tx.Commit(); err != nil {
				return deleted, err
			}
			deleted += end - start
		}
		if deleted >= limit {
			break
		}
	}
	if _, err := r.db.ExecContext(ctx, "DELETE FROM deleted_executions WHERE deleted_at < ?", r.now().UTC().Add(-7*24*time.Hour)); err != nil {
		return deleted, fmt.Errorf("purge old tombstones: %w", err)
	}
	return deleted, nil
}

// PatchStage merges ctxPatch into the context of stage stageID (id or refId) of an owned
// execution, and sets lastModified when given (Orca's updateStage from an interlink PATCH).
func (r *Repository) PatchStage(ctx context.Context, id, stageID string, ctxPatch, lastModified map[string]any) (Detail, error) {
	return r.mutate(ctx, id, func(d *Detail, now int64) error {
		for _, st := range d.Stages {
			if st["id"] == stageID || st["refId"] == stageID {
				c, _ := st["context"].(map[string]any)
				if c == nil {
					c = map[string]any{}
				}
				for k, v := range ctxPatch {
					c[k] = v
				}
				st["context"] = c
				if lastModified != nil {
					lastModified["lastModifiedTime"] = now
					st["lastModified"] = lastModified
				}
				return nil
			}
		}
		return fault.NotFoundf("execution %s has no stage %s", id, truncate(stageID))
	})
}

// RestartStage restarts a finished stage of an owned execution that ended TERMINAL or
// CANCELED: the stage and those after it go back to NOT_STARTED and the execution runs again,
// so its runner redoes the step.
func (r *Repository) RestartStage(ctx context.Context, id, stageID, user string) (Detail, error) {
	return r.mutate(ctx, id, func(d *Detail, now int64) error {
		idx := -1
		for i, st := range d.Stages {
			if st["id"] == stageID || st["refId"] == stageID {
				idx = i
			}
		}
		if idx < 0 {
			return fault.NotFoundf("execution %s has no stage %s", id, truncate(stageID))
		}
		if s := stageStatus(d.Stages[idx]); s != Terminal && s != Canceled && s != Stopped {
			return fault.Conflictf("stage %s is %s; only a failed or canceled stage can be restarted", stageID, s).WithCode("INVALID_STATE")
		}
		for _, st := range d.Stages[idx:] {
			st["status"] = string(NotStarted)
			delete(st, "endTime")
		}
		d.Status, d.Canceled = Running, false
		delete(d.Body, "endTime")
		d.Body["restartedBy"] = map[string]any{"user": user, "time": now, "stage": stageID}
		return nil
	})
}
