package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/store"
)

func intPtr(i int) *int    { return &i }
func boolPtr(b bool) *bool { return &b }

func TestStageHistoryNewestFirstNullableCoresAndBoundedLimit(t *testing.T) {
	t.Parallel()
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			ctx := context.Background()
			now := time.Date(2031, 11, 22, 10, 0, 0, 0, time.UTC)
			db.SetClock(func() time.Time { return now })
			for i := range 7 {
				h := store.StageHistory{Tenant: "ABC", InputRecords: int64(1000 * (i + 1)), OutputBytes: 10,
					SubmissionTime: int64(i), CompletionTime: int64(i + 1), Status: "succeeded"}
				if i%2 == 0 {
					h.CoresUsed = intPtr(i)
					h.EnableDownScale = boolPtr(false)
				}
				if err := db.InsertStageHistory(ctx, h); err != nil {
					t.Fatalf("insert %d: %v", i, err)
				}
				now = now.Add(time.Second)
			}
			if err := db.InsertStageHistory(ctx, store.StageHistory{Tenant: "OTHER", InputRecords: 1, Status: "succeeded"}); err != nil {
				t.Fatal(err)
			}
			tests := []struct {
				limit    int
				wantLen  int
				wantHead int64
			}{{5, 5, 7000}, {20, 7, 7000}, {0, 1, 7000}, {-3, 1, 7000}, {1_000_000, 7, 7000}}
			for _, tc := range tests {
				got, err := db.StageHistories(ctx, "ABC", tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != tc.wantLen || got[0].InputRecords != tc.wantHead {
					t.Errorf("limit %d: got %d rows head %d, want %d rows head %d", tc.limit, len(got), got[0].InputRecords, tc.wantLen, tc.wantHead)
				}
				for i := 1; i < len(got); i++ {
					if got[i].InputRecords >= got[i-1].InputRecords {
						t.Errorf("limit %d: row %d (%d) not older than row %d (%d)", tc.limit, i, got[i].InputRecords, i-1, got[i-1].InputRecords)
					}
				}
			}
			all, _ := db.StageHistories(ctx, "ABC", 20)
			// Row 0 is the 7th insert (i=6, cores 6); row 1 is i=5 (cores missing).
			if all[0].CoresUsed == nil || *all[0].CoresUsed != 6 {
				t.Errorf("coresUsed of newest = %v, want 6", all[0].CoresUsed)
			}
			if all[1].CoresUsed != nil {
				t.Errorf("coresUsed of second = %d, want nil (missing)", *all[1].CoresUsed)
			}
			if show(all[0].EnableDownScale) != "false" || show(all[1].EnableDownScale) != "nil" || show(all[0].EnableUpScale) != "nil" {
				t.Errorf("flags: newest down=%s up=%s, second down=%s; want false, nil, nil",
					show(all[0].EnableDownScale), show(all[0].EnableUpScale), show(all[1].EnableDownScale))
			}
			// A retried report is stored once.
			for range 3 {
				if err := db.InsertStageHistory(ctx, store.StageHistory{Tenant: "ABC", InputRecords: 42, SubmissionTime: 100, CompletionTime: 200, Status: "succeeded"}); err != nil {
					t.Fatalf("retried insert: %v", err)
				}
			}
			if hs, _ := db.StageHistories(ctx, "ABC", 20); len(hs) != 8 {
				t.Errorf("after a report sent 3 times: %d rows, want 8 (7 + 1)", len(hs))
			}
			if err := db.InsertStageHistory(ctx, store.StageHistory{Tenant: "ABC", InputRecords: -1}); err == nil {
				t.Error("negative inputRecords stored, want error")
			}
		})
	}
}

