package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/logwise/controlplane/shared/fault"
)

// Lease is the right, until ExpiresAt, to act for one (job, tenant or peer). Token is a
// fencing token: it grows with every acquisition, so writes made under an old token after a
// takeover are refused (WithFence).
type Lease struct {
	Name      string
	Holder    string
	Token     uint64
	ExpiresAt time.Time
}

// ErrLeaseHeld means another holder has an unexpired lease.
var ErrLeaseHeld = fault.Conflictf("lease is held by another invocation")

// ErrStaleToken means the lease was taken over since it was acquired: the holder must stop.
var ErrStaleToken = fault.Conflictf("lease was taken over (stale fencing token)")

// AcquireLease takes the lease name for holder for ttl, if it is free or expired. Exactly one
// of several concurrent callers succeeds; the others get ErrLeaseHeld.
func (db *DB) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, error) {
	now := db.now()
	exp := now.Add(ttl)
	res, err := db.sql.ExecContext(ctx,
		`INSERT IGNORE INTO leases (name, holder, token, expiresAtMs, acquiredAtMs) VALUES (?, ?, 1, ?, ?)`,
		name, holder, exp.UnixMilli(), now.UnixMilli())
	if err != nil {
		return Lease{}, mapErr(fmt.Errorf("acquire lease %s: %w", name, err))
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return Lease{Name: name, Holder: holder, Token: 1, ExpiresAt: exp}, nil
	}
	// The row exists: take it over only if it has expired. InnoDB re-checks the WHERE
	// clause under the row lock, so two racing takeovers cannot both match.
	res, err = db.sql.ExecContext(ctx,
		`UPDATE leases SET holder = ?, token = token + 1, expiresAtMs = ?, acquiredAtMs = ?
		 WHERE name = ? AND expiresAtMs <= ?`,
		holder, exp.UnixMilli(), now.UnixMilli(), name, now.UnixMilli())
	if err != nil {
		return Lease{}, mapErr(fmt.Errorf("take over lease %s: %w", name, err))
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return Lease{}, fmt.Errorf("acquire lease %s: %w", name, ErrLeaseHeld)
	}
	var l Lease
	var expMs int64
	err = db.sql.QueryRowContext(ctx, `SELECT holder, token, expiresAtMs FROM leases WHERE name = ?`, name).
		Scan(&l.Holder, &l.Token, &expMs)
	if err != nil {
		return Lease{}, mapErr(fmt.Errorf("read lease %s: %w", name, err))
	}
	if l.Holder != holder {
		return Lease{}, fmt.Errorf("acquire lease %s: %w", name, ErrLeaseHeld)
	}
	l.Name, l.ExpiresAt = name, time.UnixMilli(expMs)
	return l, nil
}

// RenewLease extends a lease still held under the same token.
func (db *DB) RenewLease(ctx context.Context, l Lease, ttl time.Duration) (Lease, error) {
	exp := db.now().Add(ttl)
	_, err := db.sql.ExecContext(ctx,
		`UPDATE leases SET expiresAtMs = ? WHERE name = ? AND holder = ? AND token = ?`,
		exp.UnixMilli(), l.Name, l.Holder, l.Token)
	if err != nil {
		return l, mapErr(fmt.Errorf("renew lease %s: %w", l.Name, err))
	}
	if err := db.checkToken(ctx, db.sql, l, false); err != nil {
		return l, err
	}
	l.ExpiresAt = exp
	return l, nil
}

// ReleaseLease frees a lease still held under the same token; the row stays, so the next
// token is still larger than every earlier one.
func (db *DB) ReleaseLease(ctx context.Context, l Lease) error {
	_, err := db.sql.ExecContext(ctx,
		`UPDATE leases SET expiresAtMs = 0 WHERE name = ? AND holder = ? AND token = ?`,
		l.Name, l.Holder, l.Token)
	return mapErr(err)
}

// ReleaseHolder frees lease name if holder holds it, whatever its token: for a holder whose
// acquire was cut short and so never learnt the token the server may have granted.
func (db *DB) ReleaseHolder(ctx context.Context, name, holder string) error {
	_, err := db.sql.ExecContext(ctx, `UPDATE leases SET expiresAtMs = 0 WHERE name = ? AND holder = ?`, name, holder)
	return mapErr(err)
}

// WithFence runs fn in a transaction that first locks the lease row and checks that l's token
// is still current. A holder that lost its lease gets ErrStaleToken and fn is not run; a
// takeover that races with fn waits for the transaction to commit.
func (db *DB) WithFence(ctx context.Context, l Lease, fn func(*sql.Tx) error) error {
	return db.InTx(ctx, func(tx *sql.Tx) error {
		if err := db.checkToken(ctx, tx, l, true); err != nil {
			return err
		}
		return fn(tx)
	})
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (db *DB) checkToken(ctx context.Context, q queryer, l Lease, lock bool) error {
	query := `SELECT holder, token FROM leases WHERE name = ?`
	if lock {
		query += ` FOR UPDATE`
	}
	var holder string
	var token uint64
	if err := q.QueryRowContext(ctx, query, l.Name).Scan(&holder, &token); err != nil {
		return mapErr(fmt.Errorf("check lease %s: %w", l.Name, err))
	}
	if token != l.Token || holder != l.Holder {
		return fmt.Errorf("lease %s token %d (now %d held by %s): %w", l.Name, l.Token, token, holder, ErrStaleToken)
	}
	return nil
}
