// Package storetest gives each test its own freshly migrated database: on MariaDB at
// 127.0.0.1:3306 (MYSQL_TEST_DSN overrides), or on an embedded go-mysql-server.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // the driver behind sql.Open("mysql")
	"go.uber.org/goleak"

	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/store/memdb"
)

// ServerDSN is the MariaDB server the tests use, without a database name.
func ServerDSN() string {
	if d := os.Getenv("MYSQL_TEST_DSN"); d != "" {
		return d
	}
	return "root@tcp(127.0.0.1:3306)/"
}

// NewConfig creates an empty database on the test MariaDB and returns its configuration; the
// database is dropped when the test ends. Use it for a second database (a peer) or to hand a
// DSN to a binary.
func NewConfig(t testing.TB) store.Config {
	t.Helper()
	base, err := store.ParseDSN(ServerDSN())
	if err != nil {
		t.Fatalf("MYSQL_TEST_DSN: %v", err)
	}
	admin, err := sql.Open("mysql", ServerDSN())
	if err != nil {
		t.Fatalf("open MariaDB: %v", err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		t.Fatalf("MariaDB is not reachable at %s (run .ci/run or scripts/mariadb.sh to start it): %v", base.Host, err)
	}
	name := "t_" + randomHex(6)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("mysql", ServerDSN())
		if err == nil {
			_, _ = a.Exec("DROP DATABASE IF EXISTS " + name)
			a.Close()
		}
	})
	base.Name = name
	return base
}

// New returns a migrated store on its own MariaDB database.
func New(t testing.TB) *store.DB {
	t.Helper()
	return open(t, NewConfig(t))
}

var (
	embeddedOnce sync.Once
	embedded     *memdb.Server
	embeddedErr  error
)

// Main runs a package's tests, closes the package's embedded server if a test started one,
// and fails the run if any goroutine is left running (goleak): a test package's TestMain.
func Main(m *testing.M) {
	goleak.VerifyTestMain(closingEmbedded{m})
}

type closingEmbedded struct{ m *testing.M }

func (c closingEmbedded) Run() int {
	code := c.m.Run()
	if embedded != nil {
		embedded.Close()
	}
	return code
}

// NewEmbedded returns a migrated store on its own database of an embedded go-mysql-server
// (shared by the tests of one package). It does not enforce row locks.
func NewEmbedded(t testing.TB) *store.DB {
	t.Helper()
	return open(t, NewEmbeddedConfig(t))
}

// NewEmbeddedConfig creates an empty database on the package's embedded go-mysql-server and
// returns its configuration, with the one-connection pool the local runner uses on it.
func NewEmbeddedConfig(t testing.TB) store.Config {
	t.Helper()
	embeddedOnce.Do(func() { embedded, embeddedErr = memdb.Start("127.0.0.1:0", "boot") })
	if embeddedErr != nil {
		t.Fatalf("embedded MySQL: %v", embeddedErr)
	}
	cfg := embedded.Config("boot")
	admin, err := store.Open(t.Context(), cfg)
	if err != nil {
		t.Fatalf("embedded MySQL: %v", err)
	}
	defer admin.Close()
	name := "e_" + randomHex(6)
	if _, err := admin.SQL().ExecContext(t.Context(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create embedded database: %v", err)
	}
	cfg.Name = name
	return cfg
}

func open(t testing.TB, cfg store.Config) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open %s: %v", cfg, err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate %s: %v", cfg, err)
	}
	return db
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
