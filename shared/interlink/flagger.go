package interlink

import (
	"sync"
	"time"
)

// Flagger is Orca's MessageFlagger, the loop breaker: it remembers the fingerprints of the
// last MaxSize published events and refuses to publish one that was published Threshold times
// or more within Window. It stops orphans that each region believes the other owns from
// bouncing forever.
type Flagger struct {
	mu        sync.Mutex
	maxSize   int
	threshold int
	window    time.Duration
	seen      []flagged // ring of the last maxSize publications
	now       func() time.Time
}

type flagged struct {
	fingerprint string
	at          time.Time
}

// NewFlagger returns a loop breaker (Orca's defaults: 32, 8, 60 s).
func NewFlagger(maxSize, threshold int, window time.Duration) *Flagger {
	return &Flagger{maxSize: maxSize, threshold: threshold, window: window, now: time.Now}
}

// SetClock replaces the clock (tests).
func (f *Flagger) SetClock(now func() time.Time) { f.now = now }

// Allow records fp and reports whether it may be published.
func (f *Flagger) Allow(fp string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	n := 0
	for _, s := range f.seen {
		if s.fingerprint == fp && now.Sub(s.at) <= f.window {
			n++
		}
	}
	if n >= f.threshold {
		return false
	}
	f.seen = append(f.seen, flagged{fingerprint: fp, at: now})
	if len(f.seen) > f.maxSize {
		f.seen = f.seen[len(f.seen)-f.maxSize:]
	}
	return true
}
