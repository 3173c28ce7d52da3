// Package migratewire wires the migrate function: it applies the embedded schema migrations
// when CloudFormation creates or updates its custom resource (every deploy), or when invoked
// with any other event such as {}. The environment is loaded inside the invocation, not at
// start, so that a configuration or database failure is reported to CloudFormation as a
// FAILED resource with its reason instead of leaving the stack waiting for an answer.
package migratewire

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/aws/aws-lambda-go/cfn"

	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/store"
)

// PhysicalResourceID names the schema the custom resource stands for; it never changes, so
// an update never replaces (and so never deletes) the resource.
const PhysicalResourceID = "logwise-schema"

// Result is the answer of a plain invocation, and the custom resource's data.
type Result struct {
	Version int    `json:"Version"`
	Status  string `json:"Status"`
}

// Loader builds the function's environment with migrations applied (setup.Load with
// Options.Migrate).
type Loader func(ctx context.Context) (*setup.Env, error)

// Handler returns the migrate function's handler. respond answers a custom resource event
// (cfn.LambdaWrap in Lambda: it PUTs the result to the event's ResponseURL).
func Handler(load Loader, respond func(cfn.CustomResourceFunction) cfn.CustomResourceLambdaFunction) func(context.Context, json.RawMessage) (any, error) {
	m := &migrator{load: load}
	cr := respond(m.customResource)
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var ev cfn.Event
		if err := json.Unmarshal(raw, &ev); err == nil && ev.RequestType != "" && ev.ResponseURL != "" {
			return cr(ctx, ev)
		}
		return m.migrate(ctx)
	}
}

type migrator struct {
	load Loader
	mu   sync.Mutex
	env  *setup.Env
}

func (m *migrator) customResource(ctx context.Context, ev cfn.Event) (string, map[string]any, error) {
	if ev.RequestType == cfn.RequestDelete {
		return PhysicalResourceID, nil, nil // the schema outlives the stack's resource
	}
	res, err := m.migrate(ctx)
	if err != nil {
		return PhysicalResourceID, nil, err
	}
	return PhysicalResourceID, map[string]any{"Version": res.Version}, nil
}

// migrate loads the environment (applying the migrations) on the first call, and applies
// them again on later calls of the same execution environment.
func (m *migrator) migrate(ctx context.Context) (Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.env == nil {
		env, err := m.load(ctx)
		if err != nil {
			return Result{}, fmt.Errorf("migrate: %w", err)
		}
		m.env = env
	} else if err := m.env.Store.Migrate(ctx); err != nil {
		return Result{}, fmt.Errorf("migrate: %s", m.env.Redactor.String(err.Error()))
	}
	ms, err := store.Migrations()
	if err != nil {
		return Result{}, err
	}
	v := ms[len(ms)-1].Version
	m.env.Log.InfoContext(ctx, "schema migrated", "version", v)
	return Result{Version: v, Status: "migrated"}, nil
}
