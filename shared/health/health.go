// Package health checks a tenant's log pipeline hop by hop: Vector (the shipper), Kafka (the
// buffer), Spark (the streaming job) and S3 (where logs land). Each check answers UP, WARNING
// or DOWN with a plain message naming the hop that fails; the overall verdict and the HTTP
// status are pure functions of the checks. The body keeps the Logwise /pipeline/health shape.
package health

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Status is a check's verdict.
type Status string

// The verdicts, from best to worst.
const (
	Up      Status = "UP"
	Warning Status = "WARNING" // working, with a problem an operator should look at
	Down    Status = "DOWN"    // this hop does not pass logs on
)

func (s Status) rank() int {
	switch s {
	case Up:
		return 0
	case Warning:
		return 1
	}
	return 2
}

// The components, in the order they appear in a report.
const (
	Vector = "vector"
	Kafka  = "kafka"
	Spark  = "spark"
	S3     = "s3"
)

// Check is one component's verdict. Details are extra fields written beside status and
// message (e.g. responseCode, brokers), as the Logwise body has them.
type Check struct {
	Status  Status
	Message string
	Details map[string]any
}

// MarshalJSON writes {"status","message",...details}.
func (c Check) MarshalJSON() ([]byte, error) {
	m := make(map[string]any, len(c.Details)+2)
	for k, v := range c.Details {
		m[k] = v
	}
	m["status"], m["message"] = c.Status, c.Message
	return json.Marshal(m)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (c *Check) UnmarshalJSON(b []byte) error {
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	s, _ := m["status"].(string)
	msg, _ := m["message"].(string)
	delete(m, "status")
	delete(m, "message")
	*c = Check{Status: Status(s), Message: msg, Details: m}
	return nil
}

// ComponentCheck pairs a component with its check.
type ComponentCheck struct {
	Component string `json:"component"`
	Check     Check  `json:"check"`
}

// Report is the pipeline health of one tenant.
type Report struct {
	Status  Status           `json:"status"`
	Message string           `json:"message"`
	Tenant  string           `json:"tenant"`
	Checks  []ComponentCheck `json:"checks"`
}

// Overall is the worst status of the checks (UP when all are UP) and a message naming every
// component that is not UP, e.g. "One or more pipeline components have issues: kafka DOWN
// (no topic matches ^logs.*)". No checks at all is DOWN: nothing was verified.
func Overall(checks []ComponentCheck) (Status, string) {
	if len(checks) == 0 {
		return Down, "No pipeline component was checked"
	}
	worst := Up
	var issues []string
	for _, c := range checks {
		if c.Check.Status.rank() > worst.rank() {
			worst = c.Check.Status
		}
		if c.Check.Status != Up {
			issues = append(issues, fmt.Sprintf("%s %s (%s)", c.Component, c.Check.Status, c.Check.Message))
		}
	}
	if worst == Up {
		return Up, "All pipeline components are healthy"
	}
	return worst, "One or more pipeline components have issues: " + strings.Join(issues, "; ")
}

func up(msg string, details map[string]any) Check {
	return Check{Status: Up, Message: msg, Details: details}
}

func warning(msg string, details map[string]any) Check {
	return Check{Status: Warning, Message: msg, Details: details}
}

func down(msg string, details map[string]any) Check {
	return Check{Status: Down, Message: msg, Details: details}
}
