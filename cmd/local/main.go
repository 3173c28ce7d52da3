// Command local runs the whole control plane in one process on this machine, with no AWS
// account: the API on 127.0.0.1:8080 and every scheduled function on its schedule, against
// embedded defaults (an embedded MySQL-compatible database unless -mysql-dsn is given, an
// in-process S3, the in-process Spark master and Kafka) and a demo tenant whose simulated
// pipeline keeps writing log partitions.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/setup/localwire"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "API listen address")
	dsn := flag.String("mysql-dsn", "", "use this MySQL/MariaDB (user:pass@tcp(host:3306)/db) instead of the embedded database")
	configFile := flag.String("config", "", "use this configuration file instead of the demo tenant (its endpoints must be reachable)")
	tick := flag.Duration("tick", time.Minute, "how often the scheduled functions run (their EventBridge rate)")
	template := flag.String("template", "template.yaml", "the SAM template whose dashboard /dashboard renders")
	flag.Parse()

	log := slog.New(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, options{addr: *addr, dsn: *dsn, configFile: *configFile, tick: *tick, template: *template}); err != nil {
		log.Error("local runner failed", "error", err.Error())
		os.Exit(1)
	}
}

type options struct {
	addr, dsn, configFile string
	tick                  time.Duration
	// template is the SAM template; "" means template.yaml in the working directory.
	template string
}

func run(ctx context.Context, log *slog.Logger, o options) error {
	os.Setenv("AWS_XRAY_SDK_DISABLED", "true")
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	if os.Getenv("AWS_ACCESS_KEY_ID") == "" {
		os.Setenv("AWS_ACCESS_KEY_ID", "local")
		os.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	}
	// Bind first: a port in use fails at once, before anything starts or claims to run.
	ln, err := listen(o.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	sys, err := startSystem(ctx, log, o)
	if err != nil {
		return err
	}
	defer sys.close()

	// The functions' EMF metrics feed /dashboard instead of stdout.
	metrics := newMetricStore(time.Now)
	dash, err := loadDashboard(o, metrics)
	if err != nil {
		log.Warn("no /dashboard", "error", err.Error())
	}
	env, err := setup.Load(ctx, "local", setup.Options{Config: sys.config, Log: log, MaxOpenConns: sys.maxOpenConns, Metrics: metrics, Migrate: true})
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	app, err := localwire.New(ctx, env)
	if err != nil {
		env.Close()
		return fmt.Errorf("wire: %w", err)
	}
	defer app.Close()
	var peer *peerRegion
	if sys.peerConfig != nil {
		sys.bus.subscribe(app.Peering.Applier)
		if peer, err = startPeerRegion(ctx, log, sys.peerConfig, sys.maxOpenConns, sys.bus); err != nil {
			return err
		}
		defer peer.close()
		sys.demo.peer = peer
	}
	if sys.demo != nil {
		// Prime the demo so the first request already sees a live pipeline: partitions in S3,
		// the streaming job submitted, services discovered.
		if err := sys.demo.seed(ctx); err != nil {
			return fmt.Errorf("seed demo pipeline: %w", err)
		}
		for _, job := range []string{"sparkmonitor", "discovery"} {
			if _, err := app.RunJob(ctx, job); err != nil {
				log.Warn("first run", "job", job, "error", err.Error())
			}
		}
	}
	// Everything started from here stops, and is waited for, before the deferred closes run.
	ctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		stop()
		wg.Wait()
	}()
	srv := newServer(localHandler(app.API.Handler(), metrics, dash, sys.demo))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("control plane running", "api", "http://"+ln.Addr().String(), "tenant", sys.config.Tenants[0].Name,
		"jobs", app.Jobs(), "tick", o.tick.String(), "database", sys.dbDescription)

	if sys.demo != nil {
		wg.Go(func() { sys.demo.run(ctx, "http://"+ln.Addr().String()) })
	}
	for _, job := range app.Jobs() {
		wg.Go(func() { schedule(ctx, log, app, job, o.tick, metrics) })
	}
	if peer != nil { // the second region runs only its peering: the pipeline is the first's
		wg.Go(func() {
			schedule(ctx, log.With("region", peerPartition), peer.sys, "peeringcopier", o.tick, newMetricStore(time.Now))
		})
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("API server: %w", err)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// schedule runs job now and then every tick, as EventBridge would.
func schedule(ctx context.Context, log *slog.Logger, app *localwire.System, job string, tick time.Duration, metrics *metricStore) {
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		jctx, cancel := context.WithTimeout(ctx, tick+30*time.Second)
		sum, err := app.RunJob(jctx, job)
		cancel()
		metrics.invocation(functionOfJob[job], err != nil)
		if err != nil {
			log.Warn("scheduled run failed", "job", job, "error", err.Error())
		} else {
			log.Info("scheduled run", "job", job, "results", sum.Results)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
