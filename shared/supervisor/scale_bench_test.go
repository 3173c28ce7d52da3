package supervisor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/reconcile"
	"github.com/logwise/controlplane/shared/spark"
	"github.com/logwise/controlplane/shared/spark/sparktest"
	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/store/storetest"
)

// benchTenants is how many tenants one sparkmonitor invocation looks after in
// BenchmarkSparkmonitor200Tenants.
const benchTenants = 200

// BenchmarkSparkmonitor200Tenants runs one sparkmonitor invocation as the function does (the
// reconcile runner with RunParallel, each tenant's Run under its own lease, the store's
// Lambda-sized pool) over 200 tenants, each on its own simulated Spark master with a RUNNING
// driver.
//
//   - check: each Run makes one check (monitor.durationSeconds = pollIntervalSeconds), so the
//     figures are the work of a check without the sleeps between polls.
//   - polls: each Run polls every 1 s for 4 s (the default schedule is every 15 s for 60 s),
//     under the function's 120 s deadline; every tenant must be checked (checks/tenant is
//     below 4 when a check takes long enough to push the next poll past the duration).
//
// Reported: ms/tenant (wall time of the invocation divided by the tenants), invocation-ms,
// peak-db-conns (most connections open at once, sampled every millisecond), db-waits/op
// (queries that waited for a free connection).
func BenchmarkSparkmonitor200Tenants(b *testing.B) {
	b.Run("check", func(b *testing.B) { benchInvocation(b, 15, 15, 1) })
	b.Run("polls", func(b *testing.B) { benchInvocation(b, 1, 4, 4) })
}

func benchInvocation(b *testing.B, pollSeconds, durationSeconds, maxChecks int) {
	db := storetest.New(b)
	ctx := context.Background()
	exec := executions.NewLog(db.SQL(), "bench")
	s := New(Deps{Store: db, Executions: exec, Credentials: staticCreds{}, Holder: "bench",
		Clients: func(t config.Tenant) (Cluster, error) {
			return spark.New(spark.Config{Masters: spark.ConfigFrom(t.Spark).Masters, Timeout: 10 * time.Second}), nil
		}})
	tenants := map[string]config.Tenant{}
	keys := make([]string, 0, benchTenants)
	for i := range benchTenants {
		m := sparktest.NewMaster(sparktest.Options{})
		b.Cleanup(m.Close)
		tn := defaultTenant(b, m)
		tn.Name = fmt.Sprintf("T%03d", i)
		tn.Spark.Monitor.PollIntervalSeconds, tn.Spark.Monitor.DurationSeconds = pollSeconds, durationSeconds
		if _, err := s.Check(ctx, tn, Options{}); err != nil {
			b.Fatal(err)
		}
		m.Step()
		tenants[tn.Name] = tn
		keys = append(keys, tn.Name)
	}
	r := &reconcile.Runner{Leases: db, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Holder: "bench", TTL: LeaseTTL, Parallel: RunParallel}
	job := func(ctx context.Context, key string, l store.Lease) (any, error) { return s.Run(ctx, tenants[key], l) }

	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // sample the pool: database/sql keeps no high-water mark
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if n := int64(db.SQL().Stats().OpenConnections); n > peak.Load() {
					peak.Store(n)
				}
			}
		}
	}()
	waits := db.SQL().Stats().WaitCount
	b.ResetTimer()
	start := time.Now()
	checks := 0
	for b.Loop() {
		ictx, cancel := context.WithTimeout(ctx, 120*time.Second) // template.yaml: Timeout 120
		sum, err := r.Run(ictx, "sparkmonitor", keys, job)
		cancel()
		if err != nil || sum.Failed() > 0 {
			b.Fatalf("invocation: %v, %d tenants failed: %+v", err, sum.Failed(), sum.Results[0])
		}
		for _, res := range sum.Results {
			rep, _ := res.Detail.(Report)
			if len(rep.Checks) == 0 || len(rep.Checks) > maxChecks || rep.Checks[0].Action != Keep {
				b.Fatalf("tenant %s: %+v, want 1 to %d checks keeping the RUNNING driver", res.Key, res.Detail, maxChecks)
			}
			checks += len(rep.Checks)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	close(stop)
	wg.Wait()
	per := elapsed / time.Duration(b.N)
	b.ReportMetric(float64(per.Milliseconds()), "invocation-ms")
	b.ReportMetric(float64(per.Microseconds())/1000/benchTenants, "ms/tenant")
	b.ReportMetric(float64(peak.Load()), "peak-db-conns")
	b.ReportMetric(float64(checks)/float64(b.N)/benchTenants, "checks/tenant")
	b.ReportMetric(float64(db.SQL().Stats().WaitCount-waits)/float64(b.N), "db-waits/op")
}
