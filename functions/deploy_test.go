package functions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/logwise/controlplane/internal/lambdarun"
	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/store/storetest"
)

// cfnResponses is CloudFormation's pre-signed response URL: it keeps what each custom
// resource answer PUT there.
type cfnResponses struct {
	srv     *httptest.Server
	answers chan map[string]any
}

func newCFNResponses(t *testing.T) *cfnResponses {
	c := &cfnResponses{answers: make(chan map[string]any, 8)}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var v map[string]any
		if r.Method != http.MethodPut || json.Unmarshal(b, &v) != nil {
			v = map[string]any{"bad": r.Method + " " + string(b)}
		}
		c.answers <- v
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *cfnResponses) event(requestType string) []byte {
	b, _ := json.Marshal(map[string]any{"RequestType": requestType, "RequestId": "req-" + requestType, "ResponseURL": c.srv.URL + "/answer",
		"ResourceType": "Custom::Schema", "LogicalResourceId": "Schema", "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/logwise/1",
		"PhysicalResourceId": "logwise-schema", "ResourceProperties": map[string]any{"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:migrate"}})
	return b
}

// invokeCFN invokes the migrate function with a custom resource event and returns what it
// answered CloudFormation.
func (c *cfnResponses) invoke(t *testing.T, p *lambdarun.Process, requestType string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := p.InvokeJSON(ctx, c.event(requestType), nil); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-c.answers:
		return a
	case <-ctx.Done():
		t.Fatalf("%s: the migrate function never answered CloudFormation\n%s", requestType, p.Output.String())
		return nil
	}
}

func TestFunctionsRefuseAnUnmigratedSchemaUntilTheMigrateFunctionRuns(t *testing.T) {
	t.Parallel()
	dbCfg := storetest.NewConfig(t) // empty: the stack's first deploy
	cfg := testConfigOn(t, nil, dbCfg)
	ms, err := store.Migrations()
	if err != nil {
		t.Fatal(err)
	}
	newest := ms[len(ms)-1]

	// Every function but migrate checks the schema at start and refuses it, saying what to do.
	for _, name := range []string{"api", "sparkmonitor", "scaler", "discovery", "peering"} {
		p, err := lambdarun.Start(build(t, name), []string{"CONFIG_YAML=" + cfg, "AWS_LAMBDA_FUNCTION_NAME=" + name})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		_, err = p.WaitReady(ctx)
		cancel()
		p.Stop()
		for _, want := range []string{fmt.Sprintf("needs version %04d", newest.Version), "found version 0000", "run the migrate function"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("%s started on an unmigrated database: err = %v, want a refusal containing %q", name, err, want)
			}
		}
	}
	var tables int
	if err := openLocal(t, cfg).SQL().QueryRow("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()").Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("a function other than migrate changed the schema: %d tables, %v", tables, err)
	}

	// The custom resource's Create migrates and answers SUCCESS with the version.
	cfn := newCFNResponses(t)
	m := start(t, "migrate", cfg)
	a := cfn.invoke(t, m, "Create")
	if a["Status"] != "SUCCESS" || a["PhysicalResourceId"] != "logwise-schema" || a["RequestId"] != "req-Create" {
		t.Fatalf("Create answered %v", a)
	}
	if data, _ := a["Data"].(map[string]any); data["Version"] != float64(newest.Version) {
		t.Fatalf("Create data = %v, want Version %d", a["Data"], newest.Version)
	}
	// Update (every later deploy) applies again, idempotently; Delete is a no-op success.
	if a := cfn.invoke(t, m, "Update"); a["Status"] != "SUCCESS" {
		t.Fatalf("Update answered %v", a)
	}
	if a := cfn.invoke(t, m, "Delete"); a["Status"] != "SUCCESS" || a["PhysicalResourceId"] != "logwise-schema" {
		t.Fatalf("Delete answered %v", a)
	}
	if err := openLocal(t, cfg).CheckSchema(context.Background()); err != nil {
		t.Fatalf("schema after Delete: %v (Delete must keep the schema)", err)
	}
	// A plain {} invocation migrates too.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var res struct{ Version int }
	if r, err := m.InvokeJSON(ctx, []byte(`{}`), &res); err != nil || r.Error || res.Version != newest.Version {
		t.Fatalf("{} invocation: %+v %v %s", res, err, r.Body)
	}

	// Now the functions start.
	for _, name := range []string{"api", "peering"} {
		start(t, name, cfg)
	}
}

