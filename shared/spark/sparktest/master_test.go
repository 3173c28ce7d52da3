package sparktest

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/spark"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func do(t *testing.T, method, url, body string) (int, string, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(b, &m)
	return resp.StatusCode, resp.Header.Get("Content-Type") + "\n" + string(b), m
}

const validBody = `{"action":"CreateSubmissionRequest","appResource":"","clientSparkVersion":"","mainClass":"com.example.Job",
 "appArgs":[],"environmentVariables":{},"sparkProperties":{"spark.app.name":"job","spark.driver.supervise":true,"spark.driver.cores":"2"}}`

func submit(t *testing.T, m *Master, body string) string {
	t.Helper()
	_, raw, r := do(t, "POST", m.RestURL()+"/v1/submissions/create", body)
	id, _ := r["submissionId"].(string)
	if id == "" {
		t.Fatalf("create failed: %s", raw)
	}
	return id
}

func TestErrorServletPaths(t *testing.T) {
	t.Parallel()
	m := NewMaster(Options{})
	defer m.Close()
	cases := []struct {
		method, path string
		status       int
		prefix       string
	}{
		{"GET", "/", 400, "Missing protocol version."},
		{"GET", "/v1", 400, "Missing the /submissions prefix."},
		{"GET", "/v1/submissions", 400, "Missing an action: please specify one of /create, /kill, or /status."},
		{"GET", "/v1/submissions/readyz", 400, "Missing an action"}, // not mapped before 4.0
		{"GET", "/v2/submissions/create", 468, "Unknown protocol version 'v2'."},
		{"POST", "/v1/submissions/kill/", 400, "Submission ID is missing in kill request."},
		{"GET", "/v1/submissions/status", 400, "Submission ID is missing in status request."},
	}
	for _, c := range cases {
		status, raw, r := do(t, c.method, m.RestURL()+c.path, "")
		msg, _ := r["message"].(string)
		if status != c.status || !strings.HasPrefix(msg, c.prefix) || r["action"] != "ErrorResponse" {
			t.Errorf("%s %s: got %d %q, want %d %q", c.method, c.path, status, msg, c.status, c.prefix)
		}
		if _, has := r["success"]; has {
			t.Errorf("%s: ErrorResponse must not carry success: %s", c.path, raw)
		}
	}
	if status, _, _ := do(t, "GET", m.RestURL()+"/v1/submissions/create", ""); status != 405 {
		t.Errorf("GET create: got %d, want 405", status)
	}
}

func TestResponsesAreJacksonShaped(t *testing.T) {
	t.Parallel()
	m := NewMaster(Options{})
	defer m.Close()
	_, raw, _ := do(t, "POST", m.RestURL()+"/v1/submissions/create", strings.Replace(validBody, `"action"`, `"tomato":1,"action"`, 1))
	want := regexp.MustCompile(`^application/json;charset=utf-8\n\{\n  "action" : "CreateSubmissionResponse",\n  "message" : "Driver successfully submitted as driver-\d{14}-0000",\n  "serverSparkVersion" : "3.5.1",\n  "submissionId" : "driver-\d{14}-0000",\n  "success" : true,\n  "unknownFields" : \[ "tomato" \]\n\}$`)
	if !want.MatchString(raw) {
		t.Errorf("create response:\n%s\nwant keys sorted, Jackson layout, unknown field echoed", raw)
	}
	second := submit(t, m, validBody)
	if !strings.HasSuffix(second, "-0001") {
		t.Errorf("second driver ID %s, want the counter at 0001", second)
	}
}

