package peering

import (
	"context"
	"database/sql"
	"io"
	"log"
	"testing"

	"github.com/go-sql-driver/mysql"
)

func init() {
	// The tests cut connections on purpose; the driver's own log lines are noise.
	_ = mysql.SetLogger(log.New(io.Discard, "", 0))
}

// TestQueriesUseIndexes checks with EXPLAIN that every per-pass query reads an index range,
// never the whole table, so a pass costs O(changed + active), not O(history).
func TestQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	seedSQL(t, p.peer, 20000, 0, 10)
	seedActive(t, p.peer, 20, 1)
	seedSQL(t, p.local, 20000, 0, 10)
	mustExec(t, p.peer, "ANALYZE TABLE pipelines")
	mustExec(t, p.local, "ANALYZE TABLE pipelines")
	tb := tables[Pipeline]
	cases := []struct {
		name    string
		db      *sql.DB
		query   string
		args    []any
		wantKey string
	}{
		{"completed delta page (peer)", p.peer.SQL(), completedPageSQL(tb), []any{peerID, 1019000, 1000}, "pipelines_partition_updated_idx"},
		{"completed tie page (peer)", p.peer.SQL(), completedTieSQL(tb), []any{peerID, 1019000}, "pipelines_partition_updated_idx"},
		{"local window", p.local.SQL(), localWindowSQL(tb, true), []any{1019000, peerID, 1019500}, "pipelines_partition_updated_idx"},
		{"active (peer)", p.peer.SQL(), peerActiveSQL(tb), []any{peerID}, "pipeline_status_buildtime_idx"},
		{"active (local)", p.local.SQL(), localActiveSQL(tb), []any{peerID}, "pipeline_status_buildtime_idx"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := tc.db.QueryContext(context.Background(), "EXPLAIN "+tc.query, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rs.Close()
			cols, _ := rs.Columns()
			for rs.Next() {
				vals := make([]sql.NullString, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rs.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				row := map[string]string{}
				for i, c := range cols {
					row[c] = vals[i].String
				}
				indexed := row["type"] == "range" || row["type"] == "ref" || row["type"] == "ref_or_null"
				if !indexed || row["key"] != tc.wantKey {
					t.Errorf("plan type=%s key=%s rows=%s extra=%q; want a range or ref read of %s", row["type"], row["key"], row["rows"], row["Extra"], tc.wantKey)
				}
			}
		})
	}
}
