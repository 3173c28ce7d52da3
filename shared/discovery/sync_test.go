package discovery_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/discovery"
	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/freshness"
	"github.com/logwise/controlplane/shared/logstore"
	"github.com/logwise/controlplane/shared/logstore/s3test"
	"github.com/logwise/controlplane/shared/metrics"
	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/store/storetest"
)

var layout = logstore.Layout{LogsDir: "logs", CheckpointDir: "checkpoint/application"}

func tenant() *config.Tenant {
	t := &config.Tenant{Name: "ABC", DefaultLogsRetentionDays: 3}
	t.Discovery.MaxRemovalPercent = 10
	return t
}

type env struct {
	db   *store.DB
	s3   *s3test.Server
	objs *logstore.Store
	logs *bytes.Buffer
	emf  *bytes.Buffer
}

func newEnv(t *testing.T) *env { return newEnvTB(t) }

func newEnvTB(t testing.TB) *env {
	e := &env{db: storetest.New(t), s3: s3test.New(t), logs: &bytes.Buffer{}, emf: &bytes.Buffer{}}
	e.objs = logstore.New(e.s3.Client, e.s3.Bucket, layout)
	return e
}

func (e *env) syncer(holder string) *discovery.Syncer {
	log := slog.New(slog.NewTextHandler(e.logs, nil))
	return discovery.NewSyncer(e.db, executions.NewLog(e.db.SQL(), "test"), metrics.New(e.emf), log, holder)
}

func (e *env) put(t *testing.T, svcs ...string) { e.putTB(t, svcs...) }

func (e *env) putTB(t testing.TB, svcs ...string) {
	for _, s := range svcs {
		e.s3.Put(t, layout.MinutePrefix(s, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))+"part-0.gz.parquet")
	}
}

func (e *env) remove(t *testing.T, svcs ...string) {
	for _, s := range svcs {
		e.s3.Delete(t, layout.MinutePrefix(s, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))+"part-0.gz.parquet")
	}
}

func (e *env) services(t *testing.T) []string {
	got, err := e.db.Services(context.Background(), "ABC")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range got {
		out = append(out, s.Name)
	}
	return out
}