func TestValidationDiffersBetweenSpark3And4(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		body        string
		ok3, ok4    bool
		causeSubstr string
	}{
		{"valid", validBody, true, true, ""},
		{"no appArgs", strings.Replace(validBody, `"appArgs":[],`, "", 1), false, true, "appArgs"},
		{"no environmentVariables", strings.Replace(validBody, `"environmentVariables":{},`, "", 1), false, true, "environmentVariables"},
		{"no spark.app.name", strings.Replace(validBody, `"spark.app.name":"job",`, "", 1), false, true, "spark.app.name"},
		{"no mainClass", strings.Replace(validBody, `"mainClass":"com.example.Job",`, "", 1), false, false, "Main class"},
		{"bad supervise", strings.Replace(validBody, `"spark.driver.supervise":true`, `"spark.driver.supervise":"yes"`, 1), false, false, "supervise"},
		{"bad cores", strings.Replace(validBody, `"spark.driver.cores":"2"`, `"spark.driver.cores":"two"`, 1), false, false, "spark.driver.cores"},
		{"not JSON", "hello", false, false, "Action field"},
	}
	for _, version := range []string{"3.5.1", "4.0.0"} {
		m := NewMaster(Options{Version: version})
		for _, c := range cases {
			status, raw, _ := do(t, "POST", m.RestURL()+"/v1/submissions/create", c.body)
			wantOK := c.ok3
			if version == "4.0.0" {
				wantOK = c.ok4
			}
			if (status == 200) != wantOK {
				t.Errorf("%s %s: got %d %s, want ok=%v", version, c.name, status, raw, wantOK)
			}
			if !wantOK && !strings.Contains(m.LastValidationError(), c.causeSubstr) {
				t.Errorf("%s %s: cause %q, want it to mention %q", version, c.name, m.LastValidationError(), c.causeSubstr)
			}
		}
		if got := len(m.Submissions()); got != len(cases) {
			t.Errorf("%s: recorded %d bodies, want every one of %d", version, got, len(cases))
		}
		m.Close()
	}
}

func TestSupervisedDriverRestartsInPlaceAndLostWorkerRelaunches(t *testing.T) {
	t.Parallel()
	c := &clock{time.Date(2024, 8, 4, 23, 45, 19, 0, time.UTC)}
	m := NewMaster(Options{Now: c.now, Workers: []WorkerSpec{{Cores: 4}, {Cores: 4}}})
	defer m.Close()
	id := submit(t, m, validBody)
	if !strings.HasPrefix(id, "driver-20240804234519-") {
		t.Errorf("ID %s does not carry the submit time", id)
	}
	m.Step()
	d, _ := m.Driver(id)
	if d.State != spark.Running || d.Worker == "None" {
		t.Fatalf("after Step: %+v", d)
	}
	m.FailDriver(id)
	d, _ = m.Driver(id)
	if d.State != spark.Running || d.Restarts != 1 {
		t.Errorf("supervised non-zero exit: got %s restarts %d, want RUNNING restarts 1 (same ID)", d.State, d.Restarts)
	}
	m.LoseWorker(d.Worker)
	d, _ = m.Driver(id)
	active := m.ActiveDrivers()
	if d.State != spark.Relaunching || d.Active || len(active) != 1 || active[0].ID == id || active[0].State != spark.Submitted {
		t.Fatalf("lost worker: old %s active=%v, active drivers %+v; want old RELAUNCHING, a new ID SUBMITTED", d.State, d.Active, active)
	}
	m.Step()
	if nd, _ := m.Driver(active[0].ID); nd.State != spark.Running {
		t.Errorf("relaunched driver: got %s, want RUNNING on the surviving worker", nd.State)
	}
	st := m.State()
	if st.AliveWorkers != 1 || len(st.Workers) != 2 || st.Cores != 4 {
		t.Errorf("/json totals: alive %d workers %d cores %d; want 1 alive of 2 listed, 4 cores (alive only)", st.AliveWorkers, len(st.Workers), st.Cores)
	}
}

func TestUnsupervisedExitsAndLostWorker(t *testing.T) {
	t.Parallel()
	m := NewMaster(Options{})
	defer m.Close()
	body := strings.Replace(validBody, `"spark.driver.supervise":true`, `"spark.driver.supervise":false`, 1)
	a, b, e, f := submit(t, m, body), submit(t, m, body), submit(t, m, body), submit(t, m, body)
	m.Step()
	m.FinishDriver(a)
	m.FailDriver(b)
	m.ErrorDriver(e, "java.io.FileNotFoundException: app.jar")
	m.LoseWorker(m.Workers()[0].ID)
	want := map[string]spark.DriverState{a: spark.Finished, b: spark.Failed, e: spark.Error, f: spark.Error}
	for id, s := range want {
		if d, _ := m.Driver(id); d.State != s {
			t.Errorf("%s: got %s, want %s", id, d.State, s)
		}
	}
	_, _, r := do(t, "GET", m.RestURL()+"/v1/submissions/status/"+e, "")
	if msg, _ := r["message"].(string); !strings.HasPrefix(msg, "Exception from the cluster:\njava.io.FileNotFoundException") {
		t.Errorf("ERROR status message: %q", msg)
	}
}

