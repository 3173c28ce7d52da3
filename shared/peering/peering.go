// Package peering copies Orca executions one way, from each peer region's database into the
// local one (Orca's orca-peering, with the weaknesses of its reference §6 fixed): completed
// executions by a persisted updated_at watermark, active executions every pass, deletions by
// diff and by the peer's deleted_executions tombstones. Copies carry partition = the peer's id
// and are never written over rows the local region owns.
//
// The copy is modelled on gh-ost's row copy: work is cut into chunks of chunkSize executions,
// each chunk is read from one consistent snapshot of the peer and written in one local
// transaction, and progress (the watermark, the tombstone cursor) is stored in MySQL after
// every clean page, so an invocation that runs out of time resumes where it stopped.
package peering

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/metrics"
	"github.com/logwise/controlplane/shared/store"
)

// Peer is one peer region: its id (the partition name it uses locally) and an open, read-only
// handle on its database (a read replica is fine).
type Peer struct {
	ID string
	DB *sql.DB
	// Custom, when set, runs after the built-in steps of every pass (Orca's CustomPeerer).
	Custom CustomPeerer
}

// CustomPeerer peers extra tables (Orca's CustomPeerer). Init runs once in New; if it fails the
// peerer is disabled for the life of the copier. DoPeer runs at the end of every pass of its
// peer; its failures are counted and never stop anything else.
type CustomPeerer interface {
	Init(ctx context.Context, src, dest *sql.DB, peerID string) error
	DoPeer(ctx context.Context) (bool, error)
}

// Options are the copier's settings (config.Peering plus the local partition).
type Options struct {
	Partition             string // the local deployment partition (config.Deployment.Partition)
	IntervalMs            int    // delay between the end of one pass and the start of the next
	ThreadCount           int    // chunks copied in parallel
	ChunkSize             int    // executions per chunk
	ClockDriftMs          int    // overlap below the watermark re-examined every pass
	MaxAllowedDeleteCount int    // diff deletes above this, per peer and pass across types, are refused
	// SweepSlice is how many local copies of each type the reconciliation sweep compares per
	// pass (default 2500: a million executions in about 400 passes, half an hour at the
	// default interval); negative turns the sweep off.
	SweepSlice int
	// Holder names this copier in leases (default: a new ULID).
	Holder string
	// LeaseTTL is how long a peer's lease lasts unless renewed (default 2 minutes).
	LeaseTTL time.Duration
	// StopMargin is how long before ctx's deadline Run stops starting passes and cuts the
	// current one (default 5 s).
	StopMargin time.Duration
	// TombstoneLookback re-reads this many tombstone ids below the cursor each pass, so a
	// tombstone whose AUTO_INCREMENT id committed late is not skipped (default 200).
	TombstoneLookback int
	// PageSize is how many peer keys the completed delta reads per page (default
	// ChunkSize×ThreadCount, at least 1000).
	PageSize int
	// ChunkBytes is the most bytes of rows one chunk reads at once (default 4 MiB): a chunk
	// over it is read in halves, down to a single execution, which is read whole.
	ChunkBytes int
	// MemoryBytes bounds the rows the copier holds in memory at once, read and not yet
	// written, across its workers, peers and execution types (default 32 MiB, at least
	// ChunkBytes), beyond one execution heavier than ChunkBytes, which is read whole.
	MemoryBytes int
	// Now is the clock (default time.Now).
	Now func() time.Time

	packetBudget int // tests: overrides max_allowed_packet - 8 KiB
	groupBytes   int // tests: overrides groupBytes (<0: one transaction per chunk)
}

// OptionsFrom builds Options from the configuration.
func OptionsFrom(c config.Peering, partition string) Options {
	return Options{Partition: partition, IntervalMs: c.IntervalMs, ThreadCount: c.ThreadCount, ChunkSize: c.ChunkSize,
		ClockDriftMs: c.ClockDriftMs, MaxAllowedDeleteCount: c.MaxAllowedDeleteCount, SweepSlice: c.SweepSlice,
		ChunkBytes: c.ChunkMiB << 20, MemoryBytes: c.MemoryMiB << 20}
}

func (o *Options) setDefaults() {
	if o.IntervalMs <= 0 {
		o.IntervalMs = 5000
	}
	if o.ThreadCount <= 0 {
		o.ThreadCount = 30
	}
	if o.ChunkSize <= 0 {
		o.ChunkSize = 100
	}
	if o.ClockDriftMs < 0 {
		o.ClockDriftMs = 0
	}
	if o.MaxAllowedDeleteCount < 0 {
		o.MaxAllowedDeleteCount = 0
	}
	if o.SweepSlice == 0 {
		o.SweepSlice = 2500
	}
	if o.Holder == "" {
		o.Holder = "peering-" + ulid.MustNew(ulid.Now(), rand.Reader).String()
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 2 * time.Minute
	}
	if o.StopMargin <= 0 {
		o.StopMargin = 5 * time.Second
	}
	if o.TombstoneLookback <= 0 {
		o.TombstoneLookback = 200
	}
	if o.PageSize <= 0 {
		o.PageSize = max(1000, o.ChunkSize*o.ThreadCount)
	}
	if o.ChunkBytes <= 0 {
		o.ChunkBytes = 4 << 20
	}
	if o.MemoryBytes <= 0 {
		o.MemoryBytes = 32 << 20
	}
	o.MemoryBytes = max(o.MemoryBytes, o.ChunkBytes)
	if o.Now == nil {
		o.Now = time.Now
	}
}

