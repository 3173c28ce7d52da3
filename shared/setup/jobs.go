package setup

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/logwise/controlplane/shared/reconcile"
	"github.com/logwise/controlplane/shared/store"
)

// Job is a scheduled reconciler: Run is called once per key under the lease "<name>/<key>".
type Job struct {
	Keys func() []string
	// TTL is the lease duration; it must exceed one key's run (it is renewed meanwhile).
	TTL time.Duration
	Run reconcile.Job
	// Parallel is how many keys run at once (0: the runner's default).
	Parallel int
	// Unleased runs the job without the job lease, for a job that takes finer leases of its
	// own around every write (the peering copier: one fenced lease per peer), where a second,
	// nested lease would only add a way to lock every peer out for a whole TTL.
	Unleased bool
	// Tick, when set, is one tick's work (one check or one pass) for the functions that run
	// each tick as its own invocation; Run may loop ticks inside one invocation (the local
	// runner). Both run under the same lease, so they exclude each other.
	Tick reconcile.Job
}

// Jobs is a function's table of scheduled jobs, filled by its wiring packages.
type Jobs struct {
	env  *Env
	jobs map[string]Job
}

// NewJobs returns an empty table run with env's store, log and lease holder.
func NewJobs(env *Env) *Jobs { return &Jobs{env: env, jobs: map[string]Job{}} }

// Add registers a job under name.
func (js *Jobs) Add(name string, j Job) { js.jobs[name] = j }

// Has reports whether name is registered.
func (js *Jobs) Has(name string) bool { _, ok := js.jobs[name]; return ok }

// Names lists the registered jobs, sorted.
func (js *Jobs) Names() []string {
	var out []string
	for name := range js.jobs {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// Run runs the named job for every key now.
func (js *Jobs) Run(ctx context.Context, name string) (reconcile.Summary, error) {
	return js.run(ctx, name, func(j Job) reconcile.Job { return j.Run })
}

// RunTick runs one tick of the named job for every key now: its Tick, or its Run when it
// has none.
func (js *Jobs) RunTick(ctx context.Context, name string) (reconcile.Summary, error) {
	return js.run(ctx, name, func(j Job) reconcile.Job {
		if j.Tick != nil {
			return j.Tick
		}
		return j.Run
	})
}

func (js *Jobs) run(ctx context.Context, name string, pick func(Job) reconcile.Job) (reconcile.Summary, error) {
	j, ok := js.jobs[name]
	if !ok {
		return reconcile.Summary{}, fmt.Errorf("no job %q is wired in this deployment", name)
	}
	if j.Unleased {
		return js.runUnleased(ctx, name, j.Keys(), pick(j)), nil
	}
	r := &reconcile.Runner{Leases: js.env.Store, Log: js.env.Log, Holder: js.env.Holder, TTL: j.TTL, Parallel: j.Parallel}
	return r.Run(ctx, name, j.Keys(), pick(j))
}

// runUnleased runs every key of an unleased job in turn; a failed key is logged and reported
// in the summary, and the others still run.
func (js *Jobs) runUnleased(ctx context.Context, name string, keys []string, run reconcile.Job) reconcile.Summary {
	sum := reconcile.Summary{Job: name}
	for _, key := range keys {
		res := reconcile.Result{Key: key, Outcome: reconcile.Done}
		detail, err := run(ctx, key, store.Lease{})
		res.Detail = detail
		if err != nil {
			js.env.Log.ErrorContext(ctx, "job failed", "job", name, "key", key, "error", err.Error())
			res.Outcome, res.Error = reconcile.Failed, err.Error()
		}
		sum.Results = append(sum.Results, res)
	}
	return sum
}

// Scheduled returns the Lambda handler of jobs triggered by an EventBridge schedule: each
// named job that is wired runs in turn (a job that is not configured here, such as retention
// without executions.retentionDays, is left out). The answer is the first job's summary, with
// the others' results appended.
func (js *Jobs) Scheduled(names ...string) func(context.Context, events.EventBridgeEvent) (reconcile.Summary, error) {
	var wired []string
	for _, n := range names {
		if js.Has(n) {
			wired = append(wired, n)
		}
	}
	if len(wired) == 0 {
		Fatal(js.env.Log, "wire "+js.env.Name, fmt.Errorf("none of the jobs %v is wired", names))
	}
	return func(ctx context.Context, ev events.EventBridgeEvent) (reconcile.Summary, error) {
		var out reconcile.Summary
		var firstErr error
		for i, name := range wired {
			sum, err := js.Run(ctx, name)
			js.env.Log.InfoContext(ctx, "scheduled run", "job", name, "event", ev.ID, "keys", len(sum.Results), "failed", sum.Failed())
			if i == 0 {
				out = sum
			} else {
				out.Results = append(out.Results, sum.Results...)
			}
			if err != nil && firstErr == nil {
				firstErr = err
			}
		}
		return out, firstErr
	}
}
