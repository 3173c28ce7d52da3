package supervisor

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/metrics"
	"github.com/logwise/controlplane/shared/spark"
	"github.com/logwise/controlplane/shared/spark/sparktest"
	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/store/storetest"
)

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeClock is a clock whose sleeps advance it instantly.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	c.mu.Unlock()
	c.advance(d)
	return nil
}

// Secrets used by the tests; none may appear in a log line, a stored row or a default body.
const (
	configAccessKey = "AKIACONFIGSTATIC0001"
	configSecretKey = "configSecret/abcdefghijklmnopqrstuvwxyz0"
	secretAccessKey = "AKIARESOLVED00000001"
	secretSecretKey = "resolvedSecret/abcdefghijklmnopqrstuvwx"
)

type staticCreds struct{}

func (staticCreds) S3ACredentials(_ context.Context, arn string) (spark.Credentials, error) {
	return spark.Credentials{AccessKeyID: secretAccessKey, SecretAccessKey: secretSecretKey}, nil
}

type env struct {
	db     *store.DB
	master *sparktest.Master
	clock  *fakeClock
	logs   *syncBuffer
	emf    *syncBuffer
	tenant config.Tenant
	deps   Deps
}

func tenant(m *sparktest.Master) config.Tenant {
	return config.Tenant{
		Name:        "ABC",
		Kafka:       config.Kafka{KafkaBrokersHost: "kafka"},
		ObjectStore: config.ObjectStore{AWS: config.AWSObjectStore{Bucket: "logs-bucket"}},
		Spark: config.Spark{
			RestURL: m.RestURL(), WebURL: m.WebURL(), RestPort: 6066, WebPort: 8080,
			KafkaMaxRatePerPartition: "4000", KafkaStartingOffsets: "latest", SubscribePattern: "^logs.*",
			SparkJarPath: "s3a://jars/app.jar", ClientSparkVersion: "3.5.1", MainClass: job, AppName: "logwise",
			DriverCoresMax: "4", DriverCores: "1", DriverMemory: "1G", DriverMaxResultSize: "1G", ExecutorCores: "1", ExecutorMemory: "1G",
			S3AAccessKey: configAccessKey, S3ASecretKey: configSecretKey,
			Monitor: config.Monitor{PollIntervalSeconds: 15, DurationSeconds: 60, CrashLoop: policy},
		},
	}
}

func newEnv(t *testing.T, opts sparktest.Options) *env {
	t.Helper()
	return newEnvOn(t, storetest.New(t), opts)
}

// newEnvOn is newEnv over a given migrated database.
func newEnvOn(t *testing.T, db *store.DB, opts sparktest.Options) *env {
	t.Helper()
	clock := &fakeClock{t: time.Now().Truncate(time.Millisecond)}
	db.SetClock(clock.now)
	m := sparktest.NewMaster(opts)
	t.Cleanup(m.Close)
	e := &env{db: db, master: m, clock: clock, logs: &syncBuffer{}, emf: &syncBuffer{}, tenant: tenant(m)}
	exec := executions.NewLog(db.SQL(), "test")
	exec.SetClock(clock.now)
	e.deps = Deps{
		Store: db,
		Clients: func(t config.Tenant) (Cluster, error) {
			return spark.New(spark.Config{Masters: spark.ConfigFrom(t.Spark).Masters, Timeout: 2 * time.Second}), nil
		},
		Executions:  exec,
		Metrics:     metrics.New(e.emf),
		Log:         slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Credentials: staticCreds{},
		Holder:      "test",
	}
	return e
}

func (e *env) supervisor() *Supervisor {
	s := New(e.deps)
	s.SetClock(e.clock.now, e.clock.sleep)
	return s
}

func (e *env) rows(t *testing.T) []Submission {
	t.Helper()
	subs, err := e.supervisor().Submissions(context.Background(), e.tenant.Name, 100)
	if err != nil {
		t.Fatal(err)
	}
	return subs
}

