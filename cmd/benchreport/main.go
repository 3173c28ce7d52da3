// Command benchreport runs every Go benchmark of the module and writes BENCHMARKS.md: the
// machine and date, the Lambda start-up and API latency tables with their ratios, the
// supervision and capability figures, and every benchmark with all its metrics, grouped by
// area. Packages are found by scanning test files for "func Benchmark", so benchmarks added
// later in any package are picked up. `make bench` runs it through scripts/bench.sh.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"time"
)

func main() {
	out := flag.String("out", "BENCHMARKS.md", "the report to write")
	benchtime := flag.String("benchtime", "1s", "go test -benchtime for benchmarks without an override")
	pattern := flag.String("pkgs", "./...", "the packages to look for benchmarks in")
	flag.Parse()
	if err := run(context.Background(), *out, *benchtime, *pattern, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
}

// benchtimes overrides -benchtime for benchmarks whose op is long or must run a set number
// of times (package relative to the module, benchmark function).
var benchtimes = map[string]string{
	"functions.BenchmarkLambdaStart":                    "9x",   // a median of at least 7 starts (1 more is the warm-up run)
	"functions.BenchmarkTickInvocation":                 "100x", // CPU time is read in 10 ms units: averaged over 100 ticks
	"shared/supervisor.BenchmarkSparkmonitor200Tenants": "2x",   // an op is a whole invocation over 200 tenants
}

func run(ctx context.Context, out, benchtime, pattern string, progress io.Writer) error {
	rep := &Report{Date: time.Now(), Machine: machine(ctx)}
	if b, err := os.ReadFile("docs/cost-model.md"); err == nil {
		rep.CostModel = string(b)
	}
	pkgs, module, err := benchPackages(ctx, pattern)
	if err != nil {
		return err
	}
	rep.Module = module
	procs := runtime.NumCPU()
	if v := os.Getenv("GOMAXPROCS"); v != "" {
		fmt.Sscan(v, &procs)
	}
	for _, p := range pkgs {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		groups := map[string][]string{}
		for _, name := range p.Benches {
			bt := benchtime
			if o, ok := benchtimes[rel+"."+name]; ok {
				bt = o
			}
			groups[bt] = append(groups[bt], name)
		}
		for _, bt := range sortedKeys(groups) {
			names := groups[bt]
			fmt.Fprintf(progress, "benchreport: %s %s (-benchtime %s)\n", rel, strings.Join(names, " "), bt)
			pr := PackageRun{Package: p.ImportPath, Benches: names, Benchtime: bt}
			start := time.Now()
			cmd := exec.CommandContext(ctx, "go", "test", "-v", "-run", "^$", "-bench", "^("+strings.Join(names, "|")+")$",
				"-benchtime", bt, "-benchmem", "-count", "1", "-timeout", "30m", p.ImportPath)
			cmd.Dir = p.Root
			var buf bytes.Buffer
			cmd.Stdout, cmd.Stderr = io.MultiWriter(&buf, progress), io.MultiWriter(&buf, progress)
			if err := cmd.Run(); err != nil {
				pr.Err = err.Error()
				pr.Tail = tail(buf.String(), 40)
			}
			pr.Took = time.Since(start)
			rep.Runs = append(rep.Runs, pr)
			rep.Results = append(rep.Results, parseOutput(p.ImportPath, buf.String(), procs)...)
		}
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, []byte(rep.Render()), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	fmt.Fprintf(progress, "benchreport: wrote %s (%d benchmarks)\n", out, len(rep.Results))
	return nil
}

// benchPackage is a package with at least one benchmark.
type benchPackage struct {
	ImportPath, Dir, Root string
	Benches               []string
}

var benchFuncRE = regexp.MustCompile(`(?m)^func (Benchmark[A-Za-z0-9_]*)\(\s*\w+ \*testing\.B\s*\)`)

// benchPackages lists the packages matching pattern whose test files declare benchmarks.
func benchPackages(ctx context.Context, pattern string) ([]benchPackage, string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-json=ImportPath,Dir,Root,Module,TestGoFiles,XTestGoFiles", pattern)
	cmd.Stderr = os.Stderr
	raw, err := cmd.Output()
	if err != nil {
		return nil, "", fmt.Errorf("go list %s: %w", pattern, err)
	}
	var out []benchPackage
	module := ""
	dec := json.NewDecoder(bytes.NewReader(raw))
	for dec.More() {
		var p struct {
			ImportPath, Dir, Root     string
			Module                    *struct{ Path, Dir string }
			TestGoFiles, XTestGoFiles []string
		}
		if err := dec.Decode(&p); err != nil {
			return nil, "", fmt.Errorf("decode go list: %w", err)
		}
		if p.Module != nil {
			module, p.Root = p.Module.Path, p.Module.Dir
		}
		bp := benchPackage{ImportPath: p.ImportPath, Dir: p.Dir, Root: p.Root}
		for _, f := range append(p.TestGoFiles, p.XTestGoFiles...) {
			src, err := os.ReadFile(filepath.Join(p.Dir, f))
			if err != nil {
				return nil, "", err
			}
			for _, m := range benchFuncRE.FindAllSubmatch(src, -1) {
				bp.Benches = append(bp.Benches, string(m[1]))
			}
		}
		if len(bp.Benches) > 0 {
			sort.Strings(bp.Benches)
			out = append(out, bp)
		}
	}
	return out, module, nil
}

// machine describes this machine: uname -a, the CPU model, cores and the Go version.
func machine(ctx context.Context) Machine {
	m := Machine{Cores: runtime.NumCPU(), CPU: "unknown", Uname: "unknown", GoVersion: runtime.Version()}
	if b, err := exec.CommandContext(ctx, "uname", "-a").Output(); err == nil {
		m.Uname = strings.TrimSpace(string(b))
	}
	if b, err := exec.CommandContext(ctx, "go", "version").Output(); err == nil {
		m.GoVersion = strings.TrimSpace(string(b))
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

func sortedKeys(m map[string][]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
