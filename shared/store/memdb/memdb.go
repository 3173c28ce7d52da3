// Package memdb runs an embedded MySQL-compatible server (go-mysql-server) on loopback, for
// the local runner and for tests that check the MySQL 8 dialect. It does not enforce row
// locks, so tests of locking use MariaDB; it isolates transactions by letting one connection
// at a time write a database (see guard).
package memdb

import (
	"fmt"
	"net"
	"strconv"

	sqle "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/memory"
	"github.com/dolthub/go-mysql-server/server"
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/sirupsen/logrus"

	"github.com/logwise/controlplane/shared/store"
)

// Server is a running embedded database server.
type Server struct {
	srv   *server.Server
	guard *guard
	Addr  string
}

// Start serves an empty database named dbName on addr ("127.0.0.1:0" picks a free port).
// The root user has no password.
func Start(addr, dbName string) (*Server, error) {
	logrus.SetLevel(logrus.ErrorLevel) // the server logs every connection at info
	pro := memory.NewDBProvider(memory.NewDatabase(dbName))
	engine := sqle.NewDefault(pro)
	g := &guard{}
	cfg := server.Config{Protocol: "tcp", Address: addr, Options: []server.Option{g.option()}}
	srv, err := server.NewServer(cfg, engine, sql.NewContext, memory.NewSessionBuilder(pro), nil)
	if err != nil {
		return nil, fmt.Errorf("start embedded MySQL on %s: %w", addr, err)
	}
	go srv.Start()
	return &Server{srv: srv, guard: g, Addr: srv.Listener.Addr().String()}, nil
}

// MaxOpenConns is the pool size to use on this server. One database is written by one
// connection at a time (guard), so a pool's second connection would only wait. Code that must
// work here may never use a second connection while it holds a transaction: with a pool of
// one, every test that reaches such code hangs, rather than only a run under load.
const MaxOpenConns = 1

// Config returns a store configuration for database dbName on this server, with a pool of
// MaxOpenConns.
func (s *Server) Config(dbName string) store.Config {
	host, port, _ := net.SplitHostPort(s.Addr)
	p, _ := strconv.Atoi(port)
	return store.Config{Host: host, Port: p, User: "root", Name: dbName, MaxOpenConns: MaxOpenConns}
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }
