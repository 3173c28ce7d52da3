package supervisor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/logstore"
	"github.com/logwise/controlplane/shared/spark"
	"github.com/logwise/controlplane/shared/spark/sparktest"
)

// cleaner stands in for logstore's DeleteSparkState: it counts deletions and checks that no
// driver of the job is alive while the state is deleted.
type cleaner struct {
	mu        sync.Mutex
	master    *sparktest.Master
	failNext  bool
	calls     int
	succeeded int
	unsafe    []string
}

func (c *cleaner) clean(_ context.Context, t config.Tenant) (logstore.DeleteReport, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	for _, d := range c.master.ActiveDrivers() {
		if d.MainClass == t.Spark.MainClass && Alive(d.State) {
			c.unsafe = append(c.unsafe, d.ID+" "+string(d.State))
		}
	}
	if c.failNext {
		c.failNext = false
		return logstore.DeleteReport{}, errors.New("DeleteObjects: SlowDown")
	}
	c.succeeded++
	return logstore.DeleteReport{Prefixes: []string{"checkpoint/", "logs/_spark_metadata/"}}, nil
}

// lossyCluster sends submissions but can lose the answer, like a timeout after the master
// accepted the request.
type lossyCluster struct {
	*spark.Client
	mu       sync.Mutex
	loseNext bool
}

func (l *lossyCluster) Submit(ctx context.Context, req *spark.CreateRequest) (spark.Submission, error) {
	sub, err := l.Client.Submit(ctx, req)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.loseNext && err == nil {
		l.loseNext = false
		return spark.Submission{}, fmt.Errorf("spark create: read: connection reset: %w", spark.ErrOutcomeUnknown)
	}
	return sub, err
}

func newReplayEnv(t *testing.T) (*env, *cleaner, *lossyCluster) {
	e := newEnv(t, sparktest.Options{})
	cl := &cleaner{master: e.master}
	lossy := &lossyCluster{Client: spark.New(spark.Config{Masters: []spark.Endpoint{e.master.Endpoint()}, Timeout: 2 * time.Second})}
	e.deps.CleanState = cl.clean
	e.deps.Clients = func(config.Tenant) (Cluster, error) { return lossy, nil }
	return e, cl, lossy
}

func lastBody(m *sparktest.Master) string {
	b := m.Submissions()
	return string(b[len(b)-1])
}

