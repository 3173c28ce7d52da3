// Package tracing is the one place that knows the tracer (AWS X-Ray): it instruments AWS SDK
// clients, outbound HTTP and SQL. Everything else asks this package, so the exporter can be
// swapped (for OpenTelemetry) in one file. Tracing is on only inside Lambda with active
// tracing; AWS_XRAY_SDK_DISABLED=true turns it off (tests, local runs).
package tracing

import (
	"database/sql"
	"net/http"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-xray-sdk-go/instrumentation/awsv2"
	"github.com/aws/aws-xray-sdk-go/xray"
	_ "github.com/go-sql-driver/mysql" // registers "mysql"
)

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
	if Enabled() {
		awsv2.AWSV2Instrumentor(&cfg.APIOptions)
	}
}

// HTTPClient returns c (or a default client) with traced outbound requests.
func HTTPClient(c *http.Client) *http.Client {
	if c == nil {
		c = &http.Client{}
	}
	if Enabled() {
		return xray.Client(c)
	}
	return c
}

// OpenSQL opens a MySQL pool whose queries are traced.
func OpenSQL(dsn string) (*sql.DB, error) {
	if Enabled() {
		return xray.SQLContext("mysql", dsn)
	}
	return sql.Open("mysql", dsn)
}
