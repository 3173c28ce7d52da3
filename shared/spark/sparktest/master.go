// Package sparktest is an in-process Spark standalone master for tests and local runs. It
// speaks the REST submission protocol on one listener and serves the web UI's /json on
// another, following the checklist of reference/protocols.md §10: driver lifecycle
// (SUBMITTED → RUNNING → FINISHED/FAILED/KILLED/ERROR), asynchronous kills, supervised
// relaunches, lost workers, standby and REST-disabled masters, Spark 3.x and 4.x validation,
// and injectable faults. Time moves only when the test says so (Step, an injected clock),
// except in the auto-launch mode meant for local demos.
package sparktest

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/logwise/controlplane/shared/spark"
)

// Options configure a Master.
type Options struct {
	// Version is the Spark version emulated (default "3.5.1"). From "4" on, readyz, killall,
	// clear and /json/<field> exist and appArgs, environmentVariables and spark.app.name are
	// optional.
	Version string
	// Now is the master's clock (default time.Now).
	Now func() time.Time
	// AutoLaunch, when positive, makes a background goroutine run the cluster at that real
	// interval, so that submitted drivers become RUNNING without a test driving them (make run):
	// each round, every ALIVE worker heartbeats (they are running processes) and Step runs.
	AutoLaunch time.Duration
	// Workers are registered at start; nil means one worker with 8 cores and 8192 MB.
	Workers []WorkerSpec
	// WorkerTimeout is how long a worker may go without a heartbeat before Step marks it
	// DEAD (default 60 s, spark.worker.timeout).
	WorkerTimeout time.Duration
	// Standby starts the master in STANDBY.
	Standby bool
}

// WorkerSpec describes a worker to register.
type WorkerSpec struct {
	Host     string // default 10.0.1.<n>
	Port     int    // default 40000+n
	Cores    int    // default 8
	MemoryMB int    // default 8192
}

// Fault is an injectable failure of a listener.
type Fault int

// The faults.
const (
	NoFault     Fault = iota
	ServerError       // 500 with a non-JSON body
	Forbidden         // 403 with a Jetty HTML page (the JWS auth filter)
	Hang              // no answer until the client gives up (a timeout)
)

// DriverInfo is what the master knows of one driver, for tests to inspect.
type DriverInfo struct {
	spark.Driver
	Supervise      bool
	Restarts       int  // supervised in-place restarts after a non-zero exit
	KillRequested  bool // a kill was accepted and the worker has not yet reported KILLED
	Active         bool // in the master's drivers (not completed)
	WorkerHostPort string
	AppName        string
}

type driver struct {
	id            string
	state         spark.DriverState
	cores, memMB  int
	supervise     bool
	mainClass     string
	appName       string
	coresMax      int
	worker        *worker
	submitted     time.Time
	killRequested bool
	restarts      int
	message       string
	app           *app
	completed     bool
	body          []byte
}

type worker struct {
	id, host  string
	port      int
	cores     int
	memMB     int
	state     spark.WorkerState
	heartbeat time.Time
}

type app struct {
	id     string
	name   string
	start  time.Time
	end    time.Time
	state  string
	alloc  map[*worker]int
	driver *driver
}

func (a *app) cores() int {
	n := 0
	for _, c := range a.alloc {
		n += c
	}
	return n
}

// Master is the simulated master. All methods are safe for concurrent use.
type Master struct {
	mu        sync.Mutex
	version   string
	now       func() time.Time
	timeout   time.Duration
	rest, web *httptest.Server
	restOff   bool
	status    spark.RecoveryState
	drivers   []*driver // every retained driver, in submission order
	workers   []*worker
	apps      []*app
	driverSeq int
	appSeq    int
	bodies    [][]byte
	restFault Fault
	webFault  Fault
	lastError string
	closed    chan struct{}
	closeOnce sync.Once
	stepped   chan struct{}
}

