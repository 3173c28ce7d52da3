package memdb

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
)

// start serves an embedded database "x" with one table t and returns it and n pools on it,
// each of one connection.
func start(t *testing.T, n int) (*Server, []*sql.DB) {
	t.Helper()
	s, err := Start("127.0.0.1:0", "x")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var dbs []*sql.DB
	for range n {
		db, err := sql.Open("mysql", s.Config("x").DSN())
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		t.Cleanup(func() { db.Close() })
		dbs = append(dbs, db)
	}
	if _, err := dbs[0].Exec("CREATE TABLE t (id INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	return s, dbs
}

func ids(t *testing.T, db *sql.DB) []int {
	t.Helper()
	rows, err := db.Query("SELECT id FROM t ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []int
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		got = append(got, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

func mustExec(t *testing.T, q interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, query string, args ...any) {
	t.Helper()
	if _, err := q.ExecContext(t.Context(), query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// TestReadOnlyTransactionLosesNoWrite: the engine's commit writes back every table the
// transaction read, as it was when first read; a read-only transaction must not, or it undoes
// what another connection committed meanwhile (a peer region's copier reading this region's
// executions while this region writes them).
func TestReadOnlyTransactionLosesNoWrite(t *testing.T) {
	_, dbs := start(t, 2)
	a, b := dbs[0], dbs[1]
	mustExec(t, a, "INSERT INTO t VALUES (1)")
	tx, err := a.BeginTx(t.Context(), &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow("SELECT COUNT(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	mustExec(t, b, "INSERT INTO t VALUES (2)")
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, b); fmt.Sprint(got) != "[1 2]" {
		t.Errorf("rows after the read-only transaction committed: got %v, want [1 2]", got)
	}
}

// TestWriterWaitsForAnotherWritersTransaction: a write from a second connection (a pool's
// replacement for a connection its client gave up on, while the server still runs the old
// one) waits until the open write transaction ends, so neither commit undoes the other.
func TestWriterWaitsForAnotherWritersTransaction(t *testing.T) {
	s, dbs := start(t, 2)
	a, b := dbs[0], dbs[1]
	waiting := make(chan string, 1)
	s.guard.setOnWait(func(db string) { waiting <- db })
	tx, err := a.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow("SELECT COUNT(*) FROM t").Scan(&n); err != nil {
		t.Fatal(err)
	}
	mustExec(t, tx, "INSERT INTO t VALUES (1)")
	done := make(chan error, 1)
	go func() { _, err := b.Exec("INSERT INTO t VALUES (2)"); done <- err }()
	select {
	case db := <-waiting:
		if db != "x" {
			t.Errorf("the second writer waited on database %q, want x", db)
		}
	case err := <-done:
		t.Fatalf("the second writer did not wait for the open transaction (error %v)", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the second writer neither waited nor finished")
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := ids(t, a); fmt.Sprint(got) != "[1 2]" {
		t.Errorf("rows: got %v, want [1 2]", got)
	}
}

// TestWritersOfDifferentDatabasesDoNotWait: the write lock is per database, so two regions
// (or two tests) on one server never wait for each other.
func TestWritersOfDifferentDatabasesDoNotWait(t *testing.T) {
	s, dbs := start(t, 1)
	mustExec(t, dbs[0], "CREATE DATABASE y")
	mustExec(t, dbs[0], "CREATE TABLE y.t (id INT PRIMARY KEY)")
	y, err := sql.Open("mysql", s.Config("y").DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer y.Close()
	s.guard.setOnWait(func(db string) { t.Errorf("a writer waited on database %s", db) })
	tx, err := dbs[0].Begin()
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, tx, "INSERT INTO t VALUES (1)")
	mustExec(t, y, "INSERT INTO t VALUES (1)")
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, y); fmt.Sprint(got) != "[1]" {
		t.Errorf("rows of y: got %v, want [1]", got)
	}
}

// TestClosedConnectionReleasesItsTransaction: a client that goes away mid-transaction leaves
// nothing committed and no writer waiting for it.
func TestClosedConnectionReleasesItsTransaction(t *testing.T) {
	s, dbs := start(t, 1)
	gone, err := sql.Open("mysql", s.Config("x").DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer gone.Close()
	conn, err := gone.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, conn, "START TRANSACTION")
	mustExec(t, conn, "INSERT INTO t VALUES (1)")
	// The connection closes under the open transaction, as when a client's context ends.
	_ = conn.Raw(func(dc any) error { return dc.(io.Closer).Close() })
	_ = conn.Close()
	mustExec(t, dbs[0], "INSERT INTO t VALUES (2)")
	if got := ids(t, dbs[0]); fmt.Sprint(got) != "[2]" {
		t.Errorf("rows: got %v, want [2]", got)
	}
}

// TestConcurrentReadersLoseNoWrite: many connections reading in autocommit while one writes:
// every write survives (each autocommit SELECT is a transaction whose commit would write
// back what it read).
func TestConcurrentReadersLoseNoWrite(t *testing.T) {
	_, dbs := start(t, 5)
	const writes = 300
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for _, r := range dbs[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				var n int
				_ = r.QueryRowContext(ctx, "SELECT COUNT(*) FROM t").Scan(&n)
			}
		}()
	}
	for i := range writes {
		mustExec(t, dbs[0], "INSERT INTO t VALUES (?)", i)
	}
	cancel()
	wg.Wait()
	if got := len(ids(t, dbs[0])); got != writes {
		t.Errorf("rows after %d inserts beside concurrent readers: got %d", writes, got)
	}
}

func TestClassify(t *testing.T) {
	cases := []struct {
		query string
		want  statement
	}{
		{"SELECT 1", stmtRead},
		{"  select id FROM t", stmtRead},
		{"(SELECT 1) UNION (SELECT 2)", stmtRead},
		{"/* a comment */ SELECT 1", stmtRead},
		{"SHOW TABLES", stmtRead},
		{"WITH x AS (SELECT 1) SELECT * FROM x", stmtRead},
		{"INSERT INTO t VALUES (1)", stmtWrite},
		{"insert ignore into leases VALUES (1)", stmtWrite},
		{"UPDATE t SET id = 2", stmtWrite},
		{"DELETE FROM t", stmtWrite},
		{"REPLACE INTO t VALUES (1)", stmtWrite},
		{"CREATE TABLE u (id INT)", stmtWrite},
		{"SET time_zone = '+00:00'", stmtOther},
		{"USE x", stmtOther},
		{"BEGIN", stmtBegin},
		{"START TRANSACTION", stmtBegin},
		{"START TRANSACTION READ ONLY", stmtBeginReadOnly},
		{"start transaction read only", stmtBeginReadOnly},
		{"COMMIT", stmtCommit},
		{"ROLLBACK", stmtRollback},
		{"/* unterminated", stmtOther},
	}
	for _, c := range cases {
		if got := classify(c.query); got != c.want {
			t.Errorf("classify(%q) = %d, want %d", c.query, got, c.want)
		}
	}
}
