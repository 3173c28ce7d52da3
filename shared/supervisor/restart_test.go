package supervisor

import (
	"context"
	"testing"
	"time"

	"github.com/logwise/controlplane/internal/mariadbtest"
	"github.com/logwise/controlplane/shared/spark/sparktest"
	"github.com/logwise/controlplane/shared/store"
)

// TestRunAcrossMariaDBRestart restarts the supervisor's MariaDB in the middle of a scheduled
// run, right after the driver failed: the run either resubmits through the reconnected pool
// or fails cleanly; the next scheduled run then finishes the job, and in all the master
// received exactly one resubmission and the database holds exactly one row for it.
func TestRunAcrossMariaDBRestart(t *testing.T) {
	t.Parallel()
	srv := mariadbtest.Start(t)
	ctx := context.Background()
	if err := srv.CreateDatabase(ctx, "logwise"); err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, srv.Config("logwise"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e := newEnvOn(t, db, sparktest.Options{})
	first := startRunningDriver(t, e)
	e.clock.advance(time.Minute)

	s := e.supervisor()
	sleeps := 0
	s.SetClock(e.clock.now, func(ctx context.Context, d time.Duration) error {
		sleeps++
		if sleeps == 1 {
			e.master.ErrorDriver(first, "executor lost")
			if err := srv.Restart(); err != nil {
				t.Fatal(err)
			}
		}
		return e.clock.sleep(ctx, d)
	})
	for inv := 1; inv <= 3; inv++ {
		rep, err := runOnce(t, e, s)
		var actions []Action
		for _, c := range rep.Checks {
			actions = append(actions, c.Action)
		}
		t.Logf("run %d: polls %v, error %v", inv, actions, err)
		e.clock.advance(time.Minute)
	}
	drivers := e.master.Drivers()
	t.Logf("the master knows %d drivers: %+v", len(drivers), drivers)
	if len(drivers) != 2 {
		t.Errorf("the master received %d submissions in all, want 2 (the initial one and one resubmission)", len(drivers))
	}
	act := e.master.ActiveDrivers()
	if len(act) != 1 || act[0].ID == first {
		t.Errorf("active drivers %+v, want exactly the resubmitted one", act)
	}
	rows := e.rows(t)
	accepted := 0
	for _, r := range rows {
		if r.Outcome == "ACCEPTED" {
			accepted++
		}
	}
	t.Logf("submission rows: %d, %d ACCEPTED", len(rows), accepted)
	if accepted != 2 || len(act) == 1 && rows[0].SubmissionID != act[0].ID {
		t.Errorf("rows %+v: want 2 ACCEPTED, the newest naming the active driver", rows)
	}
}
