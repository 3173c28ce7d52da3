package peering

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/store/storetest"
)

const (
	localPartition = "local-region"
	peerID         = "peeredId"
)

// pair is a local database and one peer database, both migrated.
type pair struct {
	local, peer *store.DB
	peerCfg     store.Config
}

// reset empties every table the copier reads or writes, in both databases, so subtests can
// share one pair (creating and migrating two databases costs over a second).
func (p *pair) reset(t testing.TB) {
	t.Helper()
	for _, db := range []*store.DB{p.local, p.peer} {
		mustExec(t, db, "DROP TRIGGER IF EXISTS fail_pipeline_stage_delete")
		for _, tb := range []string{"pipelines_compressed_executions", "pipeline_stages_compressed_executions",
			"orchestrations_compressed_executions", "orchestration_stages_compressed_executions",
			"pipeline_stages", "pipelines", "orchestration_stages", "orchestrations", "deleted_executions",
			"peering_state", "peering_switches", "peering_quarantine", "leases"} {
			mustExec(t, db, "DELETE FROM "+tb)
		}
	}
}

func newPair(t testing.TB) *pair {
	t.Helper()
	cfg := storetest.NewConfig(t)
	peer, err := store.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open peer: %v", err)
	}
	t.Cleanup(func() { peer.Close() })
	if err := peer.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate peer: %v", err)
	}
	local := storetest.New(t)
	return &pair{local: local, peer: peer, peerCfg: cfg}
}

// fakeRecorder remembers recorded actions (a map-backed world, not a call log).
type fakeRecorder struct {
	mu      sync.Mutex
	actions []executions.Action
}

func (f *fakeRecorder) Record(_ context.Context, a executions.Action) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.actions = append(f.actions, a)
	return fmt.Sprintf("rec-%d", len(f.actions)), nil
}

func (f *fakeRecorder) all() []executions.Action {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]executions.Action(nil), f.actions...)
}

func testOptions() Options {
	return Options{Partition: localPartition, IntervalMs: 10, ThreadCount: 4, ChunkSize: 2, ClockDriftMs: 10,
		MaxAllowedDeleteCount: 100, PageSize: 3, SweepSlice: -1}
}

