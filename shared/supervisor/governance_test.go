package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/logstore"
	"github.com/logwise/controlplane/shared/logstore/s3test"
	"github.com/logwise/controlplane/shared/spark/sparktest"
)

// A realistic bucket: the streaming query's checkpoint, the file sink's log, data partitions
// of two services, and keys that only look like Spark state (they must survive).
var (
	checkpointKeys = []string{
		"checkpoint/metadata",
		"checkpoint/offsets/0", "checkpoint/offsets/1", "checkpoint/offsets/2", "checkpoint/offsets/3", "checkpoint/offsets/4",
		"checkpoint/commits/0", "checkpoint/commits/1", "checkpoint/commits/2", "checkpoint/commits/3",
		"checkpoint/sources/0/0",
		"checkpoint/state/0/0/1.delta", "checkpoint/state/0/0/2.delta", "checkpoint/state/0/1/1.delta", "checkpoint/state/0/0/_metadata/schema",
	}
	metadataKeys = []string{
		"logs/_spark_metadata/0", "logs/_spark_metadata/1", "logs/_spark_metadata/2", "logs/_spark_metadata/3",
		"logs/_spark_metadata/4", "logs/_spark_metadata/5", "logs/_spark_metadata/6", "logs/_spark_metadata/7",
		"logs/_spark_metadata/8", "logs/_spark_metadata/9.compact", "logs/_spark_metadata/10",
	}
	dataKeys = []string{
		"logs/service_name=a/year=2026/month=11/day=22/hour=10/minute=05/part-00000-1b2c.c000.snappy.parquet",
		"logs/service_name=a/year=2026/month=11/day=22/hour=10/minute=06/part-00000-3d4e.c000.snappy.parquet",
		"logs/service_name=a/year=2026/month=11/day=22/hour=11/minute=00/part-00001-5f6a.c000.snappy.parquet",
		"logs/service_name=b/year=2026/month=11/day=21/hour=23/minute=59/part-00000-7b8c.c000.snappy.parquet",
		"logs/service_name=checkpoint/year=2026/month=11/day=22/hour=10/minute=05/part-00000-9d0e.c000.snappy.parquet",
	}
	lookalikeKeys = []string{"checkpoint-archive/offsets/0", "logs/_spark_metadata_old/0"}
)

// govEnv is a replay environment with the real cleaner against an in-process S3, and the
// execution repository governing replays.
type govEnv struct {
	*env
	s3    *s3test.Server
	repo  *executions.Repository
	sup   *Supervisor
	local string
}

func newGovEnv(t *testing.T) *govEnv {
	t.Helper()
	e := newEnv(t, sparktest.Options{})
	srv := s3test.New(t)
	srv.Put(t, checkpointKeys...)
	srv.Put(t, metadataKeys...)
	srv.Put(t, dataKeys...)
	srv.Put(t, lookalikeKeys...)
	e.tenant.ObjectStore.AWS.Bucket = srv.Bucket
	e.tenant.Spark.LogsDir, e.tenant.Spark.CheckPointDir = "logs", "checkpoint"
	repo := executions.NewRepository(e.db.SQL(), "test")
	repo.SetClock(e.clock.now)
	e.deps.CleanState = LogstoreCleaner(func(config.Tenant) (logstore.S3API, error) { return srv.Client, nil })
	e.deps.Pipelines = repo
	g := &govEnv{env: e, s3: srv, repo: repo, local: "test"}
	g.sup = e.supervisor()
	return g
}

// world is what the Spark simulator and the S3 stand-in hold.
type world struct {
	Active      string // active drivers "id:STATE[+kill]"
	Submissions int
	Checkpoint  int // objects under checkpoint/
	Metadata    int // objects under logs/_spark_metadata/
	Data        int // objects under logs/service_name=
	Lookalikes  int
}

func (g *govEnv) world(t *testing.T) world {
	t.Helper()
	var w world
	var active []string
	for _, d := range g.master.ActiveDrivers() {
		s := d.ID + ":" + string(d.State)
		if d.KillRequested {
			s += "+kill"
		}
		active = append(active, s)
	}
	w.Active = strings.Join(active, ",")
	w.Submissions = len(g.master.Submissions())
	for _, k := range g.s3.Keys(t) {
		switch {
		case strings.HasPrefix(k, "checkpoint/"):
			w.Checkpoint++
		case strings.HasPrefix(k, "logs/_spark_metadata/"):
			w.Metadata++
		case strings.HasPrefix(k, "logs/service_name="):
			w.Data++
		default:
			w.Lookalikes++
		}
	}
	return w
}

