// Package tickwire runs a scheduled function's job as short invocations, one per tick: the
// per-minute schedule enqueues the minute's later ticks on the function's SQS ticks queue,
// each with the delay that makes it arrive when due, and runs the first tick at once; the
// same function consumes the queue and runs one tick per message. Nothing waits inside an
// invocation, so Lambda bills the checks, not the sleeps between them.
//
// A duplicated message runs a tick again, which the job's lease and fenced writes make
// harmless; a late one runs until its successor is due and is dropped after (ticks.Judge); a
// lost one costs one tick. A run that fails is returned as the invocation's error, so SQS
// redelivers it after the visibility timeout, by when it is stale and dropped: only messages
// whose invocations never finish (crash, timeout, throttling) reach the dead-letter queue.
package tickwire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/logwise/controlplane/shared/reconcile"
	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/ticks"
)

// QueueEnv names the environment variable holding the ticks queue's URL.
const QueueEnv = "TICKS_QUEUE_URL"

// Period is the schedule's period: the template's rate(1 minute).
const Period = time.Minute

// Queue sends ticks, each delayed until it is due (*SQS).
type Queue interface {
	Send(ctx context.Context, ts []ticks.Tick) error
}

// Runner runs a job's ticks (*setup.Jobs): RunTick one tick, Run the whole minute in one
// invocation (when no queue is configured).
type Runner interface {
	Run(ctx context.Context, name string) (reconcile.Summary, error)
	RunTick(ctx context.Context, name string) (reconcile.Summary, error)
}

// Ticker is the Lambda side of one job run as ticks.
type Ticker struct {
	Job string
	// Interval spaces the ticks; Span (0: the whole period) ends them after each schedule.
	Interval, Span time.Duration
	Jobs           Runner
	// Queue is where the later ticks go; nil runs the minute in one invocation (Jobs.Run).
	Queue Queue
	Log   *slog.Logger
	Now   func() time.Time
}

// New returns the ticker of job in env's function, sending to the queue named by
// TICKS_QUEUE_URL; without it, each schedule runs the minute in one invocation, as before.
func New(env *setup.Env, jobs *setup.Jobs, job string, interval, span time.Duration) *Ticker {
	tk := &Ticker{Job: job, Interval: interval, Span: span, Jobs: jobs, Log: env.Log, Now: time.Now}
	if url := os.Getenv(QueueEnv); url != "" {
		tk.Queue = NewSQS(env.AWS, url)
	} else {
		env.Log.Warn(QueueEnv+" is not set: each schedule runs its minute of ticks in one invocation", "job", job)
	}
	return tk
}

// Scheduled handles the per-minute schedule: it enqueues the minute's later ticks, then runs
// the first. A failure to enqueue is logged and returned after the first tick has run: that
// minute loses its later ticks, and the next schedule tries again.
func (tk *Ticker) Scheduled(ctx context.Context, _ events.EventBridgeEvent) (reconcile.Summary, error) {
	if tk.Queue == nil {
		return tk.Jobs.Run(ctx, tk.Job)
	}
	plan := ticks.Plan(tk.Job, tk.Now(), tk.Interval, Period, tk.Span)
	var sendErr error
	if len(plan) > 0 {
		if sendErr = tk.Queue.Send(ctx, plan); sendErr != nil {
			sendErr = fmt.Errorf("enqueue %d ticks of %s: %w", len(plan), tk.Job, sendErr)
			tk.Log.ErrorContext(ctx, "enqueue ticks", "job", tk.Job, "error", sendErr.Error())
		}
	}
	sum, err := tk.Jobs.RunTick(ctx, tk.Job)
	tk.Log.InfoContext(ctx, "tick", "job", tk.Job, "offsetSeconds", 0, "enqueued", len(plan), "keys", len(sum.Results), "failed", sum.Failed())
	return sum, errors.Join(err, sendErr)
}

// Consume handles a batch of the ticks queue: each fresh tick of this job runs once; a stale,
// foreign or malformed message is dropped with a log line. The error joins the failed runs'
// errors (the template's batch size is 1, so only that message is redelivered).
func (tk *Ticker) Consume(ctx context.Context, ev events.SQSEvent) ([]reconcile.Summary, error) {
	var out []reconcile.Summary
	var errs []error
	for _, rec := range ev.Records {
		t, err := ticks.Decode(rec.Body)
		switch {
		case err != nil:
			tk.Log.WarnContext(ctx, "dropped a message that is not a valid tick", "job", tk.Job, "messageId", rec.MessageId, "error", err.Error())
			continue
		case t.Job != tk.Job:
			tk.Log.WarnContext(ctx, "dropped a tick of another job", "job", tk.Job, "tickJob", t.Job, "messageId", rec.MessageId)
			continue
		}
		now := tk.Now()
		if ticks.Judge(t, now) == ticks.Stale {
			tk.Log.InfoContext(ctx, "dropped a stale tick", "job", tk.Job, "minute", t.Minute, "offsetSeconds", int(t.Offset/time.Second),
				"lateBy", now.Sub(t.Due()).String(), "messageId", rec.MessageId)
			continue
		}
		sum, err := tk.Jobs.RunTick(ctx, tk.Job)
		tk.Log.InfoContext(ctx, "tick", "job", tk.Job, "offsetSeconds", int(t.Offset/time.Second), "lateBy", now.Sub(t.Due()).String(),
			"keys", len(sum.Results), "failed", sum.Failed())
		out = append(out, sum)
		if err != nil {
			errs = append(errs, fmt.Errorf("tick %s+%v of %s: %w", t.Minute.Format(time.RFC3339), t.Offset, tk.Job, err))
		}
	}
	return out, errors.Join(errs...)
}

// Handler is the Lambda handler of a function whose only events are its schedule and its
// ticks queue.
func (tk *Ticker) Handler() func(context.Context, json.RawMessage) (any, error) {
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var ev events.SQSEvent
		if err := json.Unmarshal(raw, &ev); err == nil && len(ev.Records) > 0 && ev.Records[0].EventSource == "aws:sqs" {
			return tk.Consume(ctx, ev)
		}
		var sched events.EventBridgeEvent
		if err := json.Unmarshal(raw, &sched); err != nil {
			return nil, fmt.Errorf("decode schedule event of %s: %w", tk.Job, err)
		}
		return tk.Scheduled(ctx, sched)
	}
}
