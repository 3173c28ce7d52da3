package tickwire

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/logwise/controlplane/shared/reconcile"
	"github.com/logwise/controlplane/shared/ticks"
)

// runs counts what a ticker asked of its job.
type runs struct{ minutes, ticks int }

func (r *runs) Run(context.Context, string) (reconcile.Summary, error) {
	r.minutes++
	return reconcile.Summary{}, nil
}

func (r *runs) RunTick(context.Context, string) (reconcile.Summary, error) {
	r.ticks++
	return reconcile.Summary{}, nil
}

// refusing is a queue that is down.
type refusing struct{}

func (refusing) Send(context.Context, []ticks.Tick) error { return errors.New("queue unreachable") }

// TestScheduleWhenTheQueueFailsOrIsAbsent checks that a schedule whose ticks cannot be queued
// still checks once and reports the failure, and that without a queue the schedule runs the
// whole minute in its invocation, as before.
func TestScheduleWhenTheQueueFailsOrIsAbsent(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	now := func() time.Time { return minute }
	for _, c := range []struct {
		name    string
		queue   Queue
		want    runs
		wantErr string
	}{
		{"queue down: the first tick runs, the error names the lost ticks", refusing{}, runs{ticks: 1}, "enqueue 3 ticks of sparkmonitor: queue unreachable"},
		{"no queue: the minute runs in one invocation", nil, runs{minutes: 1}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &runs{}
			tk := &Ticker{Job: "sparkmonitor", Interval: 15 * time.Second, Span: time.Minute, Jobs: r, Queue: c.queue, Log: log, Now: now}
			_, err := tk.Scheduled(context.Background(), events.EventBridgeEvent{})
			if *r != c.want {
				t.Errorf("runs: got %+v, want %+v", *r, c.want)
			}
			if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Errorf("error: got %v, want %q", err, c.wantErr)
			}
		})
	}
}
