package tickwire

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/reconcile"
	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/setup/buckets"
	"github.com/logwise/controlplane/shared/setup/sparkwire"
	"github.com/logwise/controlplane/shared/spark"
	"github.com/logwise/controlplane/shared/spark/sparktest"
	"github.com/logwise/controlplane/shared/store/storetest"
	"github.com/logwise/controlplane/shared/ticks"
)

// clock is a simulated clock shared by the store, the supervisor, the Spark master and the
// ticker. When it passes failAt it calls fail once (the driver dies at that instant).
type clock struct {
	mu     sync.Mutex
	t      time.Time
	failAt time.Time
	fail   func()
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	f := c.fail
	if f != nil && !c.failAt.After(t) {
		c.fail = nil
	} else {
		f = nil
	}
	c.t = t
	c.mu.Unlock()
	if f != nil {
		f()
	}
}

func (c *clock) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.set(c.now().Add(d))
	return nil
}

// monitor is one sparkmonitor execution environment: its own env (and lease holder) over the
// shared database and Spark master, wired as functions/sparkmonitor/main.go wires it.
type monitor struct {
	env    *setup.Env
	ticker *Ticker
}

// world is a tenant with the default spark.monitor schedule, its Spark master simulator, a
// private MariaDB database, and n monitor execution environments.
type world struct {
	clock    *clock
	master   *sparktest.Master
	monitors []*monitor
	queue    *memQueue
}

func newWorld(t testing.TB, n int) *world {
	t.Helper()
	ck := &clock{t: time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)}
	m := sparktest.NewMaster(sparktest.Options{Now: ck.now})
	t.Cleanup(m.Close)
	y := fmt.Sprintf(`deployment: {partition: p}
database: {dsn: %q}
api: {authDisabled: true}
tenants:
  - name: ABC
    objectStore: {aws: {bucket: logs-bucket}}
    vector: {host: v}
    kafka: {kafkaBrokersHost: kafka}
    spark: {restUrl: %q, webUrl: %q, sparkJarPath: "s3a://jars/app.jar", mainClass: com.example.Job}
`, storetest.NewConfig(t).DSN(), m.RestURL(), m.WebURL())
	cfg, err := config.Parse([]byte(y), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	w := &world{clock: ck, master: m, queue: &memQueue{now: ck.now}}
	for i := range n {
		env, err := setup.Load(context.Background(), "sparkmonitor", setup.Options{Config: cfg, Migrate: i == 0,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { env.Store.Close() })
		env.Store.SetClock(ck.now)
		env.Executions.SetClock(ck.now)
		sup := sparkwire.New(env, buckets.New(env.AWS))
		sup.SetClock(ck.now, ck.sleep)
		jobs := setup.NewJobs(env)
		sparkwire.AddJobs(env, jobs, sup)
		interval, span := sparkwire.TickSchedule(env)
		if interval != 15*time.Second || span != time.Minute {
			t.Fatalf("default schedule: interval %v span %v, want 15s and 1m", interval, span)
		}
		tk := &Ticker{Job: "sparkmonitor", Interval: interval, Span: span, Jobs: jobs, Queue: w.queue, Log: env.Log, Now: ck.now}
		w.monitors = append(w.monitors, &monitor{env: env, ticker: tk})
	}
	return w
}

// running makes sure the tenant's driver runs and returns its id.
func (w *world) running(t testing.TB) string {
	t.Helper()
	for _, wk := range w.master.Workers() {
		w.master.Heartbeat(wk.ID)
	}
	w.master.Step()
	for _, d := range w.master.ActiveDrivers() {
		if d.State == spark.Running {
			return d.ID
		}
	}
	t.Fatalf("no running driver after a step: %+v", w.master.ActiveDrivers())
	return ""
}

// memQueue is SQS as the ticks see it: each tick is delivered when its delay has passed.
type memQueue struct {
	mu      sync.Mutex
	now     func() time.Time
	pending []delivery
	sent    []ticks.Tick
}

type delivery struct {
	at   time.Time
	tick ticks.Tick
}

func (q *memQueue) Send(_ context.Context, ts []ticks.Tick) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	for _, t := range ts {
		q.pending = append(q.pending, delivery{at: now.Add(ticks.Delay(t, now)), tick: t})
		q.sent = append(q.sent, t)
	}
	slices.SortStableFunc(q.pending, func(a, b delivery) int { return a.at.Compare(b.at) })
	return nil
}

