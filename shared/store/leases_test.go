package store_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/store/storetest"
)

func TestLeaseConcurrentAcquirersExactlyOneWins(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	const n = 20
	var wins atomic.Int32
	var held atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := db.AcquireLease(context.Background(), "monitor/ABC", holderName(i), time.Minute)
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, store.ErrLeaseHeld):
				held.Add(1)
			default:
				t.Errorf("acquirer %d: unexpected error %v", i, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 || held.Load() != n-1 {
		t.Fatalf("wins = %d, held = %d; want 1 and %d", wins.Load(), held.Load(), n-1)
	}
}

func TestLeaseExpiredTakeoverIsExclusiveAndFences(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	db.SetClock(func() time.Time { return now })

	first, err := db.AcquireLease(ctx, "scaler/ABC", "a", 30*time.Second)
	if err != nil {
		t.Fatalf("first acquire: %v", err)
	}
	if _, err := db.AcquireLease(ctx, "scaler/ABC", "b", 30*time.Second); !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("acquire of a held lease: err = %v, want ErrLeaseHeld", err)
	}
	if !fault.Is(store.ErrLeaseHeld, fault.Conflict) {
		t.Fatalf("ErrLeaseHeld kind = %v, want Conflict", fault.KindOf(store.ErrLeaseHeld))
	}

	db.SkewDatabaseClock(31 * time.Second) // the first holder stalled past its expiry
	var wins atomic.Int32
	var wg sync.WaitGroup
	var second store.Lease
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := db.AcquireLease(ctx, "scaler/ABC", holderName(100+i), 30*time.Second)
			if err == nil {
				wins.Add(1)
				second = l
			} else if !errors.Is(err, store.ErrLeaseHeld) {
				t.Errorf("takeover %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("takeovers that won = %d, want exactly 1", wins.Load())
	}
	if second.Token != first.Token+1 {
		t.Fatalf("token after takeover = %d, want %d", second.Token, first.Token+1)
	}

	wrote := false
	err = db.WithFence(ctx, first, func(*sqlTx) error { wrote = true; return nil })
	if !errors.Is(err, store.ErrStaleToken) || wrote {
		t.Fatalf("write under stale token: err = %v, wrote = %v; want ErrStaleToken and no write", err, wrote)
	}
	if _, err := db.RenewLease(ctx, first, time.Minute); !errors.Is(err, store.ErrStaleToken) {
		t.Fatalf("renew under stale token: err = %v, want ErrStaleToken", err)
	}
	if err := db.WithFence(ctx, second, func(*sqlTx) error { wrote = true; return nil }); err != nil || !wrote {
		t.Fatalf("write under current token: err = %v, wrote = %v", err, wrote)
	}

	if err := db.ReleaseLease(ctx, second); err != nil {
		t.Fatalf("release: %v", err)
	}
	third, err := db.AcquireLease(ctx, "scaler/ABC", "c", time.Minute)
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	if third.Token != second.Token+1 {
		t.Fatalf("token after release = %d, want %d (tokens never go back)", third.Token, second.Token+1)
	}
}

func TestLeaseRenewExtends(t *testing.T) {
	t.Parallel()
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			ctx := context.Background()
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			db.SetClock(func() time.Time { return now })
			l, err := db.AcquireLease(ctx, "discovery/ABC", "a", 10*time.Second)
			if err != nil {
				t.Fatalf("acquire: %v", err)
			}
			now = now.Add(8 * time.Second)
			if l, err = db.RenewLease(ctx, l, 10*time.Second); err != nil {
				t.Fatalf("renew: %v", err)
			}
			now = now.Add(8 * time.Second) // past the first expiry, inside the renewed one
			if _, err := db.AcquireLease(ctx, "discovery/ABC", "b", 10*time.Second); !errors.Is(err, store.ErrLeaseHeld) {
				t.Fatalf("acquire inside a renewed lease: err = %v, want ErrLeaseHeld", err)
			}
			if !l.ExpiresAt.Equal(time.Date(2026, 1, 1, 0, 0, 18, 0, time.UTC)) {
				t.Fatalf("renewed expiry = %v", l.ExpiresAt)
			}
		})
	}
}

func holderName(i int) string { return "holder-" + string(rune('A'+i%26)) + time.Duration(i).String() }