// executions returns "kind:status:count" for each recorded orchestration, in order.
func (e *env) executions(t *testing.T) []string {
	rows, err := e.db.SQL().Query(`SELECT status, body FROM orchestrations WHERE application = 'ABC' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var status, body string
		if err := rows.Scan(&status, &body); err != nil {
			t.Fatal(err)
		}
		kind := "?"
		for _, k := range []string{"serviceOnboarding", "serviceRemoval"} {
			if strings.Contains(body, `"name":"`+k+`"`) {
				kind = k
			}
		}
		out = append(out, kind+":"+status)
	}
	return out
}

func TestSyncRemovalGuardAcrossListings(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	s := e.syncer("h1")
	e.put(t, "api", "web", "worker")

	steps := []struct {
		name       string
		before     func()
		wantErr    bool
		wantSvcs   []string
		wantExecs  int // executions recorded so far
		wantResult string
	}{
		{"first listing onboards", nil, false, []string{"api", "web", "worker"}, 1, "onboarded=[api web worker] removed=[]"},
		{"worker absent once: kept", func() { e.remove(t, "worker") }, false, []string{"api", "web", "worker"}, 1, "onboarded=[] removed=[]"},
		{"failed listing: nothing changes", func() { e.s3.Fail(s3test.ListObjectsV2, true) }, true, []string{"api", "web", "worker"}, 1, ""},
		{"empty listing: nothing changes", func() { e.s3.Fail(s3test.ListObjectsV2, false); e.remove(t, "api", "web") }, false,
			[]string{"api", "web", "worker"}, 1, "onboarded=[] removed=[]"},
		{"worker absent from the second successful listing: removed", func() { e.put(t, "api", "web") }, false,
			[]string{"api", "web"}, 2, "onboarded=[] removed=[worker]"},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		res, err := s.Sync(ctx, tenant(), e.objs)
		if (err != nil) != st.wantErr {
			t.Fatalf("%s: err %v, wantErr %v", st.name, err, st.wantErr)
		}
		if got := e.services(t); !slices.Equal(got, st.wantSvcs) {
			t.Errorf("%s: services got %v, want %v", st.name, got, st.wantSvcs)
		}
		if got := e.executions(t); len(got) != st.wantExecs {
			t.Errorf("%s: executions got %v, want %d", st.name, got, st.wantExecs)
		}
		if st.wantResult != "" {
			got := fmt.Sprintf("onboarded=%v removed=%v", orEmpty(res.Onboarded), orEmpty(res.Removed))
			if got != st.wantResult {
				t.Errorf("%s: result got %s, want %s", st.name, got, st.wantResult)
			}
		}
	}
	if got, want := e.executions(t), []string{"serviceOnboarding:SUCCEEDED", "serviceRemoval:SUCCEEDED"}; !slices.Equal(got, want) {
		t.Errorf("executions got %v, want %v", got, want)
	}
	all, _ := e.db.Services(ctx, "ABC")
	for _, svc := range all {
		if svc.RetentionDays != 3 {
			t.Errorf("%s onboarded with retention %d, want the tenant's 3", svc.Name, svc.RetentionDays)
		}
	}
	if !strings.Contains(e.logs.String(), "service listing is empty") {
		t.Errorf("the empty listing was not logged:\n%s", e.logs)
	}
}

func TestSyncGuardBlocksMassRemovalAndRecordsItOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	s := e.syncer("h1")
	all := make([]string, 20)
	for i := range all {
		all[i] = fmt.Sprintf("svc-%02d", i)
	}
	e.put(t, all...)
	if _, err := s.Sync(ctx, tenant(), e.objs); err != nil {
		t.Fatal(err)
	}
	e.remove(t, all[:5]...) // 25 % of services vanish: a bad prefix or a half-written bucket
	for range 4 {
		res, err := s.Sync(ctx, tenant(), e.objs)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Removed) != 0 {
			t.Fatalf("removed %v, want the guard to block", res.Removed)
		}
	}
	if got := len(e.services(t)); got != 20 {
		t.Errorf("services left: got %d, want 20", got)
	}
	if got, want := e.executions(t), []string{"serviceOnboarding:SUCCEEDED", "serviceRemoval:STOPPED"}; !slices.Equal(got, want) {
		t.Errorf("executions got %v, want %v (the block recorded once)", got, want)
	}
	if !strings.Contains(e.emf.String(), `"ServiceRemovalsBlocked":5`) {
		t.Errorf("no ServiceRemovalsBlocked metric in %s", e.emf)
	}
}

func TestSyncPaginatesTenThousandServices(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var want []string
	for i := range 10_500 {
		want = append(want, fmt.Sprintf("service-%05d", i))
	}
	e.put(t, want...)
	e.put(t, strings.Repeat("n", 255))
	e.s3.Put(t, layout.ServicePrefix(strings.Repeat("L", 256))+"year=2024/month=01/day=01/hour=00/minute=00/part-0")
	want = append(want, strings.Repeat("n", 255))
	slices.Sort(want)

	res, err := e.syncer("h1").Sync(context.Background(), tenant(), e.objs)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.services(t); !slices.Equal(got, want) {
		t.Fatalf("services: got %d, want %d", len(got), len(want))
	}
	if res.Invalid != 1 || !strings.Contains(e.logs.String(), "skipped invalid service name") {
		t.Errorf("the 256-character name was not skipped with a log line (invalid=%d)", res.Invalid)
	}
	if n := e.s3.Count(s3test.ListObjectsV2); n != 11 {
		t.Errorf("LIST requests: got %d, want 11 for 10,502 prefixes", n)
	}
	if got := e.executions(t); !slices.Equal(got, []string{"serviceOnboarding:SUCCEEDED"}) {
		t.Errorf("executions got %v, want one batched onboarding", got)
	}
}

// gatedLister blocks inside ListServices until released, so a second sync starts while the
// first holds the lease.
type gatedLister struct {
	discovery.ServiceLister
	listing chan struct{}
	release chan struct{}
}

func (g gatedLister) ListServices(ctx context.Context) ([]string, error) {
	g.listing <- struct{}{}
	<-g.release
	return g.ServiceLister.ListServices(ctx)
}

func TestConcurrentSyncsActOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.put(t, "api", "web")
	ctx := context.Background()

	gate := gatedLister{ServiceLister: e.objs, listing: make(chan struct{}), release: make(chan struct{})}
	first := make(chan error, 1)
	go func() {
		_, err := e.syncer("first").Sync(ctx, tenant(), gate)
		first <- err
	}()
	<-gate.listing // the first sync holds the lease
	e.s3.Reset()
	_, err := e.syncer("second").Sync(ctx, tenant(), e.objs)
	if !errors.Is(err, store.ErrLeaseHeld) {
		t.Fatalf("second sync: got %v, want ErrLeaseHeld", err)
	}
	if n := e.s3.Count(s3test.ListObjectsV2); n != 0 {
		t.Errorf("the refused sync listed S3 %d times", n)
	}
	close(gate.release)
	if err := <-first; err != nil {
		t.Fatalf("first sync: %v", err)
	}

	// Many at once: each either acts or is refused; the onboarding happens once.
	e.put(t, "batch")
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = e.syncer(fmt.Sprintf("racer-%d", i)).Sync(ctx, tenant(), e.objs)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil && !errors.Is(err, store.ErrLeaseHeld) {
			t.Errorf("racer %d: %v", i, err)
		}
	}
	if got := e.executions(t); !slices.Equal(got, []string{"serviceOnboarding:SUCCEEDED", "serviceOnboarding:SUCCEEDED"}) {
		t.Errorf("executions got %v, want exactly two onboardings (api+web, then batch)", got)
	}
	if got := e.services(t); !slices.Equal(got, []string{"api", "batch", "web"}) {
		t.Errorf("services got %v", got)
	}
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// TestScheduledRunsUnderTheRunnersLease runs the scheduled job the way the reconcile runner
// does: the runner holds "discovery/<tenant>" and passes the lease in; the job syncs with
// writes fenced by it and publishes the delay.
func TestScheduledRunsUnderTheRunnersLease(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.put(t, "api", "healthcheck-dummy")
	ctx := context.Background()
	cfg := &config.Config{Tenants: []config.Tenant{*tenant()}}
	cfg.Tenants[0].DelayMetrics.App.SampleServiceName = "healthcheck-dummy"
	cfg.Tenants[0].DelayMetrics.MaxLookbackHours = 3
	m := freshness.NewMeter(metrics.New(e.emf))
	m.Now = func() time.Time { return time.Date(2024, 1, 1, 0, 9, 0, 0, time.UTC) }
	svc := &discovery.Service{Config: cfg, Store: e.db, Syncer: e.syncer("runner"), Meter: m,
		Objects: func(*config.Tenant) (*logstore.Store, error) { return e.objs, nil }}

	lease, err := e.db.AcquireLease(ctx, discovery.LeaseName("ABC"), "runner", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Scheduled(ctx, "ABC", lease); err != nil {
		t.Fatal(err)
	}
	if got := e.services(t); !slices.Equal(got, []string{"api", "healthcheck-dummy"}) {
		t.Errorf("services got %v", got)
	}
	if !strings.Contains(e.emf.String(), `"service":"healthcheck-dummy"`) || !strings.Contains(e.emf.String(), `"AppLogsDelayMinutes":9`) {
		t.Errorf("delay not published as EMF: %s", e.emf)
	}
	// A lease taken over meanwhile fences the writes.
	e.put(t, "late")
	if _, err := e.db.AcquireLease(ctx, "discovery/ABC", "other", time.Minute); err == nil {
		t.Fatal("the lease should still be held")
	}
	stale := lease
	stale.Token++
	if _, err := svc.Scheduled(ctx, "ABC", stale); !errors.Is(err, store.ErrStaleToken) {
		t.Errorf("stale lease: got %v, want ErrStaleToken", err)
	}
	if slices.Contains(e.services(t), "late") {
		t.Error("a sync under a stale lease wrote")
	}
	if _, err := svc.Scheduled(ctx, "NOPE", lease); err == nil {
		t.Error("an unknown tenant must fail")
	}
}

// TestSyncsSecondsApartDoNotRemoveAService: two syncs seconds apart used to remove a service
// (and lose its retentionDays); it now stays until it has been absent for
// removeAfterAbsentMinutes as well.
func TestSyncsSecondsApartDoNotRemoveAService(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	s := e.syncer("h1")
	now := time.Date(2031, 3, 1, 12, 0, 0, 0, time.UTC)
	s.Now = func() time.Time { return now }
	tn := tenant()
	tn.Discovery.MaxRemovalPercent = 100
	tn.Discovery.RemoveAfterAbsentMinutes = 60
	e.put(t, "api", "worker")
	steps := []struct {
		after    time.Duration
		wantSvcs []string
	}{
		{0, []string{"api", "worker"}},                // onboarded
		{5 * time.Second, []string{"api", "worker"}},  // worker gone from S3: first absence
		{10 * time.Second, []string{"api", "worker"}}, // second absence, 5 s absent: kept
		{59 * time.Minute, []string{"api", "worker"}}, // still under an hour
		{61 * time.Minute, []string{"api"}},           // absent for an hour: removed
	}
	for i, st := range steps {
		if i == 1 {
			e.remove(t, "worker")
		}
		now = time.Date(2031, 3, 1, 12, 0, 0, 0, time.UTC).Add(st.after)
		if _, err := s.Sync(ctx, tn, e.objs); err != nil {
			t.Fatalf("sync at +%s: %v", st.after, err)
		}
		if got := e.services(t); !slices.Equal(got, st.wantSvcs) {
			t.Fatalf("after the sync at +%s: services %v, want %v", st.after, got, st.wantSvcs)
		}
	}
}
