package setup

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/httpapi"
	"github.com/logwise/controlplane/shared/interlink"
	"github.com/logwise/controlplane/shared/peering"
	"github.com/logwise/controlplane/shared/reconcile"
	"github.com/logwise/controlplane/shared/supervisor"
)

// App is the wired control plane: the API server and the scheduled jobs, built from one Env.
// Every function's main.go and the local runner build the same App, so the API and the
// schedules call the same logic.
type App struct {
	Env  *Env
	API  *httpapi.Server
	deps httpapi.Deps
	jobs map[string]Job

	clients     *clients
	executions  *executions.Repository
	copier      *peering.Copier
	applier     *interlink.Applier
	forwarder   *interlink.Forwarder // nil without interlink
	supervisor  *supervisor.Supervisor
	kafkaAdmins map[string]*kadm.Client
}

// Job is a scheduled reconciler: Run is called once per key under the lease "<name>/<key>".
type Job struct {
	Keys func() []string
	// TTL is the lease duration; it must exceed one key's run (it is renewed meanwhile).
	TTL time.Duration
	Run reconcile.Job
	// Parallel is how many keys run at once (0: the runner's default).
	Parallel int
}

// NewApp wires every domain into the API and the job table.
func NewApp(env *Env) (*App, error) {
	a := &App{Env: env, jobs: map[string]Job{}, deps: httpapi.Deps{Health: env.Store, Switches: env.Store, Redactor: env.Redactor},
		clients: newClients(env), kafkaAdmins: map[string]*kadm.Client{}}
	for _, wire := range wirings {
		if err := wire(a); err != nil {
			return nil, err
		}
	}
	a.API = newAPI(a)
	return a, nil
}

func newAPI(a *App) *httpapi.Server { return httpapi.New(a.Env.Config, a.Env.Log, a.deps) }

// wirings are the domains' wiring functions, one per file (wire_*.go), in dependency order:
// scaling connects the Kafka clients that discovery's health check uses.
var wirings = []func(*App) error{wireExecutions, wireSpark, wireScaling, wireDiscovery, wirePeering, wireInterlink}

// MustApp loads the environment and wires the app, or exits.
func MustApp(ctx context.Context, name string) *App {
	env := MustLoad(ctx, name)
	app, err := NewApp(env)
	if err != nil {
		Fatal(env.Log, "wire "+name, err)
	}
	return app
}

// Jobs lists the registered scheduled jobs.
func (a *App) Jobs() []string {
	var out []string
	for name := range a.jobs {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// RunJob runs the named job for every key now.
func (a *App) RunJob(ctx context.Context, name string) (reconcile.Summary, error) {
	j, ok := a.jobs[name]
	if !ok {
		return reconcile.Summary{}, fmt.Errorf("no job %q is wired in this deployment", name)
	}
	r := &reconcile.Runner{Leases: a.Env.Store, Log: a.Env.Log, Holder: a.Env.Holder, TTL: j.TTL, Parallel: j.Parallel}
	return r.Run(ctx, name, j.Keys(), j.Run)
}

// Scheduled returns the Lambda handler of jobs triggered by an EventBridge schedule: each
// named job that is wired runs in turn (a job that is not configured here, such as retention
// without executions.retentionDays, is left out). The answer is the first job's summary, with
// the others' results appended.
func (a *App) Scheduled(names ...string) func(context.Context, events.EventBridgeEvent) (reconcile.Summary, error) {
	var wired []string
	for _, n := range names {
		if _, ok := a.jobs[n]; ok {
			wired = append(wired, n)
		}
	}
	if len(wired) == 0 {
		Fatal(a.Env.Log, "wire "+a.Env.Name, fmt.Errorf("none of the jobs %v is wired", names))
	}
	return func(ctx context.Context, ev events.EventBridgeEvent) (reconcile.Summary, error) {
		var out reconcile.Summary
		var firstErr error
		for i, name := range wired {
			sum, err := a.RunJob(ctx, name)
			a.Env.Log.InfoContext(ctx, "scheduled run", "job", name, "event", ev.ID, "keys", len(sum.Results), "failed", sum.Failed())
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
