package peering

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/go-sql-driver/mysql"

	"github.com/logwise/controlplane/shared/executions"
)

// item is an execution to copy or check, with the updated_at that put it in the work list
// (the watermark advances only over items whose chunk was clean).
type item struct {
	id        string
	updatedAt int64
	// absent: the page that listed it found no local row of it (a chunk of such items skips
	// its own local read and is written insert-only: a row that appeared since fails the
	// insert, and the chunk is written again the careful way).
	absent bool
}

// chunkOutcome is what one chunk did.
type chunkOutcome struct {
	items         []item
	copied        int      // executions written (row or stages)
	stagesDeleted int      // stale stages deleted
	gone          []string // local copies whose execution is gone from the peer or no longer the peer's
	quarantined   int      // executions too large for any statement, recorded and skipped
	err           error
}

// groupBytes bounds the rows of the new-execution chunks one worker writes in one
// transaction (a commit costs milliseconds; a first copy would otherwise make one per chunk).
const groupBytes = 4 << 20

// copyAll copies items in chunks of ChunkSize on up to ThreadCount workers (and no more than
// the local pool's connections). A worker writes the chunks it reads whose executions are all
// new here together, in transactions of up to groupBytes; other chunks are written alone.
// A chunk whose rows come to more than ChunkBytes is read again in halves (down to one
// execution, read whole; the worker's next chunks start at the size that fit), and every
// read first reserves ChunkBytes of the copier's memory budget, so the rows it holds stay
// near MemoryBytes whatever the executions weigh. One failed chunk does not stop the others.
func (r *peerRun) copyAll(ctx context.Context, t table, items []item) []chunkOutcome {
	cs := chunks(items, r.c.opts.ChunkSize)
	out := make([]chunkOutcome, len(cs))
	workers := min(r.c.opts.ThreadCount, len(cs))
	if n := r.c.local.SQL().Stats().MaxOpenConnections; n > 0 {
		workers = min(workers, n)
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			w := &copyWorker{r: r, t: t, cs: cs, out: out, open: map[int]int{}, finished: map[int]bool{}}
			for i := range next {
				w.chunk(ctx, i)
			}
			w.flush(ctx)
		})
	}
	for i := range cs {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, o := range out {
		r.count(t.typ).peered.Add(int64(o.copied))
		r.count(t.typ).stagesDeleted.Add(int64(o.stagesDeleted))
		r.count(t.typ).quarantined.Add(int64(o.quarantined))
		if o.err != nil {
			r.fail(ctx, t.typ, fmt.Sprintf("copy %s chunk (first id %s)", t.typ, o.items[0].id), o.err)
		}
	}
	return out
}

// copyWorker is one of copyAll's workers: it reads chunks (in parts when they are too
// heavy), writes them alone or in groups, and folds the parts' outcomes into out.
type copyWorker struct {
	r   *peerRun
	t   table
	cs  [][]item
	out []chunkOutcome
	// The group: parts read and waiting to be written together, their sizes' sum, and the
	// chunks they belong to.
	ws    []*chunkWrite
	parts []part
	size  int
	// open counts each chunk's parts not yet folded into out; finished marks the chunks
	// whose parts have all been read.
	open     map[int]int
	finished map[int]bool
	// fit is how many executions a part reads, learned from the chunks before (0: a whole
	// chunk), so that heavy executions do not make every chunk start over at full size.
	fit int
}

// part is some or all of chunk i's executions, and what writing them did.
type part struct {
	i int
	o *chunkOutcome
}

