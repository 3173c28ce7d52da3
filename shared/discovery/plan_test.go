package discovery

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/store"
)

// listingAt is the time of the listings of these tests; services missed in them have been
// absent since longAgo, well over testPolicy's MinAbsent.
var (
	listingAt = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	longAgo   = listingAt.Add(-24 * time.Hour)
)

func policy(percent int) Policy { return Policy{MaxRemovalPercent: percent, MinAbsent: time.Hour} }

func known(specs ...string) []store.Service {
	// "name" is present; "name:N" has been missed N times, the first long ago.
	var out []store.Service
	for _, s := range specs {
		name, n, _ := strings.Cut(s, ":")
		missed := 0
		if n != "" {
			fmt.Sscan(n, &missed)
		}
		svc := store.Service{Name: name, MissedListings: missed}
		if missed > 0 {
			svc.AbsentSince = &longAgo
		}
		out = append(out, svc)
	}
	return out
}

func names(prefix string, n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("%s%02d", prefix, i))
	}
	return out
}

func TestDecide(t *testing.T) {
	t.Parallel()
	tenKnown := known(names("s", 10)...)
	tenKnown[0].MissedListings, tenKnown[1].MissedListings = 1, 1
	tenKnown[0].AbsentSince, tenKnown[1].AbsentSince = &longAgo, &longAgo
	recently := listingAt.Add(-30 * time.Second)
	recent := known("api", "old:1")
	recent[1].AbsentSince = &recently
	noSince := known("api", "old:1")
	noSince[1].AbsentSince = nil
	tests := []struct {
		name    string
		known   []store.Service
		listed  []string
		percent int
		want    Plan
	}{
		{"new service is onboarded", nil, []string{"new-service"}, 10,
			Plan{Listed: 1, Onboard: []string{"new-service"}}},
		{"existing service untouched", known("existing"), []string{"existing"}, 10,
			Plan{Known: 1, Listed: 1}},
		{"first absence only counts", known("api", "old"), []string{"api"}, 10,
			Plan{Known: 2, Listed: 1, Missed: []string{"old"}}},
		{"second consecutive absence removes", known("api", "old:1"), []string{"api"}, 100,
			Plan{Known: 2, Listed: 1, Remove: []string{"old"}}},
		{"small tenant may still remove one", known("a", "b", "c", "old:1"), []string{"a", "b", "c"}, 10,
			Plan{Known: 4, Listed: 3, Remove: []string{"old"}}},
		{"return after one absence resets", known("api", "flap:1"), []string{"api", "flap"}, 10,
			Plan{Known: 2, Listed: 2, Returned: []string{"flap"}}},
		{"replaced service: onboard and count", known("old-service"), []string{"new-service"}, 10,
			Plan{Known: 1, Listed: 1, Onboard: []string{"new-service"}, Missed: []string{"old-service"}}},
		{"empty listing changes nothing", known("a", "b:1"), nil, 10,
			Plan{Known: 2, Empty: true}},
		{"only invalid names is an empty listing", known("a:1"), []string{"", strings.Repeat("x", 256)}, 10,
			Plan{Known: 1, Empty: true, Invalid: []InvalidName{{Name: ""}, {Name: strings.Repeat("x", 256)}}}},
		{"invalid names skipped, rest synced", nil, []string{"ok", "bad\x01name", strings.Repeat("y", 255)}, 10,
			Plan{Listed: 2, Onboard: []string{"ok", strings.Repeat("y", 255)}, Invalid: []InvalidName{{Name: "bad\x01name"}}}},
		{"guard blocks removals above the share", tenKnown, names("s", 10)[2:], 10,
			Plan{Known: 10, Listed: 8, Blocked: []string{"s00", "s01"}, Missed: []string{"s00", "s01"}, NewlyBlocked: true}},
		{"a block that lasts is not new", known("a", "b", "c:5", "d:5"), []string{"a", "b"}, 10,
			Plan{Known: 4, Listed: 2, Blocked: []string{"c", "d"}, Missed: []string{"c", "d"}}},
		{"guard allows removals within the share", tenKnown, names("s", 10)[2:], 20,
			Plan{Known: 10, Listed: 8, Remove: []string{"s00", "s01"}}},
		{"two listings seconds apart do not remove", recent, []string{"api"}, 100,
			Plan{Known: 2, Listed: 1, Waiting: []string{"old"}}},
		{"a row without absentSince is counted, not removed", noSince, []string{"api"}, 100,
			Plan{Known: 2, Listed: 1, Missed: []string{"old"}}},
		{"zero percent never removes", known("a", "b:1"), []string{"a"}, 0,
			Plan{Known: 2, Listed: 1, Blocked: []string{"b"}, Missed: []string{"b"}, NewlyBlocked: true}},
	}
	for _, tc := range tests {
		got := Decide(tc.known, tc.listed, policy(tc.percent), listingAt)
		for i := range got.Invalid {
			got.Invalid[i].Reason = "" // the reason text is CheckServiceName's
		}
		if d := diffPlan(got, tc.want); d != "" {
			t.Errorf("%s: %s", tc.name, d)
		}
	}
}

