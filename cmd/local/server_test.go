package main

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

// TestServerTimeouts: the local server cuts off a client that is slow to send its headers or
// body, or idles on a kept-alive connection (a half-sent body held one for over 55 s).
func TestServerTimeouts(t *testing.T) {
	srv := newServer(nil)
	for name, got := range map[string]time.Duration{"ReadHeaderTimeout": srv.ReadHeaderTimeout, "ReadTimeout": srv.ReadTimeout,
		"WriteTimeout": srv.WriteTimeout, "IdleTimeout": srv.IdleTimeout} {
		if got <= 0 || got > time.Minute {
			t.Errorf("%s = %s, want a bound of at most a minute", name, got)
		}
	}
	if srv.WriteTimeout <= 25*time.Second {
		t.Errorf("WriteTimeout %s cuts the API's own 25 s deadline short", srv.WriteTimeout)
	}
}

// TestRunningOnlyOnceBound: with the port taken, the runner fails naming the address and
// never logs "control plane running".
func TestRunningOnlyOnceBound(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	var logs strings.Builder
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = run(ctx, slog.New(slog.NewJSONHandler(&logs, nil)), options{addr: taken.Addr().String(), tick: time.Minute})
	if err == nil || !strings.Contains(err.Error(), taken.Addr().String()) {
		t.Fatalf("run on a taken port: %v, want an error naming %s", err, taken.Addr())
	}
	if strings.Contains(logs.String(), "control plane running") {
		t.Errorf("logged running although the port was taken: %s", logs.String())
	}
}
