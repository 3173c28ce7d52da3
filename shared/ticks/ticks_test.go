package ticks

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

var minute = time.Date(2031, 3, 4, 5, 6, 0, 0, time.UTC)

func offsets(ts []Tick) []time.Duration {
	var out []time.Duration
	for _, t := range ts {
		out = append(out, t.Offset)
	}
	return out
}

func TestPlan(t *testing.T) {
	s := time.Second
	for _, c := range []struct {
		name                   string
		interval, period, span time.Duration
		want                   []time.Duration
	}{
		{"default monitor: 15 s over the minute", 15 * s, time.Minute, 60 * s, []time.Duration{15 * s, 30 * s, 45 * s}},
		{"no span means the whole period", 15 * s, time.Minute, 0, []time.Duration{15 * s, 30 * s, 45 * s}},
		{"20 s interval", 20 * s, time.Minute, 0, []time.Duration{20 * s, 40 * s}},
		{"span shorter than the period", 15 * s, time.Minute, 31 * s, []time.Duration{15 * s, 30 * s}},
		{"span equal to a tick leaves that tick out", 15 * s, time.Minute, 30 * s, []time.Duration{15 * s}},
		{"peering 5 s passes", 5 * s, time.Minute, 0, []time.Duration{5 * s, 10 * s, 15 * s, 20 * s, 25 * s, 30 * s, 35 * s, 40 * s, 45 * s, 50 * s, 55 * s}},
		{"sub-second interval rounds up to 1 s", 300 * time.Millisecond, 3 * s, 0, []time.Duration{1 * s, 2 * s}},
		{"interval rounds to whole seconds", 7400 * time.Millisecond, 30 * s, 0, []time.Duration{7 * s, 14 * s, 21 * s, 28 * s}},
		{"interval of a whole period: nothing to enqueue", time.Minute, time.Minute, 0, nil},
		{"longer than SQS can delay is cut at 900 s", 400 * s, time.Hour, 0, []time.Duration{400 * s, 800 * s}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := Plan("sparkmonitor", minute, c.interval, c.period, c.span)
			if !slices.Equal(offsets(got), c.want) {
				t.Fatalf("offsets: got %v, want %v", offsets(got), c.want)
			}
			for _, tk := range got {
				if tk.Job != "sparkmonitor" || !tk.Minute.Equal(minute) || tk.Interval%time.Second != 0 || tk.Interval <= 0 {
					t.Errorf("tick %+v: want job sparkmonitor, minute %v, a whole-second interval", tk, minute)
				}
			}
		})
	}
}

func TestDelay(t *testing.T) {
	tk := Tick{Job: "j", Minute: minute, Offset: 30 * time.Second, Interval: 15 * time.Second}
	for _, c := range []struct {
		name string
		now  time.Time
		want time.Duration
	}{
		{"sent at the minute", minute, 30 * time.Second},
		{"sent 200 ms late rounds up, never early", minute.Add(200 * time.Millisecond), 30 * time.Second},
		{"sent 1 s late", minute.Add(time.Second), 29 * time.Second},
		{"already due", minute.Add(31 * time.Second), 0},
		{"due exactly now", minute.Add(30 * time.Second), 0},
		{"capped at 900 s", minute.Add(-time.Hour), MaxDelay},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Delay(tk, c.now); got != c.want {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			if got := c.now.Add(Delay(tk, c.now)); c.want < MaxDelay && got.Before(tk.Due()) {
				t.Fatalf("delivered at %v, before the tick is due at %v", got, tk.Due())
			}
		})
	}
}

func TestJudge(t *testing.T) {
	tk := Tick{Job: "j", Minute: minute, Offset: 15 * time.Second, Interval: 15 * time.Second}
	for _, c := range []struct {
		name string
		at   time.Duration // after the minute
		want Verdict
	}{
		{"on time", 15 * time.Second, Run},
		{"early (clock skew)", 14 * time.Second, Run},
		{"late but before its next tick", 29*time.Second + 999*time.Millisecond, Run},
		{"at its next tick", 30 * time.Second, Stale},
		{"redelivered after the visibility timeout", 15*time.Second + time.Minute, Stale},
		{"hours late", 3 * time.Hour, Stale},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Judge(tk, minute.Add(c.at)); got != c.want {
				t.Fatalf("at +%v: got %v, want %v", c.at, got, c.want)
			}
		})
	}
	last := Tick{Job: "j", Minute: minute, Offset: 45 * time.Second, Interval: 15 * time.Second}
	if got := Judge(last, minute.Add(61*time.Second)); got != Stale {
		t.Errorf("the minute's last tick after the next minute began: got %v, want stale", got)
	}
}

