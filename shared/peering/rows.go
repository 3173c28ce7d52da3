package peering

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// querier is what reads need: a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// execer is what writes need: a *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// row is one table row as the server returned it: a text column's value as a string, a
// binary one's (BIT, BLOB, BINARY) as []byte, NULL as nil. Written back, a string is a plain
// literal in the connection's character set (utf8mb4, the columns' own) and []byte a _binary
// literal, so every value, the BIT(1) canceled column included, round-trips byte-identical,
// and the server converts nothing: a _binary literal into a text column costs it a character
// set lookup and a checked copy per value, about a fifth of a bulk copy's write.
type row []any

// text is a non-NULL value of a row as a string.
func text(v any) string {
	switch s := v.(type) {
	case string:
		return s
	case []byte:
		return string(s)
	}
	return ""
}

// scan is the one row scanner: it runs query and decodes every row with decode, in query
// order. Every read of the copier goes through it.
func scan[T any](ctx context.Context, q querier, decode func(*sql.Rows) (T, error), query string, args ...any) ([]T, error) {
	rs, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []T
	for rs.Next() {
		v, err := decode(rs)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rs.Err()
}

// binaryTypes are the column types whose values are bytes, not text.
var binaryTypes = map[string]bool{"BIT": true, "BINARY": true, "VARBINARY": true, "BLOB": true,
	"TINYBLOB": true, "MEDIUMBLOB": true, "LONGBLOB": true, "GEOMETRY": true}

// rawRow decodes rows of ncols columns as they were sent: text as strings, binary values as
// bytes (the column types are read from the first row's result set). Scan copies each value
// out, so the scan targets are reused from row to row.
func rawRow(ncols int) func(*sql.Rows) (row, error) {
	var binary []bool
	texts := make([]sql.NullString, ncols)
	bins := make([][]byte, ncols)
	dest := make([]any, ncols)
	return func(rs *sql.Rows) (row, error) {
		if binary == nil {
			cts, err := rs.ColumnTypes()
			if err != nil {
				return nil, err
			}
			if len(cts) != ncols {
				return nil, fmt.Errorf("read %d columns, want %d", len(cts), ncols)
			}
			binary = make([]bool, ncols)
			for i, ct := range cts {
				binary[i] = binaryTypes[ct.DatabaseTypeName()]
				if binary[i] {
					dest[i] = &bins[i]
				} else {
					dest[i] = &texts[i]
				}
			}
		}
		if err := rs.Scan(dest...); err != nil {
			return nil, err
		}
		r := make(row, ncols)
		for i := range r {
			switch {
			case binary[i] && bins[i] != nil:
				r[i] = bins[i] // []byte{} stays '', not NULL
			case !binary[i] && texts[i].Valid:
				r[i] = texts[i].String
			}
		}
		return r, nil
	}
}

// execKey decodes (id, updated_at, partition).
func execKey(rs *sql.Rows) (key, error) {
	var k key
	err := rs.Scan(&k.id, &k.updatedAt, &k.partition)
	return k, err
}

// stageKey decodes (id, execution_id, updated_at).
func stageKey(rs *sql.Rows) (key, error) {
	var k key
	err := rs.Scan(&k.id, &k.parent, &k.updatedAt)
	return k, err
}

// versionOf decodes (id, updated_at) as an item.
func versionOf(rs *sql.Rows) (item, error) {
	var it item
	err := rs.Scan(&it.id, &it.updatedAt)
	return it, err
}

// oneString decodes a single string column.
func oneString(rs *sql.Rows) (string, error) {
	var s string
	err := rs.Scan(&s)
	return s, err
}

// errOverBudget: the rows read came to more bytes than the read was allowed.
var errOverBudget = errors.New("the rows read are over the chunk's byte budget (peering.chunkMiB)")

// readBytes counts the size (rowSize) of the rows a chunk's body reads return and, when limit
// is not 0, stops them with errOverBudget once they pass it.
type readBytes struct{ limit, used int }

// counting wraps decode so that each row decoded is counted.
func (b *readBytes) counting(decode func(*sql.Rows) (row, error)) func(*sql.Rows) (row, error) {
	return func(rs *sql.Rows) (row, error) {
		r, err := decode(rs)
		if err != nil {
			return nil, err
		}
		if b.used += rowSize(r); b.limit > 0 && b.used > b.limit {
			return nil, errOverBudget
		}
		return r, nil
	}
}

// fetchRows runs query and returns every row as rawRow decodes it.
func fetchRows(ctx context.Context, q querier, ncols int, query string, args ...any) ([]row, error) {
	return scan(ctx, q, rawRow(ncols), query, args...)
}

// key is an execution's or a stage's identity and version.
type key struct {
	id        string
	parent    string // a stage's execution_id
	updatedAt sql.NullInt64
	partition sql.NullString
}

func sameVersion(a, b sql.NullInt64) bool { return a.Valid == b.Valid && a.Int64 == b.Int64 }

// fetchExecKeys reads (id, updated_at, partition) rows of an execution table for ids.
func fetchExecKeys(ctx context.Context, q querier, tbl string, ids []string, extra string) (map[string]key, error) {
	out := make(map[string]key, len(ids))
	for _, piece := range chunks(ids, 1000) {
		ks, err := scan(ctx, q, execKey, "SELECT id, updated_at, `partition` FROM "+tbl+" WHERE id IN ("+placeholders(len(piece))+")"+extra, anyStrings(piece)...)
		if err != nil {
			return nil, fmt.Errorf("read %s keys: %w", tbl, err)
		}
		for _, k := range ks {
			out[k.id] = k
		}
	}
	return out, nil
}

// fetchStageKeys reads (id, execution_id, updated_at) of the stages of executions, by parent.
func fetchStageKeys(ctx context.Context, q querier, tbl string, execIDs []string) (map[string][]key, error) {
	out := map[string][]key{}
	for _, piece := range chunks(execIDs, 1000) {
		ks, err := scan(ctx, q, stageKey, "SELECT id, execution_id, updated_at FROM "+tbl+" WHERE execution_id IN ("+placeholders(len(piece))+")", anyStrings(piece)...)
		if err != nil {
			return nil, fmt.Errorf("read %s keys: %w", tbl, err)
		}
		for _, k := range ks {
			out[k.parent] = append(out[k.parent], k)
		}
	}
	return out, nil
}

// fetchIDs runs a query returning one string column.
func fetchIDs(ctx context.Context, q querier, query string, args ...any) ([]string, error) {
	return scan(ctx, q, oneString, query, args...)
}

// packetOverhead is what Orca (and gh-ost) keep free below max_allowed_packet for the
// statement's framing.
const packetOverhead = 8 << 10

// upsert writes rows into tbl with multi-row INSERT ... ON DUPLICATE KEY UPDATE of every
// column (never REPLACE, which would delete and cascade to the compressed-body tables). Rows
// are packed into statements whose interpolated size stays under budget bytes; a single row
// over the budget is an error naming the table and row.
func upsert(ctx context.Context, x execer, tbl string, columns []string, rows []row, budget int) (int, error) {
	head, tail := upsertSQL(tbl, columns)
	return writeRows(ctx, x, head, tail, tbl, len(columns), rows, budget)
}

// insertRows writes rows into tbl with plain multi-row INSERTs, packed as upsert packs them:
// a row already there is an error (ER_DUP_ENTRY).
func insertRows(ctx context.Context, x execer, tbl string, columns []string, rows []row, budget int) (int, error) {
	return writeRows(ctx, x, insertHead(tbl, columns), "", tbl, len(columns), rows, budget)
}

// writeRows writes rows of ncols values as statements head (a,b),(c,d) tail, each under
// budget bytes and the prepared-statement placeholder limit.
func writeRows(ctx context.Context, x execer, head, tail, tbl string, ncols int, rows []row, budget int) (int, error) {
	if len(rows) == 0 {
		return 0, nil
	}
	tuple := "(" + placeholders(ncols) + ")"
	fixed := len(head) + len(tail)
	maxRows := 65535 / ncols // the placeholder limit of a prepared statement
	written := 0
	var batch []any
	n, size := 0, fixed
	flush := func() error {
		if n == 0 {
			return nil
		}
		q := head + strings.TrimSuffix(strings.Repeat(tuple+",", n), ",") + tail
		if _, err := x.ExecContext(ctx, q, batch...); err != nil {
			return fmt.Errorf("write %d rows into %s: %w", n, tbl, err)
		}
		written += n
		batch, n, size = batch[:0], 0, fixed
		return nil
	}
	for _, r := range rows {
		rs := rowSize(r)
		if fixed+rs > budget {
			return written, fmt.Errorf("row %s of %s is %d bytes, over the %d-byte statement budget (max_allowed_packet - 8 KiB)", r[0], tbl, rs, budget)
		}
		if size+rs > budget || n == maxRows {
			if err := flush(); err != nil {
				return written, err
			}
		}
		batch = append(batch, r...)
		n++
		size += rs
	}
	return written, flush()
}

// upsertSQL returns the fixed parts of tbl's upsert: the INSERT head and the ON DUPLICATE KEY
// UPDATE tail of every column but id. Where the table has a partition (the executions), every
// assignment is guarded: an existing row is updated only if it is already a copy of the same
// peer, so a row owned here (another partition, or NULL) that appeared after the copier's
// locking re-read keeps every column. (partition itself is left out: the guard makes it equal.)
func upsertSQL(tbl string, columns []string) (head, tail string) {
	const partition = "`partition`"
	guarded := slices.Contains(columns, partition)
	var sets []string
	for _, c := range columns {
		switch {
		case c == "id" || guarded && c == partition:
		case guarded:
			sets = append(sets, c+" = IF("+partition+" <=> VALUES("+partition+"), VALUES("+c+"), "+c+")")
		default:
			sets = append(sets, c+" = VALUES("+c+")")
		}
	}
	return insertHead(tbl, columns), " ON DUPLICATE KEY UPDATE " + strings.Join(sets, ", ")
}

// insertHead is the INSERT head of tbl's inserts and upserts, up to the rows.
func insertHead(tbl string, columns []string) string {
	return "INSERT INTO " + tbl + " (" + cols(columns) + ") VALUES "
}

// statementFixed is the size of an upsert of tbl without its rows.
func statementFixed(tbl string, columns []string) int {
	head, tail := upsertSQL(tbl, columns)
	return len(head) + len(tail)
}

// rowSize bounds a row's size in an interpolated statement: each value is written as
// '...' or _binary'...' with the escaped bytes, plus separators.
func rowSize(r row) int {
	s := 3
	for _, v := range r {
		switch b := v.(type) {
		case string:
			s += 12 + escapedLen(b)
		case []byte:
			s += 12 + escapedLen(b)
		default:
			s += 24
		}
	}
	return s
}

// escapes[c] is 1 for the bytes go-sql-driver escapes with a backslash: NUL, \n, \r, \\, ',
// " and \x1a.
var escapes = func() (t [256]uint8) {
	for _, c := range []byte{0, '\n', '\r', '\\', '\'', '"', 0x1a} {
		t[c] = 1
	}
	return t
}()

// escapedLen is the length of b after MySQL string escaping (a table lookup per byte: bodies
// are most of what a copy moves, and JSON is full of quotes, so a branch per byte mispredicts).
func escapedLen[T string | []byte](b T) int {
	n := len(b)
	for i := 0; i < len(b); i++ {
		n += int(escapes[b[i]])
	}
	return n
}
