package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// RecordPeerContact notes the outcome of trying to reach a peer's database: a success clears
// the unreachable mark; a failure starts it (keeping the first failure's time).
func (db *DB) RecordPeerContact(ctx context.Context, peerID string, reached bool, at time.Time, cause string) error {
	var err error
	if reached {
		_, err = db.sql.ExecContext(ctx, `INSERT INTO peer_contacts (peer_id, last_contact_ms, unreachable_since_ms, last_error)
			VALUES (?, ?, NULL, NULL)
			ON DUPLICATE KEY UPDATE last_contact_ms = VALUES(last_contact_ms), unreachable_since_ms = NULL, last_error = NULL`,
			peerID, at.UnixMilli())
	} else {
		if len(cause) > 1024 {
			cause = cause[:1024]
		}
		_, err = db.sql.ExecContext(ctx, `INSERT INTO peer_contacts (peer_id, last_contact_ms, unreachable_since_ms, last_error)
			VALUES (?, NULL, ?, ?)
			ON DUPLICATE KEY UPDATE unreachable_since_ms = COALESCE(unreachable_since_ms, VALUES(unreachable_since_ms)), last_error = VALUES(last_error)`,
			peerID, at.UnixMilli(), cause)
	}
	if err != nil {
		return mapErr(fmt.Errorf("record contact with peer %s: %w", peerID, err))
	}
	return nil
}

// RecordHeartbeat notes that partition's interlink HEARTBEAT was heard at at (a later one
// never moves it back).
func (db *DB) RecordHeartbeat(ctx context.Context, partition string, at time.Time) error {
	_, err := db.sql.ExecContext(ctx, `INSERT INTO peer_contacts (peer_id, last_heartbeat_ms) VALUES (?, ?)
		ON DUPLICATE KEY UPDATE last_heartbeat_ms = GREATEST(COALESCE(last_heartbeat_ms, 0), VALUES(last_heartbeat_ms))`,
		partition, at.UnixMilli())
	if err != nil {
		return mapErr(fmt.Errorf("record heartbeat of partition %s: %w", partition, err))
	}
	return nil
}

// PeerContact is what is known of a peer's reachability.
type PeerContact struct {
	Known            bool // the copier has tried to reach its database at least once
	LastContact      time.Time
	UnreachableSince time.Time // zero while reachable
	LastError        string
	LastHeartbeat    time.Time // zero when no interlink HEARTBEAT was ever heard
}

// PeerContact returns what is known of a peer's reachability.
func (db *DB) PeerContact(ctx context.Context, peerID string) (PeerContact, error) {
	var last, since, heard sql.NullInt64
	var cause sql.NullString
	err := db.sql.QueryRowContext(ctx, `SELECT last_contact_ms, unreachable_since_ms, last_error, last_heartbeat_ms FROM peer_contacts WHERE peer_id = ?`, peerID).
		Scan(&last, &since, &cause, &heard)
	if errors.Is(err, sql.ErrNoRows) {
		return PeerContact{}, nil
	}
	if err != nil {
		return PeerContact{}, mapErr(fmt.Errorf("read contact with peer %s: %w", peerID, err))
	}
	c := PeerContact{Known: last.Valid || since.Valid, LastError: cause.String}
	if heard.Valid {
		c.LastHeartbeat = time.UnixMilli(heard.Int64)
	}
	if last.Valid {
		c.LastContact = time.UnixMilli(last.Int64)
	}
	if since.Valid {
		c.UnreachableSince = time.UnixMilli(since.Int64)
	}
	return c, nil
}