// chunk copies chunk i: reads it (halving it while its rows are over ChunkBytes), writes
// what is not bulk at once and keeps bulk parts for the group.
func (w *copyWorker) chunk(ctx context.Context, i int) {
	r := w.r
	limit := r.c.opts.ChunkBytes
	queue := [][]item{w.cs[i]}
	if w.fit > 0 {
		queue = chunks(w.cs[i], w.fit)
	}
	for len(queue) > 0 {
		items := queue[0]
		queue = queue[1:]
		p := part{i: i, o: &chunkOutcome{}}
		w.open[i]++
		if !r.c.mem.tryReserve(limit) {
			w.flush(ctx) // give back what this worker holds before waiting for the others
			if err := r.c.mem.reserve(ctx, limit); err != nil {
				p.o.err = err
				w.fold(p)
				continue
			}
		}
		bound := limit
		if len(items) == 1 {
			bound = 0 // one execution is read whole, whatever it weighs
		}
		r.slots <- struct{}{}
		cw := r.readChunk(ctx, w.t, items, p.o, bound)
		if errors.Is(p.o.err, errOverBudget) {
			<-r.slots
			r.c.mem.release(limit)
			w.open[i]--
			h := len(items) / 2
			w.fit = h
			queue = append([][]item{items[:h], items[h:]}, queue...)
			continue
		}
		held := 0
		if cw != nil {
			held = cw.bytes
		}
		if w.fit > 0 && held < limit/2 {
			w.fit = min(2*w.fit, r.c.opts.ChunkSize) // lighter executions again: read more at once
		}
		r.c.mem.adjust(held - limit) // keep what the rows weigh (more, when one execution overshot)
		if r.c.partRead != nil {
			r.c.partRead(len(items), held)
		}
		if cw != nil && (!cw.bulk || w.groupBudget() < 0) {
			r.writeGroup(ctx, w.t, []*chunkWrite{cw}, []*chunkOutcome{p.o})
			r.c.mem.release(held)
			cw = nil
		}
		<-r.slots
		if cw == nil {
			w.fold(p)
			continue
		}
		w.ws, w.parts, w.size = append(w.ws, cw), append(w.parts, p), w.size+cw.bytes
		if w.size >= w.groupBudget() {
			w.flush(ctx)
		}
	}
	w.finished[i] = true
	if w.open[i] == 0 {
		w.done(i)
	}
}

// groupBudget is the most bytes of rows one group writes (<0: every chunk alone).
func (w *copyWorker) groupBudget() int {
	if b := w.r.c.opts.groupBytes; b != 0 {
		return b
	}
	return groupBytes
}

// flush writes the group in one transaction and gives its bytes back to the budget.
func (w *copyWorker) flush(ctx context.Context) {
	if len(w.ws) == 0 {
		return
	}
	outs := make([]*chunkOutcome, len(w.parts))
	for j, p := range w.parts {
		outs[j] = p.o
	}
	r := w.r
	r.slots <- struct{}{}
	r.writeGroup(ctx, w.t, w.ws, outs)
	<-r.slots
	r.c.mem.release(w.size)
	parts := w.parts
	w.ws, w.parts, w.size = nil, nil, 0
	for _, p := range parts {
		w.fold(p)
	}
}

// fold adds a written (or failed) part's outcome to its chunk's, and finishes the chunk once
// all its parts are in.
func (w *copyWorker) fold(p part) {
	o := &w.out[p.i]
	o.copied += p.o.copied
	o.stagesDeleted += p.o.stagesDeleted
	o.quarantined += p.o.quarantined
	o.gone = append(o.gone, p.o.gone...)
	if o.err == nil {
		o.err = p.o.err
	}
	w.open[p.i]--
	if w.finished[p.i] && w.open[p.i] == 0 {
		w.done(p.i)
	}
}

// done finishes chunk i: its outcome now covers its items.
func (w *copyWorker) done(i int) {
	w.out[i].items = w.cs[i]
	delete(w.open, i)
	delete(w.finished, i)
	if w.r.c.afterChunk != nil {
		w.r.c.afterChunk()
	}
}

// copyAsync runs copyAll in the background; the channel yields its outcomes.
func (r *peerRun) copyAsync(ctx context.Context, t table, items []item) <-chan []chunkOutcome {
	done := make(chan []chunkOutcome, 1)
	go func() { done <- r.copyAll(ctx, t, items) }()
	return done
}

// execPlan is what a chunk writes for one execution.
type execPlan struct {
	id          string
	writeRow    bool     // the execution row differs or is missing locally
	staleStages []string // local stages the peer no longer has
	stagesHere  []string // the stages among stages that exist locally (changed, not new)
	stages      []string // peer stages missing or different locally
}

// chunkWrite is what one chunk read and is to write.
type chunkWrite struct {
	plans                                    []execPlan
	execRows, stageRows, execComp, stageComp []row
	quarantine                               []quarantined
	bytes                                    int  // the size (rowSize) of the rows read
	bulk                                     bool // none of the chunk's executions was here when read
}

