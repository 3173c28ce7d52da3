package health_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/health"
	"github.com/logwise/controlplane/shared/logstore"
	"github.com/logwise/controlplane/shared/logstore/s3test"
)

func cc(component string, s health.Status, msg string) health.ComponentCheck {
	return health.ComponentCheck{Component: component, Check: health.Check{Status: s, Message: msg}}
}

func TestOverallAndHTTPStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		checks   []health.ComponentCheck
		want     health.Status
		wantMsg  string
		wantCode int
	}{
		{"all up", []health.ComponentCheck{cc("vector", health.Up, "ok"), cc("s3", health.Up, "ok")},
			health.Up, "All pipeline components are healthy", 200},
		{"a warning is not folded into down", []health.ComponentCheck{cc("vector", health.Up, "ok"), cc("kafka", health.Warning, "3 under-replicated")},
			health.Warning, "One or more pipeline components have issues: kafka WARNING (3 under-replicated)", 503},
		{"down beats warning, both named", []health.ComponentCheck{cc("kafka", health.Warning, "w"), cc("spark", health.Down, "no driver")},
			health.Down, "One or more pipeline components have issues: kafka WARNING (w); spark DOWN (no driver)", 503},
		{"nothing checked", nil, health.Down, "No pipeline component was checked", 503},
	}
	for _, tc := range tests {
		s, msg := health.Overall(tc.checks)
		code := health.HTTPStatus(health.Report{Status: s})
		if s != tc.want || msg != tc.wantMsg || code != tc.wantCode {
			t.Errorf("%s: got %s %q %d, want %s %q %d", tc.name, s, msg, code, tc.want, tc.wantMsg, tc.wantCode)
		}
	}
}

func TestReportKeepsLogwiseShape(t *testing.T) {
	t.Parallel()
	r := health.Report{Status: health.Up, Message: "m", Tenant: "ABC", Checks: []health.ComponentCheck{{
		Component: "vector", Check: health.Check{Status: health.Up, Message: "Vector is healthy", Details: map[string]any{"responseCode": 200}},
	}}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"status":"UP","message":"m","tenant":"ABC","checks":[{"component":"vector","check":{"message":"Vector is healthy","responseCode":200,"status":"UP"}}]}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	var back health.Report
	if err := json.Unmarshal(b, &back); err != nil || back.Checks[0].Check.Details["responseCode"] != float64(200) || back.Checks[0].Check.Status != health.Up {
		t.Errorf("round trip: %+v, %v", back, err)
	}
}

// world is a healthy pipeline whose parts each test may break.
type world struct {
	vector    *httptest.Server
	vectorH   http.HandlerFunc // what Vector's API answers; swapped by faults
	kafka     *kfake.Cluster
	kafkaAt   []string // the brokers' addresses (ListenAddrs blocks once the cluster is closed)
	stopKafka func()
	admin     *kadm.Client
	spark     *fakeSpark
	pattern   string // spark.subscribePattern
	s3        *s3test.Server
	now       time.Time
}

type fakeSpark struct {
	drivers map[string]string // tenant → driver state; absent means no driver
	err     error
	block   chan struct{} // when set: ignore the context and answer only once it is closed
}

func (f *fakeSpark) DriverAlive(ctx context.Context, tenant string) (bool, string, error) {
	if f.block != nil {
		<-f.block // a probe that ignores its context
	}
	if f.err != nil {
		return false, "", f.err
	}
	st, ok := f.drivers[tenant]
	if !ok {
		return false, "master ALIVE, no driver of the job among activedrivers", nil
	}
	return true, "driver-20240101 " + st, nil
}

var layout = logstore.Layout{LogsDir: "logs", CheckpointDir: "checkpoint"}

