package peering

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/metrics"
	"github.com/logwise/controlplane/shared/store"
)

// counts are one execution type's counters for one pass of one peer.
type counts struct {
	peered, deleted, stagesDeleted, errors atomic.Int64
	quarantined                            atomic.Int64 // executions too large for any statement
	refused                                int          // diff deletes refused over the limit
	divergences                            int          // differences the reconciliation sweep found
	lag                                    time.Duration
}

// peerRun is one pass over one peer, under its lease.
type peerRun struct {
	c     *Copier
	p     *peer
	lease store.Lease
	limit int // the delete limit for this pass, across execution types
	// budget is what is left of limit for the sweep's deletes once the diff deletes are done
	// (0 after a refusal).
	budget int
	counts map[executions.Type]*counts
	lost   atomic.Bool // the lease was taken over: stop
	// expires is the lease's expiry (Unix ms); lease itself never changes (renewal keeps the
	// token), so the parallel steps read it freely.
	expires atomic.Int64
	// slots bounds the chunks copied at once across every step of the run (ThreadCount).
	slots chan struct{}
	// quarantines: the peer may have quarantine rows (it had some when the pass began, the
	// pass made one, or nobody looked), so writes must clear the rows of what they copy.
	quarantines atomic.Bool
}

func newPeerRun(c *Copier, p *peer, lease store.Lease, limit int) *peerRun {
	r := &peerRun{c: c, p: p, lease: lease, limit: limit, counts: map[executions.Type]*counts{},
		slots: make(chan struct{}, c.opts.ThreadCount)}
	for _, t := range executionTypes {
		r.counts[t] = &counts{}
	}
	r.expires.Store(lease.ExpiresAt.UnixMilli())
	r.quarantines.Store(true) // until loadState has looked (an on-demand copy never does)
	return r
}

func (r *peerRun) count(t executions.Type) *counts { return r.counts[t] }

// fail counts and logs a failed step. Work cut short by the pass's deadline is logged but not
// counted: it is not a fault, and the next pass carries on from the stored progress.
func (r *peerRun) fail(ctx context.Context, t executions.Type, what string, err error) {
	if errors.Is(err, errLeaseLost) || errors.Is(err, store.ErrStaleToken) {
		r.lost.Store(true)
	}
	if ctx.Err() != nil {
		r.c.log.InfoContext(ctx, "peering step cut short by the deadline", "peer", r.p.ID, "executionType", string(t), "step", what)
		return
	}
	r.count(t).errors.Add(1)
	r.c.log.ErrorContext(ctx, "peering step failed", "peer", r.p.ID, "executionType", string(t), "step", what, "error", err)
}

// The peering_state rows that are not an execution type: the tombstone cursor, and the
// digest of the last refused delete set.
const (
	tombstonesKind = "tombstones"
	deletesKind    = "deletes"
)

// errChunksFailed means some chunks of a step failed (each already counted and logged).
var errChunksFailed = errors.New("some chunks failed; the watermark stays below them")

// progress is a peer's stored state for one execution type (or the tombstone cursor).
type progress struct {
	HighMark      int64  // largest peer updated_at covered by clean chunks (epoch ms)
	FirstPassDone bool   // the completed delta has drained once: active copying is on
	Cursor        int64  // tombstones: largest deleted_executions.id applied
	SweepMark     int64  // the reconciliation sweep has compared copies up to this updated_at
	Digest        string // deletes: digest of the refused delete set last recorded
}