// readChunk reads what brings the local copies of items in line with the peer: the peer's
// execution keys, stage keys and the bodies that differ, from one consistent read-only snapshot
// (execution rows before their stages, Orca PR #3467). writeChunks then writes, in one local
// transaction (alone or with other chunks): stale stages deleted, changed stages upserted, then the execution rows with partition set to
// the peer id, and the compressed bodies beside each. Unchanged rows are not rewritten, so
// re-copying active executions every pass costs only the key reads. A local row whose partition
// is not the peer's (owned here, e.g. after a takeover) is never written; an id gone from the
// peer (or no longer owned by it) is put in o.gone and not touched here. It returns nil when
// there is nothing to write or the read failed (o.err).
//
// bound, when not 0, is the most bytes of rows the chunk may read: past it, the read stops
// with errOverBudget in o.err, and the caller reads the chunk in halves.
func (r *peerRun) readChunk(ctx context.Context, t table, items []item, o *chunkOutcome, bound int) *chunkWrite {
	ids := make([]string, len(items))
	for i, it := range items {
		ids[i] = it.id
	}
	peerID := r.p.ID
	hasCompressed, err := r.peerHasCompressed(ctx)
	if err != nil {
		o.err = err
		return nil
	}

	// Local keys first (outside the peer snapshot: the write re-checks them under lock),
	// unless the page just found none of the chunk here.
	localExec := map[string]key{}
	if !allAbsent(items) {
		if localExec, err = fetchExecKeys(ctx, r.c.local.SQL(), t.executions, ids, ""); err != nil {
			o.err = fmt.Errorf("local: %w", err)
			return nil
		}
	}
	// Only executions that exist here can have stages here (a chunk writes or deletes an
	// execution and its stages together), so a bulk copy of new executions skips this read.
	var here []string
	for _, id := range ids {
		if _, ok := localExec[id]; ok {
			here = append(here, id)
		}
	}
	localStages, err := fetchStageKeys(ctx, r.c.local.SQL(), t.stages, here)
	if err != nil {
		o.err = fmt.Errorf("local: %w", err)
		return nil
	}

	read := &readBytes{limit: bound}
	ptx, err := r.p.DB.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		o.err = fmt.Errorf("peer %s: begin snapshot: %w", peerID, err)
		return nil
	}
	defer ptx.Rollback()
	var peerExec map[string]key
	var peerStages map[string][]key
	var plans []execPlan
	var execRows, stageRows, execComp, stageComp []row
	if len(here) == 0 {
		// None of the chunk is here yet (a bulk copy): every body is needed, so rows are read
		// whole, with their keys, in two statements rather than keys first and bodies after.
		if execRows, execComp, err = r.fetchBodies(ctx, ptx, t.executions, t.execColumns, "id", ids, hasCompressed, read); err != nil {
			o.err = fmt.Errorf("peer %s: %w", peerID, err)
			return nil
		}
		peerExec = map[string]key{}
		var owned []string
		for _, rw := range execRows {
			k := rowKey(rw, 0, -1, t.updatedColumn, t.partitionColumn)
			peerExec[k.id] = k
			if ownedBy(k, peerID) {
				owned = append(owned, k.id)
			}
		}
		if stageRows, stageComp, err = r.fetchBodies(ctx, ptx, t.stages, t.stageColumns, "execution_id", owned, hasCompressed, read); err != nil {
			o.err = fmt.Errorf("peer %s: %w", peerID, err)
			return nil
		}
		peerStages = map[string][]key{}
		for _, rw := range stageRows {
			k := rowKey(rw, 0, stageParentColumn, stageUpdatedColumn, -1)
			peerStages[k.parent] = append(peerStages[k.parent], k)
		}
		var gone []string
		plans, gone = planChunk(peerID, ids, peerExec, peerStages, localExec, localStages)
		o.gone = gone
	} else {
		if peerExec, err = fetchExecKeys(ctx, ptx, t.executions, ids, ""); err != nil {
			o.err = fmt.Errorf("peer %s: %w", peerID, err)
			return nil
		}
		var owned []string
		for _, id := range ids {
			if k, ok := peerExec[id]; ok && ownedBy(k, peerID) {
				owned = append(owned, id)
			}
		}
		if peerStages, err = fetchStageKeys(ctx, ptx, t.stages, owned); err != nil {
			o.err = fmt.Errorf("peer %s: %w", peerID, err)
			return nil
		}
		var gone []string
		plans, gone = planChunk(peerID, ids, peerExec, peerStages, localExec, localStages)
		o.gone = gone
		// Bodies of what differs only, from the same snapshot.
		var rowIDs, stageIDs []string
		for _, p := range plans {
			if p.writeRow {
				rowIDs = append(rowIDs, p.id)
			}
			stageIDs = append(stageIDs, p.stages...)
		}
		if execRows, execComp, err = r.fetchBodies(ctx, ptx, t.executions, t.execColumns, "id", rowIDs, hasCompressed, read); err != nil {
			o.err = fmt.Errorf("peer %s: %w", peerID, err)
			return nil
		}
		if stageRows, stageComp, err = r.fetchBodies(ctx, ptx, t.stages, t.stageColumns, "id", stageIDs, hasCompressed, read); err != nil {
			o.err = fmt.Errorf("peer %s: %w", peerID, err)
			return nil
		}
	}
	_ = ptx.Rollback() // read-only: nothing to commit
	if len(plans) == 0 {
		return nil
	}

	for _, er := range execRows {
		er[t.partitionColumn] = peerID
	}
	w := &chunkWrite{execRows: execRows, stageRows: stageRows, execComp: execComp, stageComp: stageComp, bulk: len(here) == 0, bytes: read.used}
	w.plans, w.quarantine = r.oversize(t, plans, peerExec, execRows, stageRows, execComp, stageComp)
	return w
}