var fullBucket = world{Checkpoint: len(checkpointKeys), Metadata: len(metadataKeys), Data: len(dataKeys), Lookalikes: len(lookalikeKeys)}

// with returns w with the drivers and submissions set.
func (w world) with(active string, submissions int) world {
	w.Active, w.Submissions = active, submissions
	return w
}

func (g *govEnv) expectWorld(t *testing.T, when string, want world) {
	t.Helper()
	if got := g.world(t); got != want {
		t.Errorf("%s:\n got  %+v\n want %+v", when, got, want)
	}
}

func (g *govEnv) check(t *testing.T, want Action) Result {
	t.Helper()
	r, err := g.sup.Check(context.Background(), g.tenant, Options{})
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if r.Action != want {
		t.Fatalf("check: got action %s (%+v, replay %+v), want %s", r.Action, r, r.Replay, want)
	}
	return r
}

// stages returns the pipeline's status and its stages as "refId:type:STATUS".
func (g *govEnv) stages(t *testing.T, id string) (executions.Status, []string) {
	t.Helper()
	d, err := g.repo.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, st := range d.Stages {
		out = append(out, fmt.Sprintf("%v:%v:%v", st["refId"], st["type"], st["status"]))
	}
	return d.Status, out
}

func (g *govEnv) expectPipeline(t *testing.T, when, id string, status executions.Status, stageStatuses ...executions.Status) {
	t.Helper()
	got, stages := g.stages(t, id)
	var gotStatuses []string
	for _, s := range stages {
		gotStatuses = append(gotStatuses, s[strings.LastIndex(s, ":")+1:])
	}
	want := fmt.Sprint(stageStatuses)
	if got != status || fmt.Sprint(gotStatuses) != want {
		t.Errorf("%s: pipeline %s %v, want %s %s", when, got, stages, status, want)
	}
}

const (
	NS = executions.NotStarted
	RN = executions.Running
	SU = executions.Succeeded
	PA = executions.Paused
	CA = executions.Canceled
	TE = executions.Terminal
)

// startJob submits the ordinary job and lets it run; it returns the driver's ID.
func (g *govEnv) startJob(t *testing.T) string {
	t.Helper()
	r := g.check(t, Submit)
	g.master.Step()
	return r.SubmissionID
}

