package sparktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/logwise/controlplane/shared/spark"
)

const pleaseSubmit = " Please submit requests through http://[host]:[port]/v1/submissions/..."

// jackson writes a flat message the way Spark's Jackson mapper does: keys sorted, nulls
// omitted, pretty-printed with " : ".
func jackson(m map[string]any) []byte {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if v != nil {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteString("{\n")
	for i, k := range keys {
		kb, _ := json.Marshal(k)
		var vb []byte
		if ss, ok := m[k].([]string); ok {
			parts := make([]string, len(ss))
			for j, s := range ss {
				p, _ := json.Marshal(s)
				parts[j] = string(p)
			}
			vb = []byte("[ " + strings.Join(parts, ", ") + " ]")
		} else {
			vb, _ = json.Marshal(m[k])
		}
		fmt.Fprintf(&b, "  %s : %s", kb, vb)
		if i < len(keys)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("}")
	return b.Bytes()
}

func (m *Master) reply(w http.ResponseWriter, status int, msg map[string]any) {
	msg["serverSparkVersion"] = m.version
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	w.Write(jackson(msg))
}

func (m *Master) errorReply(w http.ResponseWriter, status int, message string) {
	m.reply(w, status, map[string]any{"action": "ErrorResponse", "message": message})
}

// injected applies an injected fault; it reports whether the request was answered.
func (m *Master) injected(w http.ResponseWriter, r *http.Request, f Fault) bool {
	switch f {
	case ServerError:
		w.Header().Set("Content-Type", "text/html;charset=iso-8859-1")
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "<html><body><h2>HTTP ERROR 500 java.lang.NullPointerException</h2></body></html>")
		return true
	case Forbidden:
		w.Header().Set("Content-Type", "text/html;charset=iso-8859-1")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, "<html><body><h2>HTTP ERROR 403 Authorization header is missing.</h2></body></html>")
		return true
	case Hang:
		select {
		case <-r.Context().Done():
		case <-m.closed:
		}
		return true
	}
	return false
}

func methodNotAllowed(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html;charset=iso-8859-1")
	w.WriteHeader(http.StatusMethodNotAllowed)
	io.WriteString(w, "<html><body><h2>HTTP ERROR 405 HTTP method not allowed</h2></body></html>")
}

func (m *Master) serveREST(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	f := m.restFault
	m.mu.Unlock()
	if m.injected(w, r, f) {
		return
	}
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if segs[0] == "" {
		m.errorReply(w, 400, "Missing protocol version."+pleaseSubmit)
		return
	}
	if segs[0] != spark.ProtocolVersion {
		m.reply(w, 468, map[string]any{"action": "ErrorResponse", "highestProtocolVersion": "v1",
			"message": "Unknown protocol version '" + segs[0] + "'." + pleaseSubmit})
		return
	}
	if len(segs) < 2 || segs[1] != "submissions" {
		m.errorReply(w, 400, "Missing the /submissions prefix."+pleaseSubmit)
		return
	}
	action := ""
	if len(segs) > 2 {
		action = segs[2]
	}
	id := ""
	if len(segs) > 3 {
		id = segs[3]
	}
	type route struct {
		method string
		v4     bool
		serve  func(http.ResponseWriter, *http.Request, string)
	}
	routes := map[string]route{
		"create":  {http.MethodPost, false, m.create},
		"kill":    {http.MethodPost, false, m.kill},
		"status":  {http.MethodGet, false, m.driverStatus},
		"killall": {http.MethodPost, true, m.killAll},
		"clear":   {http.MethodPost, true, m.clear},
		"readyz":  {http.MethodGet, true, m.readyz},
	}
	rt, ok := routes[action]
	if !ok || (rt.v4 && !m.v4()) {
		list := "/create, /kill, or /status."
		if m.v4() {
			list = "/create, /kill, /killall, /clear, /status, or /readyz."
		}
		m.errorReply(w, 400, "Missing an action: please specify one of "+list+pleaseSubmit)
		return
	}
	if r.Method != rt.method {
		methodNotAllowed(w)
		return
	}
	if (action == "kill" || action == "status") && id == "" {
		m.errorReply(w, 400, "Submission ID is missing in "+action+" request.")
		return
	}
	rt.serve(w, r, id)
}

