package executions

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/logwise/controlplane/shared/fault"
)

// Repository reads executions and applies the operator actions (cancel, pause, resume,
// judgement, delete) to the ones this partition owns. An execution whose partition is set
// and differs from the local one is foreign: readable, but every action on it is refused with
// a Conflict coded FOREIGN_EXECUTION naming the owner (Orca's handlesPartition rule).
type Repository struct {
	db        *sql.DB
	partition string
	now       func() time.Time
}

// NewRepository returns a repository over db for the local partition.
func NewRepository(db *sql.DB, partition string) *Repository {
	return &Repository{db: db, partition: partition, now: time.Now}
}

// SetClock replaces the clock (tests).
func (r *Repository) SetClock(now func() time.Time) { r.now = now }

// Partition is the local partition.
func (r *Repository) Partition() string { return r.partition }

// Owns reports whether the local partition owns an execution whose partition column is p.
func (r *Repository) Owns(p string) bool { return p == "" || r.partition == "" || p == r.partition }

// ForeignError is the refusal of an action on an execution another partition owns.
func ForeignError(id, owner string) *fault.Error {
	return fault.Conflictf("execution %s is owned by partition %s; act on it there", id, owner).WithCode("FOREIGN_EXECUTION")
}

// Filter selects executions to list.
type Filter struct {
	Type        Type     // empty: both
	Statuses    []Status // empty: any
	Application string   // the tenant
	Partition   *string  // nil: any; "" selects NULL partition (legacy, owned)
	Since       time.Time
	Until       time.Time
	Limit       int    // 1..500, default 50
	Cursor      string // from the previous Page
}

// Page is one page of executions, newest first.
type Page struct {
	Executions []Summary `json:"executions"`
	NextCursor string    `json:"nextCursor,omitempty"`
}

// Summary is an execution without its stages, as listed.
type Summary struct {
	ID          string `json:"id"`
	Type        Type   `json:"type"`
	Application string `json:"application"`
	Name        string `json:"name,omitempty"`
	Status      Status `json:"status"`
	Partition   string `json:"partition,omitempty"`
	Owned       bool   `json:"owned"`
	BuildTime   int64  `json:"buildTime"`
	StartTime   int64  `json:"startTime,omitempty"`
	UpdatedAt   int64  `json:"updatedAt,omitempty"`
	Canceled    bool   `json:"canceled"`
}

// Detail is an execution with its stages, as read by GET /executions/{id}.
type Detail struct {
	Summary
	Body   map[string]any   `json:"execution"`
	Stages []map[string]any `json:"stages"`
}

type cursor struct {
	BuildTime int64  `json:"b"`
	ID        string `json:"i"`
}

// List returns executions matching f, newest first (by build time, then id), paginated.
func (r *Repository) List(ctx context.Context, f Filter) (Page, error) {
	if f.Limit == 0 {
		f.Limit = 50
	}
	if f.Limit < 1 || f.Limit > 500 {
		return Page{}, fault.Invalidf("limit must be between 1 and 500, got %d", f.Limit)
	}
	var after *cursor
	if f.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(f.Cursor)
		after = &cursor{}
		if err != nil || json.Unmarshal(raw, after) != nil || after.ID == "" {
			return Page{}, fault.Invalidf("cursor is not one this API returned")
		}
	}
	types := []Type{Pipeline, Orchestration}
	if f.Type != "" {
		types = []Type{f.Type}
	}
	var parts []string
	var args []any
	for _, t := range types {
		table, _ := tables(t)
		q := fmt.Sprintf("SELECT id, '%s', application, status, COALESCE(`partition`, ''), build_time, COALESCE(start_time, 0), COALESCE(updated_at, 0), canceled, body FROM %s WHERE 1=1", t, table)
		var qa []any
		if f.Application != "" {
			q += " AND application = ?"
			qa = append(qa, f.Application)
		}
		if len(f.Statuses) > 0 {
			q += " AND status IN (" + strings.TrimSuffix(strings.Repeat("?,", len(f.Statuses)), ",") + ")"
			for _, s := range f.Statuses {
				qa = append(qa, string(s))
			}
		}
		if f.Partition != nil {
			if *f.Partition == "" {
				q += " AND `partition` IS NULL"
			} else {
				q += " AND `partition` = ?"
				qa = append(qa, *f.Partition)
			}
		}
		if !f.Since.IsZero() {
			q += " AND build_time >= ?"
			qa = append(qa, f.Since.UnixMilli())
		}
		if !f.Until.IsZero() {
			q += " AND build_time < ?"
			qa = append(qa, f.Until.UnixMilli())
		}
		if after != nil {
			q += " AND (build_time < ? OR (build_time = ? AND id < ?))"
			qa = append(qa, after.BuildTime, after.BuildTime, after.ID)
		}
		q += fmt.Sprintf(" ORDER BY build_time DESC, id DESC LIMIT %d", f.Limit+1)
		parts = append(parts, "("+q+")")
		args = append(args, qa...)
	}
	query := parts[0][1 : len(parts[0])-1] // one type: the SELECT as it is
	if len(parts) > 1 {
		query = strings.Join(parts, " UNION ALL ") + fmt.Sprintf(" ORDER BY build_time DESC, id DESC LIMIT %d", f.Limit+1)
	}
	rows, err := r.db.QueryContext(ctx, query, args...)
	if err != nil {
		return Page{}, fmt.Errorf("list executions: %w", err)
	}
	defer rows.Close()
	var out Page
	for rows.Next() {
		s, _, err := r.scanSummary(rows)
		if err != nil {
			return Page{}, err
		}
		out.Executions = append(out.Executions, s)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("list executions: %w", err)
	}
	if len(out.Executions) > f.Limit {
		last := out.Executions[f.Limit-1]
		out.Executions = out.Executions[:f.Limit]
		b, _ := json.Marshal(cursor{BuildTime: last.BuildTime, ID: last.ID})
		out.NextCursor = base64.RawURLEncoding.EncodeToString(b)
	}
	if out.Executions == nil {
		out.Executions = []Summary{}
	}
	return out, nil
}

