package peering

import (
	"context"
	"fmt"
	"github.com/logwise/controlplane/internal/syncbuf"
	"log/slog"
	"maps"
	"testing"
	"time"

	"github.com/logwise/controlplane/internal/mariadbtest"
	"github.com/logwise/controlplane/shared/store"
)

// TestRunConvergesAcrossMariaDBRestart restarts the MariaDB server holding both the local
// and the peer database while the copier's Run loops: the passes during the restart fail
// and are counted, the copier carries on by itself (same Copier, same pools), the executions
// the peer gains after the restart are copied, and the local copies converge to the peer.
func TestRunConvergesAcrossMariaDBRestart(t *testing.T) {
	t.Parallel()
	srv := mariadbtest.Start(t)
	ctx := context.Background()
	open := func(name string) *store.DB {
		if err := srv.CreateDatabase(ctx, name); err != nil {
			t.Fatal(err)
		}
		db, err := store.Open(ctx, srv.Config(name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return db
	}
	p := &pair{local: open("local"), peer: open("peer"), peerCfg: srv.Config("peer")}
	seedHistory(t, p.peer, 150, 5)
	logs := &lockedBuffer{}
	c, err := New(ctx, p.local, []Peer{{ID: peerID, DB: p.peer.SQL()}}, testOptions(), nil, nil, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}

	converged := func(wantExtra int) bool {
		want := versions(t, p.peer, Pipeline, "`partition` = ? OR `partition` IS NULL", peerID)
		got := versions(t, p.local, Pipeline, "`partition` = ?", peerID)
		return len(want) == 155+wantExtra && maps.Equal(got, want)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				var leases []string
				rows, err := p.local.SQL().Query("SELECT CONCAT(name, ' ', holder, ' ', token, ' ', expiresAtMs) FROM leases")
				if err == nil {
					for rows.Next() {
						var l string
						rows.Scan(&l)
						leases = append(leases, l)
					}
					rows.Close()
				}
				t.Logf("copier log:\n%.3000s", logs.String())
				t.Fatalf("timed out waiting until %s: local has %d copies, the peer %d executions; leases %v (%v); state %+v",
					what, len(versions(t, p.local, Pipeline, "`partition` = ?", peerID)),
					len(versions(t, p.peer, Pipeline, "`partition` = ? OR `partition` IS NULL", peerID)), leases, err,
					getState(t, p.local, "pipeline"))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan Summary, 1)
	go func() {
		s, _ := c.Run(runCtx)
		done <- s
	}()
	waitFor("the first copies exist", func() bool {
		return len(versions(t, p.local, Pipeline, "`partition` = ?", peerID)) > 0
	})
	copiedBefore := len(versions(t, p.local, Pipeline, "`partition` = ?", peerID))
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	restartedAt := time.Now()
	for i := 0; i < 20; i++ { // the peer moves on after the restart
		id := fmt.Sprintf("N%05d", i)
		putExec(t, p.peer, exec{typ: Pipeline, id: id, partition: peerID, updatedAt: int64(9000 + i),
			stages: []stage{{id: id + "-1", updatedAt: int64(9000 + i)}}})
	}
	waitFor("the local copies equal the peer's executions", func() bool { return converged(20) })
	took := time.Since(restartedAt)
	cancel()
	sum := <-done
	s := sum.Peers[peerID]
	t.Logf("copied %d executions before the restart; converged %v after it, without intervention; run summary: %d passes, %d peered, %d errors, %d deleted",
		copiedBefore, took.Round(time.Millisecond), s.Passes, s.NumPeered, s.NumErrors, s.NumDeleted)
	if s.NumDeleted != 0 {
		t.Errorf("the run deleted %d local copies; the peer deleted nothing", s.NumDeleted)
	}
	assertConverged(t, p)
}

// lockedBuffer collects log lines from concurrent writers.
type lockedBuffer = syncbuf.Buffer
