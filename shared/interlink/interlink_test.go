package interlink_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/logwise/controlplane/internal/mototest"
	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/interlink"
	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/store/storetest"
)

// region is one deployment: its database (holding its own executions and copies of the
// other's) and its interlink queue subscribed to the shared topic.
type region struct {
	name    string
	db      *store.DB
	repo    *executions.Repository
	queue   string
	applier *interlink.Applier
}

type world struct {
	sns        *sns.Client
	sqs        *sqs.Client
	topic      string
	east, west region
}

func newWorld(t *testing.T) *world {
	url := mototest.Start(t)
	cfg := mototest.Config(url)
	w := &world{sns: sns.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg)}
	ctx := context.Background()
	top, err := w.sns.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("interlink")})
	if err != nil {
		t.Fatal(err)
	}
	w.topic = aws.ToString(top.TopicArn)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	mk := func(name string) region {
		q, err := w.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("interlink-" + name)})
		if err != nil {
			t.Fatal(err)
		}
		attrs, err := w.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.sns.Subscribe(ctx, &sns.SubscribeInput{TopicArn: top.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(attrs.Attributes["QueueArn"])}); err != nil {
			t.Fatal(err)
		}
		db := storetest.New(t)
		repo := executions.NewRepository(db.SQL(), name)
		return region{name: name, db: db, repo: repo, queue: aws.ToString(q.QueueUrl),
			applier: &interlink.Applier{Repo: repo, Heartbeats: db, Log: log}}
	}
	w.east, w.west = mk("us-east-1"), mk("us-west-2")
	return w
}

// deliver receives what reached region r's queue and hands it to its applier as the SQS
// trigger would.
func (w *world) deliver(t *testing.T, r region) events.SQSEventResponse {
	t.Helper()
	out, err := w.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(r.queue), MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	var ev events.SQSEvent
	for _, m := range out.Messages {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: aws.ToString(m.MessageId), Body: aws.ToString(m.Body)})
	}
	resp, err := r.applier.HandleSQS(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestCancelForwardedToOwnerIsAppliedThereOnly(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	id, err := w.east.repo.StartPipeline(ctx, executions.PipelineSpec{Tenant: "ABC", Name: "replay",
		Stages: []executions.StageSpec{{RefID: "1", Type: "deleteCheckpoint", Name: "Delete checkpoint"}}})
	if err != nil {
		t.Fatal(err)
	}
	fw := &interlink.Forwarder{SNS: w.sns, Topic: w.topic, Flagger: interlink.NewFlagger(32, 8, time.Minute)}
	rec, err := fw.Forward(ctx, interlink.Action{Kind: "cancel", Type: executions.Pipeline, ID: id, Owner: "us-east-1", User: "alice", Reason: "wrong timestamp"})
	if err != nil {
		t.Fatalf("forward: %v", err)
	}
	if rec.EventID == "" || rec.EventType != interlink.Cancel || rec.Owner != "us-east-1" {
		t.Fatalf("receipt = %+v", rec)
	}
	// Every region receives the event; only the owner applies it.
	if resp := w.deliver(t, w.west); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("west failed items: %+v", resp)
	}
	if resp := w.deliver(t, w.east); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("east failed items: %+v", resp)
	}
	d, err := w.east.repo.Get(ctx, id)
	if err != nil || d.Status != executions.Canceled || d.Body["canceledBy"] != "alice" || d.Body["cancellationReason"] != "wrong timestamp" {
		t.Fatalf("owner's execution after the event: %+v %v", d.Summary, err)
	}
}

func TestEventsForOtherPartitionsAreDropped(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	// West holds a copy of an east execution with the same id in its own database.
	id, _ := executions.NewRepository(mustDB(t, w.west), "us-east-1").StartPipeline(ctx, executions.PipelineSpec{Tenant: "ABC", Name: "replay"})
	out, err := w.west.applier.Apply(ctx, interlink.Event{EventType: interlink.Cancel, Partition: "us-east-1", ExecutionType: "PIPELINE", ExecutionID: id})
	if err != nil || out != interlink.NotOurs {
		t.Fatalf("west applying an east event: %q %v, want dropped", out, err)
	}
	d, _ := w.west.repo.Get(ctx, id)
	if d.Status != executions.Running {
		t.Fatalf("the copy changed: %s", d.Status)
	}
	// An event for a missing execution, and a repeated one, do nothing and are not retried.
	out, err = w.east.applier.Apply(ctx, interlink.Event{EventType: interlink.Pause, Partition: "us-east-1", ExecutionType: "PIPELINE", ExecutionID: "01HZZZZZZZZZZZZZZZZZZZZZZZ"})
	if err != nil || out != interlink.Missing {
		t.Fatalf("missing execution: %q %v", out, err)
	}
}

func mustDB(t *testing.T, r region) *sql.DB { return r.repo.DBForTest() }

