package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ScaleOverride is an operator's per-tenant override of the Spark job's scaling flags. A nil
// flag means "no override": the flag the Spark job sent applies.
type ScaleOverride struct {
	Upscale   *bool
	Downscale *bool
}

// ScaleOverride returns the tenant's override; no row is the zero override (both nil).
func (db *DB) ScaleOverride(ctx context.Context, tenant string) (ScaleOverride, error) {
	var up, down sql.NullBool
	err := db.sql.QueryRowContext(ctx,
		`SELECT upscale, downscale FROM spark_scale_override WHERE tenant = ?`, tenant).Scan(&up, &down)
	if errors.Is(err, sql.ErrNoRows) {
		return ScaleOverride{}, nil
	}
	if err != nil {
		return ScaleOverride{}, mapErr(fmt.Errorf("read scale override for tenant %s: %w", tenant, err))
	}
	var o ScaleOverride
	if up.Valid {
		o.Upscale = &up.Bool
	}
	if down.Valid {
		o.Downscale = &down.Bool
	}
	return o, nil
}

// SetScaleOverride replaces the tenant's override (both flags; nil clears one). Sending the
// same values again succeeds: zero affected rows is not an error.
func (db *DB) SetScaleOverride(ctx context.Context, tenant string, o ScaleOverride) error {
	_, err := db.sql.ExecContext(ctx,
		`INSERT INTO spark_scale_override (tenant, upscale, downscale, updatedAt) VALUES (?, ?, ?, ?)
		 ON DUPLICATE KEY UPDATE upscale = VALUES(upscale), downscale = VALUES(downscale), updatedAt = VALUES(updatedAt)`,
		tenant, nullBool(o.Upscale), nullBool(o.Downscale), db.now().UTC())
	if err != nil {
		return mapErr(fmt.Errorf("set scale override for tenant %s: %w", tenant, err))
	}
	return nil
}

func nullBool(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}
