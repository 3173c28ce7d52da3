package supervisor

import (
	"fmt"
	"time"

	"github.com/logwise/controlplane/shared/spark"
)

// ReplayState is what the replay decider knows of a replay row.
type ReplayState struct {
	ID               int64
	Phase, Step      string
	DueAt            time.Time
	ApprovalRequired bool
	Approved         bool
	// CleanerWired says whether the state cleaner is configured (a replay cannot run without).
	CleanerWired bool
}

// ReplayObserved is what the master shows the decider.
type ReplayObserved struct {
	MasterStatus spark.RecoveryState
	// AliveDrivers counts the job's alive drivers.
	AliveDrivers int
}

// StepKind is what the replay runner does next.
type StepKind string

// The steps of a replay. Each is acted on by one executor in advanceReplay.
const (
	// StepEnd: the replay's pipeline ended it (canceled before its approval point, judged
	// stop, taken over): it is closed and nothing more is killed, deleted or submitted.
	StepEnd StepKind = "END"
	// StepHold: its pipeline is paused; nothing is done. Mid-phase the check is the
	// replay's (the ordinary monitor must not restart the job); while waiting it is not.
	StepHold StepKind = "HOLD"
	// StepNotDue: the phase's time has not come.
	StepNotDue StepKind = "NOT_DUE"
	// StepAwaitApproval: due, but an operator must approve before anything is killed.
	StepAwaitApproval StepKind = "AWAIT_APPROVAL"
	// StepRefuse: due, but no state cleaner is wired: refuse before killing anything.
	StepRefuse StepKind = "REFUSE"
	// StepAwaitMaster: due, but the master is not ALIVE.
	StepAwaitMaster StepKind = "AWAIT_MASTER"
	// StepKill: kill the job's drivers (entering KILLING from WAITING, or again while they
	// stop); once none is alive the same executor moves on to cleaning.
	StepKill StepKind = "KILL"
	// StepClean: delete the checkpoint and <logsDir>/_spark_metadata.
	StepClean StepKind = "CLEAN"
	// StepSubmit: submit the phase (unless a driver is already alive: then record it).
	StepSubmit StepKind = "SUBMIT"
)

// Step is the decider's answer.
type Step struct {
	Kind StepKind
	// Handled says whether the replay owns this check (the ordinary monitor must not act).
	Handled bool
	Reason  string
}

// Next decides a replay's next step from its row, its pipeline's verdict, the master and the
// time, without I/O. The order is the runner's: the pipeline's word first (ended, paused),
// then the step the row is in; a waiting phase must be due, approved when approval is
// required, have a cleaner and an ALIVE master before the driver is killed.
func Next(s ReplayState, v verdict, o ReplayObserved, now time.Time) Step {
	switch {
	case v.Ended:
		return Step{Kind: StepEnd, Reason: "ended: " + v.Reason}
	case v.Paused:
		return Step{Kind: StepHold, Handled: s.Step != StepWaiting, Reason: "no step taken: " + v.Reason}
	}
	switch s.Step {
	case StepKilling:
		return Step{Kind: StepKill, Handled: true, Reason: fmt.Sprintf("replay %d (%s): %d alive drivers of the job to stop", s.ID, s.Phase, o.AliveDrivers)}
	case StepCleaning:
		return Step{Kind: StepClean, Handled: true, Reason: fmt.Sprintf("replay %d (%s): delete the state", s.ID, s.Phase)}
	case StepSubmitting:
		return Step{Kind: StepSubmit, Handled: true, Reason: fmt.Sprintf("replay %d (%s): submit", s.ID, s.Phase)}
	}
	approved := s.Approved || v.ApprovedBy != ""
	switch {
	case now.Before(s.DueAt):
		return Step{Kind: StepNotDue, Reason: "due at " + s.DueAt.UTC().Format(time.RFC3339)}
	case s.ApprovalRequired && !approved:
		return Step{Kind: StepAwaitApproval, Reason: "due, waiting for an operator's approval before the driver is killed and the state deleted"}
	case !s.CleanerWired:
		return Step{Kind: StepRefuse, Handled: true, Reason: fmt.Sprintf("replay %d is due but no state cleaner is wired", s.ID)}
	case o.MasterStatus != spark.Alive:
		return Step{Kind: StepAwaitMaster, Handled: true, Reason: fmt.Sprintf("replay %d due but the master is %s", s.ID, statusName(o.MasterStatus))}
	}
	return Step{Kind: StepKill, Handled: true, Reason: fmt.Sprintf("replay %d (%s) is due: kill the job's %d alive drivers", s.ID, s.Phase, o.AliveDrivers)}
}
