// Package tracing is the one place that knows the tracer (AWS X-Ray): it instruments AWS SDK
// clients, outbound HTTP and SQL. Everything else asks this package, so the exporter can be
// swapped (for OpenTelemetry) in one file. Tracing is on only inside Lambda with active
// tracing; AWS_XRAY_SDK_DISABLED=true turns it off (tests, local runs).
package tracing

import (
	"context"
	"database/sql"
	"net/http"
	"os"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-xray-sdk-go/instrumentation/awsv2"
	"github.com/aws/aws-xray-sdk-go/strategy/ctxmissing"
	"github.com/aws/aws-xray-sdk-go/xray"
	_ "github.com/go-sql-driver/mysql" // registers "mysql"
)

var configure sync.Once

// on reports Enabled and, the first time tracing is on, makes a call outside any segment
// silent: a Lambda's init phase (opening the store, reading secrets and configuration) has no
// segment, and the SDK's default logs an error line per such call ("context missing"). Such
// calls simply go untraced. An operator's AWS_XRAY_CONTEXT_MISSING still wins.
func on() bool {
	if !Enabled() {
		return false
	}
	configure.Do(func() {
		_ = xray.Configure(xray.Config{ContextMissingStrategy: ctxmissing.NewDefaultIgnoreErrorStrategy()})
	})
	return true
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
	if on() {
		awsv2.AWSV2Instrumentor(&cfg.APIOptions)
	}
}

// HTTPClient returns c (or a default client) with traced outbound requests.
func HTTPClient(c *http.Client) *http.Client {
	if c == nil {
		c = &http.Client{}
	}
	if on() {
		return xray.Client(c)
	}
	return c
}

// OpenSQL opens a MySQL pool whose queries are traced.
func OpenSQL(dsn string) (*sql.DB, error) {
	if on() {
		return xray.SQLContext("mysql", dsn)
	}
	return sql.Open("mysql", dsn)
}

// Start begins a subsegment named name for a call the SDK does not see (Kafka's protocol);
// end closes it with the call's error. Outside a segment, or with tracing off, it does nothing.
func Start(ctx context.Context, name string) (_ context.Context, end func(error)) {
	if !on() {
		return ctx, func(error) {}
	}
	sctx, seg := xray.BeginSubsegment(ctx, name)
	if seg == nil {
		return ctx, func(error) {}
	}
	return sctx, func(err error) { seg.Close(err) }
}