func newWorld(t *testing.T) *world {
	w := &world{pattern: "^logs.*", now: time.Date(2024, 1, 1, 0, 5, 0, 0, time.UTC), spark: &fakeSpark{drivers: map[string]string{"ABC": "RUNNING"}}}
	w.vectorH = func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(rw, r)
			return
		}
		rw.Write([]byte(`{"ok":true}`))
	}
	w.vector = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { w.vectorH(rw, r) }))
	t.Cleanup(w.vector.Close)

	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "logs.api", "logs.web", "other"))
	if err != nil {
		t.Fatal(err)
	}
	w.kafka, w.kafkaAt, w.stopKafka = c, c.ListenAddrs(), sync.OnceFunc(c.Close)
	t.Cleanup(w.stopKafka)
	w.admin = newAdmin(t, w.kafkaAt...)

	w.s3 = s3test.New(t)
	// Fresh data for both canaries, written across midnight: 23:59 of the previous year.
	for _, svc := range []string{"healthcheck-dummy", "canary-b"} {
		w.s3.Put(t, layout.MinutePrefix(svc, w.now.Add(-6*time.Minute))+"part-0.gz.parquet")
	}
	return w
}

func newAdmin(t *testing.T, seeds ...string) *kadm.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

func (w *world) tenant() *config.Tenant {
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(w.vector.URL, "http://"))
	t := &config.Tenant{Name: "ABC"}
	t.Vector.Host = host
	t.Vector.APIPort, _ = strconv.Atoi(port)
	t.Kafka.KafkaBrokersHost = strings.Join(w.kafkaAt, ",")
	t.Spark.SubscribePattern = w.pattern
	t.DelayMetrics.App.SampleServiceName = "healthcheck-dummy"
	t.DelayMetrics.App.SampleServiceNames = []string{"canary-b"}
	t.Health.S3FreshnessMinutes = 15
	t.Health.TimeoutSeconds = 1
	return t
}

func (w *world) check(t *testing.T, admin *kadm.Client) health.Report {
	c := health.NewChecker(http.DefaultClient, w.spark)
	c.Now = func() time.Time { return w.now }
	return c.Check(context.Background(), w.tenant(), health.Targets{
		Kafka:   health.KadmProbe{Admin: admin},
		Objects: logstore.New(w.s3.Client, w.s3.Bucket, layout),
	})
}

func verdicts(r health.Report) string {
	var out []string
	for _, c := range r.Checks {
		out = append(out, c.Component+"="+string(c.Check.Status))
	}
	return strings.Join(out, " ")
}

func message(r health.Report, component string) string {
	for _, c := range r.Checks {
		if c.Component == component {
			return c.Check.Message
		}
	}
	return ""
}

