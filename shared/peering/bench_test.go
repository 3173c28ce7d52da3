package peering

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/store"
)

// seedSQL fills a database's pipelines (and stages per execution) with n completed executions
// owned by the peer, from MariaDB's sequence engine: one INSERT ... SELECT per table, so a
// million rows take seconds, not minutes.
func seedSQL(b testing.TB, db *store.DB, n, stagesPer int, body int) {
	b.Helper()
	const batch = 50_000 // each statement stays well under the driver's 30 s read timeout
	for lo := 1; lo <= n; lo += batch {
		hi := min(n, lo+batch-1)
		mustExec(b, db, fmt.Sprintf(`INSERT INTO pipelines (id, `+"`partition`"+`, config_id, application, status, build_time, start_time, updated_at, canceled, body)
			SELECT CONCAT('H', LPAD(seq, 25, '0')), ?, 'cfg', 'app', 'SUCCEEDED', seq, seq, 1000000 + seq, b'0', REPEAT('x', %d) FROM seq_%d_to_%d`, body, lo, hi), peerID)
		for s := 1; s <= stagesPer; s++ {
			mustExec(b, db, fmt.Sprintf(`INSERT INTO pipeline_stages (id, execution_id, status, updated_at, body)
				SELECT CONCAT('S', %d, LPAD(seq, 24, '0')), CONCAT('H', LPAD(seq, 25, '0')), 'SUCCEEDED', 1000000 + seq, REPEAT('s', %d) FROM seq_%d_to_%d`, s, body, lo, hi))
		}
	}
}

// seedActive adds n running executions with stages (updated_at just below the peer's clock).
func seedActive(b testing.TB, db *store.DB, n, stagesPer int) {
	b.Helper()
	now := time.Now().Add(-time.Minute).UnixMilli()
	mustExec(b, db, fmt.Sprintf(`INSERT INTO pipelines (id, `+"`partition`"+`, application, status, build_time, updated_at, canceled, body)
		SELECT CONCAT('A', LPAD(seq, 25, '0')), ?, 'app', 'RUNNING', seq, ?, b'0', REPEAT('a', 2000) FROM seq_1_to_%d`, n), peerID, now)
	for s := 1; s <= stagesPer; s++ {
		mustExec(b, db, fmt.Sprintf(`INSERT INTO pipeline_stages (id, execution_id, status, updated_at, body)
			SELECT CONCAT('T', %d, LPAD(seq, 24, '0')), CONCAT('A', LPAD(seq, 25, '0')), 'RUNNING', ?, REPEAT('t', 1000) FROM seq_1_to_%d`, s, n), now)
	}
}

func dbName(b testing.TB, db *store.DB) string {
	var n string
	if err := db.SQL().QueryRow("SELECT DATABASE()").Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}

// emptyLocal empties the local tables a bulk copy writes and waits for InnoDB's purge of the
// deleted rows (MariaDB's innodb_max_purge_lag_wait), so the next timed phase does not share
// the server with that cleanup.
func emptyLocal(b testing.TB, db *store.DB) {
	for _, tb := range []string{"pipeline_stages_compressed_executions", "pipelines_compressed_executions", "pipeline_stages", "pipelines", "peering_state", "leases"} {
		mustExec(b, db, "DELETE FROM "+tb)
	}
	if _, err := db.SQL().Exec("SET GLOBAL innodb_max_purge_lag_wait = 0"); err != nil {
		b.Logf("wait for the purge (a MariaDB server is needed): %v", err)
	}
}

