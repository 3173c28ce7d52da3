package peering

import (
	"context"
	"errors"
	"runtime"
	"testing"
)

// waitFor yields until cond holds (a goroutine reaching a state), never sleeping.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i > 10_000_000 {
			t.Fatalf("never: %s", what)
		}
		runtime.Gosched()
	}
}

func TestMemBudget(t *testing.T) {
	t.Parallel()
	t.Run("a reservation waits until what it needs is released", func(t *testing.T) {
		m := newMemBudget(100)
		if !m.tryReserve(60) || m.tryReserve(60) {
			t.Fatal("tryReserve: want 60 granted, then 60 more refused (limit 100)")
		}
		granted := make(chan error, 1)
		go func() { granted <- m.reserve(context.Background(), 60) }()
		waitFor(t, "the second reservation waiting", func() bool { _, _, w := m.state(); return w == 1 })
		select {
		case err := <-granted:
			t.Fatalf("reserve returned (%v) while 60 of 100 were held", err)
		default:
		}
		m.release(60)
		if err := <-granted; err != nil {
			t.Fatalf("reserve after the release: %v", err)
		}
		if held, peak, _ := m.state(); held != 60 || peak != 60 {
			t.Errorf("held %d, peak %d; want 60 and 60", held, peak)
		}
	})
	t.Run("one reservation over the limit goes through when nothing is held", func(t *testing.T) {
		m := newMemBudget(100)
		if err := m.reserve(context.Background(), 250); err != nil {
			t.Fatalf("reserve 250 of 100 with nothing held: %v", err)
		}
		if m.tryReserve(1) {
			t.Error("tryReserve(1) granted beside an oversized reservation")
		}
		m.release(250)
		if held, peak, _ := m.state(); held != 0 || peak != 250 {
			t.Errorf("held %d, peak %d; want 0 and 250", held, peak)
		}
	})
	t.Run("a read that overshoots its reservation is recorded", func(t *testing.T) {
		m := newMemBudget(100)
		m.tryReserve(40)
		m.adjust(30) // the read came to 70
		m.adjust(-70)
		if held, peak, _ := m.state(); held != 0 || peak != 70 {
			t.Errorf("held %d, peak %d; want 0 and 70", held, peak)
		}
	})
	t.Run("a waiting reservation gives up when its context ends", func(t *testing.T) {
		m := newMemBudget(100)
		m.tryReserve(100)
		ctx, cancel := context.WithCancel(context.Background())
		granted := make(chan error, 1)
		go func() { granted <- m.reserve(ctx, 10) }()
		waitFor(t, "the reservation waiting", func() bool { _, _, w := m.state(); return w == 1 })
		cancel()
		if err := <-granted; !errors.Is(err, context.Canceled) {
			t.Fatalf("reserve after cancel = %v, want context.Canceled", err)
		}
		if held, _, _ := m.state(); held != 100 {
			t.Errorf("held %d after the canceled reservation; want 100", held)
		}
	})
}
