package interlink

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/fault"
)

// OwnerStatus is what this region knows of another partition's liveness.
type OwnerStatus struct {
	DBUnreachableSince time.Time // zero while its database answers the copier
	LastHeartbeat      time.Time // its last interlink HEARTBEAT heard here; zero if none
}

// OwnerHealth reads an owner partition's status (the copier records database contacts, the
// interlink applier heartbeats).
type OwnerHealth interface {
	OwnerStatus(ctx context.Context, partition string) (OwnerStatus, error)
}

// TakeoverRepository is what a takeover needs from the execution log.
type TakeoverRepository interface {
	Get(ctx context.Context, id string) (executions.Detail, error)
	SetOwner(ctx context.Context, id, from string, t executions.Takeover) (executions.Detail, error)
}

// Announcer tells the former owner of an execution that it was taken over.
type Announcer interface {
	AnnounceTakeover(ctx context.Context, d executions.Detail, from, to, by, reason string) error
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
	Announcer      Announcer // nil without interlink: the former owner learns only by peering
	Now            func() time.Time
}

// MayTakeOver is the rule of an unforced takeover: the owner's database has been unreachable
// for at least min and nothing has been heard from the owner over the interlink for at least
// min either (a partition between the databases alone is not enough). It returns whether the
// takeover may go ahead and why.
func MayTakeOver(owner string, s OwnerStatus, now time.Time, min time.Duration) (bool, string) {
	switch {
	case s.DBUnreachableSince.IsZero():
		return false, fmt.Sprintf("the owner partition %s's database is reachable; act on the execution there (an admin token may force a takeover)", owner)
	case now.Sub(s.DBUnreachableSince) < min:
		return false, fmt.Sprintf("the owner partition %s's database has been unreachable only since %s (%s); a takeover needs %s (an admin token may force it)",
			owner, s.DBUnreachableSince.UTC().Format(time.RFC3339), now.Sub(s.DBUnreachableSince).Round(time.Second), min)
	case !s.LastHeartbeat.IsZero() && now.Sub(s.LastHeartbeat) < min:
		return false, fmt.Sprintf("the owner partition %s was heard over the interlink at %s (%s ago): it is alive though its database is unreachable from here; a takeover needs it silent for %s (an admin token may force it)",
			owner, s.LastHeartbeat.UTC().Format(time.RFC3339), now.Sub(s.LastHeartbeat).Round(time.Second), min)
	}
	heard := "never heard over the interlink"
	if !s.LastHeartbeat.IsZero() {
		heard = "last heard over the interlink at " + s.LastHeartbeat.UTC().Format(time.RFC3339)
	}
	return true, fmt.Sprintf("owner's database unreachable since %s and %s (at least %s)", s.DBUnreachableSince.UTC().Format(time.RFC3339), heard, min)
}

// TakeOver makes this partition the owner of execution id, allowed by MayTakeOver or with
// force (the API lets only admin tokens force; user is the token's name). The takeover is
// recorded as an execution and announced to the former owner, which then stops acting on
// the execution. Taking over again an execution this partition took over re-sends the
// announcement (for when the topic was unreachable the first time).
func (t *Takeovers) TakeOver(ctx context.Context, id, user, reason string, force bool) (executions.Detail, error) {
	if strings.TrimSpace(reason) == "" {
		return executions.Detail{}, fault.Invalidf("a takeover needs a reason")
	}
	d, err := t.Repo.Get(ctx, id)
	if err != nil {
		return d, err
	}
	if d.Owned {
		if prev, ok := takenOver(d); ok && t.Announcer != nil {
			return d, t.announce(ctx, d, prev.From, prev.By, prev.Reason)
		}
		return d, fault.Conflictf("execution %s is already owned by this partition", id).WithCode("ALREADY_OWNED")
	}
	owner := d.Partition
	rule := "forced by " + user
	if !force {
		st, err := t.Health.OwnerStatus(ctx, owner)
		if err != nil {
			return d, fmt.Errorf("check owner %s: %w", owner, err)
		}
		ok, why := MayTakeOver(owner, st, t.Now(), t.MinUnreachable)
		if !ok {
			return d, fault.Conflictf("%s", why).WithCode("OWNER_REACHABLE")
		}
		rule = why
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
	if t.Announcer != nil {
		return nd, t.announce(ctx, nd, owner, user, reason)
	}
	return nd, nil
}

func (t *Takeovers) announce(ctx context.Context, d executions.Detail, from, by, reason string) error {
	if err := t.Announcer.AnnounceTakeover(ctx, d, from, d.Partition, by, reason); err != nil {
		return fault.Wrap(fault.Unavailable, err, "execution %s is now owned here, but its former owner %s could not be told "+
			"(it may still act on it): take it over again to re-send the announcement", d.ID, from)
	}
	return nil
}

// takenOver returns the takeover recorded in an execution's context, if any.
func takenOver(d executions.Detail) (executions.Takeover, bool) {
	c, _ := d.Body["context"].(map[string]any)
	m, ok := c["takeover"].(map[string]any)
	if !ok {
		return executions.Takeover{}, false
	}
	from, _ := m["fromPartition"].(string)
	by, _ := m["by"].(string)
	reason, _ := m["reason"].(string)
	return executions.Takeover{From: from, By: by, Reason: reason}, from != ""
}
