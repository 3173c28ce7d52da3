package reconcile_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/reconcile"
	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/store/storetest"
)

func runner(db *store.DB, holder string) *reconcile.Runner {
	return &reconcile.Runner{Leases: db, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Holder: holder, TTL: 30 * time.Second}
}

// countingLeases counts lease attempts, so the test knows when every invocation has tried.
type countingLeases struct {
	*store.DB
	attempts atomic.Int32
}

func (c *countingLeases) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (store.Lease, error) {
	l, err := c.DB.AcquireLease(ctx, name, holder, ttl)
	c.attempts.Add(1)
	return l, err
}

func TestOverlappingInvocationsActOncePerKey(t *testing.T) {
	t.Parallel()
	leases := &countingLeases{DB: storetest.New(t)}
	var mu sync.Mutex
	acted := map[string]int{}
	release := make(chan struct{})
	job := func(ctx context.Context, key string, l store.Lease) (any, error) {
		mu.Lock()
		acted[key]++
		mu.Unlock()
		<-release // hold the lease while the other invocations try
		return "ok", nil
	}
	keys := []string{"ABC", "XYZ", "QRS"}
	const invocations = 5
	var wg sync.WaitGroup
	sums := make([]reconcile.Summary, invocations)
	for i := range sums {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &reconcile.Runner{Leases: leases, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
				Holder: "inv-" + string(rune('a'+i)), TTL: 30 * time.Second, Parallel: len(keys)}
			sums[i], _ = r.Run(context.Background(), "sparkmonitor", keys, job)
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for leases.attempts.Load() < int32(len(keys)*invocations) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d lease attempts made", leases.attempts.Load(), len(keys)*invocations)
		}
		time.Sleep(2 * time.Millisecond)
	}
	close(release)
	wg.Wait()
	for _, k := range keys {
		if acted[k] != 1 {
			t.Errorf("key %s acted %d times, want exactly 1", k, acted[k])
		}
	}
	var done, skipped int
	for _, s := range sums {
		for _, r := range s.Results {
			switch r.Outcome {
			case reconcile.Done:
				done++
			case reconcile.Skipped:
				skipped++
			default:
				t.Errorf("unexpected result %+v", r)
			}
		}
	}
	if done != len(keys) || skipped != len(keys)*(invocations-1) {
		t.Fatalf("done = %d, skipped = %d; want %d and %d", done, skipped, len(keys), len(keys)*(invocations-1))
	}
}

func TestOneKeyFailingDoesNotStopOthers(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	job := func(ctx context.Context, key string, l store.Lease) (any, error) {
		switch key {
		case "bad":
			return nil, errors.New("bucket does not exist")
		case "panics":
			panic("nil map")
		}
		return key + " ok", nil
	}
	sum, err := runner(db, "h").Run(context.Background(), "discovery", []string{"good", "bad", "panics"}, job)
	if err != nil {
		t.Fatalf("Run returned %v although one key succeeded", err)
	}
	got := map[string]string{}
	for _, r := range sum.Results {
		got[r.Key] = r.Outcome
	}
	if got["good"] != reconcile.Done || got["bad"] != reconcile.Failed || got["panics"] != reconcile.Failed {
		t.Fatalf("outcomes = %v", got)
	}
	// Leases are released: the next run acts again at once.
	sum, _ = runner(db, "h2").Run(context.Background(), "discovery", []string{"good"}, job)
	if sum.Results[0].Outcome != reconcile.Done {
		t.Fatalf("after release: %+v", sum.Results[0])
	}
	if _, err := runner(db, "h3").Run(context.Background(), "discovery", []string{"bad"}, job); err == nil {
		t.Fatal("every key failing must be an error")
	}
}
