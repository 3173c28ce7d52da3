package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/logwise/controlplane/shared/store"
)

// TestTenantKeysCompareExactly: every column that holds a tenant (tenant, Orca's application,
// the lease names that embed a tenant) is binary-collated, so tenants "abc" and "ABC" never
// share a row. A table added later with a case-insensitive tenant column fails here.
// The embedded server (the local runner's default) is checked too.
func TestTenantKeysCompareExactly(t *testing.T) {
	t.Parallel()
	for name, open := range backends {
		t.Run(name, func(t *testing.T) { checkTenantKeys(t, open(t)) })
	}
}

func checkTenantKeys(t *testing.T, db *store.DB) {
	ctx := context.Background()
	rows, err := db.SQL().QueryContext(ctx, `SELECT TABLE_NAME, COLUMN_NAME, COALESCE(COLLATION_NAME, '') FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = DATABASE() AND (COLUMN_NAME IN ('tenant', 'application') OR (TABLE_NAME = 'leases' AND COLUMN_NAME = 'name'))
		ORDER BY TABLE_NAME, COLUMN_NAME`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var table, column, collation string
		if err := rows.Scan(&table, &column, &collation); err != nil {
			t.Fatal(err)
		}
		n++
		if !strings.HasSuffix(collation, "_bin") {
			t.Errorf("%s.%s has collation %q: tenant keys must compare exactly (a _bin collation)", table, column, collation)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("found only %d tenant columns: the query no longer sees the schema", n)
	}
	// The behaviour itself: two tenants differing only in case keep separate rows.
	for _, tenant := range []string{"abc", "ABC"} {
		if _, err := db.SQL().ExecContext(ctx, `INSERT INTO spark_supervision (tenant, state, changedAtMs) VALUES (?, 'PAUSED', 1)`, tenant); err != nil {
			t.Fatalf("supervision row of %s: %v", tenant, err)
		}
	}
	var got int
	if err := db.SQL().QueryRowContext(ctx, `SELECT COUNT(*) FROM spark_supervision WHERE tenant = 'abc'`).Scan(&got); err != nil || got != 1 {
		t.Fatalf("rows of tenant abc = %d (%v), want 1", got, err)
	}
}
