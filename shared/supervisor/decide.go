package supervisor

import (
	"fmt"
	"strings"
	"time"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/spark"
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
)

// Supervision states of a tenant.
const (
	StateActive    = "ACTIVE"
	StateCrashLoop = "CRASH_LOOP"
	StatePaused    = "PAUSED"
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
}

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
		r := fmt.Sprintf("driver %s is %s", alive[0].ID, alive[0].State)
		if len(alive) > 1 {
			ids := make([]string, len(alive))
			for i, d := range alive {
				ids[i] = d.ID + " " + string(d.State)
			}
			r += fmt.Sprintf("; %d alive drivers of the job (%s): duplicates", len(alive), strings.Join(ids, ", "))
		}
		return Decision{Action: Keep, Reason: r, Alive: alive}
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
