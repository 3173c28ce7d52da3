package supervisor

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/spark"
	"github.com/logwise/controlplane/shared/store"
)

// Submission is one recorded submission attempt.
type Submission struct {
	ID           int64     `json:"id"`
	Tenant       string    `json:"tenant"`
	SubmittedAt  time.Time `json:"submittedAt"`
	SubmissionID string    `json:"submissionId,omitempty"`
	Reason       string    `json:"reason"`
	Trigger      string    `json:"trigger"`
	RequestBody  string    `json:"requestBody"` // redacted
	Outcome      string    `json:"outcome"`
	Message      string    `json:"message,omitempty"`
	Master       string    `json:"master,omitempty"`
}

// countedOutcomes are the outcomes that count against the crash-loop budget: every attempt,
// including one the master refused (REST disabled, HTTP 400): a create that fails the same
// way every minute is a crash loop too, and backs off like one. Replay submissions are
// deliberate and do not count.
const countedOutcomes = `('PENDING','ACCEPTED','UNKNOWN','FAILED')`

// budget reads the tenant's supervision state and its counted submissions inside the window
// (and after the last resume).
func (s *Supervisor) budget(ctx context.Context, tenant string, p config.CrashLoop, now time.Time) (Budget, error) {
	db := s.d.Store.SQL()
	state, resumed, version, err := s.supervision(ctx, db, tenant, false)
	if err != nil {
		return Budget{}, err
	}
	from := now.Add(-time.Duration(p.WindowMinutes) * time.Minute)
	if resumed.After(from) {
		from = resumed
	}
	rows, err := db.QueryContext(ctx, `SELECT submittedAtMs FROM spark_submissions
		WHERE tenant = ? AND submittedAtMs >= ? AND triggeredBy <> 'replay' AND outcome IN `+countedOutcomes+`
		ORDER BY submittedAtMs`, tenant, from.UnixMilli())
	if err != nil {
		return Budget{}, fmt.Errorf("read submissions of tenant %s: %w", tenant, err)
	}
	defer rows.Close()
	b := Budget{State: state, Policy: p, Version: version}
	for rows.Next() {
		var ms int64
		if err := rows.Scan(&ms); err != nil {
			return Budget{}, fmt.Errorf("read submissions of tenant %s: %w", tenant, err)
		}
		b.RecentSubmissions = append(b.RecentSubmissions, time.UnixMilli(ms))
	}
	return b, rows.Err()
}

type rowQueryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// supervision reads the tenant's state; no row is ACTIVE at version 0.
func (s *Supervisor) supervision(ctx context.Context, q rowQueryer, tenant string, forUpdate bool) (state string, resumed time.Time, version uint64, err error) {
	var resumedMs sql.NullInt64
	query := `SELECT state, resumedAtMs, version FROM spark_supervision WHERE tenant = ?`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	err = q.QueryRowContext(ctx, query, tenant).
		Scan(&state, &resumedMs, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return StateActive, time.Time{}, 0, nil
	}
	if err != nil {
		return "", time.Time{}, 0, fmt.Errorf("read supervision state of tenant %s: %w", tenant, err)
	}
	if resumedMs.Valid {
		resumed = time.UnixMilli(resumedMs.Int64)
	}
	return state, resumed, version, nil
}

