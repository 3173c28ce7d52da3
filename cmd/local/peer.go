package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/store"
)

// peerPartition is the demo's peer region: its database sits beside this region's (same
// server, database <name>_peer), and the peering copier copies its executions here.
const peerPartition = "eu-west-1"

// peerRegion is the demo's peer region's database, where the peer records its own
// automatic actions for the demo tenant, so that peering has something to copy.
type peerRegion struct {
	db  *store.DB
	log *executions.Log
	mu  sync.Mutex
	n   int
}

// startPeerRegion creates and migrates the peer region's database beside main.
func startPeerRegion(ctx context.Context, main store.Config) (*peerRegion, store.Config, error) {
	admin, err := store.Open(ctx, main)
	if err != nil {
		return nil, store.Config{}, fmt.Errorf("peer region: %w", err)
	}
	defer admin.Close()
	peer := main
	peer.Name = main.Name + "_peer"
	if _, err := admin.SQL().ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+peer.Name); err != nil {
		return nil, peer, fmt.Errorf("create peer region database %s: %w", peer.Name, err)
	}
	db, err := store.Open(ctx, peer)
	if err != nil {
		return nil, peer, fmt.Errorf("peer region: %w", err)
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, peer, fmt.Errorf("migrate peer region database %s: %w", peer.Name, err)
	}
	return &peerRegion{db: db, log: executions.NewLog(db.SQL(), peerPartition)}, peer, nil
}

func (p *peerRegion) close() { p.db.Close() }

// act records one automatic action of the peer region for tenant: what its own scaler did.
func (p *peerRegion) act(ctx context.Context, tenant string) error {
	p.mu.Lock()
	p.n++
	n := p.n
	p.mu.Unlock()
	from, to := 2+n%3, 2+(n+1)%3
	_, err := p.log.Record(ctx, executions.Action{Tenant: tenant, Kind: "scaleWorkers", Trigger: "schedule", StartTime: time.Now(),
		Description: fmt.Sprintf("Spark workers in %s: %d → %d", peerPartition, from, to),
		Inputs:      map[string]any{"workers": from}, Rule: "demo", Outcome: map[string]any{"from": from, "target": to}})
	if err != nil {
		return fmt.Errorf("record peer region action: %w", err)
	}
	return nil
}
