package peering

// Orca's PeeringAgentSpec (reference §4.1), case by case, against two real MariaDB databases.
// Orca's fixture: peerId "peeredId", clockDrift 10. Keys are written ID@updated_at. "src" is
// the peer's partition=peeredId rows, "srcNull" its partition IS NULL rows, "dest" the local
// partition=peeredId copies. Orca stores W = latest - drift; this copier stores the high mark
// H and queries updated_at > H - drift, so "since" below is Orca's W.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
)

type kv struct {
	id string
	u  int64
}

func seedB(t *testing.T, p *pair, typ ExecutionType, src, srcNull, dest []kv) {
	for _, k := range src {
		putExec(t, p.peer, exec{typ: typ, id: k.id, partition: peerID, updatedAt: k.u})
	}
	for _, k := range srcNull {
		putExec(t, p.peer, exec{typ: typ, id: k.id, partition: nil, updatedAt: k.u})
	}
	for _, k := range dest {
		putExec(t, p.local, exec{typ: typ, id: k.id, partition: peerID, updatedAt: k.u})
	}
}

func other(typ ExecutionType) ExecutionType {
	if typ == Pipeline {
		return Orchestration
	}
	return Pipeline
}

// startHigh returns the high mark that makes since = w for a type (W_p = 1, W_o = 2 in Orca).
func startSince(typ ExecutionType) int64 {
	if typ == Pipeline {
		return 1
	}
	return 2
}

func TestPeeringAgentSpec_B_DiffForCompletedExecutions(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	cases := []struct {
		name             string
		src, srcNull     []kv
		dest             []kv
		wantDeleted      []string
		wantCopied       []string
		wantSince        int64 // Orca's new W
		sinceIsUnchanged bool  // Orca moves W back to max(0, W - drift); we keep it
	}{
		{name: "B1", src: []kv{{"ID1", 10}}, srcNull: []kv{{"ID2", 20}, {"ID3", 30}}, dest: []kv{{"ID1", 10}, {"ID2", 10}, {"ID4", 10}},
			wantDeleted: []string{"ID4"}, wantCopied: []string{"ID2", "ID3"}, wantSince: 20},
		{name: "B2", src: []kv{{"ID1", 10}}, srcNull: []kv{{"ID2", 20}, {"ID3", 30}}, dest: []kv{{"ID1", 10}, {"ID2", 20}, {"ID3", 30}},
			wantSince: 20},
		{name: "B3 (Orca: W=0; we keep W)", dest: []kv{{"ID1", 10}, {"ID2", 20}, {"ID3", 30}},
			wantDeleted: []string{"ID1", "ID2", "ID3"}, sinceIsUnchanged: true},
		{name: "B4", src: []kv{{"ID1", 10}}, srcNull: []kv{{"ID2", 20}, {"ID3", 30}},
			wantCopied: []string{"ID1", "ID2", "ID3"}, wantSince: 20},
		{name: "B5", srcNull: []kv{{"ID2", 20}}, wantCopied: []string{"ID2"}, wantSince: 10},
		// Orca: W = max(0, 10 - 10) = 0, below where it started; the high mark never moves back.
		{name: "B6 (Orca: W=0; we keep W)", src: []kv{{"ID1", 10}}, wantCopied: []string{"ID1"}, sinceIsUnchanged: true},
	}
	for _, typ := range executionTypes {
		for _, tc := range cases {
			t.Run(string(typ)+"/"+tc.name, func(t *testing.T) {
				p.reset(t)
				seedB(t, p, typ, tc.src, tc.srcNull, tc.dest)
				setState(t, p.local, string(Pipeline), startSince(Pipeline)+10, true, 0)
				setState(t, p.local, string(Orchestration), startSince(Orchestration)+10, true, 0)
				before := versions(t, p.local, typ, "1=1")
				s := pass(t, p.copier(t, testOptions(), nil))

				after := versions(t, p.local, typ, "`partition` = ?", peerID)
				var deleted, copied []string
				for id, u := range before {
					if _, ok := after[id]; !ok {
						deleted = append(deleted, id)
					} else if after[id] != u {
						copied = append(copied, id)
					}
				}
				for id := range after {
					if _, ok := before[id]; !ok {
						copied = append(copied, id)
					}
				}
				slices.Sort(deleted)
				slices.Sort(copied)
				if !reflect.DeepEqual(deleted, tc.wantDeleted) || !reflect.DeepEqual(copied, tc.wantCopied) {
					t.Errorf("deleted %v copied %v; want deleted %v copied %v", deleted, copied, tc.wantDeleted, tc.wantCopied)
				}
				if s.NumDeleted != len(tc.wantDeleted) || s.NumPeered != len(tc.wantCopied) || s.NumErrors != 0 {
					t.Errorf("summary %+v; want numDeleted %d numPeered %d numErrors 0", s, len(tc.wantDeleted), len(tc.wantCopied))
				}
				want := tc.wantSince
				if tc.sinceIsUnchanged {
					want = startSince(typ)
				}
				if got := getState(t, p.local, string(typ)).HighMark - 10; got != want {
					t.Errorf("since = %d, want %d", got, want)
				}
				if got := getState(t, p.local, string(other(typ))).HighMark - 10; got != startSince(other(typ)) {
					t.Errorf("the other type's since moved to %d, want %d", got, startSince(other(typ)))
				}
			})
		}
	}
}