func (m *Master) notAlive(what string) string {
	return "Current state is not alive: " + string(m.status) + ". Can only " + what + " in ALIVE state."
}

var memoryRE = regexp.MustCompile(`^(?i)[0-9]+(b|k|kb|m|mb|g|gb|t|tb|p|pb)?$`)

// memoryMB parses a JVM memory string as Spark does (a bare number is MB here).
func memoryMB(s string) (int, bool) {
	if !memoryRE.MatchString(strings.TrimSpace(s)) {
		return 0, false
	}
	s = strings.ToLower(strings.TrimSpace(s))
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	unit := ""
	if i >= 0 {
		s, unit = s[:i], s[i:]
	}
	n, _ := strconv.Atoi(s)
	switch strings.TrimSuffix(unit, "b") {
	case "k":
		return max(n/1024, 1), true
	case "g":
		return n * 1024, true
	case "t":
		return n * 1024 * 1024, true
	case "p":
		return n * 1024 * 1024 * 1024, true
	case "":
		if unit == "b" {
			return max(n/(1024*1024), 1), true
		}
	}
	return n, true
}

var knownCreateFields = []string{"action", "clientSparkVersion", "message", "appResource", "mainClass", "appArgs", "sparkProperties", "environmentVariables"}

// validate checks a create request as the emulated Spark version does; it returns the
// driver's settings or the cause of the validation failure.
func (m *Master) validate(raw map[string]json.RawMessage) (props map[string]string, mainClass string, err string) {
	str := func(k string) (string, bool) {
		v, ok := raw[k]
		if !ok || string(v) == "null" {
			return "", false
		}
		var s string
		if json.Unmarshal(v, &s) != nil {
			return "", false
		}
		return s, true
	}
	if _, ok := str("clientSparkVersion"); !ok {
		return nil, "", "'clientSparkVersion' is missing in message CreateSubmissionRequest."
	}
	if _, ok := str("appResource"); !ok {
		return nil, "", "'appResource' is missing in message CreateSubmissionRequest."
	}
	mainClass, ok := str("mainClass")
	if !ok {
		return nil, "", "Main class is missing."
	}
	rawProps, ok := raw["sparkProperties"]
	var anyProps map[string]any
	if !ok || string(rawProps) == "null" || json.Unmarshal(rawProps, &anyProps) != nil {
		return nil, "", "No Spark properties set!"
	}
	props = map[string]string{}
	for k, v := range anyProps { // Jackson reads scalars into Map[String, String]
		switch x := v.(type) {
		case string:
			props[k] = x
		case bool, float64:
			props[k] = fmt.Sprint(x)
		default:
			return nil, "", "sparkProperties[" + k + "] is not a scalar"
		}
	}
	if !m.v4() {
		if _, ok := props["spark.app.name"]; !ok {
			return nil, "", "'spark.app.name' is missing in message CreateSubmissionRequest."
		}
		for _, k := range []string{"appArgs", "environmentVariables"} {
			if v, ok := raw[k]; !ok || string(v) == "null" {
				return nil, "", "'" + k + "' is missing in message CreateSubmissionRequest."
			}
		}
	}
	var args []string
	if v, ok := raw["appArgs"]; ok && string(v) != "null" && json.Unmarshal(v, &args) != nil {
		return nil, "", "appArgs is not an array of strings"
	}
	var env map[string]string
	if v, ok := raw["environmentVariables"]; ok && string(v) != "null" && json.Unmarshal(v, &env) != nil {
		return nil, "", "environmentVariables is not a map of strings"
	}
	if v, ok := props["spark.driver.supervise"]; ok && v != "true" && v != "false" {
		return nil, "", "Property 'spark.driver.supervise' expected boolean value: actual was '" + v + "'."
	}
	for _, k := range []string{"spark.driver.cores", "spark.cores.max"} {
		if v, ok := props[k]; ok {
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				return nil, "", "Property '" + k + "' expected numeric value: actual was '" + v + "'."
			}
		}
	}
	for _, k := range []string{"spark.driver.memory", "spark.executor.memory"} {
		if v, ok := props[k]; ok {
			if _, ok := memoryMB(v); !ok {
				return nil, "", "Property '" + k + "' expected memory value: actual was '" + v + "'."
			}
		}
	}
	return props, mainClass, ""
}

