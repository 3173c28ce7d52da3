package supervisor

import (
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/spark"
)

// TestNextOverEveryStepAndFailure is the replay decider's table: every step a row can be in,
// each pipeline verdict, and every reason a due phase may not start.
func TestNextOverEveryStepAndFailure(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	due := ReplayState{ID: 7, Phase: PhaseTimestamp, Step: StepWaiting, DueAt: now.Add(-time.Minute), CleanerWired: true}
	with := func(f func(*ReplayState)) ReplayState { s := due; f(&s); return s }
	alive := ReplayObserved{MasterStatus: spark.Alive, AliveDrivers: 1}
	tests := []struct {
		name    string
		state   ReplayState
		verdict verdict
		obs     ReplayObserved
		want    StepKind
		handled bool
	}{
		{"waiting, due, master alive: kill", due, verdict{}, alive, StepKill, true},
		{"waiting, resume phase due: kill", with(func(s *ReplayState) { s.Phase = PhaseResume }), verdict{}, alive, StepKill, true},
		{"waiting, not due", with(func(s *ReplayState) { s.DueAt = now.Add(time.Minute) }), verdict{}, alive, StepNotDue, false},
		{"waiting, approval required, none", with(func(s *ReplayState) { s.ApprovalRequired = true }), verdict{}, alive, StepAwaitApproval, false},
		{"waiting, approved on the row", with(func(s *ReplayState) { s.ApprovalRequired, s.Approved = true, true }), verdict{}, alive, StepKill, true},
		{"waiting, approved by the judgment", with(func(s *ReplayState) { s.ApprovalRequired = true }), verdict{ApprovedBy: "bob"}, alive, StepKill, true},
		{"waiting, no cleaner", with(func(s *ReplayState) { s.CleanerWired = false }), verdict{}, alive, StepRefuse, true},
		{"waiting, master standby", due, verdict{}, ReplayObserved{MasterStatus: spark.Standby}, StepAwaitMaster, true},
		{"waiting, master recovering", due, verdict{}, ReplayObserved{MasterStatus: spark.Recovering}, StepAwaitMaster, true},
		{"waiting, master unknown", due, verdict{}, ReplayObserved{}, StepAwaitMaster, true},
		{"waiting, no driver alive: still the kill step (it verifies none)", due, verdict{}, ReplayObserved{MasterStatus: spark.Alive}, StepKill, true},
		{"waiting, paused: the monitor goes on", due, verdict{Paused: true, Reason: "paused by bob"}, alive, StepHold, false},
		{"waiting, ended", due, verdict{Ended: true, Reason: "canceled"}, alive, StepEnd, false},
		{"killing", with(func(s *ReplayState) { s.Step = StepKilling }), verdict{}, alive, StepKill, true},
		{"killing, master standby: the kill step still runs (kill requests are idempotent)", with(func(s *ReplayState) { s.Step = StepKilling }), verdict{}, ReplayObserved{MasterStatus: spark.Standby}, StepKill, true},
		{"killing, paused: the replay holds the job", with(func(s *ReplayState) { s.Step = StepKilling }), verdict{Paused: true}, alive, StepHold, true},
		{"killing, ended by a takeover", with(func(s *ReplayState) { s.Step = StepKilling }), verdict{Ended: true, Reason: "taken over"}, alive, StepEnd, false},
		{"cleaning", with(func(s *ReplayState) { s.Step = StepCleaning }), verdict{}, ReplayObserved{MasterStatus: spark.Alive}, StepClean, true},
		{"cleaning, paused", with(func(s *ReplayState) { s.Step = StepCleaning }), verdict{Paused: true}, alive, StepHold, true},
		{"submitting", with(func(s *ReplayState) { s.Step = StepSubmitting }), verdict{}, ReplayObserved{MasterStatus: spark.Alive}, StepSubmit, true},
		{"submitting, a driver already alive: the submit step records it", with(func(s *ReplayState) { s.Step = StepSubmitting }), verdict{}, alive, StepSubmit, true},
		{"submitting, paused", with(func(s *ReplayState) { s.Step = StepSubmitting }), verdict{Paused: true}, alive, StepHold, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Next(tt.state, tt.verdict, tt.obs, now)
			if got.Kind != tt.want || got.Handled != tt.handled || got.Reason == "" {
				t.Errorf("Next(%+v, %+v, %+v) = %+v; want %s handled=%v with a reason", tt.state, tt.verdict, tt.obs, got, tt.want, tt.handled)
			}
		})
	}
}
