package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/store/storetest"
)

// TestCheckSchemaRefusesAnOlderSchemaNamingBothVersions: a function checks the schema at
// start and never migrates; an unmigrated or partly migrated database is refused with the
// version it needs, the one found, and the migrate function to run.
func TestCheckSchemaRefusesAnOlderSchemaNamingBothVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ms, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	newest := ms[len(ms)-1]
	prev := ms[len(ms)-2]

	empty, err := store.Open(ctx, storetest.NewConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	migrated := storetest.New(t)
	partial := storetest.New(t)
	if _, err := partial.SQL().Exec("DELETE FROM schema_migrations WHERE version = ?", newest.Version); err != nil {
		t.Fatal(err)
	}
	newer := storetest.New(t)
	if _, err := newer.SQL().Exec("INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future.sql')"); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name      string
		db        *store.DB
		wantFound int // -1: no error wanted
	}{
		{"never migrated", empty, 0},
		{"newest migration missing", partial, prev.Version},
		{"fully migrated", migrated, -1},
		{"newer than the code", newer, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.db.CheckSchema(ctx)
			if tt.wantFound < 0 {
				if err != nil {
					t.Fatalf("CheckSchema = %v, want nil", err)
				}
				return
			}
			var se *store.SchemaError
			if !errors.As(err, &se) {
				t.Fatalf("CheckSchema = %v, want a *store.SchemaError", err)
			}
			msg := err.Error()
			for _, want := range []string{fmt.Sprintf("needs version %04d", newest.Version), fmt.Sprintf("found version %04d", tt.wantFound), newest.Name, "run the migrate function"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
		})
	}
	// Checking changes nothing: the unmigrated database still has no tables.
	var n int
	if err := empty.SQL().QueryRow("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()").Scan(&n); err != nil || n != 0 {
		t.Fatalf("tables after CheckSchema on an empty database: %d, %v; want 0", n, err)
	}
}