func (c *Copier) passPeer(ctx context.Context, p *peer, limit int) PeerSummary {
	start := c.opts.Now()
	c.checkReach(ctx, p)
	lease, err := c.acquire(ctx, p)
	if err != nil && ctx.Err() != nil {
		c.stopAcquire(ctx, p)
		return PeerSummary{Skipped: 1}
	}
	if errors.Is(err, store.ErrLeaseHeld) {
		c.log.DebugContext(ctx, "peer lease held by another copier; skipped", "peer", p.ID)
		return PeerSummary{Skipped: 1}
	}
	if err != nil {
		c.log.ErrorContext(ctx, "acquire peer lease", "peer", p.ID, "error", err)
		return PeerSummary{Skipped: 1, NumErrors: 1}
	}
	r := newPeerRun(c, p, lease, limit)
	defer func() {
		err := c.local.ReleaseLease(context.WithoutCancel(ctx), r.lease)
		p.mu.Lock()
		p.unreleased = nil
		if err != nil && !errors.Is(err, store.ErrStaleToken) {
			l := r.lease
			p.unreleased = &l
		}
		p.mu.Unlock()
		if err != nil {
			c.log.WarnContext(ctx, "release peer lease", "peer", p.ID, "error", err)
		}
	}()
	state, err := r.loadState(ctx)
	if err != nil {
		for _, t := range executionTypes {
			r.fail(ctx, t, "read peering state", err)
		}
	} else {
		// The sweep's comparison only reads: it runs beside the copy steps.
		slicesFound := make([]sliceResult, len(executionTypes))
		sweepErrs := make([]error, len(executionTypes))
		var sweeping sync.WaitGroup
		for i, t := range executionTypes {
			st := state[string(t)]
			sweeping.Go(func() { slicesFound[i], sweepErrs[i] = r.compareSlice(ctx, tables[t], st) })
		}
		// The execution types copy in parallel, sharing the run's worker slots.
		gone := map[executions.Type][]string{}
		if !r.lost.Load() && r.renew(ctx) {
			found := make([][]string, len(executionTypes))
			sts := make([]progress, len(executionTypes))
			var copying sync.WaitGroup
			for i, t := range executionTypes {
				sts[i] = state[string(t)]
				copying.Go(func() { found[i] = r.peerExecutions(ctx, tables[t], &sts[i]) })
			}
			copying.Wait()
			for i, t := range executionTypes {
				gone[t], state[string(t)] = found[i], sts[i]
			}
		}
		if !r.lost.Load() {
			r.diffDeletes(ctx, gone, state[deletesKind])
		}
		if !r.lost.Load() && r.renew(ctx) {
			r.peerTombstones(ctx, state[tombstonesKind])
		}
		if !r.lost.Load() {
			if err := r.pruneQuarantine(ctx); err != nil {
				r.fail(ctx, executions.Pipeline, "prune quarantine", err)
			}
		}
		sweeping.Wait()
		for i, t := range executionTypes {
			err := sweepErrs[i]
			if err == nil && !r.lost.Load() && r.renew(ctx) {
				err = r.repairSlice(ctx, tables[t], slicesFound[i])
			}
			if err != nil {
				r.fail(ctx, t, "reconciliation sweep of "+string(t)+" executions", err)
			}
		}
	}
	r.custom(ctx)
	lag := c.opts.Now().Sub(start)
	sum := PeerSummary{Passes: 1, Lag: lag}
	for _, t := range executionTypes {
		k := r.counts[t]
		sum.NumPeered += int(k.peered.Load())
		sum.NumDeleted += int(k.deleted.Load())
		sum.NumStagesDeleted += int(k.stagesDeleted.Load())
		sum.NumErrors += int(k.errors.Load())
		sum.NumRefused += k.refused
		sum.NumQuarantined += int(k.quarantined.Load())
		sum.NumDivergences += k.divergences
		c.emit(ctx, p.ID, string(t), metrics.Metric{Name: "pollers.peering.lag", Value: k.lag.Seconds(), Unit: metrics.Seconds},
			metrics.Metric{Name: "pollers.peering.numPeered", Value: float64(k.peered.Load()), Unit: metrics.Count},
			metrics.Metric{Name: "pollers.peering.numDeleted", Value: float64(k.deleted.Load()), Unit: metrics.Count},
			metrics.Metric{Name: "pollers.peering.numStagesDeleted", Value: float64(k.stagesDeleted.Load()), Unit: metrics.Count},
			metrics.Metric{Name: "pollers.peering.numErrors", Value: float64(k.errors.Load()), Unit: metrics.Count},
			metrics.Metric{Name: "pollers.peering.numRefusedDeletes", Value: float64(k.refused), Unit: metrics.Count},
			metrics.Metric{Name: "pollers.peering.numQuarantined", Value: float64(k.quarantined.Load()), Unit: metrics.Count},
			metrics.Metric{Name: "pollers.peering.numDivergences", Value: float64(k.divergences), Unit: metrics.Count})
	}
	c.emit(ctx, p.ID, "OVER_ALL", metrics.Metric{Name: "pollers.peering.lag", Value: lag.Seconds(), Unit: metrics.Seconds})
	return sum
}

