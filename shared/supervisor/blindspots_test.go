package supervisor

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/spark"
	"github.com/logwise/controlplane/shared/spark/sparktest"
)

// warnLines are the WARN log lines whose message contains msg.
func warnLines(logs, msg string) []string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `"level":"WARN"`) && strings.Contains(l, msg) {
			out = append(out, l)
		}
	}
	return out
}

// TestDriverWaitingForWorkersIsReportedDown: with no alive worker, the SUBMITTED driver
// cannot start. The next check reports it (WAIT_FOR_WORKERS, a WARN, SparkDriverAlive 0 and
// SparkDriverWaitingForWorkers 1) and does not submit again; once a worker joins and the
// driver runs, it is alive again.
func TestDriverWaitingForWorkersIsReportedDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sparktest.Options{Workers: []sparktest.WorkerSpec{}})
	s := e.supervisor()
	ctx := context.Background()
	if r, err := s.Check(ctx, e.tenant, Options{}); err != nil || r.Action != Submit {
		t.Fatalf("first check: %+v, %v; want SUBMIT", r, err)
	}
	e.emf.b.Reset()
	r, err := s.Check(ctx, e.tenant, Options{})
	if err != nil || r.Action != WaitForWorkers || r.DriverState != spark.Submitted || !strings.Contains(r.Reason, "no alive worker") {
		t.Fatalf("second check: %+v, %v; want WAIT_FOR_WORKERS for the SUBMITTED driver", r, err)
	}
	emf := e.emf.String()
	if !strings.Contains(emf, `"SparkDriverAlive":0`) || !strings.Contains(emf, `"SparkDriverWaitingForWorkers":1`) {
		t.Errorf("metrics of the second check:\n%s\nwant SparkDriverAlive 0 and SparkDriverWaitingForWorkers 1", emf)
	}
	if len(warnLines(e.logs.String(), "no alive worker")) == 0 {
		t.Errorf("no WARN about the driver waiting for workers:\n%s", e.logs.String())
	}
	if n := len(e.master.Submissions()); n != 1 {
		t.Errorf("master received %d submissions, want 1 (the waiting driver is not duplicated)", n)
	}
	e.master.AddWorker(sparktest.WorkerSpec{})
	e.master.Step()
	e.emf.b.Reset()
	if r, err := s.Check(ctx, e.tenant, Options{}); err != nil || r.Action != Keep || r.DriverState != spark.Running {
		t.Errorf("after a worker joined: %+v, %v; want the RUNNING driver kept", r, err)
	}
	if emf := e.emf.String(); !strings.Contains(emf, `"SparkDriverAlive":1`) || !strings.Contains(emf, `"SparkDriverWaitingForWorkers":0`) {
		t.Errorf("metrics once running:\n%s", emf)
	}
}

// TestUnreachableMasterStillEmitsTheTenantsMetrics: a master that cannot be read is an
// error of the check, and the check still emits SparkMasterReachable 0 and SparkDriverAlive
// 0, so that an alarm treating missing data as fine still fires.
func TestUnreachableMasterStillEmitsTheTenantsMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sparktest.Options{})
	e.master.SetWebFault(sparktest.ServerError)
	_, err := e.supervisor().Check(context.Background(), e.tenant, Options{})
	if err == nil {
		t.Fatal("check of an unreadable master: no error")
	}
	emf := e.emf.String()
	if !strings.Contains(emf, `"SparkMasterReachable":0`) || !strings.Contains(emf, `"SparkDriverAlive":0`) {
		t.Errorf("metrics:\n%s\nwant SparkMasterReachable 0 and SparkDriverAlive 0", emf)
	}
	e.master.SetWebFault(sparktest.NoFault)
	e.emf.b.Reset()
	if _, err := e.supervisor().Check(context.Background(), e.tenant, Options{}); err != nil {
		t.Fatal(err)
	}
	if emf := e.emf.String(); !strings.Contains(emf, `"SparkMasterReachable":1`) {
		t.Errorf("metrics once reachable:\n%s", emf)
	}
}

// TestMasterNotAliveIsLoggedOncePerStateChange: STANDBY and RECOVERING are logged at WARN,
// once for each change of the master's state, not on every poll.
func TestMasterNotAliveIsLoggedOncePerStateChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sparktest.Options{Standby: true})
	s := e.supervisor()
	ctx := context.Background()
	for range 3 {
		if r, err := s.Check(ctx, e.tenant, Options{}); err != nil || r.Action != WaitForMaster {
			t.Fatalf("standby: %+v, %v", r, err)
		}
	}
	e.master.SetStandby(false)
	e.master.SetStatus(spark.Recovering)
	for range 2 {
		s.Check(ctx, e.tenant, Options{})
	}
	lines := warnLines(e.logs.String(), "spark master is not ALIVE")
	if len(lines) != 2 || !strings.Contains(lines[0], "STANDBY") || !strings.Contains(lines[1], "RECOVERING") {
		t.Errorf("WARN lines about the master: %d\n%s\nwant one for STANDBY, then one for RECOVERING", len(lines), strings.Join(lines, "\n"))
	}
}

