package memdb

import (
	"context"
	"strings"
	"sync"

	sqle "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/server"
	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/sqltypes"
)

// guard makes go-mysql-server's in-memory engine safe for several connections. The engine
// keeps a transaction's tables in its session and, on commit, writes back every table the
// transaction touched, as it was when first read: a transaction that merely read a table
// undoes whatever another connection committed to it meanwhile. So, per connection:
//
//   - a read-only transaction ends in a rollback, even when the client commits (nothing to
//     write back);
//   - a SELECT outside a transaction runs in a read-only transaction of its own;
//   - a write, and a read-write transaction from BEGIN to COMMIT or ROLLBACK, holds its
//     database's write lock, so no other connection writes that database meanwhile.
//
// The lock is per database: two regions, or two tests, on one server never wait for each
// other. A connection that closes mid-transaction releases its lock (the engine drops the
// transaction). Like a pool of one, this means a client that holds a write transaction must
// not wait on a write of another connection to the same database.
//
// It wraps the server's handler (server.Option); go-mysql-server has no isolation of its own
// for the memory engine (version 0.20.0, the newest served here), and a MySQL server is not
// something `make run` may assume.
type guard struct {
	mysql.Handler
	sm *server.SessionManager

	mu      sync.Mutex
	conns   map[uint32]*connState
	writers map[string]chan struct{} // per database: a full channel is a held lock
	// onWait, when set, is called when a writer starts waiting for db's lock (tests).
	onWait func(db string)
}

type txState int

const (
	noTx txState = iota
	readTx
	writeTx
)

type connState struct {
	tx   txState
	held chan struct{} // the write lock this connection holds, if any
}

// option installs a guard around the server's handler.
func (g *guard) option() server.Option {
	return func(e *sqle.Engine, sm *server.SessionManager, h mysql.Handler) (*sqle.Engine, *server.SessionManager, mysql.Handler) {
		g.Handler, g.sm = h, sm
		g.conns, g.writers = map[uint32]*connState{}, map[string]chan struct{}{}
		return e, sm, g
	}
}

// statement is what a statement means for the guard.
type statement int

const (
	stmtOther statement = iota // SET, USE, DO: no table, no lock
	stmtRead                   // SELECT, SHOW, EXPLAIN, ...
	stmtWrite                  // everything else: INSERT, UPDATE, DELETE, DDL
	stmtBegin
	stmtBeginReadOnly
	stmtCommit
	stmtRollback
)

// classify reads a statement's first keyword (after blanks, comments and parentheses).
func classify(query string) statement {
	q := strings.TrimLeft(query, " \t\r\n(")
	for strings.HasPrefix(q, "/*") {
		end := strings.Index(q, "*/")
		if end < 0 {
			return stmtOther
		}
		q = strings.TrimLeft(q[end+2:], " \t\r\n(")
	}
	word := q
	if i := strings.IndexAny(q, " \t\r\n(;"); i >= 0 {
		word = q[:i]
	}
	switch strings.ToUpper(word) {
	case "SELECT", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "WITH", "VALUES", "TABLE":
		return stmtRead
	case "SET", "USE", "DO":
		return stmtOther
	case "BEGIN":
		return stmtBegin
	case "START":
		if strings.Contains(strings.ToUpper(q), "READ ONLY") {
			return stmtBeginReadOnly
		}
		return stmtBegin
	case "COMMIT":
		return stmtCommit
	case "ROLLBACK":
		return stmtRollback
	}
	return stmtWrite
}

// ComQuery runs a text statement under the guard's rules.
func (g *guard) ComQuery(ctx context.Context, c *mysql.Conn, query string, callback mysql.ResultSpoolFn) error {
	return g.run(ctx, c, query, func() error { return g.Handler.ComQuery(ctx, c, query, callback) })
}

// ComMultiQuery runs the first statement of query under the guard's rules; the server calls
// it again for the rest.
func (g *guard) ComMultiQuery(ctx context.Context, c *mysql.Conn, query string, callback mysql.ResultSpoolFn) (string, error) {
	var rest string
	err := g.run(ctx, c, query, func() (err error) {
		rest, err = g.Handler.ComMultiQuery(ctx, c, query, callback)
		return err
	})
	return rest, err
}