func TestEncodeDecode(t *testing.T) {
	tk := Tick{Job: "peeringcopier", Minute: minute, Offset: 45 * time.Second, Interval: 15 * time.Second}
	body := Encode(tk)
	want := `{"tick":{"job":"peeringcopier","minute":"2031-03-04T05:06:00Z","offsetSeconds":45,"intervalSeconds":15}}`
	if body != want {
		t.Fatalf("Encode: got %s, want %s", body, want)
	}
	got, err := Decode(body)
	if err != nil || got != tk {
		t.Fatalf("Decode: got %+v, %v; want %+v", got, err, tk)
	}
	for _, c := range []struct {
		name, body string
		notTick    bool
		want       string
	}{
		{"interlink SNS envelope", `{"Type":"Notification","Message":"{}"}`, true, ""},
		{"not JSON", `tick`, true, ""},
		{"no job", `{"tick":{"minute":"2031-03-04T05:06:00Z","offsetSeconds":15,"intervalSeconds":15}}`, false, "without a job"},
		{"no minute", `{"tick":{"job":"j","offsetSeconds":15,"intervalSeconds":15}}`, false, "without a minute"},
		{"negative offset", `{"tick":{"job":"j","minute":"2031-03-04T05:06:00Z","offsetSeconds":-1,"intervalSeconds":15}}`, false, "offsetSeconds -1"},
		{"zero interval", `{"tick":{"job":"j","minute":"2031-03-04T05:06:00Z","offsetSeconds":15}}`, false, "intervalSeconds 0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.body)
			if c.notTick {
				if !errors.Is(err, ErrNotTick) {
					t.Fatalf("got %v, want ErrNotTick", err)
				}
				return
			}
			if err == nil || errors.Is(err, ErrNotTick) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error saying %q", err, c.want)
			}
		})
	}
}

// simulation is an hour of a per-minute schedule in simulated time: the scheduled invocation
// runs the first tick and enqueues the rest (Plan, Delay); the queue delivers each message
// late by up to late, duplicates some and loses some; each delivery runs when Judge says so.
type simulation struct {
	interval, late time.Duration
	dupEvery       int // every n-th message is delivered twice (0: none)
	lose           func(minute, i int) bool
}

// runs returns the instants at which a check ran, in order, and fails t if a stale delivery
// would have run.
func (s simulation) runs(t *testing.T, rng *rand.Rand) []time.Time {
	t.Helper()
	start := minute
	var out []time.Time
	n := 0
	for m := range 60 {
		fired := start.Add(time.Duration(m) * time.Minute)
		out = append(out, fired) // the scheduled invocation runs the first tick itself
		for i, tk := range Plan("sparkmonitor", fired, s.interval, time.Minute, 0) {
			n++
			if s.lose != nil && s.lose(m, i) {
				continue
			}
			deliveries := 1
			if s.dupEvery > 0 && n%s.dupEvery == 0 {
				deliveries = 2
			}
			for range deliveries {
				at := fired.Add(Delay(tk, fired))
				if s.late > 0 {
					at = at.Add(time.Duration(rng.Int64N(int64(s.late))))
				}
				if Judge(tk, at) == Run {
					if !at.Before(tk.Next()) {
						t.Fatalf("tick %+v ran at %v, at or after its next tick", tk, at)
					}
					out = append(out, at)
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// worstGap is the longest time between consecutive checks: a driver failing just after a check
// waits this long for the next one, which resubmits it.
func worstGap(rs []time.Time) time.Duration {
	var w time.Duration
	for i := 1; i < len(rs); i++ {
		w = max(w, rs[i].Sub(rs[i-1]))
	}
	return w
}

// TestTimingProperty checks, in simulated time, that with the default 15 s interval the
// longest wait from a failure to the next check is 15 s when SQS delivers on time, that
// duplicated and late deliveries never make a stale tick run, and that a lost message costs
// one tick only.
func TestTimingProperty(t *testing.T) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	for _, c := range []struct {
		name    string
		sim     simulation
		maxGap  time.Duration
		minRuns int
	}{
		{"on time", simulation{interval: 15 * time.Second}, 15 * time.Second, 240},
		{"every third message duplicated", simulation{interval: 15 * time.Second, dupEvery: 3}, 15 * time.Second, 240},
		{"delivered up to 40 s late: stale ones dropped", simulation{interval: 15 * time.Second, late: 40 * time.Second, dupEvery: 2}, 0, 60},
		{"one message in each minute lost", simulation{interval: 15 * time.Second, lose: func(m, i int) bool { return i == m%3 }}, 30 * time.Second, 180},
		{"peering: 5 s passes", simulation{interval: 5 * time.Second}, 5 * time.Second, 720},
	} {
		t.Run(c.name, func(t *testing.T) {
			rs := c.sim.runs(t, rng)
			if len(rs) < c.minRuns {
				t.Errorf("%d checks in the hour, want at least %d", len(rs), c.minRuns)
			}
			if c.maxGap > 0 {
				if got := worstGap(rs); got > c.maxGap {
					t.Errorf("worst gap between checks %v, want at most %v", got, c.maxGap)
				}
			}
		})
	}
}

func ExamplePlan() {
	for _, tk := range Plan("sparkmonitor", minute, 15*time.Second, time.Minute, 60*time.Second) {
		fmt.Println(tk.Offset, Delay(tk, minute))
	}
	// Output:
	// 15s 15s
	// 30s 30s
	// 45s 45s
}
