package peering

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/store"
)

// peerWorld drives random changes at the peer the way Orca writes them.
type peerWorld struct {
	t     *testing.T
	db    *store.DB
	rng   *rand.Rand
	clock int64
	live  map[string]executions.Type
	ids   []string
	n     int
}

func (w *peerWorld) tick() int64 {
	w.clock += w.rng.Int63n(40) + 1
	if w.rng.Intn(8) == 0 {
		return w.clock - w.rng.Int63n(8) // a writer whose clock is a little behind (within the drift)
	}
	return w.clock
}

// body returns a random body with bytes that need escaping and multi-byte UTF-8.
func (w *peerWorld) body() string {
	parts := []string{`{"a":`, `"x\\y"`, `'q'`, "\"", "\n", "\r", "é", "日本", "\x1a", "😀", "0", strconv.Itoa(w.rng.Intn(1e6))}
	var b strings.Builder
	for i := 0; i < 3+w.rng.Intn(12); i++ {
		b.WriteString(parts[w.rng.Intn(len(parts))])
	}
	return b.String()
}

func (w *peerWorld) blob() []byte {
	b := make([]byte, 1+w.rng.Intn(64))
	w.rng.Read(b)
	return b
}

func (w *peerWorld) status(active bool) string {
	if active {
		return []string{"NOT_STARTED", "RUNNING", "PAUSED", "SUSPENDED", "REDIRECT", "BUFFERED"}[w.rng.Intn(6)]
	}
	return []string{"CANCELED", "SUCCEEDED", "STOPPED", "SKIPPED", "TERMINAL", "FAILED_CONTINUE"}[w.rng.Intn(6)]
}

// write stores an execution's row and (re)writes stages, with compressed bodies at random.
func (w *peerWorld) write(typ executions.Type, id string, partition any, status string, insert bool) {
	tb := tables[typ]
	u := w.tick()
	body, compress := w.body(), w.rng.Intn(5) == 0
	if compress {
		body = ""
	}
	if insert {
		mustExec(w.t, w.db, "INSERT INTO "+tb.executions+" (id, `partition`, application, status, build_time, start_time, updated_at, canceled, body) VALUES (?, ?, 'app', ?, ?, ?, ?, ?, ?)",
			id, partition, status, u, u, u, []byte{byte(w.rng.Intn(2))}, body)
	} else {
		mustExec(w.t, w.db, "UPDATE "+tb.executions+" SET status = ?, updated_at = ?, canceled = ?, body = ? WHERE id = ?", status, u, []byte{byte(w.rng.Intn(2))}, body, id)
	}
	mustExec(w.t, w.db, "DELETE FROM "+compressed(tb.executions)+" WHERE id = ?", id)
	if compress {
		mustExec(w.t, w.db, "INSERT INTO "+compressed(tb.executions)+" (id, compressed_body, compression_type) VALUES (?, ?, 'GZIP')", id, w.blob())
	}
	w.stages(typ, id)
}

// stages adds, changes and removes some of an execution's stages.
func (w *peerWorld) stages(typ executions.Type, id string) {
	tb := tables[typ]
	existing, err := fetchIDs(context.Background(), w.db.SQL(), "SELECT id FROM "+tb.stages+" WHERE execution_id = ?", id)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, s := range existing {
		switch w.rng.Intn(4) {
		case 0:
			mustExec(w.t, w.db, "DELETE FROM "+tb.stages+" WHERE id = ?", s)
		case 1:
			mustExec(w.t, w.db, "UPDATE "+tb.stages+" SET updated_at = ?, body = ?, status = ? WHERE id = ?", w.tick(), w.body(), w.status(w.rng.Intn(2) == 0), s)
		}
	}
	for i := 0; i < w.rng.Intn(3); i++ {
		w.n++
		sid := fmt.Sprintf("%s-s%d", id, w.n)
		body := w.body()
		comp := w.rng.Intn(5) == 0
		if comp {
			body = ""
		}
		mustExec(w.t, w.db, "INSERT INTO "+tb.stages+" (id, execution_id, status, updated_at, body) VALUES (?, ?, ?, ?, ?)", sid, id, w.status(w.rng.Intn(2) == 0), w.tick(), body)
		if comp {
			mustExec(w.t, w.db, "INSERT INTO "+compressed(tb.stages)+" (id, compressed_body) VALUES (?, ?)", sid, w.blob())
		}
	}
}