func (e *env) executions(t *testing.T, kind string) int {
	t.Helper()
	var n int
	err := e.db.SQL().QueryRow(`SELECT COUNT(*) FROM orchestrations WHERE application = ? AND body LIKE ?`,
		e.tenant.Name, `%"name":"`+kind+`"%`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCheckSubmitsWhenNoDriverAndRecordsEverything(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sparktest.Options{})
	res, err := e.supervisor().Check(context.Background(), e.tenant, Options{DriverCores: 2})
	if err != nil {
		t.Fatal(err)
	}
	drivers := e.master.ActiveDrivers()
	if res.Action != Submit || len(drivers) != 1 || res.SubmissionID != drivers[0].ID || res.DriverState != spark.Submitted {
		t.Fatalf("got %+v with drivers %+v; want one submission reported with its ID", res, drivers)
	}
	rows := e.rows(t)
	if len(rows) != 1 || rows[0].Outcome != "ACCEPTED" || rows[0].SubmissionID != res.SubmissionID || rows[0].Trigger != "api" ||
		!strings.Contains(rows[0].Reason, "no driver") || !strings.Contains(rows[0].RequestBody, `"spark.driver.cores":"2"`) {
		t.Errorf("recorded submission: %+v", rows)
	}
	if n := e.executions(t, "sparkSubmission"); n != 1 {
		t.Errorf("execution log has %d sparkSubmission records, want 1", n)
	}
	if !strings.Contains(e.emf.String(), `"SparkSubmissions":1`) || !strings.Contains(e.emf.String(), `"SparkDriverAlive":0`) {
		t.Errorf("EMF output lacks the submission or driver-alive metric:\n%s", e.emf.String())
	}
}

func TestDriverStuckInSubmittedIsNotResubmitted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sparktest.Options{Workers: []sparktest.WorkerSpec{}}) // no worker: the driver waits
	s := e.supervisor()
	ctx := context.Background()
	for run := 1; run <= 3; run++ {
		lease, err := e.db.AcquireLease(ctx, LeaseName(e.tenant.Name), "run", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := s.Run(ctx, e.tenant, lease)
		if err != nil {
			t.Fatal(err)
		}
		e.db.ReleaseLease(ctx, lease)
		last := rep.Checks[len(rep.Checks)-1]
		if run == 1 && (len(rep.Checks) != 1 || last.Action != Submit) {
			t.Fatalf("run 1: %+v, want one check that submits and stops", rep)
		}
		if run > 1 && (len(rep.Checks) != 4 || last.Action != WaitForWorkers || last.DriverState != spark.Submitted) {
			t.Errorf("run %d: %+v, want 4 polls waiting for workers for the SUBMITTED driver", run, rep)
		}
	}
	if n := len(e.master.Submissions()); n != 1 {
		t.Errorf("master received %d submissions, want 1", n)
	}
}

func TestRunPollsEveryIntervalAndStopsBeforeDeadline(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sparktest.Options{})
	ctx := context.Background()
	e.supervisor().Check(ctx, e.tenant, Options{})
	e.master.Step() // the driver runs
	cases := []struct {
		name     string
		deadline time.Duration // from the fake now; 0 = none
		polls    int
	}{
		{"no deadline: 60 s / 15 s = 4 polls", 0, 4},
		{"deadline 40 s away: a third poll could outlive it", 40 * time.Second, 2},
		{"deadline 20 s away: one poll only", 20 * time.Second, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := e.supervisor()
			clock := &fakeClock{t: time.Now()}
			s.SetClock(clock.now, clock.sleep)
			rctx := ctx
			if c.deadline > 0 {
				var cancel context.CancelFunc
				rctx, cancel = context.WithDeadline(ctx, clock.now().Add(c.deadline))
				defer cancel()
			}
			lease, _ := e.db.AcquireLease(ctx, LeaseName(e.tenant.Name), "run", time.Minute)
			defer e.db.ReleaseLease(ctx, lease)
			rep, err := s.Run(rctx, e.tenant, lease)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Checks) != c.polls {
				t.Errorf("got %d polls, want %d", len(rep.Checks), c.polls)
			}
			for _, d := range clock.sleeps {
				if d != 15*time.Second {
					t.Errorf("slept %v between polls, want 15s", d)
				}
			}
			if rep.Checks[0].Action != Keep || rep.Checks[0].DriverState != spark.Running {
				t.Errorf("first check: %+v, want the RUNNING driver kept", rep.Checks[0])
			}
		})
	}
}

