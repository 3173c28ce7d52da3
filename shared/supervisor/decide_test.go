package supervisor

import (
	"fmt"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/spark"
)

const job = "com.logwise.spark.MainApplication"

var policy = config.CrashLoop{MaxSubmissions: 3, WindowMinutes: 30, BackoffSeconds: 30}

func master(status spark.RecoveryState, drivers ...spark.Driver) spark.MasterState {
	return spark.MasterState{Status: status, ActiveDrivers: drivers}
}

func drv(id string, s spark.DriverState) spark.Driver {
	return spark.Driver{ID: id, State: s, MainClass: job}
}

// TestDecideOverEveryDriverAndMasterState covers the cross product of DriverState and
// RecoveryState for a single driver of the job, plus no driver at all.
func TestDecideOverEveryDriverAndMasterState(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	alive := map[spark.DriverState]bool{spark.Submitted: true, spark.Running: true, spark.Relaunching: true, spark.Unknown: true,
		spark.Finished: false, spark.Killed: false, spark.Failed: false, spark.Error: false}
	if len(alive) != len(spark.DriverStates) {
		t.Fatalf("the table covers %d driver states, Spark has %d", len(alive), len(spark.DriverStates))
	}
	for _, ms := range spark.RecoveryStates {
		for _, ds := range append([]spark.DriverState{""}, spark.DriverStates...) {
			name := fmt.Sprintf("master %s, driver %s", ms, ds)
			if ds == "" {
				name = fmt.Sprintf("master %s, no driver", ms)
			}
			t.Run(name, func(t *testing.T) {
				m := master(ms)
				if ds != "" {
					m = master(ms, drv("driver-1", ds))
				}
				got := Decide(Observation{Master: m, MainClass: job, Budget: Budget{State: StateActive, Policy: policy}, Now: now})
				var want Action
				switch {
				case ds == spark.Submitted && ms == spark.Alive: // master() has no alive worker
					want = WaitForWorkers
				case alive[ds]:
					want = Keep
				case ms != spark.Alive:
					want = WaitForMaster
				default:
					want = Submit
				}
				if got.Action != want {
					t.Errorf("got %s (%s), want %s", got.Action, got.Reason, want)
				}
				if Alive(ds) != alive[ds] {
					t.Errorf("Alive(%q) = %v, want %v", ds, Alive(ds), alive[ds])
				}
			})
		}
	}
}

func TestDecideBudgetAndMatching(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	cases := []struct {
		name   string
		master spark.MasterState
		budget Budget
		want   Action
		alive  int
	}{
		{"another job's RUNNING driver does not count", master(spark.Alive, spark.Driver{ID: "d", State: spark.Running, MainClass: "other.Main"}),
			Budget{Policy: policy}, Submit, 0},
		{"finished driver then a waiting one", master(spark.Alive, drv("a", spark.Finished), drv("b", spark.Submitted)),
			Budget{Policy: policy}, WaitForWorkers, 1},
		{"two alive drivers are reported as duplicates", master(spark.Alive, drv("a", spark.Running), drv("b", spark.Running)),
			Budget{Policy: policy}, Keep, 2},
		{"crash loop holds", master(spark.Alive), Budget{State: StateCrashLoop, Policy: policy}, Hold, 0},
		{"paused holds", master(spark.Alive), Budget{State: StatePaused, Policy: policy}, Hold, 0},
		{"crash loop never overrides an alive driver", master(spark.Alive, drv("a", spark.Running)), Budget{State: StateCrashLoop, Policy: policy}, Keep, 1},
		{"standby master beats crash loop", master(spark.Standby), Budget{State: StateCrashLoop, Policy: policy}, WaitForMaster, 0},
		{"first backoff 30 s not yet over", master(spark.Alive), Budget{Policy: policy, RecentSubmissions: []time.Time{ago(29 * time.Second)}}, Backoff, 0},
		{"first backoff over", master(spark.Alive), Budget{Policy: policy, RecentSubmissions: []time.Time{ago(30 * time.Second)}}, Submit, 0},
		{"second backoff doubles to 60 s", master(spark.Alive), Budget{Policy: policy, RecentSubmissions: []time.Time{ago(5 * time.Minute), ago(59 * time.Second)}}, Backoff, 0},
		{"second backoff over", master(spark.Alive), Budget{Policy: policy, RecentSubmissions: []time.Time{ago(5 * time.Minute), ago(61 * time.Second)}}, Submit, 0},
		{"budget spent enters crash loop", master(spark.Alive), Budget{Policy: policy, RecentSubmissions: []time.Time{ago(20 * time.Minute), ago(10 * time.Minute), ago(5 * time.Minute)}}, EnterCrashLoop, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Decide(Observation{Master: c.master, MainClass: job, Budget: c.budget, Now: now})
			if got.Action != c.want || len(got.Alive) != c.alive {
				t.Errorf("got %s with %d alive (%s), want %s with %d alive", got.Action, len(got.Alive), got.Reason, c.want, c.alive)
			}
		})
	}
	d := Decide(Observation{Master: master(spark.Alive, drv("a", spark.Running), drv("b", spark.Submitted)), MainClass: job, Now: now})
	if d.Alive[0].ID != "a" || len(d.Duplicates) != 1 || d.Duplicates[0].ID != "b" {
		t.Errorf("the newest RUNNING driver should be kept and reported first, the other killed: got %s, duplicates %v", d.Alive[0].ID, d.Duplicates)
	}
	d = Decide(Observation{Master: master(spark.Alive, drv("a", spark.Running), drv("b", spark.Running)), MainClass: job, Now: now})
	if d.Alive[0].ID != "b" || len(d.Duplicates) != 1 || d.Duplicates[0].ID != "a" {
		t.Errorf("of two RUNNING drivers the newest is kept: got %s, duplicates %v", d.Alive[0].ID, d.Duplicates)
	}
	d = Decide(Observation{Master: master(spark.Recovering, drv("a", spark.Unknown), drv("b", spark.Unknown)), MainClass: job, Now: now})
	if len(d.Duplicates) != 0 {
		t.Errorf("duplicates killed while the master recovers: %v", d.Duplicates)
	}
}