func (w *peerWorld) pick() (string, executions.Type, bool) {
	if len(w.ids) == 0 {
		return "", "", false
	}
	i := w.rng.Intn(len(w.ids))
	id := w.ids[i]
	typ, ok := w.live[id]
	if !ok {
		w.ids = append(w.ids[:i], w.ids[i+1:]...)
		return "", "", false
	}
	return id, typ, true
}

func (w *peerWorld) step() {
	switch k := w.rng.Intn(20); {
	case k < 8 || len(w.live) == 0: // a new execution, owned by the peer, legacy (NULL) or by a third region
		w.n++
		id := fmt.Sprintf("E%05d", w.n)
		typ := executionTypes[w.rng.Intn(2)]
		var partition any = peerID
		switch w.rng.Intn(6) {
		case 0, 1:
			partition = nil
		case 2:
			partition = "third-region"
		}
		w.write(typ, id, partition, w.status(w.rng.Intn(2) == 0), true)
		w.live[id] = typ
		w.ids = append(w.ids, id)
	case k < 13: // an update: new body, stages, maybe a status change (completed <-> active)
		if id, typ, ok := w.pick(); ok {
			w.write(typ, id, w.partitionOf(typ, id), w.status(w.rng.Intn(2) == 0), false)
		}
	case k < 16: // a stage of a running execution stored on its own: the parent's updated_at stays
		if id, typ, ok := w.pick(); ok && w.active(typ, id) {
			w.stages(typ, id)
		}
	default: // deleted, with a tombstone
		if id, typ, ok := w.pick(); ok {
			tombstone(w.t, w.db, typ, id)
			delete(w.live, id)
		}
	}
}

func (w *peerWorld) active(typ executions.Type, id string) bool {
	var status string
	if err := w.db.SQL().QueryRow("SELECT status FROM "+tables[typ].executions+" WHERE id = ?", id).Scan(&status); err != nil {
		w.t.Fatal(err)
	}
	return !strings.Contains(completedStatuses, "'"+status+"'")
}

func (w *peerWorld) partitionOf(typ executions.Type, id string) any {
	var p *string
	if err := w.db.SQL().QueryRow("SELECT `partition` FROM "+tables[typ].executions+" WHERE id = ?", id).Scan(&p); err != nil {
		w.t.Fatal(err)
	}
	if p == nil {
		return nil
	}
	return *p
}

