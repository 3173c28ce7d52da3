package setup

import (
	"context"
	"time"

	"github.com/logwise/controlplane/shared/store"
)

// wireExecutions serves the execution log and schedules its retention: completed executions
// older than executions.retentionDays are deleted with tombstones, so peers delete them too.
func wireExecutions(a *App) error {
	repo := a.Env.Executions
	a.executions = repo
	a.deps.Executions = repo
	days := a.Env.Config.Executions.RetentionDays
	if days <= 0 {
		return nil
	}
	a.jobs["retention"] = Job{
		Keys: func() []string { return []string{"executions"} },
		TTL:  2 * time.Minute,
		Run: func(ctx context.Context, _ string, _ store.Lease) (any, error) {
			n, err := repo.PurgeCompleted(ctx, time.Now().Add(-time.Duration(days)*24*time.Hour), 1000)
			return map[string]int{"deleted": n}, err
		},
	}
	return nil
}
