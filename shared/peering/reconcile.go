package peering

import (
	"context"
	"fmt"
	"slices"

	"github.com/logwise/controlplane/shared/executions"
)

// compareSlice and repairSlice are the sweep, the slow reconciliation that finds what the steady pass cannot see: a peer
// execution deleted without a tombstone (or whose tombstone expired unread) outside the copy
// window, and any other local copy that differs from the peer. Each pass compares one slice of
// one execution type's settled history (updated_at up to the high mark minus the clock drift),
// in updated_at order from where the last slice ended, and starts over after the high mark.
//
// A slice costs two index-only range reads of the (updated_at, partition) index: a count and
// a checksum of (id, updated_at) of at most SweepSlice local copies, and the same over the
// peer's owned rows of that range. Only when they differ are the keys of the slice read (the
// same index) and compared. Every difference is a divergence, counted in
// pollers.peering.numDivergences, and repaired like any copy: the ids are re-read at the peer
// in one snapshot, copied if the peer has them, and deleted here if the snapshot confirms they
// are gone, under the same guard as tombstones (only partition = peerId rows, fenced by the
// lease) and within what the pass's delete limit has left. A slice is passed only once it is
// fully repaired, so a refused or rate-limited delete is found again next pass.
//
// The comparison only reads, so a pass runs it beside its copy steps (compareSlice), and
// repairs what it found afterwards (repairSlice), when the pass's delete budget is known.
func (r *peerRun) compareSlice(ctx context.Context, t table, st progress) (sliceResult, error) {
	res := sliceResult{}
	size := r.c.opts.SweepSlice
	if size < 0 || !st.FirstPassDone {
		return res, nil // off, or the bulk copy has not drained yet: everything differs
	}
	upper := st.HighMark - int64(r.c.opts.ClockDriftMs)
	lo := st.SweepMark
	if lo >= upper {
		lo = 0 // a new sweep
	}
	if upper <= 0 {
		return res, nil
	}
	var n int
	var last, localSum, peerSum int64
	err := r.c.local.SQL().QueryRowContext(ctx, localSliceSumSQL(t), lo, upper, r.p.ID, size).Scan(&n, &last, &localSum)
	if err != nil {
		return res, fmt.Errorf("local: checksum %s slice after %d: %w", t.typ, lo, err)
	}
	hi := sliceEnd(upper, n, last, size)
	var peerN int
	if err := r.p.DB.QueryRowContext(ctx, peerSliceSumSQL(t), lo, hi, r.p.ID).Scan(&peerN, &peerSum); err != nil {
		return res, fmt.Errorf("peer %s: checksum %s slice (%d, %d]: %w", r.p.ID, t.typ, lo, hi, err)
	}
	res.done, res.lo, res.hi = true, lo, hi
	if peerN == n && peerSum == localSum {
		return res, nil
	}
	peerKeys, err := scan(ctx, r.p.DB, versionOf, peerSliceKeysSQL(t), lo, hi, r.p.ID, 4*size+1)
	if err != nil {
		return res, fmt.Errorf("peer %s: read %s slice (%d, %d]: %w", r.p.ID, t.typ, lo, hi, err)
	}
	if len(peerKeys) > 4*size { // the peer is far denser here than the copies: take a shorter slice
		if cut := peerKeys[4*size-1].updatedAt - 1; cut > lo {
			res.hi = cut
			peerKeys = slices.DeleteFunc(peerKeys, func(it item) bool { return it.updatedAt > cut })
		}
	}
	localKeys, err := scan(ctx, r.c.local.SQL(), versionOf, localSliceKeysSQL(t), lo, res.hi, r.p.ID)
	if err != nil {
		return res, fmt.Errorf("local: read %s slice (%d, %d]: %w", t.typ, lo, res.hi, err)
	}
	work := diffSlice(peerKeys, localKeys)
	// A peer execution whose id the local region owns (a takeover) is not a divergence.
	local := map[string]bool{}
	for _, k := range localKeys {
		local[k.id] = true
	}
	var peerOnly []string
	for _, w := range work {
		if !local[w.id] {
			peerOnly = append(peerOnly, w.id)
		}
	}
	owners, err := fetchExecKeys(ctx, r.c.local.SQL(), t.executions, peerOnly, "")
	if err != nil {
		return res, fmt.Errorf("local: %w", err)
	}
	res.work = slices.DeleteFunc(work, func(w item) bool {
		k, ok := owners[w.id]
		return ok && !local[w.id] && (!k.partition.Valid || k.partition.String != r.p.ID)
	})
	return res, nil
}

// sliceResult is what compareSlice found in one slice (lo, hi].
type sliceResult struct {
	done   bool // a slice was compared
	lo, hi int64
	work   []item // the divergences: ids to re-read at the peer
}