// TestConvergence applies random inserts, updates, status changes, stage-only changes and
// deletions with tombstones at the peer over many passes (and cold starts), then checks that
// the local copies equal the peer's owned executions byte for byte, with the peer's
// partition, and that the local region's own rows were never touched.
func TestConvergence(t *testing.T) {
	t.Parallel()
	seed := time.Now().UnixNano()
	if s := os.Getenv("PEERING_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("seed %d (rerun with PEERING_SEED=%d)", seed, seed)
	p := newPair(t)
	w := &peerWorld{t: t, db: p.peer, rng: rand.New(rand.NewSource(seed)), clock: time.Now().Add(-time.Hour).UnixMilli(), live: map[string]executions.Type{}}
	// Rows the local region owns, including one whose id the peer also uses (a takeover).
	putExec(t, p.local, exec{typ: executions.Pipeline, id: "L1", partition: localPartition, updatedAt: 1, stages: []stage{{id: "L1-s", updatedAt: 1}}})
	putExec(t, p.local, exec{typ: executions.Orchestration, id: "L2", partition: nil, status: "RUNNING", updatedAt: 1})
	// The takeover collision is fixed, not left to the random world: the peer still holds its
	// own copy of "TAKEN" (the id the random world never makes), the local region took it over.
	putExec(t, p.local, exec{typ: executions.Pipeline, id: "TAKEN", partition: localPartition, status: "RUNNING", updatedAt: 1, body: "taken over"})
	putExec(t, p.peer, exec{typ: executions.Pipeline, id: "TAKEN", partition: peerID, status: "RUNNING", updatedAt: w.tick(), body: "the peer's copy"})
	ownBefore := dump(t, p.local, executions.Pipeline, "`partition` = ? OR `partition` IS NULL", localPartition)
	ownBeforeO := dump(t, p.local, executions.Orchestration, "`partition` = ? OR `partition` IS NULL", localPartition)

	opts := testOptions()
	opts.MaxAllowedDeleteCount = 1000
	c := p.copier(t, opts, nil)
	for round := 0; round < 30; round++ {
		for i := 0; i < 1+w.rng.Intn(6); i++ {
			w.step()
		}
		if round%9 == 8 {
			c = p.copier(t, opts, nil) // a cold start: state comes from MySQL
		}
		if s := pass(t, c); s.NumErrors != 0 {
			t.Fatalf("round %d: %d errors", round, s.NumErrors)
		}
	}
	pass(t, c)
	pass(t, c)
	// The takeover row TAKEN stays local; leave the peer's copy out of the comparison.
	mustExec(t, p.peer, "UPDATE pipelines SET `partition` = 'third-region' WHERE id = 'TAKEN'")
	assertConverged(t, p)
	if got := dump(t, p.local, executions.Pipeline, "`partition` = ? OR `partition` IS NULL", localPartition); fmt.Sprint(got) != fmt.Sprint(ownBefore) {
		t.Errorf("local-owned pipelines changed:\n got %v\nwant %v", got, ownBefore)
	}
	if got := dump(t, p.local, executions.Orchestration, "`partition` = ? OR `partition` IS NULL", localPartition); fmt.Sprint(got) != fmt.Sprint(ownBeforeO) {
		t.Errorf("local-owned orchestrations changed:\n got %v\nwant %v", got, ownBeforeO)
	}
	var foreign int
	p.local.SQL().QueryRow("SELECT (SELECT COUNT(*) FROM pipelines WHERE `partition` = 'third-region') + (SELECT COUNT(*) FROM orchestrations WHERE `partition` = 'third-region')").Scan(&foreign)
	if foreign != 0 {
		t.Errorf("%d executions of a third region were copied", foreign)
	}
}

// seedHistory puts n completed and a active executions with 3 stages each at the peer.
func seedHistory(t *testing.T, db *store.DB, n, active int) {
	for i := 0; i < n+active; i++ {
		status := "SUCCEEDED"
		if i >= n {
			status = "RUNNING"
		}
		id := fmt.Sprintf("H%05d", i)
		putExec(t, db, exec{typ: executions.Pipeline, id: id, partition: peerID, status: status, updatedAt: int64(1000 + i), body: strings.Repeat("b", 500),
			stages: []stage{{id: id + "-1", updatedAt: int64(1000 + i)}, {id: id + "-2", updatedAt: int64(1000 + i)}, {id: id + "-3", updatedAt: int64(1000 + i)}}})
	}
}

func countRows(t *testing.T, db *store.DB, q string) int {
	var n int
	if err := db.SQL().QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) (string, int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().(*net.TCPAddr)
	ln.Close()
	return "127.0.0.1", a.Port
}

func TestPeerUnreachableOrDroppingMidPass(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	cases := []struct {
		name string
		open func(t *testing.T) Peer
		// mayDeleteConfirmed: a peer that drops mid-pass may have answered some snapshot
		// reads before it dropped; copies those reads proved gone may be deleted, no others.
		mayDeleteConfirmed bool
	}{
		{name: "unreachable (closed port)", open: func(t *testing.T) Peer {
			cfg := p.peerCfg
			cfg.Host, cfg.Port = closedPort(t)
			db := openVia(t, cfg, nil)
			return Peer{ID: peerID, DB: db}
		}},
		{name: "drops mid-pass", open: func(t *testing.T) Peer {
			px := newProxy(t, "127.0.0.1:3306")
			px.budget.Store(12 << 10) // cut after 12 KiB from the server: inside the copy
			return Peer{ID: peerID, DB: openVia(t, p.peerCfg, px)}
		}, mayDeleteConfirmed: true},
		{name: "handle closed", open: func(t *testing.T) Peer {
			db := openVia(t, p.peerCfg, nil)
			db.Close()
			return Peer{ID: peerID, DB: db}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p.reset(t)
			seedHistory(t, p.peer, 30, 5)
			good := p.copier(t, testOptions(), nil)
			pass(t, good)
			pass(t, good)
			// The peer moves on: updates, new stages, deletions with tombstones.
			for i := 0; i < 30; i += 3 {
				id := fmt.Sprintf("H%05d", i)
				putExec(t, p.peer, exec{typ: executions.Pipeline, id: id, partition: peerID, updatedAt: int64(5000 + i), body: "changed",
					stages: []stage{{id: id + "-1", updatedAt: int64(5000 + i)}, {id: id + "-9", updatedAt: int64(5000 + i)}}})
				mustExec(t, p.peer, "DELETE FROM pipeline_stages WHERE id = ?", id+"-2")
			}
			tombstoned := map[string]bool{}
			for i := 1; i < 30; i += 7 {
				id := fmt.Sprintf("H%05d", i)
				tombstone(t, p.peer, executions.Pipeline, id)
				tombstoned[id] = true
			}
			before := versions(t, p.local, executions.Pipeline, "1=1")
			bad := p.copier(t, testOptions(), nil, tc.open(t))
			s := pass(t, bad)
			if s.NumErrors == 0 || (!tc.mayDeleteConfirmed && s.NumDeleted != 0) {
				t.Errorf("bad peer: numErrors %d numDeleted %d; want errors counted and nothing deleted", s.NumErrors, s.NumDeleted)
			}
			after := versions(t, p.local, executions.Pipeline, "1=1")
			for id := range before {
				if _, ok := after[id]; !ok && (!tc.mayDeleteConfirmed || !tombstoned[id]) {
					t.Errorf("%s was deleted locally during the failed pass; the peer still has it or never confirmed its deletion", id)
				}
			}
			if s := pass(t, good); s.NumErrors != 0 {
				t.Errorf("recovery pass: %d errors", s.NumErrors)
			}
			assertConverged(t, p)
		})
	}
}

func TestPassCancelledByDeadlineStopsCleanly(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	seedHistory(t, p.peer, 40, 0)
	c := p.copier(t, testOptions(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	var chunksDone atomic.Int32 // chunks finish on several workers
	c.afterChunk = func() {
		if chunksDone.Add(1) == 3 {
			cancel() // the deadline arrives in the middle of the first page
		}
	}
	s, err := c.Pass(ctx)
	if err != nil {
		t.Fatalf("Pass: %v", err)
	}
	copied := countRows(t, p.local, "SELECT COUNT(*) FROM pipelines")
	if got := s.Peers[peerID]; got.NumErrors != 0 || copied == 0 || copied >= 40 {
		t.Errorf("cut pass: %+v with %d copied; want a partial copy and no errors counted", got, copied)
	}
	if h := getState(t, p.local, "pipeline").HighMark; h >= 1039 {
		t.Errorf("high mark %d moved to the end although the pass was cut short", h)
	}
	c.afterChunk = nil
	pass(t, c)
	pass(t, c)
	assertConverged(t, p)
}

func TestRunStopsBeforeDeadline(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	seedHistory(t, p.peer, 10, 2)
	opts := testOptions()
	opts.IntervalMs = 50
	// Margins wide enough for a loaded machine (the suite runs tests in parallel): passes may
	// start for 3 s, and the copier has 3 s after that to wind down before the deadline.
	opts.StopMargin = 3 * time.Second
	c := p.copier(t, opts, nil)
	deadline := time.Now().Add(6 * time.Second)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	s, err := c.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if now := time.Now(); now.After(deadline) {
		t.Errorf("Run returned %v after the deadline", now.Sub(deadline))
	}
	if got := s.Peers[peerID]; got == nil || got.Passes < 2 || got.NumErrors != 0 {
		t.Errorf("Run summary %+v; want several clean passes", got)
	}
	assertConverged(t, p)
}

func TestTwoCopiersAtOnce(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	seedHistory(t, p.peer, 20, 3)
	for i := 0; i < 5; i++ { // copies the peer no longer has: the diff deletes them
		putExec(t, p.local, exec{typ: executions.Pipeline, id: fmt.Sprintf("GONE%d", i), partition: peerID, updatedAt: int64(1001 + i)})
	}
	rec := &fakeRecorder{}
	a, b := p.copier(t, testOptions(), rec), p.copier(t, testOptions(), rec)
	release := make(chan struct{})
	blocked := make(chan struct{})
	var once sync.Once
	a.afterChunk = func() { once.Do(func() { close(blocked); <-release }) }
	var sa PeerSummary
	done := make(chan struct{})
	go func() { defer close(done); s, _ := a.Pass(context.Background()); sa = *s.Peers[peerID] }()
	<-blocked
	sb := pass(t, b) // while a works the peer
	close(release)
	<-done
	if sa.Passes != 1 || sb.Passes != 0 || sb.Skipped != 1 {
		t.Errorf("a %+v, b %+v; want a to work the peer and b to skip it", sa, sb)
	}
	// Then both at once, repeatedly: whichever gets the lease works.
	for i := 0; i < 3; i++ {
		var wg sync.WaitGroup
		for _, c := range []*Copier{a, b} {
			wg.Add(1)
			go func() { defer wg.Done(); c.Pass(context.Background()) }()
		}
		wg.Wait()
	}
	pass(t, a)
	assertConverged(t, p)
	if n := len(rec.all()); n != 1 {
		t.Errorf("%d peeringDelete executions recorded, want 1 (no duplicate work)", n)
	}
}

func TestNeverOverwritesLocallyOwnedRows(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	for _, typ := range executionTypes {
		putExec(t, p.peer, exec{typ: typ, id: "T1", partition: peerID, status: "RUNNING", updatedAt: 10, body: "peer",
			stages: []stage{{id: "T1-" + string(typ), updatedAt: 10, body: "peer stage"}}})
		// Taken over: the local region owns it now, with progress of its own.
		putExec(t, p.local, exec{typ: typ, id: "T1", partition: localPartition, status: "RUNNING", updatedAt: 5, body: "mine",
			stages: []stage{{id: "T1-" + string(typ), updatedAt: 5, body: "my stage"}}})
	}
	setState(t, p.local, "pipeline", 0, true, 0)
	setState(t, p.local, "orchestration", 0, true, 0)
	mustExec(t, p.peer, "INSERT INTO deleted_executions (execution_id, deleted_at, execution_type) VALUES ('T1', NOW(), 'pipeline')")
	want := map[executions.Type]map[string]string{}
	for _, typ := range executionTypes {
		want[typ] = dump(t, p.local, typ, "1=1")
	}
	c := p.copier(t, testOptions(), nil)
	pass(t, c)
	for _, typ := range executionTypes {
		putExec(t, p.peer, exec{typ: typ, id: "T1", partition: peerID, status: "SUCCEEDED", updatedAt: 20, body: "peer done"})
	}
	pass(t, c)
	for _, typ := range executionTypes {
		if got := dump(t, p.local, typ, "1=1"); fmt.Sprint(got) != fmt.Sprint(want[typ]) {
			t.Errorf("%s: local-owned row changed:\n got %v\nwant %v", typ, got, want[typ])
		}
		if v := versions(t, p.local, typ, "`partition` = ?", localPartition); len(v) != 1 {
			t.Errorf("%s: partition of the taken-over row changed: %v", typ, v)
		}
	}
}

func TestCompressedBodies(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	t.Run("copied byte for byte, dropped when the peer stores the body plainly again", func(t *testing.T) {
		p.reset(t)
		putExec(t, p.peer, exec{typ: executions.Orchestration, id: "Z1", partition: peerID, updatedAt: 10, body: "\x00",
			stages: []stage{{id: "Z1-s", updatedAt: 10, body: "\x00"}}})
		mustExec(t, p.peer, "UPDATE orchestrations SET body = '' WHERE id = 'Z1'")
		mustExec(t, p.peer, "UPDATE orchestration_stages SET body = '' WHERE id = 'Z1-s'")
		mustExec(t, p.peer, "INSERT INTO orchestrations_compressed_executions (id, compressed_body, compression_type) VALUES ('Z1', ?, 'GZIP')", []byte{0x1f, 0x8b, 0, '\'', '\\', 0xff})
		mustExec(t, p.peer, "INSERT INTO orchestration_stages_compressed_executions (id, compressed_body) VALUES ('Z1-s', ?)", []byte{0x78, 0x9c, 0, 1, 2})
		c := p.copier(t, testOptions(), nil)
		pass(t, c)
		assertConverged(t, p)
		if n := countRows(t, p.local, "SELECT COUNT(*) FROM orchestrations_compressed_executions"); n != 1 {
			t.Errorf("%d compressed execution bodies locally, want 1", n)
		}
		mustExec(t, p.peer, "DELETE FROM orchestrations_compressed_executions")
		mustExec(t, p.peer, "UPDATE orchestrations SET body = 'plain', updated_at = 20 WHERE id = 'Z1'")
		pass(t, c)
		assertConverged(t, p)
		if n := countRows(t, p.local, "SELECT COUNT(*) FROM orchestrations_compressed_executions"); n != 0 {
			t.Errorf("%d stale compressed bodies left locally", n)
		}
	})
	t.Run("a peer without the compressed tables", func(t *testing.T) {
		p2 := newPair(t)
		for _, tb := range []string{"pipelines", "pipeline_stages", "orchestrations", "orchestration_stages"} {
			mustExec(t, p2.peer, "DROP TABLE "+compressed(tb))
		}
		seedHistory(t, p2.peer, 5, 1)
		c := p2.copier(t, testOptions(), nil)
		if s := pass(t, c); s.NumErrors != 0 || s.NumPeered != 5 {
			t.Errorf("summary %+v, want 5 peered and no errors", s)
		}
	})
}

func TestColdStartResumesFromStoredState(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	seedHistory(t, p.peer, 20, 0)
	pass(t, p.copier(t, testOptions(), nil))
	st := getState(t, p.local, "pipeline")
	if st.HighMark != 1019 || !st.FirstPassDone {
		t.Fatalf("state after the first pass %+v, want high mark 1019 and first pass done", st)
	}
	// Remove an old local copy behind the peer's back: a rescan would bring it back.
	mustExec(t, p.local, "DELETE FROM pipeline_stages WHERE execution_id = 'H00000'")
	mustExec(t, p.local, "DELETE FROM pipelines WHERE id = 'H00000'")
	s := pass(t, p.copier(t, testOptions(), nil)) // a new copier: a cold start
	if s.NumPeered != 0 || len(versions(t, p.local, executions.Pipeline, "id = 'H00000'")) != 0 {
		t.Errorf("the cold start rescanned history: numPeered %d", s.NumPeered)
	}
}

func TestStatementsStayUnderThePacketBudget(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	for i := 0; i < 6; i++ {
		id := fmt.Sprintf("P%d", i)
		putExec(t, p.peer, exec{typ: executions.Pipeline, id: id, partition: peerID, updatedAt: int64(10 + i), body: strings.Repeat("'", 400),
			stages: []stage{{id: id + "a", updatedAt: 1, body: strings.Repeat("x", 900)}, {id: id + "b", updatedAt: 1, body: strings.Repeat("\\", 450)}, {id: id + "c", updatedAt: 1, body: strings.Repeat("y", 900)}}})
	}
	// One execution too large for any statement: quarantined (recorded, counted), the rest
	// are copied and the watermark moves past it.
	putExec(t, p.peer, exec{typ: executions.Pipeline, id: "POISON", partition: peerID, updatedAt: 100, body: strings.Repeat("z", 3000)})
	opts := testOptions()
	opts.ChunkSize = 1
	opts.packetBudget = 2000
	c := p.copier(t, opts, nil)
	s := pass(t, c)
	if s.NumErrors != 0 || s.NumPeered != 6 || s.NumQuarantined != 1 {
		t.Errorf("summary %+v, want 6 peered, the poison row quarantined and no error", s)
	}
	if h := getState(t, p.local, "pipeline").HighMark; h < 100 {
		t.Errorf("high mark %d held below the quarantined row (100)", h)
	}
	var id string
	var bytes, updated int64
	if err := p.local.SQL().QueryRow("SELECT execution_id, row_bytes, updated_at FROM peering_quarantine WHERE peer_id = ? AND execution_type = 'pipeline'", peerID).
		Scan(&id, &bytes, &updated); err != nil || id != "POISON" || bytes < 3000 || updated != 100 {
		t.Errorf("quarantine record %q %d bytes at %d (%v); want POISON, over 3000 bytes, version 100", id, bytes, updated, err)
	}
	if n := countRows(t, p.local, "SELECT COUNT(*) FROM pipelines WHERE id = 'POISON'"); n != 0 {
		t.Errorf("the quarantined execution was written")
	}
	mustExec(t, p.peer, "DELETE FROM pipelines WHERE id = 'POISON'")
	pass(t, c)
	assertConverged(t, p)
}

func TestNewChecksPartitions(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	ctx := context.Background()
	cases := []struct {
		name      string
		stored    any // partition_name row before New; "none" for an empty table
		peers     []Peer
		wantErr   string
		wantStore string
	}{
		{name: "empty partition_name gets the configured partition", stored: "none", peers: []Peer{{ID: peerID, DB: p.peer.SQL()}}, wantStore: localPartition},
		{name: "same partition", stored: localPartition, peers: []Peer{{ID: peerID, DB: p.peer.SQL()}}, wantStore: localPartition},
		{name: "another partition", stored: "elsewhere", wantErr: "can't change partition name to local-region on the database once it has been set to elsewhere"},
		{name: "peer is the local partition", stored: localPartition, peers: []Peer{{ID: localPartition, DB: p.peer.SQL()}}, wantErr: "is the local partition"},
		{name: "duplicate peer", stored: localPartition, peers: []Peer{{ID: peerID, DB: p.peer.SQL()}, {ID: peerID, DB: p.peer.SQL()}}, wantErr: "listed twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mustExec(t, p.local, "DELETE FROM partition_name")
			if tc.stored != "none" {
				mustExec(t, p.local, "INSERT INTO partition_name (id, name) VALUES (1, ?)", tc.stored)
			}
			c, err := New(ctx, p.local, tc.peers, testOptions(), nil, nil, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("New error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			var name string
			p.local.SQL().QueryRow("SELECT name FROM partition_name").Scan(&name)
			if name != tc.wantStore {
				t.Errorf("partition_name = %q, want %q", name, tc.wantStore)
			}
			if c.budget <= 0 {
				t.Errorf("statement budget %d; want max_allowed_packet - 8 KiB", c.budget)
			}
		})
	}
}

// TestLeaseTakenOverMidPassStopsWrites: once another holder takes the peer's lease over (the
// first holder stalled past its TTL), the first copier writes nothing more, neither copies nor
// its watermark.
func TestLeaseTakenOverMidPassStopsWrites(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	seedHistory(t, p.peer, 40, 0)
	c := p.copier(t, testOptions(), nil)
	atTakeover := -1
	var once sync.Once
	c.afterChunk = func() {
		once.Do(func() {
			mustExec(t, p.local, "UPDATE leases SET holder = 'usurper', token = token + 1 WHERE name = ?", "peering/"+peerID)
			atTakeover = countRows(t, p.local, "SELECT COUNT(*) FROM pipelines")
		})
	}
	s := pass(t, c)
	if got := countRows(t, p.local, "SELECT COUNT(*) FROM pipelines"); got != atTakeover || got >= 40 {
		t.Errorf("%d copies after the pass, %d at the takeover: the old holder kept writing", got, atTakeover)
	}
	if st := getState(t, p.local, "pipeline"); st != (progress{}) {
		t.Errorf("the old holder stored state %+v after losing its lease", st)
	}
	if s.NumErrors == 0 {
		t.Errorf("summary %+v: the lost lease was not counted", s)
	}
}

func TestCheckPartition(t *testing.T) {
	t.Parallel()
	row := func(s string) sql.NullString { return sql.NullString{String: s, Valid: true} }
	for _, tt := range []struct {
		name  string
		names []sql.NullString
		want  string // a part of the error; "" for none
	}{
		{"one row naming the partition", []sql.NullString{row("us-east-1")}, ""},
		{"empty after the insert", nil, "empty after inserting us-east-1"},
		{"two rows", []sql.NullString{row("us-east-1"), row("eu-west-1")}, "has 2 rows"},
		{"another partition", []sql.NullString{row("eu-west-1")}, "can't change partition name to us-east-1"},
		{"NULL", []sql.NullString{{}}, "can't change partition name"},
	} {
		err := checkPartition(tt.names, "us-east-1")
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: %v; want %q", tt.name, err, tt.want)
		}
	}
}
