package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migration is one embedded schema change, named NNNN_description.sql. Versions are applied
// in order; any version not yet recorded is applied, so ranges reserved per area
// (0001 core, 0100 spark, 0200 scaling, 0300 discovery, 0400 executions and peering,
// 0500 interlink) can grow independently.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Migrations returns the embedded migrations in version order.
func Migrations() ([]Migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []Migration
	seen := map[int]string{}
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number and '_'", name)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, name, v)
		}
		seen[v] = name
		body, err := migrationFS.ReadFile("migrations/" + name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", name, err)
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Migrate applies every embedded migration not yet applied. Concurrent callers (several
// Lambdas starting at once) serialise on a named lock; each migration is recorded in
// schema_migrations so a second run does nothing.
func (db *DB) Migrate(ctx context.Context) error {
	ms, err := Migrations()
	if err != nil {
		return err
	}
	conn, err := db.sql.Conn(ctx) // GET_LOCK is per connection: keep one for the whole run
	if err != nil {
		return mapErr(fmt.Errorf("migrate: connect: %w", err))
	}
	defer conn.Close()
	var got int
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK('logwise_schema_migrations', 60)").Scan(&got); err != nil || got != 1 {
		return fmt.Errorf("migrate: could not take the migration lock (got %d): %v", got, err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK('logwise_schema_migrations')")

	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INT NOT NULL PRIMARY KEY,
		name VARCHAR(255) NOT NULL,
		applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`); err != nil {
		return mapErr(fmt.Errorf("migrate: create schema_migrations: %w", err))
	}
	applied := map[int]bool{}
	rows, err := conn.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil {
		return mapErr(fmt.Errorf("migrate: read applied: %w", err))
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("migrate: scan: %w", err)
		}
		applied[v] = true
	}
	rows.Close()
	var comment string
	_ = conn.QueryRowContext(ctx, "SELECT @@version_comment").Scan(&comment)
	embedded := comment == "Dolt" // go-mysql-server; MariaDB and MySQL say other things
	for _, m := range ms {
		if applied[m.Version] {
			continue
		}
		for i, stmt := range splitStatements(m.SQL) {
			if stmt.mysqlOnly && embedded {
				continue
			}
			if _, err := conn.ExecContext(ctx, stmt.sql); err != nil {
				return fmt.Errorf("migration %s statement %d: %w", m.Name, i+1, err)
			}
		}
		if _, err := conn.ExecContext(ctx, "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", m.Version, m.Name); err != nil {
			return mapErr(fmt.Errorf("migration %s: record: %w", m.Name, err))
		}
	}
	return nil
}

type statement struct {
	sql       string
	mysqlOnly bool // preceded by a "-- mysql-only" line: skipped on the embedded server
}

// splitStatements splits a migration on semicolons that end a line; migrations keep no
// semicolons inside string literals.
func splitStatements(s string) []statement {
	var out []statement
	var cur strings.Builder
	mysqlOnly := false
	for _, line := range strings.Split(s, "\n") {
		t := strings.TrimSpace(line)
		if t == "-- mysql-only" {
			mysqlOnly = true
			continue
		}
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		if strings.HasSuffix(t, ";") {
			out = append(out, statement{sql: strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"), mysqlOnly: mysqlOnly})
			cur.Reset()
			mysqlOnly = false
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, statement{sql: strings.TrimSpace(cur.String()), mysqlOnly: mysqlOnly})
	}
	return out
}

// SchemaError says the database lacks migrations this code needs.
type SchemaError struct {
	Need    int      // the newest embedded version
	Found   int      // the newest applied version (0: none)
	Missing []string // the embedded migrations not applied, by file name
}

func (e *SchemaError) Error() string {
	return fmt.Sprintf("database schema is older than this code needs: it needs version %04d, found version %04d (missing %s); run the migrate function (sam deploy runs it on every deploy) before starting the other functions",
		e.Need, e.Found, strings.Join(e.Missing, ", "))
}

// CheckSchema returns a *SchemaError when any embedded migration is not applied. A database
// newer than the code (versions it does not know) is accepted: during a deploy the migration
// runs before the functions are replaced. It changes nothing.
func (db *DB) CheckSchema(ctx context.Context) error {
	ms, err := Migrations()
	if err != nil {
		return err
	}
	applied := map[int]bool{}
	found := 0
	rows, err := db.sql.QueryContext(ctx, "SELECT version FROM schema_migrations")
	if err != nil && !isNoSuchTable(err) {
		return mapErr(fmt.Errorf("check schema: read schema_migrations: %w", err))
	}
	if err == nil {
		defer rows.Close()
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				return fmt.Errorf("check schema: scan: %w", err)
			}
			applied[v] = true
			found = max(found, v)
		}
		if err := rows.Err(); err != nil {
			return mapErr(fmt.Errorf("check schema: %w", err))
		}
	}
	serr := &SchemaError{Found: found}
	for _, m := range ms {
		serr.Need = max(serr.Need, m.Version)
		if !applied[m.Version] {
			serr.Missing = append(serr.Missing, m.Name)
		}
	}
	if len(serr.Missing) > 0 {
		return serr
	}
	return nil
}

// isNoSuchTable reports MySQL error 1146 (table does not exist): a database never migrated.
func isNoSuchTable(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1146
}
