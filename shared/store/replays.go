package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/logwise/controlplane/shared/fault"
)

// ReplayPhaseResume is a replay's second phase: its completion sets Logwise's
// isResumedToSubscribePattern (any other phase's, isSubmittedForOffsetsTimestamp).
const ReplayPhaseResume = "RESUME"

// SetSparkReplayStep moves replay id from step from to step to within phase, under the
// fence; cleaned appends phase to the replay's cleaned phases in the same transaction. A row
// that changed since it was read (another step taken, canceled) is a Conflict.
func (db *DB) SetSparkReplayStep(ctx context.Context, l Lease, id int64, phase, from, to string, cleaned bool, now time.Time) error {
	err := db.WithFence(ctx, l, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE spark_submit_status SET step = ?, stepChangedAtMs = ?, lastError = NULL
			WHERE id = ? AND phase = ? AND step = ? AND canceledAtMs IS NULL`, to, now.UnixMilli(), id, phase, from)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fault.Conflictf("replay %d changed since it was read (expected %s/%s)", id, phase, from)
		}
		if cleaned {
			_, err = tx.ExecContext(ctx, `UPDATE spark_submit_status SET cleanedPhases = CONCAT(cleanedPhases, ?, ',') WHERE id = ?`, phase, id)
		}
		return err
	})
	if err != nil {
		return mapErr(fmt.Errorf("replay %d: record step %s: %w", id, to, err))
	}
	return nil
}

// CompleteSparkReplayPhase ends replay id's phase (from its SUBMITTING step) under the fence:
// Logwise's flag for the phase is set, the next phase starts WAITING, and submissionID is
// kept.
func (db *DB) CompleteSparkReplayPhase(ctx context.Context, l Lease, id int64, phase, next, waiting, submitting, submissionID string, now time.Time) error {
	flag := "isSubmittedForOffsetsTimestamp"
	if phase == ReplayPhaseResume {
		flag = "isResumedToSubscribePattern"
	}
	err := db.WithFence(ctx, l, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE spark_submit_status SET `+flag+` = TRUE, phase = ?, step = ?, stepChangedAtMs = ?,
			lastSubmissionId = NULLIF(?, ''), lastError = NULL WHERE id = ? AND phase = ? AND step = ?`,
			next, waiting, now.UnixMilli(), submissionID, id, phase, submitting)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fault.Conflictf("replay %d changed since it was read", id)
		}
		return nil
	})
	if err != nil {
		return mapErr(fmt.Errorf("replay %d: complete phase %s: %w", id, phase, err))
	}
	return nil
}

