package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// callBody is call with a JSON body.
func callBody(t *testing.T, method, url, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("X-Tenant-Name", "demo")
	req.Header.Set("Content-Type", "application/json")
	return doJSON(t, req)
}

// foreignReplay finds the second region's replay pipeline as the first region lists it.
func foreignReplay(t *testing.T, base string) (id, status string) {
	_, body := call(t, "GET", base+"/executions?partition="+peerPartition+"&type=pipeline&limit=5")
	data, _ := body["data"].(map[string]any)
	list, _ := data["executions"].([]any)
	for _, e := range list {
		e := e.(map[string]any)
		if e["name"] == "sparkReplay" && e["owned"] == false {
			return fmt.Sprint(e["id"]), fmt.Sprint(e["status"])
		}
	}
	return "", fmt.Sprint(body)
}

// TestTwoRegionsForwardAndTakeOver: the demo's two regions peer both ways. The first
// region lists the second's replay pipeline as foreign; a pause and a resume on it are
// forwarded over the interlink to its owner, applied there and copied back; a takeover is
// refused while the owner is reachable, and forced it makes the execution this region's.
func TestTwoRegionsForwardAndTakeOver(t *testing.T) {
	base, logs := startRunner(t, time.Second)
	var id string
	waitFor(t, 30*time.Second, "the second region's replay is copied here", func() (bool, string) {
		var st string
		id, st = foreignReplay(t, base)
		return id != "" && st == "RUNNING", st
	})
	for _, step := range []struct{ verb, want string }{{"pause", "PAUSED"}, {"resume", "RUNNING"}} {
		code, body := callBody(t, "PUT", base+"/executions/"+id+"/"+step.verb, `{"reason":"demo"}`)
		data, _ := body["data"].(map[string]any)
		if code/100 != 2 || data["ownerPartition"] != peerPartition {
			t.Fatalf("%s a foreign execution: %d %v, want it forwarded to %s", step.verb, code, body, peerPartition)
		}
		waitFor(t, 20*time.Second, "the owner applies the "+step.verb+" and it is copied back", func() (bool, string) {
			_, one := call(t, "GET", base+"/executions/"+id)
			d, _ := one["data"].(map[string]any)
			return d["status"] == step.want, fmt.Sprint(d["status"])
		})
	}
	code, body := callBody(t, "POST", base+"/executions/"+id+"/takeover", `{"reason":"demo"}`)
	if e, _ := body["error"].(map[string]any); code != http.StatusConflict || e["code"] != "OWNER_REACHABLE" {
		t.Fatalf("takeover of a reachable owner's execution: %d %v, want 409 OWNER_REACHABLE", code, body)
	}
	code, body = callBody(t, "POST", base+"/executions/"+id+"/takeover", `{"reason":"demo: region drill","force":true}`)
	if code/100 != 2 {
		t.Fatalf("forced takeover: %d %v", code, body)
	}
	_, one := call(t, "GET", base+"/executions/"+id)
	if d, _ := one["data"].(map[string]any); d["owned"] != true || d["partition"] != "local" {
		t.Errorf("after the forced takeover: %v, want owned here", d)
	}
	if n := logs.count(slogLevelError); n != 0 {
		t.Errorf("%d ERROR lines: %v", n, logs.samples())
	}
}
