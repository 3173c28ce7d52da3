// Package setuptest loads a function's setup.Env for tests, on a configuration given as YAML.
package setuptest

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/setup"
)

// Load parses yaml (no ${VAR} is expanded) and loads the Env of the function named name on
// it, with the schema migrated and, unless opt.Log is set, the log discarded. opt's Config and
// Migrate are set here; its other fields pass through. The Env closes when the test ends.
func Load(t testing.TB, name, yaml string, opt setup.Options) *setup.Env {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("configuration: %v", err)
	}
	opt.Config, opt.Migrate = cfg, true
	if opt.Log == nil {
		opt.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	env, err := setup.Load(context.Background(), name, opt)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	t.Cleanup(env.Close)
	return env
}