// EndSparkReplay closes an open replay under the fence (its pipeline ended it).
func (db *DB) EndSparkReplay(ctx context.Context, l Lease, id int64, by, reason string, now time.Time) error {
	err := db.WithFence(ctx, l, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE spark_submit_status SET canceledBy = ?, canceledAtMs = ?, endReason = ?
			WHERE id = ? AND canceledAtMs IS NULL AND phase <> 'DONE'`, truncate(by, 128), now.UnixMilli(), truncate(reason, 255), id)
		return err
	})
	if err != nil {
		return mapErr(fmt.Errorf("replay %d: end it (%s): %w", id, reason, err))
	}
	return nil
}

// ApproveSparkReplay records an approval of replay id by, unless one is recorded already.
func (db *DB) ApproveSparkReplay(ctx context.Context, id int64, by string, now time.Time) error {
	_, err := db.sql.ExecContext(ctx, `UPDATE spark_submit_status SET approvedBy = ?, approvedAtMs = ? WHERE id = ? AND approvedAtMs IS NULL`,
		truncate(by, 128), now.UnixMilli(), id)
	if err != nil {
		return mapErr(fmt.Errorf("replay %d: record approval by %s: %w", id, by, err))
	}
	return nil
}

// SaveSparkReplayError keeps why replay id's last step failed, for the operator.
func (db *DB) SaveSparkReplayError(ctx context.Context, id int64, msg string) error {
	_, err := db.sql.ExecContext(ctx, `UPDATE spark_submit_status SET lastError = ? WHERE id = ?`, truncate(msg, 1024), id)
	if err != nil {
		return mapErr(fmt.Errorf("replay %d: record its error: %w", id, err))
	}
	return nil
}

// SparkReplay is one row of spark_submit_status: a replay of a tenant's Spark job (restart
// from a Kafka timestamp, then resume the subscribe pattern).
type SparkReplay struct {
	ID                                int64
	Tenant                            string
	StartingOffsetsTimestamp          int64
	ResumeToSubscribePatternTimestamp int64
	SubmittedForOffsetsTimestamp      bool
	ResumedToSubscribePattern         bool
	ApprovalRequired                  bool
	ApprovedBy                        string
	ApprovedAt                        *time.Time
	CreatedBy                         string
	CanceledBy                        string
	CanceledAt                        *time.Time
	Phase                             string
	Step                              string
	CleanedPhases                     []string
	LastSubmissionID                  string
	LastError                         string
	PipelineID                        string
	EndReason                         string
}

const replayColumns = `SELECT id, tenant, startingOffsetsTimestamp, resumeToSubscribePatternTimestamp,
	isSubmittedForOffsetsTimestamp, isResumedToSubscribePattern, approvalRequired, COALESCE(approvedBy, ''), approvedAtMs,
	createdBy, COALESCE(canceledBy, ''), canceledAtMs, phase, step, cleanedPhases, COALESCE(lastSubmissionId, ''),
	COALESCE(lastError, ''), COALESCE(pipelineId, ''), COALESCE(endReason, '') FROM spark_submit_status`

type scanner interface{ Scan(dest ...any) error }

func scanReplay(sc scanner) (SparkReplay, error) {
	var r SparkReplay
	var approved, canceled sql.NullInt64
	var cleaned string
	err := sc.Scan(&r.ID, &r.Tenant, &r.StartingOffsetsTimestamp, &r.ResumeToSubscribePatternTimestamp,
		&r.SubmittedForOffsetsTimestamp, &r.ResumedToSubscribePattern, &r.ApprovalRequired, &r.ApprovedBy, &approved,
		&r.CreatedBy, &r.CanceledBy, &canceled, &r.Phase, &r.Step, &cleaned, &r.LastSubmissionID, &r.LastError, &r.PipelineID, &r.EndReason)
	if err != nil {
		return r, err
	}
	if approved.Valid {
		t := time.UnixMilli(approved.Int64).UTC()
		r.ApprovedAt = &t
	}
	if canceled.Valid {
		t := time.UnixMilli(canceled.Int64).UTC()
		r.CanceledAt = &t
	}
	r.CleanedPhases = []string{}
	for _, p := range strings.Split(cleaned, ",") {
		if p != "" {
			r.CleanedPhases = append(r.CleanedPhases, p)
		}
	}
	return r, nil
}

// SparkReplays returns the tenant's replays, newest first (at most 100).
func (db *DB) SparkReplays(ctx context.Context, tenant string) ([]SparkReplay, error) {
	rows, err := db.sql.QueryContext(ctx, replayColumns+` WHERE tenant = ? ORDER BY id DESC LIMIT 100`, tenant)
	if err != nil {
		return nil, mapErr(fmt.Errorf("list replays of tenant %s: %w", tenant, err))
	}
	defer rows.Close()
	var out []SparkReplay
	for rows.Next() {
		r, err := scanReplay(rows)
		if err != nil {
			return nil, fmt.Errorf("list replays of tenant %s: %w", tenant, err)
		}
		out = append(out, r)
	}
	return out, mapErr(rows.Err())
}

// SparkReplayByID returns the tenant's replay id (NotFound when it has none).
func (db *DB) SparkReplayByID(ctx context.Context, tenant string, id int64) (SparkReplay, error) {
	return replayByID(ctx, db.sql, tenant, id, false)
}

func replayByID(ctx context.Context, q queryer, tenant string, id int64, forUpdate bool) (SparkReplay, error) {
	query := replayColumns + ` WHERE tenant = ? AND id = ?`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	r, err := scanReplay(q.QueryRowContext(ctx, query, tenant, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fault.NotFoundf("tenant %s has no replay %d", tenant, id)
	}
	return r, mapErr(err)
}

// OpenSparkReplay returns the tenant's oldest open replay (not DONE, not canceled), or nil.
func (db *DB) OpenSparkReplay(ctx context.Context, tenant string) (*SparkReplay, error) {
	return openReplay(ctx, db.sql, tenant, false)
}

func openReplay(ctx context.Context, q queryer, tenant string, forUpdate bool) (*SparkReplay, error) {
	query := replayColumns + ` WHERE tenant = ? AND phase <> 'DONE' AND canceledAtMs IS NULL ORDER BY id LIMIT 1`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	r, err := scanReplay(q.QueryRowContext(ctx, query, tenant))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, mapErr(fmt.Errorf("read open replay of tenant %s: %w", tenant, err))
	}
	return &r, nil
}

// noOpenReplay is a Conflict when the tenant has an open replay (read under lock).
func noOpenReplay(ctx context.Context, tx *sql.Tx, tenant, then string) error {
	open, err := openReplay(ctx, tx, tenant, true)
	if err != nil {
		return err
	}
	if open != nil {
		return fault.Conflictf("tenant %s already has open replay %d (phase %s, step %s); %s", tenant, open.ID, open.Phase, open.Step, then)
	}
	return nil
}

// insertReplay writes r (its ID ignored) and returns its id; a replay of the same timestamp
// or pipeline is a Conflict.
func insertReplay(ctx context.Context, tx *sql.Tx, r SparkReplay, now time.Time) (int64, error) {
	var approvedAt any
	if r.ApprovedAt != nil {
		approvedAt = r.ApprovedAt.UnixMilli()
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO spark_submit_status (tenant, startingOffsetsTimestamp,
		resumeToSubscribePatternTimestamp, isSubmittedForOffsetsTimestamp, approvalRequired, approvedBy, approvedAtMs, createdBy,
		phase, step, stepChangedAtMs, cleanedPhases, pipelineId) VALUES (?, ?, ?, ?, ?, NULLIF(?, ''), ?, ?, ?, ?, ?, ?, NULLIF(?, ''))`,
		r.Tenant, r.StartingOffsetsTimestamp, r.ResumeToSubscribePatternTimestamp, r.SubmittedForOffsetsTimestamp, r.ApprovalRequired,
		truncate(r.ApprovedBy, 128), approvedAt, truncate(r.CreatedBy, 128), r.Phase, r.Step, now.UnixMilli(), joinPhases(r.CleanedPhases), r.PipelineID)
	if err != nil {
		if strings.Contains(err.Error(), "Duplicate entry") {
			return 0, fault.Conflictf("tenant %s already had a replay from timestamp %d or for pipeline %s", r.Tenant, r.StartingOffsetsTimestamp, r.PipelineID)
		}
		return 0, err
	}
	return res.LastInsertId()
}

