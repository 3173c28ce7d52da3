// Package executions is the Orca-compatible execution model of the control plane: every
// automatic action is written as an orchestration (with stages) in Orca's tables, in the local
// partition, so that operators can read why something happened and peers can copy it.
package executions

import (
	"crypto/rand"
	"time"

	"github.com/oklog/ulid/v2"
)

// Type is an execution type, as Orca names it.
type Type string

// The execution types.
const (
	Pipeline      Type = "pipeline"
	Orchestration Type = "orchestration"
)

// Status is an execution or stage status (Orca's ExecutionStatus).
type Status string

// The statuses Orca's schema allows.
const (
	NotStarted     Status = "NOT_STARTED"
	Buffered       Status = "BUFFERED"
	Running        Status = "RUNNING"
	Paused         Status = "PAUSED"
	Suspended      Status = "SUSPENDED"
	Succeeded      Status = "SUCCEEDED"
	FailedContinue Status = "FAILED_CONTINUE"
	Terminal       Status = "TERMINAL"
	Canceled       Status = "CANCELED"
	Redirect       Status = "REDIRECT"
	Stopped        Status = "STOPPED"
	Skipped        Status = "SKIPPED"
)

// Complete reports whether s is a final status.
func (s Status) Complete() bool {
	switch s {
	case Succeeded, FailedContinue, Terminal, Canceled, Stopped, Skipped:
		return true
	}
	return false
}

// NewID returns a new ULID, the id format of Orca executions and stages.
func NewID(now time.Time) string {
	return ulid.MustNew(ulid.Timestamp(now), rand.Reader).String()
}

// Action is an automatic action to record: what was done (Kind), for which tenant, with the
// inputs the decision saw, the rule that decided it, and what came of it. Each step becomes a
// stage; an action without steps gets one stage named after its kind.
type Action struct {
	Tenant      string
	Kind        string // camelCase stage type, e.g. sparkSubmission, scaleWorkers, serviceOnboarding
	Description string
	Inputs      map[string]any
	Rule        string
	Outcome     map[string]any
	Status      Status // default SUCCEEDED
	Steps       []Step
	Trigger     string // what started it: schedule, api, intake, operator
	StartTime   time.Time
	EndTime     time.Time
}

// Step is one stage of an action.
type Step struct {
	Name      string
	Type      string
	Status    Status
	Context   map[string]any
	StartTime time.Time
	EndTime   time.Time
}
