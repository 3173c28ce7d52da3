package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/logwise/controlplane/internal/samtemplate"
	"github.com/logwise/controlplane/shared/spark"
)

// The local server's limits: a client that sends its headers or body slowly, or idles on a
// kept-alive connection, is cut off instead of holding a connection. Writes may take the
// API's own 25 s deadline and a little more.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 35 * time.Second
	idleTimeout       = 60 * time.Second
)

// newServer is the local HTTP server with its timeouts.
func newServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout}
}

// listen binds addr; the runner reports itself running only once this succeeded.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("API server: listen on %s: %w", addr, err)
	}
	return ln, nil
}

// localHandler serves the API as API Gateway would (measured), the template's dashboard
// (when the template was found) and the demo's controls.
func localHandler(api http.Handler, metrics *metricStore, dash *dashboard, demo *demoPipeline) http.Handler {
	mux := http.NewServeMux()
	if dash != nil {
		mux.Handle("GET /dashboard", dash)
	}
	if demo != nil {
		mux.HandleFunc("POST /demo/kill-driver", demo.killDriver)
	}
	mux.Handle("/", metrics.measureAPI(api))
	return mux
}

// killDriver answers POST /demo/kill-driver: the streaming job's running driver fails (as an
// out-of-memory crash would), and the Spark monitor resubmits the job on its next run.
func (d *demoPipeline) killDriver(w http.ResponseWriter, _ *http.Request) {
	var killed []string
	for _, dr := range d.master.ActiveDrivers() {
		if dr.State == spark.Running && d.master.ErrorDriver(dr.ID, "java.lang.OutOfMemoryError: Java heap space (demo: POST /demo/kill-driver)") {
			killed = append(killed, dr.ID)
		}
	}
	d.log.Warn("demo: driver killed", "drivers", killed)
	w.Header().Set("Content-Type", "application/json")
	status := http.StatusOK
	body := map[string]any{"data": map[string]any{"killed": killed,
		"recovery": "the Spark monitor resubmits the job on its next run (GET /executions shows the submission)"}}
	if len(killed) == 0 {
		status = http.StatusConflict
		body = map[string]any{"error": map[string]any{"code": "CONFLICT", "message": "no driver is RUNNING to kill", "cause": "no driver is RUNNING to kill"}}
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// loadDashboard reads the template's dashboard for /dashboard.
func loadDashboard(o options, metrics *metricStore) (*dashboard, error) {
	path := o.template
	if path == "" {
		path = "template.yaml"
	}
	t, err := samtemplate.Load(path)
	if err != nil {
		return nil, err
	}
	body, err := t.DashboardBody("Dashboard")
	if err != nil {
		return nil, err
	}
	return newDashboard(body, metrics, o.tick)
}
