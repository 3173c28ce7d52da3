package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/store"
)

// TestLeaseExpiryIsJudgedOnTheDatabaseClock: a caller whose clock runs ahead (a skewed
// Lambda host) cannot take over a lease that has not expired by the database's clock, and a
// caller whose clock runs behind cannot keep one that has.
func TestLeaseExpiryIsJudgedOnTheDatabaseClock(t *testing.T) {
	t.Parallel()
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			ctx := context.Background()
			real := time.Now()
			db.SetClock(func() time.Time { return real })
			a, err := db.AcquireLease(ctx, "scaler/ABC", "a", time.Minute)
			if err != nil {
				t.Fatalf("acquire: %v", err)
			}
			db.SetClock(func() time.Time { return real.Add(2 * time.Minute) }) // b's clock runs 2 minutes ahead
			if _, err := db.AcquireLease(ctx, "scaler/ABC", "b", time.Minute); !errors.Is(err, store.ErrLeaseHeld) {
				t.Fatalf("takeover by a caller whose clock runs ahead: err = %v, want ErrLeaseHeld", err)
			}
			db.SetClock(func() time.Time { return real.Add(-time.Hour) }) // a's clock runs an hour behind
			db.SkewDatabaseClock(2 * time.Minute)                         // the database's two minutes pass
			if _, err := db.RenewLease(ctx, a, time.Minute); !errors.Is(err, store.ErrStaleToken) {
				t.Fatalf("renew of a lease expired on the database's clock: err = %v, want ErrStaleToken", err)
			}
			if _, err := db.AcquireLease(ctx, "scaler/ABC", "b", time.Minute); err != nil {
				t.Fatalf("takeover of a lease expired on the database's clock: %v", err)
			}
		})
	}
}

// TestLeaseReleaseIsFinal: a renew that lands after the release (a renewal goroutine racing
// the job's end) fails and leaves the lease free.
func TestLeaseReleaseIsFinal(t *testing.T) {
	t.Parallel()
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			ctx := context.Background()
			l, err := db.AcquireLease(ctx, "peering/east", "a", time.Minute)
			if err != nil {
				t.Fatalf("acquire: %v", err)
			}
			if err := db.ReleaseLease(ctx, l); err != nil {
				t.Fatalf("release: %v", err)
			}
			if _, err := db.RenewLease(ctx, l, time.Minute); !errors.Is(err, store.ErrStaleToken) {
				t.Fatalf("renew after release: err = %v, want ErrStaleToken", err)
			}
			if _, err := db.AcquireLease(ctx, "peering/east", "b", time.Minute); err != nil {
				t.Fatalf("acquire after release and a late renew: %v (the renew revived the lease)", err)
			}
		})
	}
}
