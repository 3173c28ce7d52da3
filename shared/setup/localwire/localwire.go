// Package localwire wires every function into one process for the local runner (cmd/local)
// and the tests of the whole system: the API and every scheduled job, sharing the tenants'
// clients. Scaling decisions are applied in process and on-demand copies run on the
// in-process copier, where the Lambda functions would invoke the scaler and the peering
// function.
package localwire

import (
	"context"
	"sync"
	"time"

	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/httpapi"
	"github.com/logwise/controlplane/shared/interlink"
	"github.com/logwise/controlplane/shared/reconcile"
	"github.com/logwise/controlplane/shared/scaling/actuators"
	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/setup/apiwire"
	"github.com/logwise/controlplane/shared/setup/buckets"
	"github.com/logwise/controlplane/shared/setup/discoverywire"
	"github.com/logwise/controlplane/shared/setup/peerwire"
	"github.com/logwise/controlplane/shared/setup/scalewire"
	"github.com/logwise/controlplane/shared/setup/sparkwire"
	"github.com/logwise/controlplane/shared/tracing"
)

// System is the whole control plane in one process.
type System struct {
	Env     *setup.Env
	API     *httpapi.Server
	Peering *peerwire.Peering
	jobs    *setup.Jobs
	copies  *copierNow
}

// New wires the API and every job over env (loaded with Options.Migrate).
func New(ctx context.Context, env *setup.Env) (*System, error) {
	b := buckets.New(env.AWS)
	sup := sparkwire.New(env, b)
	sc := scalewire.New(env, b, actuators.InProcess(env.AWS, tracing.HTTPClient))
	peer := peerwire.New(env)
	jobs := setup.NewJobs(env)
	sparkwire.AddJobs(env, jobs, sup)
	sc.AddJobs(jobs)
	discoverywire.AddJobs(env, jobs, discoverywire.New(env, b, nil))
	peer.AddJobs(jobs)
	copies := newCopierNow(peer, env)
	var peerNow interlink.PeerNow
	if peer.Enabled() {
		peerNow = copies
	}
	api, err := apiwire.New(ctx, env, apiwire.Options{Buckets: b, Spark: sup, Scaling: sc, PeerNow: peerNow})
	if err != nil {
		return nil, err
	}
	return &System{Env: env, API: api, Peering: peer, jobs: jobs, copies: copies}, nil
}

// Close stops the on-demand copies under way, then closes the Env and what was opened over
// it (peer pools, Kafka clients, the store). Stop running jobs and requests first.
func (s *System) Close() {
	s.copies.stop()
	s.Env.Close()
}

// Jobs lists the wired jobs.
func (s *System) Jobs() []string { return s.jobs.Names() }

// RunJob runs the named job for every key now.
func (s *System) RunJob(ctx context.Context, name string) (reconcile.Summary, error) {
	return s.jobs.Run(ctx, name)
}

// copierNow asks the in-process copier, in the background as the Lambda invocation would be:
// the copy outlives the request, not the system.
type copierNow struct {
	peer   *peerwire.Peering
	env    *setup.Env
	life   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newCopierNow(peer *peerwire.Peering, env *setup.Env) *copierNow {
	life, cancel := context.WithCancel(context.Background())
	return &copierNow{peer: peer, env: env, life: life, cancel: cancel}
}

// stop cancels the copies under way and waits for them.
func (n *copierNow) stop() {
	n.cancel()
	n.wg.Wait()
}

func (n *copierNow) RequestCopy(ctx context.Context, peerID string, t executions.Type, ids []string) error {
	n.wg.Go(func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		defer context.AfterFunc(n.life, cancel)()
		if _, err := n.peer.CopyNow(cctx, interlink.CopyNowRequest{PeerID: peerID, ExecutionType: string(t), IDs: ids}); err != nil {
			n.env.Log.WarnContext(cctx, "on-demand copy", "peer", peerID, "error", err.Error())
		}
	})
	return nil
}
