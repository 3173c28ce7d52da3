package interlink

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/fault"
)

// OwnerHealth says since when a peer's database has been unreachable (the peering copier
// records its contacts).
type OwnerHealth interface {
	UnreachableSince(ctx context.Context, peerID string) (since time.Time, unreachable bool, err error)
}

// TakeoverRepository is what a takeover needs from the execution log.
type TakeoverRepository interface {
	Get(ctx context.Context, id string) (executions.Detail, error)
	SetOwner(ctx context.Context, id, from string, t executions.Takeover) (executions.Detail, error)
}

type recorder interface {
	Record(ctx context.Context, a executions.Action) (string, error)
}

// Takeovers lets an operator take over a foreign execution whose owner region is gone.
type Takeovers struct {
	Repo           TakeoverRepository
	Health         OwnerHealth
	MinUnreachable time.Duration
	Recorder       recorder
	Now            func() time.Time
}

// TakeOver makes this partition the owner of execution id. It is allowed only when the
// owner's database has been unreachable for at least MinUnreachable, or with force (which is
// recorded). The takeover itself is recorded as an execution.
func (t *Takeovers) TakeOver(ctx context.Context, id, user, reason string, force bool) (executions.Detail, error) {
	if strings.TrimSpace(reason) == "" {
		return executions.Detail{}, fault.Invalidf("a takeover needs a reason")
	}
	d, err := t.Repo.Get(ctx, id)
	if err != nil {
		return d, err
	}
	if d.Owned {
		return d, fault.Conflictf("execution %s is already owned by this partition", id).WithCode("ALREADY_OWNED")
	}
	owner := d.Partition
	rule := "forced by the operator"
	if !force {
		since, down, err := t.Health.UnreachableSince(ctx, owner)
		if err != nil {
			return d, fmt.Errorf("check owner %s: %w", owner, err)
		}
		now := t.Now()
		if !down || now.Sub(since) < t.MinUnreachable {
			msg := fmt.Sprintf("the owner partition %s is reachable; act on the execution there (or take over with force)", owner)
			if down {
				msg = fmt.Sprintf("the owner partition %s has been unreachable only since %s (%s); a takeover needs %s, or force",
					owner, since.UTC().Format(time.RFC3339), now.Sub(since).Round(time.Second), t.MinUnreachable)
			}
			return d, fault.Conflictf("%s", msg).WithCode("OWNER_REACHABLE")
		}
		rule = fmt.Sprintf("owner unreachable since %s (at least %s)", since.UTC().Format(time.RFC3339), t.MinUnreachable)
	}
	nd, err := t.Repo.SetOwner(ctx, id, owner, executions.Takeover{From: owner, By: user, Reason: reason, Force: force})
	if err != nil {
		return nd, err
	}
	if t.Recorder != nil {
		_, _ = t.Recorder.Record(ctx, executions.Action{Tenant: d.Application, Kind: "ownershipTakeover",
			Description: fmt.Sprintf("took over execution %s from partition %s", id, owner), Trigger: "operator",
			Inputs: map[string]any{"executionId": id, "from": owner, "by": user, "reason": reason, "force": force},
			Rule:   rule, Outcome: map[string]any{"partition": nd.Partition}})
	}
	return nd, nil
}