func TestOrcaShapedEventsAreApplied(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	id, _ := w.east.repo.StartPipeline(ctx, executions.PipelineSpec{Tenant: "ABC", Name: "deploy", Stages: []executions.StageSpec{
		{RefID: "1", Type: "manualJudgment", Name: "Approve"}, {RefID: "2", Type: "wait", Name: "Wait"}}})
	d, _ := w.east.repo.UpdateStage(ctx, id, "1", executions.Running, nil)
	st, _ := d.StageOf("1")
	// The JSON an Orca cluster publishes (Jackson, eventType discriminator, enum names).
	orcaJudgment := `{"eventType":"PATCH","partition":"us-east-1","executionType":"PIPELINE","executionId":"` + id +
		`","stageId":"` + st.ID + `","stageBody":{"id":"` + st.ID + `","type":"manualJudgment","context":{"judgmentStatus":"continue","judgmentInput":"ship it"},"lastModified":{"user":"bob@example.com","allowedAccounts":[],"lastModifiedTime":1795356000000}}}`
	orcaPause := `{"eventType":"PAUSE","partition":"us-east-1","executionType":"PIPELINE","executionId":"` + id + `","pausedBy":"carol@example.com"}`
	for _, msg := range []string{orcaJudgment, orcaPause} {
		if _, err := w.sns.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(w.topic), Message: aws.String(msg)}); err != nil {
			t.Fatal(err)
		}
	}
	w.deliver(t, w.east)
	d, err := w.east.repo.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	st, _ = d.StageOf("1")
	if st.Status != executions.Succeeded || st.Context["judgmentStatus"] != "continue" || st.Context["judgedBy"] != "bob@example.com" {
		t.Fatalf("judgment stage after Orca's PATCH: %+v", st)
	}
	if d.Status != executions.Paused || d.Body["paused"].(map[string]any)["pausedBy"] != "carol@example.com" {
		t.Fatalf("execution after Orca's PAUSE: %s %v", d.Status, d.Body["paused"])
	}
}

func TestOurEventsHaveOrcaShape(t *testing.T) {
	t.Parallel()
	e, err := interlink.EventFor(interlink.Action{Kind: "judgement", Type: executions.Pipeline, ID: "01J", Owner: "eu", StageID: "01S", Judgment: executions.Stop, User: "u"})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(e)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if m["eventType"] != "PATCH" || m["executionType"] != "PIPELINE" || m["partition"] != "eu" || m["stageId"] != "01S" ||
		m["stageBody"].(map[string]any)["context"].(map[string]any)["judgmentStatus"] != "stop" {
		t.Fatalf("event = %s", b)
	}
}

func TestLoopBreakerTrips(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	fl := interlink.NewFlagger(32, 8, time.Minute)
	fl.SetClock(func() time.Time { return now })
	fw := &interlink.Forwarder{SNS: w.sns, Topic: w.topic, Flagger: fl}
	a := interlink.Action{Kind: "pause", Type: executions.Pipeline, ID: "01HORPHAN0000000000000000", Owner: "us-west-2"}
	for i := 0; i < 8; i++ {
		if _, err := fw.Forward(context.Background(), a); err != nil {
			t.Fatalf("publication %d refused: %v", i+1, err)
		}
		now = now.Add(time.Second)
	}
	_, err := fw.Forward(context.Background(), a)
	if !fault.Is(err, fault.Conflict) {
		t.Fatalf("9th publication within 60 s: err = %v, want the loop breaker's Conflict", err)
	}
	other := a
	other.Kind = "resume"
	if _, err := fw.Forward(context.Background(), other); err != nil {
		t.Fatalf("another fingerprint refused: %v", err)
	}
	now = now.Add(2 * time.Minute)
	if _, err := fw.Forward(context.Background(), a); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

func TestUnreachableTopicIsUnavailable(t *testing.T) {
	t.Parallel()
	cfg := mototest.Config("http://127.0.0.1:1")
	fw := &interlink.Forwarder{SNS: sns.NewFromConfig(cfg, func(o *sns.Options) { o.RetryMaxAttempts = 1 }), Topic: "arn:aws:sns:us-east-1:123456789012:interlink"}
	_, err := fw.Forward(context.Background(), interlink.Action{Kind: "cancel", Type: executions.Pipeline, ID: "01H", Owner: "eu"})
	if !fault.Is(err, fault.Unavailable) {
		t.Fatalf("err = %v, want Unavailable", err)
	}
}

// TestInterlinkCancelOfAnUninterruptibleStageIsRefused: an interlink CANCEL of an execution
// inside an uninterruptible stage (a replay killing its driver or deleting its checkpoint)
// is refused like the API's cancel: the execution keeps running and the outcome says so,
// rather than passing for an event already applied.
func TestInterlinkCancelOfAnUninterruptibleStageIsRefused(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	id, err := w.east.repo.StartPipeline(ctx, executions.PipelineSpec{Tenant: "ABC", Name: "sparkReplay", Stages: []executions.StageSpec{
		{RefID: "1", Type: "sparkKill", Name: "Kill the driver", Context: map[string]any{executions.UninterruptibleKey: "the driver is being killed"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.east.repo.UpdateStage(ctx, id, "1", executions.Running, nil); err != nil {
		t.Fatal(err)
	}
	out, err := w.east.applier.Apply(ctx, interlink.Event{EventType: interlink.Cancel, Partition: "us-east-1", ExecutionID: id, CanceledBy: "dave"})
	if err != nil || out != interlink.Refused {
		t.Fatalf("apply CANCEL: %q, %v; want %q", out, err, interlink.Refused)
	}
	if d, _ := w.east.repo.Get(ctx, id); d.Status != executions.Running {
		t.Errorf("execution %s after the refused cancel, want RUNNING", d.Status)
	}
}