func TestPeeringAgentSpec_C_WatermarkMovesWithNothingToCopy(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	cases := []struct {
		name        string
		start       int64
		src, dest   []kv
		wantDeleted []string
		wantSince   int64
	}{
		// Orca lets W fall by the drift on every idle pass (C1: 10, C2: 11); the high mark is
		// persisted and never moves back (reference §6.2).
		{name: "C1 (Orca: 10)", start: 20, wantSince: 20},
		{name: "C2 (Orca: 11)", start: 21, dest: []kv{{"ID1", 100}}, wantDeleted: []string{"ID1"}, wantSince: 21},
		{name: "C3", start: 22, src: []kv{{"ID1", 100}}, dest: []kv{{"ID1", 100}}, wantSince: 90},
		{name: "C4", start: 23, src: []kv{{"ID1", 100}}, dest: []kv{{"ID1", 100}, {"ID2", 200}}, wantDeleted: []string{"ID2"}, wantSince: 90},
	}
	for _, typ := range executionTypes {
		for _, tc := range cases {
			t.Run(string(typ)+"/"+tc.name, func(t *testing.T) {
				p.reset(t)
				seedB(t, p, typ, tc.src, nil, tc.dest)
				setState(t, p.local, string(typ), tc.start+10, true, 0)
				before := versions(t, p.local, typ, "1=1")
				s := pass(t, p.copier(t, testOptions(), nil))
				after := versions(t, p.local, typ, "1=1")
				var deleted []string
				for _, id := range keysOf(before) {
					if _, ok := after[id]; !ok {
						deleted = append(deleted, id)
					} else if after[id] != before[id] {
						t.Errorf("%s was rewritten (%d -> %d); nothing should be copied", id, before[id], after[id])
					}
				}
				if !reflect.DeepEqual(deleted, tc.wantDeleted) || s.NumPeered != 0 {
					t.Errorf("deleted %v numPeered %d; want deleted %v numPeered 0", deleted, s.NumPeered, tc.wantDeleted)
				}
				if got := getState(t, p.local, string(typ)).HighMark - 10; got != tc.wantSince {
					t.Errorf("since = %d, want %d", got, tc.wantSince)
				}
			})
		}
	}
}

