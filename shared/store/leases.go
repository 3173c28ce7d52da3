package store

import (
	"context"
	"database/sql"
	"errors"
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

// dbNowMs is the database's clock in epoch milliseconds (plus the test skew, its one
// argument). Leases are judged on it, never on a caller's clock: Lambda hosts drift, and two
// hosts disagreeing on the time must not both hold a lease.
const dbNowMs = `(CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED) + ?)`

// AcquireLease takes the lease name for holder for ttl, if it is free or expired by the
// database's clock. Exactly one of several concurrent callers succeeds; the others get
// ErrLeaseHeld. The returned ExpiresAt is the holder's estimate on its own clock (for
// scheduling renewals); the database decides.
func (db *DB) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (Lease, error) {
	skew, ttlMs := db.skewMs.Load(), ttl.Milliseconds()
	exp := db.now().Add(ttl)
	res, err := db.sql.ExecContext(ctx,
		`INSERT IGNORE INTO leases (name, holder, token, expiresAtMs, acquiredAtMs) VALUES (?, ?, 1, `+dbNowMs+` + ?, `+dbNowMs+`)`,
		name, holder, skew, ttlMs, skew)
	if err != nil {
		return Lease{}, mapErr(fmt.Errorf("acquire lease %s: %w", name, err))
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return Lease{Name: name, Holder: holder, Token: 1, ExpiresAt: exp}, nil
	}
	// The row exists: take it over only if it has expired (a released lease has expiry 0).
	// InnoDB re-checks the WHERE clause under the row lock, so two racing takeovers cannot
	// both match.
	res, err = db.sql.ExecContext(ctx,
		`UPDATE leases SET holder = ?, token = token + 1, expiresAtMs = `+dbNowMs+` + ?, acquiredAtMs = `+dbNowMs+`
		 WHERE name = ? AND expiresAtMs <= `+dbNowMs,
		holder, skew, ttlMs, skew, name, skew)
	if err != nil {
		return Lease{}, mapErr(fmt.Errorf("take over lease %s: %w", name, err))
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return Lease{}, fmt.Errorf("acquire lease %s: %w", name, ErrLeaseHeld)
	}
	var l Lease
	err = db.sql.QueryRowContext(ctx, `SELECT holder, token FROM leases WHERE name = ?`, name).Scan(&l.Holder, &l.Token)
	if err != nil {
		return Lease{}, mapErr(fmt.Errorf("read lease %s: %w", name, err))
	}
	if l.Holder != holder {
		return Lease{}, fmt.Errorf("acquire lease %s: %w", name, ErrLeaseHeld)
	}
	l.Name, l.ExpiresAt = name, exp
	return l, nil
}

// RenewLease extends a lease still held under the same token and not expired (or released)
// by the database's clock. A lease that lapsed may already be someone else's to take: the
// holder gets ErrStaleToken and must stop, as after a takeover. Release is final: a renew
// that lands after it fails.
func (db *DB) RenewLease(ctx context.Context, l Lease, ttl time.Duration) (Lease, error) {
	skew := db.skewMs.Load()
	exp := db.now().Add(ttl)
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		if err := db.checkToken(ctx, tx, l, true); err != nil {
			return err
		}
		var live bool
		if err := tx.QueryRowContext(ctx, `SELECT expiresAtMs > `+dbNowMs+` FROM leases WHERE name = ?`, skew, l.Name).Scan(&live); err != nil {
			return mapErr(fmt.Errorf("check lease %s: %w", l.Name, err))
		}
		if !live {
			return fmt.Errorf("lease %s token %d expired or was released: %w", l.Name, l.Token, ErrStaleToken)
		}
		_, err := tx.ExecContext(ctx, `UPDATE leases SET expiresAtMs = `+dbNowMs+` + ? WHERE name = ? AND token = ?`,
			skew, ttl.Milliseconds(), l.Name, l.Token)
		return mapErr(err)
	})
	if err != nil {
		if errors.Is(err, ErrStaleToken) {
			return l, err
		}
		return l, fmt.Errorf("renew lease %s: %w", l.Name, err)
	}
	l.ExpiresAt = exp
	return l, nil
}

// ReleaseLease frees a lease still held under the same token; the row stays, so the next
// token is still larger than every earlier one. Its expiry 0 is final: RenewLease refuses it.
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
