package scaling

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/kafka"
	"github.com/logwise/controlplane/shared/metrics"
	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/store/storetest"
)

// world is a Spark cluster: the master reports as many ALIVE workers as the actuator last
// asked for, with the driver on the first.
type world struct {
	mu      sync.Mutex
	alive   int
	driver  bool
	applies int
	gate    chan struct{} // when set, Apply waits for it
	err     error         // when set, Apply fails with it
}

func (w *world) Cluster(context.Context) (Cluster, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var c Cluster
	for i := range w.alive {
		c.Workers = append(c.Workers, Worker{ID: fmt.Sprintf("w-%d", i), Host: fmt.Sprintf("10.0.0.%d", i+1), State: "ALIVE"})
	}
	if w.driver {
		c.Drivers = []Driver{{ID: "driver-1", State: "RUNNING", Worker: "w-0"}}
	}
	return c, nil
}

func (w *world) Apply(_ context.Context, d Decision, _ Cluster) (Applied, error) {
	if w.gate != nil {
		<-w.gate
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.applies++
	if w.err != nil {
		return Applied{}, w.err
	}
	w.alive = d.Target
	return Applied{Target: d.Target}, nil
}

func (w *world) state() (alive, applies int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.alive, w.applies
}

// staticSinkLog is a file-sink log listing.
type staticSinkLog []string

func (s staticSinkLog) SinkLog(context.Context) ([]string, error) { return s, nil }

// policy: P = C = 1, so the expected size equals the records of a flat history.
var testPolicy = Policy{PerCoreLogsProcess: 1, ExecutorCoresPerMachine: 1, MinWorkers: 2, MaxWorkers: 10}

// batchClock makes every report's submission time later than the previous one's.
var batchClock atomic.Int64

func body(records int64, extra string) []byte {
	at := 1_700_000_000_000 + 60_000*batchClock.Add(1)
	return []byte(fmt.Sprintf(`{%s"sparkStageHistory":{"inputRecords":%d,"outputBytes":10,"submissionTime":%d,"completionTime":%d,"status":"succeeded"}}`,
		extra, records, at, at+500))
}

func newTestService(t *testing.T, db *store.DB, tenants ...Tenant) *Service {
	t.Helper()
	return NewService(db, executions.NewLog(db.SQL(), "test"), nil, tenants)
}

// post parses a body as the API would and hands it to Intake.
func post(t *testing.T, s *Service, tenant string, b []byte) Outcome {
	t.Helper()
	req, err := ParseIntake(b)
	if err != nil {
		t.Fatalf("parse %s: %v", b, err)
	}
	out, err := s.Intake(context.Background(), tenant, req)
	if err != nil {
		t.Fatalf("intake: %v", err)
	}
	return out
}

type recorded struct {
	Rule    string         `json:"rule"`
	Outcome map[string]any `json:"outcome"`
	Inputs  map[string]any `json:"inputs"`
}

// decisions reads the recorded scaleWorkers executions, oldest first.
func decisions(t *testing.T, db *store.DB) []recorded {
	t.Helper()
	rows, err := db.SQL().Query("SELECT body FROM orchestrations ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []recorded
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			t.Fatal(err)
		}
		var ex struct {
			Name    string   `json:"name"`
			Context recorded `json:"context"`
		}
		if err := json.Unmarshal([]byte(b), &ex); err != nil {
			t.Fatal(err)
		}
		if ex.Name == KindScaleWorkers {
			out = append(out, ex.Context)
		}
	}
	return out
}

func TestParseIntakeValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		wantErr    string // "" = valid
	}{
		{"valid, coresUsed missing", `{"sparkStageHistory":{"inputRecords":1,"outputBytes":2,"submissionTime":3,"completionTime":4,"status":"succeeded"}}`, ""},
		{"valid, case-insensitive names, unknown field", `{"ENABLEUPSCALE":false,"foo":1,"sparkstagehistory":{"InputRecords":1,"outputbytes":2,"submissionTime":3,"completionTime":4,"coresUsed":8,"tenant":"X"}}`, ""},
		{"valid, null flags", `{"enableUpScale":null,"enableDownScale":null,"sparkStageHistory":{"inputRecords":0,"outputBytes":0,"submissionTime":3,"completionTime":3,"coresUsed":null}}`, ""},
		{"empty body", ``, "sparkStageHistory is required"},
		{"no history", `{"enableUpScale":true}`, "sparkStageHistory is required"},
		{"null history", `{"sparkStageHistory":null}`, "sparkStageHistory is required"},
		{"empty history", `{"sparkStageHistory":{}}`, "sparkStageHistory.inputRecords is required"},
		{"negative records", `{"sparkStageHistory":{"inputRecords":-1,"outputBytes":2,"submissionTime":3,"completionTime":4}}`, "sparkStageHistory.inputRecords must not be negative"},
		{"negative bytes", `{"sparkStageHistory":{"inputRecords":1,"outputBytes":-2,"submissionTime":3,"completionTime":4}}`, "sparkStageHistory.outputBytes must not be negative"},
		{"negative cores", `{"sparkStageHistory":{"inputRecords":1,"outputBytes":2,"submissionTime":3,"completionTime":4,"coresUsed":-1}}`, "sparkStageHistory.coresUsed must be between"},
		{"string count", `{"sparkStageHistory":{"inputRecords":"many","outputBytes":2,"submissionTime":3,"completionTime":4}}`, "sparkStageHistory.inputRecords must be a whole number"},
		{"fractional count", `{"sparkStageHistory":{"inputRecords":1.5,"outputBytes":2,"submissionTime":3,"completionTime":4}}`, "sparkStageHistory.inputRecords must be a whole number"},
		{"flag not boolean", `{"enableUpScale":"yes","sparkStageHistory":{}}`, "enableUpScale must be true or false"},
		{"completion before submission", `{"sparkStageHistory":{"inputRecords":1,"outputBytes":2,"submissionTime":9,"completionTime":4}}`, "completionTime (4) is before submissionTime (9)"},
		{"not JSON", `{"sparkStageHistory":`, "not valid JSON"},
		{"trailing data", `{"sparkStageHistory":{"inputRecords":1,"outputBytes":2,"submissionTime":3,"completionTime":4}} {}`, "data after"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseIntake([]byte(tc.body))
			if tc.wantErr == "" {
				if err != nil {
					t.Errorf("got %v, want valid", err)
				}
				return
			}
			if !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got %v, want Invalid containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestIntakeEndToEndKubernetes: the Spark master (served as /json over HTTP) reports the
// Deployment's replicas as ALIVE workers; five reports are posted; the decision is applied to
// the Deployment through the scale subresource and read back fresh from the master.
func TestIntakeEndToEndKubernetes(t *testing.T) {
	t.Parallel()
	api, srv, ca := startAPIServer(t) // logwise/spark-worker starts at 3 replicas
	master := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.mu.Lock()
		pods := slices.Clone(api.pods)
		api.mu.Unlock()
		n := len(pods)
		var workers []string
		for i, p := range pods {
			workers = append(workers, fmt.Sprintf(`{"id":"worker-%d","host":%q,"port":40211,"webuiaddress":"http://%s:8081","cores":1,"coresused":1,"coresfree":0,"memory":1024,"memoryused":0,"memoryfree":1024,"resources":{},"resourcesused":{},"resourcesfree":{},"state":"ALIVE","lastheartbeat":1722815170123}`, i, p.ip, p.ip))
		}
		workers = append(workers, `{"id":"worker-dead","host":"10.0.9.9","port":1,"state":"DEAD","lastheartbeat":1}`)
		w.Header().Set("Content-Type", "text/json;charset=utf-8")
		fmt.Fprintf(w, `{"url":"spark://m:7077","workers":[%s],"aliveworkers":%d,"cores":%d,"coresused":%d,"memory":0,"memoryused":0,"resources":[],"resourcesused":[],"activeapps":[],"completedapps":[],
			"activedrivers":[{"id":"driver-20240804234519-0000","starttime":"1722815119000","state":"RUNNING","cores":1,"memory":1024,"resources":{},"submitdate":"Sun Aug 04 23:45:19 UTC 2024","worker":"worker-0","mainclass":"com.logwise.spark.MainApplication"}],
			"completeddrivers":[],"status":"ALIVE"}`, strings.Join(workers, ","), n, n, n)
	}))
	t.Cleanup(master.Close)
	k, err := NewKubernetes(KubernetesTarget{Namespace: "logwise", Deployment: "spark-worker", Server: srv.URL, CAPEM: ca, Token: StaticToken("good")})
	if err != nil {
		t.Fatal(err)
	}
	db := storetest.New(t)
	s := newTestService(t, db, Tenant{Name: "ABC", Policy: testPolicy, ClusterType: "kubernetes",
		Master: MasterJSON{URL: master.URL}, SinkLog: staticSinkLog{"logs/_spark_metadata/41", "logs/_spark_metadata/42"}, Actuator: k})

	for i := range 4 {
		out := post(t, s, "ABC", body(8, ""))
		if out.Decision.Rule != RuleTooFewHistories || out.Decision.From != 3 {
			t.Fatalf("report %d: %+v, want tooFewHistories from 3", i+1, out.Decision)
		}
	}
	out := post(t, s, "ABC", body(8, ""))
	if out.Decision.Action != Upscale || out.Decision.Target != 8 || out.Applied == nil || out.Applied.Target != 8 || out.ExecutionID == "" {
		t.Fatalf("5th report: %+v applied %+v, want upscale 3 → 8 applied and recorded", out.Decision, out.Applied)
	}
	if n, _ := k.Replicas(context.Background()); n != 8 {
		t.Errorf("deployment replicas = %d, want 8", n)
	}
	// The next report sees 8 fresh from the master: at target.
	if out := post(t, s, "ABC", body(8, "")); out.Decision.Rule != RuleAtTarget || out.Decision.From != 8 {
		t.Errorf("after scaling: %+v, want atTarget from 8", out.Decision)
	}
	ds := decisions(t, db)
	if len(ds) != 6 || ds[4].Rule != string(RuleUpscale) || ds[4].Outcome["target"] != float64(8) || ds[4].Inputs["workers"] != float64(3) {
		t.Errorf("recorded %d decisions; 5th = %+v; want 6 with the upscale 3 → 8 recorded", len(ds), ds[min(4, len(ds)-1)])
	}
	hs, _ := s.History(context.Background(), "ABC", 0)
	if len(hs) != 6 || hs[0].CoresUsed != nil {
		t.Errorf("history: %d rows (coresUsed %v), want 6 with coresUsed missing", len(hs), hs[0].CoresUsed)
	}
	// The load falls: five low reports downscale 8 → 6 (25 %), and the pod hosting the
	// driver (the oldest, which a ReplicaSet would remove first) stays.
	for range 5 {
		out = post(t, s, "ABC", body(2, ""))
	}
	if out.Decision.Action != Downscale || out.Decision.Target != 6 || out.Error != "" {
		t.Fatalf("after low load: %+v (error %q), want downscale 8 → 6", out.Decision, out.Error)
	}
	if pods := api.podNames(); len(pods) != 6 || pods[0] != "spark-worker-1" {
		t.Errorf("pods %v, want 6 with the driver's spark-worker-1 kept", pods)
	}
}

