package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/store"
)

// TestSparkSupervisionStateAndBudget: no row is ACTIVE at version 0; entering CRASH_LOOP is
// refused on a stale version or a stale lease; an operator's resume restarts the window;
// every attempt but a replay's counts against the budget, a refused one too.
func TestSparkSupervisionStateAndBudget(t *testing.T) {
	t.Parallel()
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			ctx := context.Background()
			t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
			sup, err := db.SparkSupervision(ctx, "ABC")
			if err != nil || sup.State != store.SupervisionActive || sup.Version != 0 {
				t.Fatalf("no row: %+v, %v; want ACTIVE at version 0", sup, err)
			}
			lease, err := db.AcquireLease(ctx, "sparkmonitor/ABC", "a", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			for i, outcome := range []string{"ACCEPTED", "FAILED", "UNKNOWN"} {
				id, err := db.RecordSubmissionAttempt(ctx, lease, store.SparkSubmission{Tenant: "ABC", SubmittedAt: t0.Add(time.Duration(i) * time.Minute),
					Reason: "no driver", Trigger: "schedule", RequestBody: "{}"})
				if err != nil {
					t.Fatal(err)
				}
				if err := db.RecordSubmissionOutcome(ctx, id, "driver-"+outcome, outcome, "", ""); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.RecordSubmissionAttempt(ctx, lease, store.SparkSubmission{Tenant: "ABC", SubmittedAt: t0.Add(4 * time.Minute), Trigger: "replay"}); err != nil {
				t.Fatal(err)
			}
			if got, err := db.CountedSubmissions(ctx, "ABC", t0); err != nil || len(got) != 3 {
				t.Errorf("counted submissions %v, %v; want the 3 non-replay attempts, FAILED included", got, err)
			}
			if subs, err := db.SparkSubmissions(ctx, "ABC", 10); err != nil || len(subs) != 4 || subs[0].Trigger != "replay" || subs[1].Outcome != "UNKNOWN" {
				t.Errorf("submissions %+v, %v; want 4, newest first", subs, err)
			}
			if changed, err := db.EnterCrashLoop(ctx, lease, "ABC", "budget spent", 7, t0); err != nil || changed {
				t.Errorf("crash loop on a stale version: %v, %v; want refused", changed, err)
			}
			if changed, err := db.EnterCrashLoop(ctx, lease, "ABC", "budget spent", 0, t0); err != nil || !changed {
				t.Fatalf("crash loop: %v, %v", changed, err)
			}
			stale := lease
			stale.Token++
			if _, err := db.EnterCrashLoop(ctx, stale, "ABC", "x", 1, t0); !errors.Is(err, store.ErrStaleToken) {
				t.Errorf("crash loop under a stale lease: %v, want ErrStaleToken", err)
			}
			prev, err := db.SetSupervisionByOperator(ctx, "ABC", "alice", store.SupervisionActive, "resumed by alice", t0.Add(10*time.Minute))
			if err != nil || prev != store.SupervisionCrashLoop {
				t.Fatalf("resume: %q, %v", prev, err)
			}
			sup, _ = db.SparkSupervision(ctx, "ABC")
			if sup.State != store.SupervisionActive || sup.Version != 2 || !sup.Resumed.Equal(t0.Add(10*time.Minute)) {
				t.Errorf("after resume: %+v; want ACTIVE, version 2, resumed at +10m", sup)
			}
		})
	}
}