func TestPeeringAgentSpec_D_ActiveExecutions(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	cases := []struct {
		name             string
		active, activeNl []string
	}{
		{name: "D1"},
		{name: "D2", active: []string{"ID1"}},
		{name: "D3", active: []string{"ID1", "ID4"}, activeNl: []string{"ID5"}},
	}
	for _, typ := range executionTypes {
		for _, tc := range cases {
			t.Run(string(typ)+"/"+tc.name, func(t *testing.T) {
				p.reset(t)
				for _, id := range tc.active {
					putExec(t, p.peer, exec{typ: typ, id: id, partition: peerID, status: "RUNNING", updatedAt: 5, stages: []stage{{id: id + "-s1", updatedAt: 5}}})
				}
				for _, id := range tc.activeNl {
					putExec(t, p.peer, exec{typ: typ, id: id, partition: nil, status: "RUNNING", updatedAt: 5})
				}
				putExec(t, p.peer, exec{typ: typ, id: "IDdone", partition: peerID, updatedAt: 7}) // makes the first pass non-empty
				c := p.copier(t, testOptions(), nil)

				s1 := pass(t, c)
				first := versions(t, p.local, typ, "status = 'RUNNING'")
				if len(first) != 0 || s1.NumPeered != 1 {
					t.Errorf("first pass copied active %v (numPeered %d); Orca copies only completed executions on the first pass", keysOf(first), s1.NumPeered)
				}
				s2 := pass(t, c)
				want := append(append([]string{}, tc.active...), tc.activeNl...)
				slices.Sort(want)
				got := keysOf(versions(t, p.local, typ, "status = 'RUNNING' AND `partition` = ?", peerID))
				if !slices.Equal(got, want) || s2.NumPeered != len(want) {
					t.Errorf("second pass copied %v (numPeered %d), want %v", got, s2.NumPeered, want)
				}
				if s3 := pass(t, c); s3.NumPeered != 0 {
					t.Errorf("an unchanged active execution was rewritten: numPeered %d on the third pass", s3.NumPeered)
				}
				assertConverged(t, p)
			})
		}
	}
}

type tomb struct {
	id   int
	exec string
	typ  ExecutionType
}

func seedTombstones(t *testing.T, p *pair, ts []tomb) {
	for _, tb := range ts {
		putExec(t, p.local, exec{typ: tb.typ, id: tb.exec, partition: peerID, updatedAt: 1, stages: []stage{{id: tb.exec + "-s", updatedAt: 1}}})
		mustExec(t, p.peer, "INSERT INTO deleted_executions (id, execution_id, deleted_at, execution_type) VALUES (?, ?, NOW(), ?)", tb.id, tb.exec, string(tb.typ))
	}
}

func TestPeeringAgentSpec_E_TombstoneReplay(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	cases := []struct {
		name                 string
		tombs                []tomb
		wantOrch, wantPipe   int
		wantCursor           int64
		localOwnedSameIDKept bool
	}{
		{name: "E1", wantCursor: 10},
		{name: "E2", tombs: []tomb{{11, "ID1", Pipeline}, {12, "ID2", Orchestration}}, wantOrch: 1, wantPipe: 1, wantCursor: 12},
		{name: "E3", tombs: []tomb{{11, "ID1", Pipeline}, {12, "ID2", Pipeline}}, wantPipe: 2, wantCursor: 12},
		{name: "E4", tombs: []tomb{{81, "ID1", Orchestration}, {92, "ID2", Orchestration}}, wantOrch: 2, wantCursor: 92},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p.reset(t)
			seedTombstones(t, p, tc.tombs)
			// A tombstone for an id the local region owns must not delete it (reference §6.4).
			putExec(t, p.local, exec{typ: Pipeline, id: "IDlocal", partition: localPartition, updatedAt: 1})
			mustExec(t, p.peer, "INSERT INTO deleted_executions (id, execution_id, deleted_at, execution_type) VALUES (5, 'IDlocal', NOW(), 'pipeline')")
			setState(t, p.local, tombstonesKind, 0, false, 10)
			for _, typ := range executionTypes { // the copies (updated_at 1) are outside the diff window
				setState(t, p.local, string(typ), 1000, true, 0)
			}
			rec := &fakeRecorder{}
			s := pass(t, p.copier(t, testOptions(), rec))
			gotO, gotP := len(versions(t, p.local, Orchestration, "1=1")), len(versions(t, p.local, Pipeline, "id <> 'IDlocal'"))
			if gotO != 0 || gotP != 0 || s.NumDeleted != tc.wantOrch+tc.wantPipe {
				t.Errorf("left %d orchestrations, %d pipelines, numDeleted %d; want 0, 0, %d", gotO, gotP, s.NumDeleted, tc.wantOrch+tc.wantPipe)
			}
			if got := getState(t, p.local, tombstonesKind).Cursor; got != tc.wantCursor {
				t.Errorf("cursor = %d, want %d", got, tc.wantCursor)
			}
			if len(versions(t, p.local, Pipeline, "id = 'IDlocal'")) != 1 {
				t.Errorf("a local-owned execution was deleted by a peer tombstone")
			}
			var stages int
			p.local.SQL().QueryRow("SELECT (SELECT COUNT(*) FROM pipeline_stages) + (SELECT COUNT(*) FROM orchestration_stages)").Scan(&stages)
			if stages != 0 {
				t.Errorf("%d stages left after their executions were deleted", stages)
			}
			var recs int
			for _, a := range rec.all() {
				if a.Kind == "peeringDelete" && a.Inputs["reason"] == "tombstone" {
					recs++
				}
			}
			wantRecs := 0
			if tc.wantOrch > 0 {
				wantRecs++
			}
			if tc.wantPipe > 0 {
				wantRecs++
			}
			if recs != wantRecs {
				t.Errorf("recorded %d peeringDelete executions, want %d (one per deleted batch)", recs, wantRecs)
			}
		})
	}
}

