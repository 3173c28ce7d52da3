package interlink_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/interlink"
	"github.com/logwise/controlplane/shared/store"
)

func TestMayTakeOver(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	min := 15 * time.Minute
	tests := []struct {
		name   string
		status interlink.OwnerStatus
		now    time.Time
		want   bool
		reason string
	}{
		{"database reachable", interlink.OwnerStatus{}, t0, false, "database is reachable"},
		{"database down, not long enough", interlink.OwnerStatus{DBUnreachableSince: t0}, t0.Add(10 * time.Minute), false, "unreachable only since"},
		{"database down long, heard over the interlink", interlink.OwnerStatus{DBUnreachableSince: t0, LastHeartbeat: t0.Add(19 * time.Minute)},
			t0.Add(20 * time.Minute), false, "heard over the interlink"},
		{"database down long, silent since", interlink.OwnerStatus{DBUnreachableSince: t0, LastHeartbeat: t0.Add(19 * time.Minute)},
			t0.Add(34 * time.Minute), true, "last heard over the interlink"},
		{"database down long, never heard", interlink.OwnerStatus{DBUnreachableSince: t0}, t0.Add(15 * time.Minute), true, "never heard"},
	}
	for _, tt := range tests {
		got, why := interlink.MayTakeOver("us-east-1", tt.status, tt.now, min)
		if got != tt.want || !strings.Contains(why, tt.reason) {
			t.Errorf("%s: got %v %q, want %v and a reason containing %q", tt.name, got, why, tt.want, tt.reason)
		}
	}
}

// storeHealth is setup's ownerHealth: the copier's contact records and the heartbeats heard.
type storeHealth struct{ db *store.DB }

func (h storeHealth) OwnerStatus(ctx context.Context, p string) (interlink.OwnerStatus, error) {
	c, err := h.db.PeerContact(ctx, p)
	return interlink.OwnerStatus{DBUnreachableSince: c.UnreachableSince, LastHeartbeat: c.LastHeartbeat}, err
}

// copyExecution puts into to's database the row of execution id that from's database holds,
// as the peering copier would.
func copyExecution(t *testing.T, from, to region, id string) {
	t.Helper()
	var src string
	if err := from.db.SQL().QueryRow("SELECT DATABASE()").Scan(&src); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"INSERT INTO pipelines SELECT * FROM " + src + ".pipelines WHERE id = ?",
		"INSERT INTO pipeline_stages SELECT * FROM " + src + ".pipeline_stages WHERE execution_id = ?"} {
		if _, err := to.db.SQL().Exec(q, id); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTakeoverAcrossTwoRegions: east owns a replay; west cannot reach east's database but
// still hears east's heartbeat, so an unforced takeover is refused; an admin forces it; east,
// still running, learns of it from the TAKEOVER event and stops acting on the execution.
func TestTakeoverAcrossTwoRegions(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	w.east.applier.Now, w.west.applier.Now = clock, clock
	id, err := w.east.repo.StartPipeline(ctx, executions.PipelineSpec{Tenant: "ABC", Name: "replay",
		Stages: []executions.StageSpec{{RefID: "1", Type: "killDriver", Name: "Kill"}, {RefID: "2", Type: "deleteCheckpoint", Name: "Delete"}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.east.repo.UpdateStage(ctx, id, "1", executions.Running, nil); err != nil {
		t.Fatal(err)
	}
	copyExecution(t, w.east, w.west, id)
	eastFw := &interlink.Forwarder{SNS: w.sns, Topic: w.topic}
	westFw := &interlink.Forwarder{SNS: w.sns, Topic: w.topic}
	takeovers := &interlink.Takeovers{Repo: w.west.repo, Health: storeHealth{w.west.db}, MinUnreachable: 15 * time.Minute,
		Recorder: w.west.repo, Announcer: westFw, Now: clock}

	// West's copier loses east's database at t0; east itself is alive and heard at t0+19m.
	if err := w.west.db.RecordPeerContact(ctx, "us-east-1", false, now, "dial tcp: i/o timeout"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(19 * time.Minute)
	if err := eastFw.Heartbeat(ctx, "us-east-1"); err != nil {
		t.Fatal(err)
	}
	w.deliver(t, w.west)
	w.deliver(t, w.east) // its own heartbeat: dropped
	now = now.Add(time.Minute)

	_, err = takeovers.TakeOver(ctx, id, "alice", "east looks gone", false)
	var fe *fault.Error
	if !errors.As(err, &fe) || fe.Code != "OWNER_REACHABLE" || !strings.Contains(fe.Message, "heard over the interlink") {
		t.Fatalf("unforced takeover of a heard owner: %v; want OWNER_REACHABLE naming the heartbeat", err)
	}

	d, err := takeovers.TakeOver(ctx, id, "ops", "east is cut off from us; finish the replay here", true)
	if err != nil || !d.Owned || d.Partition != "us-west-2" {
		t.Fatalf("forced takeover: %+v %v", d.Summary, err)
	}
	wd, _ := w.west.repo.Get(ctx, id)
	if tk, _ := wd.Body["context"].(map[string]any)["takeover"].(map[string]any); tk["by"] != "ops" || tk["force"] != true {
		t.Fatalf("takeover record = %v; want by ops, forced", wd.Body["context"])
	}

	// Both regions receive the TAKEOVER; only the former owner applies it.
	w.deliver(t, w.west)
	if resp := w.deliver(t, w.east); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("east failed to apply: %+v", resp)
	}
	ed, err := w.east.repo.Get(ctx, id)
	if err != nil || ed.Owned || ed.Partition != "us-west-2" {
		t.Fatalf("east's row after the TAKEOVER: %+v %v; want owned by us-west-2", ed.Summary, err)
	}
	// East's replay runner and operators are refused from now on.
	for name, act := range map[string]func() error{
		"advance a stage": func() error { _, err := w.east.repo.UpdateStage(ctx, id, "1", executions.Succeeded, nil); return err },
		"cancel":          func() error { _, err := w.east.repo.Cancel(ctx, id, "bob", "x"); return err },
		"delete":          func() error { return w.east.repo.Delete(ctx, id) },
	} {
		if err := act(); !errors.As(err, &fe) || fe.Code != "FOREIGN_EXECUTION" {
			t.Errorf("east tried to %s after the takeover: %v; want FOREIGN_EXECUTION", name, err)
		}
	}
	// West carries on.
	if _, err := w.west.repo.UpdateStage(ctx, id, "1", executions.Succeeded, nil); err != nil {
		t.Fatalf("west advancing the execution it took over: %v", err)
	}
	wd, _ = w.west.repo.Get(ctx, id)
	if !wd.Owned || wd.Partition != "us-west-2" {
		t.Fatalf("west's row after its own TAKEOVER came back: %+v", wd.Summary)
	}
}
