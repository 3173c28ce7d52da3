// Package mariadbtest runs a private MariaDB server for fault tests: its own data directory
// and a free loopback port, so a test can stop and restart *its* database without disturbing
// the shared MariaDB on 127.0.0.1:3306 that the other test packages use.
package mariadbtest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // the driver behind sql.Open("mysql")

	"github.com/logwise/controlplane/shared/store"
)

// Server is a private mariadbd. Its data survive Stop and Restart.
type Server struct {
	Dir  string
	Port int
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// mariadbd is the server binary; scripts/mariadb.sh installs it.
const mariadbd = "/usr/sbin/mariadbd"

// Start initialises a data directory under t.TempDir, starts mariadbd on a free loopback
// port and waits until it answers. The server is stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := os.Stat(mariadbd); err != nil {
		t.Fatalf("mariadbtest needs %s (scripts/mariadb.sh installs mariadb-server): %v", mariadbd, err)
	}
	dir := t.TempDir()
	// A tmpdir of its own: servers bootstrapped at once in the shared /tmp collide on their
	// temporary tables' names ("Unknown table 'mysql.tmp_user_sys'").
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	install := exec.Command("mariadb-install-db", "--no-defaults", "--datadir="+filepath.Join(dir, "data"),
		"--tmpdir="+filepath.Join(dir, "tmp"), "--auth-root-authentication-method=normal", "--skip-test-db")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	s := &Server{Dir: dir, Port: freePort(t)}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

// Config is the server's root configuration for database name (created by CreateDatabase).
func (s *Server) Config(name string) store.Config {
	return store.Config{Host: "127.0.0.1", Port: s.Port, User: "root", Name: name}
}

// CreateDatabase creates a database on the server.
func (s *Server) CreateDatabase(ctx context.Context, name string) error {
	db, err := sql.Open("mysql", s.Config("").DSN())
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// Start starts mariadbd on the server's data directory and port and waits until it answers.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return fmt.Errorf("mariadbd on port %d is already running", s.Port)
	}
	args := []string{"--no-defaults", "--datadir=" + filepath.Join(s.Dir, "data"), "--tmpdir=" + filepath.Join(s.Dir, "tmp"), "--bind-address=127.0.0.1",
		"--port=" + strconv.Itoa(s.Port), "--socket=" + filepath.Join(s.Dir, "sock"), "--pid-file=" + filepath.Join(s.Dir, "pid"),
		"--skip-name-resolve", "--innodb-buffer-pool-size=16M", "--skip-log-bin"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	log, err := os.OpenFile(filepath.Join(s.Dir, "mariadbd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(mariadbd, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start mariadbd: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done, s.log = cmd, done, log
	return s.waitUp(done)
}

// waitUp pings until the server answers, it exits, or 60 s pass.
func (s *Server) waitUp(done chan struct{}) error {
	db, err := sql.Open("mysql", s.Config("").DSN())
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			out, _ := os.ReadFile(filepath.Join(s.Dir, "mariadbd.log"))
			return fmt.Errorf("mariadbd exited during start: %s", out)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mariadbd on port %d did not answer in 60 s: %w", s.Port, err)
		}
	}
}

// Stop shuts the server down (SIGTERM: a clean InnoDB shutdown) and waits for it to exit.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(60 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.log.Close()
	s.cmd = nil
	return nil
}

// Restart stops and starts the server on the same port and data directory: every open
// connection is cut, the data stay.
func (s *Server) Restart() error {
	if err := s.Stop(); err != nil {
		return err
	}
	return s.Start()
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