// allAbsent reports whether no item was here when its page was read.
func allAbsent(items []item) bool {
	for _, it := range items {
		if !it.absent {
			return false
		}
	}
	return len(items) > 0
}

// writeGroup writes the chunks ws in one fenced local transaction and sets their outcomes
// outs: insert-only when every chunk is bulk (nothing of it was here), with upserts otherwise.
// If that fails and there are several, or it was insert-only, each is written again in its
// own transaction the careful way (locking re-read, upserts), so a bad chunk fails alone and
// a row that appeared here since the read is met as the careful path meets it.
func (r *peerRun) writeGroup(ctx context.Context, t table, ws []*chunkWrite, outs []*chunkOutcome) {
	if r.c.beforeWrite != nil {
		r.c.beforeWrite()
	}
	insertOnly := true
	for _, w := range ws {
		insertOnly = insertOnly && w.bulk
	}
	err := r.writeChunks(ctx, t, ws, outs, insertOnly)
	if err == nil {
		return
	}
	if len(ws) == 1 && !insertOnly {
		outs[0].err = fmt.Errorf("write %s chunk: %w", t.typ, err)
		return
	}
	if len(ws) > 1 && r.c.groupFailed != nil {
		r.c.groupFailed()
	}
	for i := range ws {
		if err := r.writeChunks(ctx, t, ws[i:i+1], outs[i:i+1], false); err != nil {
			outs[i].err = fmt.Errorf("write %s chunk: %w", t.typ, err)
		}
	}
}

// writeChunks writes ws in one fenced local transaction (the rows of all of them packed into
// statements together) and, when it commits, records what each chunk did in outs.
// insertOnly (bulk chunks: none of their executions was here when read) writes plain INSERTs
// without the locking re-read: any row that is here after all fails the transaction.
func (r *peerRun) writeChunks(ctx context.Context, t table, ws []*chunkWrite, outs []*chunkOutcome, insertOnly bool) error {
	var all chunkWrite
	for _, w := range ws {
		all.plans = append(all.plans, w.plans...)
		all.execRows = append(all.execRows, w.execRows...)
		all.stageRows = append(all.stageRows, w.stageRows...)
		all.execComp = append(all.execComp, w.execComp...)
		all.stageComp = append(all.stageComp, w.stageComp...)
		all.quarantine = append(all.quarantine, w.quarantine...)
	}
	var kept map[string]bool
	var stagesDeleted int
	if len(all.quarantine) > 0 {
		r.quarantines.Store(true)
	}
	err := r.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		write := r.writeChunk
		if insertOnly {
			write = r.insertChunk
		}
		if kept, stagesDeleted, err = write(ctx, tx, t, all.plans, all.execRows, all.stageRows, all.execComp, all.stageComp); err != nil {
			return err
		}
		if r.quarantines.Load() { // a version written here supersedes any quarantined one
			var written []string
			for _, p := range all.plans {
				if kept[p.id] {
					written = append(written, p.id)
				}
			}
			if err := r.unquarantine(ctx, tx, t.typ, written); err != nil {
				return err
			}
		}
		return r.quarantine(ctx, tx, t, all.quarantine)
	})
	if err != nil {
		return err
	}
	for i, w := range ws {
		o := outs[i]
		for _, p := range w.plans {
			if kept[p.id] {
				o.copied++
			}
		}
		o.quarantined = len(w.quarantine)
		for _, q := range w.quarantine {
			r.c.log.WarnContext(ctx, "peering quarantined an execution too large for any statement", "peer", r.p.ID, "executionType", string(t.typ),
				"execution", q.id, "table", q.table, "bytes", q.bytes, "budget", r.c.budget)
		}
	}
	outs[0].stagesDeleted = stagesDeleted // only a chunk written alone can have stale stages
	return nil
}

// quarantined is an execution left uncopied because one of its rows is larger than any
// statement the local server accepts.
type quarantined struct {
	id        string
	updatedAt sql.NullInt64
	table     string // the table of the largest offending row
	bytes     int    // that row's size in a statement
}

// oversize takes out of plans every execution one of whose rows (execution, stage or
// compressed body) cannot fit in a statement under the packet budget, and returns them. The
// whole execution is left out, so no half-copied execution is ever written.
func (r *peerRun) oversize(t table, plans []execPlan, peerExec map[string]key, execRows, stageRows, execComp, stageComp []row) ([]execPlan, []quarantined) {
	parent := map[string]string{} // stage id -> execution id
	for _, p := range plans {
		for _, s := range p.stages {
			parent[s] = p.id
		}
	}
	bad := map[string]quarantined{}
	check := func(tbl string, columns []string, rows []row, owner func(id string) string) {
		room := r.c.budget - statementFixed(tbl, columns)
		for _, rw := range rows {
			if n := rowSize(rw); n > room {
				id := owner(text(rw[0]))
				if q, ok := bad[id]; !ok || n > q.bytes {
					bad[id] = quarantined{id: id, table: tbl, bytes: n}
				}
			}
		}
	}
	self := func(id string) string { return id }
	stageOwner := func(id string) string { return parent[id] }
	check(t.executions, t.execColumns, execRows, self)
	check(t.stages, t.stageColumns, stageRows, stageOwner)
	check(compressed(t.executions), compressedColumns, execComp, self)
	check(compressed(t.stages), compressedColumns, stageComp, stageOwner)
	if len(bad) == 0 {
		return plans, nil
	}
	var keep []execPlan
	var out []quarantined
	for _, p := range plans {
		q, ok := bad[p.id]
		if !ok {
			keep = append(keep, p)
			continue
		}
		q.updatedAt = peerExec[p.id].updatedAt
		out = append(out, q)
	}
	return keep, out
}

// quarantine records executions left uncopied (one row per peer, type and execution, with
// the version that was too large), in the chunk's fenced transaction.
func (r *peerRun) quarantine(ctx context.Context, tx *sql.Tx, t table, qs []quarantined) error {
	for _, q := range qs {
		_, err := tx.ExecContext(ctx, `INSERT INTO peering_quarantine (peer_id, execution_type, execution_id, updated_at, row_bytes, reason, quarantined_at_ms)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE updated_at = VALUES(updated_at), row_bytes = VALUES(row_bytes),
			reason = VALUES(reason), quarantined_at_ms = VALUES(quarantined_at_ms)`,
			r.p.ID, string(t.typ), q.id, q.updatedAt, q.bytes,
			fmt.Sprintf("a row of %s is %d bytes, over the %d-byte statement budget (max_allowed_packet - 8 KiB)", q.table, q.bytes, r.c.budget),
			r.c.opts.Now().UnixMilli())
		if err != nil {
			return fmt.Errorf("quarantine %s %s: %w", t.typ, q.id, err)
		}
	}
	return nil
}

// unquarantine deletes the quarantine rows of ids (executions of type typ copied or deleted
// in tx): the table lists only executions still left uncopied.
func (r *peerRun) unquarantine(ctx context.Context, tx *sql.Tx, typ executions.Type, ids []string) error {
	for _, piece := range chunks(ids, 1000) {
		_, err := tx.ExecContext(ctx, "DELETE FROM peering_quarantine WHERE peer_id = ? AND execution_type = ? AND execution_id IN ("+placeholders(len(piece))+")",
			append([]any{r.p.ID, string(typ)}, anyStrings(piece)...)...)
		if err != nil {
			return fmt.Errorf("clear quarantine of %s executions: %w", typ, err)
		}
	}
	return nil
}

// quarantineCheck is how many quarantine rows one pass checks against the peer.
const quarantineCheck = 1000

// pruneQuarantine deletes the quarantine rows of executions the peer no longer has or owns
// (plainly deleted: no tombstone and no local copy will ever name them again). A later
// version at the peer is left to the copy, which clears the row when it writes it.
func (r *peerRun) pruneQuarantine(ctx context.Context) error {
	rs, err := r.c.local.SQL().QueryContext(ctx, "SELECT execution_type, execution_id FROM peering_quarantine WHERE peer_id = ? ORDER BY execution_type, execution_id LIMIT ?",
		r.p.ID, quarantineCheck)
	if err != nil {
		return fmt.Errorf("read quarantine: %w", err)
	}
	byType := map[executions.Type][]string{}
	for rs.Next() {
		var typ, id string
		if err = rs.Scan(&typ, &id); err != nil {
			break
		}
		byType[executions.Type(typ)] = append(byType[executions.Type(typ)], id)
	}
	if err = errors.Join(err, rs.Err(), rs.Close()); err != nil {
		return fmt.Errorf("read quarantine: %w", err)
	}
	for typ, ids := range byType {
		t, ok := tables[typ]
		if !ok {
			continue
		}
		at, err := fetchExecKeys(ctx, r.p.DB, t.executions, ids, "")
		if err != nil {
			return fmt.Errorf("peer %s: %w", r.p.ID, err)
		}
		var gone []string
		for _, id := range ids {
			if k, ok := at[id]; !ok || !ownedBy(k, r.p.ID) {
				gone = append(gone, id)
			}
		}
		if len(gone) == 0 {
			continue
		}
		if err := r.writeTx(ctx, func(tx *sql.Tx) error { return r.unquarantine(ctx, tx, typ, gone) }); err != nil {
			return err
		}
	}
	return nil
}