func (c *Copier) emit(ctx context.Context, peerID, typ string, ms ...metrics.Metric) {
	if err := c.metrics.Emit(map[string]string{"peerId": peerID, "executionType": typ}, ms...); err != nil {
		c.log.WarnContext(ctx, "emit peering metrics", "peer", peerID, "error", err)
	}
}

func (c *Copier) emitCustomError(p Peer, err error) {
	_ = c.metrics.Emit(map[string]string{"peerId": p.ID, "peerer": fmt.Sprintf("%T", p.Custom)},
		metrics.Metric{Name: "pollers.peering.customPeerer.numErrors", Value: 1, Unit: metrics.Count})
}

// acquire takes the peer's lease. When it is held and the holder is this copier's own lease
// that an earlier pass could not release, it renews that lease (same token, so fencing still
// excludes anyone who took it over) instead of skipping the peer until the lease expires.
func (c *Copier) acquire(ctx context.Context, p *peer) (store.Lease, error) {
	lease, err := c.local.AcquireLease(ctx, "peering/"+p.ID, c.opts.Holder, c.opts.LeaseTTL)
	if !errors.Is(err, store.ErrLeaseHeld) {
		return lease, err
	}
	p.mu.Lock()
	own := p.unreleased
	p.mu.Unlock()
	if own == nil {
		return lease, err
	}
	l, rerr := c.local.RenewLease(ctx, *own, c.opts.LeaseTTL)
	if rerr != nil {
		if errors.Is(rerr, store.ErrStaleToken) {
			p.mu.Lock()
			p.unreleased = nil
			p.mu.Unlock()
		}
		return lease, err
	}
	return l, nil
}

// stopAcquire ends a pass whose lease acquisition the deadline cut short: a clean stop, not
// an error. The server may have granted the lease before the answer was lost, so whatever
// this copier holds on the peer is released (by holder: the token never arrived), and the
// next invocation does not find the peer locked for a whole TTL.
func (c *Copier) stopAcquire(ctx context.Context, p *peer) {
	c.log.InfoContext(ctx, "peering pass cut short by the deadline while taking the peer lease", "peer", p.ID)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := c.local.ReleaseHolder(rctx, "peering/"+p.ID, c.opts.Holder); err != nil {
		c.log.WarnContext(ctx, "release peer lease after a cut-short acquire", "peer", p.ID, "error", err)
		return
	}
	p.mu.Lock()
	p.unreleased = nil
	p.mu.Unlock()
}

// renew extends the lease when half of it has gone; false means it was lost.
func (r *peerRun) renew(ctx context.Context) bool {
	if time.UnixMilli(r.expires.Load()).Sub(r.c.local.Now()) > r.c.opts.LeaseTTL/2 {
		return true
	}
	l, err := r.c.local.RenewLease(ctx, r.lease, r.c.opts.LeaseTTL)
	if err != nil {
		r.lost.Store(errors.Is(err, store.ErrStaleToken))
		r.c.log.ErrorContext(ctx, "renew peer lease", "peer", r.p.ID, "error", err)
		return false
	}
	r.expires.Store(l.ExpiresAt.UnixMilli())
	return true
}

