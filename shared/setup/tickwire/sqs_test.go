package tickwire

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/logwise/controlplane/internal/mototest"
	"github.com/logwise/controlplane/shared/ticks"
)

var minute = time.Date(2031, 3, 4, 5, 6, 0, 0, time.UTC)

// batches is an SQS that keeps the batches it was sent.
type batches struct{ got []*sqs.SendMessageBatchInput }

func (b *batches) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	b.got = append(b.got, in)
	return &sqs.SendMessageBatchOutput{}, nil
}

// TestSendBatchesTenWithDelays checks that a minute of 5 s peering passes (11 ticks) goes out
// in two requests, each message delayed until its tick is due.
func TestSendBatchesTenWithDelays(t *testing.T) {
	t.Parallel()
	api := &batches{}
	q := &SQS{SendBatch: api.SendMessageBatch, URL: "q", Now: func() time.Time { return minute.Add(300 * time.Millisecond) }}
	if err := q.Send(context.Background(), ticks.Plan("peeringcopier", minute, 5*time.Second, time.Minute, 0)); err != nil {
		t.Fatal(err)
	}
	var sizes []int
	var delays []int32
	for _, in := range api.got {
		sizes = append(sizes, len(in.Entries))
		for _, e := range in.Entries {
			delays = append(delays, e.DelaySeconds)
		}
	}
	if !slices.Equal(sizes, []int{10, 1}) {
		t.Errorf("batch sizes: got %v, want [10 1]", sizes)
	}
	if want := []int32{5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55}; !slices.Equal(delays, want) {
		t.Errorf("delays: got %v, want %v", delays, want)
	}
}

// TestSQSRoundTrip sends ticks through moto's SQS and reads them back as the Lambda event
// source would hand them over: each body decodes to the tick sent, and is recognised as a
// tick batch (not an interlink one).
func TestSQSRoundTrip(t *testing.T) {
	t.Parallel()
	url := mototest.Start(t)
	client := sqs.NewFromConfig(mototest.Config(url))
	ctx := context.Background()
	qo, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("ticks")})
	if err != nil {
		t.Fatal(err)
	}
	sent := ticks.Plan("sparkmonitor", minute, time.Second, 3*time.Second, 0) // offsets 1 s and 2 s
	q := &SQS{SendBatch: client.SendMessageBatch, URL: aws.ToString(qo.QueueUrl), Now: func() time.Time { return minute.Add(time.Second) }}
	if err := q.Send(ctx, sent); err != nil {
		t.Fatal(err)
	}
	var got []ticks.Tick
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < len(sent) && time.Now().Before(deadline) {
		out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: qo.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			ev := events.SQSEvent{Records: []events.SQSMessage{{EventSource: "aws:sqs", Body: aws.ToString(m.Body)}}}
			if !IsTickBatch(ev) {
				t.Errorf("%s is not recognised as a tick", aws.ToString(m.Body))
			}
			tk, err := ticks.Decode(aws.ToString(m.Body))
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, tk)
		}
	}
	slices.SortFunc(got, func(a, b ticks.Tick) int { return int(a.Offset - b.Offset) })
	if !slices.Equal(got, sent) {
		t.Fatalf("received %+v, want %+v", got, sent)
	}
	if IsTickBatch(events.SQSEvent{Records: []events.SQSMessage{{Body: `{"Type":"Notification","Message":"{}"}`}}}) {
		t.Error("an interlink SNS envelope was taken for a tick")
	}
}