// recordAttempt writes a PENDING submission row under the fence: a monitor whose lease was
// taken over gets store.ErrStaleToken and sends nothing.
func (s *Supervisor) recordAttempt(ctx context.Context, lease store.Lease, tenant string, at time.Time, reason, trigger string, req *spark.CreateRequest) (int64, error) {
	var id int64
	err := s.d.Store.WithFence(ctx, lease, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO spark_submissions (tenant, submittedAtMs, reason, triggeredBy, requestBody, outcome)
			VALUES (?, ?, ?, ?, ?, 'PENDING')`, tenant, at.UnixMilli(), truncate(reason, 512), trigger, string(req.RedactedJSON()))
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	return id, err
}

func (s *Supervisor) recordOutcome(ctx context.Context, rowID int64, submissionID, outcome, message, master string) error {
	_, err := s.d.Store.SQL().ExecContext(ctx, `UPDATE spark_submissions SET submissionId = NULLIF(?, ''), outcome = ?, message = ?, master = NULLIF(?, '')
		WHERE id = ?`, submissionID, outcome, truncate(message, 1024), master, rowID)
	return err
}

// setCrashLoop moves the tenant to CRASH_LOOP under the fence, unless its state changed since
// it was read at version seen (an operator's resume or pause wins); it reports whether it did.
func (s *Supervisor) setCrashLoop(ctx context.Context, lease store.Lease, tenant, reason string, seen uint64, now time.Time) (bool, error) {
	changed := false
	err := s.d.Store.WithFence(ctx, lease, func(tx *sql.Tx) error {
		state, _, version, err := s.supervision(ctx, tx, tenant, true)
		if err != nil {
			return err
		}
		if state != StateActive || version != seen {
			return nil
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO spark_supervision (tenant, state, reason, changedAtMs, changedBy, version)
			VALUES (?, ?, ?, ?, 'monitor', 1)
			ON DUPLICATE KEY UPDATE state = VALUES(state), reason = VALUES(reason), changedAtMs = VALUES(changedAtMs),
			  changedBy = VALUES(changedBy), version = version + 1`, tenant, StateCrashLoop, truncate(reason, 512), now.UnixMilli())
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		changed = n > 0
		return nil
	})
	return changed, err
}

// writeOperatorState sets an operator's state and returns the previous one. Resuming also
// restarts the crash-loop window.
func (s *Supervisor) writeOperatorState(ctx context.Context, tenant, operator, state, reason string, now time.Time) (string, error) {
	var prev string
	tx, err := s.d.Store.SQL().BeginTx(ctx, nil)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	var cur string
	err = tx.QueryRowContext(ctx, `SELECT state FROM spark_supervision WHERE tenant = ? FOR UPDATE`, tenant).Scan(&cur)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		prev = StateActive
	case err != nil:
		return "", err
	default:
		prev = cur
	}
	var resumed any
	if state == StateActive {
		resumed = now.UnixMilli()
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO spark_supervision (tenant, state, reason, changedAtMs, changedBy, resumedAtMs, version)
		VALUES (?, ?, ?, ?, ?, ?, 1)
		ON DUPLICATE KEY UPDATE state = VALUES(state), reason = VALUES(reason), changedAtMs = VALUES(changedAtMs),
		  changedBy = VALUES(changedBy), resumedAtMs = COALESCE(VALUES(resumedAtMs), resumedAtMs), version = version + 1`,
		tenant, state, truncate(reason, 512), now.UnixMilli(), truncate(operator, 128), resumed)
	if err != nil {
		return "", err
	}
	return prev, tx.Commit()
}

// Submissions lists the tenant's recorded submissions, newest first (at most limit).
func (s *Supervisor) Submissions(ctx context.Context, tenant string, limit int) ([]Submission, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := s.d.Store.SQL().QueryContext(ctx, `SELECT id, tenant, submittedAtMs, COALESCE(submissionId, ''), reason, triggeredBy,
		requestBody, outcome, COALESCE(message, ''), COALESCE(master, '') FROM spark_submissions WHERE tenant = ?
		ORDER BY submittedAtMs DESC, id DESC LIMIT ?`, tenant, limit)
	if err != nil {
		return nil, fmt.Errorf("list submissions of tenant %s: %w", tenant, err)
	}
	defer rows.Close()
	var out []Submission
	for rows.Next() {
		var x Submission
		var ms int64
		if err := rows.Scan(&x.ID, &x.Tenant, &ms, &x.SubmissionID, &x.Reason, &x.Trigger, &x.RequestBody, &x.Outcome, &x.Message, &x.Master); err != nil {
			return nil, fmt.Errorf("list submissions of tenant %s: %w", tenant, err)
		}
		x.SubmittedAt = time.UnixMilli(ms).UTC()
		out = append(out, x)
	}
	return out, rows.Err()
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
