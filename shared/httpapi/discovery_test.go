package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/discovery"
	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/freshness"
	"github.com/logwise/controlplane/shared/health"
	"github.com/logwise/controlplane/shared/logstore"
	"github.com/logwise/controlplane/shared/logstore/s3test"
	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/store/storetest"
)

// fakeDiscovery is a tenant's world as the discovery routes see it.
type fakeDiscovery struct {
	mu       sync.Mutex
	syncs    map[string]int // tenant → syncs run
	services map[string][]store.Service
	syncErr  error
	delayErr error
	health   health.Status
}

func (f *fakeDiscovery) SyncServices(_ context.Context, t *config.Tenant) (discovery.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.syncErr != nil {
		return discovery.Result{}, f.syncErr
	}
	f.syncs[t.Name]++
	return discovery.Result{Tenant: t.Name, Listed: 2, Onboarded: []string{"api"}}, nil
}

func (f *fakeDiscovery) ServiceDetails(_ context.Context, tenant string) ([]store.Service, error) {
	return f.services[tenant], nil
}

func (f *fakeDiscovery) SyncDelay(_ context.Context, t *config.Tenant) (freshness.Report, error) {
	if f.delayErr != nil {
		return freshness.Report{}, f.delayErr
	}
	d := 7
	return freshness.Report{Tenant: t.Name, AppLogsDelayMinutes: 7, Status: freshness.OK,
		Services: []freshness.ServiceDelay{{Service: "healthcheck-dummy", DelayMinutes: &d, Status: freshness.OK}}}, nil
}

func (f *fakeDiscovery) PipelineHealth(_ context.Context, t *config.Tenant) health.Report {
	checks := []health.ComponentCheck{
		{Component: "vector", Check: health.Check{Status: health.Up, Message: "Vector is healthy", Details: map[string]any{"responseCode": 200}}},
		{Component: "spark", Check: health.Check{Status: f.health, Message: "spark says " + string(f.health)}},
	}
	st, msg := health.Overall(checks)
	return health.Report{Status: st, Message: msg, Tenant: t.Name, Checks: checks}
}

func abc() map[string]string {
	return map[string]string{TenantHeader: "ABC", "Authorization": "Bearer token-abc-1"}
}

func TestComponentSyncComponentType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path, body string
		wantStatus       int
		wantCode         string
		wantSyncs        int
	}{
		{"query (Logwise code)", "/component/sync?componentType=application", "", 200, "", 1},
		{"body (the seed)", "/api/v1/component/sync", `{"componentType":"application"}`, 200, "", 1},
		{"both agreeing", "/component/sync?componentType=application", `{"componentType":"application"}`, 200, "", 1},
		{"missing", "/component/sync", "", 400, "INVALID_REQUEST_ERROR", 0},
		{"empty body object", "/api/v1/component/sync", `{}`, 400, "INVALID_REQUEST_ERROR", 0},
		{"other type in query", "/component/sync?componentType=environment", "", 400, "INVALID_COMPONENT_TYPE", 0},
		{"other type in body", "/api/v1/component/sync", `{"componentType":"Application"}`, 400, "INVALID_COMPONENT_TYPE", 0},
		{"empty type", "/component/sync?componentType=", "", 400, "INVALID_COMPONENT_TYPE", 0},
		{"body and query disagree", "/component/sync?componentType=application", `{"componentType":"x"}`, 400, "INVALID_REQUEST_ERROR", 0},
		{"not JSON", "/api/v1/component/sync", `componentType=application`, 400, "INVALID_REQUEST", 0},
	}
	for _, tc := range tests {
		f := &fakeDiscovery{syncs: map[string]int{}}
		s, _ := testServer(t, Deps{DiscoveryDeps: DiscoveryDeps{Discovery: f}})
		status, body := do(t, s.Handler(), "POST", tc.path, tc.body, abc())
		code := ""
		if e, ok := body["error"].(map[string]any); ok {
			code, _ = e["code"].(string)
		}
		if status != tc.wantStatus || code != tc.wantCode || f.syncs["ABC"] != tc.wantSyncs {
			t.Errorf("%s: got %d %q syncs=%d, want %d %q syncs=%d (body %v)", tc.name, status, code, f.syncs["ABC"],
				tc.wantStatus, tc.wantCode, tc.wantSyncs, body)
		}
		if status == 200 {
			data := body["data"].(map[string]any)
			if data["success"] != true || data["message"] != "Successfully synced componentType: application for tenant: ABC" {
				t.Errorf("%s: data %v lacks Logwise's success message", tc.name, data)
			}
		}
	}
}

