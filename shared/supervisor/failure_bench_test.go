package supervisor

import (
	"context"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/spark"
	"github.com/logwise/controlplane/shared/spark/sparktest"
	"github.com/logwise/controlplane/shared/store/storetest"
)

// scheduleEvery is the EventBridge schedule of the sparkmonitor function (template.yaml:
// rate(1 minute)).
const scheduleEvery = time.Minute

// failClock is a simulated clock that makes the tenant's driver fail once the clock reaches
// failAt, whether that happens during a Run's sleep between polls or between invocations.
type failClock struct {
	t      time.Time
	failAt time.Time
	failed bool
	fail   func()
}

func (c *failClock) now() time.Time { return c.t }

func (c *failClock) set(t time.Time) {
	if !c.failed && !c.failAt.After(t) {
		c.failed = true
		c.fail()
	}
	c.t = t
}

func (c *failClock) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.set(c.t.Add(d))
	return nil
}

// defaultTenant is a tenant whose spark.monitor comes from the configuration defaults.
func defaultTenant(tb testing.TB, m *sparktest.Master) config.Tenant {
	tb.Helper()
	cfg, err := config.Parse([]byte(`deployment: {partition: p}
api: {authDisabled: true}
tenants:
  - name: ABC
    objectStore: {aws: {bucket: logs-bucket}}
    vector: {host: v}
    kafka: {kafkaBrokersHost: kafka}
    spark: {sparkMasterHost: spark, sparkJarPath: "s3a://jars/app.jar", mainClass: `+job+`}
`), func(string) (string, bool) { return "", false })
	if err != nil {
		tb.Fatal(err)
	}
	t := cfg.Tenants[0]
	t.Spark.RestURL, t.Spark.WebURL = m.RestURL(), m.WebURL()
	return t
}

// BenchmarkDriverFailureToResubmission measures, in simulated time, how long the tenant's
// streaming job stays down after its driver fails in the Spark master simulator, with the
// default schedule: an invocation every minute, each polling every
// spark.monitor.pollIntervalSeconds (15 s) for spark.monitor.durationSeconds (60 s). Each op
// ends the running driver (ERROR: the default submission is supervised, so a mere non-zero
// exit is restarted in place by Spark and needs no resubmission) at 60 instants spread evenly over the minute (0.5 s, 1.5 s, ...
// 59.5 s after an invocation starts), runs the scheduled invocations with an injected clock
// until one submits, and reports the mean (failure-to-submit-s) and the worst case
// (max-failure-to-submit-s) of the failure-to-submission times. Trials are an hour apart so
// the crash-loop budget (5 submissions in 30 minutes) never interferes.
func BenchmarkDriverFailureToResubmission(b *testing.B) {
	db := storetest.New(b)
	clock := &failClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), failAt: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}
	db.SetClock(clock.now)
	m := sparktest.NewMaster(sparktest.Options{Now: clock.now})
	b.Cleanup(m.Close)
	tn := defaultTenant(b, m)
	if tn.Spark.Monitor.PollIntervalSeconds != 15 || tn.Spark.Monitor.DurationSeconds != 60 {
		b.Fatalf("default monitor schedule is %+v; this benchmark describes 15 s polls for 60 s", tn.Spark.Monitor)
	}
	exec := executions.NewLog(db.SQL(), "bench")
	exec.SetClock(clock.now)
	s := New(Deps{Store: db, Executions: exec, Credentials: staticCreds{}, Holder: "bench",
		Clients: func(t config.Tenant) (Cluster, error) {
			return spark.New(spark.Config{Masters: spark.ConfigFrom(t.Spark).Masters, Timeout: 5 * time.Second}), nil
		}})
	s.SetClock(clock.now, clock.sleep)
	ctx := context.Background()
	if _, err := s.Check(ctx, tn, Options{}); err != nil {
		b.Fatal(err)
	}
	running := func() string {
		for _, w := range m.Workers() {
			m.Heartbeat(w.ID) // the simulated hour passed; the worker is still there
		}
		m.Step()
		for _, d := range m.ActiveDrivers() {
			if d.State == spark.Running {
				return d.ID
			}
		}
		b.Fatalf("no running driver after a step: %+v", m.ActiveDrivers())
		return ""
	}
	const trials = 60
	b.ResetTimer()
	var mean, worst time.Duration
	for b.Loop() {
		var total time.Duration
		worst = 0
		for i := range trials {
			start := clock.t.Truncate(time.Hour).Add(time.Hour)
			id := running()
			clock.failed, clock.fail = false, func() { m.ErrorDriver(id, "java.lang.OutOfMemoryError") }
			clock.failAt = start.Add(time.Duration(i)*time.Second + 500*time.Millisecond)
			before := len(m.Submissions())
			submitted := false
			for inv := 0; inv < 3 && !submitted; inv++ {
				clock.set(start.Add(time.Duration(inv) * scheduleEvery))
				lease, err := db.AcquireLease(ctx, LeaseName(tn.Name), "bench", LeaseTTL)
				if err != nil {
					b.Fatal(err)
				}
				rep, err := s.Run(ctx, tn, lease)
				if err != nil {
					b.Fatal(err)
				}
				if err := db.ReleaseLease(ctx, lease); err != nil {
					b.Fatal(err)
				}
				submitted = rep.Checks[len(rep.Checks)-1].Action == Submit
			}
			if !submitted || len(m.Submissions()) != before+1 {
				b.Fatalf("failure at +%v: submitted=%v, master received %d new submissions, want 1",
					clock.failAt.Sub(start), submitted, len(m.Submissions())-before)
			}
			d := clock.t.Sub(clock.failAt)
			total += d
			worst = max(worst, d)
		}
		mean = total / trials
	}
	b.ReportMetric(mean.Seconds(), "failure-to-submit-s")
	b.ReportMetric(worst.Seconds(), "max-failure-to-submit-s")
}
