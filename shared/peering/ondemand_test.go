package peering

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/fault"
)

func TestCopyNowCopiesNamedExecutionsOutsideThePassWatermark(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	c := p.copier(t, testOptions(), &fakeRecorder{})
	ctx := context.Background()
	// A completed execution with an old updated_at, below a watermark the passes already
	// stored: a pass would not look at it again; CopyNow must.
	putExec(t, p.peer, exec{typ: Pipeline, id: "01OLD", partition: peerID, status: "CANCELED", updatedAt: 10,
		body: `{"id":"01OLD","status":"CANCELED"}`, stages: []stage{{id: "01OLDS1", updatedAt: 10}}})
	putExec(t, p.peer, exec{typ: Pipeline, id: "01OTHER", partition: peerID, updatedAt: 11})
	setState(t, p.local, string(Pipeline), 1_000_000, true, 0)
	sum, err := c.CopyNow(ctx, peerID, Pipeline, []string{"01OLD"})
	if err != nil || sum.NumPeered != 1 {
		t.Fatalf("CopyNow: %+v %v; want 1 execution copied", sum, err)
	}
	got := dump(t, p.local, Pipeline, "1=1")
	if _, ok := got["01OLD"]; !ok || len(got) != 1 {
		t.Fatalf("local pipelines after CopyNow = %v; want exactly 01OLD", keysOfDump(got))
	}
	// Gone from the peer: CopyNow deletes the local copy.
	mustExec(t, p.peer, "DELETE FROM pipeline_stages WHERE execution_id = '01OLD'")
	mustExec(t, p.peer, "DELETE FROM pipelines WHERE id = '01OLD'")
	if sum, err := c.CopyNow(ctx, peerID, Pipeline, []string{"01OLD"}); err != nil || sum.NumDeleted != 1 {
		t.Fatalf("CopyNow of a deleted execution: %+v %v; want 1 deleted", sum, err)
	}
	if _, err := c.CopyNow(ctx, "nobody", Pipeline, []string{"x"}); err == nil {
		t.Fatal("CopyNow from an unknown peer succeeded")
	}
}

func TestCopyNowWaitsForTheRunningPass(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	c := p.copier(t, testOptions(), &fakeRecorder{})
	putExec(t, p.peer, exec{typ: Orchestration, id: "01A", partition: peerID, updatedAt: 5})
	held, err := p.local.AcquireLease(context.Background(), "peering/"+peerID, "a-pass", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := c.CopyNow(ctx, peerID, Orchestration, []string{"01A"}); err == nil {
		t.Fatal("CopyNow copied while a pass held the peer's lease")
	}
	// The pass releases its lease while CopyNow waits for it (not before CopyNow has seen it held).
	var once sync.Once
	c.onLeaseHeld = func() {
		once.Do(func() {
			if err := p.local.ReleaseLease(context.Background(), held); err != nil {
				t.Error(err)
			}
		})
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if sum, err := c.CopyNow(ctx2, peerID, Orchestration, []string{"01A"}); err != nil || sum.NumPeered != 1 {
		t.Fatalf("CopyNow after the pass released: %+v %v", sum, err)
	}
}

func TestPassRecordsPeerReachability(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	ctx := context.Background()
	now := time.Date(2031, 11, 22, 10, 0, 0, 0, time.UTC)
	opts := testOptions()
	opts.Now = func() time.Time { return now }
	pass(t, p.copier(t, opts, &fakeRecorder{}))
	c, err := p.local.PeerContact(ctx, peerID)
	if err != nil || !c.Known || !c.UnreachableSince.IsZero() || !c.LastContact.Equal(now) {
		t.Fatalf("after a reachable pass: %+v %v", c, err)
	}
	dead, _ := sql.Open("mysql", "root@tcp(127.0.0.1:1)/x?timeout=1s")
	defer dead.Close()
	now = now.Add(time.Minute)
	pass(t, p.copier(t, opts, &fakeRecorder{}, Peer{ID: peerID, DB: dead}))
	now = now.Add(time.Minute)
	pass(t, p.copier(t, opts, &fakeRecorder{}, Peer{ID: peerID, DB: dead}))
	c, _ = p.local.PeerContact(ctx, peerID)
	if want := now.Add(-time.Minute); !c.UnreachableSince.Equal(want) || c.LastError == "" {
		t.Fatalf("after two unreachable passes: %+v; want unreachable since %v (the first failure)", c, want)
	}
}

func keysOfDump(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestCopyNowHonoursThePeeringSwitches: with peering switched off, globally or for the peer,
// CopyNow neither copies nor deletes, and says why (409 PEERING_OFF).
func TestCopyNowHonoursThePeeringSwitches(t *testing.T) {
	tests := []struct {
		name string
		off  func(ctx context.Context, p *pair) error
	}{
		{"globally off", func(ctx context.Context, p *pair) error { return p.local.SetPeeringEnabled(ctx, false) }},
		{"off for the peer", func(ctx context.Context, p *pair) error { return p.local.SetPeerEnabled(ctx, peerID, false) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPair(t)
			c := p.copier(t, testOptions(), &fakeRecorder{})
			ctx := context.Background()
			putExec(t, p.peer, exec{typ: Pipeline, id: "01NEW", partition: peerID, updatedAt: 10})
			putExec(t, p.local, exec{typ: Pipeline, id: "01GONE", partition: peerID, updatedAt: 10})
			if err := tt.off(ctx, p); err != nil {
				t.Fatal(err)
			}
			_, err := c.CopyNow(ctx, peerID, Pipeline, []string{"01NEW", "01GONE"})
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Kind != fault.Conflict || fe.Code != "PEERING_OFF" {
				t.Fatalf("CopyNow with peering off: err = %v; want a Conflict PEERING_OFF", err)
			}
			got := dump(t, p.local, Pipeline, "1=1")
			if _, copied := got["01NEW"]; copied {
				t.Errorf("01NEW was copied with peering off")
			}
			if _, kept := got["01GONE"]; !kept {
				t.Errorf("01GONE was deleted with peering off")
			}
		})
	}
}