// TestConcurrentInvocationsSubmitOnce starts 20 monitor invocations at once (each with its own
// supervisor, as separate Lambdas would be) plus 5 API checks, against a master with no driver.
func TestConcurrentInvocationsSubmitOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sparktest.Options{Workers: []sparktest.WorkerSpec{}})
	e.db.SetClock(time.Now) // leases on real time: each invocation has its own fake clock below
	ctx := context.Background()
	var wg sync.WaitGroup
	start := make(chan struct{})
	var mu sync.Mutex
	outcomes := map[Action]int{}
	errs := []error{}
	for i := range 25 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := New(e.deps)
			clock := &fakeClock{t: time.Now()}
			s.SetClock(clock.now, clock.sleep)
			<-start
			var action Action
			var err error
			if i < 20 {
				lease, lerr := e.db.AcquireLease(ctx, LeaseName(e.tenant.Name), "sched", time.Minute)
				if errors.Is(lerr, store.ErrLeaseHeld) {
					action = Busy
				} else if lerr != nil {
					err = lerr
				} else {
					var rep Report
					rep, err = s.Run(ctx, e.tenant, lease)
					if len(rep.Checks) > 0 {
						action = rep.Checks[len(rep.Checks)-1].Action
					}
					e.db.ReleaseLease(ctx, lease)
				}
			} else {
				var res Result
				res, err = s.Check(ctx, e.tenant, Options{})
				action = res.Action
			}
			mu.Lock()
			defer mu.Unlock()
			outcomes[action]++
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("invocations failed: %v", errs)
	}
	if n := len(e.master.Submissions()); n != 1 {
		t.Errorf("master received %d submissions, want exactly 1 (outcomes %v)", n, outcomes)
	}
	if outcomes[Submit] != 1 || outcomes[Submit]+outcomes[Busy]+outcomes[Keep] != 25 {
		t.Errorf("outcomes %v: want one SUBMIT and every other invocation BUSY or NONE", outcomes)
	}
	if rows := e.rows(t); len(rows) != 1 {
		t.Errorf("recorded %d submissions, want 1", len(rows))
	}
}

func TestBusyCheckReportsWhatItSeesWithoutActing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sparktest.Options{Workers: []sparktest.WorkerSpec{}})
	ctx := context.Background()
	lease, err := e.db.AcquireLease(ctx, LeaseName(e.tenant.Name), "scheduled-run", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer e.db.ReleaseLease(ctx, lease)
	r, err := e.supervisor().Check(ctx, e.tenant, Options{})
	if err != nil || r.Action != Busy || r.MasterStatus != spark.Alive || !strings.Contains(r.Reason, "no driver") {
		t.Errorf("got %+v, %v; want BUSY with what the master shows", r, err)
	}
	if n := len(e.master.Submissions()); n != 0 {
		t.Errorf("a busy check submitted %d times", n)
	}
}

func TestStaleLeaseSubmitsNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sparktest.Options{})
	ctx := context.Background()
	old, err := e.db.AcquireLease(ctx, LeaseName(e.tenant.Name), "old", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.advance(2 * time.Minute)
	e.db.SkewDatabaseClock(2 * time.Minute) // leases expire on the database's clock
	if _, err := e.db.AcquireLease(ctx, LeaseName(e.tenant.Name), "new", time.Minute); err != nil {
		t.Fatal(err)
	}
	_, err = e.supervisor().Run(ctx, e.tenant, old)
	if !errors.Is(err, store.ErrStaleToken) {
		t.Errorf("got %v, want ErrStaleToken", err)
	}
	if n := len(e.master.Submissions()); n != 0 {
		t.Errorf("a stale holder sent %d submissions", n)
	}
}

