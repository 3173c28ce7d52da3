package freshness_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/freshness"
	"github.com/logwise/controlplane/shared/logstore"
	"github.com/logwise/controlplane/shared/logstore/s3test"
)

// BenchmarkDelayRequestsPerService measures one canary's delay and the S3 LIST requests it
// costs, with the newest data 0, 2 and 4 (beyond the lookback) hours back, each hour holding
// 60 minutes × 20 part files.
func BenchmarkDelayRequestsPerService(b *testing.B) {
	now := time.Date(2024, 1, 1, 1, 30, 0, 0, time.UTC) // the lookback crosses the year end
	for _, hoursBack := range []int{0, 2, 4} {
		b.Run(fmt.Sprintf("newest_%dh_back", hoursBack), func(b *testing.B) {
			srv := s3test.New(b)
			hour := now.Add(-time.Duration(hoursBack) * time.Hour).Truncate(time.Hour)
			for m := range 60 {
				for p := range 20 {
					srv.Put(b, fmt.Sprintf("%spart-%05d.gz.parquet", layout.MinutePrefix("healthcheck-dummy", hour.Add(time.Duration(m)*time.Minute)), p))
				}
			}
			t := tenant()
			t.DelayMetrics.App.SampleServiceNames = nil
			m := freshness.NewMeter(nil)
			m.Now = func() time.Time { return now }
			objs := logstore.New(srv.Client, srv.Bucket, layout)
			srv.Reset()
			for b.Loop() {
				if _, err := m.Measure(context.Background(), t, objs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(srv.Count(s3test.ListObjectsV2))/float64(b.N), "LISTs/service")
		})
	}
}