func (p *pair) copier(t testing.TB, opts Options, rec recorder, peers ...Peer) *Copier {
	t.Helper()
	if len(peers) == 0 {
		peers = []Peer{{ID: peerID, DB: p.peer.SQL()}}
	}
	c, err := New(context.Background(), p.local, peers, opts, rec, nil, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func pass(t testing.TB, c *Copier) PeerSummary {
	t.Helper()
	s, err := c.Pass(context.Background())
	if err != nil {
		t.Fatalf("Pass: %v", err)
	}
	if s.Peers[peerID] == nil {
		return PeerSummary{}
	}
	return *s.Peers[peerID]
}

// exec describes an execution row for tests.
type exec struct {
	typ       executions.Type
	id        string
	partition any // string or nil
	status    string
	updatedAt int64
	body      string
	stages    []stage
}

type stage struct {
	id        string
	updatedAt int64
	body      string
}

func putExec(t testing.TB, db *store.DB, e exec) {
	t.Helper()
	tb := tables[e.typ]
	if e.status == "" {
		e.status = "SUCCEEDED"
	}
	if e.body == "" {
		e.body = `{"id":"` + e.id + `"}`
	}
	q := "INSERT INTO " + tb.executions + " (id, `partition`, application, status, build_time, updated_at, canceled, body) VALUES (?, ?, 'app', ?, 1, ?, b'1', ?) " +
		"ON DUPLICATE KEY UPDATE `partition` = VALUES(`partition`), status = VALUES(status), updated_at = VALUES(updated_at), body = VALUES(body)"
	if _, err := db.SQL().Exec(q, e.id, e.partition, e.status, e.updatedAt, e.body); err != nil {
		t.Fatalf("insert %s %s: %v", e.typ, e.id, err)
	}
	for _, s := range e.stages {
		if s.body == "" {
			s.body = `{"stage":"` + s.id + `"}`
		}
		if _, err := db.SQL().Exec("INSERT INTO "+tb.stages+" (id, execution_id, status, updated_at, body) VALUES (?, ?, 'SUCCEEDED', ?, ?) "+
			"ON DUPLICATE KEY UPDATE updated_at = VALUES(updated_at), body = VALUES(body)", s.id, e.id, s.updatedAt, s.body); err != nil {
			t.Fatalf("insert stage %s: %v", s.id, err)
		}
	}
}

func mustExec(t testing.TB, db *store.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.SQL().Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// tombstone deletes an execution at the peer the way Orca does: stages, row, tombstone.
func tombstone(t testing.TB, db *store.DB, typ executions.Type, id string) {
	t.Helper()
	tb := tables[typ]
	mustExec(t, db, "DELETE FROM "+tb.stages+" WHERE execution_id = ?", id)
	mustExec(t, db, "DELETE FROM "+tb.executions+" WHERE id = ?", id)
	mustExec(t, db, "INSERT INTO deleted_executions (execution_id, deleted_at, execution_type) VALUES (?, NOW(), ?)", id, string(typ))
}

func setState(t testing.TB, db *store.DB, kind string, high int64, firstDone bool, cursor int64) {
	t.Helper()
	mustExec(t, db, `INSERT INTO peering_state (peer_id, execution_type, high_mark_ms, first_pass_done, cursor_id) VALUES (?, ?, ?, ?, ?)
		ON DUPLICATE KEY UPDATE high_mark_ms = VALUES(high_mark_ms), first_pass_done = VALUES(first_pass_done), cursor_id = VALUES(cursor_id)`,
		peerID, kind, high, firstDone, cursor)
}

func getState(t testing.TB, db *store.DB, kind string) progress {
	t.Helper()
	var p progress
	err := db.SQL().QueryRow("SELECT high_mark_ms, first_pass_done, cursor_id FROM peering_state WHERE peer_id = ? AND execution_type = ?", peerID, kind).
		Scan(&p.HighMark, &p.FirstPassDone, &p.Cursor)
	if err == sql.ErrNoRows {
		return progress{}
	}
	if err != nil {
		t.Fatalf("read state: %v", err)
	}
	return p
}

// versions returns id -> updated_at of a type's executions whose partition matches where.
func versions(t testing.TB, db *store.DB, typ executions.Type, where string, args ...any) map[string]int64 {
	t.Helper()
	rs, err := db.SQL().Query("SELECT id, updated_at FROM "+tables[typ].executions+" WHERE "+where, args...)
	if err != nil {
		t.Fatalf("versions: %v", err)
	}
	defer rs.Close()
	out := map[string]int64{}
	for rs.Next() {
		var id string
		var u sql.NullInt64
		if err := rs.Scan(&id, &u); err != nil {
			t.Fatalf("versions: %v", err)
		}
		out[id] = u.Int64
	}
	return out
}

// dump renders every owned execution of typ in db, with its stages and compressed bodies, as
// comparable text (hex of the raw bytes). partition is left out: the caller checks it.
func dump(t testing.TB, db *store.DB, typ executions.Type, where string, args ...any) map[string]string {
	t.Helper()
	tb := tables[typ]
	ctx := context.Background()
	rows, err := fetchRows(ctx, db.SQL(), len(tb.execColumns), "SELECT "+cols(tb.execColumns)+" FROM "+tb.executions+" WHERE "+where, args...)
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	out := map[string]string{}
	for _, r := range rows {
		id := text(r[0])
		var b strings.Builder
		for i, v := range r {
			if i == tb.partitionColumn {
				continue
			}
			fmt.Fprintf(&b, "%x|", v)
		}
		comp, err := fetchRows(ctx, db.SQL(), 3, "SELECT id, compressed_body, compression_type FROM "+compressed(tb.executions)+" WHERE id = ?", id)
		if err != nil {
			t.Fatalf("dump: %v", err)
		}
		for _, c := range comp {
			fmt.Fprintf(&b, " C[%x %x]", c[1], c[2])
		}
		st, err := fetchRows(ctx, db.SQL(), len(tb.stageColumns), "SELECT "+cols(tb.stageColumns)+" FROM "+tb.stages+" WHERE execution_id = ? ORDER BY id", id)
		if err != nil {
			t.Fatalf("dump: %v", err)
		}
		for _, s := range st {
			fmt.Fprintf(&b, "\n  S")
			for _, v := range s {
				fmt.Fprintf(&b, "%x|", v)
			}
			sc, err := fetchRows(ctx, db.SQL(), 3, "SELECT id, compressed_body, compression_type FROM "+compressed(tb.stages)+" WHERE id = ?", s[0])
			if err != nil {
				t.Fatalf("dump: %v", err)
			}
			for _, c := range sc {
				fmt.Fprintf(&b, " C[%x %x]", c[1], c[2])
			}
		}
		out[id] = b.String()
	}
	return out
}

// assertConverged checks that the local copies of the peer's owned executions equal them,
// carry the peer's partition, and that no orphan stage exists locally.
func assertConverged(t testing.TB, p *pair) {
	t.Helper()
	for _, typ := range executionTypes {
		want := dump(t, p.peer, typ, "`partition` = ? OR `partition` IS NULL", peerID)
		got := dump(t, p.local, typ, "`partition` = ?", peerID)
		for id, w := range want {
			if g, ok := got[id]; !ok {
				t.Errorf("%s %s missing locally", typ, id)
			} else if g != w {
				t.Errorf("%s %s differs:\n got %s\nwant %s", typ, id, g, w)
			}
		}
		for id := range got {
			if _, ok := want[id]; !ok {
				t.Errorf("%s %s is a local copy the peer does not have", typ, id)
			}
		}
		var orphans int
		if err := p.local.SQL().QueryRow("SELECT COUNT(*) FROM " + tables[typ].stages + " s LEFT JOIN " + tables[typ].executions +
			" e ON e.id = s.execution_id WHERE e.id IS NULL").Scan(&orphans); err != nil {
			t.Fatal(err)
		}
		if orphans != 0 {
			t.Errorf("%s: %d orphan stages locally", typ, orphans)
		}
	}
}

func keysOf(m map[string]int64) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// proxy forwards TCP connections to the MariaDB server until cut, after which every open
// connection is closed and new ones are refused: a peer that drops mid-pass.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	cut    atomic.Bool
	budget atomic.Int64 // bytes from the server before the proxy cuts itself (<=0: never)
}

func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.Cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.cut.Load() {
				c.Close()
				continue
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { io.Copy(s, c); s.Close() }()
			go func() { p.copyCounted(c, s); c.Close() }()
		}
	}()
	return p
}

func (p *proxy) copyCounted(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if b := p.budget.Load(); b > 0 && p.budget.Add(-int64(n)) <= 0 {
				p.Cut()
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Cut closes every connection and refuses new ones.
func (p *proxy) Cut() {
	p.cut.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) addr() (string, int) {
	a := p.ln.Addr().(*net.TCPAddr)
	return a.IP.String(), a.Port
}

// openVia opens the peer database through the proxy.
func openVia(t testing.TB, cfg store.Config, px *proxy) *sql.DB {
	t.Helper()
	if px != nil {
		cfg.Host, cfg.Port = px.addr()
	}
	db, err := sql.Open("mysql", cfg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	db.SetConnMaxLifetime(time.Minute)
	t.Cleanup(func() { db.Close() })
	return db
}

var _ = bytes.Equal
