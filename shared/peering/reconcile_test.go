package peering

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/metrics"
)

// metricValues returns, from EMF lines, every value of metric name by executionType.
func metricValues(t *testing.T, buf *bytes.Buffer, name string) map[string][]float64 {
	t.Helper()
	out := map[string][]float64{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not EMF JSON: %q", line)
		}
		if v, ok := ev[name].(float64); ok && ev["peerId"] == peerID {
			typ, _ := ev["executionType"].(string)
			out[typ] = append(out[typ], v)
		}
	}
	return out
}

func meteredCopier(t *testing.T, p *pair, opts Options, rec recorder) (*Copier, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	c, err := New(context.Background(), p.local, []Peer{{ID: peerID, DB: p.peer.SQL()}}, opts, rec, metrics.New(&buf), nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, &buf
}

func recordsOf(rec *fakeRecorder, reason string) int {
	n := 0
	for _, a := range rec.all() {
		if a.Kind == "peeringDelete" && a.Inputs["reason"] == reason {
			n++
		}
	}
	return n
}

// TestSweepFindsPlainDeletes: 150 completed executions deleted at the peer without a
// tombstone, long outside the copy window, are found by the reconciliation sweep, reported as
// divergences and deleted locally (within the per-pass delete limit, over several passes); the
// peer's other executions stay.
func TestSweepFindsPlainDeletes(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	seedSQL(t, p.peer, 400, 1, 50)
	opts := testOptions()
	opts.ChunkSize, opts.PageSize, opts.SweepSlice = 50, 1000, 120
	rec := &fakeRecorder{}
	c, buf := meteredCopier(t, p, opts, rec)
	if s := pass(t, c); s.NumPeered != 400 || s.NumErrors != 0 {
		t.Fatalf("bulk pass %+v, want 400 peered", s)
	}
	// Plain deletes (no tombstone) of the even executions among the first 300: far below the
	// watermark (1000400), so no steady pass looks at them again.
	mustExec(t, p.peer, "DELETE FROM pipeline_stages WHERE CAST(SUBSTRING(execution_id, 2) AS UNSIGNED) <= 300 AND CAST(SUBSTRING(execution_id, 2) AS UNSIGNED) % 2 = 0")
	mustExec(t, p.peer, "DELETE FROM pipelines WHERE CAST(SUBSTRING(id, 2) AS UNSIGNED) <= 300 AND CAST(SUBSTRING(id, 2) AS UNSIGNED) % 2 = 0")
	var total PeerSummary
	for i := 0; i < 12 && countRows(t, p.local, "SELECT COUNT(*) FROM pipelines") > 250; i++ {
		s := pass(t, c)
		if s.NumErrors != 0 {
			t.Fatalf("pass %d: %+v", i, s)
		}
		total.NumDeleted += s.NumDeleted
		total.NumDivergences += s.NumDivergences
	}
	if got := countRows(t, p.local, "SELECT COUNT(*) FROM pipelines"); got != 250 || total.NumDeleted != 150 {
		t.Fatalf("%d local copies left, %d deleted; want 250 and 150", got, total.NumDeleted)
	}
	if total.NumDivergences < 150 {
		t.Errorf("%d divergences reported, want at least 150", total.NumDivergences)
	}
	var reported float64
	for _, v := range metricValues(t, buf, "pollers.peering.numDivergences")["pipeline"] {
		reported += v
	}
	if reported < 150 {
		t.Errorf("pollers.peering.numDivergences added up to %v, want at least 150", reported)
	}
	if recordsOf(rec, "sweep") == 0 {
		t.Errorf("the sweep's deletes were not recorded")
	}
	assertConverged(t, p)
}

// TestSweepWithNothingToFind: a sweep over copies equal to the peer reads only checksums,
// reports no divergence and deletes nothing, and comes back to the start after the high mark.
func TestSweepWithNothingToFind(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	seedSQL(t, p.peer, 300, 0, 20)
	opts := testOptions()
	opts.ChunkSize, opts.PageSize, opts.SweepSlice = 50, 1000, 100
	c := p.copier(t, opts, nil)
	pass(t, c)
	marks := []int64{}
	for i := 0; i < 5; i++ {
		if s := pass(t, c); s.NumDivergences != 0 || s.NumDeleted != 0 || s.NumPeered != 0 {
			t.Fatalf("pass %d over equal copies: %+v", i, s)
		}
		marks = append(marks, getSweepMark(t, p, "pipeline"))
	}
	// Slices of 100 over 1000001..1000300 (settled up to the high mark minus the drift); the
	// sweep starts on the pass after the bulk copy drained.
	want := []int64{1000100, 1000200, 1000290, 1000100, 1000200}
	if !reflect.DeepEqual(marks, want) {
		t.Errorf("sweep marks %v, want %v", marks, want)
	}
}

func getSweepMark(t *testing.T, p *pair, kind string) int64 {
	t.Helper()
	var m int64
	if err := p.local.SQL().QueryRow("SELECT sweep_mark_ms FROM peering_state WHERE peer_id = ? AND execution_type = ?", peerID, kind).Scan(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// localCopies inserts n completed local copies of the peer's executions of typ that the peer
// does not have, with updated_at from..from+n-1.
func localCopies(t *testing.T, p *pair, typ executions.Type, prefix string, n int, status string, from int64) {
	t.Helper()
	mustExec(t, p.local, fmt.Sprintf("INSERT INTO "+tables[typ].executions+" (id, `partition`, application, status, build_time, updated_at, canceled, body) "+
		"SELECT CONCAT(?, LPAD(seq, 6, '0')), ?, 'app', ?, 1, ? + seq - 1, b'0', 'x' FROM seq_1_to_%d", n), prefix, peerID, status, from)
}

// TestDeleteLimitIsPerPeerAcrossTypes: 75 pipelines plus 75 orchestrations gone from the
// peer are 150 deletes in one pass, over a limit of 100: all refused.
func TestDeleteLimitIsPerPeerAcrossTypes(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	localCopies(t, p, executions.Pipeline, "GP", 75, "SUCCEEDED", 100)
	localCopies(t, p, executions.Orchestration, "GO", 75, "SUCCEEDED", 100)
	setState(t, p.local, "pipeline", 50, true, 0)
	setState(t, p.local, "orchestration", 50, true, 0)
	putExec(t, p.peer, exec{typ: executions.Pipeline, id: "KEEP", partition: peerID, updatedAt: 300})
	opts := testOptions()
	opts.ChunkSize, opts.PageSize, opts.MaxAllowedDeleteCount = 50, 1000, 100
	rec := &fakeRecorder{}
	s := pass(t, p.copier(t, opts, rec))
	if n := countRows(t, p.local, "SELECT (SELECT COUNT(*) FROM pipelines WHERE id LIKE 'GP%') + (SELECT COUNT(*) FROM orchestrations)"); n != 150 || s.NumDeleted != 0 {
		t.Errorf("%d of 150 copies left, %d deleted; want all refused (150 > limit 100 across types)", n, s.NumDeleted)
	}
	if s.NumRefused != 150 || recordsOf(rec, "diff") != 1 {
		t.Errorf("summary %+v, %d refusals recorded; want 150 refused in one record", s, recordsOf(rec, "diff"))
	}
}

// TestRefusedDeleteRecordedOncePerCondition: a refusal that lasts is recorded once, counted
// in pollers.peering.numRefusedDeletes on every pass; a different refused set is recorded
// again, and a cleared condition deletes.
func TestRefusedDeleteRecordedOncePerCondition(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	localCopies(t, p, executions.Pipeline, "RA", 3, "RUNNING", 100) // active copies the peer no longer has
	setState(t, p.local, "pipeline", 1000, true, 0)
	setState(t, p.local, "orchestration", 1000, true, 0)
	opts := testOptions()
	opts.MaxAllowedDeleteCount = 2
	rec := &fakeRecorder{}
	c, buf := meteredCopier(t, p, opts, rec)
	for i := 0; i < 3; i++ {
		if s := pass(t, c); s.NumRefused != 3 || s.NumErrors != 1 {
			t.Fatalf("pass %d: %+v, want 3 refused and one error", i, s)
		}
	}
	if n := recordsOf(rec, "diff"); n != 1 {
		t.Errorf("%d refusals recorded over three passes of one condition, want 1", n)
	}
	if got := metricValues(t, buf, "pollers.peering.numRefusedDeletes")["pipeline"]; !reflect.DeepEqual(got, []float64{3, 3, 3}) {
		t.Errorf("numRefusedDeletes per pass %v, want [3 3 3]", got)
	}
	localCopies(t, p, executions.Pipeline, "RB", 1, "RUNNING", 200) // the condition changes
	pass(t, c)
	pass(t, c)
	if n := recordsOf(rec, "diff"); n != 2 {
		t.Errorf("%d refusals recorded after the refused set changed, want 2", n)
	}
	ten := 10
	if err := p.local.SetPeeringDeleteLimit(context.Background(), &ten); err != nil {
		t.Fatal(err)
	}
	if s := pass(t, c); s.NumDeleted != 4 || s.NumRefused != 0 {
		t.Errorf("after raising the limit: %+v, want 4 deleted", s)
	}
}

// TestAcquireCutByDeadlineIsACleanStop: a pass whose lease acquisition the deadline cuts
// short counts no error, and frees a lease the server granted before the answer was lost.
func TestAcquireCutByDeadlineIsACleanStop(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	c := p.copier(t, testOptions(), nil)
	// The server granted the lease, but the answer never arrived.
	mustExec(t, p.local, "INSERT INTO leases (name, holder, token, expiresAtMs, acquiredAtMs) VALUES (?, ?, 7, ?, 0)",
		"peering/"+peerID, c.opts.Holder, c.local.Now().Add(time.Minute).UnixMilli())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := c.passPeer(ctx, c.peers[0], 100)
	if s.NumErrors != 0 || s.Passes != 0 {
		t.Errorf("summary %+v; want a clean stop (no error)", s)
	}
	var exp int64
	if err := p.local.SQL().QueryRow("SELECT expiresAtMs FROM leases WHERE name = ?", "peering/"+peerID).Scan(&exp); err != nil {
		t.Fatal(err)
	}
	if exp != 0 {
		t.Errorf("the granted lease is still held (expires %d); the next pass would skip the peer", exp)
	}
}

func TestPlanChunk(t *testing.T) {
	t.Parallel()
	k := func(id string, u int64, part any) key {
		kk := key{id: id, updatedAt: sql.NullInt64{Int64: u, Valid: true}}
		if s, ok := part.(string); ok {
			kk.partition = sql.NullString{String: s, Valid: true}
		}
		return kk
	}
	st := func(id string, u int64) key { return key{id: id, updatedAt: sql.NullInt64{Int64: u, Valid: true}} }
	cases := []struct {
		name                    string
		peerExec, localExec     map[string]key
		peerStages, localStages map[string][]key
		wantPlans               []execPlan
		wantGone                []string
	}{
		{name: "new execution", peerExec: map[string]key{"A": k("A", 5, peerID)}, peerStages: map[string][]key{"A": {st("A1", 5)}},
			wantPlans: []execPlan{{id: "A", writeRow: true, stages: []string{"A1"}}}},
		{name: "legacy NULL partition at the peer is the peer's", peerExec: map[string]key{"A": k("A", 5, nil)},
			wantPlans: []execPlan{{id: "A", writeRow: true}}},
		{name: "unchanged", peerExec: map[string]key{"A": k("A", 5, peerID)}, localExec: map[string]key{"A": k("A", 5, peerID)},
			peerStages: map[string][]key{"A": {st("A1", 5)}}, localStages: map[string][]key{"A": {st("A1", 5)}}},
		{name: "stage changed, one gone", peerExec: map[string]key{"A": k("A", 5, peerID)}, localExec: map[string]key{"A": k("A", 5, peerID)},
			peerStages: map[string][]key{"A": {st("A1", 6)}}, localStages: map[string][]key{"A": {st("A1", 5), st("A2", 5)}},
			wantPlans: []execPlan{{id: "A", stages: []string{"A1"}, stagesHere: []string{"A1"}, staleStages: []string{"A2"}}}},
		{name: "row older here", peerExec: map[string]key{"A": k("A", 9, peerID)}, localExec: map[string]key{"A": k("A", 5, peerID)},
			wantPlans: []execPlan{{id: "A", writeRow: true}}},
		{name: "gone from the peer", localExec: map[string]key{"A": k("A", 5, peerID)}, wantGone: []string{"A"}},
		{name: "moved to a third region", peerExec: map[string]key{"A": k("A", 9, "third")}, localExec: map[string]key{"A": k("A", 5, peerID)}, wantGone: []string{"A"}},
		{name: "owned here: never planned nor deleted", peerExec: map[string]key{"A": k("A", 9, peerID)}, localExec: map[string]key{"A": k("A", 5, localPartition)}},
		{name: "legacy NULL here is ours", peerExec: map[string]key{"A": k("A", 9, peerID)}, localExec: map[string]key{"A": k("A", 5, nil)}},
		{name: "absent on both sides", wantPlans: nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plans, gone := planChunk(peerID, []string{"A"}, tc.peerExec, tc.peerStages, tc.localExec, tc.localStages)
			if !reflect.DeepEqual(plans, tc.wantPlans) || !reflect.DeepEqual(gone, tc.wantGone) {
				t.Errorf("got plans %+v gone %v\nwant plans %+v gone %v", plans, gone, tc.wantPlans, tc.wantGone)
			}
		})
	}
}

func TestSliceEnd(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		upper, last int64
		n, size     int
		want        int64
	}{
		{"fewer than a slice left: to the end", 1000, 900, 10, 100, 1000},
		{"a full slice ends at its last copy", 1000, 500, 100, 100, 500},
		{"nothing left", 1000, 0, 0, 100, 1000},
		{"last at the end", 1000, 1000, 100, 100, 1000},
	}
	for _, tc := range cases {
		if got := sliceEnd(tc.upper, tc.n, tc.last, tc.size); got != tc.want {
			t.Errorf("%s: sliceEnd(%d, %d, %d, %d) = %d, want %d", tc.name, tc.upper, tc.n, tc.last, tc.size, got, tc.want)
		}
	}
}

func TestDiffSlice(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		peer, local []item
		want        []item
	}{
		{"equal", []item{{id: "a", updatedAt: 1}, {id: "b", updatedAt: 2}}, []item{{id: "b", updatedAt: 2}, {id: "a", updatedAt: 1}}, nil},
		{"gone from the peer", []item{{id: "a", updatedAt: 1}}, []item{{id: "a", updatedAt: 1}, {id: "b", updatedAt: 2}}, []item{{id: "b", updatedAt: 2}}},
		{"missing here", []item{{id: "a", updatedAt: 1}, {id: "c", updatedAt: 3}}, []item{{id: "a", updatedAt: 1}}, []item{{id: "c", updatedAt: 3}}},
		{"other version", []item{{id: "a", updatedAt: 2}}, []item{{id: "a", updatedAt: 1}}, []item{{id: "a", updatedAt: 1}}},
	}
	for _, tc := range cases {
		if got := diffSlice(tc.peer, tc.local); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: diffSlice = %v, want %v", tc.name, got, tc.want)
		}
	}
}