// BenchmarkBulkCopy copies 20,000 completed executions with 3 stages each (first pass) and,
// in the same iteration, the same rows with INSERT ... SELECT between the two databases on the
// same server: the floor any copier over the network can approach. Reports executions/s,
// stages/s and MB/s of ids and bodies for both, the copier's time as a multiple of INSERT ...
// SELECT's, and its rows/s as a multiple of INSERT ... SELECT's (the goal: at least 1).
//
// Two more figures say what bounds that ratio on the machine it runs on. writes-alone is the
// copier's write path by itself: the same rows, already read, written by the local pool's
// connections with the statements the copy uses (no reads, no plans). And where the server
// runs on this machine, the CPU seconds mariadbd spent in each phase. Every timed phase
// starts from empty local tables with InnoDB's purge of the previous phase's deletes done,
// so no phase pays for another's cleanup.
func BenchmarkBulkCopy(b *testing.B) {
	const n, stagesPer = 20000, 3
	p := newPair(b)
	seedSQL(b, p.peer, n, stagesPer, 300)
	peerDB, localDB := dbName(b, p.peer), dbName(b, p.local)
	var dataBytes float64 // the ids and bodies copied
	if err := p.peer.SQL().QueryRow("SELECT (SELECT SUM(LENGTH(id) + LENGTH(body)) FROM pipelines) + (SELECT SUM(LENGTH(id) + LENGTH(execution_id) + LENGTH(body)) FROM pipeline_stages)").Scan(&dataBytes); err != nil {
		b.Fatal(err)
	}
	execRows, stagesOf := readAll(b, p.peer)
	server := serverProcess()
	opts := Options{Partition: localPartition, ChunkSize: 100, ThreadCount: 30, ClockDriftMs: 5000, MaxAllowedDeleteCount: 100}
	var copyTime, sqlTime, writeTime time.Duration
	var copyCPU, sqlCPU float64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		emptyLocal(b, p.local)
		c := p.copier(b, opts, nil)
		cpu0 := server.cpu()
		b.StartTimer()
		start := time.Now()
		s, err := c.Pass(context.Background())
		copyTime += time.Since(start)
		b.StopTimer()
		copyCPU += server.cpu() - cpu0
		if err != nil || s.Peers[peerID].NumPeered != n || s.Peers[peerID].NumErrors != 0 {
			b.Fatalf("bulk pass: %+v %v", s.Peers[peerID], err)
		}
		emptyLocal(b, p.local)
		cpu0 = server.cpu()
		start = time.Now()
		mustExec(b, p.local, "INSERT INTO "+localDB+".pipeline_stages SELECT * FROM "+peerDB+".pipeline_stages")
		mustExec(b, p.local, "INSERT INTO "+localDB+".pipelines SELECT * FROM "+peerDB+".pipelines")
		sqlTime += time.Since(start)
		sqlCPU += server.cpu() - cpu0
		emptyLocal(b, p.local)
		start = time.Now()
		writeAlone(b, p.local, execRows, stagesOf, c.budget)
		writeTime += time.Since(start)
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/copyTime.Seconds(), "executions/s")
	b.ReportMetric(float64(n*stagesPer*b.N)/copyTime.Seconds(), "stages/s")
	b.ReportMetric(dataBytes*float64(b.N)/copyTime.Seconds()/1e6, "MB/s")
	b.ReportMetric(float64(n*b.N)/sqlTime.Seconds(), "insertselect-executions/s")
	b.ReportMetric(float64(n*stagesPer*b.N)/sqlTime.Seconds(), "insertselect-stages/s")
	b.ReportMetric(dataBytes*float64(b.N)/sqlTime.Seconds()/1e6, "insertselect-MB/s")
	b.ReportMetric(copyTime.Seconds()/sqlTime.Seconds(), "x-insertselect-time")
	b.ReportMetric(sqlTime.Seconds()/copyTime.Seconds(), "x-insertselect-rows/s")
	b.ReportMetric(sqlTime.Seconds()/writeTime.Seconds(), "writes-alone-x-insertselect-rows/s")
	if server.pid != "" {
		b.ReportMetric(copyCPU/float64(b.N), "copy-server-cpu-s")
		b.ReportMetric(sqlCPU/float64(b.N), "insertselect-server-cpu-s")
	}
}

// readAll reads the peer's pipelines and their stages as the copier reads them (untimed).
func readAll(b testing.TB, db *store.DB) (execRows []row, stagesOf map[string][]row) {
	b.Helper()
	ctx, t := context.Background(), tables[executions.Pipeline]
	execRows, err := fetchRows(ctx, db.SQL(), len(t.execColumns), "SELECT "+cols(t.execColumns)+" FROM "+t.executions+" ORDER BY updated_at")
	if err != nil {
		b.Fatal(err)
	}
	stageRows, err := fetchRows(ctx, db.SQL(), len(t.stageColumns), "SELECT "+cols(t.stageColumns)+" FROM "+t.stages)
	if err != nil {
		b.Fatal(err)
	}
	stagesOf = map[string][]row{}
	for _, s := range stageRows {
		id := text(s[stageParentColumn])
		stagesOf[id] = append(stagesOf[id], s)
	}
	for _, e := range execRows {
		e[t.partitionColumn] = peerID
	}
	return execRows, stagesOf
}

// writeAlone writes execRows and their stages into db as a bulk copy's writes do (insert-only
// statements under the copier's statement budget, transactions of 3,000 executions' rows),
// split across the pool's connections.
func writeAlone(b testing.TB, db *store.DB, execRows []row, stagesOf map[string][]row, budget int) {
	b.Helper()
	ctx, t := context.Background(), tables[executions.Pipeline]
	workers := max(1, db.SQL().Stats().MaxOpenConnections)
	parts := chunks(execRows, (len(execRows)+workers-1)/workers)
	errs := make(chan error, len(parts))
	for _, mine := range parts {
		go func() {
			var err error
			for _, group := range chunks(mine, 3000) {
				var stages []row
				for _, e := range group {
					stages = append(stages, stagesOf[text(e[0])]...)
				}
				err = func() error {
					tx, err := db.SQL().BeginTx(ctx, nil)
					if err != nil {
						return err
					}
					defer tx.Rollback()
					if _, err := insertRows(ctx, tx, t.stages, t.stageColumns, stages, budget); err != nil {
						return err
					}
					if _, err := insertRows(ctx, tx, t.executions, t.execColumns, group, budget); err != nil {
						return err
					}
					return tx.Commit()
				}()
				if err != nil {
					break
				}
			}
			errs <- err
		}()
	}
	for range parts {
		if err := <-errs; err != nil {
			b.Fatalf("write alone: %v", err)
		}
	}
}

