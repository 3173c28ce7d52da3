package reconcile_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/reconcile"
	"github.com/logwise/controlplane/shared/store"
)

// releaseWatch is a map-backed lease table that notes every renew that starts after the
// lease it renews was released.
type releaseWatch struct {
	mu       sync.Mutex
	token    uint64
	released map[uint64]bool
	renews   map[uint64]int
	late     int
}

func (w *releaseWatch) AcquireLease(_ context.Context, name, holder string, ttl time.Duration) (store.Lease, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.token++
	return store.Lease{Name: name, Holder: holder, Token: w.token}, nil
}

func (w *releaseWatch) RenewLease(_ context.Context, l store.Lease, ttl time.Duration) (store.Lease, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.renews[l.Token]++
	if w.released[l.Token] {
		w.late++
	}
	return l, nil
}

func (w *releaseWatch) ReleaseLease(_ context.Context, l store.Lease) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.released[l.Token] = true
	return nil
}

func (w *releaseWatch) renewed(token uint64) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.renews[token]
}

// TestNoRenewAfterRelease: over many runs whose lease is renewed every few hundred
// microseconds, no renew starts after the lease was released (a late renew would revive a
// lease the next invocation must be able to take).
func TestNoRenewAfterRelease(t *testing.T) {
	w := &releaseWatch{released: map[uint64]bool{}, renews: map[uint64]int{}}
	r := &reconcile.Runner{Leases: w, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Holder: "h", TTL: time.Millisecond}
	const runs = 1000
	for range runs {
		_, err := r.Run(context.Background(), "sparkmonitor", []string{"ABC"}, func(ctx context.Context, key string, l store.Lease) (any, error) {
			for w.renewed(l.Token) == 0 { // end the job while renewals are ticking
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				default:
				}
			}
			return nil, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if w.late > 0 {
		t.Fatalf("%d of %d runs renewed their lease after releasing it", w.late, runs)
	}
}