func TestStageHistoryPurgeOlderThan(t *testing.T) {
	t.Parallel()
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			ctx := context.Background()
			now := time.Date(2031, 11, 22, 0, 0, 0, 0, time.UTC)
			db.SetClock(func() time.Time { return now })
			for _, age := range []time.Duration{10 * time.Hour, 7 * time.Hour, 5 * time.Hour, time.Hour} {
				now = time.Date(2031, 11, 22, 12, 0, 0, 0, time.UTC).Add(-age)
				if err := db.InsertStageHistory(ctx, store.StageHistory{Tenant: "ABC", InputRecords: int64(age / time.Hour), Status: "succeeded"}); err != nil {
					t.Fatal(err)
				}
			}
			now = time.Date(2031, 11, 22, 2, 0, 0, 0, time.UTC)
			if err := db.InsertStageHistory(ctx, store.StageHistory{Tenant: "OTHER", InputRecords: 10, Status: "succeeded"}); err != nil {
				t.Fatal(err)
			}
			now = time.Date(2031, 11, 22, 12, 0, 0, 0, time.UTC)
			n, err := db.PurgeStageHistory(ctx, "ABC", 6*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			left, _ := db.StageHistories(ctx, "ABC", 20)
			var ages []int64
			for _, h := range left {
				ages = append(ages, h.InputRecords)
			}
			if n != 2 || fmt.Sprint(ages) != "[1 5]" {
				t.Errorf("purge 6h: deleted %d, left %v; want 2 deleted, left [1 5]", n, ages)
			}
			if other, _ := db.StageHistories(ctx, "OTHER", 20); len(other) != 1 {
				t.Errorf("another tenant's old report was purged")
			}
		})
	}
}

func TestScaleOverrideUpsertNullClearsAndResendSucceeds(t *testing.T) {
	t.Parallel()
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			ctx := context.Background()
			got, err := db.ScaleOverride(ctx, "ABC")
			if err != nil || got.Upscale != nil || got.Downscale != nil {
				t.Fatalf("no row: got %+v, %v; want both nil", got, err)
			}
			steps := []struct {
				name     string
				set      store.ScaleOverride
				wantUp   string
				wantDown string
			}{
				{"set both", store.ScaleOverride{Upscale: boolPtr(false), Downscale: boolPtr(true)}, "false", "true"},
				{"same values again", store.ScaleOverride{Upscale: boolPtr(false), Downscale: boolPtr(true)}, "false", "true"},
				{"clear upscale", store.ScaleOverride{Downscale: boolPtr(true)}, "nil", "true"},
				{"clear both", store.ScaleOverride{}, "nil", "nil"},
				{"clear both again", store.ScaleOverride{}, "nil", "nil"},
				{"set downscale false", store.ScaleOverride{Downscale: boolPtr(false)}, "nil", "false"},
			}
			for _, s := range steps {
				if err := db.SetScaleOverride(ctx, "ABC", s.set); err != nil {
					t.Fatalf("%s: %v", s.name, err)
				}
				o, err := db.ScaleOverride(ctx, "ABC")
				if err != nil {
					t.Fatal(err)
				}
				if show(o.Upscale) != s.wantUp || show(o.Downscale) != s.wantDown {
					t.Errorf("%s: got (%s, %s), want (%s, %s)", s.name, show(o.Upscale), show(o.Downscale), s.wantUp, s.wantDown)
				}
			}
		})
	}
}

func show(b *bool) string {
	if b == nil {
		return "nil"
	}
	return fmt.Sprint(*b)
}

func TestKafkaBaselinesPersistPerTenantAndTopic(t *testing.T) {
	t.Parallel()
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			ctx := context.Background()
			t0 := time.Date(2031, 11, 22, 10, 0, 0, 123e6, time.UTC)
			puts := []store.KafkaBaseline{
				{Tenant: "ABC", Topic: "logs.api", OffsetSum: 100, SampledAt: t0},
				{Tenant: "ABC", Topic: "logs.web", OffsetSum: 5, SampledAt: t0},
				{Tenant: "XYZ", Topic: "logs.api", OffsetSum: 9, SampledAt: t0},
				{Tenant: "ABC", Topic: "logs.api", OffsetSum: 250, SampledAt: t0.Add(time.Minute)},
			}
			for _, b := range puts {
				if err := db.PutKafkaBaseline(ctx, b); err != nil {
					t.Fatal(err)
				}
			}
			got, err := db.KafkaBaselines(ctx, "ABC")
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]store.KafkaBaseline{
				"logs.api": {Tenant: "ABC", Topic: "logs.api", OffsetSum: 250, SampledAt: t0.Add(time.Minute)},
				"logs.web": {Tenant: "ABC", Topic: "logs.web", OffsetSum: 5, SampledAt: t0},
			}
			if len(got) != len(want) {
				t.Fatalf("got %v, want %v", got, want)
			}
			for k, w := range want {
				if g := got[k]; g.OffsetSum != w.OffsetSum || !g.SampledAt.Equal(w.SampledAt) || g.Tenant != w.Tenant {
					t.Errorf("%s: got %+v, want %+v", k, g, w)
				}
			}
		})
	}
}
