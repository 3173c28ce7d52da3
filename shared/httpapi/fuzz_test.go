package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/fault"
)

// FuzzMux sends arbitrary requests (method, path and query, X-Tenant-Name, Authorization,
// Content-Type, body) to the API of two tenants whose execution log is an in-memory fake, so
// the handlers' logic runs rather than a 503 for a missing service. Invariants:
//   - no panic (the recoverer would turn one into a 500 and log "panic serving request");
//   - no 5xx at all: every dependency is in memory and answers, so a 5xx can only be bad
//     input misclassified; the one exception is 503 NOT_CONFIGURED for a route whose service
//     this test does not provide (routes added later, until the test gets their fake);
//   - every 4xx carries the JSON error envelope {"error":{"code","message","cause"}}.
//
// Seeds: testdata/fuzz/FuzzMux (run as ordinary tests by go test).
func FuzzMux(f *testing.F) {
	f.Add("GET", "/executions?limit=5&status=RUNNING", "ABC", "Bearer token-abc-1", "", []byte(nil))
	f.Add("PUT", "/executions/01ABC/cancel", "ABC", "Bearer token-xyz-1", "application/json", []byte(`{"reason":"x"}`))
	f.Add("POST", "/executions/01ABC/stages/1/judgement", "ABC", "Bearer token-abc-1", "application/json", []byte(`{"judgment":"continue"}`))
	cfg, err := config.Parse([]byte(testYAML), func(string) (string, bool) { return "", false })
	if err != nil {
		f.Fatalf("config: %v", err)
	}
	f.Fuzz(func(t *testing.T, method, target, tenant, auth, contentType string, body []byte) {
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		req, err := http.NewRequest(method, "http://api.test"+target, bytes.NewReader(body))
		if err != nil {
			return // not a request an HTTP server would hand to a handler
		}
		req.RequestURI = target
		for k, v := range map[string]string{TenantHeader: tenant, "Authorization": auth, "Content-Type": contentType} {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		var logs bytes.Buffer
		s := New(cfg, slog.New(slog.NewJSONHandler(&logs, nil)), Deps{Health: pinger{}, ExecutionDeps: ExecutionDeps{Executions: newMemExecutions()}})
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		checkAnswer(t, req, rec, logs.String())
	})
}

// checkAnswer asserts the invariants of FuzzMux on one answer.
func checkAnswer(t *testing.T, req *http.Request, rec *httptest.ResponseRecorder, logs string) {
	t.Helper()
	if strings.Contains(logs, "panic serving request") {
		t.Fatalf("%s %q: handler panicked: %s", req.Method, req.RequestURI, logs)
	}
	if rec.Code < 400 {
		return
	}
	var env struct {
		Error *struct {
			Code, Message, Cause string
		} `json:"error"`
	}
	if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") || json.Unmarshal(rec.Body.Bytes(), &env) != nil || env.Error == nil {
		t.Fatalf("%s %q: status %d without the JSON error envelope: %q", req.Method, req.RequestURI, rec.Code, rec.Body.String())
	}
	if env.Error.Code == "" || env.Error.Message == "" || env.Error.Cause == "" {
		t.Fatalf("%s %q: status %d envelope lacks code, message or cause: %q", req.Method, req.RequestURI, rec.Code, rec.Body.String())
	}
	if rec.Code >= 500 && !(rec.Code == http.StatusServiceUnavailable && env.Error.Code == "NOT_CONFIGURED") {
		t.Fatalf("%s %q: status %d for a request every dependency could answer: %q", req.Method, req.RequestURI, rec.Code, rec.Body.String())
	}
}

// memExecutions is an in-memory execution log: ABC owns 01ABC (running, a manual judgment
// waiting), XYZ owns 01XYZ, and 01FOREIGN is ABC's but owned by another partition.
type memExecutions struct {
	mu   sync.Mutex
	byID map[string]executions.Detail
}

func newMemExecutions() *memExecutions {
	m := &memExecutions{byID: map[string]executions.Detail{}}
	for _, s := range []executions.Summary{
		{ID: "01ABC", Type: executions.Pipeline, Application: "ABC", Status: executions.Running, Owned: true, Partition: "us-east-1"},
		{ID: "01XYZ", Type: executions.Pipeline, Application: "XYZ", Status: executions.Running, Owned: true, Partition: "us-east-1"},
		{ID: "01FOREIGN", Type: executions.Pipeline, Application: "ABC", Status: executions.Running, Owned: false, Partition: "eu-west-1"},
	} {
		m.byID[s.ID] = executions.Detail{Summary: s, Stages: []map[string]any{{"refId": "1", "type": "manualJudgment", "status": "RUNNING"}}}
	}
	return m
}

func (m *memExecutions) List(_ context.Context, f executions.Filter) (executions.Page, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if f.Cursor != "" && f.Cursor != "01ABC" {
		return executions.Page{}, fault.Invalidf("cursor %q is not valid", truncate(f.Cursor, 32))
	}
	var p executions.Page
	for _, d := range m.byID {
		if d.Application == f.Application && len(p.Executions) < f.Limit {
			p.Executions = append(p.Executions, d.Summary)
		}
	}
	return p, nil
}

func (m *memExecutions) Get(_ context.Context, id string) (executions.Detail, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.byID[id]
	if !ok {
		return d, fault.NotFoundf("execution %s does not exist", truncate(id, 64))
	}
	return d, nil
}

func (m *memExecutions) set(id string, from []executions.Status, to executions.Status) (executions.Detail, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.byID[id]
	if !ok {
		return d, fault.NotFoundf("execution %s does not exist", id)
	}
	for _, s := range from {
		if d.Status == s {
			d.Status = to
			m.byID[id] = d
			return d, nil
		}
	}
	return d, fault.Conflictf("execution %s is %s", id, d.Status).WithCode("INVALID_STATE")
}

func (m *memExecutions) Cancel(_ context.Context, id, _, _ string) (executions.Detail, error) {
	return m.set(id, []executions.Status{executions.Running, executions.Paused}, executions.Canceled)
}

func (m *memExecutions) Pause(_ context.Context, id, _ string) (executions.Detail, error) {
	return m.set(id, []executions.Status{executions.Running}, executions.Paused)
}

func (m *memExecutions) Resume(_ context.Context, id, _ string) (executions.Detail, error) {
	return m.set(id, []executions.Status{executions.Paused}, executions.Running)
}

func (m *memExecutions) Judge(_ context.Context, id, stageID string, _ executions.Judgment, _, _ string) (executions.Detail, error) {
	if stageID != "1" {
		return executions.Detail{}, fault.NotFoundf("stage %s of execution %s does not exist", truncate(stageID, 32), id)
	}
	return m.set(id, []executions.Status{executions.Running}, executions.Running)
}

func (m *memExecutions) Delete(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.byID[id]
	if !ok {
		return fault.NotFoundf("execution %s does not exist", id)
	}
	if d.Status == executions.Running || d.Status == executions.Paused {
		return fault.Conflictf("execution %s is %s", id, d.Status).WithCode("INVALID_STATE")
	}
	delete(m.byID, id)
	return nil
}