func (m *Master) create(w http.ResponseWriter, r *http.Request, _ string) {
	body, _ := io.ReadAll(r.Body)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bodies = append(m.bodies, body)
	var raw map[string]json.RawMessage
	var action string
	if json.Unmarshal(body, &raw) != nil || json.Unmarshal(raw["action"], &action) != nil || action == "" {
		m.lastError = "Action field not found in JSON"
		m.errorReply(w, 400, "Malformed request: org.apache.spark.deploy.rest.SubmitRestProtocolException: Malformed request: "+
			"Action field not found in JSON:\n"+string(body)+"\n\tat org.apache.spark.deploy.rest.SubmitRestProtocolMessage$.parseAction")
		return
	}
	switch action {
	case "CreateSubmissionRequest":
	case "KillSubmissionRequest", "SubmissionStatusRequest", "CreateSubmissionResponse", "KillSubmissionResponse",
		"SubmissionStatusResponse", "ErrorResponse":
		m.errorReply(w, 400, "Received message of unexpected type "+action+".")
		return
	default: // ClassNotFoundException escapes the servlet
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "java.lang.ClassNotFoundException: org.apache.spark.deploy.rest."+action)
		return
	}
	props, mainClass, cause := m.validate(raw)
	if cause != "" {
		m.lastError = cause
		m.errorReply(w, 400, "Malformed request: org.apache.spark.deploy.rest.SubmitRestProtocolException: "+
			"Validation of message CreateSubmissionRequest failed!\n\tat org.apache.spark.deploy.rest.SubmitRestProtocolMessage.validate(SubmitRestProtocolMessage.scala:75)")
		return
	}
	var unknown []string
	for k := range raw {
		if !slices.Contains(knownCreateFields, k) {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	resp := map[string]any{"action": "CreateSubmissionResponse"}
	if len(unknown) > 0 {
		resp["unknownFields"] = unknown
	}
	if m.status != spark.Alive {
		resp["success"] = false
		resp["message"] = m.notAlive("accept driver submissions")
		m.reply(w, 200, resp)
		return
	}
	cores := 1
	if v, ok := props["spark.driver.cores"]; ok {
		f, _ := strconv.ParseFloat(v, 64)
		cores = max(int(f), 1)
	}
	mem := 1024
	if v, ok := props["spark.driver.memory"]; ok {
		mem, _ = memoryMB(v)
	}
	coresMax := 1 << 30
	if v, ok := props["spark.cores.max"]; ok {
		f, _ := strconv.ParseFloat(v, 64)
		coresMax = int(f)
	}
	d := m.newDriver(body, cores, mem, props["spark.driver.supervise"] == "true", mainClass, props["spark.app.name"], coresMax)
	resp["success"] = true
	resp["submissionId"] = d.id
	resp["message"] = "Driver successfully submitted as " + d.id
	m.reply(w, 200, resp)
}

func (m *Master) kill(w http.ResponseWriter, _ *http.Request, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	resp := map[string]any{"action": "KillSubmissionResponse", "submissionId": id}
	d := m.driver(id)
	switch {
	case m.status != spark.Alive:
		resp["success"], resp["message"] = false, m.notAlive("kill drivers")
	case d == nil || d.completed:
		resp["success"], resp["message"] = false, "Driver "+id+" has already finished or does not exist"
	default:
		m.requestKill(d)
		resp["success"], resp["message"] = true, "Kill request for "+id+" submitted"
	}
	m.reply(w, 200, resp)
}

// requestKill kills a waiting driver at once and asks a running one's worker to kill it.
func (m *Master) requestKill(d *driver) {
	if d.state == spark.Submitted {
		m.end(d, spark.Killed, "")
		return
	}
	d.killRequested = true
}

func (m *Master) driverStatus(w http.ResponseWriter, _ *http.Request, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	resp := map[string]any{"action": "SubmissionStatusResponse", "submissionId": id}
	if m.status != spark.Alive {
		resp["success"] = false
		resp["message"] = "Exception from the cluster:\njava.lang.Exception: " + m.notAlive("request driver status") +
			"\n\tat org.apache.spark.deploy.master.Master$$anonfun$receiveAndReply$1.applyOrElse(Master.scala:496)"
		m.reply(w, 200, resp)
		return
	}
	d := m.driver(id)
	if d == nil {
		resp["success"] = false
		m.reply(w, 200, resp)
		return
	}
	resp["success"] = true
	resp["driverState"] = string(d.state)
	if d.worker != nil {
		resp["workerId"] = d.worker.id
		resp["workerHostPort"] = d.worker.host + ":" + strconv.Itoa(d.worker.port)
	}
	if d.message != "" {
		resp["message"] = "Exception from the cluster:\n" + d.message + "\n\tat org.apache.spark.deploy.worker.DriverRunner"
	}
	m.reply(w, 200, resp)
}

func (m *Master) killAll(w http.ResponseWriter, _ *http.Request, _ string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	resp := map[string]any{"action": "KillAllSubmissionResponse"}
	if m.status != spark.Alive {
		resp["success"], resp["message"] = false, m.notAlive("kill drivers")
	} else {
		for _, d := range slices.Clone(m.drivers) {
			if !d.completed {
				m.requestKill(d)
			}
		}
		resp["success"], resp["message"] = true, "Kill request for all drivers submitted"
	}
	m.reply(w, 200, resp)
}

func (m *Master) clear(w http.ResponseWriter, _ *http.Request, _ string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.drivers = slices.DeleteFunc(m.drivers, func(d *driver) bool { return d.completed })
	m.apps = slices.DeleteFunc(m.apps, func(a *app) bool { return !a.end.IsZero() })
	m.reply(w, 200, map[string]any{"action": "ClearResponse", "message": "", "success": true})
}

func (m *Master) readyz(w http.ResponseWriter, _ *http.Request, _ string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.status == spark.Standby {
		m.errorReply(w, 503, "Master is not ready.")
		return
	}
	m.reply(w, 200, map[string]any{"action": "ReadyzResponse", "message": "", "success": true})
}

var fieldRE = regexp.MustCompile(`^/json/([a-zA-Z]+)`)

func (m *Master) serveWeb(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	f := m.webFault
	m.mu.Unlock()
	if m.injected(w, r, f) {
		return
	}
	if r.Method != http.MethodGet {
		methodNotAllowed(w)
		return
	}
	m.mu.Lock()
	st := m.state()
	m.mu.Unlock()
	var out any = st
	switch p := r.URL.Path; {
	case p == "/json" || p == "/json/":
	case m.v4() && fieldRE.MatchString(p):
		field := fieldRE.FindStringSubmatch(p)[1]
		if field == "clusterutilization" {
			out = utilization(st)
			break
		}
		var all map[string]any
		b, _ := json.Marshal(st)
		json.Unmarshal(b, &all)
		v, ok := all[field]
		if !ok {
			v = ""
		}
		out = map[string]any{field: v}
	default:
		http.NotFound(w, r)
		return
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	w.Header().Set("Content-Type", "text/json;charset=utf-8")
	w.Write(b)
}

// utilization is /json/clusterutilization (Spark 4.0); percentages are 100 with no capacity.
func utilization(st spark.MasterState) map[string]any {
	waiting := 0
	for _, d := range st.ActiveDrivers {
		if d.State == spark.Submitted {
			waiting++
		}
	}
	pct := func(used, total int) int {
		if total == 0 {
			return 100
		}
		return used * 100 / total
	}
	return map[string]any{"waitingDrivers": waiting, "cores": st.Cores, "coresused": st.CoresUsed,
		"coresutilization": pct(st.CoresUsed, st.Cores), "memory": st.Memory, "memoryused": st.MemoryUsed,
		"memoryutilization": pct(st.MemoryUsed, st.Memory)}
}
