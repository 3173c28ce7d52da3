// Package peerwire wires the peering function: the execution copier over the configured peer
// databases, the interlink applier of the region's SQS queue, and on-demand copies. Peer
// secrets are read and peer pools opened at the first pass, not at start, so a peer that is
// down (or a peer secret that cannot be read) never stops the function from starting; such a
// peer is left out of that pass, named in its error, and tried again on the next.
package peerwire

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/interlink"
	"github.com/logwise/controlplane/shared/peering"
	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/setup/linkwire"
	"github.com/logwise/controlplane/shared/setup/tickwire"
	"github.com/logwise/controlplane/shared/store"
)

// Peering is the wired peering domain.
type Peering struct {
	env     *setup.Env
	Applier *interlink.Applier
	// heartbeat publishes this region's HEARTBEAT on each scheduled run (nil without interlink):
	// an unforced takeover of this region's executions needs it silent.
	heartbeat *interlink.Forwarder

	mu      sync.Mutex
	copier  *peering.Copier
	missing error // the peers left out of the copier (nil: every enabled peer is in)
	pools   map[string]*sql.DB
}

// New wires peering; it contacts nothing.
func New(env *setup.Env) *Peering {
	p := &Peering{env: env, Applier: &interlink.Applier{Repo: env.Executions, Heartbeats: env.Store, Log: env.Log},
		heartbeat: linkwire.Forwarder(env), pools: map[string]*sql.DB{}}
	env.OnClose(p.close)
	return p
}

// Enabled reports whether this deployment copies from any peer.
func (p *Peering) Enabled() bool {
	cfg := p.env.Config.Peering
	return cfg.Enabled && len(cfg.Peers) > 0
}

// Copier returns the copier, building it on first use (and again while a peer is missing).
// Building writes this region's partition_name row. The error names the peers left out.
func (p *Peering) Copier(ctx context.Context) (*peering.Copier, error) {
	if !p.Enabled() {
		return nil, fault.New(fault.Unavailable, "peering is not enabled in this deployment")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.copier != nil && p.missing == nil {
		return p.copier, nil
	}
	cfg := p.env.Config
	var peers []peering.Peer
	var missing []error
	for _, pc := range cfg.Peering.Peers {
		if !pc.IsEnabled() {
			continue
		}
		db, err := p.pool(ctx, pc.ID, pc.DSN, pc.SecretARN, pc.Name)
		if err != nil {
			missing = append(missing, err)
			continue
		}
		peers = append(peers, peering.Peer{ID: pc.ID, DB: db})
	}
	opts := peering.OptionsFrom(cfg.Peering, cfg.Deployment.Partition)
	opts.Holder = p.env.Holder
	c, err := peering.New(ctx, p.env.Store, peers, opts, p.env.Executions, p.env.Metrics, p.env.Log)
	if err != nil {
		return nil, fmt.Errorf("peering: %w", err)
	}
	p.copier, p.missing = c, errors.Join(missing...)
	return c, p.missing
}

// close closes the peer pools (at the Env's Close). A later Copier opens them again.
func (p *Peering) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, db := range p.pools {
		db.Close()
		delete(p.pools, id)
	}
	p.copier = nil
}