// recorder writes an automatic action as an execution (executions.Log).
type recorder interface {
	Record(ctx context.Context, a executions.Action) (string, error)
}

// Copier copies executions from its peers into the local database.
type Copier struct {
	local   *store.DB
	peers   []*peer
	opts    Options
	rec     recorder
	metrics *metrics.Writer
	log     *slog.Logger
	budget  int // bytes per local statement: max_allowed_packet - 8 KiB
	mem     *memBudget

	afterChunk  func()                      // tests: runs after each chunk
	groupFailed func()                      // tests: runs when a group's transaction fails, before its chunks are retried alone
	beforeWrite func()                      // tests: runs before a group's (or a lone chunk's) first write
	partRead    func(executions, bytes int) // tests: runs after each chunk (or part of one) is read
	onLeaseHeld func()                      // tests: runs when CopyNow finds the peer's lease held and waits
}

type peer struct {
	Peer
	customOK bool

	mu            sync.Mutex
	hasCompressed *bool // whether the peer has the *_compressed_executions tables (learned once)
	// unreleased is this copier's lease on the peer that a pass could not release (the local
	// database was unreachable at the end of the pass); the next pass renews it, under the
	// same fencing token, instead of skipping the peer until the lease expires. Guarded by mu.
	unreleased *store.Lease
}

// New checks the local partition (Orca's partition_name rule) and the peers, reads the local
// max_allowed_packet, and initialises custom peerers. It does not contact the peers, so one
// peer being down never stops the others. A peer whose id is the local partition, an empty or
// duplicate peer id, or a partition_name row naming another partition is an error.
func New(ctx context.Context, local *store.DB, peers []Peer, opts Options, rec recorder, m *metrics.Writer, log *slog.Logger) (*Copier, error) {
	opts.setDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Partition == "" {
		return nil, errors.New("peering: the local partition (deployment.partition) is required")
	}
	localPartition, err := ensurePartition(ctx, local.SQL(), opts.Partition)
	if err != nil {
		return nil, err
	}
	c := &Copier{local: local, opts: opts, rec: rec, metrics: m, log: log, mem: newMemBudget(opts.MemoryBytes)}
	seen := map[string]bool{}
	for _, p := range peers {
		switch {
		case p.ID == "" || len(p.ID) > 32:
			return nil, fmt.Errorf("peering: peer id %q must be a partition name of 1-32 characters", p.ID)
		case p.ID == localPartition:
			return nil, fmt.Errorf("peering: peer %q is the local partition (partition_name); a region cannot peer itself", p.ID)
		case seen[p.ID]:
			return nil, fmt.Errorf("peering: peer %q is listed twice", p.ID)
		case p.DB == nil:
			return nil, fmt.Errorf("peering: peer %q has no database handle", p.ID)
		}
		seen[p.ID] = true
		pp := &peer{Peer: p}
		if p.Custom != nil {
			if err := p.Custom.Init(ctx, p.DB, local.SQL(), p.ID); err != nil {
				log.ErrorContext(ctx, "custom peerer init failed; disabled", "peer", p.ID, "peerer", fmt.Sprintf("%T", p.Custom), "error", err)
				c.emitCustomError(p, err)
			} else {
				pp.customOK = true
			}
		}
		c.peers = append(c.peers, pp)
	}
	c.budget = opts.packetBudget
	if c.budget == 0 {
		var packet int
		if err := local.SQL().QueryRowContext(ctx, "SELECT @@max_allowed_packet").Scan(&packet); err != nil {
			return nil, fmt.Errorf("peering: read local max_allowed_packet: %w", err)
		}
		c.budget = packet - packetOverhead
	}
	return c, nil
}

// ensurePartition applies Orca's partition_name rule (SqlExecutionRepository's constructor):
// an empty table gets (1, partition); one row naming another partition is a configuration
// error; several rows are an error. It returns the local partition.
func ensurePartition(ctx context.Context, db *sql.DB, partition string) (string, error) {
	read := func() ([]sql.NullString, error) {
		rs, err := db.QueryContext(ctx, "SELECT name FROM partition_name")
		if err != nil {
			return nil, fmt.Errorf("peering: read partition_name: %w", err)
		}
		defer rs.Close()
		var names []sql.NullString
		for rs.Next() {
			var n sql.NullString
			if err := rs.Scan(&n); err != nil {
				return nil, fmt.Errorf("peering: read partition_name: %w", err)
			}
			names = append(names, n)
		}
		return names, rs.Err()
	}
	names, err := read()
	if err != nil {
		return "", err
	}
	if len(names) == 0 {
		if _, err := db.ExecContext(ctx, "INSERT IGNORE INTO partition_name (id, name) VALUES (1, ?)", partition); err != nil {
			return "", fmt.Errorf("peering: insert partition_name %s: %w", partition, err)
		}
		if names, err = read(); err != nil {
			return "", err
		}
	}
	if err := checkPartition(names, partition); err != nil {
		return "", err
	}
	return partition, nil
}