func TestPeeringAgentSpec_F_CursorHoldsOnFailure(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	cases := []struct {
		name     string
		tombs    []tomb
		wantOrch int
	}{
		{name: "F/E1 sets"},
		{name: "F/E2 sets", tombs: []tomb{{11, "ID1", Pipeline}, {12, "ID2", Orchestration}}, wantOrch: 1},
		{name: "F/E3 sets", tombs: []tomb{{11, "ID1", Pipeline}, {12, "ID2", Pipeline}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p.reset(t)
			seedTombstones(t, p, tc.tombs)
			setState(t, p.local, tombstonesKind, 0, false, 10)
			for _, typ := range executionTypes {
				setState(t, p.local, string(typ), 1000, true, 0)
			}
			// The local pipeline delete fails like Orca's mock: "SQL failed".
			mustExec(t, p.local, "CREATE TRIGGER fail_pipeline_stage_delete BEFORE DELETE ON pipeline_stages FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'SQL failed'")
			s := pass(t, p.copier(t, testOptions(), nil))
			wantPipeFail := 0
			for _, tb := range tc.tombs {
				if tb.typ == Pipeline {
					wantPipeFail = 1
				}
			}
			if s.NumDeleted != tc.wantOrch || s.NumErrors != wantPipeFail {
				t.Errorf("numDeleted %d numErrors %d; want %d and %d (the orchestration delete still runs)", s.NumDeleted, s.NumErrors, tc.wantOrch, wantPipeFail)
			}
			wantCursor := int64(10)
			if wantPipeFail == 0 && len(tc.tombs) > 0 {
				wantCursor = 12
			}
			if got := getState(t, p.local, tombstonesKind).Cursor; got != wantCursor {
				t.Errorf("cursor = %d, want %d", got, wantCursor)
			}
		})
	}
}

func TestPeeringAgentSpec_G_DontDeleteTheWorld(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	cases := []struct {
		name        string
		dest        []kv
		wantDeleted []string
		wantErrors  int
	}{
		{name: "G1", dest: []kv{{"IDx", 10}, {"IDy", 10}, {"ID3", 10}}, wantErrors: 1},
		{name: "G2", dest: []kv{{"IDx", 10}, {"ID3", 10}}, wantDeleted: []string{"IDx"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p.reset(t)
			seedB(t, p, Pipeline, []kv{{"ID3", 30}}, nil, tc.dest)
			setState(t, p.local, string(Pipeline), 11, true, 0)
			one := 1
			if err := p.local.SetPeeringDeleteLimit(context.Background(), &one); err != nil {
				t.Fatal(err)
			}
			rec := &fakeRecorder{}
			s := pass(t, p.copier(t, testOptions(), rec))
			after := versions(t, p.local, Pipeline, "1=1")
			var deleted []string
			for _, k := range tc.dest {
				if _, ok := after[k.id]; !ok {
					deleted = append(deleted, k.id)
				}
			}
			if !reflect.DeepEqual(deleted, tc.wantDeleted) || s.NumErrors != tc.wantErrors {
				t.Errorf("deleted %v numErrors %d; want %v and %d", deleted, s.NumErrors, tc.wantDeleted, tc.wantErrors)
			}
			if after["ID3"] != 30 {
				t.Errorf("ID3 at %d, want copied at 30", after["ID3"])
			}
			acts := rec.all()
			if len(acts) != 1 || acts[0].Kind != "peeringDelete" {
				t.Fatalf("recorded %+v, want one peeringDelete", acts)
			}
			if wantStatus := map[bool]string{true: "TERMINAL", false: "SUCCEEDED"}[tc.wantErrors > 0]; string(acts[0].Status) != wantStatus {
				t.Errorf("recorded status %s, want %s", acts[0].Status, wantStatus)
			}
		})
	}
}