// loadState reads the peer's stored progress, per execution type and kind, and whether it has
// quarantine rows (r.quarantines: the pass's writes clear them only then).
func (r *peerRun) loadState(ctx context.Context) (map[string]progress, error) {
	out := map[string]progress{}
	rs, err := r.c.local.SQL().QueryContext(ctx, "SELECT execution_type, high_mark_ms, first_pass_done, cursor_id, sweep_mark_ms, refused_digest FROM peering_state WHERE peer_id = ?", r.p.ID)
	if err != nil {
		return nil, fmt.Errorf("read peering state of %s: %w", r.p.ID, err)
	}
	defer rs.Close()
	for rs.Next() {
		var kind string
		var p progress
		if err := rs.Scan(&kind, &p.HighMark, &p.FirstPassDone, &p.Cursor, &p.SweepMark, &p.Digest); err != nil {
			return nil, fmt.Errorf("read peering state of %s: %w", r.p.ID, err)
		}
		out[kind] = p
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("read peering state of %s: %w", r.p.ID, err)
	}
	var quarantined bool
	if err := r.c.local.SQL().QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM peering_quarantine WHERE peer_id = ?)", r.p.ID).Scan(&quarantined); err != nil {
		return nil, fmt.Errorf("read the quarantine of %s: %w", r.p.ID, err)
	}
	r.quarantines.Store(quarantined)
	return out, nil
}

// saveState stores progress under the lease's fence: a copier that lost the lease cannot move
// the watermark or the cursor.
func (r *peerRun) saveState(ctx context.Context, kind string, p progress) error {
	return r.c.local.WithFence(ctx, r.lease, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO peering_state (peer_id, execution_type, high_mark_ms, first_pass_done, cursor_id, updated_at_ms)
			VALUES (?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE high_mark_ms = VALUES(high_mark_ms),
			first_pass_done = VALUES(first_pass_done), cursor_id = VALUES(cursor_id), updated_at_ms = VALUES(updated_at_ms)`,
			r.p.ID, kind, p.HighMark, p.FirstPassDone, p.Cursor, r.c.opts.Now().UnixMilli())
		if err != nil {
			return fmt.Errorf("save peering state %s/%s: %w", r.p.ID, kind, err)
		}
		return nil
	})
}

// saveColumn stores one more column of a peering_state row under the lease's fence (the
// sweep mark, the refused digest) without touching the others.
func (r *peerRun) saveColumn(ctx context.Context, kind, column string, v any) error {
	return r.c.local.WithFence(ctx, r.lease, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO peering_state (peer_id, execution_type, `+column+`, updated_at_ms) VALUES (?, ?, ?, ?)
			ON DUPLICATE KEY UPDATE `+column+` = VALUES(`+column+`), updated_at_ms = VALUES(updated_at_ms)`,
			r.p.ID, kind, v, r.c.opts.Now().UnixMilli())
		if err != nil {
			return fmt.Errorf("save peering state %s/%s %s: %w", r.p.ID, kind, column, err)
		}
		return nil
	})
}

// peerExecutions copies one execution type: the completed delta, then (from the second pass
// on) the active executions. It returns the local copies both found gone from the peer, for
// the pass's diff deletes (one limit across types).
func (r *peerRun) peerExecutions(ctx context.Context, t table, st *progress) (gone []string) {
	start := r.c.opts.Now()
	firstPass := !st.FirstPassDone
	drained, gone, err := r.completed(ctx, t, st)
	if err != nil && !errors.Is(err, errChunksFailed) { // failed chunks were counted one by one
		r.fail(ctx, t.typ, "completed "+string(t.typ)+" executions", err)
	}
	if !firstPass && !r.lost.Load() {
		g, err := r.active(ctx, t)
		if err != nil {
			r.fail(ctx, t.typ, "active "+string(t.typ)+" executions", err)
		}
		gone = append(gone, g...)
	}
	if firstPass && drained && err == nil && !r.lost.Load() {
		st.FirstPassDone = true
		if err := r.saveState(ctx, string(t.typ), *st); err != nil {
			r.fail(ctx, t.typ, "save first-pass flag", err)
		}
	}
	r.count(t.typ).lag = r.c.opts.Now().Sub(start)
	return gone
}

