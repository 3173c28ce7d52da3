package main

import (
	"context"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// example is a curl command of the README with the answer it documents ("" when the README
// shows none: it must then answer 2xx).
type example struct {
	command, want string
}

// readmeExamples reads the curl commands of README.md's sh blocks: "$ curl ..." lines (with
// "\" continuations) followed by their documented answer, and bare "curl ..." lines.
func readmeExamples(t *testing.T) []example {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var out []example
	inSh := false
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.HasPrefix(l, "```sh"):
			inSh = true
			continue
		case strings.HasPrefix(l, "```"):
			inSh = false
			continue
		case !inSh:
			continue
		}
		prompt := strings.HasPrefix(l, "$ curl ")
		if !prompt && !strings.HasPrefix(l, "curl ") {
			continue
		}
		cmd := strings.TrimPrefix(l, "$ ")
		for strings.HasSuffix(cmd, "\\") && i+1 < len(lines) {
			i++
			cmd = strings.TrimSuffix(cmd, "\\") + " " + strings.TrimSpace(lines[i])
		}
		ex := example{command: cmd}
		if prompt && i+1 < len(lines) && !strings.HasPrefix(lines[i+1], "$") && !strings.HasPrefix(lines[i+1], "```") {
			i++
			ex.want = lines[i]
		}
		out = append(out, ex)
	}
	return out
}

// matches reports whether got is want with each "..." standing for any text.
func matches(got, want string) bool {
	rest := strings.TrimSpace(got)
	parts := strings.Split(want, "...")
	if !strings.HasPrefix(rest, parts[0]) {
		return false
	}
	rest = rest[len(parts[0]):]
	last := len(parts) - 1
	if last == 0 {
		return rest == ""
	}
	for _, p := range parts[1:last] {
		j := strings.Index(rest, p)
		if j < 0 {
			return false
		}
		rest = rest[j+len(p):]
	}
	return strings.HasSuffix(rest, parts[last])
}

func TestMatchesElisions(t *testing.T) {
	for _, tc := range []struct {
		got, want string
		ok        bool
	}{
		{`{"data":{"a":1,"b":2}}`, `{"data":{"a":1,...}}`, true},
		{`{"data":{"a":2,"b":2}}`, `{"data":{"a":1,...}}`, false},
		{`{"data":{"x":1,"rule":"atTarget","target":3}}`, `{"data":{...,"rule":"...","target":...}}`, true},
		{`{"error":{}}`, `{"data":...}`, false},
		{`{"a":{"b":1},"c":2}}`, `{"a":{...}...}`, true},
		{`{"a":1}`, `{"a":1}`, true},
		{`{"a":1}x`, `{"a":1}`, false},
	} {
		if got := matches(tc.got, tc.want); got != tc.ok {
			t.Errorf("matches(%s, %s) = %v, want %v", tc.got, tc.want, got, tc.ok)
		}
	}
}

func boolCmp(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// TestREADMEExamples runs every curl example of README.md, as written, against the local
// runner (its port substituted for 8080): each answers as documented (a bare example
// answers 2xx).
func TestREADMEExamples(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	examples := readmeExamples(t)
	if len(examples) < 8 {
		t.Fatalf("found %d curl examples in README.md", len(examples))
	}
	// Killing the driver goes last: the other examples describe a running job.
	slices.SortStableFunc(examples, func(a, b example) int {
		return boolCmp(strings.Contains(a.command, "/demo/kill-driver"), strings.Contains(b.command, "/demo/kill-driver"))
	})
	base, _ := startRunner(t, time.Second)
	host := strings.TrimPrefix(base, "http://")
	// The examples describe a running demo: its job's driver RUNNING (the health check is UP
	// from SUBMITTED on, before the master launches the driver).
	waitFor(t, 30*time.Second, "the demo's driver runs", func() (bool, string) {
		s, m := sparkCheck(t, base)
		return s == "UP" && strings.Contains(m, " is RUNNING "), s + " " + m
	})
	for _, ex := range examples {
		cmd := strings.ReplaceAll(ex.command, "localhost:8080", host)
		if ex.want == "" {
			cmd += " -s -o /dev/null -w '%{http_code}'"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx, "sh", "-c", cmd).Output()
		cancel()
		if err != nil {
			t.Errorf("%s: %v", ex.command, err)
			continue
		}
		got := strings.TrimSpace(string(out))
		switch {
		case ex.want == "" && !strings.HasPrefix(got, "2"):
			t.Errorf("%s\n  answered HTTP %s, want 2xx", ex.command, got)
		case ex.want != "" && !matches(got, ex.want):
			t.Errorf("%s\n  answered %s\n  README says %s", ex.command, got, ex.want)
		}
	}
}
