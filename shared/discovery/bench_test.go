package discovery_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/logwise/controlplane/shared/logstore/s3test"
)

// BenchmarkSync10000Services measures a steady-state sync of 10,000 services (all known):
// time per sync and S3 LIST requests per sync.
func BenchmarkSync10000Services(b *testing.B) {
	e := newBenchEnv(b, 10_000)
	s := e.syncer("bench")
	ctx := context.Background()
	if _, err := s.Sync(ctx, tenant(), e.objs); err != nil { // onboard once
		b.Fatal(err)
	}
	e.s3.Reset()
	for b.Loop() {
		if _, err := s.Sync(ctx, tenant(), e.objs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(e.s3.Count(s3test.ListObjectsV2))/float64(b.N), "LISTs/op")
}

// BenchmarkOnboard10000Services measures a first sync that onboards 10,000 services.
func BenchmarkOnboard10000Services(b *testing.B) {
	e := newBenchEnv(b, 10_000)
	s := e.syncer("bench")
	ctx := context.Background()
	e.s3.Reset()
	for b.Loop() {
		b.StopTimer()
		if _, err := e.db.SQL().Exec("DELETE FROM service_details"); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := s.Sync(ctx, tenant(), e.objs)
		if err != nil || len(res.Onboarded) != 10_000 {
			b.Fatalf("onboarded %d: %v", len(res.Onboarded), err)
		}
	}
	b.ReportMetric(float64(e.s3.Count(s3test.ListObjectsV2))/float64(b.N), "LISTs/op")
}

func newBenchEnv(b *testing.B, n int) *env {
	e := newEnvTB(b)
	for i := range n {
		e.putTB(b, fmt.Sprintf("service-%05d", i))
	}
	return e
}
