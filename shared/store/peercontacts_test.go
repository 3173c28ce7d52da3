package store_test

import (
	"context"
	"testing"
	"time"
)

func TestPeerContactKeepsFirstFailureUntilReached(t *testing.T) {
	t.Parallel()
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			ctx := context.Background()
			t0 := time.Date(2031, 11, 22, 10, 0, 0, 0, time.UTC)
			if c, err := db.PeerContact(ctx, "eu-west-1"); err != nil || c.Known {
				t.Fatalf("unknown peer: %+v %v", c, err)
			}
			steps := []struct {
				reached   bool
				at        time.Time
				wantSince time.Time
			}{
				{true, t0, time.Time{}},
				{false, t0.Add(time.Minute), t0.Add(time.Minute)},
				{false, t0.Add(5 * time.Minute), t0.Add(time.Minute)}, // the first failure stays
				{true, t0.Add(6 * time.Minute), time.Time{}},
				{false, t0.Add(7 * time.Minute), t0.Add(7 * time.Minute)},
			}
			for i, s := range steps {
				if err := db.RecordPeerContact(ctx, "eu-west-1", s.reached, s.at, "dial tcp: connection refused"); err != nil {
					t.Fatal(err)
				}
				c, err := db.PeerContact(ctx, "eu-west-1")
				if err != nil || !c.Known || !c.UnreachableSince.Equal(s.wantSince) {
					t.Fatalf("step %d: %+v %v; want unreachable since %v", i, c, err, s.wantSince)
				}
			}
		})
	}
}

func TestHeartbeatsAreKeptApartFromDatabaseContact(t *testing.T) {
	t.Parallel()
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			ctx := context.Background()
			t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
			for _, at := range []time.Time{t0.Add(2 * time.Minute), t0} { // a late delivery never moves it back
				if err := db.RecordHeartbeat(ctx, "eu-west-1", at); err != nil {
					t.Fatal(err)
				}
			}
			c, err := db.PeerContact(ctx, "eu-west-1")
			if err != nil || c.Known || !c.LastHeartbeat.Equal(t0.Add(2*time.Minute)) {
				t.Fatalf("after heartbeats only: %+v %v; want heartbeat at t0+2m and the database not yet tried", c, err)
			}
			if err := db.RecordPeerContact(ctx, "eu-west-1", false, t0.Add(3*time.Minute), "timeout"); err != nil {
				t.Fatal(err)
			}
			c, _ = db.PeerContact(ctx, "eu-west-1")
			if !c.Known || !c.UnreachableSince.Equal(t0.Add(3*time.Minute)) || !c.LastHeartbeat.Equal(t0.Add(2*time.Minute)) {
				t.Fatalf("after a failed contact: %+v", c)
			}
		})
	}
}