// completed copies the peer's completed executions changed since the watermark minus the
// clock drift, page by page in updated_at order (a range scan of (updated_at, partition)).
// After each page whose chunks were all clean, the high mark moves to the page's last
// updated_at (never past the peer's clock) and is stored, so a cut-short pass resumes there.
//
// Deletes: a local copy that falls inside a page's updated_at window but is not among the
// peer's keys of that window is a candidate; it is re-checked at the peer by id (so a row that
// merely changed since, or moved to active, is copied rather than deleted) and returned in gone
// only if the peer no longer has it or no longer owns it. This compares only the ids of the
// windows being copied (O(changed) per pass, never all history, unlike Orca's restart-time
// full diff); deletions older than the window reach us through the tombstone log, and active
// copies are reconciled by active(). The weakness that remains (Orca §6.4): a deletion with no
// tombstone (expired before we read it) of a completed execution outside the window is missed.
func (r *peerRun) completed(ctx context.Context, t table, st *progress) (drained bool, gone []string, err error) {
	peerNow, err := r.peerClock(ctx)
	if err != nil {
		return false, nil, err
	}
	lower := max(0, st.HighMark-int64(r.c.opts.ClockDriftMs))
	if err := ctx.Err(); err != nil {
		return false, nil, err
	}
	cur, err := r.readPage(ctx, t, lower)
	if err != nil {
		return false, nil, err
	}
	curDone := r.copyAsync(ctx, t, cur.work)
	for {
		// Read the next page while this one copies, so reads and writes overlap; the run's
		// worker slots keep the copy at ThreadCount chunks at once across pages.
		var next page
		var nextDone <-chan []chunkOutcome
		var nextErr error
		if cur.full && ctx.Err() == nil {
			if next, nextErr = r.readPage(ctx, t, cur.upper); nextErr == nil {
				nextDone = r.copyAsync(ctx, t, next.work)
			}
		}
		// finish waits for the page already started, keeping what it proved gone.
		finish := func(err error) (bool, []string, error) {
			if nextDone != nil {
				for _, o := range <-nextDone {
					gone = append(gone, o.gone...)
				}
			}
			return false, gone, err
		}
		high, failed := cur.high(), false
		for _, o := range <-curDone {
			gone = append(gone, o.gone...)
			if o.err != nil {
				failed = true
				for _, it := range o.items {
					high = min(high, it.updatedAt-1)
				}
			}
		}
		high = min(high, peerNow)
		if high > st.HighMark {
			st.HighMark = high
			if err := r.saveState(ctx, string(t.typ), *st); err != nil {
				return finish(err)
			}
		}
		switch {
		case failed:
			return finish(errChunksFailed)
		case !cur.full:
			return true, gone, nil
		case ctx.Err() != nil:
			return finish(ctx.Err())
		case nextErr != nil:
			return false, gone, nextErr
		}
		cur, curDone = next, nextDone
	}
}

// page is one page of the completed delta and the work it found.
type page struct {
	keys  []key
	upper int64 // the page's last updated_at when full
	full  bool
	work  []item
}

// high is how far a clean page moves the high mark.
func (pg page) high() int64 {
	if !pg.full && len(pg.keys) > 0 {
		return pg.keys[len(pg.keys)-1].updatedAt.Int64
	}
	return pg.upper
}

// readPage reads the page of the completed delta after lower and decides its work: the peer
// keys missing or at another version locally (never a row owned here), and the local copies
// in the page's window that the peer did not list, to be re-checked by id.
func (r *peerRun) readPage(ctx context.Context, t table, lower int64) (page, error) {
	var pg page
	var err error
	pg.keys, pg.upper, pg.full, err = r.completedPage(ctx, t, lower)
	if err != nil {
		return pg, err
	}
	ids := make([]string, len(pg.keys))
	inPage := make(map[string]bool, len(pg.keys))
	for i, k := range pg.keys {
		ids[i] = k.id
		inPage[k.id] = true
	}
	local, err := fetchExecKeys(ctx, r.c.local.SQL(), t.executions, ids, "")
	if err != nil {
		return pg, fmt.Errorf("local: %w", err)
	}
	for _, k := range pg.keys {
		lk, ok := local[k.id]
		if ok && (!lk.partition.Valid || lk.partition.String != r.p.ID) {
			continue // owned here: never overwritten
		}
		if !ok || !sameVersion(lk.updatedAt, k.updatedAt) {
			pg.work = append(pg.work, item{id: k.id, updatedAt: k.updatedAt.Int64, absent: !ok})
		}
	}
	q, args := localWindowSQL(t, false), []any{lower, r.p.ID}
	if pg.full {
		q, args = localWindowSQL(t, true), append(args, pg.upper)
	}
	window, err := scan(ctx, r.c.local.SQL(), versionOf, q, args...)
	if err != nil {
		return pg, fmt.Errorf("local window: %w", err)
	}
	for _, w := range window {
		if !inPage[w.id] {
			pg.work = append(pg.work, w)
		}
	}
	return pg, nil
}

