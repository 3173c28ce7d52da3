package peering

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/metrics"
	"github.com/logwise/controlplane/shared/store"
)

// counts are one execution type's counters for one pass of one peer.
type counts struct {
	peered, deleted, stagesDeleted, errors atomic.Int64
	lag                                    time.Duration
}

// peerRun is one pass over one peer, under its lease.
type peerRun struct {
	c      *Copier
	p      *peer
	lease  store.Lease
	limit  int // the diff-delete limit for this pass
	counts map[ExecutionType]*counts
	lost   atomic.Bool // the lease was taken over: stop
}

func (r *peerRun) count(t ExecutionType) *counts { return r.counts[t] }

// fail counts and logs a failed step. Work cut short by the pass's deadline is logged but not
// counted: it is not a fault, and the next pass carries on from the stored progress.
func (r *peerRun) fail(ctx context.Context, t ExecutionType, what string, err error) {
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

const tombstonesKind = "tombstones"

// errChunksFailed means some chunks of a step failed (each already counted and logged).
var errChunksFailed = errors.New("some chunks failed; the watermark stays below them")

// progress is a peer's stored state for one execution type (or the tombstone cursor).
type progress struct {
	HighMark      int64 // largest peer updated_at covered by clean chunks (epoch ms)
	FirstPassDone bool  // the completed delta has drained once: active copying is on
	Cursor        int64 // tombstones: largest deleted_executions.id applied
}

func (c *Copier) passPeer(ctx context.Context, p *peer, limit int) PeerSummary {
	start := c.opts.Now()
	c.checkReach(ctx, p)
	lease, err := c.acquire(ctx, p)
	if errors.Is(err, store.ErrLeaseHeld) {
		c.log.DebugContext(ctx, "peer lease held by another copier; skipped", "peer", p.ID)
		return PeerSummary{Skipped: 1}
	}
	if err != nil && ctx.Err() != nil {
		// Cut short by the deadline, like any other step: not a fault. The server may have
		// granted the lease before the call was cut, so free whatever this holder holds.
		c.log.InfoContext(ctx, "peer lease acquire cut short by the deadline", "peer", p.ID)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if rerr := c.local.ReleaseHolder(rctx, "peering/"+p.ID, c.opts.Holder); rerr != nil {
			c.log.WarnContext(ctx, "release peer lease after a cut-short acquire", "peer", p.ID, "error", rerr)
		}
		return PeerSummary{Skipped: 1}
	}
	if err != nil {
		c.log.ErrorContext(ctx, "acquire peer lease", "peer", p.ID, "error", err)
		return PeerSummary{Skipped: 1, NumErrors: 1}
	}
	r := &peerRun{c: c, p: p, lease: lease, limit: limit, counts: map[ExecutionType]*counts{}}
	for _, t := range executionTypes {
		r.counts[t] = &counts{}
	}
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
		for _, t := range executionTypes {
			if r.lost.Load() || !r.renew(ctx) {
				break
			}
			r.peerExecutions(ctx, tables[t], state[string(t)])
		}
		if !r.lost.Load() && r.renew(ctx) {
			r.peerTombstones(ctx, state[tombstonesKind])
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
		c.emit(ctx, p.ID, string(t), metrics.Metric{Name: "pollers.peering.lag", Value: k.lag.Seconds(), Unit: metrics.Seconds},
			metrics.Metric{Name: "pollers.peering.numPeered", Value: float64(k.peered.Load()), Unit: metrics.Count},
			metrics.Metric{Name: "pollers.peering.numDeleted", Value: float64(k.deleted.Load()), Unit: metrics.Count},
			metrics.Metric{Name: "pollers.peering.numStagesDeleted", Value: float64(k.stagesDeleted.Load()), Unit: metrics.Count},
			metrics.Metric{Name: "pollers.peering.numErrors", Value: float64(k.errors.Load()), Unit: metrics.Count})
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

// renew extends the lease when half of it has gone; false means it was lost.
func (r *peerRun) renew(ctx context.Context) bool {
	if r.lease.ExpiresAt.Sub(r.c.local.Now()) > r.c.opts.LeaseTTL/2 {
		return true
	}
	l, err := r.c.local.RenewLease(ctx, r.lease, r.c.opts.LeaseTTL)
	if err != nil {
		r.lost.Store(errors.Is(err, store.ErrStaleToken))
		r.c.log.ErrorContext(ctx, "renew peer lease", "peer", r.p.ID, "error", err)
		return false
	}
	r.lease = l
	return true
}

func (r *peerRun) loadState(ctx context.Context) (map[string]progress, error) {
	out := map[string]progress{}
	rs, err := r.c.local.SQL().QueryContext(ctx, "SELECT execution_type, high_mark_ms, first_pass_done, cursor_id FROM peering_state WHERE peer_id = ?", r.p.ID)
	if err != nil {
		return nil, fmt.Errorf("read peering state of %s: %w", r.p.ID, err)
	}
	defer rs.Close()
	for rs.Next() {
		var kind string
		var p progress
		if err := rs.Scan(&kind, &p.HighMark, &p.FirstPassDone, &p.Cursor); err != nil {
			return nil, fmt.Errorf("read peering state of %s: %w", r.p.ID, err)
		}
		out[kind] = p
	}
	return out, rs.Err()
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

// peerExecutions copies one execution type: the completed delta, then (from the second pass
// on) the active executions, then the diff deletes both found.
func (r *peerRun) peerExecutions(ctx context.Context, t table, st progress) {
	start := r.c.opts.Now()
	firstPass := !st.FirstPassDone
	drained, gone, err := r.completed(ctx, t, &st)
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
	if !r.lost.Load() {
		r.diffDeletes(ctx, t, gone)
	}
	if firstPass && drained && err == nil && !r.lost.Load() {
		st.FirstPassDone = true
		if err := r.saveState(ctx, string(t.typ), st); err != nil {
			r.fail(ctx, t.typ, "save first-pass flag", err)
		}
	}
	r.count(t.typ).lag = r.c.opts.Now().Sub(start)
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
	for {
		if err := ctx.Err(); err != nil {
			return false, gone, err
		}
		keys, upper, full, err := r.completedPage(ctx, t, lower)
		if err != nil {
			return false, gone, err
		}
		ids := make([]string, len(keys))
		inPage := make(map[string]bool, len(keys))
		for i, k := range keys {
			ids[i] = k.id
			inPage[k.id] = true
		}
		local, err := fetchExecKeys(ctx, r.c.local.SQL(), t.executions, ids, "")
		if err != nil {
			return false, gone, fmt.Errorf("local: %w", err)
		}
		var work []item
		for _, k := range keys {
			lk, ok := local[k.id]
			if ok && (!lk.partition.Valid || lk.partition.String != r.p.ID) {
				continue // owned here: never overwritten
			}
			if !ok || !sameVersion(lk.updatedAt, k.updatedAt) {
				work = append(work, item{k.id, k.updatedAt.Int64})
			}
		}
		// Local copies in the same window that the peer did not list: re-check them by id.
		q, args := localWindowSQL(t, false), []any{lower, r.p.ID}
		if full {
			q, args = localWindowSQL(t, true), append(args, upper)
		}
		window, err := fetchItems(ctx, r.c.local.SQL(), q, args...)
		if err != nil {
			return false, gone, fmt.Errorf("local window: %w", err)
		}
		for _, w := range window {
			if !inPage[w.id] {
				work = append(work, w)
			}
		}
		outcomes := r.copyAll(ctx, t, work)
		high := upper
		if !full && len(keys) > 0 {
			high = keys[len(keys)-1].updatedAt.Int64
		}
		failed := false
		for _, o := range outcomes {
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
				return false, gone, err
			}
		}
		if failed {
			return false, gone, errChunksFailed
		}
		if !full {
			return true, gone, nil
		}
		lower = upper
	}
}

// completedPage reads up to PageSize keys of the peer's completed executions with updated_at >
// lower, owned by the peer (its partition or NULL), in updated_at order. When the page is full
// it ends before the last updated_at value (so a page never splits equal values) and upper is
// its last updated_at; if every key shares one value, all keys of that value are read.
func (r *peerRun) completedPage(ctx context.Context, t table, lower int64) (keys []key, upper int64, full bool, err error) {
	limit := r.c.opts.PageSize
	keys, err = fetchKeyList(ctx, r.p.DB, completedPageSQL(t), r.p.ID, lower, limit)
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
	keys, err = fetchKeyList(ctx, r.p.DB, completedTieSQL(t), r.p.ID, last)
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
	peerIDs, err := fetchIDs(ctx, r.p.DB, peerActiveSQL(t), r.p.ID)
	if err != nil {
		return nil, fmt.Errorf("peer %s: read active %s ids: %w", r.p.ID, t.typ, err)
	}
	localIDs, err := fetchIDs(ctx, r.c.local.SQL(), localActiveSQL(t), r.p.ID)
	if err != nil {
		return nil, fmt.Errorf("local: read active %s ids: %w", t.typ, err)
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

// diffDeletes deletes local copies that the diff found gone from the peer, unless there are
// more than the delete limit: then it deletes none of them, counts an error and records the
// refusal (Orca's "don't delete the world").
func (r *peerRun) diffDeletes(ctx context.Context, t table, gone []string) {
	slices.Sort(gone)
	gone = slices.Compact(gone)
	if len(gone) == 0 {
		return
	}
	if len(gone) > r.limit {
		r.count(t.typ).errors.Add(1)
		r.c.log.ErrorContext(ctx, "refusing peering deletes over the limit", "peer", r.p.ID, "executionType", string(t.typ),
			"count", len(gone), "maxAllowedDeleteCount", r.limit)
		r.record(ctx, t, "diff", gone, 0, executions.Terminal,
			fmt.Sprintf("refused to delete %d %s copies of peer %s: more than maxAllowedDeleteCount %d", len(gone), t.typ, r.p.ID, r.limit))
		return
	}
	n, err := r.deleteExecutions(ctx, t, gone)
	r.count(t.typ).deleted.Add(int64(n))
	if n > 0 {
		r.record(ctx, t, "diff", gone, n, executions.Succeeded, fmt.Sprintf("deleted %d %s copies gone from peer %s", n, t.typ, r.p.ID))
	}
	if err != nil {
		r.fail(ctx, t.typ, "diff deletes", err)
	}
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
		byType := map[ExecutionType][]string{}
		var maxID int64
		n := 0
		var scanErr error
		for rs.Next() {
			var id int64
			var execID, typ string
			if scanErr = rs.Scan(&id, &execID, &typ); scanErr != nil {
				break
			}
			byType[ExecutionType(typ)] = append(byType[ExecutionType(typ)], execID)
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
		for _, t := range []ExecutionType{Orchestration, Pipeline} {
			ids := byType[t]
			if len(ids) == 0 {
				continue
			}
			deleted, err := r.deleteExecutions(ctx, tables[t], ids)
			r.count(t).deleted.Add(int64(deleted))
			if deleted > 0 {
				r.record(ctx, tables[t], "tombstone", ids, deleted, executions.Succeeded,
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
			r.fail(ctx, Pipeline, "save tombstone cursor", err)
			return
		}
		if n < tombstoneBatch {
			return
		}
	}
}

// record writes a peering delete (or a refused one) as an execution.
func (r *peerRun) record(ctx context.Context, t table, reason string, ids []string, deleted int, status executions.Status, desc string) {
	if r.c.rec == nil {
		return
	}
	_, err := r.c.rec.Record(ctx, executions.Action{
		Tenant: "peering", Kind: "peeringDelete", Description: desc, Status: status, Trigger: "schedule",
		Inputs:  map[string]any{"peerId": r.p.ID, "executionType": string(t.typ), "reason": reason, "executionIds": ids},
		Rule:    fmt.Sprintf("delete local copies gone from the peer; refuse more than maxAllowedDeleteCount (%d) diff deletes per pass", r.limit),
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

// fetchKeyList reads (id, updated_at, partition) rows in query order.
func fetchKeyList(ctx context.Context, q querier, query string, args ...any) ([]key, error) {
	rs, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []key
	for rs.Next() {
		var k key
		if err := rs.Scan(&k.id, &k.updatedAt, &k.partition); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rs.Err()
}

// fetchItems reads (id, updated_at) rows.
func fetchItems(ctx context.Context, q querier, query string, args ...any) ([]item, error) {
	rs, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []item
	for rs.Next() {
		var it item
		if err := rs.Scan(&it.id, &it.updatedAt); err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rs.Err()
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
