package executions

import "testing"

// readTombstonesFor lists deleted_executions as "id/type", for tests.
func readTombstonesFor(t *testing.T, r *Repository) []string {
	t.Helper()
	rows, err := r.db.Query("SELECT execution_id, execution_type FROM deleted_executions ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, typ string
		if err := rows.Scan(&id, &typ); err != nil {
			t.Fatal(err)
		}
		out = append(out, id+"/"+typ)
	}
	return out
}

// ReadTombstones is exported to the external test package.
var ReadTombstones = readTombstonesFor