func TestNoCapacityLeavesDriverSubmitted(t *testing.T) {
	t.Parallel()
	m := NewMaster(Options{Workers: []WorkerSpec{{Cores: 1}}, Version: "4.0.0"})
	defer m.Close()
	id := submit(t, m, validBody) // asks for 2 cores
	m.Step()
	if d, _ := m.Driver(id); d.State != spark.Submitted {
		t.Errorf("got %s, want SUBMITTED while no worker has 2 free cores", d.State)
	}
	_, raw, r := do(t, "GET", m.WebURL()+"/json/clusterutilization", "")
	if r["waitingDrivers"] != float64(1) {
		t.Errorf("clusterutilization: %s", raw)
	}
	m.AddWorker(WorkerSpec{Cores: 4})
	m.Step()
	if d, _ := m.Driver(id); d.State != spark.Running {
		t.Errorf("with a new worker: got %s, want RUNNING", d.State)
	}
}

func TestWorkerTimeoutMarksDead(t *testing.T) {
	t.Parallel()
	c := &clock{time.Unix(1_700_000_000, 0)}
	m := NewMaster(Options{Now: c.now, WorkerTimeout: time.Minute})
	defer m.Close()
	w := m.Workers()[0].ID
	c.t = c.t.Add(59 * time.Second)
	m.Step()
	if m.Workers()[0].State != spark.WorkerAlive {
		t.Fatal("worker died before its timeout")
	}
	m.Heartbeat(w)
	c.t = c.t.Add(61 * time.Second)
	m.Step()
	if got := m.Workers()[0]; got.State != spark.WorkerDead || got.LastHeartbeat != c.t.Add(-61*time.Second).UnixMilli() {
		t.Errorf("after 61 s without heartbeat: %+v", got)
	}
}

func TestSpark4RoutesAndStandby(t *testing.T) {
	t.Parallel()
	m := NewMaster(Options{Version: "4.0.0"})
	defer m.Close()
	a := submit(t, m, validBody)
	m.Step()
	_ = submit(t, m, validBody)
	if _, raw, r := do(t, "POST", m.RestURL()+"/v1/submissions/killall", ""); r["message"] != "Kill request for all drivers submitted" {
		t.Errorf("killall: %s", raw)
	}
	if d, _ := m.Driver(a); d.State != spark.Running || !d.KillRequested {
		t.Errorf("running driver after killall: %+v, want RUNNING with a pending kill", d)
	}
	m.Step()
	if len(m.ActiveDrivers()) != 0 {
		t.Errorf("drivers still active after killall+Step: %+v", m.ActiveDrivers())
	}
	do(t, "POST", m.RestURL()+"/v1/submissions/clear", "")
	if _, _, r := do(t, "GET", m.RestURL()+"/v1/submissions/status/"+a, ""); r["success"] != false {
		t.Errorf("status after clear: %v, want success:false", r)
	}
	m.SetStatus(spark.Recovering)
	if status, _, _ := do(t, "GET", m.RestURL()+"/v1/submissions/readyz", ""); status != 200 {
		t.Errorf("readyz while RECOVERING: %d, want 200", status)
	}
	m.SetStandby(true)
	if status, _, r := do(t, "GET", m.RestURL()+"/v1/submissions/readyz", ""); status != 503 || r["message"] != "Master is not ready." {
		t.Errorf("readyz on standby: %d %v", status, r)
	}
	_, raw, _ := do(t, "GET", m.WebURL()+"/json", "")
	if !strings.HasPrefix(raw, "text/json;charset=utf-8\n") || !strings.Contains(raw, `"status": "STANDBY"`) {
		t.Errorf("/json on standby: %s", raw)
	}
	if _, raw, r := do(t, "GET", m.WebURL()+"/json/nosuchfield", ""); r["nosuchfield"] != "" {
		t.Errorf("/json/nosuchfield: %s", raw)
	}
}

func TestRetentionDropsOldestTenth(t *testing.T) {
	t.Parallel()
	m := NewMaster(Options{})
	defer m.Close()
	var first string
	for i := range 201 {
		id := submit(t, m, validBody)
		if i == 0 {
			first = id
		}
		do(t, "POST", m.RestURL()+"/v1/submissions/kill/"+id, "")
	}
	if _, ok := m.Driver(first); ok {
		t.Error("the oldest completed driver is still retained past 200")
	}
	if n := len(m.Drivers()); n != 181 {
		t.Errorf("retained %d drivers, want 201-20=181", n)
	}
}

func TestAutoLaunch(t *testing.T) {
	t.Parallel()
	m := NewMaster(Options{AutoLaunch: 5 * time.Millisecond})
	defer m.Close()
	id := submit(t, m, validBody)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if d, _ := m.Driver(id); d.State == spark.Running {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Error("auto-launch never made the driver RUNNING")
}