func TestDiscoveryRoutesErrorsAndShapes(t *testing.T) {
	t.Parallel()
	f := &fakeDiscovery{syncs: map[string]int{}, health: health.Down, services: map[string][]store.Service{
		"ABC": {{Name: "api", RetentionDays: 3, Tenant: "ABC", MissedListings: 1}},
		"XYZ": {{Name: "secret-xyz-service", RetentionDays: 3, Tenant: "XYZ"}},
	}}
	s, _ := testServer(t, Deps{DiscoveryDeps: DiscoveryDeps{Discovery: f}})
	h := s.Handler()

	// GET /service-details keeps the shape Grafana reads, and only the caller's tenant.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/service-details", nil)
	for k, v := range abc() {
		req.Header.Set(k, v)
	}
	h.ServeHTTP(rec, req)
	if got, want := strings.TrimSpace(rec.Body.String()), `{"data":{"serviceDetails":[{"serviceName":"api","retentionDays":3,"tenant":"ABC"}]}}`; got != want {
		t.Errorf("service-details:\n got  %s\n want %s", got, want)
	}

	for _, path := range []string{"/metric/sync-delay", "/api/v1/metric/sync-delay"} {
		status, body := do(t, h, "GET", path, "", abc())
		data, _ := body["data"].(map[string]any)
		if status != 200 || data["tenant"] != "ABC" || data["appLogsDelayMinutes"] != float64(7) || data["status"] != "OK" {
			t.Errorf("%s: got %d %v", path, status, body)
		}
	}

	// Pipeline health: the Logwise body without envelope, 503 unless UP.
	status, body := do(t, h, "GET", "/pipeline/health", "", abc())
	checks, _ := body["checks"].([]any)
	if status != 503 || body["status"] != "DOWN" || body["tenant"] != "ABC" || len(checks) != 2 {
		t.Fatalf("pipeline/health: got %d %v", status, body)
	}
	if c := checks[0].(map[string]any); c["component"] != "vector" || c["check"].(map[string]any)["responseCode"] != float64(200) {
		t.Errorf("pipeline/health check shape: %v", c)
	}
	f.health = health.Up
	if status, body := do(t, h, "GET", "/pipeline/health", "", abc()); status != 200 || body["status"] != "UP" {
		t.Errorf("pipeline/health when UP: got %d %v", status, body)
	}

	// Failures map through fault kinds.
	f.syncErr = fmt.Errorf("sync services of tenant ABC: %w", store.ErrLeaseHeld)
	if status, _ := do(t, h, "POST", "/component/sync?componentType=application", "", abc()); status != 409 {
		t.Errorf("sync while another holds the lease: got %d, want 409", status)
	}
	f.delayErr = fault.Wrap(fault.Upstream, fmt.Errorf("ListObjectsV2: 503"), "s3 request failed")
	if status, _ := do(t, h, "GET", "/metric/sync-delay", "", abc()); status != 502 {
		t.Errorf("delay with S3 failing: got %d, want 502", status)
	}

	// Not configured: 503 NOT_CONFIGURED, and the routes stay tenant-scoped.
	s2, _ := testServer(t, Deps{})
	if status, body := do(t, s2.Handler(), "GET", "/service-details", "", abc()); status != 503 || body["error"].(map[string]any)["code"] != "NOT_CONFIGURED" {
		t.Errorf("unconfigured: got %d %v", status, body)
	}
	if status, _ := do(t, h, "GET", "/pipeline/health", "", map[string]string{"Authorization": "Bearer token-abc-1"}); status != 400 {
		t.Errorf("pipeline/health without tenant: got %d, want 400", status)
	}
}

// TestComponentSyncEndToEnd runs the real discovery service against MariaDB and an
// in-process S3: the sync onboards what S3 holds and /service-details shows it.
func TestComponentSyncEndToEnd(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	srv := s3test.New(t)
	layout := logstore.Layout{LogsDir: "logs", CheckpointDir: "checkpoint/application"}
	for _, svc := range []string{"api", "web"} {
		srv.Put(t, layout.MinutePrefix(svc, time.Now())+"part-0.gz.parquet")
	}
	log := slog.New(slog.DiscardHandler)
	svc := &discovery.Service{
		Store:  db,
		Syncer: discovery.NewSyncer(db, executions.NewLog(db.SQL(), "test"), nil, log, "api-test"),
		Meter:  freshness.NewMeter(nil),
		Objects: func(t *config.Tenant) (*logstore.Store, error) {
			return logstore.New(srv.Client, srv.Bucket, layout), nil
		},
	}
	s, _ := testServer(t, Deps{DiscoveryDeps: DiscoveryDeps{Discovery: svc}})
	status, body := do(t, s.Handler(), "POST", "/api/v1/component/sync", `{"componentType":"application"}`, abc())
	if status != 200 {
		t.Fatalf("sync: got %d %v", status, body)
	}
	status, body = do(t, s.Handler(), "GET", "/service-details", "", abc())
	got, _ := json.Marshal(body)
	want := `{"data":{"serviceDetails":[{"retentionDays":3,"serviceName":"api","tenant":"ABC"},{"retentionDays":3,"serviceName":"web","tenant":"ABC"}]}}`
	if status != 200 || string(got) != want {
		t.Errorf("service-details: got %d %s, want %s", status, got, want)
	}
	status, body = do(t, s.Handler(), "GET", "/metric/sync-delay", "", abc())
	data, _ := body["data"].(map[string]any)
	if status != 200 || data["status"] != "NO_DATA" || data["appLogsDelayMinutes"] != float64(180) {
		t.Errorf("sync-delay with a silent canary: got %d %v", status, body)
	}
}