// completedPage reads up to PageSize keys of the peer's completed executions with updated_at >
// lower, owned by the peer (its partition or NULL), in updated_at order. When the page is full
// it ends before the last updated_at value (so a page never splits equal values) and upper is
// its last updated_at; if every key shares one value, all keys of that value are read.
func (r *peerRun) completedPage(ctx context.Context, t table, lower int64) (keys []key, upper int64, full bool, err error) {
	limit := r.c.opts.PageSize
	keys, err = scan(ctx, r.p.DB, execKey, completedPageSQL(t), r.p.ID, lower, limit)
	if err != nil {
		return nil, 0, false, fmt.Errorf("peer %s: read completed %s keys: %w", r.p.ID, t.typ, err)
	}
	if len(keys) < limit {
		return keys, 0, false, nil
	}
	last := keys[len(keys)-1].updatedAt.Int64
	cut := len(keys)
	for cut > 0 && keys[cut-1].updatedAt.Int64 == last {
		cut--
	}
	if cut > 0 {
		return keys[:cut], keys[cut-1].updatedAt.Int64, true, nil
	}
	keys, err = scan(ctx, r.p.DB, execKey, completedTieSQL(t), r.p.ID, last)
	if err != nil {
		return nil, 0, false, fmt.Errorf("peer %s: read completed %s keys: %w", r.p.ID, t.typ, err)
	}
	return keys, last, true, nil
}

// peerClock reads the peer database's clock (epoch ms): the watermark never passes it, so a
// writer whose clock runs ahead cannot push it beyond rows not yet written.
func (r *peerRun) peerClock(ctx context.Context) (int64, error) {
	var ms int64
	if err := r.p.DB.QueryRowContext(ctx, "SELECT CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED)").Scan(&ms); err != nil {
		return 0, fmt.Errorf("peer %s: read clock: %w", r.p.ID, err)
	}
	return ms, nil
}

// active re-syncs every active execution of the peer (its partition or NULL), found with the
// status index, and every local copy still active here (which may have finished, moved or
// vanished at the peer). Unchanged executions cost only key reads. It returns the copies gone
// from the peer.
func (r *peerRun) active(ctx context.Context, t table) ([]string, error) {
	// The two reads are independent: run them at once.
	var localIDs []string
	var localErr error
	var reading sync.WaitGroup
	reading.Go(func() { localIDs, localErr = fetchIDs(ctx, r.c.local.SQL(), localActiveSQL(t), r.p.ID) })
	peerIDs, err := fetchIDs(ctx, r.p.DB, peerActiveSQL(t), r.p.ID)
	reading.Wait()
	if err != nil {
		return nil, fmt.Errorf("peer %s: read active %s ids: %w", r.p.ID, t.typ, err)
	}
	if localErr != nil {
		return nil, fmt.Errorf("local: read active %s ids: %w", t.typ, localErr)
	}
	seen := map[string]bool{}
	var work []item
	for _, id := range append(peerIDs, localIDs...) {
		if !seen[id] {
			seen[id] = true
			work = append(work, item{id: id})
		}
	}
	var gone []string
	for _, o := range r.copyAll(ctx, t, work) { // failed chunks are counted there
		gone = append(gone, o.gone...)
	}
	return gone, nil
}