func TestCrashLoopAfterBudgetAndResume(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sparktest.Options{})
	s := e.supervisor()
	ctx := context.Background()
	check := func() Result {
		t.Helper()
		r, err := s.Check(ctx, e.tenant, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	failAll := func() {
		e.master.Step()
		for _, d := range e.master.ActiveDrivers() {
			e.master.ErrorDriver(d.ID, "java.lang.ClassNotFoundException: com.logwise.spark.MainApplication")
		}
	}
	// Three submissions, each failing at once, with backoffs of 30 s then 60 s.
	wantBackoff := []time.Duration{30 * time.Second, 60 * time.Second}
	for i := range policy.MaxSubmissions {
		if r := check(); r.Action != Submit {
			t.Fatalf("submission %d: got %+v", i+1, r)
		}
		failAll()
		if i < len(wantBackoff) {
			e.clock.advance(wantBackoff[i] - time.Second)
			if r := check(); r.Action != Backoff {
				t.Fatalf("1 s before backoff %d ends: got %+v, want BACKOFF", i+1, r)
			}
			e.clock.advance(time.Second)
		}
	}
	e.clock.advance(5 * time.Minute)
	r := check()
	if r.Action != EnterCrashLoop || r.SupervisionState != StateCrashLoop {
		t.Fatalf("after %d failed submissions: got %+v, want ENTER_CRASH_LOOP", policy.MaxSubmissions, r)
	}
	for range 3 {
		e.clock.advance(10 * time.Minute)
		if r := check(); r.Action != Hold {
			t.Errorf("while in CRASH_LOOP: got %+v, want HOLD", r)
		}
	}
	if n := len(e.master.Submissions()); n != policy.MaxSubmissions {
		t.Errorf("master received %d submissions, want %d", n, policy.MaxSubmissions)
	}
	if n := e.executions(t, "sparkCrashLoop"); n != 1 {
		t.Errorf("crash loop recorded %d times, want once", n)
	}
	if !strings.Contains(e.emf.String(), `"SparkCrashLoop":1`) {
		t.Errorf("no SparkCrashLoop=1 metric emitted")
	}
	// A fresh supervisor (another Lambda) sees the persisted state.
	if st, _ := New(e.deps).State(ctx, e.tenant.Name); st != StateCrashLoop {
		t.Errorf("persisted state %q, want CRASH_LOOP", st)
	}
	prev, err := s.Resume(ctx, e.tenant.Name, "alice")
	if err != nil || prev != StateCrashLoop {
		t.Fatalf("resume: %q, %v", prev, err)
	}
	if r := check(); r.Action != Submit {
		t.Errorf("after resume: got %+v, want SUBMIT (the window restarts)", r)
	}
	if n := e.executions(t, "sparkMonitorResume"); n != 1 {
		t.Errorf("resume recorded %d times, want once", n)
	}
}

func TestResumeWinsOverAStaleCrashLoopDecision(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sparktest.Options{})
	s := e.supervisor()
	ctx := context.Background()
	b, err := s.budget(ctx, e.tenant.Name, policy, e.clock.now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Pause(ctx, e.tenant.Name, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Resume(ctx, e.tenant.Name, "bob"); err != nil {
		t.Fatal(err)
	}
	lease, _ := e.db.AcquireLease(ctx, LeaseName(e.tenant.Name), "x", time.Minute)
	changed, err := e.db.EnterCrashLoop(ctx, lease, e.tenant.Name, "decided on an old read", b.Version, e.clock.now())
	if err != nil || changed {
		t.Errorf("setCrashLoop on a stale version: changed=%v err=%v, want refused", changed, err)
	}
	if st, _ := s.State(ctx, e.tenant.Name); st != StateActive {
		t.Errorf("state %q, want ACTIVE (the operator's resume stands)", st)
	}
}

func TestMasterProblemsGiveClearAnswers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("REST disabled", func(t *testing.T) {
		e := newEnv(t, sparktest.Options{})
		e.master.DisableREST()
		_, err := e.supervisor().Check(ctx, e.tenant, Options{})
		if !errors.Is(err, spark.ErrRESTDisabled) || !strings.Contains(err.Error(), "spark.master.rest.enabled") {
			t.Errorf("got %v, want ErrRESTDisabled naming spark.master.rest.enabled", err)
		}
		if rows := e.rows(t); len(rows) != 1 || rows[0].Outcome != "FAILED" {
			t.Errorf("recorded %+v, want one FAILED attempt", rows)
		}
	})
	t.Run("standby master", func(t *testing.T) {
		e := newEnv(t, sparktest.Options{Standby: true})
		r, err := e.supervisor().Check(ctx, e.tenant, Options{})
		if err != nil || r.Action != WaitForMaster || r.MasterStatus != spark.Standby || !strings.Contains(r.Reason, "STANDBY") {
			t.Errorf("got %+v, %v; want WAIT_FOR_MASTER naming STANDBY", r, err)
		}
		if n := len(e.master.Submissions()); n != 0 {
			t.Errorf("a standby master received %d submissions", n)
		}
	})
	t.Run("standby first, alive second", func(t *testing.T) {
		e := newEnv(t, sparktest.Options{Standby: true})
		alive := sparktest.NewMaster(sparktest.Options{})
		defer alive.Close()
		e.tenant.Spark.RestURL += "," + alive.RestURL()
		e.tenant.Spark.WebURL += "," + alive.WebURL()
		r, err := e.supervisor().Check(ctx, e.tenant, Options{})
		if err != nil || r.Action != Submit || len(alive.ActiveDrivers()) != 1 || len(e.master.Drivers()) != 0 {
			t.Errorf("got %+v, %v; want the driver on the alive master only (the standby refuses)", r, err)
		}
	})
	t.Run("recovering master", func(t *testing.T) {
		e := newEnv(t, sparktest.Options{})
		e.master.SetStatus(spark.Recovering)
		r, err := e.supervisor().Check(ctx, e.tenant, Options{})
		if err != nil || r.Action != WaitForMaster {
			t.Errorf("got %+v, %v; want WAIT_FOR_MASTER", r, err)
		}
	})
}

func TestNoSecretReachesLogsRowsOrDefaultBodies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	scan := func(t *testing.T, where, text string, secrets ...string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%s contains secret %q", where, s)
			}
		}
	}
	t.Run("default: instance role, no keys anywhere", func(t *testing.T) {
		e := newEnv(t, sparktest.Options{})
		if _, err := e.supervisor().Check(ctx, e.tenant, Options{}); err != nil {
			t.Fatal(err)
		}
		bodies := e.master.Submissions()
		if len(bodies) != 1 {
			t.Fatalf("got %d bodies", len(bodies))
		}
		scan(t, "simulator body", string(bodies[0]), configAccessKey, configSecretKey, "access.key", "secret.key")
		scan(t, "log", e.logs.String(), configAccessKey, configSecretKey)
		if !strings.Contains(e.logs.String(), "submitted spark driver") {
			t.Errorf("the submission was not logged:\n%s", e.logs.String())
		}
	})
	t.Run("credentials secret: keys sent, redacted elsewhere", func(t *testing.T) {
		e := newEnv(t, sparktest.Options{})
		e.tenant.Spark.S3ACredentialsSecretARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:s3a"
		e.tenant.Spark.RestNetworkTrusted = true // the simulator speaks plain HTTP
		if _, err := e.supervisor().Check(ctx, e.tenant, Options{}); err != nil {
			t.Fatal(err)
		}
		if body := string(e.master.Submissions()[0]); !strings.Contains(body, secretSecretKey) {
			t.Fatalf("the configured keys were not sent: %s", body)
		}
		scan(t, "log", e.logs.String(), secretAccessKey, secretSecretKey)
		rows := e.rows(t)
		scan(t, "stored request", rows[0].RequestBody, secretAccessKey, secretSecretKey)
		if !strings.Contains(rows[0].RequestBody, spark.Redacted) {
			t.Errorf("stored request has no redaction marker: %s", rows[0].RequestBody)
		}
		var bodies string
		e.db.SQL().QueryRow(`SELECT COALESCE(GROUP_CONCAT(body), '') FROM orchestrations`).Scan(&bodies)
		scan(t, "execution log", bodies, secretAccessKey, secretSecretKey)
	})
	t.Run("failure path: error and log redacted", func(t *testing.T) {
		e := newEnv(t, sparktest.Options{})
		e.tenant.Spark.S3ACredentialsSecretARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:s3a"
		e.tenant.Spark.RestNetworkTrusted = true // the simulator speaks plain HTTP
		e.master.SetFault(sparktest.ServerError)
		_, err := e.supervisor().Check(ctx, e.tenant, Options{})
		if err == nil {
			t.Fatal("want an error from a failing master")
		}
		scan(t, "error", err.Error(), secretAccessKey, secretSecretKey)
		scan(t, "log", e.logs.String(), secretAccessKey, secretSecretKey)
	})
}
