package main

import (
	"fmt"
	"strings"
	"testing"
)

// sample is go test -v -bench output with a result, a skip, a failure, custom metrics, a
// name containing a dash and the code's own output between a name and its numbers.
const sample = `goos: linux
BenchmarkAPILatency
BenchmarkAPILatency/bare
BenchmarkAPILatency/bare-2         	   35877	     40765 ns/op	        16.82 p50-us	       124.3 p99-us	    6128 B/op	     100 allocs/op
BenchmarkAPILatency/service-details
    latency_bench_test.go:63: not registered: GET /service-details
--- SKIP: BenchmarkAPILatency/service-details
BenchmarkSteadyStatePass1M
{"level":"INFO","msg":"copied"}
BenchmarkSteadyStatePass1M-2   	       1	1234567890 ns/op	    812345 rows/s
BenchmarkBroken
--- FAIL: BenchmarkBroken
    broken_test.go:9: store: connection refused
PASS
`

func TestParseOutput(t *testing.T) {
	got := map[string]*Result{}
	for _, r := range parseOutput("m/p", sample, 2) {
		got[r.Name] = r
	}
	tests := []struct {
		name, bench, status, metric string
		n                           int
		value                       float64
		note                        string
	}{
		{"result with custom metrics", "BenchmarkAPILatency/bare", "ok", "p99-us", 35877, 124.3, ""},
		{"allocs of the same line", "BenchmarkAPILatency/bare", "ok", "allocs/op", 35877, 100, ""},
		{"skip keeps its reason", "BenchmarkAPILatency/service-details", "skip", "", 0, 0, "not registered: GET /service-details"},
		{"numbers after stray output", "BenchmarkSteadyStatePass1M", "ok", "rows/s", 1, 812345, ""},
		{"failure keeps its message", "BenchmarkBroken", "fail", "", 0, 0, "store: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := got[tt.bench]
			if r == nil {
				t.Fatalf("%s not parsed; got %v", tt.bench, keys(got))
			}
			if r.Status != tt.status || r.N != tt.n {
				t.Errorf("status, N = %s, %d; want %s, %d", r.Status, r.N, tt.status, tt.n)
			}
			if tt.metric != "" {
				if v, ok := r.Metric(tt.metric); !ok || v != tt.value {
					t.Errorf("%s = %v (%v); want %v", tt.metric, v, ok, tt.value)
				}
			}
			if tt.note != "" && !strings.Contains(strings.Join(r.Notes, "\n"), tt.note) {
				t.Errorf("notes %q; want one containing %q", r.Notes, tt.note)
			}
		})
	}
}

func TestRenderRatiosAndPlaceholders(t *testing.T) {
	rep := &Report{Module: "m", Results: []*Result{
		{Package: "m/internal/apibench", Name: "BenchmarkAPILatency/bare", N: 10, Status: "ok", Metrics: []Metric{{20, "p50-us"}, {100, "p99-us"}}},
		{Package: "m/internal/apibench", Name: "BenchmarkAPILatency/healthcheck", N: 10, Status: "ok", Metrics: []Metric{{50, "p50-us"}, {400, "p99-us"}}},
		{Package: "m/internal/apibench", Name: "BenchmarkAPILatency/service-details", Status: "skip", Notes: []string{"x_test.go:1: not registered: GET /service-details"}},
		{Package: "m/functions", Name: "BenchmarkLambdaStart/bare", N: 9, Status: "ok", Metrics: []Metric{{10, "median-ms"}, {4 << 20, "zip-bytes"}}},
		{Package: "m/functions", Name: "BenchmarkLambdaStart/api", N: 9, Status: "ok", Metrics: []Metric{{35, "median-ms"}, {8 << 20, "zip-bytes"}}},
		{Package: "m/shared/peering", Name: "BenchmarkSteadyStatePass100k", N: 1, Status: "ok", Metrics: []Metric{{2e9, "ns/op"}}},
		{Package: "m/shared/peering", Name: "BenchmarkSteadyStatePass1M", N: 1, Status: "ok", Metrics: []Metric{{1.5e10, "ns/op"}}},
	}}
	out := rep.Render()
	for _, want := range []string{
		"| GET /healthcheck | 10 | 50.0 | 2.50× | 400.0 | 4.00× |",
		"| GET /service-details | | not registered |",
		"| GET /metric/sync-delay | | not measured yet |",
		"| api | 9 | 35.0 | 3.50× |",
		"| sparkmonitor | | not measured |",
		"**not measured yet**",
		"| Peering | steady-state pass time, 1M vs 100k | 7.50× |",
		"every figure of `shared/discovery` | not measured yet",
		"### Peering (`shared/peering`)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(out)
	}
}

func keys(m map[string]*Result) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return fmt.Sprint(ks)
}

func TestRenderSupervisionAndDiscoveryFigures(t *testing.T) {
	rep := &Report{Module: "m", Results: []*Result{
		{Package: "m/shared/supervisor", Name: "BenchmarkDriverFailureToResubmission", N: 3, Status: "ok",
			Metrics: []Metric{{6.9e8, "ns/op"}, {7.5, "failure-to-submit-s"}, {14.5, "max-failure-to-submit-s"}}},
		{Package: "m/shared/discovery", Name: "BenchmarkSync10000Services", N: 2, Status: "ok", Metrics: []Metric{{3e8, "ns/op"}, {11, "LISTs/op"}}},
		{Package: "m/shared/freshness", Name: "BenchmarkDelayRequestsPerService/newest_2h_back", N: 5, Status: "ok", Metrics: []Metric{{8e6, "ns/op"}, {3, "LISTs/service"}}},
	}}
	out := rep.Render()
	for _, want := range []string{
		"| failure → new submission, mean (s) | 7.5 |",
		"| failure → new submission, worst case (s) | 14.5 |",
		"| runs | 3 |",
		"steady-state sync of 10,000 services (S3 LISTs per sync) | 11",
		"newest data 2 h back (S3 LISTs) | 3",
		"first sync onboarding 10,000 services (ns/op) | not measured",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(out)
	}
}
