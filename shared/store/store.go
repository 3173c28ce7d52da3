// Package store is the control plane's MySQL persistence (RDS MySQL in production, MariaDB
// or an embedded MySQL-compatible server locally). It owns the schema (embedded, versioned
// migrations), one file per entity, and the mapping of driver errors to fault kinds.
// It knows nothing of Lambda or AWS: callers hand it a Config.
package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/logwise/controlplane/shared/fault"
)

// ErrNotFound is returned (wrapped) when a row does not exist.
var ErrNotFound = fault.NotFoundf("not found")

// Config says how to reach the database.
type Config struct {
	Host     string
	Port     int
	User     string
	Password string
	Name     string
	// Params are extra DSN parameters (tls=..., etc.).
	Params map[string]string
	// MaxOpenConns bounds the pool; Lambda handles one invocation at a time, so a handful
	// of connections covers the concurrent work inside one (default 4).
	MaxOpenConns int
}

// ParseDSN reads a go-sql-driver DSN (user:pass@tcp(host:port)/db?params).
func ParseDSN(dsn string) (Config, error) {
	mc, err := mysql.ParseDSN(dsn)
	if err != nil {
		return Config{}, fmt.Errorf("parse DSN: %w", redactErr(err, dsn))
	}
	c := Config{User: mc.User, Password: mc.Passwd, Name: mc.DBName, Params: mc.Params}
	host, port, err := net.SplitHostPort(mc.Addr)
	if err != nil {
		host, port = mc.Addr, "3306"
	}
	c.Host = host
	c.Port, _ = strconv.Atoi(port)
	return c, nil
}

// rdsSecret is the JSON shape of an RDS-managed Secrets Manager secret.
type rdsSecret struct {
	Username string          `json:"username"`
	Password string          `json:"password"`
	Host     string          `json:"host"`
	Port     json.RawMessage `json:"port"` // a number, or a string in hand-made secrets
	DBName   string          `json:"dbname"`
}

// ConfigFromSecret reads an RDS-shaped secret ({"username","password","host","port","dbname"}).
// dbName is used when the secret names no database.
func ConfigFromSecret(secretJSON string, dbName string) (Config, error) {
	var s rdsSecret
	if err := json.Unmarshal([]byte(secretJSON), &s); err != nil {
		return Config{}, errors.New("database secret is not JSON of the RDS shape {username,password,host,port,dbname}")
	}
	if s.Username == "" || s.Host == "" {
		return Config{}, errors.New("database secret lacks username or host")
	}
	port := 3306
	if p := strings.Trim(string(s.Port), `"`); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return Config{}, fmt.Errorf("database secret port %q is not a number", p)
		}
		port = n
	}
	name := s.DBName
	if name == "" {
		name = dbName
	}
	return Config{Host: s.Host, Port: port, User: s.Username, Password: s.Password, Name: name}, nil
}

func (c Config) mysqlConfig() *mysql.Config {
	mc := mysql.NewConfig()
	mc.Net = "tcp"
	mc.Addr = net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	mc.User = c.User
	mc.Passwd = c.Password
	mc.DBName = c.Name
	mc.ParseTime = true
	mc.InterpolateParams = true // one round trip per statement; no RDS Proxy pinning
	mc.Loc = time.UTC
	mc.Timeout = 5 * time.Second
	mc.ReadTimeout = 30 * time.Second
	mc.WriteTimeout = 30 * time.Second
	mc.Params = map[string]string{"time_zone": "'+00:00'"}
	for k, v := range c.Params {
		mc.Params[k] = v
	}
	return mc
}

// DSN returns the go-sql-driver DSN. It contains the password: never log it.
func (c Config) DSN() string { return c.mysqlConfig().FormatDSN() }

// String describes the target without the password.
func (c Config) String() string {
	return fmt.Sprintf("%s@%s:%d/%s", c.User, c.Host, c.Port, c.Name)
}

// DB is the control plane's database. It is safe for concurrent use.
type DB struct {
	sql *sql.DB
	now func() time.Time
	// skewMs is added to the database's clock where leases read it (tests: time passing on
	// the server).
	skewMs atomic.Int64
}

// Pool returns a pool for c sized for Lambda, not connected yet: for a database that is not
// the control plane's own, such as a peer region's.
func Pool(c Config) (*sql.DB, error) {
	conn, err := mysql.NewConnector(c.mysqlConfig())
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", c, redactErr(err, c.Password))
	}
	db := sql.OpenDB(conn)
	n := c.MaxOpenConns
	if n <= 0 {
		n = 4
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxLifetime(3 * time.Minute) // below RDS Proxy and wait_timeout limits
	db.SetConnMaxIdleTime(time.Minute)     // a frozen Lambda's idle connections are dropped server-side
	return db, nil
}

// Open connects the pool and pings. It does not migrate.
func Open(ctx context.Context, c Config) (*DB, error) {
	db, err := Pool(c)
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fault.Wrap(fault.Unavailable, redactErr(err, c.Password), "connect to database %s", c)
	}
	return New(db), nil
}

// New wraps an open pool (tests, tools).
func New(db *sql.DB) *DB { return &DB{sql: db, now: time.Now} }

// SQL exposes the pool for packages that own their own tables' queries (peering).
func (db *DB) SQL() *sql.DB { return db.sql }

// SetClock replaces the clock used for timestamps and for the ExpiresAt a lease reports to
// its holder (tests); whether a lease has expired is judged on the database's clock.
func (db *DB) SetClock(now func() time.Time) { db.now = now }

// SkewDatabaseClock moves the database clock that leases are judged on by d (tests: the
// server's time passing without waiting for it).
func (db *DB) SkewDatabaseClock(d time.Duration) { db.skewMs.Add(d.Milliseconds()) }

// Now returns the store's clock.
func (db *DB) Now() time.Time { return db.now() }

// Close closes the pool.
func (db *DB) Close() error { return db.sql.Close() }

// Ping checks that the database answers (SELECT 1), for /healthcheck.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.sql.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fault.Wrap(fault.Unavailable, err, "database ping")
	}
	return nil
}

// InTx runs fn in a transaction, committing when fn returns nil.
func (db *DB) InTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(fmt.Errorf("begin transaction: %w", err))
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return mapErr(fmt.Errorf("commit: %w", err))
	}
	return nil
}

// mapErr turns driver errors into fault kinds: no rows is NotFound, a connection failure is
// Unavailable, a duplicate key is Conflict; anything else stays Internal.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fault.Wrap(fault.NotFound, err, "not found")
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1062:
			return fault.Wrap(fault.Conflict, err, "duplicate key")
		case 1040, 1205, 1213, 2006, 2013:
			return fault.Wrap(fault.Unavailable, err, "database busy")
		}
		return err
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, sql.ErrConnDone) {
		return fault.Wrap(fault.Unavailable, err, "database unreachable")
	}
	return err
}

// redactErr removes a secret from an error's text.
func redactErr(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "****"))
}