// next removes and returns the earliest pending delivery.
func (q *memQueue) next() (delivery, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) == 0 {
		return delivery{}, false
	}
	d := q.pending[0]
	q.pending = q.pending[1:]
	return d, true
}

func sqsEvent(t ticks.Tick) events.SQSEvent {
	return events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m-" + t.Offset.String(), EventSource: "aws:sqs", Body: ticks.Encode(t)}}}
}

// TestScheduleQueuesTheMinutesLaterTicks checks that the scheduled invocation checks once now
// and queues the checks at 15, 30 and 45 s, each delayed until due.
func TestScheduleQueuesTheMinutesLaterTicks(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 1)
	sum, err := w.monitors[0].ticker.Scheduled(context.Background(), events.EventBridgeEvent{})
	if err != nil || len(sum.Results) != 1 || sum.Results[0].Outcome != reconcile.Done {
		t.Fatalf("scheduled run: %+v, %v; want one tenant done", sum, err)
	}
	if n := len(w.master.Submissions()); n != 1 {
		t.Errorf("the first tick found no driver: %d submissions, want 1", n)
	}
	var got []string
	for _, d := range w.queue.pending {
		got = append(got, fmt.Sprintf("+%v due +%v", d.tick.Offset, d.at.Sub(w.clock.now())))
	}
	want := []string{"+15s due +15s", "+30s due +30s", "+45s due +45s"}
	if !slices.Equal(got, want) {
		t.Fatalf("queued: got %v, want %v", got, want)
	}
}

// TestDuplicatedMessageConsumedAtOnceSubmitsOnce delivers one tick to two execution
// environments at the same moment (SQS at-least-once delivery) while no driver is alive: the
// tenant's lease lets one act, and the master receives exactly one submission.
func TestDuplicatedMessageConsumedAtOnceSubmitsOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 2)
	tk := ticks.Tick{Job: "sparkmonitor", Minute: w.clock.now().Add(-15 * time.Second), Offset: 15 * time.Second, Interval: 15 * time.Second}
	ev := sqsEvent(tk)
	var wg sync.WaitGroup
	start := make(chan struct{})
	sums := make([][]reconcile.Summary, 2)
	errs := make([]error, 2)
	for i, m := range w.monitors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			sums[i], errs[i] = m.ticker.Consume(context.Background(), ev)
		}()
	}
	close(start)
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil || len(sums[i]) != 1 {
			t.Fatalf("handler %d: %+v, %v; want one tick run", i, sums[i], errs[i])
		}
	}
	if n := len(w.master.Submissions()); n != 1 {
		t.Fatalf("master received %d submissions from two handlers of one message, want 1 (outcomes %+v, %+v)", n, sums[0], sums[1])
	}
	// The same message again, after both finished: the driver submitted above is alive.
	if _, err := w.monitors[1].ticker.Consume(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	if n := len(w.master.Submissions()); n != 1 {
		t.Fatalf("a redelivered message submitted again: %d submissions, want 1", n)
	}
}

// TestDelayedMessageIsDroppedOnceItsSuccessorIsDue delivers a tick after its next tick was
// due: it runs no check (the master is not even asked), while a foreign or malformed message
// is skipped without failing the batch.
func TestDelayedMessageIsDroppedOnceItsSuccessorIsDue(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 1)
	now := w.clock.now()
	for _, c := range []struct {
		name string
		body string
		runs int
	}{
		{"late past its next tick", ticks.Encode(ticks.Tick{Job: "sparkmonitor", Minute: now.Add(-31 * time.Second), Offset: 15 * time.Second, Interval: 15 * time.Second}), 0},
		{"redelivered after the visibility timeout", ticks.Encode(ticks.Tick{Job: "sparkmonitor", Minute: now.Add(-2 * time.Minute), Offset: 45 * time.Second, Interval: 15 * time.Second}), 0},
		{"a tick of another job", ticks.Encode(ticks.Tick{Job: "peeringcopier", Minute: now, Offset: 0, Interval: 5 * time.Second}), 0},
		{"not a tick", `{"Type":"Notification"}`, 0},
		{"malformed tick", `{"tick":{"job":"sparkmonitor"}}`, 0},
	} {
		sums, err := w.monitors[0].ticker.Consume(context.Background(), events.SQSEvent{Records: []events.SQSMessage{{EventSource: "aws:sqs", Body: c.body}}})
		if err != nil || len(sums) != c.runs {
			t.Errorf("%s: %d runs, %v; want %d runs and no error", c.name, len(sums), err, c.runs)
		}
	}
	if n := len(w.master.Submissions()); n != 0 {
		t.Fatalf("dropped messages submitted %d times (no driver was alive), want 0", n)
	}
}

