package supervisor

import (
	"fmt"
	"strings"
	"time"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/spark"
	"github.com/logwise/controlplane/shared/store"
)

// Action is what a check decided (and, in a Result, did).
type Action string

// The actions.
const (
	// Keep: a driver of the job is alive; nothing to do.
	Keep Action = "NONE"
	// WaitForMaster: the master is not ALIVE (standby or recovering); never submit then.
	WaitForMaster Action = "WAIT_FOR_MASTER"
	// Submit: no driver is alive and the budget allows a submission.
	Submit Action = "SUBMIT"
	// Backoff: no driver is alive but the last submission was too recent.
	Backoff Action = "BACKOFF"
	// EnterCrashLoop: the budget is spent; the tenant goes to CRASH_LOOP.
	EnterCrashLoop Action = "ENTER_CRASH_LOOP"
	// Hold: the tenant is in CRASH_LOOP or PAUSED and waits for an operator.
	Hold Action = "HOLD"
	// Busy: another invocation holds the tenant's lease (only in a Result, never decided).
	Busy Action = "BUSY"
	// WaitForWorkers: the job's driver is SUBMITTED but the master has no alive worker to
	// start it on: it is not running (reported down), and not resubmitted either (a second
	// driver would start beside it once a worker joins).
	WaitForWorkers Action = "WAIT_FOR_WORKERS"
)

// Supervision states of a tenant.
const (
	StateActive    = store.SupervisionActive
	StateCrashLoop = store.SupervisionCrashLoop
	StatePaused    = store.SupervisionPaused
)

// Budget is the crash-loop state the decision needs: the tenant's supervision state and the
// times of the submissions that count against the budget (inside the window and after the
// last resume), oldest first.
type Budget struct {
	State             string
	RecentSubmissions []time.Time
	Policy            config.CrashLoop
	// Version is the supervision row's version when read (0: no row), so that a state
	// change based on this budget is refused if an operator changed the state meanwhile.
	Version uint64
}

// Observation is everything Decide looks at.
type Observation struct {
	Master spark.MasterState
	// MainClass identifies the job's drivers in /json (the "mainclass" of each driver is the
	// submission's mainClass); empty matches every driver.
	MainClass string
	Budget    Budget
	Now       time.Time
}

// Decision is the outcome of Decide.
type Decision struct {
	Action Action
	Reason string
	// Alive are the job's alive drivers, newest first; Alive[0] is the one reported.
	Alive []spark.Driver
	// NotBefore is when a submission is next allowed (Backoff).
	NotBefore time.Time
	// Duplicates are alive drivers of the job beside Alive[0] (Spark's supervise relaunch
	// can leave two, SPARK-27347) that must be killed: two drivers on one checkpoint
	// corrupt it. Only decided while the master is ALIVE.
	Duplicates []spark.Driver
}

// Running reports whether the decision found a driver of the job that is running or able
// to run (SparkDriverAlive).
func (d Decision) Running() bool { return len(d.Alive) > 0 && d.Action != WaitForWorkers }

// Alive reports whether a driver in state s counts as alive: SUBMITTED (waiting for
// resources), RUNNING, RELAUNCHING (a supervised restart in progress) and UNKNOWN (the master
// is recovering). Resubmitting in any of these would risk two drivers on one checkpoint.
func Alive(s spark.DriverState) bool {
	switch s {
	case spark.Submitted, spark.Running, spark.Relaunching, spark.Unknown:
		return true
	}
	return false
}

// Decide is the monitor's rule, without I/O: keep an alive driver; never submit while the
// master is not ALIVE; hold while the tenant is in CRASH_LOOP or PAUSED; enter CRASH_LOOP when
// the window already holds MaxSubmissions submissions; wait out the backoff (BackoffSeconds,
// doubling with each submission in the window); otherwise submit.
func Decide(o Observation) Decision {
	var alive []spark.Driver
	for i := len(o.Master.ActiveDrivers) - 1; i >= 0; i-- {
		d := o.Master.ActiveDrivers[i]
		if (o.MainClass == "" || d.MainClass == o.MainClass) && Alive(d.State) {
			alive = append(alive, d)
		}
	}
	if len(alive) > 0 {
		alive = keeperFirst(alive)
		d := Decision{Action: Keep, Reason: fmt.Sprintf("driver %s is %s", alive[0].ID, alive[0].State), Alive: alive}
		if len(alive) > 1 {
			ids := make([]string, len(alive))
			for i, d := range alive {
				ids[i] = d.ID + " " + string(d.State)
			}
			d.Reason += fmt.Sprintf("; %d alive drivers of the job (%s): duplicates", len(alive), strings.Join(ids, ", "))
			if o.Master.Status == spark.Alive {
				d.Duplicates = alive[1:]
				d.Reason += "; all but " + alive[0].ID + " are killed"
			}
		}
		if o.Master.Status == spark.Alive && o.Master.AliveWorkers == 0 && alive[0].State == spark.Submitted {
			d.Action = WaitForWorkers
			d.Reason = fmt.Sprintf("driver %s is SUBMITTED but the master has no alive worker to start it on", alive[0].ID)
		}
		return d
	}
	if o.Master.Status != spark.Alive {
		return Decision{Action: WaitForMaster, Reason: fmt.Sprintf("master is %s, not ALIVE: nothing is submitted until it is", statusName(o.Master.Status))}
	}
	switch o.Budget.State {
	case StateCrashLoop:
		return Decision{Action: Hold, Reason: "tenant is in CRASH_LOOP: waiting for an operator to resume"}
	case StatePaused:
		return Decision{Action: Hold, Reason: "automatic resubmission is paused by an operator"}
	}
	p := o.Budget.Policy
	n := len(o.Budget.RecentSubmissions)
	if p.MaxSubmissions > 0 && n >= p.MaxSubmissions {
		return Decision{Action: EnterCrashLoop, Reason: fmt.Sprintf("no driver alive after %d submissions within %d minutes", n, p.WindowMinutes)}
	}
	if n > 0 && p.BackoffSeconds > 0 {
		wait := time.Duration(p.BackoffSeconds) * time.Second << min(n-1, 20)
		next := o.Budget.RecentSubmissions[n-1].Add(wait)
		if o.Now.Before(next) {
			return Decision{Action: Backoff, NotBefore: next,
				Reason: fmt.Sprintf("no driver alive; backing off %s after submission %d of %d in the window", wait, n, p.MaxSubmissions)}
		}
	}
	return Decision{Action: Submit, Reason: noDriverReason(o)}
}

// keeperFirst orders the job's alive drivers (newest first) so that the one to keep comes
// first: the newest RUNNING driver, else the newest.
func keeperFirst(alive []spark.Driver) []spark.Driver {
	for i, d := range alive {
		if d.State == spark.Running {
			out := append([]spark.Driver{d}, alive[:i]...)
			return append(out, alive[i+1:]...)
		}
	}
	return alive
}

func statusName(s spark.RecoveryState) string {
	if s == "" {
		return "in an unknown state"
	}
	return string(s)
}

// noDriverReason says what the job's drivers look like when none is alive.
func noDriverReason(o Observation) string {
	for _, ds := range [][]spark.Driver{o.Master.ActiveDrivers, o.Master.CompletedDrivers} {
		for i := len(ds) - 1; i >= 0; i-- {
			if o.MainClass == "" || ds[i].MainClass == o.MainClass {
				return fmt.Sprintf("no driver alive (latest %s is %s)", ds[i].ID, ds[i].State)
			}
		}
	}
	return "no driver of the job on the master"
}