func TestMigrateFunctionReportsAFailureToCloudFormation(t *testing.T) {
	t.Parallel()
	// A database that refuses connections: the stack must get FAILED with the reason, not wait
	// an hour for an answer from a function that died at start.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dead := store.Config{Host: strings.Split(addr, ":")[0], User: "admin", Password: "s3cret-db-pass", Name: "logwise"}
	fmt.Sscanf(strings.Split(addr, ":")[1], "%d", &dead.Port)
	cfg := testConfigOn(t, nil, dead)
	cfn := newCFNResponses(t)
	m := start(t, "migrate", cfg)
	a := cfn.invoke(t, m, "Create")
	reason, _ := a["Reason"].(string)
	if a["Status"] != "FAILED" || !strings.Contains(reason, "migrate") || strings.Contains(reason, "s3cret-db-pass") {
		t.Fatalf("Create against a dead database answered %v; want FAILED with a reason and no password", a)
	}
	if strings.Contains(m.Output.String(), "s3cret-db-pass") {
		t.Fatalf("the database password reached the log:\n%s", m.Output.String())
	}
}

// TestTracedFunctionsSendSubsegmentsAndPrintNoContextMissingLines starts functions with X-Ray
// on (as Lambda with active tracing: a daemon address, and a sampled trace header on each
// invocation). The calls made at start (configuration, store, schema check) have no trace and go
// untraced, silently; the invocation's outbound calls (Kafka and Spark for the scaler, S3 for
// discovery) reach the daemon as subsegments of Lambda's function segment.
func TestTracedFunctionsSendSubsegmentsAndPrintNoContextMissingLines(t *testing.T) {
	t.Parallel()
	const root, parent = "1-5759e988-bd862e3fe1be46a994272793", "53995c3f42cd8ad8"
	pl := newPipeline(t)
	cfg := testConfig(t, pl)
	for _, tt := range []struct {
		name, event string
		want        string // a subsegment name the invocation must send; "" for none
	}{{"api", "api-healthcheck-httpapi.json", ""}, {"scaler", "scaler-schedule.json", "Kafka"}, {"discovery", "discovery-schedule.json", "S3"}} {
		daemon, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer daemon.Close()
		p, err := lambdarun.Start(build(t, tt.name), []string{"CONFIG_YAML=" + cfg, "AWS_LAMBDA_FUNCTION_NAME=" + tt.name,
			"AWS_XRAY_SDK_DISABLED=false", "AWS_XRAY_DAEMON_ADDRESS=" + daemon.LocalAddr().String()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Stop)
		p.Runtime.TraceHeader = "Root=" + root + ";Parent=" + parent + ";Sampled=1"
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		if _, err := p.WaitReady(ctx); err != nil {
			cancel()
			t.Fatalf("%s: %v", tt.name, err)
		}
		if _, err := p.InvokeJSON(ctx, event(t, tt.event), nil); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		cancel()
		out := p.Output.String()
		for _, bad := range []string{"context missing", "segment cannot be found"} {
			if n := strings.Count(out, bad); n > 0 {
				t.Errorf("%s printed %d %q lines:\n%s", tt.name, n, bad, out)
			}
		}
		if tt.want == "" {
			continue
		}
		// Every document belongs to the invocation's trace; the wanted one is among them.
		buf := make([]byte, 64<<10)
		for seen := []string{}; ; {
			_ = daemon.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, _, err := daemon.ReadFrom(buf)
			if err != nil {
				t.Fatalf("%s: no %q subsegment reached the daemon (saw %v): %v", tt.name, tt.want, seen, err)
			}
			_, body, _ := strings.Cut(string(buf[:n]), "\n")
			var doc struct {
				Name     string `json:"name"`
				TraceID  string `json:"trace_id"`
				ParentID string `json:"parent_id"`
				Type     string `json:"type"`
			}
			if err := json.Unmarshal([]byte(body), &doc); err != nil || doc.TraceID != root || doc.Type != "subsegment" || doc.ParentID == "" {
				t.Fatalf("%s: document %q (%v); want a subsegment of trace %s", tt.name, body, err, root)
			}
			if seen = append(seen, doc.Name); strings.HasPrefix(doc.Name, tt.want) {
				break
			}
		}
	}
}
