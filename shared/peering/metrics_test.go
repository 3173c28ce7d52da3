package peering

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/logwise/controlplane/shared/metrics"
)

// TestMetrics checks the EMF lines of a pass: per peer and type the lag and the four
// counters with their values, and the OVER_ALL lag.
func TestMetrics(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	putExec(t, p.peer, exec{typ: Pipeline, id: "M1", partition: peerID, updatedAt: 10, stages: []stage{{id: "M1-a", updatedAt: 10}}})
	putExec(t, p.local, exec{typ: Pipeline, id: "M1", partition: peerID, updatedAt: 5, stages: []stage{{id: "M1-old", updatedAt: 5}}})
	putExec(t, p.local, exec{typ: Orchestration, id: "M2", partition: peerID, updatedAt: 10})
	setState(t, p.local, "pipeline", 10, true, 0)
	setState(t, p.local, "orchestration", 10, true, 0)
	var buf bytes.Buffer
	c, err := New(context.Background(), p.local, []Peer{{ID: peerID, DB: p.peer.SQL()}}, testOptions(), nil, metrics.New(&buf), nil)
	if err != nil {
		t.Fatal(err)
	}
	pass(t, c)
	got := map[string]map[string]float64{} // executionType -> metric -> value
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not EMF JSON: %q", line)
		}
		if ev["peerId"] != peerID {
			t.Errorf("line without peerId=%s: %s", peerID, line)
		}
		typ, _ := ev["executionType"].(string)
		got[typ] = map[string]float64{}
		for k, v := range ev {
			if f, ok := v.(float64); ok && strings.HasPrefix(k, "pollers.peering.") {
				got[typ][k] = f
			}
		}
	}
	want := map[string]map[string]float64{
		"pipeline":      {"pollers.peering.numPeered": 1, "pollers.peering.numDeleted": 0, "pollers.peering.numStagesDeleted": 1, "pollers.peering.numErrors": 0},
		"orchestration": {"pollers.peering.numPeered": 0, "pollers.peering.numDeleted": 1, "pollers.peering.numStagesDeleted": 0, "pollers.peering.numErrors": 0},
	}
	for typ, ms := range want {
		for name, v := range ms {
			if g, ok := got[typ][name]; !ok || g != v {
				t.Errorf("%s %s = %v (present %v), want %v", typ, name, g, ok, v)
			}
		}
		if _, ok := got[typ]["pollers.peering.lag"]; !ok {
			t.Errorf("%s: no pollers.peering.lag", typ)
		}
	}
	if _, ok := got["OVER_ALL"]["pollers.peering.lag"]; !ok {
		t.Errorf("no OVER_ALL lag; got %v", got)
	}
}