// ownedBy reports whether an execution row belongs to peer peerID: its partition, or NULL
// (a legacy row written before partitions existed). Locally, only partition = peerID rows
// are copies of that peer.
func ownedBy(k key, peerID string) bool { return !k.partition.Valid || k.partition.String == peerID }

// planChunk decides, from the keys alone, what a chunk writes: for each id, whether the
// execution row differs or is missing locally, which peer stages are missing or different
// locally and which local stages the peer no longer has. A local row whose partition is not
// the peer's (owned here, e.g. after a takeover, or by another peer) is never planned; a
// local copy whose execution the peer no longer has or owns is returned in gone. Executions
// with nothing to write are left out.
func planChunk(peerID string, ids []string, peerExec map[string]key, peerStages map[string][]key, localExec map[string]key, localStages map[string][]key) (plans []execPlan, gone []string) {
	for _, id := range ids {
		lk, inLocal := localExec[id]
		if inLocal && (!lk.partition.Valid || lk.partition.String != peerID) {
			continue
		}
		pk, atPeer := peerExec[id]
		if !atPeer || !ownedBy(pk, peerID) {
			if inLocal {
				gone = append(gone, id)
			}
			continue
		}
		p := execPlan{id: id, writeRow: !inLocal || !sameVersion(lk.updatedAt, pk.updatedAt)}
		have := map[string]key{}
		for _, s := range localStages[id] {
			have[s.id] = s
		}
		for _, s := range peerStages[id] {
			l, ok := have[s.id]
			if !ok || !sameVersion(l.updatedAt, s.updatedAt) {
				p.stages = append(p.stages, s.id)
				if ok {
					p.stagesHere = append(p.stagesHere, s.id)
				}
			}
			delete(have, s.id)
		}
		for sid := range have {
			p.staleStages = append(p.staleStages, sid)
		}
		slices.Sort(p.staleStages)
		if p.writeRow || len(p.stages) > 0 || len(p.staleStages) > 0 {
			plans = append(plans, p)
		}
	}
	return plans, gone
}

// writeChunk applies a chunk's plans in the local transaction tx.
func (r *peerRun) writeChunk(ctx context.Context, tx *sql.Tx, t table, plans []execPlan, execRows, stageRows, execComp, stageComp []row) (kept map[string]bool, stagesDeleted int, err error) {
	ids := make([]string, len(plans))
	for i, p := range plans {
		ids[i] = p.id
	}
	// Lock the existing rows and re-check ownership under the lock: a takeover that committed
	// since the plan was made wins.
	locked, err := fetchExecKeys(ctx, tx, t.executions, ids, " FOR UPDATE")
	if err != nil {
		return nil, 0, err
	}
	keep := map[string]bool{}
	var stale, keepStages, stagesHere, keepRows, rowsHere []string
	for _, p := range plans {
		k, ok := locked[p.id]
		if ok && (!k.partition.Valid || k.partition.String != r.p.ID) {
			continue
		}
		keep[p.id] = true
		stale = append(stale, p.staleStages...)
		keepStages = append(keepStages, p.stages...)
		stagesHere = append(stagesHere, p.stagesHere...)
		if p.writeRow {
			keepRows = append(keepRows, p.id)
			if ok {
				rowsHere = append(rowsHere, p.id)
			}
		}
	}
	for _, piece := range chunks(stale, r.c.opts.ChunkSize) {
		res, err := tx.ExecContext(ctx, "DELETE FROM "+t.stages+" WHERE id IN ("+placeholders(len(piece))+")", anyStrings(piece)...)
		if err != nil {
			return nil, 0, fmt.Errorf("delete stale stages: %w", err)
		}
		n, _ := res.RowsAffected()
		stagesDeleted += int(n)
	}
	stageRows = filterRows(stageRows, 2, keep) // execution_id is column 2 of a stage
	if _, err := upsert(ctx, tx, t.stages, t.stageColumns, stageRows, r.c.budget); err != nil {
		return nil, 0, err
	}
	if err := r.syncCompressed(ctx, tx, compressed(t.stages), keepStages, stagesHere, stageComp); err != nil {
		return nil, 0, err
	}
	execRows = filterRows(execRows, 0, keep)
	if _, err := upsert(ctx, tx, t.executions, t.execColumns, execRows, r.c.budget); err != nil {
		return nil, 0, err
	}
	if err := r.syncCompressed(ctx, tx, compressed(t.executions), keepRows, rowsHere, execComp); err != nil {
		return nil, 0, err
	}
	return keep, stagesDeleted, nil
}

