// Package apiwire wires the API function: every route's domain, built without contacting
// anything, so that a dependency that is down or misconfigured fails its own routes (a Kafka
// setting or secret: 503 on the Kafka routes and Kafka DOWN in pipeline health) and never the
// function. Its secrets: the tenants' and the admin token secrets (read at start: they
// authorise every call), and, on first use, each tenant's Kafka credentials. Scaling decided
// here is applied by the scaler function (an asynchronous invoke of SCALER_FUNCTION_NAME),
// so only the scaler holds the actuators' permissions.
package apiwire

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/httpapi"
	"github.com/logwise/controlplane/shared/interlink"
	"github.com/logwise/controlplane/shared/scaling"
	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/setup/buckets"
	"github.com/logwise/controlplane/shared/setup/discoverywire"
	"github.com/logwise/controlplane/shared/setup/linkwire"
	"github.com/logwise/controlplane/shared/setup/scalewire"
	"github.com/logwise/controlplane/shared/setup/sparkwire"
	"github.com/logwise/controlplane/shared/spark"
	"github.com/logwise/controlplane/shared/supervisor"
)

// Options replace parts of the API's wiring (the local runner and tests).
type Options struct {
	// Buckets, Spark and Scaling are domains the caller already wired and shares with its jobs.
	Buckets *buckets.Buckets
	Spark   *supervisor.Supervisor
	Scaling *scalewire.Scaling
	// PeerNow asks for on-demand copies; nil invokes the peering function
	// (interlink.peeringFunction or PEERING_FUNCTION_NAME) when one is named.
	PeerNow interlink.PeerNow
}

// New wires the API. It reads the token secrets; nothing else is contacted.
func New(ctx context.Context, env *setup.Env, opt Options) (*httpapi.Server, error) {
	if err := resolveTokens(ctx, env); err != nil {
		return nil, err
	}
	b := opt.Buckets
	if b == nil {
		b = buckets.New(env.AWS)
	}
	sup := opt.Spark
	if sup == nil {
		sup = sparkwire.New(env, b)
	}
	sc := opt.Scaling
	if sc == nil {
		sc = scalewire.New(env, b, ViaScaler(env, os.Getenv("SCALER_FUNCTION_NAME")))
	}
	disc := discoverywire.New(env, b, &discoverywire.Health{Spark: driverHealth{env}, Kafka: sc.KafkaProbe})
	deps := httpapi.Deps{Health: env.Store, Switches: env.Store, Redactor: env.Redactor}
	deps.Spark = sup
	deps.Scaling = sc.Service
	deps.Discovery = disc
	deps.Executions = env.Executions
	cfg := env.Config
	takeovers := &interlink.Takeovers{Repo: env.Executions, Health: linkwire.OwnerHealth{DB: env.Store},
		MinUnreachable: time.Duration(cfg.Peering.OwnerUnreachableMinutes) * time.Minute,
		Recorder:       env.Executions, Now: time.Now}
	deps.Takeovers = takeovers
	if fw := forwarder(env, opt.PeerNow); fw != nil {
		deps.Forwarder = fw
		takeovers.Announcer = fw
	}
	return httpapi.New(cfg, env.Log, deps), nil
}

// forwarder forwards actions on foreign executions to their owners when interlink is on, and
// copies the outcome back through peerNow (in process) or the peering function.
func forwarder(env *setup.Env, peerNow interlink.PeerNow) *interlink.Forwarder {
	fw := linkwire.Forwarder(env)
	if fw == nil {
		return nil
	}
	fn := env.Config.Interlink.PeeringFunction
	if fn == "" {
		fn = os.Getenv("PEERING_FUNCTION_NAME")
	}
	switch {
	case peerNow != nil:
		fw.PeerNow = peerNow
	case fn != "":
		fw.PeerNow = lambdaNow{invoke: lambdaInvoke(env), function: fn}
	}
	return fw
}

// resolveTokens adds the hashes of the tokens kept in Secrets Manager ({"tokens":["..."]}):
// each tenant's auth.tokensSecretArn and api.adminTokensSecretArn.
func resolveTokens(ctx context.Context, env *setup.Env) error {
	read := func(key, arn string) ([]string, error) {
		s, err := env.Secrets.Get(ctx, arn)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		var body struct {
			Tokens []string `json:"tokens"`
		}
		if err := json.Unmarshal([]byte(s), &body); err != nil || len(body.Tokens) == 0 {
			return nil, fmt.Errorf("%s: the secret must be JSON {\"tokens\":[\"...\"]}", key)
		}
		var hashes []string
		for _, tok := range body.Tokens {
			hashes = append(hashes, config.HashToken(strings.TrimSpace(tok)))
		}
		return hashes, nil
	}
	cfg := env.Config
	if arn := cfg.API.AdminTokensSecretARN; arn != "" {
		h, err := read("api.adminTokensSecretArn", arn)
		if err != nil {
			return err
		}
		cfg.API.AdminTokenHashes = append(cfg.API.AdminTokenHashes, h...)
	}
	for i := range cfg.Tenants {
		t := &cfg.Tenants[i]
		if t.Auth.TokensSecretARN == "" {
			continue
		}
		h, err := read(fmt.Sprintf("tenants[%d].auth.tokensSecretArn", i), t.Auth.TokensSecretARN)
		if err != nil {
			return err
		}
		t.Auth.TokenHashes = append(t.Auth.TokenHashes, h...)
	}
	return nil
}