// replayDueNow creates a replay (by alice, no approval) whose timestamp phase is due now and
// whose resume phase is an hour later.
func (g *govEnv) replayDueNow(t *testing.T) Replay {
	t.Helper()
	now := g.clock.now()
	rp, err := g.sup.CreateReplay(context.Background(), g.tenant.Name, ReplayRequest{StartingOffsetsTimestamp: now.UnixMilli(),
		ResumeToSubscribePatternTimestamp: now.Add(time.Hour).UnixMilli()}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

func TestReplayDeletesExactlyCheckpointAndSparkMetadataOncePerPhase(t *testing.T) {
	t.Parallel()
	g := newGovEnv(t)
	ctx := context.Background()
	d1 := g.startJob(t)
	rp := g.replayDueNow(t)
	g.s3.Reset()
	g.check(t, ReplayKilling)
	g.master.Step() // the worker reports KILLED
	r := g.check(t, ReplaySubmit)
	g.expectWorld(t, "after phase TIMESTAMP", world{Data: len(dataKeys), Lookalikes: len(lookalikeKeys)}.with(r.SubmissionID+":SUBMITTED", 2))
	if n := g.s3.Count(s3test.DeleteObjects); n != 2 {
		t.Errorf("phase TIMESTAMP sent %d DeleteObjects requests, want 2 (one per prefix)", n)
	}
	if d, _ := g.master.Driver(d1); d.Active {
		t.Errorf("driver %s of the old checkpoint is still active", d1)
	}
	// The new driver writes its own state; checks before the resume time leave it alone.
	g.master.Step()
	g.s3.Put(t, "checkpoint/metadata", "checkpoint/offsets/0", "logs/_spark_metadata/0")
	g.s3.Reset()
	for range 3 {
		g.clock.advance(10 * time.Minute)
		g.check(t, Keep)
	}
	if n := g.s3.Count(s3test.DeleteObjects); n != 0 {
		t.Errorf("between phases %d DeleteObjects requests were sent, want 0", n)
	}
	// Phase RESUME deletes the new state, once.
	g.clock.advance(time.Hour)
	g.check(t, ReplayKilling)
	g.master.Step()
	r = g.check(t, ReplaySubmit)
	g.expectWorld(t, "after phase RESUME", world{Data: len(dataKeys), Lookalikes: len(lookalikeKeys)}.with(r.SubmissionID+":SUBMITTED", 3))
	if n := g.s3.Count(s3test.DeleteObjects); n != 2 {
		t.Errorf("phase RESUME sent %d DeleteObjects requests, want 2", n)
	}
	g.master.Step()
	g.check(t, Keep)
	got, _ := g.sup.replay(ctx, g.tenant.Name, rp.ID)
	if got.Phase != PhaseDone {
		t.Errorf("replay %+v, want DONE", got)
	}
	g.expectPipeline(t, "finished replay", rp.PipelineID, SU, SU, SU, SU, SU, SU, SU, SU)
	var keys []string
	for _, k := range g.s3.Keys(t) {
		if !strings.HasPrefix(k, "logs/service_name=") {
			keys = append(keys, k)
		}
	}
	if fmt.Sprint(keys) != fmt.Sprint(lookalikeKeys) {
		t.Errorf("keys left outside the data partitions: %v, want only %v", keys, lookalikeKeys)
	}
}

func TestReplayPausedResumedJudgedAndCanceledThroughExecutionActions(t *testing.T) {
	t.Parallel()
	g := newGovEnv(t)
	ctx := context.Background()
	d1 := g.startJob(t)
	now := g.clock.now()
	rp, err := g.sup.CreateReplay(ctx, g.tenant.Name, ReplayRequest{StartingOffsetsTimestamp: now.UnixMilli(),
		ResumeToSubscribePatternTimestamp: now.Add(time.Hour).UnixMilli(), ApprovalRequired: true}, "alice")
	if err != nil || rp.PipelineID == "" {
		t.Fatalf("create: %+v, %v; want a replay with its pipeline", rp, err)
	}
	id := rp.PipelineID
	running := fullBucket.with(d1+":RUNNING", 1)
	g.expectPipeline(t, "created", id, RN, RN, NS, NS, NS, NS, NS, NS, NS)

	// Paused while waiting for the judgment: nothing happens, and no judgment is accepted.
	if _, err := g.repo.Pause(ctx, id, "bob"); err != nil {
		t.Fatal(err)
	}
	if r := g.check(t, Keep); r.Replay == nil || !strings.Contains(r.Replay.Note, "paused by bob") {
		t.Errorf("paused: replay status %+v, want a note naming the pause", r.Replay)
	}
	g.expectWorld(t, "paused before the judgment", running)
	if _, err := g.repo.Judge(ctx, id, "1", executions.Continue, "carol", ""); fault.KindOf(err) != fault.Conflict {
		t.Errorf("judgment on a paused pipeline: %v, want CONFLICT", err)
	}

	// Resumed: still waiting for the judgment.
	if _, err := g.repo.Resume(ctx, id, "bob"); err != nil {
		t.Fatal(err)
	}
	if r := g.check(t, Keep); r.Replay == nil || !strings.Contains(r.Replay.Note, "approval") {
		t.Errorf("resumed: replay status %+v, want it waiting for approval", r.Replay)
	}
	g.expectWorld(t, "resumed, not judged", running)

	// Judged continue: the driver is killed; nothing is deleted while it stops.
	if _, err := g.repo.Judge(ctx, id, "1", executions.Continue, "carol", "go"); err != nil {
		t.Fatal(err)
	}
	g.check(t, ReplayKilling)
	g.expectWorld(t, "judged continue", fullBucket.with(d1+":RUNNING+kill", 1))
	if got, _ := g.sup.replay(ctx, g.tenant.Name, rp.ID); got.ApprovedBy != "carol" {
		t.Errorf("approvedBy %q, want carol (from the judgment)", got.ApprovedBy)
	}
	g.expectPipeline(t, "killing", id, RN, SU, RN, NS, NS, NS, NS, NS, NS)

	// Paused in the middle of the phase: the driver stops, but the state is not deleted and
	// nothing is submitted while paused, however many checks run.
	if _, err := g.repo.Pause(ctx, id, "bob"); err != nil {
		t.Fatal(err)
	}
	g.master.Step()
	for range 3 {
		g.check(t, ReplayPaused)
	}
	g.expectWorld(t, "paused mid-phase", fullBucket.with("", 1))

	// Resumed: the state is deleted and the job submitted from the timestamp.
	if _, err := g.repo.Resume(ctx, id, "bob"); err != nil {
		t.Fatal(err)
	}
	r := g.check(t, ReplaySubmit)
	g.master.Step()
	afterPhase1 := world{Data: len(dataKeys), Lookalikes: len(lookalikeKeys)}.with(r.SubmissionID+":RUNNING", 2)
	g.expectWorld(t, "resumed mid-phase", afterPhase1)
	if !strings.Contains(lastBody(g.master), fmt.Sprintf("kafka.startingOffsetsTimestamp=%d", now.UnixMilli())) {
		t.Errorf("phase TIMESTAMP body lacks the timestamp: %s", lastBody(g.master))
	}
	g.expectPipeline(t, "phase TIMESTAMP done", id, RN, SU, SU, SU, SU, RN, NS, NS, NS)

	// Canceled between phases: at the resume time nothing is killed, deleted or submitted.
	if _, err := g.repo.Cancel(ctx, id, "dave", "keep reading from the timestamp"); err != nil {
		t.Fatal(err)
	}
	g.s3.Put(t, "checkpoint/metadata", "checkpoint/offsets/0")
	g.clock.advance(2 * time.Hour)
	res := g.check(t, Keep)
	g.check(t, Keep)
	afterPhase1.Checkpoint = 2
	g.expectWorld(t, "canceled", afterPhase1)
	got, _ := g.sup.replay(ctx, g.tenant.Name, rp.ID)
	if got.CanceledBy != "dave" || !strings.Contains(got.EndReason, "canceled by dave") || res.Replay == nil {
		t.Errorf("canceled replay %+v (check %+v), want canceled by dave with the reason", got, res.Replay)
	}
	g.expectPipeline(t, "canceled", id, CA, SU, SU, SU, SU, CA, CA, CA, CA)
}

func TestStopJudgmentEndsReplayWithoutKillingOrDeleting(t *testing.T) {
	t.Parallel()
	g := newGovEnv(t)
	ctx := context.Background()
	d1 := g.startJob(t)
	now := g.clock.now()
	rp, err := g.sup.CreateReplay(ctx, g.tenant.Name, ReplayRequest{StartingOffsetsTimestamp: now.UnixMilli(),
		ResumeToSubscribePatternTimestamp: now.Add(time.Hour).UnixMilli(), ApprovalRequired: true}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.repo.Judge(ctx, rp.PipelineID, "1", executions.Stop, "carol", "not now"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		g.check(t, Keep)
		g.clock.advance(time.Hour)
	}
	g.expectWorld(t, "after a stop judgment", fullBucket.with(d1+":RUNNING", 1))
	got, _ := g.sup.replay(ctx, g.tenant.Name, rp.ID)
	if got.CanceledAt == nil || !strings.Contains(got.EndReason, "stopped at the approval judgment by carol") {
		t.Errorf("replay %+v, want it ended by carol's stop judgment", got)
	}
	g.expectPipeline(t, "stopped", rp.PipelineID, TE, TE, NS, NS, NS, NS, NS, NS, NS)
	if _, err := g.sup.ApproveReplay(ctx, g.tenant.Name, rp.ID, "erin"); fault.KindOf(err) != fault.Conflict {
		t.Errorf("approving an ended replay: %v, want CONFLICT", err)
	}
}

func TestReplayAPIApprovalAndCancelAnswerThePipeline(t *testing.T) {
	t.Parallel()
	g := newGovEnv(t)
	ctx := context.Background()
	d1 := g.startJob(t)
	now := g.clock.now()
	rp, err := g.sup.CreateReplay(ctx, g.tenant.Name, ReplayRequest{StartingOffsetsTimestamp: now.Add(time.Hour).UnixMilli(),
		ResumeToSubscribePatternTimestamp: now.Add(2 * time.Hour).UnixMilli(), ApprovalRequired: true}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.sup.ApproveReplay(ctx, g.tenant.Name, rp.ID, "carol"); err != nil {
		t.Fatal(err)
	}
	d, _ := g.repo.Get(ctx, rp.PipelineID)
	if st, _ := d.StageOf("1"); st.Status != SU || st.Context["judgmentStatus"] != "continue" || st.Context["judgedBy"] != "carol" {
		t.Errorf("judgment stage after ApproveReplay: %+v, want SUCCEEDED continue by carol", st)
	}
	if _, err := g.sup.CancelReplay(ctx, g.tenant.Name, rp.ID, "dave"); err != nil {
		t.Fatal(err)
	}
	g.expectPipeline(t, "CancelReplay", rp.PipelineID, CA, SU, CA, CA, CA, CA, CA, CA, CA)
	g.clock.advance(2 * time.Hour)
	g.check(t, Keep)
	g.expectWorld(t, "canceled through the replay API", fullBucket.with(d1+":RUNNING", 1))
}

func TestTakenOverReplayPipelineContinuesAtTheNextStepWithoutDeletingAgain(t *testing.T) {
	t.Parallel()
	g := newGovEnv(t)
	ctx := context.Background()
	now := g.clock.now()
	// Region "eu" ran stages 1-3 (approval, kill, checkpoint deletion) and stopped.
	eu := executions.NewRepository(g.db.SQL(), "eu")
	req := ReplayRequest{StartingOffsetsTimestamp: now.Add(-time.Hour).UnixMilli(), ResumeToSubscribePatternTimestamp: now.Add(time.Hour).UnixMilli(), ApprovalRequired: true}
	id, err := eu.StartPipeline(ctx, replayPipeline(g.tenant.Name, req, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eu.UpdateStage(ctx, id, "1", RN, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := eu.Judge(ctx, id, "1", executions.Continue, "carol", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := eu.UpdateStages(ctx, id, executions.StageUpdate{RefID: "2", Status: SU}, executions.StageUpdate{RefID: "3", Status: SU},
		executions.StageUpdate{RefID: "4", Status: RN}); err != nil {
		t.Fatal(err)
	}
	// Before the takeover the pipeline is foreign: the monitor leaves it alone.
	g.master.SetStatus("RECOVERING")
	g.check(t, WaitForMaster)
	if list, _ := g.sup.ListReplays(ctx, g.tenant.Name); len(list) != 0 {
		t.Fatalf("a foreign pipeline was adopted: %+v", list)
	}
	g.master.SetStatus("ALIVE")
	if _, err := g.repo.SetOwner(ctx, id, "eu", executions.Takeover{By: "ops", Reason: "eu is down"}); err != nil {
		t.Fatal(err)
	}
	g.s3.Reset()
	r := g.check(t, ReplaySubmit)
	g.expectWorld(t, "continued after the takeover", fullBucket.with(r.SubmissionID+":SUBMITTED", 1))
	if n := g.s3.Count(s3test.DeleteObjects); n != 0 {
		t.Errorf("the continuation sent %d DeleteObjects requests; the deletion was done by eu", n)
	}
	if !strings.Contains(lastBody(g.master), fmt.Sprintf("kafka.startingOffsetsTimestamp=%d", req.StartingOffsetsTimestamp)) {
		t.Errorf("continued submission lacks the timestamp: %s", lastBody(g.master))
	}
	g.expectPipeline(t, "after the continuation", id, RN, SU, SU, SU, SU, RN, NS, NS, NS)
	list, _ := g.sup.ListReplays(ctx, g.tenant.Name)
	if len(list) != 1 || list[0].PipelineID != id || list[0].Phase != PhaseResume || list[0].ApprovedBy != "carol" {
		t.Fatalf("adopted replay: %+v", list)
	}
	g.master.Step()
	g.check(t, Keep)
	if list, _ := g.sup.ListReplays(ctx, g.tenant.Name); len(list) != 1 {
		t.Errorf("adopted %d times, want once", len(list))
	}
}

func TestResumePointFromStageStatuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		approval bool
		statuses []executions.Status
		want     string
	}{
		{"nothing done, approval waiting", true, []executions.Status{RN, NS, NS, NS, NS, NS, NS, NS}, "TIMESTAMP/WAITING by= cleaned=[]"},
		{"approved, kill not started", true, []executions.Status{SU, NS, NS, NS, NS, NS, NS, NS}, "TIMESTAMP/WAITING by=carol cleaned=[]"},
		{"killing", false, []executions.Status{RN, NS, NS, NS, NS, NS, NS}, "TIMESTAMP/KILLING by= cleaned=[]"},
		{"stages 1-3 done: submit", true, []executions.Status{SU, SU, SU, RN, NS, NS, NS, NS}, "TIMESTAMP/SUBMITTING by=carol cleaned=[TIMESTAMP]"},
		{"waiting for resume", false, []executions.Status{SU, SU, SU, RN, NS, NS, NS}, "RESUME/WAITING by= cleaned=[TIMESTAMP]"},
		{"resume kill not started", false, []executions.Status{SU, SU, SU, SU, NS, NS, NS}, "RESUME/WAITING by= cleaned=[TIMESTAMP]"},
		{"resume cleaning, paused", false, []executions.Status{SU, SU, SU, SU, SU, PA, NS}, "RESUME/CLEANING by= cleaned=[TIMESTAMP]"},
		{"resume submitting", false, []executions.Status{SU, SU, SU, SU, SU, SU, RN}, "RESUME/SUBMITTING by= cleaned=[TIMESTAMP RESUME]"},
		{"all done", false, []executions.Status{SU, SU, SU, SU, SU, SU, SU}, "done"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := executions.Detail{Summary: executions.Summary{ID: "X"}}
			for i, s := range c.statuses {
				st := map[string]any{"refId": fmt.Sprint(i + 1), "status": string(s), "context": map[string]any{}}
				if c.approval && i == 0 {
					st["context"] = map[string]any{"judgedBy": "carol"}
				}
				d.Stages = append(d.Stages, st)
			}
			p := readResumePoint(d, c.approval)
			got := fmt.Sprintf("%s/%s by=%s cleaned=%v", p.Phase, p.Step, p.ApprovedBy, p.Cleaned)
			if p.Done {
				got = "done"
			}
			if got != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
}

func TestConcurrentMonitorRunsActOnceOnAGovernedReplay(t *testing.T) {
	t.Parallel()
	g := newGovEnv(t)
	ctx := context.Background()
	g.startJob(t)
	g.db.SetClock(time.Now) // leases on real time
	rp := g.replayDueNow(t)
	g.s3.Reset()
	round := func() map[Action]int {
		var wg sync.WaitGroup
		var mu sync.Mutex
		got := map[Action]int{}
		start := make(chan struct{})
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := New(g.deps)
				s.SetClock(g.clock.now, g.clock.sleep)
				<-start
				r, err := s.Check(ctx, g.tenant, Options{})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Errorf("check: %v", err)
				}
				got[r.Action]++
			}()
		}
		close(start)
		wg.Wait()
		return got
	}
	// Round 1: the invocations that get the lease (one at a time) request the kill; the
	// others are BUSY. Round 2: one submits; the others are BUSY or find the new driver.
	got := round()
	if got[ReplayKilling] < 1 || got[ReplayKilling]+got[Busy] != 8 {
		t.Errorf("round 1: outcomes %v, want REPLAY_KILLING or BUSY only", got)
	}
	g.master.Step()
	got = round()
	if got[ReplaySubmit] != 1 || got[ReplaySubmit]+got[Busy]+got[Keep] != 8 {
		t.Errorf("round 2: outcomes %v, want exactly one REPLAY_SUBMIT, the rest BUSY or NONE", got)
	}
	if n := len(g.master.Submissions()); n != 2 {
		t.Errorf("master received %d submissions, want 2 (the job and the replay)", n)
	}
	if n := g.s3.Count(s3test.DeleteObjects); n != 2 {
		t.Errorf("%d DeleteObjects requests, want 2 (one deletion)", n)
	}
	if n := g.executions(t, "sparkKill"); n != 1 {
		t.Errorf("%d kills recorded, want 1", n)
	}
	if n := g.executions(t, "sparkCheckpointCleanup"); n != 1 {
		t.Errorf("%d cleanups recorded, want 1", n)
	}
	g.expectPipeline(t, "after the concurrent rounds", rp.PipelineID, RN, SU, SU, SU, RN, NS, NS, NS)
}

// TestEveryAutomaticActionRecordsInputsRuleAndOutcome reads the stage contexts back from
// Orca's tables: each automatic action (submission, kill, checkpoint cleanup, crash loop) and
// each replay step must say what it saw, by which rule it acted and what came of it.
func TestEveryAutomaticActionRecordsInputsRuleAndOutcome(t *testing.T) {
	t.Parallel()
	g := newGovEnv(t)
	ctx := context.Background()
	g.startJob(t)
	rp := g.replayDueNow(t)
	g.check(t, ReplayKilling)
	g.master.Step()
	g.check(t, ReplaySubmit)
	g.master.Step()
	// A crash loop: every submission fails at once until the budget is spent.
	for range policy.MaxSubmissions + 3 {
		for _, d := range g.master.ActiveDrivers() {
			g.master.ErrorDriver(d.ID, "java.lang.ClassNotFoundException")
		}
		g.clock.advance(2 * time.Minute)
		if _, err := g.sup.Check(ctx, g.tenant, Options{}); err != nil {
			t.Fatal(err)
		}
		g.master.Step()
	}
	read := func(query string, args ...any) map[string][]map[string]any {
		rows, err := g.db.SQL().QueryContext(ctx, query, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string][]map[string]any{}
		for rows.Next() {
			var body string
			if err := rows.Scan(&body); err != nil {
				t.Fatal(err)
			}
			var st struct {
				Type    string         `json:"type"`
				Context map[string]any `json:"context"`
			}
			if err := json.Unmarshal([]byte(body), &st); err != nil {
				t.Fatal(err)
			}
			out[st.Type] = append(out[st.Type], st.Context)
		}
		return out
	}
	orch := read(`SELECT s.body FROM orchestration_stages s JOIN orchestrations o ON o.id = s.execution_id WHERE o.application = ?`, g.tenant.Name)
	pipe := read(`SELECT body FROM pipeline_stages WHERE execution_id = ? AND status = 'SUCCEEDED'`, rp.PipelineID)
	cases := []struct {
		name    string
		stages  []map[string]any
		outcome string // a key the outcome must hold
	}{
		{"sparkSubmission", orch["sparkSubmission"], "submissionId"},
		{"sparkKill", orch["sparkKill"], "driverId"},
		{"sparkCheckpointCleanup", orch["sparkCheckpointCleanup"], "objectsDeleted"},
		{"sparkCrashLoop", orch["sparkCrashLoop"], "state"},
		{"replay stage sparkKill", pipe["sparkKill"], "verifiedNoDriverAlive"},
		{"replay stage sparkCheckpointCleanup", pipe["sparkCheckpointCleanup"], "objectsDeleted"},
		{"replay stage sparkSubmission", pipe["sparkSubmission"], "submissionId"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if len(c.stages) == 0 {
				t.Fatal("no stage recorded")
			}
			for _, st := range c.stages {
				in, _ := st["inputs"].(map[string]any)
				rule, _ := st["rule"].(string)
				out, _ := st["outcome"].(map[string]any)
				if len(in) == 0 || rule == "" || out[c.outcome] == nil {
					t.Errorf("stage context %v: want inputs, a rule and an outcome with %q", st, c.outcome)
				}
			}
		})
	}
	if n := pipe["sparkCheckpointCleanup"][0]["outcome"].(map[string]any)["objectsDeleted"]; n != float64(len(checkpointKeys)+len(metadataKeys)) {
		t.Errorf("replay cleanup stage says %v objects deleted, want %d", n, len(checkpointKeys)+len(metadataKeys))
	}
}

func TestReplayDeletionRefusedByS3StaysInCleaningAndSaysWhy(t *testing.T) {
	t.Parallel()
	g := newGovEnv(t)
	ctx := context.Background()
	g.startJob(t)
	rp := g.replayDueNow(t)
	g.s3.RefuseDelete("checkpoint/offsets/3")
	g.check(t, ReplayKilling)
	g.master.Step()
	_, err := g.sup.Check(ctx, g.tenant, Options{})
	if fault.KindOf(err) != fault.Upstream || !strings.Contains(err.Error(), "checkpoint/offsets/3") {
		t.Fatalf("check: %v, want an upstream error naming the refused key", err)
	}
	g.expectWorld(t, "after the refused deletion", world{Checkpoint: 1, Data: len(dataKeys), Lookalikes: len(lookalikeKeys)}.with("", 1))
	got, _ := g.sup.replay(ctx, g.tenant.Name, rp.ID)
	d, _ := g.repo.Get(ctx, rp.PipelineID)
	st, _ := d.StageOf("2")
	if got.Step != StepCleaning || !strings.Contains(got.LastError, "AccessDenied") || st.Status != RN ||
		!strings.Contains(fmt.Sprint(st.Context["lastError"]), "AccessDenied") {
		t.Fatalf("replay %+v, stage %+v: want CLEANING with the error in the row and the stage", got, st)
	}
	// Once the key can go, the next check deletes it and submits.
	g.s3.Delete(t, "checkpoint/offsets/3")
	r := g.check(t, ReplaySubmit)
	g.expectWorld(t, "after the retry", world{Data: len(dataKeys), Lookalikes: len(lookalikeKeys)}.with(r.SubmissionID+":SUBMITTED", 2))
}

// TestCancelMidPhaseIsRefusedAndTheReplayCompletesItsPhase: once a replay is past its
// approval point (its driver is being killed), a cancel through the replay API or the
// executions API (which an interlink CANCEL also reaches) is refused with 409
// CANCEL_REFUSED saying why, and the replay completes the phase with its own timestamp
// (no restart on a half-deleted checkpoint with startingOffsets=latest). Between phases the
// cancel is accepted again.
func TestCancelMidPhaseIsRefusedAndTheReplayCompletesItsPhase(t *testing.T) {
	t.Parallel()
	g := newGovEnv(t)
	ctx := context.Background()
	d1 := g.startJob(t)
	rp := g.replayDueNow(t)
	g.check(t, ReplayKilling)
	if _, err := g.sup.CancelReplay(ctx, g.tenant.Name, rp.ID, "dave"); fault.KindOf(err) != fault.Conflict || codeOf(err) != "CANCEL_REFUSED" {
		t.Errorf("CancelReplay mid-phase: %v (code %q), want CONFLICT CANCEL_REFUSED", err, codeOf(err))
	}
	_, err := g.repo.Cancel(ctx, rp.PipelineID, "dave", "wrong timestamp")
	if fault.KindOf(err) != fault.Conflict || codeOf(err) != "CANCEL_REFUSED" || !strings.Contains(err.Error(), "Kill the driver (timestamp phase)") {
		t.Fatalf("executions cancel mid-phase: %v (code %q), want CONFLICT CANCEL_REFUSED naming the running stage", err, codeOf(err))
	}
	g.master.Step() // the killed driver stops
	r := g.check(t, ReplaySubmit)
	g.expectWorld(t, "after the refused cancel", world{Data: len(dataKeys), Lookalikes: len(lookalikeKeys)}.with(r.SubmissionID+":SUBMITTED", 2))
	if body := lastBody(g.master); !strings.Contains(body, fmt.Sprintf("kafka.startingOffsetsTimestamp=%d", rp.StartingOffsetsTimestamp)) {
		t.Errorf("the replay's submission lacks its own timestamp: %s", body)
	}
	if d, _ := g.master.Driver(d1); d.Active {
		t.Errorf("driver %s still active", d1)
	}
	// Between phases (waiting for the resume time) the job runs on its new checkpoint: a
	// cancel is accepted.
	if _, err := g.repo.Cancel(ctx, rp.PipelineID, "dave", "enough"); err != nil {
		t.Fatalf("cancel between phases: %v", err)
	}
}

// codeOf is the machine-readable code of err's fault ("" when it has none).
func codeOf(err error) string {
	var f *fault.Error
	if errors.As(err, &f) {
		return f.Code
	}
	return ""
}
