package store_test

import (
	"context"
	"testing"

	"github.com/logwise/controlplane/shared/store/storetest"
)

func TestPeeringSwitches(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	ctx := context.Background()
	s, err := db.PeeringSwitches(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !s.PeerOn("a") || s.MaxAllowedDeleteCount != nil {
		t.Errorf("defaults %+v: want peering on for every peer and no delete-limit override", s)
	}
	five := 5
	steps := []struct {
		name      string
		set       func() error
		wantA     bool
		wantB     bool
		wantLimit *int
	}{
		{"peer a off", func() error { return db.SetPeerEnabled(ctx, "a", false) }, false, true, nil},
		{"limit 5", func() error { return db.SetPeeringDeleteLimit(ctx, &five) }, false, true, &five},
		{"global off", func() error { return db.SetPeeringEnabled(ctx, false) }, false, false, &five},
		{"global on keeps the limit", func() error { return db.SetPeeringEnabled(ctx, true) }, false, true, &five},
		{"peer a on, limit cleared", func() error {
			if err := db.SetPeerEnabled(ctx, "a", true); err != nil {
				return err
			}
			return db.SetPeeringDeleteLimit(ctx, nil)
		}, true, true, nil},
	}
	for _, st := range steps {
		if err := st.set(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		s, err := db.PeeringSwitches(ctx)
		if err != nil {
			t.Fatal(err)
		}
		gotLimit := -1
		if s.MaxAllowedDeleteCount != nil {
			gotLimit = *s.MaxAllowedDeleteCount
		}
		wantLimit := -1
		if st.wantLimit != nil {
			wantLimit = *st.wantLimit
		}
		if s.PeerOn("a") != st.wantA || s.PeerOn("b") != st.wantB || gotLimit != wantLimit {
			t.Errorf("%s: a=%v b=%v limit=%d; want a=%v b=%v limit=%d", st.name, s.PeerOn("a"), s.PeerOn("b"), gotLimit, st.wantA, st.wantB, wantLimit)
		}
	}
	neg := -1
	if err := db.SetPeeringDeleteLimit(ctx, &neg); err == nil {
		t.Error("a negative delete limit was accepted")
	}
	if err := db.SetPeerEnabled(ctx, "", true); err == nil {
		t.Error("an empty peer id was accepted")
	}
}