// TestFailedCreatesCountTowardsTheCrashLoopBudget: a create the master refuses (REST
// disabled) is recorded FAILED and counts: the next attempt waits out the backoff, and the
// budget's end is CRASH_LOOP, not a retry every minute forever.
func TestFailedCreatesCountTowardsTheCrashLoopBudget(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sparktest.Options{})
	e.master.DisableREST()
	s := e.supervisor()
	ctx := context.Background()
	backoffs := []time.Duration{30 * time.Second, 60 * time.Second}
	for i := range policy.MaxSubmissions {
		if _, err := s.Check(ctx, e.tenant, Options{}); !errors.Is(err, spark.ErrRESTDisabled) {
			t.Fatalf("attempt %d: %v, want the refusal", i+1, err)
		}
		if i < len(backoffs) {
			e.clock.advance(backoffs[i] - time.Second)
			if r, err := s.Check(ctx, e.tenant, Options{}); err != nil || r.Action != Backoff {
				t.Fatalf("1 s before backoff %d ends: %+v, %v; want BACKOFF", i+1, r, err)
			}
			e.clock.advance(time.Second)
		}
	}
	e.clock.advance(5 * time.Minute)
	if r, err := s.Check(ctx, e.tenant, Options{}); err != nil || r.Action != EnterCrashLoop {
		t.Fatalf("after %d refused creates: %+v, %v; want ENTER_CRASH_LOOP", policy.MaxSubmissions, r, err)
	}
	if rows := e.rows(t); len(rows) != policy.MaxSubmissions {
		t.Errorf("%d attempts recorded, want %d", len(rows), policy.MaxSubmissions)
	}
}

// TestOneFailedCheckDoesNotEndTheRun: the master's /json fails on the first poll only; the
// run keeps polling for its whole duration and submits on the next poll.
func TestOneFailedCheckDoesNotEndTheRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sparktest.Options{})
	e.master.SetWebFault(sparktest.ServerError)
	s := e.supervisor()
	s.SetClock(e.clock.now, func(ctx context.Context, d time.Duration) error {
		e.master.SetWebFault(sparktest.NoFault)
		return e.clock.sleep(ctx, d)
	})
	ctx := context.Background()
	lease, err := e.db.AcquireLease(ctx, LeaseName(e.tenant.Name), "run", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Run(ctx, e.tenant, lease)
	if err != nil {
		t.Fatalf("run: %v (a later check succeeded)", err)
	}
	if len(rep.Checks) != 2 || rep.Checks[0].Error == "" || rep.Checks[1].Action != Submit {
		t.Fatalf("checks %+v; want a failed check, then a submission", rep.Checks)
	}
}

// TestDuplicateDriversAreKilledButTheNewest: two RUNNING drivers of the job (a supervise
// relaunch, SPARK-27347) share one checkpoint; the check kills the older, keeps the newest,
// records the kill and counts it.
func TestDuplicateDriversAreKilledButTheNewest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sparktest.Options{})
	ctx := context.Background()
	c := spark.New(spark.Config{Masters: spark.ConfigFrom(e.tenant.Spark).Masters, Timeout: 2 * time.Second})
	var ids []string
	for range 2 {
		req, err := spark.BuildSubmission(e.tenant, spark.SubmitOptions{})
		if err != nil {
			t.Fatal(err)
		}
		sub, err := c.Submit(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sub.ID)
	}
	e.master.Step()
	r, err := e.supervisor().Check(ctx, e.tenant, Options{})
	if err != nil || r.Action != Keep || r.DriverID != ids[1] {
		t.Fatalf("check: %+v, %v; want the newest driver %s kept", r, err, ids[1])
	}
	if d, _ := e.master.Driver(ids[0]); !d.KillRequested {
		t.Errorf("older duplicate %s not killed", ids[0])
	}
	if d, _ := e.master.Driver(ids[1]); d.KillRequested {
		t.Errorf("newest driver %s killed", ids[1])
	}
	if n := e.executions(t, "sparkKill"); n != 1 {
		t.Errorf("%d sparkKill records, want 1", n)
	}
	if !strings.Contains(e.emf.String(), `"SparkDuplicateDriversKilled":1`) {
		t.Errorf("metrics:\n%s\nwant SparkDuplicateDriversKilled 1", e.emf.String())
	}
}
