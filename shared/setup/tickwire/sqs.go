package tickwire

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/logwise/controlplane/shared/ticks"
)

// SendBatchFunc is the SQS client's SendMessageBatch. The client is reached through this
// method value, never stored in a field of a type converted to an interface: should
// text/template ever be linked, its reflection would make the linker keep every method of the
// client (as apiwire's invokeFunc).
type SendBatchFunc func(ctx context.Context, in *sqs.SendMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error)

// SQS sends ticks to a queue, ten to a request (SQS bills each SendMessageBatch as one
// request), each with DelaySeconds until it is due.
type SQS struct {
	SendBatch SendBatchFunc
	URL       string
	Now       func() time.Time
}

// NewSQS returns the sender to queue url (the endpoint can be overridden with
// AWS_ENDPOINT_URL_SQS).
func NewSQS(cfg aws.Config, url string) *SQS {
	return &SQS{SendBatch: sqs.NewFromConfig(cfg).SendMessageBatch, URL: url, Now: time.Now}
}

// Send enqueues ts. A tick that SQS refuses is named in the error; the others are sent.
func (q *SQS) Send(ctx context.Context, ts []ticks.Tick) error {
	now := q.Now()
	for start := 0; start < len(ts); start += 10 {
		batch := ts[start:min(start+10, len(ts))]
		in := &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.URL)}
		for i, t := range batch {
			in.Entries = append(in.Entries, types.SendMessageBatchRequestEntry{
				Id:           aws.String(strconv.Itoa(start + i)),
				MessageBody:  aws.String(ticks.Encode(t)),
				DelaySeconds: int32(ticks.Delay(t, now) / time.Second),
			})
		}
		out, err := q.SendBatch(ctx, in)
		if err != nil {
			return fmt.Errorf("send ticks to %s: %w", q.URL, err)
		}
		if len(out.Failed) > 0 {
			f := out.Failed[0]
			return fmt.Errorf("send ticks to %s: %d of %d refused; first %s: %s %s", q.URL, len(out.Failed), len(batch),
				aws.ToString(f.Id), aws.ToString(f.Code), aws.ToString(f.Message))
		}
	}
	return nil
}

// IsTickBatch reports whether an SQS batch comes from a ticks queue (its first message is a
// tick), for functions that also consume another queue (peering's interlink queue).
func IsTickBatch(ev events.SQSEvent) bool {
	if len(ev.Records) == 0 {
		return false
	}
	_, err := ticks.Decode(ev.Records[0].Body)
	return !errors.Is(err, ticks.ErrNotTick)
}
