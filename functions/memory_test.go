package functions_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logwise/controlplane/internal/samtemplate"
	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/store/storetest"
)

// TestPeeringBootstrapCopiesHeavyExecutionsWithinItsMemorySize: a first copy of executions
// that weigh more together than the function's memory (160 executions of about 1 MB: a
// 200 KB body and four 200 KB stages) runs in the built bootstrap, with the template's
// GOMEMLIMIT, and its peak resident memory stays under the template's MemorySize: the copier
// reads heavy chunks in parts and holds at most peering.memoryMiB of rows at once.
func TestPeeringBootstrapCopiesHeavyExecutionsWithinItsMemorySize(t *testing.T) {
	tpl, err := samtemplate.Load("../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	memoryMB, err := tpl.FunctionMemorySize("PeeringFunction")
	if err != nil {
		t.Fatal(err)
	}
	limit, ok := tpl.FunctionVariable("PeeringFunction", "GOMEMLIMIT")
	if !ok {
		t.Fatal("the template sets no GOMEMLIMIT for the peering function")
	}
	const n, stagesPer, size = 160, 4, 200_000
	peer := storetest.New(t)
	mustExecSQL(t, peer, fmt.Sprintf("INSERT INTO pipelines (id, `partition`, application, status, build_time, updated_at, canceled, body) "+
		"SELECT CONCAT('01JHEAVY', LPAD(seq, 18, '0')), 'eu-west-1', 'ABC', 'SUCCEEDED', seq, 1000 + seq, b'0', REPEAT('x', %d) FROM seq_1_to_%d", size, n))
	for s := 1; s <= stagesPer; s++ {
		mustExecSQL(t, peer, fmt.Sprintf("INSERT INTO pipeline_stages (id, execution_id, status, updated_at, body) "+
			"SELECT CONCAT('01JSTAGE%d', LPAD(seq, 17, '0')), CONCAT('01JHEAVY', LPAD(seq, 18, '0')), 'SUCCEEDED', 1000 + seq, REPEAT('s', %d) FROM seq_1_to_%d", s, size, n))
	}
	peerCfg, err := store.ParseDSN(storetestDSN(t, peer))
	if err != nil {
		t.Fatal(err)
	}
	pl := newPipeline(t)
	pl.peerDSN = peerCfg.DSN()
	cfg := testConfig(t, pl)
	p := start(t, "peering", cfg, "GOMEMLIMIT="+limit)
	p.Runtime.Timeout = 5 * time.Minute // passes run until 5 s before the deadline; the test stops it once copied

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.InvokeJSON(ctx, event(t, "peering-schedule.json"), nil) //nolint:errcheck // stopped once the copy is done
	local := openLocal(t, cfg)
	deadline := time.Now().Add(3 * time.Minute)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var execs, stages int
		if err := local.SQL().QueryRow("SELECT (SELECT COUNT(*) FROM pipelines), (SELECT COUNT(*) FROM pipeline_stages)").Scan(&execs, &stages); err != nil {
			t.Fatal(err)
		}
		if execs == n && stages == n*stagesPer {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("copied %d executions and %d stages in 3 minutes; want %d and %d", execs, stages, n, n*stagesPer)
		}
		<-tick.C
	}
	peakKB := peakRSS(t, p.Cmd.Process.Pid)
	t.Logf("peak resident memory %d MB copying %d MB (MemorySize %d MB, GOMEMLIMIT %s)", peakKB/1024, n*(1+stagesPer)*size/1_000_000, memoryMB, limit)
	if peakKB > memoryMB*1024 {
		t.Errorf("the peering bootstrap peaked at %d MB resident, over its MemorySize of %d MB", peakKB/1024, memoryMB)
	}
}

// peakRSS is a process's peak resident set size (VmHWM), in KB.
func peakRSS(t *testing.T, pid int) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read the bootstrap's memory: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatalf("VmHWM %q: %v", v, err)
			}
			return kb
		}
	}
	t.Fatal("no VmHWM in /proc/<pid>/status")
	return 0
}
