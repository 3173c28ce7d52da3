package peering

import (
	"context"
	"sync"
)

// memBudget bounds the bytes of rows a pass holds in memory at once (read and not yet
// written), across its workers, pages and execution types. A worker reserves a chunk's worth
// before it reads, gives back what the read did not use, and releases the rest once the rows
// are written. A reservation waits while others hold the budget, but is always granted when
// nothing is held, so a single execution larger than the whole budget still goes through,
// alone. (golang.org/x/sync/semaphore cannot do that: a weight over its size never succeeds,
// and it has no overdraft for the read that overshoots its reservation.)
type memBudget struct {
	mu    sync.Mutex
	cond  *sync.Cond
	limit int
	held  int
	peak  int // the most ever held (tests)
	// waiting counts the reservations waiting (tests).
	waiting int
}

func newMemBudget(limit int) *memBudget {
	m := &memBudget{limit: limit}
	m.cond = sync.NewCond(&m.mu)
	return m
}

// tryReserve reserves n bytes if they fit now (or nothing is held).
func (m *memBudget) tryReserve(n int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.held > 0 && m.held+n > m.limit {
		return false
	}
	m.add(n)
	return true
}

// reserve waits until n bytes fit (or nothing is held) and reserves them; it gives up when
// ctx ends.
func (m *memBudget) reserve(ctx context.Context, n int) error {
	stop := context.AfterFunc(ctx, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.cond.Broadcast()
	})
	defer stop()
	m.mu.Lock()
	defer m.mu.Unlock()
	for m.held > 0 && m.held+n > m.limit {
		if err := ctx.Err(); err != nil {
			return err
		}
		m.waiting++
		m.cond.Wait()
		m.waiting--
	}
	m.add(n)
	return nil
}

// adjust changes a reservation by delta bytes without waiting: negative gives back what a
// read did not use, positive records a read that overshot its reservation (one execution's
// rows are never split).
func (m *memBudget) adjust(delta int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.add(delta)
	if delta < 0 {
		m.cond.Broadcast()
	}
}

// release gives n reserved bytes back.
func (m *memBudget) release(n int) { m.adjust(-n) }

func (m *memBudget) add(n int) {
	m.held += n
	m.peak = max(m.peak, m.held)
}

// state reports what is held now, the most ever held and how many reservations wait.
func (m *memBudget) state() (held, peak, waiting int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.held, m.peak, m.waiting
}