func TestEachFaultGivesItsOwnVerdict(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		fault     func(t *testing.T, w *world) *kadm.Client // returns the admin client to use
		want      string                                    // verdict per component
		component string
		message   string // a part of that component's message
	}{
		{"healthy", nil, "vector=UP kafka=UP spark=UP s3=UP", "s3", "Recent logs found in S3 for every canary"},
		{"vector draining (503)", func(t *testing.T, w *world) *kadm.Client {
			w.vectorH = func(rw http.ResponseWriter, r *http.Request) {
				rw.WriteHeader(http.StatusServiceUnavailable)
				rw.Write([]byte(`{"ok":false}`))
			}
			return w.admin
		}, "vector=DOWN kafka=UP spark=UP s3=UP", "vector", "Vector is draining or shutting down (GET /health answered 503)"},
		{"vector error status", func(t *testing.T, w *world) *kadm.Client {
			w.vectorH = func(rw http.ResponseWriter, r *http.Request) { rw.WriteHeader(http.StatusInternalServerError) }
			return w.admin
		}, "vector=DOWN kafka=UP spark=UP s3=UP", "vector", "Vector health check returned 500"},
		{"vector answers ok:false", func(t *testing.T, w *world) *kadm.Client {
			w.vectorH = func(rw http.ResponseWriter, r *http.Request) { rw.Write([]byte(`{"ok":false}`)) }
			return w.admin
		}, "vector=DOWN kafka=UP spark=UP s3=UP", "vector", `Vector reports {"ok":false}`},
		{"vector unreachable", func(t *testing.T, w *world) *kadm.Client {
			w.vector.Close()
			return w.admin
		}, "vector=DOWN kafka=UP spark=UP s3=UP", "vector", "Vector is unreachable at http://"},
		{"kafka unreachable", func(t *testing.T, w *world) *kadm.Client {
			w.stopKafka()
			return newAdmin(t, w.kafkaAt...)
		}, "vector=UP kafka=DOWN spark=UP s3=UP", "kafka", "Kafka brokers 127.0.0.1:"},
		{"kafka without subscribed topics", func(t *testing.T, w *world) *kadm.Client {
			if _, err := w.admin.DeleteTopics(context.Background(), "logs.api", "logs.web"); err != nil {
				t.Fatal(err)
			}
			return w.admin
		}, "vector=UP kafka=DOWN spark=UP s3=UP", "kafka", "Kafka has no topic matching ^logs.*"},
		{"pattern must match whole topic names", func(t *testing.T, w *world) *kadm.Client {
			w.pattern = "logs" // matches no topic in full, as Spark (Java Pattern.matches) sees it
			return w.admin
		}, "vector=UP kafka=DOWN spark=UP s3=UP", "kafka", "Kafka has no topic matching logs"},
		{"no driver", func(t *testing.T, w *world) *kadm.Client {
			delete(w.spark.drivers, "ABC")
			return w.admin
		}, "vector=UP kafka=UP spark=DOWN s3=UP", "spark", "No live Spark driver for the streaming job: master ALIVE, no driver"},
		{"spark master unreachable", func(t *testing.T, w *world) *kadm.Client {
			w.spark.err = errors.New("GET http://master:8080/json: connection refused")
			return w.admin
		}, "vector=UP kafka=UP spark=DOWN s3=UP", "spark", "Spark health check failed: GET http://master:8080/json"},
		{"spark hangs past the timeout", func(t *testing.T, w *world) *kadm.Client {
			w.spark.block = make(chan struct{})
			t.Cleanup(func() { close(w.spark.block) })
			return w.admin
		}, "vector=UP kafka=UP spark=DOWN s3=UP", "spark", "Spark health check timed out after 1s"},
		{"stale S3 (20 minutes, across midnight)", func(t *testing.T, w *world) *kadm.Client {
			w.now = w.now.Add(14 * time.Minute) // newest partition 23:59 is now 20 minutes old
			return w.admin
		}, "vector=UP kafka=UP spark=UP s3=DOWN", "s3", "No new logs in S3 for healthcheck-dummy, canary-b in the last 15 minutes"},
		{"one canary quiet", func(t *testing.T, w *world) *kadm.Client {
			w.s3.Put(t, layout.MinutePrefix("healthcheck-dummy", w.now.Add(5*time.Minute))+"part-0")
			w.now = w.now.Add(14 * time.Minute)
			return w.admin
		}, "vector=UP kafka=UP spark=UP s3=WARNING", "s3", "No new logs in S3 for canary-b"},
		{"S3 failing", func(t *testing.T, w *world) *kadm.Client {
			w.s3.Fail(s3test.ListObjectsV2, true)
			return w.admin
		}, "vector=UP kafka=UP spark=UP s3=DOWN", "s3", "S3 logs check failed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			admin := w.admin
			if tc.fault != nil {
				admin = tc.fault(t, w)
			}
			w.s3.Reset()
			start := time.Now()
			r := w.check(t, admin)
			if got := verdicts(r); got != tc.want {
				t.Errorf("verdicts: got %s, want %s (messages: %+v)", got, tc.want, r.Checks)
			}
			if got := message(r, tc.component); !strings.Contains(got, tc.message) {
				t.Errorf("%s message: got %q, want it to contain %q", tc.component, got, tc.message)
			}
			wantStatus, wantCode := health.Down, 503
			switch {
			case tc.fault == nil:
				wantStatus, wantCode = health.Up, 200
			case strings.Contains(tc.want, "WARNING"):
				wantStatus = health.Warning
			}
			if r.Status != wantStatus || health.HTTPStatus(r) != wantCode || r.Tenant != "ABC" {
				t.Errorf("overall: got %s %d tenant %s, want %s %d ABC", r.Status, health.HTTPStatus(r), r.Tenant, wantStatus, wantCode)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %s: the checks must run concurrently, each within 1s", d)
			}
			// Bounded LISTs: ceil(15/60)+1 = 2 per canary at most.
			if n := w.s3.Count(s3test.ListObjectsV2); n > 4 {
				t.Errorf("S3 LIST requests: got %d, want at most 4", n)
			}
		})
	}
}
