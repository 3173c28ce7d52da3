package localwire_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/logstore"
	"github.com/logwise/controlplane/shared/logstore/s3test"
	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/setup/localwire"
	"github.com/logwise/controlplane/shared/setup/setuptest"
	"github.com/logwise/controlplane/shared/store/storetest"
)

// TestAPIAnswersS3FailuresWith502 drives discovery (POST /component/sync) and the delay
// measurement (GET /metric/sync-delay) through the wired API while the tenant's S3 answers
// 500 to every request: both answer 502 with the JSON error envelope, GET /service-details still
// lists every service, and once S3 answers again both succeed with the true state.
func TestAPIAnswersS3FailuresWith502(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	ctx := context.Background()
	s3 := s3test.New(t)
	layout := logstore.Layout{LogsDir: "logs"}
	now := time.Now().UTC()
	for _, svc := range []string{"api", "web"} {
		s3.Put(t, layout.MinutePrefix(svc, now.Add(-2*time.Minute))+"part-0.gz.parquet")
	}
	// The tenant's S3 endpoint is a proxy in front of the stand-in that can answer 500 to
	// everything (the stand-in's own fault switch acts only on its test client).
	var failing atomic.Bool
	target, _ := url.Parse(s3.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected</Message></Error>`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	y := fmt.Sprintf(`
deployment: {partition: us-east-1, region: us-east-1}
database: {dsn: %q}
tenants:
  - name: ABC
    auth: {tokens: [tok]}
    objectStore: {aws: {bucket: %s, endpointOverride: %q, pathStyle: true}}
    vector: {host: 127.0.0.1, apiPort: 1}
    kafka: {kafkaBrokersHost: 127.0.0.1, kafkaBrokerPort: 1}
    spark: {sparkMasterHost: 127.0.0.1, restPort: 1, webPort: 1, sparkJarPath: s3://jars/app.jar, logsDir: logs}
    delayMetrics: {app: {sampleServiceName: api}}
`, storetest.NewConfig(t).DSN(), s3.Bucket, proxy.URL)
	env := setuptest.Load(t, "local", y, setup.Options{})
	app, err := localwire.New(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	call := func(method, path string) (int, string) {
		req := httptest.NewRequest(method, path, strings.NewReader(""))
		req.Header.Set("X-Tenant-Name", "ABC")
		req.Header.Set("Authorization", "Bearer tok")
		rec := httptest.NewRecorder()
		app.API.Handler().ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	services := func() string {
		code, body := call("GET", "/service-details")
		if code != 200 {
			t.Fatalf("GET /service-details: %d %s", code, body)
		}
		var out struct {
			Data json.RawMessage `json:"data"`
		}
		_ = json.Unmarshal([]byte(body), &out)
		return string(out.Data)
	}

	if code, body := call("POST", "/component/sync?componentType=application"); code != 200 {
		t.Fatalf("healthy sync: %d %s", code, body)
	}
	before := services()
	if !strings.Contains(before, `"api"`) || !strings.Contains(before, `"web"`) {
		t.Fatalf("service details after the healthy sync: %s", before)
	}

	failing.Store(true)
	for _, path := range []string{"POST /component/sync?componentType=application", "GET /metric/sync-delay"} {
		method, p, _ := strings.Cut(path, " ")
		code, body := call(method, p)
		t.Logf("S3 failing: %s answered %d %s", path, code, body)
		var env struct {
			Error *struct {
				Code, Message string
			} `json:"error"`
		}
		if code != 502 || json.Unmarshal([]byte(body), &env) != nil || env.Error == nil || env.Error.Message == "" {
			t.Errorf("%s with S3 failing: %d %s; want 502 with the JSON error envelope", path, code, body)
		}
	}
	if got := services(); got != before {
		t.Errorf("service details changed while S3 failed: %s, want %s", got, before)
	}

	failing.Store(false)
	code, body := call("GET", "/metric/sync-delay")
	t.Logf("S3 back: GET /metric/sync-delay answered %d %s", code, body)
	if code != 200 || !strings.Contains(body, `"OK"`) {
		t.Errorf("delay after S3 recovered: %d %s; want 200 and status OK", code, body)
	}
	if code, body := call("POST", "/component/sync?componentType=application"); code != 200 {
		t.Errorf("sync after S3 recovered: %d %s", code, body)
	}
	if got := services(); got != before {
		t.Errorf("service details after recovery: %s, want %s", got, before)
	}
}