func TestPeeringAgentSpec_A_RespectsDynamicEnableFlags(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	cases := []struct {
		name   string
		global bool
		peer   bool
	}{
		{name: "A1 global off", global: false, peer: true},
		{name: "A2 peer off", global: true, peer: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p.reset(t)
			putExec(t, p.peer, exec{typ: Pipeline, id: "ID1", partition: peerID, updatedAt: 10})
			ctx := context.Background()
			if err := p.local.SetPeeringEnabled(ctx, tc.global); err != nil {
				t.Fatal(err)
			}
			if err := p.local.SetPeerEnabled(ctx, peerID, tc.peer); err != nil {
				t.Fatal(err)
			}
			c := p.copier(t, testOptions(), nil)
			s := pass(t, c)
			if s.Passes != 0 || s.Skipped != 1 || len(versions(t, p.local, Pipeline, "1=1")) != 0 || getState(t, p.local, "pipeline") != (progress{}) {
				t.Errorf("switched off, the pass did %+v and copied %v", s, versions(t, p.local, Pipeline, "1=1"))
			}
			// Switched back on, the next pass works (the switches are read every pass).
			if err := p.local.SetPeeringEnabled(ctx, true); err != nil {
				t.Fatal(err)
			}
			if err := p.local.SetPeerEnabled(ctx, peerID, true); err != nil {
				t.Fatal(err)
			}
			if s := pass(t, c); s.Passes != 1 || s.NumPeered != 1 {
				t.Errorf("switched on, the pass did %+v, want one execution peered", s)
			}
		})
	}
}

// fakePeerer is a custom peerer whose behaviour the test sets.
type fakePeerer struct {
	initErr   error
	doErr     error
	calls     int
	src, dest *sql.DB
	peer      string
}

func (f *fakePeerer) Init(_ context.Context, src, dest *sql.DB, peerID string) error {
	f.src, f.dest, f.peer = src, dest, peerID
	return f.initErr
}

func (f *fakePeerer) DoPeer(context.Context) (bool, error) {
	f.calls++
	return f.doErr == nil, f.doErr
}

func TestPeeringAgentSpec_H_CustomPeerer(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	cases := []struct {
		name      string
		peerer    *fakePeerer
		wantCalls int
	}{
		{name: "H1 no custom peerer"},
		{name: "H2 called once per pass", peerer: &fakePeerer{}, wantCalls: 1},
		{name: "H3 doPeer throws", peerer: &fakePeerer{doErr: errors.New("boom")}, wantCalls: 1},
		{name: "H4 init throws", peerer: &fakePeerer{initErr: errors.New("bad init")}, wantCalls: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pr := Peer{ID: peerID, DB: p.peer.SQL()}
			if tc.peerer != nil {
				pr.Custom = tc.peerer
			}
			c := p.copier(t, testOptions(), nil, pr)
			pass(t, c)
			if tc.peerer == nil {
				return
			}
			if tc.peerer.calls != tc.wantCalls {
				t.Errorf("DoPeer called %d times, want %d", tc.peerer.calls, tc.wantCalls)
			}
			if tc.peerer.src != p.peer.SQL() || tc.peerer.dest != p.local.SQL() || tc.peerer.peer != peerID {
				t.Errorf("Init got (%p, %p, %q), want the peer's and the local handles and %q", tc.peerer.src, tc.peerer.dest, tc.peerer.peer, peerID)
			}
		})
	}
}

var _ = fmt.Sprint