// diffDeletes deletes local copies that the diff found gone from the peer, of every type,
// unless there are more than the delete limit in all: then it deletes none of them, counts an
// error and the refused ids, and records the refusal once per condition (the same refused
// set is not recorded again while it lasts) (Orca's "don't delete the world", per peer per
// pass rather than per type). What the diff leaves of the limit is the sweep's budget.
func (r *peerRun) diffDeletes(ctx context.Context, gone map[executions.Type][]string, st progress) {
	total := 0
	for _, t := range executionTypes {
		g := gone[t]
		slices.Sort(g)
		gone[t] = slices.Compact(g)
		total += len(gone[t])
	}
	if total > r.limit {
		r.budget = 0
		ids := map[string][]string{}
		var types []string
		for _, t := range executionTypes {
			if len(gone[t]) > 0 {
				r.count(t).errors.Add(1)
				r.count(t).refused = len(gone[t])
				ids[string(t)] = gone[t]
				types = append(types, string(t))
			}
		}
		r.c.log.ErrorContext(ctx, "refusing peering deletes over the limit", "peer", r.p.ID, "count", total, "maxAllowedDeleteCount", r.limit)
		digest := refusalDigest(gone, r.limit)
		if digest == st.Digest {
			return // this refusal is already on record
		}
		r.record(ctx, strings.Join(types, ","), "diff", ids, 0, executions.Terminal,
			fmt.Sprintf("refused to delete %d copies of peer %s: more than maxAllowedDeleteCount %d", total, r.p.ID, r.limit))
		if err := r.saveColumn(ctx, deletesKind, "refused_digest", digest); err != nil {
			r.c.log.WarnContext(ctx, "save refused-delete digest", "peer", r.p.ID, "error", err)
		}
		return
	}
	if st.Digest != "" { // the refused condition has cleared: a new one is recorded again
		if err := r.saveColumn(ctx, deletesKind, "refused_digest", ""); err != nil {
			r.c.log.WarnContext(ctx, "clear refused-delete digest", "peer", r.p.ID, "error", err)
		}
	}
	r.budget = r.limit - total
	for _, t := range executionTypes {
		if len(gone[t]) == 0 {
			continue
		}
		n, err := r.deleteExecutions(ctx, tables[t], gone[t])
		r.count(t).deleted.Add(int64(n))
		if n > 0 {
			r.record(ctx, string(t), "diff", gone[t], n, executions.Succeeded, fmt.Sprintf("deleted %d %s copies gone from peer %s", n, t, r.p.ID))
		}
		if err != nil {
			r.fail(ctx, t, "diff deletes", err)
		}
	}
}