// pool opens (once) a read-only pool on a peer's database, without contacting it.
func (p *Peering) pool(ctx context.Context, id, dsn, secretARN, name string) (*sql.DB, error) {
	if db, ok := p.pools[id]; ok {
		return db, nil
	}
	var sc store.Config
	var err error
	if dsn != "" {
		sc, err = store.ParseDSN(dsn)
	} else {
		var s string
		if s, err = p.env.Secrets.Get(ctx, secretARN); err == nil {
			sc, err = store.ConfigFromSecret(s, name)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("peering.peers %s: %w", id, err)
	}
	if sc.Name == "" {
		sc.Name = name
	}
	sc.MaxOpenConns = 8
	db, err := store.Pool(sc)
	if err != nil {
		return nil, fmt.Errorf("peering.peers %s: open %s: %w", id, sc, err)
	}
	p.pools[id] = db
	return db, nil
}

// AddJobs registers the peeringcopier job when peering is enabled.
func (p *Peering) AddJobs(jobs *setup.Jobs) {
	if !p.Enabled() {
		return
	}
	withCopier := func(run func(*peering.Copier, context.Context) (peering.Summary, error)) func(context.Context, string, store.Lease) (any, error) {
		return func(ctx context.Context, _ string, _ store.Lease) (any, error) {
			c, err := p.Copier(ctx)
			if c == nil {
				return nil, err
			}
			sum, runErr := run(c, ctx)
			return sum, errors.Join(runErr, err)
		}
	}
	// Unleased: every write of the copier is fenced by its lease on the peer (peering/<peerId>),
	// so overlapping invocations alternate on a peer and never both act; a job lease around
	// them only let an invocation cut short by its deadline lock every peer out for its TTL.
	jobs.Add("peeringcopier", setup.Job{
		Keys:     func() []string { return []string{"copier"} },
		Unleased: true,
		Run:      withCopier((*peering.Copier).Run),     // passes until shortly before the deadline (local runner)
		Tick:     withCopier((*peering.Copier).RunOnce), // one pass per invocation (the peering function)
	})
}

// TickInterval is the spacing of the peering function's passes (peering.intervalMs).
func (p *Peering) TickInterval() time.Duration {
	return time.Duration(p.env.Config.Peering.IntervalMs) * time.Millisecond
}

// Handler is the peering function's Lambda handler. It takes four events: the EventBridge
// schedule (one pass now, the minute's later passes queued as ticks), a batch from its ticks
// queue (one pass per tick), a batch from the region's interlink SQS queue (apply the events
// addressed to this partition), and an on-demand {"copyNow":{...}} invocation (copy those
// executions now, retrying a few times because the owner applies the forwarded action
// asynchronously).
func (p *Peering) Handler(jobs *setup.Jobs, tk *tickwire.Ticker) func(context.Context, json.RawMessage) (any, error) {
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var probe struct {
			Records []struct {
				EventSource string `json:"eventSource"`
			} `json:"Records"`
			DetailType string                    `json:"detail-type"`
			CopyNow    *interlink.CopyNowRequest `json:"copyNow"`
		}
		if err := json.Unmarshal(raw, &probe); err != nil {
			return nil, fmt.Errorf("decode event: %w", err)
		}
		switch {
		case len(probe.Records) > 0 && probe.Records[0].EventSource == "aws:sqs":
			var ev events.SQSEvent
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("decode SQS event: %w", err)
			}
			if tickwire.IsTickBatch(ev) {
				if !jobs.Has("peeringcopier") {
					return map[string]string{"skipped": "peering is not enabled in this deployment"}, nil
				}
				return tk.Consume(ctx, ev)
			}
			return p.Applier.HandleSQS(ctx, ev)
		case probe.CopyNow != nil:
			return p.CopyNow(ctx, *probe.CopyNow)
		case probe.DetailType != "":
			if p.heartbeat != nil {
				if err := p.heartbeat.Heartbeat(ctx, p.env.Config.Deployment.Partition); err != nil {
					p.env.Log.WarnContext(ctx, "publish interlink heartbeat", "error", err.Error())
				}
			}
			if !jobs.Has("peeringcopier") {
				return map[string]string{"skipped": "peering is not enabled in this deployment"}, nil
			}
			return tk.Scheduled(ctx, events.EventBridgeEvent{})
		}
		return nil, fault.Invalidf("the peering function takes a schedule, an SQS batch or {\"copyNow\":{...}}")
	}
}

// CopyNow copies the named executions from a peer now, three times over a few seconds.
func (p *Peering) CopyNow(ctx context.Context, req interlink.CopyNowRequest) ([]peering.PeerSummary, error) {
	c, err := p.Copier(ctx)
	if c == nil {
		return nil, err
	}
	var sums []peering.PeerSummary
	for i, wait := range []time.Duration{0, 2 * time.Second, 5 * time.Second} {
		if i > 0 {
			select {
			case <-ctx.Done():
				return sums, nil
			case <-time.After(wait):
			}
		}
		s, err := c.CopyNow(ctx, req.PeerID, executions.Type(req.ExecutionType), req.IDs)
		if err != nil {
			return sums, err
		}
		sums = append(sums, s)
	}
	return sums, nil
}
