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
