package executions_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/store/storetest"
)

// fixture is a local database with one owned replay pipeline (with a judgment stage), one
// owned finished orchestration and one foreign pipeline copied from eu-west-1.
type fixture struct {
	repo                      *executions.Repository
	replay, finished, foreign string
	now                       *time.Time
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	db := storetest.New(t)
	now := time.Date(2031, 11, 22, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	repo := executions.NewRepository(db.SQL(), "us-east-1")
	repo.SetClock(clock)
	ctx := context.Background()
	replay, err := repo.StartPipeline(ctx, executions.PipelineSpec{Tenant: "ABC", Name: "replay", Stages: []executions.StageSpec{
		{RefID: "1", Type: "killDriver", Name: "Kill the driver"},
		{RefID: "2", Type: "manualJudgment", Name: "Approve checkpoint deletion"},
		{RefID: "3", Type: "deleteCheckpoint", Name: "Delete checkpoint"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	log := executions.NewLog(db.SQL(), "us-east-1")
	log.SetClock(func() time.Time { return now.Add(-time.Hour) })
	finished, err := log.Record(ctx, executions.Action{Tenant: "ABC", Kind: "scaleWorkers"})
	if err != nil {
		t.Fatal(err)
	}
	foreignRepo := executions.NewRepository(db.SQL(), "eu-west-1")
	foreignRepo.SetClock(clock)
	foreign, err := foreignRepo.StartPipeline(ctx, executions.PipelineSpec{Tenant: "ABC", Name: "replay", Stages: []executions.StageSpec{
		{RefID: "1", Type: "manualJudgment", Name: "Approve"}}})
	if err != nil {
		t.Fatal(err)
	}
	return fixture{repo: repo, replay: replay, finished: finished, foreign: foreign, now: &now}
}

func TestActionsOnForeignExecutionsAreRefusedNamingTheOwner(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	actions := map[string]func() error{
		"cancel": func() error { _, err := f.repo.Cancel(ctx, f.foreign, "op", "x"); return err },
		"pause":  func() error { _, err := f.repo.Pause(ctx, f.foreign, "op"); return err },
		"resume": func() error { _, err := f.repo.Resume(ctx, f.foreign, "op"); return err },
		"judge":  func() error { _, err := f.repo.Judge(ctx, f.foreign, "1", executions.Continue, "op", ""); return err },
		"delete": func() error { return f.repo.Delete(ctx, f.foreign) },
		"update": func() error { _, err := f.repo.UpdateStage(ctx, f.foreign, "1", executions.Running, nil); return err },
	}
	for name, act := range actions {
		t.Run(name, func(t *testing.T) {
			err := act()
			var fe *fault.Error
			if !fault.Is(err, fault.Conflict) || !asFault(err, &fe) || fe.Code != "FOREIGN_EXECUTION" {
				t.Fatalf("err = %v, want Conflict FOREIGN_EXECUTION", err)
			}
			want := "execution " + f.foreign + " is owned by partition eu-west-1; act on it there"
			if fe.Message != want {
				t.Fatalf("message = %q, want %q", fe.Message, want)
			}
		})
	}
	d, err := f.repo.Get(ctx, f.foreign)
	if err != nil || d.Owned || d.Partition != "eu-west-1" || d.Status != executions.Running {
		t.Fatalf("foreign execution after refused actions: %+v, %v (reads must work, nothing must change)", d.Summary, err)
	}
}

func asFault(err error, target **fault.Error) bool { return errors.As(err, target) }

func TestPauseResumeJudgeCancelLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.repo.UpdateStage(ctx, f.replay, "1", executions.Succeeded, map[string]any{"killed": "driver-1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.repo.UpdateStage(ctx, f.replay, "2", executions.Running, nil); err != nil {
		t.Fatal(err)
	}
	d, err := f.repo.Pause(ctx, f.replay, "alice")
	if err != nil || d.Status != executions.Paused {
		t.Fatalf("pause: %v %v", d.Status, err)
	}
	if _, err := f.repo.UpdateStage(ctx, f.replay, "3", executions.Running, nil); !fault.Is(err, fault.Conflict) {
		t.Fatalf("a paused execution's stage advanced: err = %v", err)
	}
	if _, err := f.repo.Judge(ctx, f.replay, "2", executions.Continue, "alice", ""); !fault.Is(err, fault.Conflict) {
		t.Fatalf("judgment on a paused execution: err = %v, want Conflict", err)
	}
	if _, err := f.repo.Pause(ctx, f.replay, "alice"); !fault.Is(err, fault.Conflict) {
		t.Fatalf("pausing twice: err = %v, want Conflict", err)
	}
	if d, err = f.repo.Resume(ctx, f.replay, "bob"); err != nil || d.Status != executions.Running {
		t.Fatalf("resume: %v %v", d.Status, err)
	}
	if _, err := f.repo.Judge(ctx, f.replay, "1", executions.Continue, "bob", ""); !fault.Is(err, fault.Conflict) {
		t.Fatalf("judgment on a non-judgment stage: err = %v, want Conflict", err)
	}
	if _, err := f.repo.Judge(ctx, f.replay, "2", "maybe", "bob", ""); !fault.Is(err, fault.Invalid) {
		t.Fatalf("judgment %q: err = %v, want Invalid", "maybe", err)
	}
	if d, err = f.repo.Judge(ctx, f.replay, "2", executions.Continue, "bob", "ok to delete"); err != nil {
		t.Fatal(err)
	}
	st, _ := d.StageOf("2")
	if st.Status != executions.Succeeded || st.Context["judgmentStatus"] != "continue" || st.Context["judgedBy"] != "bob" {
		t.Fatalf("judged stage = %+v", st)
	}
	if d, err = f.repo.Cancel(ctx, f.replay, "carol", "wrong timestamp"); err != nil || d.Status != executions.Canceled || !d.Canceled {
		t.Fatalf("cancel: %+v %v", d.Summary, err)
	}
	st, _ = d.StageOf("3")
	if st.Status != executions.Canceled {
		t.Fatalf("unfinished stage after cancel = %s, want CANCELED", st.Status)
	}
	if d.Body["canceledBy"] != "carol" || d.Body["cancellationReason"] != "wrong timestamp" {
		t.Fatalf("cancel not recorded in the body: %v", d.Body)
	}
	if _, err := f.repo.Cancel(ctx, f.replay, "carol", ""); !fault.Is(err, fault.Conflict) {
		t.Fatalf("canceling a canceled execution: err = %v", err)
	}
	if d.UpdatedAt != f.now.UnixMilli() {
		t.Fatalf("updated_at = %d, want now (peers copy by it)", d.UpdatedAt)
	}
}

func TestJudgeStopEndsExecution(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.repo.UpdateStage(ctx, f.replay, "2", executions.Running, nil); err != nil {
		t.Fatal(err)
	}
	d, err := f.repo.Judge(ctx, f.replay, "2", executions.Stop, "alice", "not now")
	if err != nil || d.Status != executions.Terminal {
		t.Fatalf("stop: %v %v", d.Status, err)
	}
	if _, err := f.repo.UpdateStage(ctx, f.replay, "3", executions.Running, nil); !fault.Is(err, fault.Conflict) {
		t.Fatalf("stage advanced after stop: %v", err)
	}
}

func TestDeleteWritesTombstone(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	if err := f.repo.Delete(ctx, f.replay); !fault.Is(err, fault.Conflict) {
		t.Fatalf("deleting a running execution: err = %v, want Conflict", err)
	}
	if err := f.repo.Delete(ctx, f.finished); err != nil {
		t.Fatal(err)
	}
	if _, err := f.repo.Get(ctx, f.finished); !fault.Is(err, fault.NotFound) {
		t.Fatalf("deleted execution still readable: %v", err)
	}
	if err := f.repo.Delete(ctx, f.finished); !fault.Is(err, fault.NotFound) {
		t.Fatalf("second delete: %v, want NotFound", err)
	}
	if got := tombstones(t, f); len(got) != 1 || got[0] != f.finished+"/orchestration" {
		t.Fatalf("tombstones = %v", got)
	}
}

func tombstones(t *testing.T, f fixture) []string {
	t.Helper()
	return readTombstones(t, f.repo)
}

func TestListFiltersAndPaginates(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	all, err := f.repo.List(ctx, executions.Filter{Limit: 10})
	if err != nil || len(all.Executions) != 3 || all.NextCursor != "" {
		t.Fatalf("list all: %d %q %v", len(all.Executions), all.NextCursor, err)
	}
	local := "us-east-1"
	owned, _ := f.repo.List(ctx, executions.Filter{Partition: &local})
	if len(owned.Executions) != 2 {
		t.Fatalf("partition filter: %d, want 2", len(owned.Executions))
	}
	orch, _ := f.repo.List(ctx, executions.Filter{Type: executions.Orchestration})
	if len(orch.Executions) != 1 || orch.Executions[0].ID != f.finished {
		t.Fatalf("type filter: %+v", orch.Executions)
	}
	succ, _ := f.repo.List(ctx, executions.Filter{Statuses: []executions.Status{executions.Succeeded}})
	if len(succ.Executions) != 1 {
		t.Fatalf("status filter: %+v", succ.Executions)
	}
	recent, _ := f.repo.List(ctx, executions.Filter{Since: f.now.Add(-time.Minute)})
	if len(recent.Executions) != 2 {
		t.Fatalf("since filter: %d, want 2", len(recent.Executions))
	}
	seen := map[string]bool{}
	cur := ""
	for i := 0; i < 5; i++ {
		p, err := f.repo.List(ctx, executions.Filter{Limit: 1, Cursor: cur})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Executions {
			if seen[e.ID] {
				t.Fatalf("page %d repeats %s", i, e.ID)
			}
			seen[e.ID] = true
		}
		if cur = p.NextCursor; cur == "" {
			break
		}
	}
	if len(seen) != 3 {
		t.Fatalf("paging saw %d executions, want 3", len(seen))
	}
	if _, err := f.repo.List(ctx, executions.Filter{Cursor: "garbage"}); !fault.Is(err, fault.Invalid) {
		t.Fatalf("bad cursor: %v", err)
	}
	if _, err := f.repo.List(ctx, executions.Filter{Limit: 501}); !fault.Is(err, fault.Invalid) {
		t.Fatalf("limit 501: %v", err)
	}
}

func TestRetentionPurgesOwnedCompletedOnlyWithTombstones(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	n, err := f.repo.PurgeCompleted(ctx, f.now.Add(-30*time.Minute), 100)
	if err != nil || n != 1 {
		t.Fatalf("purged %d, %v; want 1 (the finished orchestration built an hour ago)", n, err)
	}
	if _, err := f.repo.Get(ctx, f.replay); err != nil {
		t.Fatalf("running replay purged: %v", err)
	}
	if _, err := f.repo.Get(ctx, f.foreign); err != nil {
		t.Fatalf("foreign copy purged (its owner decides): %v", err)
	}
	if got := readTombstones(t, f.repo); len(got) != 1 || got[0] != f.finished+"/orchestration" {
		t.Fatalf("tombstones = %v", got)
	}
}

func readTombstones(t *testing.T, r *executions.Repository) []string {
	return executions.ReadTombstones(t, r)
}

func TestUpdateStagesAppliesAllOrNoneAndKeepsCompletedStages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	status := func() string {
		d, err := f.repo.Get(ctx, f.replay)
		if err != nil {
			t.Fatal(err)
		}
		out := string(d.Status)
		for _, st := range d.Stages {
			out += " " + st["refId"].(string) + ":" + st["status"].(string)
		}
		return out
	}
	// Stage 1 done with its outcome; stage 3 started.
	_, err := f.repo.UpdateStages(ctx, f.replay,
		executions.StageUpdate{RefID: "1", Status: executions.Succeeded, Patch: map[string]any{"outcome": "killed"}},
		executions.StageUpdate{RefID: "3", Status: executions.Running})
	if got, want := status(), "RUNNING 1:SUCCEEDED 2:NOT_STARTED 3:RUNNING"; err != nil || got != want {
		t.Fatalf("got %s (%v), want %s", got, err, want)
	}
	// IfOpen leaves the completed stage (and its context) as it is.
	*f.now = f.now.Add(time.Minute)
	if _, err := f.repo.UpdateStages(ctx, f.replay,
		executions.StageUpdate{RefID: "1", Status: executions.Succeeded, Patch: map[string]any{"outcome": "again"}, IfOpen: true}); err != nil {
		t.Fatal(err)
	}
	d, _ := f.repo.Get(ctx, f.replay)
	if st, _ := d.StageOf("1"); st.Context["outcome"] != "killed" || st.EndTime != f.now.Add(-time.Minute).UnixMilli() {
		t.Errorf("stage 1 after an IfOpen update: %+v, want the first outcome and end time kept", st)
	}
	// Paused: refused, nothing changes; an unknown stage: nothing changes either.
	if _, err := f.repo.Pause(ctx, f.replay, "op"); err != nil {
		t.Fatal(err)
	}
	_, err = f.repo.UpdateStages(ctx, f.replay, executions.StageUpdate{RefID: "3", Status: executions.Succeeded})
	if got, want := status(), "PAUSED 1:SUCCEEDED 2:NOT_STARTED 3:PAUSED"; fault.KindOf(err) != fault.Conflict || got != want {
		t.Errorf("paused: got %s (%v), want %s and CONFLICT", got, err, want)
	}
	if _, err := f.repo.Resume(ctx, f.replay, "op"); err != nil {
		t.Fatal(err)
	}
	_, err = f.repo.UpdateStages(ctx, f.replay, executions.StageUpdate{RefID: "3", Status: executions.Succeeded},
		executions.StageUpdate{RefID: "9", Status: executions.Running})
	if got, want := status(), "RUNNING 1:SUCCEEDED 2:NOT_STARTED 3:RUNNING"; fault.KindOf(err) != fault.NotFound || got != want {
		t.Errorf("unknown stage: got %s (%v), want %s and NOT_FOUND", got, err, want)
	}
	// Foreign: refused.
	if _, err := f.repo.UpdateStages(ctx, f.foreign, executions.StageUpdate{RefID: "1", Status: executions.Running}); fault.KindOf(err) != fault.Conflict {
		t.Errorf("foreign: %v, want CONFLICT", err)
	}
}

// TestListOnTheEmbeddedServer runs the listing on go-mysql-server (the local default), with
// one type and with both.
func TestListOnTheEmbeddedServer(t *testing.T) {
	t.Parallel()
	db := storetest.NewEmbedded(t)
	repo := executions.NewRepository(db.SQL(), "local")
	ctx := context.Background()
	if _, err := repo.StartPipeline(ctx, executions.PipelineSpec{Tenant: "demo", Name: "sparkReplay"}); err != nil {
		t.Fatal(err)
	}
	if _, err := executions.NewLog(db.SQL(), "local").Record(ctx, executions.Action{Tenant: "demo", Kind: "scaleWorkers"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		typ  executions.Type
		want int
	}{{"", 2}, {executions.Pipeline, 1}, {executions.Orchestration, 1}} {
		p, err := repo.List(ctx, executions.Filter{Type: tc.typ, Application: "demo", Statuses: []executions.Status{executions.Running, executions.Succeeded}})
		if err != nil || len(p.Executions) != tc.want {
			t.Fatalf("List(type %q) = %d executions, %v; want %d", tc.typ, len(p.Executions), err, tc.want)
		}
	}
}