func TestOverridePrecedenceThroughService(t *testing.T) {
	t.Parallel()
	db := storetest.NewEmbedded(t)
	w := &world{alive: 3, driver: true}
	s := newTestService(t, db, Tenant{Name: "ABC", Policy: testPolicy, ClusterType: "kubernetes", Master: w, SinkLog: staticSinkLog{"3"}, Actuator: w})
	ctx := context.Background()
	for range 4 {
		post(t, s, "ABC", body(6, ""))
	}
	tr, fa := true, false
	steps := []struct {
		name       string
		override   store.ScaleOverride
		extra      string
		wantRule   Rule
		wantWorker int
	}{
		{"override disables upscale", store.ScaleOverride{Upscale: &fa}, "", RuleUpscaleDisabled, 3},
		{"same override again succeeds", store.ScaleOverride{Upscale: &fa}, "", RuleUpscaleDisabled, 3},
		{"override enables what the job disabled", store.ScaleOverride{Upscale: &tr}, `"enableUpScale":false,`, RuleUpscale, 6},
		{"cleared: the job's flag applies", store.ScaleOverride{}, `"enableDownScale":false,`, RuleDownscaleDisabled, 6},
	}
	for i, st := range steps {
		if err := s.SetOverride(ctx, "ABC", st.override); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		records := int64(6)
		if i == 3 {
			records = 2 // load fell; downscale wanted but the job disabled it
		}
		if i == 3 {
			for range 4 {
				post(t, s, "ABC", body(records, `"enableDownScale":false,`))
			}
		}
		out := post(t, s, "ABC", body(records, st.extra))
		alive, _ := w.state()
		if out.Decision.Rule != st.wantRule || alive != st.wantWorker {
			t.Errorf("%s: rule %s, workers %d; want %s, %d", st.name, out.Decision.Rule, alive, st.wantRule, st.wantWorker)
		}
	}
}

