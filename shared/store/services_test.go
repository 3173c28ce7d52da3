package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/store/storetest"
)

func TestApplyServiceChanges(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	ctx := context.Background()
	lease, err := db.AcquireLease(ctx, "discovery/ABC", "test", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	long := strings.Repeat("x", 255)
	many := make([]string, 1200) // more than two statement batches
	for i := range many {
		many[i] = fmt.Sprintf("bulk-%04d", i)
	}
	steps := []struct {
		name string
		c    store.ServiceChanges
	}{
		{"onboard", store.ServiceChanges{Onboard: append([]string{"api", "web", long}, many...), RetentionDays: 3}},
		{"onboard again is idempotent", store.ServiceChanges{Onboard: []string{"api"}, RetentionDays: 9}},
		{"web missed", store.ServiceChanges{Missed: []string{"web"}}},
		{"web missed twice", store.ServiceChanges{Missed: []string{"web", "api"}, At: t0.Add(time.Minute)}},
		{"api returns, bulk removed", store.ServiceChanges{Returned: []string{"api"}, Remove: many}},
	}
	for _, s := range steps {
		s.c.Tenant = "ABC"
		if s.c.At.IsZero() {
			s.c.At = t0
		}
		if err := db.ApplyServiceChanges(ctx, lease, s.c); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	got, err := db.Services(ctx, "ABC")
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		name    string
		ret     int
		missed  int
		absence string
	}
	var rows []row
	for _, s := range got {
		r := row{name: s.Name, ret: s.RetentionDays, missed: s.MissedListings}
		if s.AbsentSince != nil {
			r.absence = s.AbsentSince.UTC().Format(time.RFC3339)
		}
		rows = append(rows, r)
	}
	want := []row{{"api", 3, 0, ""}, {"web", 3, 2, "2024-01-01T00:00:00Z"}, {long, 3, 0, ""}}
	if len(rows) != len(want) {
		t.Fatalf("got %d rows %v, want %v", len(rows), rows[:min(len(rows), 5)], want)
	}
	for i := range want {
		if rows[i] != want[i] {
			t.Errorf("row %d: got %+v, want %+v", i, rows[i], want[i])
		}
	}
	if other, _ := db.Services(ctx, "XYZ"); len(other) != 0 {
		t.Errorf("another tenant sees %d services", len(other))
	}
}

func TestApplyServiceChangesRefusesStaleLease(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	ctx := context.Background()
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	db.SetClock(func() time.Time { return now })
	old, err := db.AcquireLease(ctx, "discovery/ABC", "old", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	db.SkewDatabaseClock(2 * time.Minute) // leases expire on the database's clock
	if _, err := db.AcquireLease(ctx, "discovery/ABC", "new", time.Minute); err != nil {
		t.Fatal(err)
	}
	err = db.ApplyServiceChanges(ctx, old, store.ServiceChanges{Tenant: "ABC", Onboard: []string{"api"}, RetentionDays: 3, At: now})
	if !errors.Is(err, store.ErrStaleToken) {
		t.Fatalf("got %v, want ErrStaleToken", err)
	}
	if got, _ := db.Services(ctx, "ABC"); len(got) != 0 {
		t.Errorf("a stale holder wrote %d services", len(got))
	}
}
