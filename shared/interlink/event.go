// Package interlink forwards actions on foreign executions to the region that owns them, with
// Orca's orca-interlink wire format: events published to an SNS topic shared by the regions,
// received by each region through its own SQS queue, and applied only by the owner of the
// event's partition. Orca clusters on the same topic understand these events, and theirs are
// understood here.
package interlink

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/fault"
)

// EventType is Orca's interlink event discriminator.
type EventType string

// The event types of orca-interlink.
const (
	Cancel  EventType = "CANCEL"
	Pause   EventType = "PAUSE"
	Resume  EventType = "RESUME"
	Delete  EventType = "DELETE"
	Patch   EventType = "PATCH"
	Restart EventType = "RESTART"
	// Heartbeat says that its partition is alive and hears the topic. It is this project's
	// addition (an Orca cluster drops it as unknown): an unforced takeover needs the owner
	// silent over the interlink too.
	Heartbeat EventType = "HEARTBEAT"
	// Takeover tells the former owner (the event's partition) that NewPartition took the
	// execution over, so that it stops acting on it. This project's addition too.
	Takeover EventType = "TAKEOVER"
)

// Event is an interlink event as Orca serialises it (Jackson, property eventType). Fields a
// type does not use are omitted.
type Event struct {
	EventType           EventType      `json:"eventType"`
	Partition           string         `json:"partition"`
	ExecutionType       string         `json:"executionType"` // PIPELINE or ORCHESTRATION
	ExecutionID         string         `json:"executionId"`
	CanceledBy          string         `json:"canceledBy,omitempty"`
	CancellationReason  string         `json:"cancellationReason,omitempty"`
	PausedBy            string         `json:"pausedBy,omitempty"`
	User                string         `json:"user,omitempty"`
	IgnoreCurrentStatus bool           `json:"ignoreCurrentStatus,omitempty"`
	StageID             string         `json:"stageId,omitempty"`
	StageBody           map[string]any `json:"stageBody,omitempty"`
	NewPartition        string         `json:"newPartition,omitempty"` // TAKEOVER: the new owner
	Reason              string         `json:"reason,omitempty"`       // TAKEOVER: why
}

// WireType converts an execution type to Orca's enum name.
func WireType(t executions.Type) string { return strings.ToUpper(string(t)) }

// Fingerprint identifies an event for the loop breaker (Orca: eventType:executionType:executionId).
func (e Event) Fingerprint() string {
	return string(e.EventType) + ":" + e.ExecutionType + ":" + e.ExecutionID
}

// Validate checks an event received from the topic.
func (e Event) Validate() error {
	switch e.EventType {
	case Cancel, Pause, Resume, Delete, Patch, Restart:
	case Heartbeat:
		if e.Partition == "" || len(e.Partition) > 32 {
			return fault.Invalidf("interlink HEARTBEAT event has no valid partition")
		}
		return nil
	case Takeover:
		if e.NewPartition == "" || len(e.NewPartition) > 32 || e.NewPartition == e.Partition {
			return fault.Invalidf("interlink TAKEOVER event for %s has no valid newPartition", e.ExecutionID)
		}
	default:
		return fault.Invalidf("unknown interlink eventType %q", e.EventType)
	}
	if e.ExecutionID == "" || len(e.ExecutionID) > 26 {
		return fault.Invalidf("interlink %s event has no valid executionId", e.EventType)
	}
	switch strings.ToUpper(e.ExecutionType) {
	case "PIPELINE", "ORCHESTRATION":
	default:
		return fault.Invalidf("interlink %s event for %s has executionType %q", e.EventType, e.ExecutionID, e.ExecutionType)
	}
	if (e.EventType == Patch || e.EventType == Restart) && e.StageID == "" {
		return fault.Invalidf("interlink %s event for %s has no stageId", e.EventType, e.ExecutionID)
	}
	return nil
}

// snsNotification is the SQS body of a message that came through SNS.
type snsNotification struct {
	Type      string `json:"Type"`
	MessageID string `json:"MessageId"`
	Message   string `json:"Message"`
}

// ParseSQSBody reads an event from an SQS message body: an SNS notification whose Message is
// the event JSON, or the event itself when the subscription uses raw message delivery.
func ParseSQSBody(body string) (Event, error) {
	raw := body
	var n snsNotification
	if json.Unmarshal([]byte(body), &n) == nil && n.Type == "Notification" && n.Message != "" {
		raw = n.Message
	}
	var e Event
	if err := json.Unmarshal([]byte(raw), &e); err != nil {
		return Event{}, fault.Wrap(fault.Invalid, err, "interlink message is not an event")
	}
	e.ExecutionType = strings.ToUpper(e.ExecutionType)
	if err := e.Validate(); err != nil {
		return Event{}, err
	}
	return e, nil
}

func (e Event) String() string {
	return fmt.Sprintf("%s %s %s (partition %s)", e.EventType, e.ExecutionType, e.ExecutionID, e.Partition)
}
