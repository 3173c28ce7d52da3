package peering

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/store"
)

// CopyNow copies the given executions of one type from peer peerID at once: the on-demand
// "peer these ids" hint (the idea of Orca's unmerged 05bcd7677), used after an action was
// forwarded to the owner so the requester sees the outcome within seconds. It works under the
// peer's lease like a pass, waiting for a running pass to release it until ctx ends; an
// execution gone from the peer is deleted here within the delete limit, as a pass would. With
// peering switched off (globally or for this peer) it does nothing: 409 PEERING_OFF.
func (c *Copier) CopyNow(ctx context.Context, peerID string, typ ExecutionType, ids []string) (PeerSummary, error) {
	var p *peer
	for _, cand := range c.peers {
		if cand.ID == peerID {
			p = cand
		}
	}
	if p == nil {
		return PeerSummary{}, fault.NotFoundf("peer %s is not configured", peerID)
	}
	t, ok := tables[typ]
	if !ok {
		return PeerSummary{}, fault.Invalidf("execution type %q is not pipeline or orchestration", typ)
	}
	if len(ids) == 0 {
		return PeerSummary{}, nil
	}
	sw, err := c.local.PeeringSwitches(ctx)
	if err != nil {
		return PeerSummary{}, fmt.Errorf("copy now from peer %s: %w", peerID, err)
	}
	if !sw.PeerOn(p.ID) {
		return PeerSummary{}, fault.Conflictf("peering from %s is switched off (globally or for this peer); nothing was copied", peerID).WithCode("PEERING_OFF")
	}
	var lease store.Lease
	for {
		var err error
		lease, err = c.local.AcquireLease(ctx, "peering/"+p.ID, c.opts.Holder, c.opts.LeaseTTL)
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrLeaseHeld) {
			return PeerSummary{}, fmt.Errorf("copy now from peer %s: %w", peerID, err)
		}
		if c.onLeaseHeld != nil {
			c.onLeaseHeld()
		}
		select {
		case <-ctx.Done():
			return PeerSummary{}, fmt.Errorf("copy now from peer %s: a pass holds the peer's lease: %w", peerID, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
	defer c.local.ReleaseLease(context.WithoutCancel(ctx), lease)
	limit := c.opts.MaxAllowedDeleteCount
	if sw.MaxAllowedDeleteCount != nil {
		limit = *sw.MaxAllowedDeleteCount
	}
	r := &peerRun{c: c, p: p, lease: lease, limit: limit, counts: map[ExecutionType]*counts{}}
	for _, et := range executionTypes {
		r.counts[et] = &counts{}
	}
	items := make([]item, len(ids))
	for i, id := range ids {
		items[i] = item{id: id}
	}
	var gone []string
	for _, o := range r.copyAll(ctx, t, items) {
		gone = append(gone, o.gone...)
	}
	r.diffDeletes(ctx, t, gone)
	k := r.counts[typ]
	sum := PeerSummary{Passes: 1, NumPeered: int(k.peered.Load()), NumDeleted: int(k.deleted.Load()),
		NumStagesDeleted: int(k.stagesDeleted.Load()), NumErrors: int(k.errors.Load())}
	if sum.NumErrors > 0 {
		return sum, fmt.Errorf("copy now from peer %s: %d errors (see the log)", peerID, sum.NumErrors)
	}
	return sum, nil
}

// checkReach pings the peer's database and records the outcome, which the ownership
// takeover reads (a foreign execution may be taken over once its owner has been unreachable
// long enough).
func (c *Copier) checkReach(ctx context.Context, p *peer) {
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := p.DB.PingContext(pctx)
	if ctx.Err() != nil {
		return // our own deadline, not the peer's fault
	}
	cause := ""
	if err != nil {
		cause = err.Error()
	}
	if rerr := c.local.RecordPeerContact(ctx, p.ID, err == nil, c.opts.Now(), cause); rerr != nil {
		c.log.WarnContext(ctx, "record peer contact", "peer", p.ID, "error", rerr)
	}
}