func diffPlan(got, want Plan) string {
	var d []string
	eq := func(field string, g, w []string) {
		if !slices.Equal(g, w) {
			d = append(d, fmt.Sprintf("%s got %v want %v", field, g, w))
		}
	}
	eq("Onboard", got.Onboard, want.Onboard)
	eq("Returned", got.Returned, want.Returned)
	eq("Missed", got.Missed, want.Missed)
	eq("Waiting", got.Waiting, want.Waiting)
	eq("Remove", got.Remove, want.Remove)
	eq("Blocked", got.Blocked, want.Blocked)
	if got.Listed != want.Listed || got.Known != want.Known || got.Empty != want.Empty || got.NewlyBlocked != want.NewlyBlocked {
		d = append(d, fmt.Sprintf("listed/known/empty/newlyBlocked got %d/%d/%v/%v want %d/%d/%v/%v",
			got.Listed, got.Known, got.Empty, got.NewlyBlocked, want.Listed, want.Known, want.Empty, want.NewlyBlocked))
	}
	if !slices.Equal(got.Invalid, want.Invalid) {
		d = append(d, fmt.Sprintf("Invalid got %v want %v", got.Invalid, want.Invalid))
	}
	return strings.Join(d, "; ")
}

func TestRemovalNeedsTwoConsecutiveAbsencesAndTheAbsentTime(t *testing.T) {
	t.Parallel()
	// Replays listings through Decide, carrying the counts and absentSince as the store does:
	// a service missing every other listing is never removed, and one that stays missing is
	// removed at the first listing at least MinAbsent (1 h) after its first absence, however
	// often the listings come.
	tests := []struct {
		every time.Duration
		want  int // the listing that removes flappy
	}{
		{time.Minute, 4 + 60},     // absent since listing 4; 60 listings later
		{40 * time.Minute, 4 + 2}, // the second absence is only 40 min after the first
		{2 * time.Hour, 4 + 1},    // two absences, and long enough
	}
	for _, tt := range tests {
		type row struct {
			missed int
			since  *time.Time
		}
		svcs := map[string]*row{"api": {}, "flappy": {}}
		var removedAt []int
		for i := range 100 {
			l := []string{"api"}
			if i == 1 || i == 3 {
				l = append(l, "flappy")
			}
			now := listingAt.Add(time.Duration(i) * tt.every)
			var k []store.Service
			for _, n := range slices.Sorted(maps.Keys(svcs)) {
				k = append(k, store.Service{Name: n, MissedListings: svcs[n].missed, AbsentSince: svcs[n].since})
			}
			p := Decide(k, l, policy(100), now)
			for _, n := range p.Returned {
				*svcs[n] = row{}
			}
			for _, n := range p.Missed {
				svcs[n].missed++
				if svcs[n].since == nil {
					svcs[n].since = &now
				}
			}
			for _, n := range p.Remove {
				delete(svcs, n)
				removedAt = append(removedAt, i)
			}
		}
		if !slices.Equal(removedAt, []int{tt.want}) {
			t.Errorf("listings every %s: flappy removed after listings %v, want only after listing %d", tt.every, removedAt, tt.want)
		}
	}
}
