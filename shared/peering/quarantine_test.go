package peering

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/metrics"
)

// TestQuarantineClears checks that a quarantine row lasts only while its execution is left
// uncopied: once a later version is copied, or the peer deletes the execution (with or
// without a tombstone), the row is gone and the pass that clears it counts no quarantine,
// neither in its summary nor in pollers.peering.numQuarantined (a per-pass count: the alarm
// fires on the pass that quarantines, the table holds what is still uncopied).
func TestQuarantineClears(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	big := strings.Repeat("z", 3000)
	cases := []struct {
		name  string
		local bool                          // an older version was copied before the peer grew it
		then  func(t *testing.T, c *Copier) // what the peer (or an operator) does after the quarantine
	}{
		{"a later, smaller version is copied", false, func(t *testing.T, c *Copier) {
			putExec(t, p.peer, exec{typ: executions.Pipeline, id: "POISON", partition: peerID, updatedAt: 200, body: "small"})
		}},
		{"a later, smaller version is copied on demand", false, func(t *testing.T, c *Copier) {
			putExec(t, p.peer, exec{typ: executions.Pipeline, id: "POISON", partition: peerID, updatedAt: 200, body: "small"})
			if _, err := c.CopyNow(context.Background(), peerID, executions.Pipeline, []string{"POISON"}); err != nil {
				t.Fatalf("CopyNow: %v", err)
			}
			if n := quarantineRows(t, p); n != 0 {
				t.Errorf("%d quarantine rows after the on-demand copy; want 0", n)
			}
		}},
		{"tombstoned at the peer, older copy here", true, func(t *testing.T, c *Copier) {
			tombstone(t, p.peer, executions.Pipeline, "POISON")
		}},
		{"tombstoned at the peer, never copied", false, func(t *testing.T, c *Copier) {
			tombstone(t, p.peer, executions.Pipeline, "POISON")
		}},
		{"plainly deleted at the peer, never copied", false, func(t *testing.T, c *Copier) {
			mustExec(t, p.peer, "DELETE FROM pipelines WHERE id = 'POISON'")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p.reset(t)
			var buf bytes.Buffer
			opts := testOptions()
			opts.packetBudget = 2000
			c, err := New(context.Background(), p.local, []Peer{{ID: peerID, DB: p.peer.SQL()}}, opts, nil, metrics.New(&buf), nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.local {
				putExec(t, p.peer, exec{typ: executions.Pipeline, id: "POISON", partition: peerID, updatedAt: 50, body: "v1"})
				pass(t, c)
			}
			putExec(t, p.peer, exec{typ: executions.Pipeline, id: "POISON", partition: peerID, updatedAt: 100, body: big})
			if s := pass(t, c); s.NumQuarantined != 1 || quarantineRows(t, p) != 1 {
				t.Fatalf("setup: summary %+v, %d quarantine rows; want one quarantined", s, quarantineRows(t, p))
			}
			tc.then(t, c)
			buf.Reset()
			s := pass(t, c)
			if n := quarantineRows(t, p); n != 0 || s.NumQuarantined != 0 || s.NumErrors != 0 {
				t.Errorf("after the pass: %d quarantine rows, summary %+v; want none and no error", n, s)
			}
			if q := emitted(t, &buf, "pipeline", "pollers.peering.numQuarantined"); q != 0 {
				t.Errorf("pollers.peering.numQuarantined = %v on the clearing pass, want 0", q)
			}
			assertConverged(t, p)
		})
	}
}

func quarantineRows(t *testing.T, p *pair) int {
	t.Helper()
	return countRows(t, p.local, "SELECT COUNT(*) FROM peering_quarantine")
}

// emitted returns the value of metric name for executionType typ in the EMF lines of buf
// (-1: absent).
func emitted(t *testing.T, buf *bytes.Buffer, typ, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not EMF JSON: %q", line)
		}
		if ev["executionType"] == typ {
			if v, ok := ev[name].(float64); ok {
				return v
			}
		}
	}
	return -1
}
