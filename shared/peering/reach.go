package peering

import (
	"context"
	"time"
)

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
