package supervisor

import (
	"context"
	"time"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/store"
)

// Poll is one scheduled check of the tenant's job, under a lease its caller holds: what the
// sparkmonitor function does per tick, each tick being its own short invocation (Run loops
// the ticks inside one invocation instead, for the local runner).
func (s *Supervisor) Poll(ctx context.Context, t config.Tenant, lease store.Lease) (Report, error) {
	res, err := s.check(ctx, t, lease, Options{Trigger: "schedule"})
	return Report{Checks: []Result{res}}, err
}

// TickSchedule returns the spacing of the scheduled checks and how long after each schedule
// they go on, for tenants polled by one function: the shortest spark.monitor.pollIntervalSeconds
// (a tenant with a longer one is checked more often, which is harmless) and the longest
// spark.monitor.durationSeconds. Unset values take Run's defaults (15 s, 60 s).
func TickSchedule(tenants []config.Tenant) (interval, span time.Duration) {
	for _, t := range tenants {
		i := time.Duration(t.Spark.Monitor.PollIntervalSeconds) * time.Second
		if i <= 0 {
			i = 15 * time.Second
		}
		d := time.Duration(t.Spark.Monitor.DurationSeconds) * time.Second
		if d <= 0 {
			d = 60 * time.Second
		}
		if interval == 0 || i < interval {
			interval = i
		}
		span = max(span, d)
	}
	if interval == 0 {
		interval, span = 15*time.Second, 60*time.Second
	}
	return interval, span
}