// refusalDigest identifies a refused delete condition: the limit and the sorted ids of each
// type.
func refusalDigest(gone map[executions.Type][]string, limit int) string {
	h := sha256.New()
	fmt.Fprintf(h, "limit=%d", limit)
	for _, t := range executionTypes {
		fmt.Fprintf(h, "|%s", t)
		for _, id := range gone[t] {
			fmt.Fprintf(h, ",%s", id)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

const tombstoneBatch = 5000

// peerTombstones replays the peer's deleted_executions after the cursor, re-reading
// TombstoneLookback ids below it (an AUTO_INCREMENT id can commit after a larger one; deletes
// are idempotent). Orchestrations, then pipelines; the cursor moves only if both succeeded.
func (r *peerRun) peerTombstones(ctx context.Context, st progress) {
	for {
		from := max(0, st.Cursor-int64(r.c.opts.TombstoneLookback))
		rs, err := r.p.DB.QueryContext(ctx, "SELECT id, execution_id, execution_type FROM deleted_executions WHERE id > ? ORDER BY id LIMIT ?", from, tombstoneBatch)
		if err != nil {
			for _, t := range executionTypes {
				r.fail(ctx, t, "read tombstones", fmt.Errorf("peer %s: %w", r.p.ID, err))
			}
			return
		}
		byType := map[executions.Type][]string{}
		var maxID int64
		n := 0
		var scanErr error
		for rs.Next() {
			var id int64
			var execID, typ string
			if scanErr = rs.Scan(&id, &execID, &typ); scanErr != nil {
				break
			}
			byType[executions.Type(typ)] = append(byType[executions.Type(typ)], execID)
			maxID = max(maxID, id)
			n++
		}
		err = errors.Join(scanErr, rs.Err())
		rs.Close()
		if err != nil {
			for _, t := range executionTypes {
				r.fail(ctx, t, "read tombstones", fmt.Errorf("peer %s: %w", r.p.ID, err))
			}
			return
		}
		ok := true
		for _, t := range []executions.Type{executions.Orchestration, executions.Pipeline} {
			ids := byType[t]
			if len(ids) == 0 {
				continue
			}
			deleted, err := r.deleteExecutions(ctx, tables[t], ids)
			r.count(t).deleted.Add(int64(deleted))
			if deleted > 0 {
				r.record(ctx, string(t), "tombstone", ids, deleted, executions.Succeeded,
					fmt.Sprintf("deleted %d %s copies that peer %s deleted", deleted, t, r.p.ID))
			}
			if err != nil {
				ok = false
				r.fail(ctx, t, "tombstone deletes", err)
			}
		}
		if !ok || maxID <= st.Cursor {
			return
		}
		st.Cursor = maxID
		if err := r.saveState(ctx, tombstonesKind, st); err != nil {
			r.fail(ctx, executions.Pipeline, "save tombstone cursor", err)
			return
		}
		if n < tombstoneBatch {
			return
		}
	}
}

// record writes a peering delete (or a refused one) as an execution.
func (r *peerRun) record(ctx context.Context, typ, reason string, ids any, deleted int, status executions.Status, desc string) {
	if r.c.rec == nil {
		return
	}
	_, err := r.c.rec.Record(ctx, executions.Action{
		Tenant: "peering", Kind: "peeringDelete", Description: desc, Status: status, Trigger: "schedule",
		Inputs:  map[string]any{"peerId": r.p.ID, "executionType": typ, "reason": reason, "executionIds": ids},
		Rule:    fmt.Sprintf("delete local copies gone from the peer; refuse more than maxAllowedDeleteCount (%d) diff deletes per peer per pass, across types", r.limit),
		Outcome: map[string]any{"deleted": deleted},
	})
	if err != nil {
		r.c.log.ErrorContext(ctx, "record peering delete", "peer", r.p.ID, "error", err)
	}
}

// custom runs the peer's custom peerer, isolating its failures.
func (r *peerRun) custom(ctx context.Context) {
	if !r.p.customOK {
		return
	}
	ok, err := r.p.Custom.DoPeer(ctx)
	switch {
	case err != nil:
		r.c.emitCustomError(r.p.Peer, err)
		r.c.log.ErrorContext(ctx, "custom peerer failed", "peer", r.p.ID, "peerer", fmt.Sprintf("%T", r.p.Custom), "error", err)
	case !ok:
		r.c.log.ErrorContext(ctx, "custom peerer reported failure", "peer", r.p.ID, "peerer", fmt.Sprintf("%T", r.p.Custom))
	}
}

// The queries that run every pass, kept here so a test can EXPLAIN exactly them.

// completedPageSQL reads a page of the peer's completed keys: a range scan of the
// (updated_at, partition) index from the watermark, partition tested inside the index.
func completedPageSQL(t table) string {
	return "SELECT id, updated_at, `partition` FROM " + t.executions + " WHERE (`partition` = ? OR `partition` IS NULL) AND status IN (" +
		completedStatuses + ") AND updated_at > ? ORDER BY updated_at LIMIT ?"
}

func completedTieSQL(t table) string {
	return "SELECT id, updated_at, `partition` FROM " + t.executions + " WHERE (`partition` = ? OR `partition` IS NULL) AND status IN (" +
		completedStatuses + ") AND updated_at = ?"
}

// localWindowSQL reads the local copies in a page's updated_at window (the same index).
func localWindowSQL(t table, bounded bool) string {
	q := "SELECT id, updated_at FROM " + t.executions + " WHERE updated_at > ? AND `partition` = ? AND status IN (" + completedStatuses + ")"
	if bounded {
		q += " AND updated_at <= ?"
	}
	return q
}

// peerActiveSQL and localActiveSQL use the status index (status, build_time) over the six
// active values.
func peerActiveSQL(t table) string {
	return "SELECT id FROM " + t.executions + " WHERE status IN (" + activeStatuses + ") AND (`partition` = ? OR `partition` IS NULL)"
}

func localActiveSQL(t table) string {
	return "SELECT id FROM " + t.executions + " WHERE status IN (" + activeStatuses + ") AND `partition` = ?"
}
