package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// StageHistory is one report from the Spark job's stage listener: the stats of one
// micro-batch run, which the scaler sizes workers from.
type StageHistory struct {
	Tenant         string
	OutputBytes    int64
	InputRecords   int64
	SubmissionTime int64 // epoch ms
	CompletionTime int64 // epoch ms
	// CoresUsed is nil when the Spark job could not read it from the master.
	CoresUsed *int
	Status    string
	// EnableUpScale and EnableDownScale are the flags sent with the report (nil: not sent).
	EnableUpScale   *bool
	EnableDownScale *bool
	CreatedAt       time.Time
}

// MaxStageHistoryLimit bounds one read of stage history.
const MaxStageHistoryLimit = 1000

// execer is what both *sql.DB and *sql.Tx offer for writes.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// InsertStageHistory stores one stage-history report, stamped with the store's clock. The
// same report sent again (a client retry: same times and counts) is stored once.
func (db *DB) InsertStageHistory(ctx context.Context, h StageHistory) error {
	return insertStageHistory(ctx, db.sql, h, db.now())
}

// InsertStageHistoryTx is InsertStageHistory inside a transaction (a fenced write).
func (db *DB) InsertStageHistoryTx(ctx context.Context, tx *sql.Tx, h StageHistory) error {
	return insertStageHistory(ctx, tx, h, db.now())
}

func insertStageHistory(ctx context.Context, e execer, h StageHistory, now time.Time) error {
	if h.InputRecords < 0 || h.OutputBytes < 0 || h.SubmissionTime < 0 || h.CompletionTime < 0 {
		return fmt.Errorf("insert stage history for tenant %s: negative count", h.Tenant)
	}
	var cores any
	if h.CoresUsed != nil {
		cores = *h.CoresUsed
	}
	_, err := e.ExecContext(ctx,
		`INSERT INTO spark_stage_history (tenant, outputBytes, inputRecords, submissionTime, completionTime, coresUsed, status, enableUpScale, enableDownScale, createdAt)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		 ON DUPLICATE KEY UPDATE id = id`,
		h.Tenant, h.OutputBytes, h.InputRecords, h.SubmissionTime, h.CompletionTime, cores, h.Status,
		nullBool(h.EnableUpScale), nullBool(h.EnableDownScale), now.UTC())
	if err != nil {
		return mapErr(fmt.Errorf("insert stage history for tenant %s: %w", h.Tenant, err))
	}
	return nil
}

// StageHistories returns a tenant's newest limit reports, newest first (by arrival).
// limit is clamped to 1..MaxStageHistoryLimit.
func (db *DB) StageHistories(ctx context.Context, tenant string, limit int) ([]StageHistory, error) {
	limit = max(1, min(limit, MaxStageHistoryLimit))
	rows, err := db.sql.QueryContext(ctx,
		`SELECT outputBytes, inputRecords, submissionTime, completionTime, coresUsed, status, enableUpScale, enableDownScale, createdAt
		 FROM spark_stage_history WHERE tenant = ? ORDER BY createdAt DESC, id DESC LIMIT ?`, tenant, limit)
	if err != nil {
		return nil, mapErr(fmt.Errorf("list stage history for tenant %s: %w", tenant, err))
	}
	defer rows.Close()
	var out []StageHistory
	for rows.Next() {
		h := StageHistory{Tenant: tenant}
		var cores sql.NullInt64
		var up, down sql.NullBool
		if err := rows.Scan(&h.OutputBytes, &h.InputRecords, &h.SubmissionTime, &h.CompletionTime, &cores, &h.Status, &up, &down, &h.CreatedAt); err != nil {
			return nil, fmt.Errorf("read stage history for tenant %s: %w", tenant, err)
		}
		if cores.Valid {
			c := int(cores.Int64)
			h.CoresUsed = &c
		}
		if up.Valid {
			h.EnableUpScale = &up.Bool
		}
		if down.Valid {
			h.EnableDownScale = &down.Bool
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(fmt.Errorf("list stage history for tenant %s: %w", tenant, err))
	}
	return out, nil
}

// PurgeStageHistory deletes a tenant's reports older than maxAge (Logwise once purged rows
// older than 6 hours) and returns how many went.
func (db *DB) PurgeStageHistory(ctx context.Context, tenant string, maxAge time.Duration) (int64, error) {
	cutoff := db.now().Add(-maxAge).UTC()
	res, err := db.sql.ExecContext(ctx, `DELETE FROM spark_stage_history WHERE tenant = ? AND createdAt < ?`, tenant, cutoff)
	if err != nil {
		return 0, mapErr(fmt.Errorf("purge stage history of tenant %s older than %s: %w", tenant, maxAge, err))
	}
	n, _ := res.RowsAffected()
	return n, nil
}