// checkPartition judges partition_name's rows once an empty table has been given its row:
// exactly one, naming partition. (None at all can still be read back, e.g. from a database
// that lost the insert; that is an error, not a crash.)
func checkPartition(names []sql.NullString, partition string) error {
	switch {
	case len(names) == 0:
		return fmt.Errorf("peering: partition_name is empty after inserting %s; it must hold exactly one row", partition)
	case len(names) > 1:
		return fmt.Errorf("peering: partition_name has %d rows; it must hold exactly one", len(names))
	case !names[0].Valid || names[0].String != partition:
		return fmt.Errorf("peering: invalid configuration detected: can't change partition name to %s on the database once it has been set to %s",
			partition, names[0].String)
	}
	return nil
}

// PeerSummary adds up what was done for one peer.
type PeerSummary struct {
	Passes           int           // passes that worked the peer
	Skipped          int           // passes that skipped it: switched off, or its lease held elsewhere
	NumPeered        int           // executions written
	NumDeleted       int           // executions deleted (diff and tombstones)
	NumStagesDeleted int           // stale stages deleted
	NumErrors        int           // failed steps and chunks, refused deletes
	NumRefused       int           // diff deletes refused over the limit
	NumQuarantined   int           // executions too large for any statement, skipped
	NumDivergences   int           // differences the reconciliation sweep found
	Lag              time.Duration // duration of the last pass that worked the peer
}

// Summary is what a Pass or Run did, by peer id.
type Summary struct {
	Peers map[string]*PeerSummary
}

func (s *Summary) add(id string, p PeerSummary) {
	if s.Peers == nil {
		s.Peers = map[string]*PeerSummary{}
	}
	t := s.Peers[id]
	if t == nil {
		t = &PeerSummary{}
		s.Peers[id] = t
	}
	t.Passes += p.Passes
	t.Skipped += p.Skipped
	t.NumPeered += p.NumPeered
	t.NumDeleted += p.NumDeleted
	t.NumStagesDeleted += p.NumStagesDeleted
	t.NumErrors += p.NumErrors
	t.NumRefused += p.NumRefused
	t.NumQuarantined += p.NumQuarantined
	t.NumDivergences += p.NumDivergences
	if p.Passes > 0 {
		t.Lag = p.Lag
	}
}

// Pass does one pass over every enabled peer, the peers in parallel, each under its lease
// peering/<peerId>; a peer whose lease another copier holds is skipped. Errors of one peer are
// counted in its summary and logged; the error returned is for the pass as a whole (the
// switches could not be read).
func (c *Copier) Pass(ctx context.Context) (Summary, error) {
	var sum Summary
	sw, err := c.local.PeeringSwitches(ctx)
	if err != nil {
		return sum, fmt.Errorf("peering pass: %w", err)
	}
	results := make([]PeerSummary, len(c.peers))
	var wg sync.WaitGroup
	for i, p := range c.peers {
		if !sw.PeerOn(p.ID) {
			results[i] = PeerSummary{Skipped: 1}
			continue
		}
		limit := c.opts.MaxAllowedDeleteCount
		if sw.MaxAllowedDeleteCount != nil {
			limit = *sw.MaxAllowedDeleteCount
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = c.passPeer(ctx, p, limit)
		}()
	}
	wg.Wait()
	for i, p := range c.peers {
		sum.add(p.ID, results[i])
	}
	return sum, nil
}

// Run loops passes every IntervalMs (from the end of one to the start of the next) until
// shortly (StopMargin) before ctx's deadline, or until ctx ends, and returns what they did.
// Each pass runs under a context that ends StopMargin before the deadline, so a pass cut short
// stops cleanly: its chunk transactions roll back and only clean progress was stored.
func (c *Copier) Run(ctx context.Context) (Summary, error) {
	var sum Summary
	passCtx := ctx
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		passCtx, cancel = context.WithDeadline(ctx, dl.Add(-c.opts.StopMargin))
		defer cancel()
	}
	interval := time.Duration(c.opts.IntervalMs) * time.Millisecond
	for passCtx.Err() == nil {
		s, err := c.Pass(passCtx)
		for id, p := range s.Peers {
			sum.add(id, *p)
		}
		if err != nil && passCtx.Err() == nil {
			c.log.ErrorContext(ctx, "peering pass failed", "error", err)
		}
		if dl, ok := passCtx.Deadline(); ok && c.opts.Now().Add(interval).After(dl) {
			break // the next pass would start too late to do useful work
		}
		t := time.NewTimer(interval)
		select {
		case <-passCtx.Done():
			t.Stop()
		case <-t.C:
		}
	}
	return sum, nil
}
