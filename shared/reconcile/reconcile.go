// Package reconcile runs a scheduled job once per key (a tenant or a peer), each under its own
// MySQL lease, so that overlapping invocations of a scheduled function never act twice: the
// second invocation finds the lease held and skips that key. One key's failure is logged and
// reported without stopping the others.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/logwise/controlplane/shared/store"
)

// Leases is the part of the store the runner needs.
type Leases interface {
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (store.Lease, error)
	RenewLease(ctx context.Context, l store.Lease, ttl time.Duration) (store.Lease, error)
	ReleaseLease(ctx context.Context, l store.Lease) error
}

// Job does the work for one key under its lease. Its result is reported as is.
type Job func(ctx context.Context, key string, lease store.Lease) (any, error)

// Runner runs jobs under leases.
type Runner struct {
	Leases Leases
	Log    *slog.Logger
	// Holder identifies this invocation in the lease table (function name and request id).
	Holder string
	// TTL is the lease duration; the lease is renewed every TTL/3 while the job runs.
	TTL time.Duration
	// Parallel bounds how many keys run at once (default 4).
	Parallel int
}

// Outcome values of a Result.
const (
	Done    = "done"
	Skipped = "skipped" // another invocation holds the lease
	Failed  = "failed"
)

// Result is what happened for one key.
type Result struct {
	Key     string `json:"key"`
	Outcome string `json:"outcome"`
	Detail  any    `json:"detail,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Summary is the answer of one scheduled invocation.
type Summary struct {
	Job     string   `json:"job"`
	Results []Result `json:"results"`
}

// Failed counts the keys whose job failed.
func (s Summary) Failed() int {
	n := 0
	for _, r := range s.Results {
		if r.Outcome == Failed {
			n++
		}
	}
	return n
}

// Run runs job for every key, under the lease "<name>/<key>". It returns an error only when
// every key failed, so that a broken dependency shows up as a Lambda error (and an alarm)
// while one bad tenant does not.
func (r *Runner) Run(ctx context.Context, name string, keys []string, job Job) (Summary, error) {
	sum := Summary{Job: name, Results: make([]Result, len(keys))}
	par := r.Parallel
	if par <= 0 {
		par = 4
	}
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i, key := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			sum.Results[i] = r.one(ctx, name, key, job)
		}()
	}
	wg.Wait()
	if len(keys) > 0 && sum.Failed() == len(keys) {
		return sum, fmt.Errorf("%s: every key failed; first: %s", name, sum.Results[0].Error)
	}
	return sum, nil
}

func (r *Runner) one(ctx context.Context, name, key string, job Job) (res Result) {
	res.Key = key
	leaseName := name + "/" + key
	defer func() {
		if v := recover(); v != nil {
			res.Outcome, res.Error = Failed, fmt.Sprintf("panic: %v", v)
			r.Log.ErrorContext(ctx, "job panicked", "job", name, "key", key, "panic", v)
		}
	}()
	lease, err := r.Leases.AcquireLease(ctx, leaseName, r.Holder, r.TTL)
	if errors.Is(err, store.ErrLeaseHeld) {
		r.Log.InfoContext(ctx, "lease held by another invocation; skipping", "job", name, "key", key)
		return Result{Key: key, Outcome: Skipped}
	}
	if err != nil {
		r.Log.ErrorContext(ctx, "acquire lease", "job", name, "key", key, "error", err.Error())
		return Result{Key: key, Outcome: Failed, Error: err.Error()}
	}
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := r.keepRenewed(jctx, cancel, lease)
	detail, err := job(jctx, key, lease)
	lease = stop()
	if rerr := r.Leases.ReleaseLease(context.WithoutCancel(ctx), lease); rerr != nil {
		r.Log.WarnContext(ctx, "release lease", "job", name, "key", key, "error", rerr.Error())
	}
	if err != nil {
		r.Log.ErrorContext(ctx, "job failed", "job", name, "key", key, "error", err.Error())
		return Result{Key: key, Outcome: Failed, Detail: detail, Error: err.Error()}
	}
	return Result{Key: key, Outcome: Done, Detail: detail}
}

// keepRenewed renews the lease every TTL/3 until stopped; if the lease is lost (taken over
// after a stall) it cancels the job. stop waits for the renewing goroutine to end, so that
// no renew is sent after it returns (a renew landing after the release would revive the
// lease), and returns the latest lease.
func (r *Runner) keepRenewed(ctx context.Context, cancel context.CancelCauseFunc, l store.Lease) (stop func() store.Lease) {
	done, exited := make(chan struct{}), make(chan struct{})
	cur := l
	go func() {
		defer close(exited)
		t := time.NewTicker(r.TTL / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			select { // a tick and stop can be ready together: stop wins
			case <-done:
				return
			default:
			}
			nl, err := r.Leases.RenewLease(ctx, cur, r.TTL)
			if err == nil {
				cur = nl
			}
			if errors.Is(err, store.ErrStaleToken) {
				cancel(err)
				return
			}
		}
	}()
	return func() store.Lease {
		close(done)
		<-exited
		return cur
	}
}
