package interlink

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/fault"
)

// Repository is what applying an event needs from the execution log.
type Repository interface {
	Owns(partition string) bool
	Get(ctx context.Context, id string) (executions.Detail, error)
	Cancel(ctx context.Context, id, user, reason string) (executions.Detail, error)
	Pause(ctx context.Context, id, user string) (executions.Detail, error)
	Resume(ctx context.Context, id, user string) (executions.Detail, error)
	Judge(ctx context.Context, id, stageID string, j executions.Judgment, user, input string) (executions.Detail, error)
	PatchStage(ctx context.Context, id, stageID string, context map[string]any, lastModified map[string]any) (executions.Detail, error)
	RestartStage(ctx context.Context, id, stageID, user string) (executions.Detail, error)
	Delete(ctx context.Context, id string) error
	Cede(ctx context.Context, id, to string, t executions.Takeover) (executions.Detail, error)
}

// HeartbeatRecorder keeps when each other partition was last heard.
type HeartbeatRecorder interface {
	RecordHeartbeat(ctx context.Context, partition string, at time.Time) error
}

// Outcome is what became of a received event.
type Outcome string

// The outcomes.
const (
	Applied        Outcome = "applied"
	NotOurs        Outcome = "dropped: another partition owns it"
	Missing        Outcome = "dropped: execution not found"
	AlreadyApplied Outcome = "dropped: the execution's state does not allow it (already applied?)"
	Heard          Outcome = "heartbeat recorded"
	OwnHeartbeat   Outcome = "dropped: our own heartbeat"
	// Refused: the execution is inside a step that must not be interrupted (a replay killing
	// its driver or deleting its checkpoint); the sender's action is not applied.
	Refused Outcome = "dropped: refused by the execution (CANCEL_REFUSED)"
)

// Applier applies events addressed to this partition.
type Applier struct {
	Repo       Repository
	Heartbeats HeartbeatRecorder // nil: heartbeats are dropped
	Log        *slog.Logger
	Now        func() time.Time // nil: time.Now
}

// Apply applies e if this partition owns it (Orca's handlesPartition on the event's
// partition); events for other partitions are dropped. A missing execution or a state that
// refuses the action is dropped too: delivery is at least once, so a repeated event must do
// nothing. Only failures worth retrying return an error.
//
// A HEARTBEAT of another partition is recorded (the takeover rule reads it). A TAKEOVER
// addressed to this partition (the former owner) cedes the execution to the new owner, so
// that nothing here acts on it again.
func (a *Applier) Apply(ctx context.Context, e Event) (Outcome, error) {
	if e.EventType == Heartbeat {
		return a.heard(ctx, e)
	}
	if !a.Repo.Owns(e.Partition) {
		return NotOurs, nil
	}
	var err error
	switch e.EventType {
	case Cancel:
		_, err = a.Repo.Cancel(ctx, e.ExecutionID, nonEmpty(e.CanceledBy, "interlink"), e.CancellationReason)
	case Pause:
		_, err = a.Repo.Pause(ctx, e.ExecutionID, nonEmpty(e.PausedBy, "interlink"))
	case Resume:
		_, err = a.Repo.Resume(ctx, e.ExecutionID, nonEmpty(e.User, "interlink"))
	case Delete:
		err = a.Repo.Delete(ctx, e.ExecutionID)
	case Restart:
		_, err = a.Repo.RestartStage(ctx, e.ExecutionID, e.StageID, nonEmpty(e.User, "interlink"))
	case Patch:
		err = a.patch(ctx, e)
	case Takeover:
		_, err = a.Repo.Cede(ctx, e.ExecutionID, e.NewPartition, executions.Takeover{From: e.Partition, By: nonEmpty(e.User, "interlink"), Reason: e.Reason})
	}
	switch {
	case err == nil:
		return Applied, nil
	case fault.Is(err, fault.NotFound):
		return Missing, nil
	case fault.Is(err, fault.Conflict):
		var fe *fault.Error
		if errors.As(err, &fe) && fe.Code == "FOREIGN_EXECUTION" {
			return NotOurs, nil // the event names us, but the row says otherwise: trust the row
		}
		if fe != nil && fe.Code == "CANCEL_REFUSED" {
			a.Log.WarnContext(ctx, "interlink cancel refused", "execution", e.ExecutionID, "by", e.CanceledBy, "reason", fe.Message)
			return Refused, nil
		}
		return AlreadyApplied, nil
	case fault.Is(err, fault.Invalid):
		return AlreadyApplied, nil
	}
	return "", err
}

func (a *Applier) heard(ctx context.Context, e Event) (Outcome, error) {
	if a.Repo.Owns(e.Partition) {
		return OwnHeartbeat, nil
	}
	if a.Heartbeats == nil {
		return NotOurs, nil
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	if err := a.Heartbeats.RecordHeartbeat(ctx, e.Partition, now()); err != nil {
		return "", err
	}
	return Heard, nil
}

// patch applies a stage patch: a judgment on a waiting manual judgment stage is a judgement
// (it moves the execution on); any other patch merges the stage context, as Orca does.
func (a *Applier) patch(ctx context.Context, e Event) error {
	c, _ := e.StageBody["context"].(map[string]any)
	lm, _ := e.StageBody["lastModified"].(map[string]any)
	if js, ok := c["judgmentStatus"].(string); ok && (js == string(executions.Continue) || js == string(executions.Stop)) {
		user, _ := c["judgedBy"].(string)
		if user == "" && lm != nil {
			user, _ = lm["user"].(string)
		}
		input, _ := c["judgmentInput"].(string)
		_, err := a.Repo.Judge(ctx, e.ExecutionID, e.StageID, executions.Judgment(js), nonEmpty(user, "interlink"), input)
		return err
	}
	_, err := a.Repo.PatchStage(ctx, e.ExecutionID, e.StageID, c, lm)
	return err
}

// HandleSQS applies a batch from the region's interlink queue. Malformed messages are logged
// and dropped (they would never parse); messages whose application failed for a retryable
// reason are returned as batch item failures so SQS redelivers only those.
func (a *Applier) HandleSQS(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	for _, m := range ev.Records {
		e, err := ParseSQSBody(m.Body)
		if err != nil {
			a.Log.WarnContext(ctx, "drop malformed interlink message", "messageId", m.MessageId, "error", err.Error())
			continue
		}
		out, err := a.Apply(ctx, e)
		if err != nil {
			a.Log.ErrorContext(ctx, "apply interlink event", "event", e.String(), "error", err.Error())
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
			continue
		}
		a.Log.InfoContext(ctx, "interlink event", "event", e.String(), "outcome", string(out))
	}
	return resp, nil
}

func nonEmpty(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
