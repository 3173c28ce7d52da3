package interlink

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/fault"
)

// Publisher is the part of the SNS client the forwarder uses.
type Publisher interface {
	Publish(ctx context.Context, in *sns.PublishInput, opts ...func(*sns.Options)) (*sns.PublishOutput, error)
}

// PeerNow asks the peering copier to copy some executions from a peer now, so that the
// requester sees the owner's result within seconds instead of a schedule later.
type PeerNow interface {
	RequestCopy(ctx context.Context, peerID string, t executions.Type, ids []string) error
}

// Forwarder publishes actions on foreign executions to the interlink topic.
type Forwarder struct {
	SNS     Publisher
	Topic   string
	Flagger *Flagger
	PeerNow PeerNow // optional
	Log     *slog.Logger
}

// Action is an operator's action on an execution another partition owns.
type Action struct {
	Kind     string // cancel, pause, resume, delete, judgement
	Type     executions.Type
	ID       string
	Owner    string // the owner partition
	User     string
	Reason   string
	StageID  string
	Judgment executions.Judgment
	Input    string
}

// Receipt says what was forwarded.
type Receipt struct {
	EventID   string    `json:"eventId"`
	EventType EventType `json:"eventType"`
	Owner     string    `json:"ownerPartition"`
	Execution string    `json:"executionId"`
	Message   string    `json:"message"`
}

// EventFor builds the Orca interlink event of an action.
func EventFor(a Action) (Event, error) {
	e := Event{Partition: a.Owner, ExecutionType: WireType(a.Type), ExecutionID: a.ID}
	switch a.Kind {
	case "cancel":
		e.EventType, e.CanceledBy, e.CancellationReason = Cancel, a.User, a.Reason
	case "pause":
		e.EventType, e.PausedBy = Pause, a.User
	case "resume":
		e.EventType, e.User = Resume, a.User
	case "delete":
		e.EventType = Delete
	case "judgement":
		e.EventType, e.StageID = Patch, a.StageID
		e.StageBody = map[string]any{
			"id": a.StageID,
			"context": map[string]any{
				"judgmentStatus": string(a.Judgment), "judgmentInput": a.Input, "judgedBy": a.User,
			},
			"lastModified": map[string]any{"user": a.User},
		}
	default:
		return Event{}, fault.Invalidf("action %q cannot be forwarded", a.Kind)
	}
	return e, nil
}

// Forward publishes the action's event for its owner to apply, then asks for an on-demand
// copy of the execution. A publication refused by the loop breaker is a Conflict; a topic
// that cannot be reached is Unavailable (the API then answers 409 naming the owner).
func (f *Forwarder) Forward(ctx context.Context, a Action) (Receipt, error) {
	e, err := EventFor(a)
	if err != nil {
		return Receipt{}, err
	}
	if f.Flagger != nil && !f.Flagger.Allow(e.Fingerprint()) {
		return Receipt{}, fault.Conflictf("interlink loop breaker: %s was forwarded too often in the last window; not forwarding it again", e.Fingerprint()).WithCode("INTERLINK_FLAGGED")
	}
	msgID, err := f.publish(ctx, e)
	if err != nil {
		return Receipt{}, err
	}
	r := Receipt{EventID: msgID, EventType: e.EventType, Owner: a.Owner, Execution: a.ID,
		Message: fmt.Sprintf("forwarded %s of execution %s to its owner partition %s", a.Kind, a.ID, a.Owner)}
	if f.Log != nil {
		f.Log.InfoContext(ctx, "forwarded action to owner", "event", e.String(), "messageId", r.EventID)
	}
	if f.PeerNow != nil {
		if err := f.PeerNow.RequestCopy(ctx, a.Owner, a.Type, []string{a.ID}); err != nil && f.Log != nil {
			f.Log.WarnContext(ctx, "request on-demand copy", "peer", a.Owner, "execution", a.ID, "error", err.Error())
		}
	}
	return r, nil
}

// publish sends e to the topic; a topic that cannot be reached is Unavailable.
func (f *Forwarder) publish(ctx context.Context, e Event) (string, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return "", fmt.Errorf("encode interlink event: %w", err)
	}
	out, err := f.SNS.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(f.Topic), Message: aws.String(string(body))})
	if err != nil {
		return "", fault.Wrap(fault.Unavailable, err, "publish interlink %s event to %s", e.EventType, f.Topic)
	}
	return aws.ToString(out.MessageId), nil
}

// Heartbeat tells the other regions that partition is alive and reaches the topic (the
// peering function sends one each invocation).
func (f *Forwarder) Heartbeat(ctx context.Context, partition string) error {
	_, err := f.publish(ctx, Event{EventType: Heartbeat, Partition: partition})
	return err
}

// AnnounceTakeover tells the former owner of d (from) that partition to took it over, so
// that it stops acting on it.
func (f *Forwarder) AnnounceTakeover(ctx context.Context, d executions.Detail, from, to, by, reason string) error {
	e := Event{EventType: Takeover, Partition: from, NewPartition: to, ExecutionType: WireType(d.Type), ExecutionID: d.ID, User: by, Reason: reason}
	if _, err := f.publish(ctx, e); err != nil {
		return err
	}
	if f.Log != nil {
		f.Log.InfoContext(ctx, "announced takeover to the former owner", "event", e.String(), "by", by)
	}
	return nil
}
