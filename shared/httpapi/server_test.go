package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/fault"
)

const testYAML = `
deployment: {partition: us-east-1, region: us-east-1}
api:
  tokens:
    - {name: ops, secret: admin-token-1, role: admin}
    - {name: alice, secret: token-abc-alice, tenant: ABC}
    - {name: bob, secret: token-abc-bob, tenant: ABC}
tenants:
  - name: ABC
    auth: {tokens: ["token-abc-1"]}
    objectStore: {aws: {bucket: logs-abc}}
    vector: {host: vector.abc}
    kafka: {kafkaBrokersHost: kafka.abc}
    spark: {sparkMasterHost: spark.abc, sparkJarPath: s3://jars/logwise.jar}
  - name: XYZ
    auth: {tokens: ["token-xyz-1"]}
    objectStore: {aws: {bucket: logs-xyz}}
    vector: {host: vector.xyz}
    kafka: {kafkaBrokersHost: kafka.xyz}
    spark: {sparkMasterHost: spark.xyz, sparkJarPath: s3://jars/logwise.jar}
`

func testServer(t *testing.T, deps Deps) (*Server, *bytes.Buffer) {
	t.Helper()
	cfg, err := config.Parse([]byte(testYAML), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	var logs bytes.Buffer
	return New(cfg, slog.New(slog.NewJSONHandler(&logs, nil)), deps), &logs
}

type pinger struct{ err error }

func (p pinger) Ping(context.Context) error { return p.err }

func do(t *testing.T, h http.Handler, method, path string, body string, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	var rb io.Reader
	if body != "" {
		rb = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rb)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %s: body is not JSON: %q", method, path, rec.Body.String())
		}
	}
	return rec.Code, out
}

func TestHealthcheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		ping       error
		wantStatus int
		wantState  string
	}{
		{"mysql up", nil, 200, "UP"},
		{"mysql down", fault.Wrap(fault.Unavailable, errors.New("dial tcp: connection refused"), "database ping"), 503, "DOWN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := testServer(t, Deps{Health: pinger{tt.ping}})
			code, body := do(t, s.Handler(), "GET", "/healthcheck", "", nil)
			data, _ := body["data"].(map[string]any)
			if code != tt.wantStatus || data["status"] != tt.wantState {
				t.Fatalf("got %d %v, want %d %s", code, body, tt.wantStatus, tt.wantState)
			}
			mysql := data["checks"].(map[string]any)["mysql"].(map[string]any)
			if mysql["status"] != tt.wantState {
				t.Fatalf("mysql check = %v, want %s", mysql, tt.wantState)
			}
			if tt.ping != nil && body["error"].(map[string]any)["code"] != "HEALTHCHECK_FAILED" {
				t.Fatalf("failing healthcheck lacks the error envelope: %v", body)
			}
		})
	}
}

func TestLiveness(t *testing.T) {
	t.Parallel()
	s, _ := testServer(t, Deps{})
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/liveness", nil))
	if rec.Code != 200 || rec.Body.String() != "Success" {
		t.Fatalf("got %d %q, want 200 Success", rec.Code, rec.Body.String())
	}
}

// tenantProbe registers a tenant-scoped route for testing the middleware.
func tenantProbe(s *Server) {
	s.handleTenant("GET /probe", func(w http.ResponseWriter, r *http.Request, t *config.Tenant) error {
		writeData(w, 200, map[string]string{"tenant": t.Name})
		return nil
	})
}

func TestTenantAndAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		hdr      map[string]string
		wantCode int
		wantErr  string
	}{
		{"no tenant header", map[string]string{"Authorization": "Bearer token-abc-1"}, 400, "MISSING_TENANT"},
		// Unknown and known tenants answer alike until the token says who is asking.
		{"unknown tenant, tenant token", map[string]string{TenantHeader: "NOPE", "Authorization": "Bearer token-abc-1"}, 403, "WRONG_TENANT"},
		{"unknown tenant, no token", map[string]string{TenantHeader: "NOPE"}, 401, "UNAUTHENTICATED"},
		{"unknown tenant, unknown token", map[string]string{TenantHeader: "NOPE", "Authorization": "Bearer nope"}, 401, "UNAUTHENTICATED"},
		{"unknown tenant, admin token", map[string]string{TenantHeader: "NOPE", "Authorization": "Bearer admin-token-1"}, 400, "INVALID_TENANT"},
		{"admin token for a tenant", map[string]string{TenantHeader: "XYZ", "Authorization": "Bearer admin-token-1"}, 200, ""},
		{"named tenant token", map[string]string{TenantHeader: "ABC", "Authorization": "Bearer token-abc-alice"}, 200, ""},
		{"named token for another tenant", map[string]string{TenantHeader: "XYZ", "Authorization": "Bearer token-abc-alice"}, 403, "WRONG_TENANT"},
		{"no token", map[string]string{TenantHeader: "ABC"}, 401, "UNAUTHENTICATED"},
		{"malformed authorization", map[string]string{TenantHeader: "ABC", "Authorization": "Basic abc"}, 401, "UNAUTHENTICATED"},
		{"unknown token", map[string]string{TenantHeader: "ABC", "Authorization": "Bearer nope"}, 401, "UNAUTHENTICATED"},
		{"other tenant's token", map[string]string{TenantHeader: "ABC", "Authorization": "Bearer token-xyz-1"}, 403, "WRONG_TENANT"},
		{"own token", map[string]string{TenantHeader: "ABC", "Authorization": "Bearer token-abc-1"}, 200, ""},
		{"scheme is case-insensitive", map[string]string{TenantHeader: "XYZ", "Authorization": "bearer token-xyz-1"}, 200, ""},
	}
	s, _ := testServer(t, Deps{})
	tenantProbe(s)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := do(t, s.Handler(), "GET", "/probe", "", tt.hdr)
			if code != tt.wantCode {
				t.Fatalf("status = %d (%v), want %d", code, body, tt.wantCode)
			}
			if tt.wantErr != "" {
				e, _ := body["error"].(map[string]any)
				if e["code"] != tt.wantErr || e["message"] == "" || e["cause"] == "" {
					t.Fatalf("error = %v, want code %s with message and cause", body, tt.wantErr)
				}
				return
			}
			if body["data"].(map[string]any)["tenant"] != tt.hdr[TenantHeader] {
				t.Fatalf("body = %v", body)
			}
		})
	}
}

func TestAuthDisabledStillNeedsTenant(t *testing.T) {
	t.Parallel()
	s, _ := testServer(t, Deps{})
	s.cfg.API.AuthDisabled = true
	tenantProbe(s)
	if code, _ := do(t, s.Handler(), "GET", "/probe", "", map[string]string{TenantHeader: "ABC"}); code != 200 {
		t.Fatalf("auth disabled, tenant given: %d, want 200", code)
	}
	if code, _ := do(t, s.Handler(), "GET", "/probe", "", nil); code != 400 {
		t.Fatalf("auth disabled, no tenant: %d, want 400", code)
	}
}

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		err      error
		wantCode int
		wantMsg  string
	}{
		{"invalid", fault.Invalidf("limit must be positive"), 400, "limit must be positive"},
		{"not found", fault.NotFoundf("execution 01H is unknown"), 404, "execution 01H is unknown"},
		{"conflict with code", fault.Conflictf("owned by eu-west-1").WithCode("FOREIGN_EXECUTION"), 409, "owned by eu-west-1"},
		{"upstream", fault.Wrap(fault.Upstream, errors.New("Spark said no"), "submit"), 502, "submit"},
		{"unavailable", fault.New(fault.Unavailable, "S3 is down"), 503, "S3 is down"},
		{"deadline", context.DeadlineExceeded, 504, "the request did not finish in time; long operations return 202 with an id"},
		{"internal hides details", errors.New("secret internals: password=hunter2"), 500, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, logs := testServer(t, Deps{})
			s.handle("GET /fail", false, func(http.ResponseWriter, *http.Request) error { return tt.err })
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/fail", nil))
			var body errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("not JSON: %q", rec.Body.String())
			}
			if rec.Code != tt.wantCode || body.Error.Message != tt.wantMsg || body.Error.Code == "" {
				t.Fatalf("got %d %+v, want %d %q", rec.Code, body.Error, tt.wantCode, tt.wantMsg)
			}
			if strings.Contains(rec.Body.String(), "hunter2") {
				t.Fatalf("internal detail leaked to the caller: %s", rec.Body.String())
			}
			if tt.wantCode == 500 && !strings.Contains(logs.String(), "internal error") {
				t.Fatalf("internal error not logged: %s", logs.String())
			}
		})
	}
}