// failureToResubmission runs trials of: the tenant's driver fails at an instant of the minute
// (0.5 s, 1.5 s, ... after the schedule), then the schedule and the queued ticks run in
// simulated time until a check resubmits. It returns the mean and worst failure-to-submission
// times.
func failureToResubmission(tb testing.TB, w *world, trials int) (mean, worst time.Duration) {
	tb.Helper()
	ctx := context.Background()
	var total time.Duration
	for i := range trials {
		start := w.clock.now().Truncate(time.Hour).Add(time.Hour)
		w.clock.set(start.Add(-time.Minute))
		id := w.running(tb)
		failAt := start.Add(time.Duration(i)*time.Second + 500*time.Millisecond)
		w.clock.mu.Lock()
		w.clock.failAt, w.clock.fail = failAt, func() { w.master.ErrorDriver(id, "java.lang.OutOfMemoryError") }
		w.clock.mu.Unlock()
		before := len(w.master.Submissions())
		m := w.monitors[i%len(w.monitors)]
		var submittedAt time.Time
		for inv := 0; inv < 2 && submittedAt.IsZero(); inv++ {
			w.clock.set(start.Add(time.Duration(inv) * time.Minute))
			if _, err := m.ticker.Scheduled(ctx, events.EventBridgeEvent{}); err != nil {
				tb.Fatal(err)
			}
			if len(w.master.Submissions()) > before {
				submittedAt = w.clock.now()
			}
			for submittedAt.IsZero() {
				d, ok := w.queue.next()
				if !ok || !d.at.Before(start.Add(time.Duration(inv+1)*time.Minute)) {
					if ok {
						w.queue.pending = append([]delivery{d}, w.queue.pending...)
					}
					break
				}
				w.clock.set(d.at)
				if _, err := m.ticker.Consume(ctx, sqsEvent(d.tick)); err != nil {
					tb.Fatal(err)
				}
				if len(w.master.Submissions()) > before {
					submittedAt = w.clock.now()
				}
			}
		}
		w.queue.pending = nil
		if submittedAt.IsZero() || len(w.master.Submissions()) != before+1 {
			tb.Fatalf("failure at +%v: submitted at %v, master received %d new submissions, want 1",
				failAt.Sub(start), submittedAt, len(w.master.Submissions())-before)
		}
		d := submittedAt.Sub(failAt)
		total += d
		worst = max(worst, d)
	}
	return total / time.Duration(trials), worst
}

// TestFailureToResubmissionWithinFifteenSeconds checks, in simulated time against MariaDB and
// the Spark master simulator, that with the default schedule a failed driver is resubmitted
// within 15 s of failing wherever in the minute it fails, each check being its own invocation.
func TestFailureToResubmissionWithinFifteenSeconds(t *testing.T) {
	t.Parallel()
	w := newWorld(t, 2)
	if _, err := w.monitors[0].ticker.Scheduled(context.Background(), events.EventBridgeEvent{}); err != nil {
		t.Fatal(err)
	}
	w.queue.pending = nil
	mean, worst := failureToResubmission(t, w, 60)
	t.Logf("failure to resubmission: mean %v, worst %v", mean, worst)
	if worst > 15*time.Second {
		t.Fatalf("worst failure-to-resubmission %v, want at most 15 s", worst)
	}
}

// BenchmarkDriverFailureToResubmissionTicks is BenchmarkDriverFailureToResubmission
// (shared/supervisor) with each check its own invocation: the schedule's first check and
// the queued ticks at 15, 30 and 45 s.
func BenchmarkDriverFailureToResubmissionTicks(b *testing.B) {
	w := newWorld(b, 2)
	if _, err := w.monitors[0].ticker.Scheduled(context.Background(), events.EventBridgeEvent{}); err != nil {
		b.Fatal(err)
	}
	w.queue.pending = nil
	var mean, worst time.Duration
	for b.Loop() {
		mean, worst = failureToResubmission(b, w, 60)
	}
	b.ReportMetric(mean.Seconds(), "failure-to-submit-s")
	b.ReportMetric(worst.Seconds(), "max-failure-to-submit-s")
}