// insertChunk writes bulk chunks' plans in the local transaction tx with plain INSERTs: the
// stages, their compressed bodies, the executions and theirs (parents before the rows that
// reference them). Nothing was here when the chunks were read; a row that is here now (a
// local execution with a colliding id, say) fails the insert and the transaction, and the
// caller writes the chunks again the careful way.
func (r *peerRun) insertChunk(ctx context.Context, tx *sql.Tx, t table, plans []execPlan, execRows, stageRows, execComp, stageComp []row) (kept map[string]bool, stagesDeleted int, err error) {
	kept = make(map[string]bool, len(plans))
	for _, p := range plans {
		kept[p.id] = true
	}
	for _, w := range []struct {
		tbl     string
		columns []string
		rows    []row
	}{
		{t.stages, t.stageColumns, stageRows},
		{compressed(t.stages), compressedColumns, stageComp},
		{t.executions, t.execColumns, execRows},
		{compressed(t.executions), compressedColumns, execComp},
	} {
		if _, err := insertRows(ctx, tx, w.tbl, w.columns, w.rows, r.c.budget); err != nil {
			return nil, 0, err
		}
	}
	return kept, 0, nil
}

// syncCompressed makes the local compressed-body rows of ids equal the peer's rows: upserts
// the peer's, deletes local ones the peer no longer has (the body is stored plainly again).
// Only ids in here (parents that existed locally) can have a local compressed row to delete.
func (r *peerRun) syncCompressed(ctx context.Context, tx *sql.Tx, tbl string, ids, here []string, peerRows []row) error {
	if len(ids) == 0 {
		return nil
	}
	want := map[string]bool{}
	var rows []row
	idSet := map[string]bool{}
	for _, id := range ids {
		idSet[id] = true
	}
	for _, pr := range peerRows {
		id := text(pr[0])
		if idSet[id] {
			want[id] = true
			rows = append(rows, pr)
		}
	}
	var drop []string
	for _, id := range here {
		if !want[id] {
			drop = append(drop, id)
		}
	}
	for _, piece := range chunks(drop, 1000) {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+tbl+" WHERE id IN ("+placeholders(len(piece))+")", anyStrings(piece)...); err != nil {
			return fmt.Errorf("delete stale %s: %w", tbl, err)
		}
	}
	_, err := upsert(ctx, tx, tbl, compressedColumns, rows, r.c.budget)
	return err
}

// filterRows keeps rows whose column col (an id) is in keep.
func filterRows(rows []row, col int, keep map[string]bool) []row {
	out := rows[:0:0]
	for _, rw := range rows {
		if rw[col] != nil && keep[text(rw[col])] {
			out = append(out, rw)
		}
	}
	return out
}

// rowKey reads a key from a raw row: the id, parent (stage's execution_id), updated_at and
// partition columns at the given indexes (-1: absent).
func rowKey(rw row, idCol, parentCol, updatedCol, partitionCol int) key {
	k := key{id: text(rw[idCol])}
	if parentCol >= 0 {
		k.parent = text(rw[parentCol])
	}
	if v := rw[updatedCol]; v != nil {
		if n, err := strconv.ParseInt(text(v), 10, 64); err == nil {
			k.updatedAt = sql.NullInt64{Int64: n, Valid: true}
		}
	}
	if partitionCol >= 0 && rw[partitionCol] != nil {
		k.partition = sql.NullString{String: text(rw[partitionCol]), Valid: true}
	}
	return k
}

// bodyPiece is how many ids one body read names.
const bodyPiece = 500

// fetchBodies reads the rows of tbl with the given ids and, when the peer has Orca's
// compressed-body tables, their compressed bodies in the same statement (a LEFT JOIN): rows
// as tbl's columns, comp as compressedColumns.
// Every row read is counted in read, which stops the reads with errOverBudget past its limit.
func (r *peerRun) fetchBodies(ctx context.Context, q querier, tbl string, columns []string, by string, ids []string, withCompressed bool, read *readBytes) (rows, comp []row, err error) {
	n := len(columns)
	sel := "SELECT t." + strings.Join(columns, ", t.")
	from := " FROM " + tbl + " t"
	if withCompressed {
		sel += ", c.id, c.compressed_body, c.compression_type"
		from += " LEFT JOIN " + compressed(tbl) + " c ON c.id = t.id"
		n += len(compressedColumns)
	}
	for _, piece := range chunks(ids, bodyPiece) {
		got, err := scan(ctx, q, read.counting(rawRow(n)), sel+from+" WHERE t."+by+" IN ("+placeholders(len(piece))+")", anyStrings(piece)...)
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", tbl, err)
		}
		for _, g := range got {
			rows = append(rows, g[:len(columns):len(columns)])
			if withCompressed && g[len(columns)] != nil {
				comp = append(comp, g[len(columns):])
			}
		}
	}
	return rows, comp, nil
}