// retained is spark.deploy.retainedDrivers and retainedApplications.
const retained = 200

// NewMaster starts a master with its REST and web listeners on loopback.
func NewMaster(opts Options) *Master {
	m := &Master{version: opts.Version, now: opts.Now, timeout: opts.WorkerTimeout, status: spark.Alive,
		closed: make(chan struct{}), stepped: make(chan struct{}, 1)}
	if m.version == "" {
		m.version = "3.5.1"
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.timeout <= 0 {
		m.timeout = 60 * time.Second
	}
	if opts.Standby {
		m.status = spark.Standby
	}
	specs := opts.Workers
	if specs == nil {
		specs = []WorkerSpec{{}}
	}
	for _, s := range specs {
		m.AddWorker(s)
	}
	m.rest = httptest.NewServer(http.HandlerFunc(m.serveREST))
	m.web = httptest.NewServer(http.HandlerFunc(m.serveWeb))
	if opts.AutoLaunch > 0 {
		go m.autoLaunch(opts.AutoLaunch)
	}
	return m
}

func (m *Master) autoLaunch(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.closed:
			return
		case <-t.C:
			m.heartbeatAlive()
			m.Step()
		}
	}
}

// RestURL is the REST submission base URL (http://127.0.0.1:port).
func (m *Master) RestURL() string { return m.rest.URL }

// WebURL is the web UI base URL; /json is under it.
func (m *Master) WebURL() string { return m.web.URL }

// Endpoint is the master as a spark.Endpoint.
func (m *Master) Endpoint() spark.Endpoint {
	return spark.Endpoint{RestURL: m.RestURL(), WebURL: m.WebURL()}
}

// Close stops both listeners and any background goroutine; hanging requests are released.
func (m *Master) Close() {
	m.closeOnce.Do(func() {
		close(m.closed)
		m.rest.Close()
		m.web.Close()
	})
}

func (m *Master) v4() bool {
	return !strings.HasPrefix(m.version, "1.") && !strings.HasPrefix(m.version, "2.") && !strings.HasPrefix(m.version, "3.")
}

// ---- state changes driven by tests ----

// AddWorker registers a worker (ALIVE, heartbeat now) and returns its ID.
func (m *Master) AddWorker(s WorkerSpec) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.workers) + 1
	if s.Host == "" {
		s.Host = "10.0.1." + strconv.Itoa(n)
	}
	if s.Port == 0 {
		s.Port = 40000 + n
	}
	if s.Cores == 0 {
		s.Cores = 8
	}
	if s.MemoryMB == 0 {
		s.MemoryMB = 8192
	}
	now := m.now()
	w := &worker{id: "worker-" + now.UTC().Format("20060102150405") + "-" + s.Host + "-" + strconv.Itoa(s.Port),
		host: s.Host, port: s.Port, cores: s.Cores, memMB: s.MemoryMB, state: spark.WorkerAlive, heartbeat: now}
	m.workers = append(m.workers, w)
	return w.id
}

// Heartbeat records a heartbeat from a worker now.
func (m *Master) Heartbeat(workerID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if w := m.worker(workerID); w != nil {
		w.heartbeat = m.now()
	}
}

// heartbeatAlive records a heartbeat from every ALIVE worker now.
func (m *Master) heartbeatAlive() {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for _, w := range m.workers {
		if w.state == spark.WorkerAlive {
			w.heartbeat = now
		}
	}
}

// SetWorkerState sets a worker's state. DEAD has the effects of a lost worker (LoseWorker).
func (m *Master) SetWorkerState(workerID string, s spark.WorkerState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if w := m.worker(workerID); w != nil {
		if s == spark.WorkerDead {
			m.loseWorker(w)
			return
		}
		w.state = s
	}
}

// LoseWorker marks a worker DEAD: a supervised driver on it ends RELAUNCHING and is
// resubmitted under a new ID (SUBMITTED); an unsupervised one ends in ERROR.
func (m *Master) LoseWorker(workerID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if w := m.worker(workerID); w != nil {
		m.loseWorker(w)
	}
}