func TestUnknownRouteAndPanicAndBodyLimit(t *testing.T) {
	t.Parallel()
	s, logs := testServer(t, Deps{})
	s.cfg.API.MaxBodyBytes = 16
	s.handle("GET /boom", false, func(http.ResponseWriter, *http.Request) error { panic("boom") })
	s.handle("POST /echo", false, func(w http.ResponseWriter, r *http.Request) error {
		var v map[string]any
		if err := decodeJSON(r, &v, false); err != nil {
			return err
		}
		writeData(w, 200, v)
		return nil
	})
	if code, body := do(t, s.Handler(), "GET", "/nope", "", nil); code != 404 || body["error"] == nil {
		t.Fatalf("unknown route: %d %v", code, body)
	}
	if code, body := do(t, s.Handler(), "GET", "/boom", "", nil); code != 500 || body["error"] == nil {
		t.Fatalf("panic: %d %v", code, body)
	}
	if !strings.Contains(logs.String(), "panic serving request") {
		t.Fatalf("panic not logged")
	}
	if code, body := do(t, s.Handler(), "POST", "/echo", `{"a":"0123456789abcdef"}`, nil); code != 400 || !strings.Contains(body["error"].(map[string]any)["message"].(string), "larger than 16 bytes") {
		t.Fatalf("oversized body: %d %v", code, body)
	}
	if code, body := do(t, s.Handler(), "POST", "/echo", `{"a":`, nil); code != 400 || body["error"] == nil {
		t.Fatalf("malformed JSON: %d %v", code, body)
	}
	if code, _ := do(t, s.Handler(), "POST", "/echo", ``, nil); code != 400 {
		t.Fatalf("missing body: %d", code)
	}
}

func TestStripPrefix(t *testing.T) {
	t.Parallel()
	s, _ := testServer(t, Deps{Health: pinger{}})
	h := StripPrefix("/prod", s.Handler())
	for _, p := range []string{"/prod/healthcheck", "/healthcheck"} {
		if code, _ := do(t, h, "GET", p, "", nil); code != 200 {
			t.Fatalf("%s: %d, want 200", p, code)
		}
	}
	if code, _ := do(t, h, "GET", "/production/healthcheck", "", nil); code != 404 {
		t.Fatalf("a path that merely starts with the prefix must not be stripped: %d", code)
	}
}

func TestQueryInt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw     string
		want    int
		wantErr bool
	}{{"", 20, false}, {"5", 5, false}, {"0", 0, true}, {"501", 0, true}, {"x", 0, true}, {"-3", 0, true}}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/x?limit="+tt.raw, nil)
		got, err := queryInt(r, "limit", 20, 1, 500)
		if got != tt.want || (err != nil) != tt.wantErr || (err != nil && fault.KindOf(err) != fault.Invalid) {
			t.Errorf("queryInt(%q) = %d, %v; want %d, err %v", tt.raw, got, err, tt.want, tt.wantErr)
		}
	}
}
