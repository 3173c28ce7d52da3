package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/logwise/controlplane/internal/lambdarun"
	"github.com/logwise/controlplane/internal/samtemplate"
)

// logicalIDs are the template's function resources, by the Makefile's function names.
var logicalIDs = map[string]string{
	"api": "ApiFunction", "sparkmonitor": "SparkMonitorFunction", "scaler": "ScalerFunction",
	"discovery": "DiscoveryFunction", "peering": "PeeringFunction", "migrate": "MigrateFunction",
}

type request struct {
	fn, bootstrap, template string
	event                   []byte
	// localConfig is the configuration used when environ sets none.
	localConfig string
	environ     []string
}

type answer struct {
	body          []byte
	functionError bool
	logs          string
	timeout       time.Duration
}

// invoke runs the bootstrap on the event with the template's timeout, starting the
// embedded defaults when the environment names no configuration.
func invoke(ctx context.Context, r request) (answer, error) {
	id, ok := logicalIDs[r.fn]
	if !ok {
		return answer{}, fmt.Errorf("unknown function %q (one of api, sparkmonitor, scaler, discovery, peering, migrate)", r.fn)
	}
	tmpl, err := samtemplate.Load(r.template)
	if err != nil {
		return answer{}, err
	}
	timeout, err := tmpl.FunctionTimeout(id)
	if err != nil {
		return answer{}, err
	}
	var env []string
	configured := false
	for _, kv := range r.environ {
		if strings.HasPrefix(kv, "CONFIG_") || strings.HasPrefix(kv, "DB_") || strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
			configured = configured || strings.HasPrefix(kv, "CONFIG_")
		}
	}
	if !configured {
		st, err := startStandIns(ctx)
		if err != nil {
			return answer{}, fmt.Errorf("start the embedded defaults: %w", err)
		}
		defer st.close()
		env = append(env, st.env...)
		env = append(env, "CONFIG_FILE="+r.localConfig, "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local",
			"AWS_EC2_METADATA_DISABLED=true", "AWS_XRAY_SDK_DISABLED=true")
	}
	env = append(env, "AWS_LAMBDA_FUNCTION_NAME="+r.fn, fmt.Sprintf("AWS_LAMBDA_FUNCTION_TIMEOUT=%d", int(timeout.Seconds())))
	p, err := lambdarun.Start(r.bootstrap, env)
	if err != nil {
		return answer{}, err
	}
	defer p.Stop()
	p.Runtime.Timeout = timeout
	ctx, cancel := context.WithTimeout(ctx, timeout+grace)
	defer cancel()
	if _, err := p.WaitReady(ctx); err != nil {
		return answer{logs: p.Output.String()}, err
	}
	res, err := p.Runtime.Invoke(ctx, r.event)
	return answer{body: res.Body, functionError: res.Error, logs: p.Output.String(), timeout: timeout}, err
}