func (m *Master) loseWorker(w *worker) {
	w.state = spark.WorkerDead
	for _, a := range m.apps {
		delete(a.alloc, w)
	}
	for _, d := range slices.Clone(m.drivers) {
		if d.completed || d.worker != w {
			continue
		}
		if d.supervise {
			m.newDriver(d.body, d.cores, d.memMB, true, d.mainClass, d.appName, d.coresMax)
			m.end(d, spark.Relaunching, "")
		} else {
			m.end(d, spark.Error, "java.lang.Exception: Worker "+w.id+" was lost")
		}
	}
}

// Workers returns the workers as /json shows them.
func (m *Master) Workers() []spark.Worker {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state().Workers
}

// SetStandby makes the master STANDBY (true) or ALIVE (false).
func (m *Master) SetStandby(standby bool) {
	if standby {
		m.SetStatus(spark.Standby)
	} else {
		m.SetStatus(spark.Alive)
	}
}

// SetStatus sets the master's RecoveryState (e.g. RECOVERING).
func (m *Master) SetStatus(s spark.RecoveryState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.status = s
}

// DisableREST closes the REST listener: connections to RestURL are then refused, as on a
// master with spark.master.rest.enabled=false.
func (m *Master) DisableREST() {
	m.mu.Lock()
	if m.restOff {
		m.mu.Unlock()
		return
	}
	m.restOff = true
	m.mu.Unlock()
	m.rest.Listener.Close()
	m.rest.CloseClientConnections()
}

// SetFault injects a fault into every REST request until reset with NoFault.
func (m *Master) SetFault(f Fault) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.restFault = f
}

// SetWebFault injects a fault into every web UI request until reset with NoFault.
func (m *Master) SetWebFault(f Fault) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.webFault = f
}

// Step advances the cluster by one scheduling round: workers without a heartbeat for the
// worker timeout become DEAD; running drivers with an accepted kill end KILLED (the worker's
// report); waiting drivers are launched on alive workers with enough free cores and memory;
// waiting apps are granted cores.
func (m *Master) Step() {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for _, w := range m.workers {
		if w.state == spark.WorkerAlive && now.Sub(w.heartbeat) > m.timeout {
			m.loseWorker(w)
		}
	}
	for _, d := range slices.Clone(m.drivers) {
		if !d.completed && d.state == spark.Running && d.killRequested {
			m.end(d, spark.Killed, "")
		}
	}
	if m.status != spark.Alive {
		return
	}
	for _, d := range m.drivers {
		if d.completed || d.state != spark.Submitted {
			continue
		}
		for _, w := range m.workers {
			fc, fm := m.free(w)
			if w.state == spark.WorkerAlive && fc >= d.cores && fm >= d.memMB {
				d.state, d.worker = spark.Running, w
				m.appSeq++
				d.app = &app{id: "app-" + now.UTC().Format("20060102150405") + "-" + pad4(m.appSeq-1), name: d.appName,
					start: now, state: "WAITING", alloc: map[*worker]int{}, driver: d}
				m.apps = append(m.apps, d.app)
				break
			}
		}
	}
	for _, a := range m.apps {
		if a.state != "WAITING" && a.state != "RUNNING" {
			continue
		}
		want := a.driver.coresMax - a.cores()
		for _, w := range m.workers {
			if want <= 0 {
				break
			}
			fc, _ := m.free(w)
			if w.state != spark.WorkerAlive || fc <= 0 {
				continue
			}
			g := min(fc, want)
			a.alloc[w] += g
			want -= g
		}
		if a.cores() > 0 {
			a.state = "RUNNING"
		}
	}
}

// FinishDriver makes a running driver exit with code 0: FINISHED.
func (m *Master) FinishDriver(id string) bool { return m.exit(id, 0, "") }

