package store_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/store/storetest"
)

type sqlTx = sql.Tx

// backends are the servers the store must work on: MariaDB (what RDS MySQL stands for in
// tests) and the embedded go-mysql-server (the local default and a MySQL 8 dialect check).
var backends = map[string]func(testing.TB) *store.DB{
	"mariadb":  storetest.New,
	"embedded": storetest.NewEmbedded,
}

func TestMigrateIsIdempotentAndConcurrent(t *testing.T) {
	t.Parallel()
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			db := open(t) // already migrated once
			errs := make(chan error, 4)
			for range 4 {
				go func() { errs <- db.Migrate(context.Background()) }()
			}
			for range 4 {
				if err := <-errs; err != nil {
					t.Fatalf("second migrate: %v", err)
				}
			}
			ms, err := store.Migrations()
			if err != nil {
				t.Fatal(err)
			}
			var n int
			if err := db.SQL().QueryRow("SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != len(ms) {
				t.Fatalf("schema_migrations rows = %d, want %d (one per migration)", n, len(ms))
			}
			if err := db.Ping(context.Background()); err != nil {
				t.Fatalf("ping: %v", err)
			}
		})
	}
}

func TestConfigFromSecret(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, secret string
		want         store.Config
		wantErr      bool
	}{
		{"rds numeric port", `{"username":"admin","password":"p@ss","host":"db.example","port":3306,"dbname":"logwise"}`,
			store.Config{Host: "db.example", Port: 3306, User: "admin", Password: "p@ss", Name: "logwise"}, false},
		{"string port and default name", `{"username":"u","password":"x","host":"h","port":"3307"}`,
			store.Config{Host: "h", Port: 3307, User: "u", Password: "x", Name: "fallback"}, false},
		{"not json", `nope`, store.Config{}, true},
		{"no host", `{"username":"u"}`, store.Config{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := store.ConfigFromSecret(tt.secret, "fallback")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				if containsAny(err.Error(), "p@ss", "x") && tt.name != "not json" {
					t.Fatalf("error leaks the password: %v", err)
				}
				return
			}
			if got.Host != tt.want.Host || got.Port != tt.want.Port || got.User != tt.want.User || got.Password != tt.want.Password || got.Name != tt.want.Name {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestOpenErrorDoesNotLeakPassword(t *testing.T) {
	t.Parallel()
	cfg := store.Config{Host: "127.0.0.1", Port: 3306, User: "nobody", Password: "s3cret-Value-9", Name: "x"}
	_, err := store.Open(context.Background(), cfg)
	if err == nil {
		t.Fatal("open with a wrong user succeeded")
	}
	if containsAny(err.Error(), "s3cret-Value-9") {
		t.Fatalf("error leaks the password: %v", err)
	}
	if containsAny(cfg.String(), "s3cret-Value-9") {
		t.Fatalf("Config.String leaks the password: %s", cfg)
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if sub != "" && strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
