package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestRunStopsEverythingItStarted: when its context ends (Ctrl-C in `make run`), run returns
// having stopped every goroutine it started and closed every pool, client and server: both
// regions' stores and peer pools, the tenants' Kafka clients, the schedules and the demo.
// The tick is short, so schedules are under way when it stops.
func TestRunStopsEverythingItStarted(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	runErr := make(chan error, 1)
	go func() {
		runErr <- run(ctx, slog.New(slog.DiscardHandler), options{addr: addr, tick: 4 * time.Second})
	}()
	base := "http://" + addr
	waitUp(t, base+"/liveness", runErr)
	// Everything has been used once: the tenant's Kafka client (pipeline health) and the peer
	// pools (this region's copy of the second region's replay).
	answers := func(path, want string) func() (bool, string) {
		return func() (bool, string) {
			_, body := call(t, http.MethodGet, base+path)
			s := fmt.Sprint(body)
			return strings.Contains(s, want), s
		}
	}
	waitFor(t, time.Minute, "pipeline health checks Kafka", answers("/pipeline/health", "component:kafka"))
	waitFor(t, time.Minute, "the second region's replay is copied here", answers("/executions?partition=eu-west-1&type=pipeline", "sparkReplay"))
	cancel()
	if err := <-runErr; err != nil {
		t.Fatalf("run: %v", err)
	}
	http.DefaultClient.CloseIdleConnections()
	goleak.VerifyNone(t, ignore)
}
