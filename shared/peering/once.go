package peering

import "context"

// RunOnce does one pass, under a context that ends StopMargin before ctx's deadline (as each
// of Run's passes does): what the peering function does per tick, each tick being its own
// short invocation.
func (c *Copier) RunOnce(ctx context.Context) (Summary, error) {
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-c.opts.StopMargin))
		defer cancel()
	}
	return c.Pass(ctx)
}
