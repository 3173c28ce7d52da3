// Package tracing is the one place that knows the tracer: it records AWS SDK calls, outbound
// HTTP (Spark, Kubernetes, Vector) and calls the SDK does not see (Kafka's protocol) as AWS
// X-Ray subsegments of the function's segment, which Lambda itself opens for every invocation
// with active tracing. Everything else asks this package, so the exporter can be swapped (for
// OpenTelemetry) here alone. Tracing is on only inside Lambda with active tracing;
// AWS_XRAY_SDK_DISABLED=true turns it off (tests, local runs).
//
// Why not aws-xray-sdk-go: AWS put the X-Ray SDKs in maintenance mode on 2026-02-25 and ends
// their support on 2027-02-25, and the Go SDK links the AWS SDK for Go v1 (itself out of
// support) whose endpoints table alone takes 8 to 15 ms to initialise at every cold start, as
// much as a bare aws-lambda-go binary's whole start, plus gRPC. OpenTelemetry's AWS SDK
// instrumentation links the DynamoDB and SQS clients, and Lambda's X-Ray daemon still needs an
// exporter to its UDP protocol. What a function needs is small and stable: subsegment
// documents, written to the daemon Lambda runs beside it (AWS_XRAY_DAEMON_ADDRESS), under the
// trace header Lambda gives each invocation. That is this package (xray.go). Database queries
// are not traced: a subsegment per query would cost a UDP write each, and their time shows in
// the subsegments of the calls around them.
package tracing

import (
	"context"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
)

var (
	defaultOnce   sync.Once
	defaultTracer *Tracer // nil when tracing is off
)

// std returns the process's tracer, or nil when tracing is off. Calls outside an invocation
// (a Lambda's init: configuration, store, schema check) have no trace header and simply go
// untraced, silently.
func std() *Tracer {
	if !Enabled() {
		return nil
	}
	defaultOnce.Do(func() { defaultTracer = NewTracer(DaemonAddress(os.Getenv("AWS_XRAY_DAEMON_ADDRESS")), nil, nil) })
	return defaultTracer
}

// Enabled reports whether traces are recorded: inside Lambda, unless disabled.
func Enabled() bool {
	if strings.EqualFold(os.Getenv("AWS_XRAY_SDK_DISABLED"), "true") {
		return false
	}
	return os.Getenv("AWS_LAMBDA_FUNCTION_NAME") != "" && os.Getenv("_X_AMZN_TRACE_ID") != "" ||
		os.Getenv("AWS_LAMBDA_FUNCTION_NAME") != "" && os.Getenv("AWS_XRAY_DAEMON_ADDRESS") != ""
}

// AWS instruments every client built from cfg.
func AWS(cfg *aws.Config) {
	if t := std(); t != nil {
		t.InstrumentAWS(&cfg.APIOptions)
	}
}

// HTTPClient returns c (or a default client) with traced outbound requests.
func HTTPClient(c *http.Client) *http.Client {
	if c == nil {
		c = &http.Client{}
	}
	if t := std(); t != nil {
		return t.HTTPClient(c)
	}
	return c
}

// Start begins a subsegment named name for a call the SDK does not see (Kafka's protocol);
// end closes it with the call's error. Outside a traced invocation, or with tracing off, it
// does nothing.
func Start(ctx context.Context, name string) (_ context.Context, end func(error)) {
	if t := std(); t != nil {
		return t.Start(ctx, name, "remote")
	}
	return ctx, func(error) {}
}
