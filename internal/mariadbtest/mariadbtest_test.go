package mariadbtest

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/store"
)

// TestStoreSurvivesRestart restarts the database under a store that a query loop keeps
// using: the pool must reconnect by itself (the same *store.DB answers again, nobody reopens
// it), and a lease acquired before the restart must still be honoured after it (another
// holder is refused, the holder's fenced writes and renewals succeed).
func TestStoreSurvivesRestart(t *testing.T) {
	t.Parallel()
	srv := Start(t)
	ctx := context.Background()
	if err := srv.CreateDatabase(ctx, "logwise"); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, srv.Config("logwise"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	lease, err := db.AcquireLease(ctx, "sparkmonitor/ABC", "holder-before", 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}

	// The query loop: a ping every 10 ms, counting what it sees after the restart.
	var restarted atomic.Bool
	var okBefore, failedDuring, okAfter atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 100000; i++ { // bounded; stops long before
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := db.Ping(qctx)
			cancel()
			switch {
			case err != nil:
				failedDuring.Add(1)
			case restarted.Load():
				okAfter.Add(1)
			default:
				okBefore.Add(1)
			}
		}
	}()
	waitFor(t, "pings before the restart", func() bool { return okBefore.Load() >= 5 })
	start := time.Now()
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	restarted.Store(true)
	waitFor(t, "pings after the restart", func() bool { return okAfter.Load() >= 20 })
	close(stop)
	wg.Wait()
	t.Logf("observed: %d pings before, %d failed while the server restarted, %d answered after; restart took %s; the pool reconnected without being reopened",
		okBefore.Load(), failedDuring.Load(), okAfter.Load(), time.Since(start).Round(time.Millisecond))

	// The lease outlived the restart: the table is durable and the token unchanged.
	if _, err := db.AcquireLease(ctx, "sparkmonitor/ABC", "holder-after", time.Minute); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("another holder acquiring after the restart: err = %v, want ErrLeaseHeld", err)
	}
	if err := db.WithFence(ctx, lease, func(*sql.Tx) error { return nil }); err != nil {
		t.Fatalf("fenced write of the holder after the restart: %v", err)
	}
	if _, err := db.RenewLease(ctx, lease, 10*time.Minute); err != nil {
		t.Fatalf("renewal by the holder after the restart: %v", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
