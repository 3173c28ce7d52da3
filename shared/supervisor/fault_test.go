package supervisor

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/spark"
	"github.com/logwise/controlplane/shared/spark/sparktest"
)

// startRunningDriver submits the job through an API check and lets the master launch it.
func startRunningDriver(t *testing.T, e *env) string {
	t.Helper()
	res, err := e.supervisor().Check(context.Background(), e.tenant, Options{})
	if err != nil || res.Action != Submit {
		t.Fatalf("initial check: %+v, %v", res, err)
	}
	e.master.Step()
	if d, ok := e.master.Driver(res.SubmissionID); !ok || d.State != spark.Running {
		t.Fatalf("driver %s is %+v, want RUNNING", res.SubmissionID, d)
	}
	return res.SubmissionID
}

// runOnce runs one scheduled invocation under the tenant's lease.
func runOnce(t *testing.T, e *env, s *Supervisor) (Report, error) {
	t.Helper()
	ctx := context.Background()
	lease, err := e.db.AcquireLease(ctx, LeaseName(e.tenant.Name), "schedule", LeaseTTL)
	if err != nil {
		t.Fatal(err)
	}
	defer e.db.ReleaseLease(ctx, lease)
	return s.Run(ctx, e.tenant, lease)
}

// TestMasterFlipsToStandbyBetweenPolls: the driver fails and the master turns STANDBY after
// the first poll of a scheduled run; the next two polls submit nothing; the master is ALIVE
// again for the fourth poll, which submits the job once.
func TestMasterFlipsToStandbyBetweenPolls(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sparktest.Options{})
	first := startRunningDriver(t, e)
	s := e.supervisor()
	sleeps := 0
	drivers := []int{}
	s.SetClock(e.clock.now, func(ctx context.Context, d time.Duration) error {
		sleeps++
		drivers = append(drivers, len(e.master.Drivers()))
		switch sleeps {
		case 1:
			e.master.ErrorDriver(first, "worker lost")
			e.master.SetStandby(true)
		case 3:
			e.master.SetStandby(false)
		}
		return e.clock.sleep(ctx, d)
	})
	rep, err := runOnce(t, e, s)
	if err != nil {
		t.Fatal(err)
	}
	var actions []Action
	for _, c := range rep.Checks {
		actions = append(actions, c.Action)
	}
	t.Logf("polls: %v (master status per poll: %v, %v, %v, %v); drivers known to the master at each sleep: %v",
		actions, rep.Checks[0].MasterStatus, rep.Checks[1].MasterStatus, rep.Checks[2].MasterStatus, rep.Checks[3].MasterStatus, drivers)
	want := []Action{Keep, WaitForMaster, WaitForMaster, Submit}
	if len(actions) != len(want) {
		t.Fatalf("got polls %v, want %v", actions, want)
	}
	for i := range want {
		if actions[i] != want[i] {
			t.Errorf("poll %d: got %s, want %s", i+1, actions[i], want[i])
		}
	}
	if drivers[1] != 1 || drivers[2] != 1 {
		t.Errorf("the master received a submission while STANDBY: drivers at each sleep %v", drivers)
	}
	if act := e.master.ActiveDrivers(); len(act) != 1 || act[0].ID != rep.Checks[3].SubmissionID {
		t.Errorf("active drivers %+v, want exactly the resubmitted %s", act, rep.Checks[3].SubmissionID)
	}
	if rows := e.rows(t); len(rows) != 2 || rows[0].Outcome != "ACCEPTED" || rows[1].Outcome != "ACCEPTED" {
		t.Errorf("submission rows %+v, want the initial and the one resubmission, both ACCEPTED", rows)
	}
}

// standbyOnSubmit is the tenant's client, except that the master turns STANDBY just before
// the first submission reaches it: it flips between the supervisor's decision and its submit.
type standbyOnSubmit struct {
	Cluster
	master  *sparktest.Master
	flipped bool
}

func (c *standbyOnSubmit) Submit(ctx context.Context, req *spark.CreateRequest) (spark.Submission, error) {
	if !c.flipped {
		c.flipped = true
		c.master.SetStandby(true)
	}
	return c.Cluster.Submit(ctx, req)
}

// TestMasterFlipsToStandbyAtSubmit: the master turns STANDBY after the supervisor decided to
// submit. The submission is refused (an Unavailable error naming the standby master, recorded
// as FAILED), no driver is created, and the next scheduled run, with the master ALIVE again,
// submits exactly once.
func TestMasterFlipsToStandbyAtSubmit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sparktest.Options{})
	first := startRunningDriver(t, e)
	e.master.ErrorDriver(first, "worker lost")
	client := spark.New(spark.Config{Masters: spark.ConfigFrom(e.tenant.Spark).Masters, Timeout: 2 * time.Second})
	wrapped := &standbyOnSubmit{Cluster: client, master: e.master}
	e.deps.Clients = func(_ config.Tenant) (Cluster, error) { return wrapped, nil }
	s := e.supervisor()
	e.clock.advance(time.Minute) // past the back-off after the initial submission

	rep, err := runOnce(t, e, s)
	t.Logf("run during the flip: %d check(s), last %s (%s), error %v", len(rep.Checks), rep.Checks[len(rep.Checks)-1].Action, rep.Checks[len(rep.Checks)-1].Reason, err)
	if !errors.Is(err, spark.ErrStandby) {
		t.Fatalf("got error %v, want one matching spark.ErrStandby", err)
	}
	if act := e.master.ActiveDrivers(); len(act) != 0 {
		t.Fatalf("a driver was created while the master was STANDBY: %+v", act)
	}
	e.master.SetStandby(false)
	e.clock.advance(time.Minute)
	rep, err = runOnce(t, e, s)
	t.Logf("next run, master ALIVE: %d check(s), error %v", len(rep.Checks), err)
	if err != nil {
		t.Fatal(err)
	}
	last := rep.Checks[len(rep.Checks)-1]
	if last.Action != Submit || len(rep.Checks) != 1 {
		t.Fatalf("next run: %+v, want one check that submits", rep.Checks)
	}
	act := e.master.ActiveDrivers()
	if len(act) != 1 || act[0].ID != last.SubmissionID {
		t.Errorf("active drivers %+v, want only %s", act, last.SubmissionID)
	}
	rows := e.rows(t)
	var outcomes []string
	for _, r := range rows {
		outcomes = append(outcomes, r.Outcome)
	}
	t.Logf("submission rows, newest first: %v", outcomes)
	if len(rows) != 3 || rows[0].Outcome != "ACCEPTED" || rows[1].Outcome != "FAILED" || rows[2].Outcome != "ACCEPTED" {
		t.Errorf("submission outcomes %v, want ACCEPTED (resubmission), FAILED (standby), ACCEPTED (initial)", outcomes)
	}
}
