// Package ticks plans the checks a scheduled function makes within one schedule period (a
// minute) as separate short invocations: the scheduled invocation runs the first tick at once
// and enqueues the later ones on an SQS queue with per-message delays; the same function
// consumes each message and runs one tick. Everything here is pure: which ticks to enqueue for
// a period, and whether a delivered tick is still worth running.
package ticks

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// MaxDelay is SQS's largest per-message delay (DelaySeconds 900).
const MaxDelay = 15 * time.Minute

// Tick is one queued check: job's check due at Minute+Offset. Interval (the spacing of the
// period's ticks) travels with it so that its freshness is decided from the message alone,
// even after the configuration changed.
type Tick struct {
	Job      string
	Minute   time.Time
	Offset   time.Duration
	Interval time.Duration
}

// Due is when the tick should run.
func (t Tick) Due() time.Time { return t.Minute.Add(t.Offset) }

// Next is when the tick after this one is due: from then on this one is redundant.
func (t Tick) Next() time.Time { return t.Due().Add(t.Interval) }

// Plan returns the ticks to enqueue for the period starting at minute: one every interval
// after the first (which the scheduled invocation runs itself), strictly before period ends
// and before span (the tenant's monitoring duration; 0 means the whole period). Offsets are
// whole seconds, as SQS delays are: a sub-second interval is rounded up to one second.
func Plan(job string, minute time.Time, interval, period, span time.Duration) []Tick {
	interval = interval.Round(time.Second)
	if interval < time.Second {
		interval = time.Second
	}
	end := period
	if span > 0 && span < end {
		end = span
	}
	end = min(end, MaxDelay)
	var out []Tick
	for off := interval; off < end; off += interval {
		out = append(out, Tick{Job: job, Minute: minute, Offset: off, Interval: interval})
	}
	return out
}

// Delay is how long the queue should hold t when it is sent at now: the time until it is due,
// in whole seconds rounded up (never early), between 0 and MaxDelay.
func Delay(t Tick, now time.Time) time.Duration {
	d := t.Due().Sub(now)
	if d <= 0 {
		return 0
	}
	d = (d + time.Second - 1).Truncate(time.Second)
	return min(d, MaxDelay)
}

// Verdict says whether a delivered tick runs.
type Verdict int

// Verdicts of Judge.
const (
	Run   Verdict = iota // due (or nearly): run the check
	Stale                // its successor is already due: drop it, the successor covers it
)

func (v Verdict) String() string {
	if v == Run {
		return "run"
	}
	return "stale"
}

// Judge decides whether tick t, delivered at now, is still worth running. A duplicated
// delivery runs again (the leases and fenced writes make that harmless); a late one runs
// until its own next tick is due, after which running it would only repeat that tick's work.
// A message delivered early (a clock skew) runs: the check is idempotent.
func Judge(t Tick, now time.Time) Verdict {
	if !now.Before(t.Next()) {
		return Stale
	}
	return Run
}

// wireTick is a tick in a message body: offsets in whole seconds, the minute in RFC 3339.
type wireTick struct {
	Job             string    `json:"job"`
	Minute          time.Time `json:"minute"`
	OffsetSeconds   int       `json:"offsetSeconds"`
	IntervalSeconds int       `json:"intervalSeconds"`
}

type wire struct {
	Tick *wireTick `json:"tick"`
}

// Encode returns t's message body: {"tick":{"job":...,"minute":...,"offsetSeconds":15,"intervalSeconds":15}}.
func Encode(t Tick) string {
	w := wire{Tick: &wireTick{t.Job, t.Minute.UTC(), int(t.Offset / time.Second), int(t.Interval / time.Second)}}
	b, _ := json.Marshal(w) // a struct of strings, times and ints always marshals
	return string(b)
}

// ErrNotTick means a message body is not a tick (for example an interlink event that shares
// the function).
var ErrNotTick = errors.New("not a tick message")

// Decode reads a message body written by Encode. It returns ErrNotTick for a body without a
// "tick" object, and a descriptive error for a tick that is malformed.
func Decode(body string) (Tick, error) {
	var w wire
	if err := json.Unmarshal([]byte(body), &w); err != nil || w.Tick == nil {
		return Tick{}, ErrNotTick
	}
	t := Tick{Job: w.Tick.Job, Minute: w.Tick.Minute, Offset: time.Duration(w.Tick.OffsetSeconds) * time.Second,
		Interval: time.Duration(w.Tick.IntervalSeconds) * time.Second}
	switch {
	case t.Job == "":
		return t, fmt.Errorf("tick without a job: %s", body)
	case t.Minute.IsZero():
		return t, fmt.Errorf("tick of job %s without a minute", t.Job)
	case t.Offset < 0 || t.Offset > MaxDelay:
		return t, fmt.Errorf("tick of job %s: offsetSeconds %d is outside 0..900", t.Job, w.Tick.OffsetSeconds)
	case t.Interval <= 0:
		return t, fmt.Errorf("tick of job %s: intervalSeconds %d must be positive", t.Job, w.Tick.IntervalSeconds)
	}
	return t, nil
}
