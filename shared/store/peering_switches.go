package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/logwise/controlplane/shared/fault"
)

// PeeringSwitches are the dynamic peering switches (Orca's DynamicConfigService keys), read by
// the peering copier on every pass.
type PeeringSwitches struct {
	// Enabled is the global switch (pollers.peering.enabled, default true).
	Enabled bool
	// PeerEnabled holds the per-peer switches that were set (pollers.peering.<peerId>.enabled);
	// a peer not in the map is enabled.
	PeerEnabled map[string]bool
	// MaxAllowedDeleteCount overrides the configured diff-delete limit when set.
	MaxAllowedDeleteCount *int
}

// PeerOn reports whether peering is on for peerID (globally and for that peer).
func (s PeeringSwitches) PeerOn(peerID string) bool {
	on, set := s.PeerEnabled[peerID]
	return s.Enabled && (!set || on)
}

const peeringGlobalScope = "*"

// PeeringSwitches reads every dynamic peering switch.
func (db *DB) PeeringSwitches(ctx context.Context) (PeeringSwitches, error) {
	out := PeeringSwitches{Enabled: true, PeerEnabled: map[string]bool{}}
	rows, err := db.sql.QueryContext(ctx, `SELECT scope, enabled, max_allowed_delete_count FROM peering_switches`)
	if err != nil {
		return out, mapErr(fmt.Errorf("read peering switches: %w", err))
	}
	defer rows.Close()
	for rows.Next() {
		var scope string
		var enabled sql.NullBool
		var limit sql.NullInt64
		if err := rows.Scan(&scope, &enabled, &limit); err != nil {
			return out, fmt.Errorf("read peering switches: %w", err)
		}
		if scope == peeringGlobalScope {
			if enabled.Valid {
				out.Enabled = enabled.Bool
			}
			if limit.Valid {
				n := int(limit.Int64)
				out.MaxAllowedDeleteCount = &n
			}
			continue
		}
		if enabled.Valid {
			out.PeerEnabled[scope] = enabled.Bool
		}
	}
	return out, mapErr(rows.Err())
}

// SetPeeringEnabled turns all peering on or off.
func (db *DB) SetPeeringEnabled(ctx context.Context, enabled bool) error {
	return db.setPeeringSwitch(ctx, peeringGlobalScope, "enabled", enabled)
}

// SetPeerEnabled turns peering from one peer on or off.
func (db *DB) SetPeerEnabled(ctx context.Context, peerID string, enabled bool) error {
	if peerID == "" || peerID == peeringGlobalScope || len(peerID) > 32 {
		return fault.Invalidf("peer id %q is not a partition name (1-32 characters)", peerID)
	}
	return db.setPeeringSwitch(ctx, peerID, "enabled", enabled)
}

// SetPeeringDeleteLimit overrides the diff-delete limit (maxAllowedDeleteCount); nil returns
// to the configured value. 0 turns diff deletes off.
func (db *DB) SetPeeringDeleteLimit(ctx context.Context, limit *int) error {
	if limit != nil && *limit < 0 {
		return fault.Invalidf("maxAllowedDeleteCount %d must not be negative", *limit)
	}
	var v any
	if limit != nil {
		v = *limit
	}
	return db.setPeeringSwitch(ctx, peeringGlobalScope, "max_allowed_delete_count", v)
}

func (db *DB) setPeeringSwitch(ctx context.Context, scope, column string, value any) error {
	_, err := db.sql.ExecContext(ctx,
		"INSERT INTO peering_switches (scope, "+column+", updated_at_ms) VALUES (?, ?, ?) "+
			"ON DUPLICATE KEY UPDATE "+column+" = VALUES("+column+"), updated_at_ms = VALUES(updated_at_ms)",
		scope, value, db.now().UnixMilli())
	if err != nil {
		return mapErr(fmt.Errorf("set peering switch %s.%s: %w", scope, column, err))
	}
	return nil
}
