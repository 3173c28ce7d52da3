package functions_test

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/logwise/controlplane/internal/lambdarun"
)

// startRuns is the least number of timed starts a median is taken over; scripts/bench.sh runs
// this benchmark with -benchtime 9x.
const startRuns = 7

// BenchmarkLambdaStart measures each function's cold start as Lambda's init phase sees it: the
// time from exec of the bootstrap to its first GET .../invocation/next on a fake Runtime API.
// "bare" is a bare aws-lambda-go binary built the same way, the baseline for the ratio.
// Every start runs against a migrated database (functions only check the schema version;
// the migrate function applies it at deploy time), on a configuration whose every endpoint
// counts the connections made to it (initProbe). Reported metrics: median-ms over b.N starts
// (ns/op is the mean), init-db-conns and init-other-conns (the connections one start made:
// to the database, and to Kafka, Spark, S3, peers or any AWS API), bytes and zip-bytes of the
// bootstrap, and arm64-bytes (built as sam build builds it for the template's arm64).
func BenchmarkLambdaStart(b *testing.B) {
	probe := newInitProbe(b)
	for _, name := range append([]string{"bare"}, functionNames...) {
		b.Run(name, func(b *testing.B) {
			var path string
			var arm64 int64
			if name == "bare" {
				path = buildBare(b)
			} else {
				path = build(b, name)
				arm64 = arm64Size(b, name)
			}
			raw, zipped := sizes(b, path)
			b.ResetTimer()
			starts := make([]time.Duration, 0, b.N)
			var conns initConns
			for range b.N {
				d, c, err := probe.startCounted(path, name)
				if err != nil {
					b.Fatalf("%s: %v", name, err)
				}
				starts = append(starts, d)
				conns = c
			}
			b.StopTimer()
			if b.N >= startRuns || b.N == 1 {
				slices.Sort(starts)
				b.ReportMetric(ms(starts[len(starts)/2]), "median-ms")
			}
			b.ReportMetric(float64(conns.db), "init-db-conns")
			b.ReportMetric(float64(conns.other), "init-other-conns")
			b.ReportMetric(float64(raw), "bytes")
			b.ReportMetric(float64(zipped), "zip-bytes")
			if arm64 > 0 { // ReportMetric after ResetTimer: it deletes reported metrics
				b.ReportMetric(float64(arm64), "arm64-bytes")
			}
		})
	}
}

// arm64Size builds the function as sam build does (the Makefile's flags, linux/arm64, the
// architecture the template deploys) and returns the bootstrap's size.
func arm64Size(b *testing.B, name string) int64 {
	b.Helper()
	out := filepath.Join(binDir, "arm64", name, "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w -buildid=", "-o", out, "./"+name)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	if o, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build %s for arm64: %v\n%s", name, err, o)
	}
	st, err := os.Stat(out)
	if err != nil {
		b.Fatal(err)
	}
	return st.Size()
}

// startOnce execs the bootstrap and returns the time to its first request for an invocation.
func startOnce(path string, env []string) (time.Duration, error) {
	p, err := lambdarun.Start(path, env)
	if err != nil {
		return 0, err
	}
	defer p.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return p.WaitReady(ctx)
}

// buildBare builds internal/benchdata/barelambda with the flags build uses for the functions.
func buildBare(b *testing.B) string {
	b.Helper()
	out := filepath.Join(binDir, "bare", "bootstrap")
	if _, err := os.Stat(out); err == nil {
		return out
	}
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", out, "../internal/benchdata/barelambda")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("build barelambda: %v\n%s", err, out)
	}
	return out
}

// sizes returns the bootstrap's size and the size of the deployment zip holding it.
func sizes(b *testing.B, path string) (raw, zipped int64) {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "bootstrap", Method: zip.Deflate})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(w, f); err != nil {
		b.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		b.Fatal(err)
	}
	return st.Size(), int64(buf.Len())
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
