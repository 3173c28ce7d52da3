package executions

import (
	"context"

	"github.com/logwise/controlplane/shared/fault"
)

// Takeover is the record of an ownership takeover, kept in the execution's context.
type Takeover struct {
	From   string `json:"fromPartition"`
	By     string `json:"by"`
	Reason string `json:"reason"`
	Force  bool   `json:"force"`
	At     int64  `json:"at"`
}

// SetOwner makes the local partition the owner of a foreign execution still owned by from,
// recording who did it and why in its context. From then on the peering copier never
// overwrites it (it writes only rows of the peer's partition), and local runners may continue
// it.
func (r *Repository) SetOwner(ctx context.Context, id, from string, t Takeover) (Detail, error) {
	return r.reown(ctx, id, r.partition, t, func(d Detail) error {
		if r.Owns(d.Partition) {
			return fault.Conflictf("execution %s is already owned by this partition (%s)", id, r.partition).WithCode("ALREADY_OWNED")
		}
		if d.Partition != from {
			return fault.Conflictf("execution %s is now owned by %s, not %s", id, d.Partition, from).WithCode("OWNER_CHANGED")
		}
		return nil
	})
}

// Cede hands an execution this partition owns to partition to, which took it over (the
// former owner learns of it from a TAKEOVER interlink event). From then on every action and
// runner step here is refused as foreign, and the peering copier may overwrite the row with
// the new owner's. An execution already ceded, or owned elsewhere, is a Conflict.
func (r *Repository) Cede(ctx context.Context, id, to string, t Takeover) (Detail, error) {
	if to == "" || r.Owns(to) {
		return Detail{}, fault.Invalidf("execution %s cannot be ceded to partition %q", id, to)
	}
	return r.reown(ctx, id, to, t, func(d Detail) error {
		if !r.Owns(d.Partition) {
			return ForeignError(id, d.Partition)
		}
		return nil
	})
}

// reown moves execution id to partition to when allowed accepts its current state, recording
// the takeover in its context.
func (r *Repository) reown(ctx context.Context, id, to string, t Takeover, allowed func(Detail) error) (Detail, error) {
	if err := validID(id); err != nil {
		return Detail{}, err
	}
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return Detail{}, err
	}
	defer tx.Rollback()
	for _, typ := range []Type{Orchestration, Pipeline} {
		d, err := r.get(ctx, tx, typ, id, true)
		if fault.Is(err, fault.NotFound) {
			continue
		}
		if err != nil {
			return Detail{}, err
		}
		if err := allowed(d); err != nil {
			return Detail{}, err
		}
		now := r.now().UnixMilli()
		t.At = now
		c, _ := d.Body["context"].(map[string]any)
		if c == nil {
			c = map[string]any{}
		}
		c["takeover"] = t
		d.Body["context"] = c
		d.Body["partition"] = to
		d.Partition = to
		d.Owned = r.Owns(to)
		table, _ := tables(typ)
		if _, err := tx.ExecContext(ctx, "UPDATE "+table+" SET `partition` = ? WHERE id = ?", to, id); err != nil {
			return Detail{}, err
		}
		if err := r.write(ctx, tx, &d, now); err != nil {
			return Detail{}, err
		}
		return d, tx.Commit()
	}
	return Detail{}, fault.NotFoundf("execution %s does not exist", id)
}