// writeTx runs fn in a local READ COMMITTED transaction fenced by the peer's lease, retrying
// deadlocks and lock wait timeouts. READ COMMITTED takes no gap locks, so parallel chunks
// inserting neighbouring ULIDs do not deadlock each other.
func (r *peerRun) writeTx(ctx context.Context, fn func(*sql.Tx) error) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = r.writeTxOnce(ctx, fn)
		var me *mysql.MySQLError
		if err == nil || !errors.As(err, &me) || (me.Number != 1213 && me.Number != 1205) {
			return err
		}
	}
	return err
}

func (r *peerRun) writeTxOnce(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := r.c.local.SQL().BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if err := r.fence(ctx, tx); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// errLeaseLost means another copier took over this peer's lease: stop writing.
var errLeaseLost = errors.New("peer lease was taken over")

// fence checks, under a shared lock on the lease row, that this copier still holds the peer's
// lease with its token. Chunks share the lock and run in parallel; a takeover (an UPDATE of
// the row) waits for them, and after it they fail here.
func (r *peerRun) fence(ctx context.Context, tx *sql.Tx) error {
	var holder string
	var token uint64
	err := tx.QueryRowContext(ctx, "SELECT holder, token FROM leases WHERE name = ? LOCK IN SHARE MODE", r.lease.Name).Scan(&holder, &token)
	if err != nil {
		return fmt.Errorf("check lease %s: %w", r.lease.Name, err)
	}
	if holder != r.lease.Holder || token != r.lease.Token {
		return fmt.Errorf("lease %s (token %d, now %d held by %s): %w", r.lease.Name, r.lease.Token, token, holder, errLeaseLost)
	}
	return nil
}

// peerHasCompressed reports whether the peer has Orca's *_compressed_executions tables
// (added in 2024; older Orca databases lack them).
func (r *peerRun) peerHasCompressed(ctx context.Context) (bool, error) {
	r.p.mu.Lock()
	defer r.p.mu.Unlock()
	if r.p.hasCompressed != nil {
		return *r.p.hasCompressed, nil
	}
	var n int
	err := r.p.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name IN
		('pipelines_compressed_executions', 'pipeline_stages_compressed_executions', 'orchestrations_compressed_executions', 'orchestration_stages_compressed_executions')`).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("peer %s: look for compressed-body tables: %w", r.p.ID, err)
	}
	has := n == 4
	r.p.hasCompressed = &has
	return has, nil
}

// deleteExecutions deletes local copies of the peer's executions (stages first, then the
// rows; compressed bodies go by their ON DELETE CASCADE keys), in pieces of ChunkSize, each in
// a fenced transaction. Only rows whose partition is the peer's are touched. It returns how
// many executions were deleted.
func (r *peerRun) deleteExecutions(ctx context.Context, t table, ids []string) (int, error) {
	total := 0
	for _, piece := range chunks(ids, r.c.opts.ChunkSize) {
		n := 0
		err := r.writeTx(ctx, func(tx *sql.Tx) error {
			n = 0
			if err := r.unquarantine(ctx, tx, t.typ, piece); err != nil {
				return err
			}
			args := append(anyStrings(piece), r.p.ID)
			mine, err := fetchIDs(ctx, tx, "SELECT id FROM "+t.executions+" WHERE id IN ("+placeholders(len(piece))+") AND `partition` = ? FOR UPDATE", args...)
			if err != nil {
				return fmt.Errorf("lock %s copies: %w", t.typ, err)
			}
			if len(mine) == 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM "+t.stages+" WHERE execution_id IN ("+placeholders(len(mine))+")", anyStrings(mine)...); err != nil {
				return fmt.Errorf("delete %s stages: %w", t.typ, err)
			}
			res, err := tx.ExecContext(ctx, "DELETE FROM "+t.executions+" WHERE id IN ("+placeholders(len(mine))+") AND `partition` = ?", append(anyStrings(mine), r.p.ID)...)
			if err != nil {
				return fmt.Errorf("delete %s copies: %w", t.typ, err)
			}
			c, _ := res.RowsAffected()
			n = int(c)
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}