// serverProc is the database server's process on this machine, if it runs here.
type serverProc struct{ pid string }

// serverProcess finds the one mariadbd (or mysqld) process on this machine; none found (the
// server runs elsewhere), its CPU is not reported.
func serverProcess() serverProc {
	var found []string
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		comm, err := os.ReadFile("/proc/" + d.Name() + "/comm")
		if err != nil {
			continue
		}
		if c := strings.TrimSpace(string(comm)); c == "mariadbd" || c == "mysqld" {
			found = append(found, d.Name())
		}
	}
	if len(found) != 1 {
		return serverProc{}
	}
	return serverProc{pid: found[0]}
}

// cpu is the server's user and system CPU seconds so far (0 when it is not here).
func (s serverProc) cpu() float64 {
	if s.pid == "" {
		return 0
	}
	stat, err := os.ReadFile("/proc/" + s.pid + "/stat")
	if err != nil {
		return 0
	}
	// The fields after the command (which may hold spaces) start after the last ')'.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times (100 on Linux).
const clockTicks = 100

// steadyState prepares a peer with history completed executions and 200 active ones, a local
// database already in sync (seeded the same way, as a finished bulk copy leaves it), and
// measures passes where, between passes, 20 active executions change a stage and 2 complete.
func steadyState(b *testing.B, history int) {
	p := newPair(b)
	seedSQL(b, p.peer, history, 0, 100)
	seedActive(b, p.peer, 200, 5)
	peerDB, localDB := dbName(b, p.peer), dbName(b, p.local)
	for lo := 0; lo < history; lo += 50_000 {
		mustExec(b, p.local, "INSERT INTO "+localDB+".pipelines SELECT * FROM "+peerDB+".pipelines WHERE status = 'SUCCEEDED' AND updated_at > ? AND updated_at <= ?",
			1000000+lo, 1000000+lo+50_000)
	}
	setState(b, p.local, "pipeline", 1000000+int64(history), true, 0)
	setState(b, p.local, "orchestration", 0, true, 0)
	mustExec(b, p.local, "ANALYZE TABLE pipelines")
	mustExec(b, p.peer, "ANALYZE TABLE pipelines")
	c := p.copier(b, Options{Partition: localPartition, ChunkSize: 100, ThreadCount: 30, ClockDriftMs: 5000, MaxAllowedDeleteCount: 100}, nil)
	if s := pass(b, c); s.NumErrors != 0 || s.NumPeered != 200 {
		b.Fatalf("settling pass: %+v", s)
	}
	// A first completion moves the high mark from the seeded history (one execution a
	// millisecond, far denser than any real peer's, whose last ClockDriftMs a pass re-reads) to
	// now, where a live peer's stays.
	mustExec(b, p.peer, "INSERT INTO pipelines (id, `partition`, application, status, build_time, updated_at, canceled, body) VALUES ('S0000000000000000000000001', ?, 'app', 'SUCCEEDED', 1, ?, b'0', 'done')",
		peerID, time.Now().Add(-time.Second).UnixMilli())
	if s := pass(b, c); s.NumErrors != 0 || s.NumPeered != 1 {
		b.Fatalf("second settling pass: %+v, want the one completion peered", s)
	}
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		now := time.Now().Add(-time.Second).UnixMilli()
		mustExec(b, p.peer, "UPDATE pipeline_stages SET updated_at = ?, body = CONCAT(body, 'x') WHERE id IN (SELECT CONCAT('T1', LPAD(seq, 24, '0')) FROM seq_1_to_20)", now)
		for j := 0; j < 2; j++ {
			id := fmt.Sprintf("C%07d%018d", i, j)
			mustExec(b, p.peer, "INSERT INTO pipelines (id, `partition`, application, status, build_time, updated_at, canceled, body) VALUES (?, ?, 'app', 'SUCCEEDED', 1, ?, b'0', 'done')", id, peerID, now)
		}
		b.StartTimer()
		start := time.Now()
		s := pass(b, c)
		total += time.Since(start)
		if s.NumErrors != 0 || s.NumPeered != 22 {
			b.Fatalf("steady pass: %+v, want 22 peered", s)
		}
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/pass")
}

func BenchmarkSteadyStatePass100k(b *testing.B) { steadyState(b, 100_000) }

// BenchmarkSteadyStatePass1M needs PEERING_BENCH_1M=1 (make bench sets it): seeding a million
// executions into two databases takes about a minute.
func BenchmarkSteadyStatePass1M(b *testing.B) {
	if os.Getenv("PEERING_BENCH_1M") == "" {
		b.Skip("set PEERING_BENCH_1M=1 to seed 1,000,000 executions")
	}
	steadyState(b, 1_000_000)
}