func TestReplayBothPhasesResumingAfterFailuresAtTheRightStep(t *testing.T) {
	t.Parallel()
	e, cl, lossy := newReplayEnv(t)
	s := e.supervisor()
	ctx := context.Background()
	// check runs one API check; wantErr "" means no error, otherwise a substring of it.
	check := func(wantAction Action, wantErr string) Result {
		t.Helper()
		r, err := s.Check(ctx, e.tenant, Options{})
		switch {
		case wantErr == "" && err != nil:
			t.Fatalf("check: unexpected error %v", err)
		case wantErr != "" && (err == nil || !strings.Contains(err.Error(), wantErr)):
			t.Fatalf("check: error %v, want one containing %q", err, wantErr)
		}
		if wantAction != "" && r.Action != wantAction {
			t.Fatalf("check: got %+v, want action %s", r, wantAction)
		}
		return r
	}
	replayRow := func(id int64) Replay {
		t.Helper()
		r, err := s.replay(ctx, e.tenant.Name, id)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	check(Submit, "")
	e.master.Step()
	start := e.clock.now().Add(time.Hour).UnixMilli()
	resume := e.clock.now().Add(2 * time.Hour).UnixMilli()
	rp, err := s.CreateReplay(ctx, e.tenant.Name, ReplayRequest{StartingOffsetsTimestamp: start, ResumeToSubscribePatternTimestamp: resume}, "alice")
	if err != nil || rp.Phase != PhaseTimestamp || rp.Step != StepWaiting {
		t.Fatalf("create: %+v, %v", rp, err)
	}
	if r := check(Keep, ""); r.Replay == nil || !strings.Contains(r.Replay.Note, "due at") {
		t.Errorf("before it is due: %+v, want the running driver kept and the replay noted", r)
	}

	// Phase TIMESTAMP is due: kill, and wait for the asynchronous kill.
	e.clock.advance(time.Hour)
	first := check(ReplayKilling, "").DriverID
	if d, _ := e.master.Driver(first); !d.KillRequested {
		t.Fatalf("driver %s has no kill request", first)
	}
	check(ReplayKilling, "") // the worker has not reported KILLED yet: nothing else happens
	if n := len(e.master.Submissions()); n != 1 || cl.calls != 0 {
		t.Fatalf("while killing: %d submissions, %d deletions; want 1 and 0", n, cl.calls)
	}

	// The deletion fails once: the replay stays in CLEANING and retries the same deletion.
	e.master.Step()
	cl.failNext = true
	check("", "SlowDown")
	if got := replayRow(rp.ID); got.Step != StepCleaning || !strings.Contains(got.LastError, "SlowDown") {
		t.Fatalf("after a failed deletion: %+v, want step CLEANING with the error", got)
	}
	// The deletion succeeds; the submission is sent but its answer is lost.
	lossy.loseNext = true
	check("", "may have been accepted")
	if got := replayRow(rp.ID); got.Step != StepSubmitting || len(got.CleanedPhases) != 1 {
		t.Fatalf("after a lost answer: %+v, want step SUBMITTING with one cleaned phase", got)
	}
	if body := lastBody(e.master); !strings.Contains(body, fmt.Sprintf("kafka.startingOffsetsTimestamp=%d", start)) {
		t.Errorf("phase TIMESTAMP body lacks the timestamp: %s", body)
	}
	// The next check finds the driver alive: no second deletion, no second submission.
	r := check(ReplaySubmit, "")
	if got := replayRow(rp.ID); got.Phase != PhaseResume || got.Step != StepWaiting || !got.SubmittedForOffsetsTimestamp || got.LastSubmissionID != r.SubmissionID {
		t.Fatalf("after phase TIMESTAMP: %+v", got)
	}
	if n := len(e.master.Submissions()); n != 2 || cl.succeeded != 1 {
		t.Fatalf("phase TIMESTAMP: %d submissions, %d deletions; want 2 and 1", n, cl.succeeded)
	}

	// Between phases an ordinary resubmission keeps the timestamp (the job keeps its source).
	e.master.Step()
	e.master.ErrorDriver(r.SubmissionID, "java.lang.OutOfMemoryError")
	check(Submit, "")
	if body := lastBody(e.master); !strings.Contains(body, fmt.Sprintf("kafka.startingOffsetsTimestamp=%d", start)) {
		t.Errorf("resubmission between phases lacks the timestamp: %s", body)
	}
	e.master.Step()

	// Phase RESUME, driven by the scheduled loop: the kill takes one poll, then the state is
	// cleaned and the job submitted on the subscribe pattern, and the loop stops.
	e.clock.advance(time.Hour)
	s.SetClock(e.clock.now, func(ctx context.Context, d time.Duration) error {
		e.master.Step() // the worker reports KILLED between polls
		return e.clock.sleep(ctx, d)
	})
	lease, _ := e.db.AcquireLease(ctx, LeaseName(e.tenant.Name), "run", time.Minute)
	rep, err := s.Run(ctx, e.tenant, lease)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Checks) != 2 || rep.Checks[0].Action != ReplayKilling || rep.Checks[1].Action != ReplaySubmit {
		t.Fatalf("phase RESUME run: %+v", rep.Checks)
	}
	if body := lastBody(e.master); strings.Contains(body, "startingOffsetsTimestamp") {
		t.Errorf("phase RESUME body still carries a timestamp: %s", body)
	}
	done := replayRow(rp.ID)
	if done.Phase != PhaseDone || !done.ResumedToSubscribePattern || fmt.Sprint(done.CleanedPhases) != "[TIMESTAMP RESUME]" {
		t.Errorf("finished replay: %+v", done)
	}
	if cl.succeeded != 2 || len(cl.unsafe) != 0 {
		t.Errorf("deletions: %d successful, alive drivers during deletion %v; want 2 and none", cl.succeeded, cl.unsafe)
	}
	if n := e.executions(t, "sparkCheckpointCleanup"); n != 2 {
		t.Errorf("%d cleanups recorded, want 2", n)
	}
	if n := e.executions(t, "sparkKill"); n != 2 {
		t.Errorf("%d kills recorded, want 2", n)
	}
	// Replay submissions do not count against the crash-loop budget.
	wide := policy
	wide.WindowMinutes = 24 * 60
	b, _ := s.budget(ctx, e.tenant.Name, wide, e.clock.now())
	if len(b.RecentSubmissions) != 2 {
		t.Errorf("budget counts %d submissions, want the 2 ordinary ones", len(b.RecentSubmissions))
	}
}