type scanner interface{ Scan(dest ...any) error }

func (r *Repository) scanSummary(sc scanner) (Summary, string, error) {
	var s Summary
	var canceled []byte
	var body string
	var typ string
	if err := sc.Scan(&s.ID, &typ, &s.Application, &s.Status, &s.Partition, &s.BuildTime, &s.StartTime, &s.UpdatedAt, &canceled, &body); err != nil {
		return s, "", fmt.Errorf("scan execution: %w", err)
	}
	s.Type = Type(typ)
	s.Canceled = len(canceled) == 1 && canceled[0] == 1
	s.Owned = r.Owns(s.Partition)
	var head struct {
		Name string `json:"name"`
	}
	if json.Unmarshal([]byte(body), &head) == nil {
		s.Name = head.Name
	}
	return s, body, nil
}

// Get returns an execution with its stages (ordered by refId where numeric, else id).
func (r *Repository) Get(ctx context.Context, id string) (Detail, error) {
	if err := validID(id); err != nil {
		return Detail{}, err
	}
	for _, t := range []Type{Orchestration, Pipeline} {
		d, err := r.get(ctx, r.db, t, id, false)
		if err == nil {
			return d, nil
		}
		if !fault.Is(err, fault.NotFound) {
			return Detail{}, err
		}
	}
	return Detail{}, fault.NotFoundf("execution %s does not exist", id)
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (r *Repository) get(ctx context.Context, q queryer, t Type, id string, lock bool) (Detail, error) {
	table, stageTable := tables(t)
	query := fmt.Sprintf("SELECT id, '%s', application, status, COALESCE(`partition`, ''), build_time, COALESCE(start_time, 0), COALESCE(updated_at, 0), canceled, body FROM %s WHERE id = ?", t, table)
	if lock {
		query += " FOR UPDATE"
	}
	s, body, err := r.scanSummary(q.QueryRowContext(ctx, query, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Detail{}, fault.NotFoundf("%s %s does not exist", t, id)
	}
	if err != nil {
		return Detail{}, fmt.Errorf("read %s %s: %w", t, id, err)
	}
	d := Detail{Summary: s, Body: map[string]any{}}
	if body != "" {
		if err := json.Unmarshal([]byte(body), &d.Body); err != nil {
			return Detail{}, fmt.Errorf("%s %s has a body that is not JSON: %w", t, id, err)
		}
	}
	sq := "SELECT body FROM " + stageTable + " WHERE execution_id = ?"
	if lock {
		sq += " FOR UPDATE"
	}
	rows, err := q.QueryContext(ctx, sq, id)
	if err != nil {
		return Detail{}, fmt.Errorf("read stages of %s: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var sb string
		if err := rows.Scan(&sb); err != nil {
			return Detail{}, fmt.Errorf("scan stage of %s: %w", id, err)
		}
		st := map[string]any{}
		if sb != "" {
			if err := json.Unmarshal([]byte(sb), &st); err != nil {
				return Detail{}, fmt.Errorf("stage of %s has a body that is not JSON: %w", id, err)
			}
		}
		d.Stages = append(d.Stages, st)
	}
	sortStages(d.Stages)
	if d.Stages == nil {
		d.Stages = []map[string]any{}
	}
	return d, rows.Err()
}

func sortStages(st []map[string]any) {
	key := func(m map[string]any) (int, string) {
		ref, _ := m["refId"].(string)
		n, err := strconv.Atoi(ref)
		if err != nil {
			n = 1 << 30
		}
		id, _ := m["id"].(string)
		return n, id
	}
	for i := 1; i < len(st); i++ {
		for j := i; j > 0; j-- {
			a, ai := key(st[j-1])
			b, bi := key(st[j])
			if a < b || (a == b && ai <= bi) {
				break
			}
			st[j-1], st[j] = st[j], st[j-1]
		}
	}
}

func validID(id string) error {
	if id == "" || len(id) > 26 {
		return fault.Invalidf("execution id %q is not an execution id (at most 26 characters)", truncate(id))
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// DBForTest exposes the pool to tests of other packages that seed rows.
func (r *Repository) DBForTest() *sql.DB { return r.db }