func TestDryRunRecordsWithoutActing(t *testing.T) {
	t.Parallel()
	db := storetest.NewEmbedded(t)
	w := &world{alive: 3, driver: true}
	s := newTestService(t, db, Tenant{Name: "ABC", Policy: testPolicy, ClusterType: "asg", DryRun: true, Master: w, SinkLog: staticSinkLog{"3"}, Actuator: w})
	var out Outcome
	for range 5 {
		out = post(t, s, "ABC", body(9, ""))
	}
	alive, applies := w.state()
	ds := decisions(t, db)
	if out.Decision.Action != Upscale || !out.DryRun || out.Applied != nil || applies != 0 || alive != 3 {
		t.Errorf("dry run: %+v applies %d alive %d; want an upscale decision, nothing applied", out, applies, alive)
	}
	if len(ds) != 5 || ds[4].Outcome["dryRun"] != true || ds[4].Rule != string(RuleUpscale) {
		t.Errorf("recorded %+v, want 5 decisions, the last an upscale marked dryRun", ds)
	}
}

func TestTwoScalersActOnce(t *testing.T) {
	t.Parallel()
	db := storetest.New(t) // row locks: MariaDB
	w := &world{alive: 3, driver: true, gate: make(chan struct{})}
	s := newTestService(t, db, Tenant{Name: "ABC", Policy: testPolicy, ClusterType: "kubernetes", Master: w, SinkLog: staticSinkLog{"3"}, Actuator: w})
	ctx := context.Background()
	for i := range 5 {
		if err := db.InsertStageHistory(ctx, store.StageHistory{Tenant: "ABC", InputRecords: 7, SubmissionTime: int64(i), CompletionTime: int64(i + 1), Status: "succeeded"}); err != nil {
			t.Fatal(err)
		}
	}
	const n = 6
	var held atomic.Int32
	var wg sync.WaitGroup
	results := make(chan ReconcileResult, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.Run(ctx, "ABC")
			if errors.Is(err, store.ErrLeaseHeld) {
				held.Add(1)
				return
			}
			if err != nil {
				t.Errorf("run: %v", err)
			}
			results <- r
		}()
	}
	// The winner is blocked inside Apply until every other run has been refused.
	deadline := time.After(20 * time.Second)
	for held.Load() < n-1 {
		select {
		case <-deadline:
			t.Fatalf("only %d of %d runs were refused the lease", held.Load(), n-1)
		case <-time.After(5 * time.Millisecond):
		}
	}
	close(w.gate)
	wg.Wait()
	close(results)
	alive, applies := w.state()
	if applies != 1 || alive != 7 || len(results) != 1 {
		t.Errorf("applies %d, workers %d, winners %d; want 1, 7, 1", applies, alive, len(results))
	}
	// A run after the winner released sees the new size and does nothing.
	r, err := s.Run(ctx, "ABC")
	if _, applies := w.state(); err != nil || r.Workers.Decision.Rule != RuleAtTarget || applies != 1 {
		t.Errorf("next run: %+v, %v, applies %d; want atTarget and no new apply", r.Workers.Decision, err, applies)
	}
}

// kafkaRuns records the leases partition scaling ran under.
type kafkaRuns struct{ tokens []uint64 }

