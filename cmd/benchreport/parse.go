package main

import (
	"bufio"
	"strconv"
	"strings"
)

// Metric is one reported value of a benchmark: ns/op, B/op, allocs/op or a custom one
// (b.ReportMetric), in the order go test printed them.
type Metric struct {
	Value float64
	Unit  string
}

// Result is one benchmark (or sub-benchmark) of a run.
type Result struct {
	Package string
	Name    string // without the -GOMAXPROCS suffix
	N       int    // iterations
	Metrics []Metric
	Status  string   // "ok", "skip" or "fail"
	Notes   []string // what the benchmark logged (the reason of a skip or failure)
}

// Metric returns the value of the metric with unit.
func (r *Result) Metric(unit string) (float64, bool) {
	if r == nil {
		return 0, false
	}
	for _, m := range r.Metrics {
		if m.Unit == unit {
			return m.Value, true
		}
	}
	return 0, false
}

// parseOutput reads the text output of `go test -v -run '^$' -bench ...` for one package:
// result lines ("BenchmarkX/sub-2  100  123 ns/op  4.5 p50-us"), "--- SKIP/FAIL: name"
// headers and the indented log lines that say why. procs is the GOMAXPROCS suffix go test
// appends to names (none when 1). Lines it does not recognise (the code's own output) are
// ignored.
func parseOutput(pkg, out string, procs int) []*Result {
	var results []*Result
	byName := map[string]*Result{}
	get := func(name string) *Result {
		if r, ok := byName[name]; ok {
			return r
		}
		r := &Result{Package: pkg, Name: name, Status: "ok"}
		byName[name] = r
		results = append(results, r)
		return r
	}
	suffix := ""
	if procs > 1 {
		suffix = "-" + strconv.Itoa(procs)
	}
	var pending []string   // log lines not yet attached to a header
	var header *Result     // the "--- X:" header that log lines now follow
	var pendingName string // a name printed alone, whose numbers may follow on a later line
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "--- SKIP: "), strings.HasPrefix(line, "--- FAIL: "), strings.HasPrefix(line, "--- BENCH: "):
			kind, rest, _ := strings.Cut(strings.TrimPrefix(line, "--- "), ": ")
			name := strings.TrimSuffix(strings.Fields(rest)[0], suffix)
			r := get(name)
			switch kind {
			case "SKIP":
				r.Status = "skip"
			case "FAIL":
				r.Status = "fail"
			}
			r.Notes = append(r.Notes, pending...)
			pending, header = nil, r
		case (strings.HasPrefix(line, "    ") || strings.HasPrefix(line, "\t")) && isLogLine(trimmed):
			if header != nil {
				header.Notes = append(header.Notes, trimmed)
			} else {
				pending = append(pending, trimmed)
			}
		default:
			header = nil
			f := strings.Fields(line)
			switch {
			case len(f) == 1 && strings.HasPrefix(f[0], "Benchmark"):
				pendingName = strings.TrimSuffix(f[0], suffix)
			case len(f) >= 4 && strings.HasPrefix(f[0], "Benchmark"):
				if n, metrics, ok := numbers(f[1:]); ok {
					r := get(strings.TrimSuffix(f[0], suffix))
					r.N, r.Metrics = n, metrics
					pendingName = ""
				}
			case len(f) >= 3 && pendingName != "":
				if n, metrics, ok := numbers(f); ok {
					r := get(pendingName)
					r.N, r.Metrics = n, metrics
					pendingName = ""
				}
			}
		}
	}
	return results
}

// isLogLine reports whether s looks like a testing log line ("file_test.go:12: message").
func isLogLine(s string) bool {
	file, _, ok := strings.Cut(s, ": ")
	return ok && strings.Contains(file, ".go:")
}

// numbers reads "N v1 unit1 v2 unit2 ...".
func numbers(f []string) (int, []Metric, bool) {
	n, err := strconv.Atoi(f[0])
	if err != nil || len(f)%2 != 1 {
		return 0, nil, false
	}
	var ms []Metric
	for i := 1; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return 0, nil, false
		}
		ms = append(ms, Metric{Value: v, Unit: f[i+1]})
	}
	return n, ms, len(ms) > 0
}