func joinPhases(ps []string) string {
	out := ""
	for _, p := range ps {
		out += p + ","
	}
	return out
}

// CreateSparkReplay records r (with its pipeline id, if it runs as one) as the tenant's open
// replay, unless the tenant already has one (a Conflict). It takes one connection only: the
// caller starts r's pipeline before, never inside, this transaction.
func (db *DB) CreateSparkReplay(ctx context.Context, r SparkReplay, now time.Time) (int64, error) {
	var id int64
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		if err := noOpenReplay(ctx, tx, r.Tenant, "cancel it first"); err != nil {
			return err
		}
		var err error
		id, err = insertReplay(ctx, tx, r, now)
		return err
	})
	if err != nil {
		return 0, mapErr(fmt.Errorf("create replay for tenant %s: %w", r.Tenant, err))
	}
	return id, nil
}

// AdoptSparkReplay records, under the fence, a replay taken over with its pipeline from
// another partition (r's phase, step, approval and cleaned phases are where its previous
// owner stopped), unless the tenant has an open replay (a Conflict).
func (db *DB) AdoptSparkReplay(ctx context.Context, l Lease, r SparkReplay, now time.Time) (int64, error) {
	var id int64
	err := db.WithFence(ctx, l, func(tx *sql.Tx) error {
		if err := noOpenReplay(ctx, tx, r.Tenant, "pipeline "+r.PipelineID+" is adopted once it ends"); err != nil {
			return err
		}
		var err error
		id, err = insertReplay(ctx, tx, r, now)
		return err
	})
	if err != nil {
		return 0, mapErr(fmt.Errorf("adopt replay pipeline %s of tenant %s: %w", r.PipelineID, r.Tenant, err))
	}
	return id, nil
}

// SparkReplayOfPipelineExists reports whether a replay row runs as pipeline id.
func (db *DB) SparkReplayOfPipelineExists(ctx context.Context, pipelineID string) (bool, error) {
	var n int
	if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM spark_submit_status WHERE pipelineId = ?`, pipelineID).Scan(&n); err != nil {
		return false, mapErr(fmt.Errorf("find replay of pipeline %s: %w", pipelineID, err))
	}
	return n > 0, nil
}

// ReplayChange is what an operator's action does to an open replay.
type ReplayChange struct {
	CancelBy  string // set: the replay is canceled by this operator
	ApproveBy string // set: the replay is approved by this operator
}

// ChangeSparkReplay applies an operator's action to the tenant's open replay id: decide sees
// the row, locked, and returns the change (or an error, which changes nothing). A replay
// that is DONE or canceled is a Conflict; an unknown one NotFound.
func (db *DB) ChangeSparkReplay(ctx context.Context, tenant string, id int64, now time.Time, decide func(SparkReplay) (ReplayChange, error)) error {
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		r, err := replayByID(ctx, tx, tenant, id, true)
		if err != nil {
			return err
		}
		if r.Phase == "DONE" || r.CanceledAt != nil {
			return fault.Conflictf("replay %d is already %s", id, map[bool]string{true: "canceled", false: "done"}[r.CanceledAt != nil])
		}
		c, err := decide(r)
		if err != nil {
			return err
		}
		switch {
		case c.CancelBy != "":
			_, err = tx.ExecContext(ctx, `UPDATE spark_submit_status SET canceledBy = ?, canceledAtMs = ? WHERE id = ?`, truncate(c.CancelBy, 128), now.UnixMilli(), id)
		case c.ApproveBy != "":
			_, err = tx.ExecContext(ctx, `UPDATE spark_submit_status SET approvedBy = ?, approvedAtMs = ? WHERE id = ?`, truncate(c.ApproveBy, 128), now.UnixMilli(), id)
		}
		return err
	})
	return mapErr(err)
}
