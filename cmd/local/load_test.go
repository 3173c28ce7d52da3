package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/httpapi"
)

// TestLoadLocalRunner starts the local runner in process (run, as `make run` does, on its
// embedded defaults) and drives its API over loopback with 16 concurrent clients for
// LOAD_TEST_DURATION (default 30 s; 5 s with -short) across every GET route without path
// parameters, as the demo tenant. It asserts: zero 5xx answers, no log line at level ERROR,
// and a flat heap: the live heap (runtime.MemStats.HeapAlloc right after a forced GC; this
// process holds the runner and the load generator) at the end is at most 1.5× + 16 MiB of
// what it was after the warm-up (the first sixth of the run, at most 5 s), and goroutines
// did not pile up.
func TestLoadLocalRunner(t *testing.T) {
	duration := 30 * time.Second
	if testing.Short() {
		duration = 5 * time.Second
	}
	if v := os.Getenv("LOAD_TEST_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("LOAD_TEST_DURATION=%q: %v", v, err)
		}
		duration = d
	}
	warmup := min(duration/6, 5*time.Second)
	const clients = 16

	logs := &levelCounter{}
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() {
		runErr <- run(ctx, slog.New(logs), options{addr: addr, tick: time.Minute})
	}()
	defer func() {
		cancel()
		if err := <-runErr; err != nil {
			t.Errorf("local runner: %v", err)
		}
	}()
	base := "http://" + addr
	waitUp(t, base+"/liveness", runErr)

	paths := getRoutes(t)
	t.Logf("load: %d clients for %s over %v", clients, duration, paths)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}
	defer client.CloseIdleConnections()

	var total, fiveXX atomic.Int64
	var mu sync.Mutex
	statuses := map[string]map[int]int{}
	var firstBad []string
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10_000_000 && time.Now().Before(deadline); i++ { // bounded loop
				p := paths[(c+i)%len(paths)]
				req, _ := http.NewRequest("GET", base+p, nil)
				req.Header.Set(httpapi.TenantHeader, "demo")
				resp, err := client.Do(req)
				if err != nil {
					mu.Lock()
					firstBad = append(firstBad, fmt.Sprintf("GET %s: %v", p, err))
					mu.Unlock()
					fiveXX.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				total.Add(1)
				mu.Lock()
				if statuses[p] == nil {
					statuses[p] = map[int]int{}
				}
				statuses[p][resp.StatusCode]++
				if resp.StatusCode >= 500 {
					fiveXX.Add(1)
					if len(firstBad) < 5 {
						firstBad = append(firstBad, fmt.Sprintf("GET %s: %d %s", p, resp.StatusCode, body))
					}
				}
				mu.Unlock()
			}
		}()
	}

	time.Sleep(warmup) // the warm-up is part of the load; memory is sampled at its end
	warmHeap, warmG := liveHeap()
	wg.Wait()
	endHeap, endG := liveHeap()

	t.Logf("observed: %d requests in %s (%.0f/s); statuses by route %v", total.Load(), duration, float64(total.Load())/duration.Seconds(), statuses)
	t.Logf("observed: live heap %.1f MiB after warm-up, %.1f MiB at the end; goroutines %d then %d; log lines: %d WARN, %d ERROR",
		mib(warmHeap), mib(endHeap), warmG, endG, logs.count(slog.LevelWarn), logs.count(slog.LevelError))
	if total.Load() == 0 {
		t.Fatal("no request was answered")
	}
	if n := fiveXX.Load(); n > 0 {
		t.Errorf("%d answers were 5xx or failed; first: %q", n, firstBad)
	}
	if n := logs.count(slog.LevelError); n > 0 {
		t.Errorf("%d log lines at level ERROR; first: %q", n, logs.samples())
	}
	if limit := warmHeap*3/2 + 16<<20; endHeap > limit {
		t.Errorf("live heap grew from %.1f MiB to %.1f MiB (limit %.1f MiB)", mib(warmHeap), mib(endHeap), mib(limit))
	}
	if endG > warmG+32 {
		t.Errorf("goroutines grew from %d to %d", warmG, endG)
	}
}

// getRoutes lists the API's GET routes without path parameters, from the mux itself.
func getRoutes(t *testing.T) []string {
	t.Helper()
	cfg, err := config.Parse([]byte(demoConfig(endpoints{Partition: "local", PeerID: peerPartition, PeerDSN: "root@tcp(127.0.0.1:1)/y", DSN: "root@tcp(127.0.0.1:1)/x", S3: "http://127.0.0.1:1", SparkREST: "http://127.0.0.1:1",
		SparkWeb: "http://127.0.0.1:1", KafkaHost: "127.0.0.1", KafkaPort: "1", VectorHost: "127.0.0.1", VectorPort: "1"})), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range httpapi.New(cfg, slog.New(slog.DiscardHandler), httpapi.Deps{}).Routes() {
		if p, ok := strings.CutPrefix(r.Pattern, "GET "); ok && !strings.Contains(p, "{") {
			out = append(out, p)
		}
	}
	return out
}

func liveHeap() (uint64, int) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, runtime.NumGoroutine()
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitUp(t *testing.T, url string, runErr chan error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-runErr:
			t.Fatalf("local runner stopped: %v", err)
		default:
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer in 60 s", url)
}

// levelCounter is a slog handler that counts records by level and keeps the first few
// WARN and ERROR messages; it keeps nothing else, so the load does not grow the heap.
type levelCounter struct {
	mu     sync.Mutex
	counts map[slog.Level]int
	kept   []string
}

func (h *levelCounter) Enabled(context.Context, slog.Level) bool { return true }

func (h *levelCounter) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.counts == nil {
		h.counts = map[slog.Level]int{}
	}
	h.counts[r.Level]++
	if r.Level >= slog.LevelWarn && len(h.kept) < 10 {
		var b strings.Builder
		b.WriteString(r.Level.String() + " " + r.Message)
		r.Attrs(func(a slog.Attr) bool { b.WriteString(" " + a.String()); return true })
		h.kept = append(h.kept, b.String())
	}
	return nil
}

func (h *levelCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *levelCounter) WithGroup(string) slog.Handler      { return h }

func (h *levelCounter) count(l slog.Level) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[l]
}

func (h *levelCounter) samples() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.kept...)
}
