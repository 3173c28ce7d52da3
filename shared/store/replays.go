package store

import (
	"context"
	"database/sql"
	"fmt"
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
