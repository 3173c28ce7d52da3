package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

// Report is what a run of `go test -json` did.
type Report struct {
	packages map[string]*pkg
	order    []string
	// Passed, Failed and Skipped count tests (subtests included).
	Passed, Failed, Skipped int
}

type pkg struct {
	name    string
	action  string // pass, fail, skip (no test files), or "" if the package never ended
	elapsed float64
	output  []string            // package-level output (build failures, panics outside tests)
	tests   map[string][]string // each test's output
	failed  []string
	skipped []string
	passed  int
}

// Read consumes a `go test -json` stream, writing each package's line to progress as the
// package ends (so a long run shows where it is) and stray output as it comes.
func Read(in io.Reader, progress io.Writer) (*Report, error) {
	r := &Report{packages: map[string]*pkg{}}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintln(progress, string(line))
			continue
		}
		p := r.pkg(e.Package)
		switch {
		case e.Action == "output" && e.Test == "":
			p.output = append(p.output, e.Output)
		case e.Action == "output":
			p.tests[e.Test] = append(p.tests[e.Test], e.Output)
		case e.Test == "" && (e.Action == "pass" || e.Action == "fail" || e.Action == "skip"):
			p.action, p.elapsed = e.Action, e.Elapsed
			if p.action != "skip" {
				fmt.Fprintf(progress, "%s\t%s\t%.1fs\t%d passed, %d failed, %d skipped\n", p.action, p.name, p.elapsed, p.passed, len(p.failed), len(p.skipped))
			}
		case e.Action == "pass":
			p.passed++
			r.Passed++
			delete(p.tests, e.Test)
		case e.Action == "fail":
			p.failed = append(p.failed, e.Test)
			r.Failed++
		case e.Action == "skip":
			p.skipped = append(p.skipped, e.Test)
			r.Skipped++
		}
	}
	return r, sc.Err()
}

func (r *Report) pkg(name string) *pkg {
	if p, ok := r.packages[name]; ok {
		return p
	}
	p := &pkg{name: name, tests: map[string][]string{}}
	r.packages[name] = p
	r.order = append(r.order, name)
	return p
}

// Write prints the summary: packages that never finished, every failure in full, every skip
// with its reason, and the closing count.
func (r *Report) Write(w io.Writer) {
	names := slices.Clone(r.order)
	slices.Sort(names)
	for _, n := range names {
		p := r.packages[n]
		for _, t := range p.failed {
			fmt.Fprintf(w, "\n--- FAIL %s %s\n%s", n, t, strings.Join(p.tests[t], ""))
		}
		if p.action == "fail" && len(p.failed) == 0 || p.action == "" {
			fmt.Fprintf(w, "\n--- FAIL %s (package)\n%s", n, strings.Join(p.output, ""))
		}
		for _, t := range p.skipped {
			fmt.Fprintf(w, "\n--- SKIP %s %s: %s\n", n, t, skipReason(p.tests[t]))
		}
	}
	fmt.Fprintf(w, "\n%d passed, %d failed, %d skipped\n", r.Passed, r.Failed, r.Skipped)
}

// skipReason is the test's last output line before its SKIP line.
func skipReason(out []string) string {
	var last string
	for _, l := range out {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- SKIP") {
			continue
		}
		last = l
	}
	return last
}

// Verdict says why the run must fail, or "" when it passed.
func (r *Report) Verdict(ci bool) string {
	var bad []string
	for _, n := range r.order {
		if p := r.packages[n]; p.action == "fail" || p.action == "" {
			bad = append(bad, n)
		}
	}
	switch {
	case r.Failed > 0 || len(bad) > 0:
		return fmt.Sprintf("%d tests failed; failing packages: %s", r.Failed, strings.Join(bad, ", "))
	case r.Passed == 0:
		return "no test ran"
	case ci && r.Skipped > 0:
		return fmt.Sprintf("%d tests were skipped under CI=true; CI must run every test", r.Skipped)
	}
	return ""
}
