package peering

import (
	"context"
	"sync"
	"testing"
)

// oneWorkerOptions copy 10 new executions as one page of 5 chunks on one worker (one group).
func oneWorkerOptions() Options {
	opts := testOptions()
	opts.ThreadCount, opts.ChunkSize, opts.PageSize = 1, 2, 20
	return opts
}

// failInsertOf makes the local insert of execution id fail, as a bad row would.
func failInsertOf(t *testing.T, p *pair, id string) {
	t.Helper()
	mustExec(t, p.local, "CREATE TRIGGER fail_pipeline_insert BEFORE INSERT ON pipelines FOR EACH ROW IF NEW.id = '"+id+
		"' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'bad row'; END IF")
	t.Cleanup(func() { mustExec(t, p.local, "DROP TRIGGER IF EXISTS fail_pipeline_insert") })
}

// TestGroupFailingMidwayLeavesNothing: the new chunks a worker reads are written in one
// transaction, so when it fails at its third chunk and the pass stops there (the deadline, a
// crash), no chunk of the group has rows or a watermark; the next passes converge.
func TestGroupFailingMidwayLeavesNothing(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	seedHistory(t, p.peer, 10, 0)
	failInsertOf(t, p, "H00004") // the first execution of the third chunk
	c := p.copier(t, oneWorkerOptions(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	c.groupFailed = cancel // the copier stops before writing the chunks one by one
	if _, err := c.Pass(ctx); err != nil {
		t.Fatalf("Pass: %v", err)
	}
	if n := countRows(t, p.local, "SELECT COUNT(*) FROM pipelines"); n != 0 {
		t.Errorf("%d executions copied by a failed group; want 0", n)
	}
	if n := countRows(t, p.local, "SELECT COUNT(*) FROM pipeline_stages"); n != 0 {
		t.Errorf("%d stages copied by a failed group; want 0", n)
	}
	if h := getState(t, p.local, "pipeline").HighMark; h >= 1000 {
		t.Errorf("high mark %d passed rows the failed group did not commit", h)
	}
	mustExec(t, p.local, "DROP TRIGGER fail_pipeline_insert")
	c.groupFailed = nil
	pass(t, c)
	pass(t, c)
	assertConverged(t, p)
}

// TestBadChunkFailsAlone: a chunk that cannot be written fails alone, pass after pass (its
// group's transaction fails, then the group's chunks are written one by one): the other
// chunks of its page are copied, only it counts an error, the watermark stays below it, and
// once the row can be written the copy converges.
func TestBadChunkFailsAlone(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	seedHistory(t, p.peer, 10, 0)
	failInsertOf(t, p, "H00005") // the second execution of the third chunk
	c := p.copier(t, oneWorkerOptions(), nil)
	groups := 0
	c.groupFailed = func() { groups++ }
	for i := range 2 { // the bad chunk blocks nothing but itself, pass after pass
		s := pass(t, c)
		if s.NumErrors != 1 || s.NumPeered != 8*(1-i) {
			t.Errorf("pass %d: %d errors, %d peered; want 1 error (the bad chunk) and %d peered", i, s.NumErrors, s.NumPeered, 8*(1-i))
		}
		if n := countRows(t, p.local, "SELECT COUNT(*) FROM pipelines"); n != 8 {
			t.Errorf("pass %d: %d executions copied; want the 8 outside the bad chunk", i, n)
		}
		if h := getState(t, p.local, "pipeline").HighMark; h >= 1004 {
			t.Errorf("pass %d: high mark %d passed the bad chunk (updated_at 1004)", i, h)
		}
	}
	if groups != 1 {
		t.Errorf("%d grouped writes failed; want 1 (the second pass has one new chunk, written alone)", groups)
	}
	mustExec(t, p.local, "DROP TRIGGER fail_pipeline_insert")
	if s := pass(t, c); s.NumErrors != 0 || s.NumPeered != 2 {
		t.Errorf("recovery pass: %+v; want the bad chunk's 2 executions and no error", s)
	}
	assertConverged(t, p)
}

// TestRowAppearingBeforeAnInsertOnlyWrite: chunks whose executions were all missing here when
// their page was read are written insert-only, without the locking re-read. A row that
// appears here before the write (a local execution with a colliding id) fails that insert;
// the chunks are then written the careful way, which leaves the local row and its absence of
// stages alone and copies the rest, without an error.
func TestRowAppearingBeforeAnInsertOnlyWrite(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	seedHistory(t, p.peer, 10, 0)
	c := p.copier(t, oneWorkerOptions(), nil)
	var once sync.Once
	c.beforeWrite = func() {
		once.Do(func() {
			mustExec(t, p.local, "INSERT INTO pipelines (id, `partition`, application, status, build_time, updated_at, body) VALUES ('H00003', ?, 'mine', 'RUNNING', 1, 5, 'local body')", localPartition)
		})
	}
	groups := 0
	c.groupFailed = func() { groups++ }
	if s := pass(t, c); s.NumErrors != 0 || s.NumPeered != 9 {
		t.Errorf("pass: %+v; want the 9 executions not owned here copied and no error", s)
	}
	if groups != 1 {
		t.Errorf("%d grouped writes failed; want 1 (the insert-only group meeting the local row)", groups)
	}
	var owner, body string
	if err := p.local.SQL().QueryRow("SELECT `partition`, body FROM pipelines WHERE id = 'H00003'").Scan(&owner, &body); err != nil {
		t.Fatal(err)
	}
	if owner != localPartition || body != "local body" {
		t.Errorf("local row H00003 = (%s, %q); want it untouched (%s, \"local body\")", owner, body, localPartition)
	}
	if n := countRows(t, p.local, "SELECT COUNT(*) FROM pipeline_stages WHERE execution_id = 'H00003'"); n != 0 {
		t.Errorf("%d of the peer's stages written under the local execution H00003; want 0", n)
	}
	if n := countRows(t, p.local, "SELECT COUNT(*) FROM pipeline_stages"); n != 27 {
		t.Errorf("%d stages copied; want 27 (3 for each of the 9 copied executions)", n)
	}
	if h := getState(t, p.local, "pipeline").HighMark; h < 1009 {
		t.Errorf("high mark %d; want it past every clean chunk (1009)", h)
	}
}