func TestReplayApprovalCancelAndValidation(t *testing.T) {
	t.Parallel()
	e, cl, _ := newReplayEnv(t)
	s := e.supervisor()
	ctx := context.Background()
	now := e.clock.now()
	if _, err := s.Check(ctx, e.tenant, Options{}); err != nil {
		t.Fatal(err)
	}
	e.master.Step()
	req := ReplayRequest{StartingOffsetsTimestamp: now.UnixMilli(), ResumeToSubscribePatternTimestamp: now.Add(time.Hour).UnixMilli(), ApprovalRequired: true}
	invalid := []ReplayRequest{
		{StartingOffsetsTimestamp: 0, ResumeToSubscribePatternTimestamp: 5},
		{StartingOffsetsTimestamp: req.StartingOffsetsTimestamp, ResumeToSubscribePatternTimestamp: req.StartingOffsetsTimestamp},
		{StartingOffsetsTimestamp: now.Unix(), ResumeToSubscribePatternTimestamp: now.Unix() + 60}, // seconds
	}
	for _, bad := range invalid {
		if _, err := s.CreateReplay(ctx, e.tenant.Name, bad, "alice"); fault.KindOf(err) != fault.Invalid {
			t.Errorf("%+v: got %v, want INVALID_REQUEST", bad, err)
		}
	}
	rp, err := s.CreateReplay(ctx, e.tenant.Name, req, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateReplay(ctx, e.tenant.Name, ReplayRequest{StartingOffsetsTimestamp: req.StartingOffsetsTimestamp + 1,
		ResumeToSubscribePatternTimestamp: req.ResumeToSubscribePatternTimestamp}, "bob"); fault.KindOf(err) != fault.Conflict {
		t.Errorf("second open replay: got %v, want CONFLICT", err)
	}
	r, err := s.Check(ctx, e.tenant, Options{})
	if err != nil || r.Action != Keep || r.Replay == nil || !strings.Contains(r.Replay.Note, "approval") {
		t.Fatalf("due without approval: %+v, %v; want the driver kept and the replay waiting for approval", r, err)
	}
	if d := e.master.ActiveDrivers(); len(d) != 1 || d[0].KillRequested || cl.calls != 0 {
		t.Fatalf("nothing may be killed or deleted before approval: %+v, %d deletions", d, cl.calls)
	}
	if _, err := s.ApproveReplay(ctx, e.tenant.Name, rp.ID, "carol"); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Check(ctx, e.tenant, Options{}); r.Action != ReplayKilling {
		t.Fatalf("after approval: %+v, want REPLAY_KILLING", r)
	}
	if _, err := s.CancelReplay(ctx, e.tenant.Name, rp.ID, "dave"); fault.KindOf(err) != fault.Conflict {
		t.Errorf("cancel in the middle of a phase: got %v, want CONFLICT", err)
	}
	if _, err := s.CancelReplay(ctx, e.tenant.Name, 9999, "dave"); fault.KindOf(err) != fault.NotFound {
		t.Errorf("cancel of an unknown replay: got %v, want NOT_FOUND", err)
	}

	other := newEnvTenant(t, e, "XYZ")
	rp2, err := s.CreateReplay(ctx, other.Name, ReplayRequest{StartingOffsetsTimestamp: now.Add(time.Hour).UnixMilli(),
		ResumeToSubscribePatternTimestamp: now.Add(2 * time.Hour).UnixMilli()}, "erin")
	if err != nil {
		t.Fatal(err)
	}
	canceled, err := s.CancelReplay(ctx, other.Name, rp2.ID, "erin")
	if err != nil || canceled.CanceledAt == nil || canceled.CanceledBy != "erin" {
		t.Fatalf("cancel a waiting replay: %+v, %v", canceled, err)
	}
	list, err := s.ListReplays(ctx, other.Name)
	if err != nil || len(list) != 1 || list[0].CanceledAt == nil {
		t.Errorf("list: %+v, %v", list, err)
	}
	if _, err := s.ApproveReplay(ctx, other.Name, rp2.ID, "erin"); fault.KindOf(err) != fault.Conflict {
		t.Errorf("approve a canceled replay: got %v, want CONFLICT", err)
	}
}

// newEnvTenant returns a second tenant on the same master and database.
func newEnvTenant(t *testing.T, e *env, name string) config.Tenant {
	t.Helper()
	tn := e.tenant
	tn.Name = name
	return tn
}
