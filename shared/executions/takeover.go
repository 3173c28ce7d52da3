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
		if r.Owns(d.Partition) {
			return Detail{}, fault.Conflictf("execution %s is already owned by this partition (%s)", id, r.partition).WithCode("ALREADY_OWNED")
		}
		if d.Partition != from {
			return Detail{}, fault.Conflictf("execution %s is now owned by %s, not %s", id, d.Partition, from).WithCode("OWNER_CHANGED")
		}
		now := r.now().UnixMilli()
		t.At = now
		c, _ := d.Body["context"].(map[string]any)
		if c == nil {
			c = map[string]any{}
		}
		c["takeover"] = t
		d.Body["context"] = c
		d.Body["partition"] = r.partition
		d.Partition = r.partition
		d.Owned = true
		table, _ := tables(typ)
		if _, err := tx.ExecContext(ctx, "UPDATE "+table+" SET `partition` = ? WHERE id = ?", r.partition, id); err != nil {
			return Detail{}, err
		}
		if err := r.write(ctx, tx, &d, now); err != nil {
			return Detail{}, err
		}
		return d, tx.Commit()
	}
	return Detail{}, fault.NotFoundf("execution %s does not exist", id)
}
