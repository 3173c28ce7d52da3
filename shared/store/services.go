package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Service is one row of service_details: a service whose logs the pipeline writes for a
// tenant, with its retention and discovery's absence tracking.
type Service struct {
	Name           string
	RetentionDays  int
	Tenant         string
	LastCheckedAt  time.Time
	MissedListings int        // consecutive successful listings that lacked the service
	AbsentSince    *time.Time // when it was first missed; nil while present
}

// serviceBatch bounds the names in one statement (10,000 services take 20 statements).
const serviceBatch = 500

// Services returns the tenant's services ordered by name.
func (db *DB) Services(ctx context.Context, tenant string) ([]Service, error) {
	rows, err := db.sql.QueryContext(ctx,
		`SELECT serviceName, retentionDays, tenant, lastCheckedAt, missedListings, absentSince
		 FROM service_details WHERE tenant = ? ORDER BY serviceName`, tenant)
	if err != nil {
		return nil, mapErr(fmt.Errorf("list services of tenant %s: %w", tenant, err))
	}
	defer rows.Close()
	var out []Service
	for rows.Next() {
		var s Service
		var absent sql.NullTime
		if err := rows.Scan(&s.Name, &s.RetentionDays, &s.Tenant, &s.LastCheckedAt, &s.MissedListings, &absent); err != nil {
			return nil, mapErr(fmt.Errorf("scan services of tenant %s: %w", tenant, err))
		}
		if absent.Valid {
			t := absent.Time
			s.AbsentSince = &t
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, mapErr(fmt.Errorf("list services of tenant %s: %w", tenant, err))
	}
	return out, nil
}

// ServiceChanges is what one discovery sync writes for a tenant.
type ServiceChanges struct {
	Tenant        string
	RetentionDays int       // for onboarded services
	At            time.Time // the listing's time: lastCheckedAt of new rows, absentSince of newly missed ones
	Onboard       []string  // new services; an existing row keeps its retention
	Returned      []string  // seen again after being missed: the count resets
	Missed        []string  // missing from this listing: the count grows by one
	Remove        []string  // deleted
}

// ApplyServiceChanges writes c in one transaction fenced by the discovery lease, so a sync
// whose lease was taken over writes nothing (ErrStaleToken). Every write is idempotent
// except Missed, which the lease makes happen once per listing.
func (db *DB) ApplyServiceChanges(ctx context.Context, l Lease, c ServiceChanges) error {
	return db.WithFence(ctx, l, func(tx *sql.Tx) error {
		at := c.At.UTC()
		for _, batch := range serviceChunks(c.Onboard) {
			q := `INSERT INTO service_details (serviceName, retentionDays, tenant, lastCheckedAt) VALUES ` +
				servicePlaceholders("(?, ?, ?, ?)", len(batch)) +
				` ON DUPLICATE KEY UPDATE missedListings = 0, absentSince = NULL`
			args := make([]any, 0, 4*len(batch))
			for _, name := range batch {
				args = append(args, name, c.RetentionDays, c.Tenant, at)
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return mapErr(fmt.Errorf("onboard %d services of tenant %s: %w", len(batch), c.Tenant, err))
			}
		}
		if err := execNames(ctx, tx, c.Tenant, c.Returned,
			`UPDATE service_details SET missedListings = 0, absentSince = NULL WHERE tenant = ? AND serviceName IN `); err != nil {
			return fmt.Errorf("reset absence of returned services: %w", err)
		}
		if err := execNames(ctx, tx, c.Tenant, c.Missed,
			`UPDATE service_details SET missedListings = LEAST(missedListings + 1, 65535), absentSince = COALESCE(absentSince, ?)
			 WHERE tenant = ? AND serviceName IN `, at); err != nil {
			return fmt.Errorf("count missed services: %w", err)
		}
		if err := execNames(ctx, tx, c.Tenant, c.Remove,
			`DELETE FROM service_details WHERE tenant = ? AND serviceName IN `); err != nil {
			return fmt.Errorf("remove services: %w", err)
		}
		return nil
	})
}

// execNames runs prefix + "(?, ...)" for each batch of names, with args: lead..., tenant, names....
// A prefix taking a leading argument (absentSince) lists it in lead.
func execNames(ctx context.Context, tx *sql.Tx, tenant string, names []string, prefix string, lead ...any) error {
	for _, batch := range serviceChunks(names) {
		args := append(append([]any{}, lead...), tenant)
		for _, n := range batch {
			args = append(args, n)
		}
		if _, err := tx.ExecContext(ctx, prefix+"("+servicePlaceholders("?", len(batch))+")", args...); err != nil {
			return mapErr(fmt.Errorf("%d services of tenant %s from %s: %w", len(batch), tenant, batch[0], err))
		}
	}
	return nil
}

func serviceChunks(names []string) [][]string {
	var out [][]string
	for start := 0; start < len(names); start += serviceBatch {
		out = append(out, names[start:min(start+serviceBatch, len(names))])
	}
	return out
}

func servicePlaceholders(s string, n int) string {
	return strings.TrimSuffix(strings.Repeat(s+", ", n), ", ")
}
