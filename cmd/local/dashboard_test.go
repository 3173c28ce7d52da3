package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/metrics"
)

// chromium finds Debian's chromium; without it the test is skipped, except under CI=true
// where .ci/run installs it.
func chromium(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed (apt-get install -y chromium); CI must run the browser test")
		}
		t.Skip("chromium is not installed (apt-get install -y chromium)")
	}
	return path
}

// headless runs chromium on url with extra flags and returns its standard output.
func headless(t *testing.T, bin, url string, extra ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--no-first-run", "--hide-scrollbars", "--user-data-dir=" + t.TempDir()}, extra...)
	cmd := exec.CommandContext(ctx, bin, append(args, url)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", extra, err, errb.String())
	}
	return out.Bytes()
}

var widgetRE = regexp.MustCompile(`<section class="widget" data-title="([^"]*)" data-series="(\d+)" data-points="(\d+)"[^>]*>(.*?)</section>`)

// widgets reads the widgets of a rendered dashboard page: title → points drawn, and whether
// an SVG chart was drawn.
func widgets(page []byte) map[string]struct {
	points int
	svg    bool
} {
	out := map[string]struct {
		points int
		svg    bool
	}{}
	for _, m := range widgetRE.FindAllSubmatch(page, -1) {
		n, _ := strconv.Atoi(string(m[3]))
		out[string(m[1])] = struct {
			points int
			svg    bool
		}{n, bytes.Contains(m[4], []byte("<svg"))}
	}
	return out
}

// TestDashboardInChromium runs the local runner with a one-second tick until the template's
// dashboard has data in every widget, then loads /dashboard in headless Chromium: every
// widget of the template's DashboardBody is on the rendered page with a chart and data.
// With UPDATE_DASHBOARD_PNG=1 it saves the screenshot the README shows (docs/dashboard.png).
func TestDashboardInChromium(t *testing.T) {
	bin := chromium(t)
	base, logs := startRunnerWith(t, options{tick: time.Second, template: "../../template.yaml"})
	body, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	titles := regexp.MustCompile(`"title": "([^"]+)"`).FindAllStringSubmatch(string(body), -1)
	if len(titles) < 10 {
		t.Fatalf("found %d widget titles in the template", len(titles))
	}
	waitFor(t, 90*time.Second, "every widget has data", func() (bool, string) {
		resp, err := http.Get(base + "/dashboard")
		if err != nil {
			return false, err.Error()
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		ws := widgets(page)
		var empty []string
		for _, tt := range titles {
			if ws[tt[1]].points == 0 {
				empty = append(empty, tt[1])
			}
		}
		return len(empty) == 0, fmt.Sprint("empty: ", empty)
	})

	update := os.Getenv("UPDATE_DASHBOARD_PNG") == "1"
	if update { // the README's picture: let the load wave go up and down once first
		waitFor(t, 3*time.Minute, "a full load wave", func() (bool, string) {
			resp, err := http.Get(base + "/dashboard")
			if err != nil {
				return false, err.Error()
			}
			page, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			n := widgets(page)["Spark workers: actual and decided"].points
			return n >= 2*50, fmt.Sprint(n, " points")
		})
	}
	dom := headless(t, bin, base+"/dashboard", "--dump-dom")
	ws := widgets(dom)
	for _, tt := range titles {
		w, ok := ws[tt[1]]
		if !ok || w.points == 0 || !w.svg {
			t.Errorf("widget %q in Chromium: present %v, %d points, chart %v", tt[1], ok, w.points, w.svg)
		}
	}
	shot := filepath.Join(t.TempDir(), "dashboard.png")
	headless(t, bin, base+"/dashboard", "--screenshot="+shot, "--window-size=1420,1000")
	png, err := os.ReadFile(shot)
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("screenshot: %v", err)
	}
	if len(png) > 300<<10 {
		t.Errorf("screenshot is %d KB, want under 300 KB", len(png)>>10)
	}
	if update {
		if err := os.WriteFile("../../docs/dashboard.png", png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if n := logs.count(slogLevelError); n != 0 {
		t.Errorf("%d ERROR lines: %v", n, logs.samples())
	}
}

// TestDashboardStatistics: a SEARCH widget draws one line per matching series (the schema's
// dimensions exactly), aggregated per period with the widget's statistic.
func TestDashboardStatistics(t *testing.T) {
	clock := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	store := newMetricStore(func() time.Time { return clock })
	w := metrics.New(store)
	w.SetClock(func() time.Time { return clock })
	for i, v := range []float64{3, 7, 5} { // two in the first minute, one in the second
		clock = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * 40 * time.Second)
		_ = w.Emit(map[string]string{"tenant": "demo"}, metrics.Metric{Name: "AppLogsDelayMinutes", Value: v})
		_ = w.Emit(map[string]string{"tenant": "demo", "service": "checkout"}, metrics.Metric{Name: "AppLogsDelayMinutes", Value: 100})
	}
	d, err := newDashboard(`{"widgets":[{"type":"metric","x":0,"y":0,"width":12,"height":6,"properties":{"title":"t","region":"${AWS::Region}","period":60,
		"metrics":[{"expression":"SEARCH('{Logwise/ControlPlane,tenant} MetricName=\"AppLogsDelayMinutes\"', 'Maximum', 60)","id":"d2"}]}}]}`, store, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	lines := d.lines(d.widgets[0])
	if len(lines) != 1 || len(lines[0].values) != 2 || lines[0].values[0].v != 7 || lines[0].values[1].v != 5 {
		t.Fatalf("lines = %+v, want one tenant-level line with per-minute maxima 7 and 5", lines)
	}
	for _, tc := range []struct {
		stat string
		want float64
	}{{"Sum", 15}, {"Minimum", 3}, {"Maximum", 7}, {"Average", 5}, {"p99", 7}, {"p50", 5}, {"SampleCount", 3}} {
		if got := statOf([]float64{7, 3, 5}, tc.stat); got != tc.want {
			t.Errorf("%s = %v, want %v", tc.stat, got, tc.want)
		}
	}
	if !strings.Contains(fmt.Sprint(d.widgets[0].Properties.Title), "t") {
		t.Error("title lost")
	}
}