// repairSlice repairs the divergences of a compared slice and moves the sweep past it once
// they are all repaired.
func (r *peerRun) repairSlice(ctx context.Context, t table, res sliceResult) error {
	if !res.done {
		return nil
	}
	r.count(t.typ).divergences = len(res.work)
	if len(res.work) == 0 {
		return r.saveColumn(ctx, string(t.typ), "sweep_mark_ms", res.hi)
	}
	r.c.log.WarnContext(ctx, "peering sweep found divergences", "peer", r.p.ID, "executionType", string(t.typ),
		"count", len(res.work), "from", res.lo, "to", res.hi)
	failed := false
	var gone []string
	for _, o := range r.copyAll(ctx, t, res.work) { // failed chunks are counted there
		gone = append(gone, o.gone...)
		failed = failed || o.err != nil
	}
	slices.Sort(gone)
	del := gone[:min(len(gone), max(0, r.budget))]
	if len(del) > 0 {
		n, err := r.deleteExecutions(ctx, t, del)
		r.budget -= n
		r.count(t.typ).deleted.Add(int64(n))
		if n > 0 {
			r.record(ctx, string(t.typ), "sweep", del, n, executions.Succeeded,
				fmt.Sprintf("deleted %d %s copies that peer %s no longer has (found by the reconciliation sweep)", n, t.typ, r.p.ID))
		}
		if err != nil {
			return fmt.Errorf("sweep deletes: %w", err)
		}
	}
	if len(del) < len(gone) {
		r.c.log.WarnContext(ctx, "peering sweep deletes held back by the delete limit", "peer", r.p.ID, "executionType", string(t.typ),
			"gone", len(gone), "deleted", len(del), "maxAllowedDeleteCount", r.limit)
	}
	if failed || len(del) < len(gone) {
		return nil // the slice is compared again next pass
	}
	return r.saveColumn(ctx, string(t.typ), "sweep_mark_ms", res.hi)
}

// sliceEnd is the sweep's chunk planner: a slice starts after the last one and ends at the
// updated_at of its size-th local copy (n copies were found, the last at last), or at the
// end of the settled history (upper) when fewer remain.
func sliceEnd(upper int64, n int, last int64, size int) int64 {
	if n < size || last >= upper {
		return upper
	}
	return last
}

// diffSlice compares the (id, updated_at) keys of one slice at the peer and locally and
// returns, in id order, every id that differs: a local copy the peer does not list, or a peer
// execution missing here or at another version.
func diffSlice(peer, local []item) []item {
	want := make(map[string]int64, len(peer))
	for _, k := range peer {
		want[k.id] = k.updatedAt
	}
	var out []item
	seen := make(map[string]bool, len(local))
	for _, k := range local {
		seen[k.id] = true
		if u, ok := want[k.id]; !ok || u != k.updatedAt {
			out = append(out, k)
		}
	}
	for _, k := range peer {
		if !seen[k.id] {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b item) int {
		switch {
		case a.id < b.id:
			return -1
		case a.id > b.id:
			return 1
		}
		return 0
	})
	return slices.CompactFunc(out, func(a, b item) bool { return a.id == b.id })
}

// The sweep's queries: index-only range reads of (updated_at, partition) (id is in every
// InnoDB secondary index). A checksum is the count and the XOR of CRC32(id@updated_at).
const sliceChecksum = "COUNT(*), COALESCE(BIT_XOR(CRC32(CONCAT(id, '@', updated_at))), 0)"

func localSliceSumSQL(t table) string {
	return "SELECT COUNT(*), COALESCE(MAX(updated_at), 0), COALESCE(BIT_XOR(CRC32(CONCAT(id, '@', updated_at))), 0) FROM (SELECT id, updated_at FROM " +
		t.executions + " WHERE updated_at > ? AND updated_at <= ? AND `partition` = ? ORDER BY updated_at LIMIT ?) s"
}

func peerSliceSumSQL(t table) string {
	return "SELECT " + sliceChecksum + " FROM " + t.executions + " WHERE updated_at > ? AND updated_at <= ? AND (`partition` = ? OR `partition` IS NULL)"
}

func peerSliceKeysSQL(t table) string {
	return "SELECT id, updated_at FROM " + t.executions + " WHERE updated_at > ? AND updated_at <= ? AND (`partition` = ? OR `partition` IS NULL) ORDER BY updated_at LIMIT ?"
}

func localSliceKeysSQL(t table) string {
	return "SELECT id, updated_at FROM " + t.executions + " WHERE updated_at > ? AND updated_at <= ? AND `partition` = ?"
}