// ViaScaler sends each decision that changes an ASG or Kubernetes cluster to the scaler
// function, asynchronously: the scaler decides again under the tenant's lease from the stored
// reports (the one just posted included) and applies. With no function named, decisions are
// recorded only.
func ViaScaler(env *setup.Env, function string) scalewire.Actuators {
	var invoke invokeFunc
	if function != "" {
		invoke = lambdaInvoke(env)
	}
	return func(t config.Tenant) scaling.Actuator {
		switch t.Spark.Cluster.ClusterType {
		case "kubernetes", "k8s", "asg":
			if invoke != nil {
				return scalerInvoke{invoke: invoke, function: function, tenant: t.Name}
			}
		}
		return nil
	}
}

// invokeFunc is the Lambda client's Invoke. The SDK clients are reached through closures
// (method values), never stored as fields of a type converted to an interface: should
// text/template ever be linked, its reflection would make the linker keep every method of such
// a client (see actuators.newEC2Instances).
type invokeFunc func(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)

// lambdaInvoke returns the Lambda client's Invoke.
func lambdaInvoke(env *setup.Env) invokeFunc { return lambda.NewFromConfig(env.AWS).Invoke }

// invokeAsync invokes function with body, asynchronously (InvocationType Event).
func invokeAsync(ctx context.Context, invoke invokeFunc, function string, body any) error {
	payload, err := json.Marshal(body)
	if err != nil {
		return err
	}
	_, err = invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(function), InvocationType: lambdatypes.InvocationTypeEvent, Payload: payload})
	if err != nil {
		return fmt.Errorf("invoke %s: %w", function, err)
	}
	return nil
}

// scalerInvoke is the API's actuator: it hands the decision to the scaler function.
type scalerInvoke struct {
	invoke   invokeFunc
	function string
	tenant   string
}

func (s scalerInvoke) Apply(ctx context.Context, d scaling.Decision, _ scaling.Cluster) (scaling.Applied, error) {
	if err := invokeAsync(ctx, s.invoke, s.function, map[string]scalewire.ScaleNow{"scaleNow": {Tenant: s.tenant}}); err != nil {
		return scaling.Applied{}, fault.Wrap(fault.Unavailable, err, "send the decision for tenant %s to the scaler function", s.tenant)
	}
	return scaling.Applied{Target: d.Target, Note: "sent to the scaler function " + s.function + ", which applies it under the tenant's lease"}, nil
}

// lambdaNow invokes the peering function asynchronously.
type lambdaNow struct {
	invoke   invokeFunc
	function string
}

func (n lambdaNow) RequestCopy(ctx context.Context, peerID string, t executions.Type, ids []string) error {
	return invokeAsync(ctx, n.invoke, n.function, map[string]interlink.CopyNowRequest{"copyNow": {PeerID: peerID, ExecutionType: string(t), IDs: ids}})
}

// driverHealth answers the pipeline health's Spark question by the monitor's definition: the
// master is ALIVE and a driver of the job is SUBMITTED, RUNNING, RELAUNCHING or UNKNOWN.
type driverHealth struct{ env *setup.Env }

func (d driverHealth) DriverAlive(ctx context.Context, tenant string) (bool, string, error) {
	t, ok := d.env.Config.Tenant(tenant)
	if !ok {
		return false, "", fmt.Errorf("tenant %s is not configured", tenant)
	}
	st, err := spark.New(spark.Config{Masters: spark.ConfigFrom(t.Spark).Masters, HTTP: d.env.HTTP}).Master(ctx)
	if err != nil {
		return false, "", err
	}
	if st.Status != spark.Alive {
		return false, fmt.Sprintf("the Spark master is %s, not ALIVE", st.Status), nil
	}
	for _, drv := range st.ActiveDrivers {
		if (t.Spark.MainClass == "" || drv.MainClass == t.Spark.MainClass) && supervisor.Alive(drv.State) {
			return true, fmt.Sprintf("driver %s is %s on the ALIVE master", drv.ID, drv.State), nil
		}
	}
	return false, fmt.Sprintf("no driver of %s is alive on the master (%d active drivers)", t.Spark.MainClass, len(st.ActiveDrivers)), nil
}