// FailDriver makes a running driver exit non-zero. A supervised driver is restarted in place
// by its worker (same ID, still RUNNING); an unsupervised one ends FAILED.
func (m *Master) FailDriver(id string) bool { return m.exit(id, 1, "") }

// ErrorDriver makes a driver fail to launch or run (e.g. its jar cannot be fetched): ERROR,
// with message as the cluster's exception.
func (m *Master) ErrorDriver(id, message string) bool { return m.exit(id, -1, message) }

func (m *Master) exit(id string, code int, message string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.driver(id)
	if d == nil || d.completed {
		return false
	}
	switch {
	case code < 0:
		m.end(d, spark.Error, message)
	case d.killRequested:
		m.end(d, spark.Killed, "")
	case code == 0:
		m.end(d, spark.Finished, "")
	case d.supervise:
		d.restarts++
	default:
		m.end(d, spark.Failed, "")
	}
	return true
}

// ---- inspection ----

// Drivers returns every retained driver in submission order.
func (m *Master) Drivers() []DriverInfo {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]DriverInfo, 0, len(m.drivers))
	for _, d := range m.drivers {
		out = append(out, m.info(d))
	}
	return out
}

// ActiveDrivers returns the drivers not yet completed.
func (m *Master) ActiveDrivers() []DriverInfo {
	var out []DriverInfo
	for _, d := range m.Drivers() {
		if d.Active {
			out = append(out, d)
		}
	}
	return out
}

// Driver returns one driver by ID.
func (m *Master) Driver(id string) (DriverInfo, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.driver(id)
	if d == nil {
		return DriverInfo{}, false
	}
	return m.info(d), true
}

// Submissions returns the raw body of every create request received, accepted or not.
func (m *Master) Submissions() [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([][]byte, len(m.bodies))
	for i, b := range m.bodies {
		out[i] = slices.Clone(b)
	}
	return out
}

// LastValidationError is the cause of the last 400 on create (Spark itself prints only
// "Validation of message CreateSubmissionRequest failed!").
func (m *Master) LastValidationError() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lastError
}

// State returns the /json document.
func (m *Master) State() spark.MasterState {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state()
}

// ---- internals (m.mu held) ----

func (m *Master) newDriver(body []byte, cores, memMB int, supervise bool, mainClass, appName string, coresMax int) *driver {
	now := m.now()
	d := &driver{id: "driver-" + now.UTC().Format("20060102150405") + "-" + pad4(m.driverSeq), state: spark.Submitted,
		cores: cores, memMB: memMB, supervise: supervise, mainClass: mainClass, appName: appName, coresMax: coresMax,
		submitted: now, body: body}
	m.driverSeq++
	m.drivers = append(m.drivers, d)
	return d
}

func pad4(n int) string {
	s := strconv.Itoa(n)
	for len(s) < 4 {
		s = "0" + s
	}
	return s
}

// end moves a driver to a terminal state, finishing its app and applying retention.
func (m *Master) end(d *driver, s spark.DriverState, message string) {
	d.state, d.completed, d.killRequested = s, true, false
	if message != "" {
		d.message = message
	}
	if d.app != nil && d.app.end.IsZero() {
		d.app.state, d.app.end, d.app.alloc = "FINISHED", m.now(), map[*worker]int{}
	}
	var completed []*driver
	for _, x := range m.drivers {
		if x.completed {
			completed = append(completed, x)
		}
	}
	if len(completed) > retained {
		drop := map[*driver]bool{}
		for _, x := range completed[:max(len(completed)/10, 1)] {
			drop[x] = true
		}
		m.drivers = slices.DeleteFunc(m.drivers, func(x *driver) bool { return drop[x] })
	}
}

func (m *Master) free(w *worker) (cores, memMB int) {
	cores, memMB = w.cores, w.memMB
	for _, d := range m.drivers {
		if !d.completed && d.worker == w && d.state == spark.Running {
			cores -= d.cores
			memMB -= d.memMB
		}
	}
	for _, a := range m.apps {
		cores -= a.alloc[w]
	}
	return cores, memMB
}

