package apibench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/httpapi"
	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/setup/apiwire"
	"github.com/logwise/controlplane/shared/setup/setuptest"
	"github.com/logwise/controlplane/shared/store/storetest"
)

// Routes are the API routes whose latency the report gives, by path (all GET). A route not
// registered on the mux is skipped with "not registered", which the report shows as such.
var Routes = []struct{ Name, Path, Query string }{
	{"healthcheck", "/healthcheck", ""},
	{"service-details", "/service-details", ""},
	{"spark-stage-history", "/spark-stage-history", "limit=5"},
	{"metric-sync-delay", "/metric/sync-delay", ""},
	{"executions", "/executions", "limit=50"},
}

const (
	tenant = "ABC"
	token  = "bench-token-abc"
	bucket = "logs-abc"
)

// BenchmarkAPILatency measures one request through httpapi.LambdaHandler (JSON event in,
// proxy response out) per op, on the API wired by apiwire.New over a freshly migrated
// MariaDB database with an in-process S3, so that whatever is wired later is measured too.
// Reported metrics: p50-us and p99-us of the per-request times; "bare" is a net/http handler
// writing a fixed JSON body behind the same adapter.
func BenchmarkAPILatency(b *testing.B) {
	b.Run("bare", func(b *testing.B) {
		h := httpapi.LambdaHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"data":{"status":"UP"}}` + "\n"))
		}))
		measure(b, h, event(b, "/healthcheck", ""))
	})
	for _, rt := range Routes {
		b.Run(rt.Name, func(b *testing.B) {
			app := newApp(b)
			if !registered(app.Routes(), "GET "+rt.Path) {
				b.Skipf("not registered: GET %s", rt.Path)
			}
			measure(b, httpapi.LambdaHandler(app.Handler()), event(b, rt.Path, rt.Query))
		})
	}
}

// measure times b.N invocations of h with ev, checks every answer is a 2xx (a benchmark of
// an error path would measure the wrong thing) and reports p50 and p99.
func measure(b *testing.B, h func(context.Context, json.RawMessage) (any, error), ev json.RawMessage) {
	b.Helper()
	ctx := context.Background()
	times := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		out, err := h(ctx, ev)
		times = append(times, time.Since(start))
		if err != nil {
			b.Fatalf("invoke: %v", err)
		}
		if resp, ok := out.(events.APIGatewayV2HTTPResponse); !ok || resp.StatusCode/100 != 2 {
			b.Fatalf("answer is not a 2xx: %+v", out)
		}
	}
	b.StopTimer()
	slices.Sort(times)
	b.ReportMetric(us(percentile(times, 50)), "p50-us")
	b.ReportMetric(us(percentile(times, 99)), "p99-us")
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }

func registered(routes []httpapi.Route, pattern string) bool {
	for _, r := range routes {
		if r.Pattern == pattern {
			return true
		}
	}
	return false
}

// event is a recorded HTTP API (payload 2.0) GET event for path, as API Gateway sends it.
func event(b *testing.B, path, query string) json.RawMessage {
	b.Helper()
	ev := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "$default", RawPath: path, RawQueryString: query,
		Headers: map[string]string{
			"accept": "application/json", "host": "abc123.execute-api.us-east-1.amazonaws.com",
			"user-agent": "grafana/10", "x-forwarded-proto": "https",
			"x-tenant-name": tenant, "authorization": "Bearer " + token,
		},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			AccountID: "123456789012", APIID: "abc123", DomainName: "abc123.execute-api.us-east-1.amazonaws.com",
			RequestID: "JKJaXmPLvHcESHA=", RouteKey: "$default", Stage: "$default", TimeEpoch: 1795356000000,
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: path, Protocol: "HTTP/1.1",
				SourceIP: "203.0.113.7", UserAgent: "grafana/10"},
		},
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// newApp wires the whole API as the api function does, over a new MariaDB database (migrated
// by setup.Load) and an in-process S3 holding the tenant's bucket, with a few executions.
func newApp(b *testing.B) *httpapi.Server {
	b.Helper()
	b.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	b.Setenv("AWS_XRAY_SDK_DISABLED", "true")
	if os.Getenv("AWS_ACCESS_KEY_ID") == "" { // the tenant's S3 client signs its requests
		b.Setenv("AWS_ACCESS_KEY_ID", "bench")
		b.Setenv("AWS_SECRET_ACCESS_KEY", "bench")
	}
	s3srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	b.Cleanup(s3srv.Close)
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(s3srv.URL), UsePathStyle: true,
		Credentials: aws.AnonymousCredentials{}})
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		b.Fatalf("create bucket: %v", err)
	}
	db := storetest.NewConfig(b)
	env := setuptest.Load(b, "bench", fmt.Sprintf(`
deployment: {partition: us-east-1, region: us-east-1}
database: {dsn: "%s"}
tenants:
  - name: %s
    auth: {tokens: ["%s"]}
    objectStore: {aws: {bucket: %s, region: us-east-1, endpointOverride: "%s", pathStyle: true}}
    vector: {host: 127.0.0.1, apiPort: 1}
    kafka: {kafkaBrokersHost: 127.0.0.1, kafkaBrokerPort: 1}
    spark: {sparkMasterHost: 127.0.0.1, restPort: 1, webPort: 1, sparkJarPath: s3://jars/logwise.jar}
    delayMetrics: {app: {sampleServiceName: checkout}}
`, db.DSN(), tenant, token, bucket, s3srv.URL), setup.Options{})
	repo := executions.NewRepository(env.Store.SQL(), env.Config.Deployment.Partition)
	for i := range 20 {
		_, err := repo.StartPipeline(context.Background(), executions.PipelineSpec{Tenant: tenant, Name: "replay-" + strings.Repeat("x", i%3),
			Stages: []executions.StageSpec{{RefID: "1", Type: "manualJudgment", Name: "Approve"}}})
		if err != nil {
			b.Fatalf("seed executions: %v", err)
		}
	}
	app, err := apiwire.New(context.Background(), env, apiwire.Options{})
	if err != nil {
		b.Fatalf("wire: %v", err)
	}
	return app
}