func (k *kafkaRuns) Scale(_ context.Context, tenant string, l store.Lease) (kafka.Result, error) {
	k.tokens = append(k.tokens, l.Token)
	return kafka.Result{Success: true, Message: "ok " + tenant}, nil
}

func TestReconcileUsesStoredFlagsAndRunsKafka(t *testing.T) {
	t.Parallel()
	db := storetest.NewEmbedded(t)
	w := &world{alive: 9, driver: true}
	k := &kafkaRuns{}
	s := NewService(db, executions.NewLog(db.SQL(), "test"), k, []Tenant{{Name: "ABC", Policy: testPolicy, ClusterType: "kubernetes", Master: w, SinkLog: staticSinkLog{"3"}, Actuator: w}})
	ctx := context.Background()
	no := false
	for i := range 5 {
		if err := db.InsertStageHistory(ctx, store.StageHistory{Tenant: "ABC", InputRecords: 2, SubmissionTime: int64(i), CompletionTime: int64(i + 1), Status: "succeeded", EnableDownScale: &no}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := s.Run(ctx, "ABC")
	if err != nil || r.Workers.Decision.Rule != RuleDownscaleDisabled || r.Kafka == nil || !r.Kafka.Success || len(k.tokens) != 1 {
		t.Fatalf("got %+v kafka %+v err %v, want downscaleDisabled (the job's flag) and one Kafka run", r.Workers.Decision, r.Kafka, err)
	}
	// Activity in progress: recorded, not an error, retried next tick.
	if err := db.InsertStageHistory(ctx, store.StageHistory{Tenant: "ABC", InputRecords: 2, SubmissionTime: 9, CompletionTime: 9, Status: "succeeded"}); err != nil {
		t.Fatal(err)
	}
	w.err = fmt.Errorf("set desired capacity: %w", ErrActivityInProgress)
	r, err = s.Run(ctx, "ABC")
	if err != nil || r.Workers.Error == "" || r.Workers.Decision.Action != Downscale {
		t.Errorf("activity in progress: %+v, %v; want a recorded downscale attempt and no error", r.Workers, err)
	}
	ds := decisions(t, db)
	if last := ds[len(ds)-1]; last.Outcome["retry"] != "next tick" {
		t.Errorf("recorded %+v, want retry next tick", last.Outcome)
	}
}

func TestReconcilePurgesPastRetention(t *testing.T) {
	t.Parallel()
	db := storetest.NewEmbedded(t)
	now := time.Date(2031, 11, 22, 0, 0, 0, 0, time.UTC)
	db.SetClock(func() time.Time { return now })
	s := newTestService(t, db, Tenant{Name: "ABC", Policy: testPolicy, ClusterType: "kubernetes", HistoryRetention: 6 * time.Hour,
		Master: &world{alive: 2, driver: true}, SinkLog: staticSinkLog{"3"}})
	ctx := context.Background()
	for _, at := range []time.Duration{0, 5 * time.Hour, 7 * time.Hour} {
		now = time.Date(2031, 11, 22, 0, 0, 0, 0, time.UTC).Add(at)
		if err := db.InsertStageHistory(ctx, store.StageHistory{Tenant: "ABC", InputRecords: int64(at / time.Hour), Status: "succeeded"}); err != nil {
			t.Fatal(err)
		}
	}
	now = time.Date(2031, 11, 22, 8, 0, 0, 0, time.UTC)
	if _, err := s.Run(ctx, "ABC"); err != nil {
		t.Fatal(err)
	}
	hs, _ := db.StageHistories(ctx, "ABC", 20)
	if len(hs) != 2 || hs[1].InputRecords != 5 {
		t.Errorf("left %d reports, want 2 (the 8-hour-old one purged)", len(hs))
	}
}

func TestIntakeRetriedReportIsStoredOnce(t *testing.T) {
	t.Parallel()
	db := storetest.NewEmbedded(t)
	w := &world{alive: 3, driver: true}
	s := newTestService(t, db, Tenant{Name: "ABC", Policy: testPolicy, ClusterType: "kubernetes", Master: w, SinkLog: staticSinkLog{"3"}, Actuator: w})
	b := body(9, "")
	for range 3 {
		post(t, s, "ABC", b)
	}
	if hs, _ := db.StageHistories(context.Background(), "ABC", 20); len(hs) != 1 {
		t.Errorf("a report sent 3 times (client retries) stored %d times, want 1", len(hs))
	}
}

func TestIntakeWhileAScalerRunsStoresAndDefers(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	w := &world{alive: 3, driver: true}
	s := newTestService(t, db, Tenant{Name: "ABC", Policy: testPolicy, ClusterType: "kubernetes", Master: w, SinkLog: staticSinkLog{"3"}, Actuator: w})
	ctx := context.Background()
	for range 4 {
		post(t, s, "ABC", body(9, ""))
	}
	l, err := db.AcquireLease(ctx, LeaseName("ABC"), "scheduled-run", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	out := post(t, s, "ABC", body(9, ""))
	hs, _ := db.StageHistories(ctx, "ABC", 20)
	if _, applies := w.state(); out.Skipped == "" || applies != 0 || len(hs) != 5 {
		t.Errorf("intake under a held lease: %+v, applies %d, %d reports; want skipped, none applied, 5 stored", out, applies, len(hs))
	}
	// The holder's run decides from the stored report.
	r, err := s.Reconcile(ctx, "ABC", l)
	if alive, _ := w.state(); err != nil || r.Workers.Decision.Action != Upscale || alive != 9 {
		t.Errorf("scheduled run: %+v, %v, alive %d; want upscale to 9", r.Workers.Decision, err, alive)
	}
}

func TestScalePartitionsTakesTheLeaseAndEmitsMetrics(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	k := &kafkaRuns{}
	w := &world{alive: 2, driver: true}
	s := NewService(db, executions.NewLog(db.SQL(), "test"), k, []Tenant{{Name: "ABC", Policy: testPolicy, Master: w, SinkLog: staticSinkLog{"3"}}})
	var buf bytes.Buffer
	s.SetMetrics(metrics.New(&buf))
	ctx := context.Background()
	if r, err := s.ScalePartitions(ctx, "ABC"); err != nil || !r.Success || len(k.tokens) != 1 {
		t.Fatalf("free lease: %+v, %v", r, err)
	}
	held, err := db.AcquireLease(ctx, LeaseName("ABC"), "scheduled-run", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ScalePartitions(ctx, "ABC"); !fault.Is(err, fault.Conflict) || len(k.tokens) != 1 {
		t.Errorf("held lease: %v after %d runs, want Conflict and no second run", err, len(k.tokens))
	}
	if _, err := s.Reconcile(ctx, "ABC", held); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{`"SparkWorkersAlive":2`, `"SparkWorkersTarget":2`, `"tenant":"ABC"`} {
		if !strings.Contains(buf.String(), m) {
			t.Errorf("metrics %s lack %s", buf.String(), m)
		}
	}
}

func TestHistoryLimitAndUnknownTenant(t *testing.T) {
	t.Parallel()
	db := storetest.NewEmbedded(t)
	s := newTestService(t, db, Tenant{Name: "ABC", Policy: testPolicy, Master: &world{}, SinkLog: staticSinkLog{}})
	ctx := context.Background()
	for i := range 25 {
		if err := db.InsertStageHistory(ctx, store.StageHistory{Tenant: "ABC", InputRecords: int64(i), Status: "succeeded"}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		limit   int
		wantLen int
		wantErr bool
	}{{0, 20, false}, {5, 5, false}, {500, 25, false}, {501, 0, true}, {-1, 0, true}}
	for _, tc := range tests {
		hs, err := s.History(ctx, "ABC", tc.limit)
		if (err != nil) != tc.wantErr || len(hs) != tc.wantLen {
			t.Errorf("limit %d: %d rows, err %v; want %d rows, error %v", tc.limit, len(hs), err, tc.wantLen, tc.wantErr)
		}
	}
	if _, err := s.Intake(ctx, "NOPE", IntakeRequest{SparkStageHistory: &StageReport{InputRecords: new(int64), OutputBytes: new(int64), SubmissionTime: new(int64), CompletionTime: new(int64)}}); !fault.Is(err, fault.NotFound) {
		t.Errorf("unknown tenant: %v, want NotFound", err)
	}
}