// ComStmtExecute runs a prepared statement under the guard's rules.
func (g *guard) ComStmtExecute(ctx context.Context, c *mysql.Conn, prepare *mysql.PrepareData, callback func(*sqltypes.Result) error) error {
	return g.run(ctx, c, prepare.PrepareStmt, func() error { return g.Handler.ComStmtExecute(ctx, c, prepare, callback) })
}

// ComResetConnection ends the connection's transaction, as the engine does.
func (g *guard) ComResetConnection(c *mysql.Conn) error {
	err := g.Handler.ComResetConnection(c)
	g.end(c)
	return err
}

// ConnectionClosed releases what the connection held: the engine drops its transaction.
func (g *guard) ConnectionClosed(c *mysql.Conn) {
	g.Handler.ConnectionClosed(c)
	g.end(c)
	g.mu.Lock()
	delete(g.conns, c.ConnectionID)
	g.mu.Unlock()
}

// own runs one of the guard's own statements (BEGIN READ ONLY, ROLLBACK) on c.
func (g *guard) own(ctx context.Context, c *mysql.Conn, query string) error {
	return g.Handler.ComQuery(ctx, c, query, func(*sqltypes.Result, bool) error { return nil })
}

// run runs the client's statement query (stmt sends it to the engine as it came) under the
// rules above.
func (g *guard) run(ctx context.Context, c *mysql.Conn, query string, stmt func() error) error {
	st := g.state(c)
	switch k := classify(query); k {
	case stmtBegin, stmtBeginReadOnly:
		// BEGIN ends an open transaction first (MySQL commits it); a read-only one ends in
		// a rollback, as at COMMIT.
		if st.tx == readTx {
			if err := g.own(ctx, c, "ROLLBACK"); err != nil {
				return err
			}
		}
		readOnly := k == stmtBeginReadOnly
		if !readOnly && st.held == nil {
			if err := g.lock(ctx, c, st); err != nil {
				return err
			}
		}
		err := stmt()
		switch {
		case err != nil:
			g.end(c)
		case readOnly:
			g.end(c) // releases the lock of a write transaction this BEGIN ended
			st.tx = readTx
		default:
			st.tx = writeTx
		}
		return err
	case stmtCommit:
		defer g.end(c)
		if st.tx == readTx { // roll back first: the client's COMMIT then has nothing to write
			if err := g.own(ctx, c, "ROLLBACK"); err != nil {
				return err
			}
		}
		return stmt()
	case stmtRollback:
		defer g.end(c)
		return stmt()
	case stmtRead:
		if st.tx != noTx {
			return stmt()
		}
		if err := g.own(ctx, c, "START TRANSACTION READ ONLY"); err != nil {
			return err
		}
		err := stmt()
		if rerr := g.own(ctx, c, "ROLLBACK"); err == nil {
			err = rerr
		}
		return err
	case stmtWrite:
		if st.tx != noTx {
			return stmt()
		}
		if err := g.lock(ctx, c, st); err != nil {
			return err
		}
		defer g.end(c)
		return stmt()
	}
	return stmt()
}

// setOnWait sets the onWait hook (tests).
func (g *guard) setOnWait(f func(db string)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.onWait = f
}

func (g *guard) state(c *mysql.Conn) *connState {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.conns[c.ConnectionID]
	if st == nil {
		st = &connState{}
		g.conns[c.ConnectionID] = st
	}
	return st
}

// lock takes the write lock of c's current database for c.
func (g *guard) lock(ctx context.Context, c *mysql.Conn, st *connState) error {
	db := strings.ToLower(g.sm.GetCurrentDB(c))
	g.mu.Lock()
	l := g.writers[db]
	if l == nil {
		l = make(chan struct{}, 1)
		g.writers[db] = l
	}
	onWait := g.onWait
	g.mu.Unlock()
	select {
	case l <- struct{}{}:
	default:
		if onWait != nil {
			onWait(db)
		}
		select {
		case l <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	st.held = l
	return nil
}

// end marks c's transaction over and releases its write lock, if it holds one.
func (g *guard) end(c *mysql.Conn) {
	g.mu.Lock()
	st := g.conns[c.ConnectionID]
	g.mu.Unlock()
	if st == nil {
		return
	}
	st.tx = noTx
	if st.held != nil {
		<-st.held
		st.held = nil
	}
}
