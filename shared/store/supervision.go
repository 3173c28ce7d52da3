package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Supervision states of a tenant's Spark job (spark_supervision.state).
const (
	SupervisionActive    = "ACTIVE"
	SupervisionCrashLoop = "CRASH_LOOP"
	SupervisionPaused    = "PAUSED"
)

// Supervision is a tenant's supervision row: no row is ACTIVE at version 0.
type Supervision struct {
	State   string
	Resumed time.Time // the last resume (zero: never): the crash-loop window restarts there
	Version uint64    // grows with every change, so a decision on an old read is refused
}

// SparkSubmission is one recorded submission attempt (spark_submissions).
type SparkSubmission struct {
	ID           int64
	Tenant       string
	SubmittedAt  time.Time
	SubmissionID string
	Reason       string
	Trigger      string
	RequestBody  string // redacted
	Outcome      string // PENDING, ACCEPTED, UNKNOWN, FAILED
	Message      string
	Master       string
}

// SparkSupervision reads the tenant's supervision state.
func (db *DB) SparkSupervision(ctx context.Context, tenant string) (Supervision, error) {
	return readSupervision(ctx, db.sql, tenant, false)
}

func readSupervision(ctx context.Context, q queryer, tenant string, forUpdate bool) (Supervision, error) {
	var resumedMs sql.NullInt64
	s := Supervision{}
	query := `SELECT state, resumedAtMs, version FROM spark_supervision WHERE tenant = ?`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	err := q.QueryRowContext(ctx, query, tenant).Scan(&s.State, &resumedMs, &s.Version)
	if errors.Is(err, sql.ErrNoRows) {
		return Supervision{State: SupervisionActive}, nil
	}
	if err != nil {
		return Supervision{}, mapErr(fmt.Errorf("read supervision state of tenant %s: %w", tenant, err))
	}
	if resumedMs.Valid {
		s.Resumed = time.UnixMilli(resumedMs.Int64)
	}
	return s, nil
}

// CountedSubmissions returns the times of the tenant's submissions since from that count
// against the crash-loop budget, oldest first: every attempt (a refused one too), except
// replay submissions, which are deliberate.
func (db *DB) CountedSubmissions(ctx context.Context, tenant string, from time.Time) ([]time.Time, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT submittedAtMs FROM spark_submissions
		WHERE tenant = ? AND submittedAtMs >= ? AND triggeredBy <> 'replay' AND outcome IN ('PENDING','ACCEPTED','UNKNOWN','FAILED')
		ORDER BY submittedAtMs`, tenant, from.UnixMilli())
	if err != nil {
		return nil, mapErr(fmt.Errorf("read submissions of tenant %s: %w", tenant, err))
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var ms int64
		if err := rows.Scan(&ms); err != nil {
			return nil, fmt.Errorf("read submissions of tenant %s: %w", tenant, err)
		}
		out = append(out, time.UnixMilli(ms))
	}
	return out, mapErr(rows.Err())
}

// RecordSubmissionAttempt writes a PENDING submission row under the fence and returns its id:
// a holder whose lease was taken over gets ErrStaleToken and must send nothing.
func (db *DB) RecordSubmissionAttempt(ctx context.Context, l Lease, s SparkSubmission) (int64, error) {
	var id int64
	err := db.WithFence(ctx, l, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO spark_submissions (tenant, submittedAtMs, reason, triggeredBy, requestBody, outcome)
			VALUES (?, ?, ?, ?, ?, 'PENDING')`, s.Tenant, s.SubmittedAt.UnixMilli(), truncate(s.Reason, 512), s.Trigger, s.RequestBody)
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return 0, mapErr(fmt.Errorf("record submission for tenant %s: %w", s.Tenant, err))
	}
	return id, nil
}

// RecordSubmissionOutcome completes the attempt id with what the master answered.
func (db *DB) RecordSubmissionOutcome(ctx context.Context, id int64, submissionID, outcome, message, master string) error {
	_, err := db.sql.ExecContext(ctx, `UPDATE spark_submissions SET submissionId = NULLIF(?, ''), outcome = ?, message = ?, master = NULLIF(?, '')
		WHERE id = ?`, submissionID, outcome, truncate(message, 1024), master, id)
	if err != nil {
		return mapErr(fmt.Errorf("record outcome of submission %d: %w", id, err))
	}
	return nil
}

// EnterCrashLoop moves the tenant to CRASH_LOOP under the fence, unless its state changed
// since it was read at version seen (an operator's resume or pause wins); it reports
// whether it did.
func (db *DB) EnterCrashLoop(ctx context.Context, l Lease, tenant, reason string, seen uint64, now time.Time) (bool, error) {
	changed := false
	err := db.WithFence(ctx, l, func(tx *sql.Tx) error {
		cur, err := readSupervision(ctx, tx, tenant, true)
		if err != nil {
			return err
		}
		if cur.State != SupervisionActive || cur.Version != seen {
			return nil
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO spark_supervision (tenant, state, reason, changedAtMs, changedBy, version)
			VALUES (?, ?, ?, ?, 'monitor', 1)
			ON DUPLICATE KEY UPDATE state = VALUES(state), reason = VALUES(reason), changedAtMs = VALUES(changedAtMs),
			  changedBy = VALUES(changedBy), version = version + 1`, tenant, SupervisionCrashLoop, truncate(reason, 512), now.UnixMilli())
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		changed = n > 0
		return nil
	})
	if err != nil {
		return false, mapErr(fmt.Errorf("enter crash loop for tenant %s: %w", tenant, err))
	}
	return changed, nil
}

// SetSupervisionByOperator sets an operator's state and returns the previous one. Resuming
// (ACTIVE) also restarts the crash-loop window.
func (db *DB) SetSupervisionByOperator(ctx context.Context, tenant, operator, state, reason string, now time.Time) (string, error) {
	var prev string
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		cur, err := readSupervision(ctx, tx, tenant, true)
		if err != nil {
			return err
		}
		prev = cur.State
		var resumed any
		if state == SupervisionActive {
			resumed = now.UnixMilli()
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO spark_supervision (tenant, state, reason, changedAtMs, changedBy, resumedAtMs, version)
			VALUES (?, ?, ?, ?, ?, ?, 1)
			ON DUPLICATE KEY UPDATE state = VALUES(state), reason = VALUES(reason), changedAtMs = VALUES(changedAtMs),
			  changedBy = VALUES(changedBy), resumedAtMs = COALESCE(VALUES(resumedAtMs), resumedAtMs), version = version + 1`,
			tenant, state, truncate(reason, 512), now.UnixMilli(), truncate(operator, 128), resumed)
		return err
	})
	if err != nil {
		return "", mapErr(fmt.Errorf("set supervision of tenant %s to %s: %w", tenant, state, err))
	}
	return prev, nil
}

// SparkSubmissions lists the tenant's recorded submissions, newest first (at most limit).
func (db *DB) SparkSubmissions(ctx context.Context, tenant string, limit int) ([]SparkSubmission, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT id, tenant, submittedAtMs, COALESCE(submissionId, ''), reason, triggeredBy,
		requestBody, outcome, COALESCE(message, ''), COALESCE(master, '') FROM spark_submissions WHERE tenant = ?
		ORDER BY submittedAtMs DESC, id DESC LIMIT ?`, tenant, limit)
	if err != nil {
		return nil, mapErr(fmt.Errorf("list submissions of tenant %s: %w", tenant, err))
	}
	defer rows.Close()
	var out []SparkSubmission
	for rows.Next() {
		var x SparkSubmission
		var ms int64
		if err := rows.Scan(&x.ID, &x.Tenant, &ms, &x.SubmissionID, &x.Reason, &x.Trigger, &x.RequestBody, &x.Outcome, &x.Message, &x.Master); err != nil {
			return nil, fmt.Errorf("list submissions of tenant %s: %w", tenant, err)
		}
		x.SubmittedAt = time.UnixMilli(ms).UTC()
		out = append(out, x)
	}
	return out, mapErr(rows.Err())
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