func (m *Master) worker(id string) *worker {
	for _, w := range m.workers {
		if w.id == id {
			return w
		}
	}
	return nil
}

func (m *Master) driver(id string) *driver {
	for _, d := range m.drivers {
		if d.id == id {
			return d
		}
	}
	return nil
}

func (m *Master) info(d *driver) DriverInfo {
	i := DriverInfo{Driver: m.jsonDriver(d), Supervise: d.supervise, Restarts: d.restarts, KillRequested: d.killRequested,
		Active: !d.completed, AppName: d.appName}
	if d.worker != nil {
		i.WorkerHostPort = d.worker.host + ":" + strconv.Itoa(d.worker.port)
	}
	return i
}

func (m *Master) jsonDriver(d *driver) spark.Driver {
	w := "None"
	if d.worker != nil {
		w = d.worker.id
	}
	return spark.Driver{ID: d.id, StartTime: strconv.FormatInt(d.submitted.UnixMilli(), 10), State: d.state, Cores: d.cores,
		Memory: d.memMB, Resources: map[string]any{}, SubmitDate: javaDate(d.submitted), Worker: w, MainClass: d.mainClass}
}

func javaDate(t time.Time) string { return t.UTC().Format("Mon Jan 02 15:04:05 MST 2006") }

func (m *Master) state() spark.MasterState {
	now := m.now()
	s := spark.MasterState{URL: "spark://127.0.0.1:7077", Workers: []spark.Worker{}, Resources: []any{}, ResourcesUsed: []any{},
		ActiveApps: []spark.App{}, CompletedApps: []spark.App{}, ActiveDrivers: []spark.Driver{}, CompletedDrivers: []spark.Driver{},
		Status: m.status}
	for _, w := range m.workers {
		fc, fm := m.free(w)
		jw := spark.Worker{ID: w.id, Host: w.host, Port: w.port, WebUIAddress: "http://" + w.host + ":8081", Cores: w.cores,
			CoresUsed: w.cores - fc, CoresFree: fc, Memory: w.memMB, MemoryUsed: w.memMB - fm, MemoryFree: fm,
			Resources: map[string]any{}, ResourcesUsed: map[string]any{}, ResourcesFree: map[string]any{}, State: w.state,
			LastHeartbeat: w.heartbeat.UnixMilli()}
		s.Workers = append(s.Workers, jw)
		if w.state == spark.WorkerAlive {
			s.AliveWorkers++
			s.Cores += jw.Cores
			s.CoresUsed += jw.CoresUsed
			s.Memory += jw.Memory
			s.MemoryUsed += jw.MemoryUsed
			s.Resources = append(s.Resources, map[string]any{})
			s.ResourcesUsed = append(s.ResourcesUsed, map[string]any{})
		}
	}
	for _, a := range m.apps {
		end := now
		if !a.end.IsZero() {
			end = a.end
		}
		ja := spark.App{ID: a.id, StartTime: a.start.UnixMilli(), Name: a.name, Cores: a.cores(), User: "spark",
			MemoryPerExecutor: 1024, MemoryPerSlave: 1024, ResourcesPerExecutor: []any{}, ResourcesPerSlave: []any{},
			SubmitDate: javaDate(a.start), State: a.state, Duration: end.Sub(a.start).Milliseconds()}
		if a.end.IsZero() {
			s.ActiveApps = append(s.ActiveApps, ja)
		} else {
			s.CompletedApps = append(s.CompletedApps, ja)
		}
	}
	for _, d := range m.drivers {
		if d.completed {
			s.CompletedDrivers = append(s.CompletedDrivers, m.jsonDriver(d))
		} else {
			s.ActiveDrivers = append(s.ActiveDrivers, m.jsonDriver(d))
		}
	}
	return s
}
