package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

const slogLevelError = slog.LevelError

// startRunner starts the local runner in process on its embedded defaults with tick as the
// schedules' rate, and stops it when the test ends (failing the test if it failed).
func startRunner(t *testing.T, tick time.Duration) (base string, logs *levelCounter) {
	t.Helper()
	return startRunnerWith(t, options{tick: tick})
}

// startRunnerWith is startRunner with options (its address is chosen here).
func startRunnerWith(t *testing.T, o options) (base string, logs *levelCounter) {
	t.Helper()
	logs = &levelCounter{}
	addr := freeAddr(t)
	o.addr = addr
	if o.template == "" {
		o.template = "../../template.yaml"
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- run(ctx, slog.New(logs), o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-runErr; err != nil {
			t.Errorf("local runner: %v", err)
		}
	})
	waitUp(t, "http://"+addr+"/liveness", runErr)
	return "http://" + addr, logs
}

// call makes a request as the demo tenant and decodes the JSON answer.
func call(t *testing.T, method, url string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("X-Tenant-Name", "demo")
	return doJSON(t, req)
}

// doJSON sends req and decodes the JSON answer.
func doJSON(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(100 * time.Millisecond) // polling a condition, not synchronising
	}
	t.Fatalf("%s: not within %s; last seen: %s", what, timeout, last)
}

// sparkCheck is the spark component of GET /pipeline/health.
func sparkCheck(t *testing.T, base string) (status, message string) {
	_, body := call(t, "GET", base+"/pipeline/health")
	checks, _ := body["checks"].([]any)
	for _, c := range checks {
		c := c.(map[string]any)
		if c["component"] == "spark" {
			ch := c["check"].(map[string]any)
			return fmt.Sprint(ch["status"]), fmt.Sprint(ch["message"])
		}
	}
	return "", fmt.Sprint(body)
}

// scaleActions lists the actions of the recorded scaleWorkers executions.
func scaleActions(t *testing.T, base string) map[string]int {
	_, body := call(t, "GET", base+"/executions?limit=100")
	out := map[string]int{}
	data, _ := body["data"].(map[string]any)
	list, _ := data["executions"].([]any)
	for _, e := range list {
		e := e.(map[string]any)
		if e["name"] != "scaleWorkers" {
			continue
		}
		_, one := call(t, "GET", base+"/executions/"+fmt.Sprint(e["id"]))
		ex, _ := one["data"].(map[string]any)["execution"].(map[string]any)
		ctx, _ := ex["context"].(map[string]any)
		outcome, _ := ctx["outcome"].(map[string]any)
		out[fmt.Sprint(outcome["action"])]++
	}
	return out
}

// TestDemoLivesScalesAndRecovers runs make run's demo with a one-second tick (a simulated
// minute per second) for at least 45 simulated minutes: the workers stay ALIVE and the job
// RUNNING long past the 60 s worker timeout, the scaler resizes the worker Deployment both
// ways from the simulated load wave, a driver killed through POST /demo/kill-driver is
// resubmitted by the Spark monitor, and no line is logged at ERROR.
func TestDemoLivesScalesAndRecovers(t *testing.T) {
	const tick = time.Second
	start := time.Now()
	base, logs := startRunner(t, tick)

	waitFor(t, 20*tick, "the streaming job runs", func() (bool, string) {
		s, m := sparkCheck(t, base)
		return s == "UP", s + " " + m
	})
	waitFor(t, 60*tick, "the scaler resizes the workers up and down", func() (bool, string) {
		a := scaleActions(t, base)
		return a["upscale"] > 0 && a["downscale"] > 0, fmt.Sprint(a)
	})

	code, body := call(t, "POST", base+"/demo/kill-driver")
	killed, _ := body["data"].(map[string]any)["killed"].([]any)
	if code != 200 || len(killed) != 1 {
		t.Fatalf("kill-driver: %d %v", code, body)
	}
	old := fmt.Sprint(killed[0])
	waitFor(t, 10*tick, "the monitor resubmits the killed driver", func() (bool, string) {
		s, m := sparkCheck(t, base)
		return s == "UP" && strings.Contains(m, "RUNNING") && !strings.Contains(m, old), s + " " + m + fmt.Sprint(logs.samples())
	})

	for time.Since(start) < 45*tick { // the workers outlive the worker timeout
		if s, m := sparkCheck(t, base); s != "UP" {
			t.Fatalf("after %s: spark %s %s", time.Since(start).Round(time.Second), s, m)
		}
		time.Sleep(tick)
	}
	if n := logs.count(slog.LevelError); n != 0 {
		t.Errorf("%d ERROR lines; first: %v", n, logs.samples())
	}
}
