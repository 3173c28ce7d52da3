package tracing

import (
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func TestTracingOnlyInsideLambdaAndNotWhenDisabled(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"outside Lambda", map[string]string{}, false},
		{"Lambda with active tracing", map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "api", "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793"}, true},
		{"Lambda with a daemon address", map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "api", "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000"}, true},
		{"disabled", map[string]string{"AWS_LAMBDA_FUNCTION_NAME": "api", "_X_AMZN_TRACE_ID": "Root=1", "AWS_XRAY_SDK_DISABLED": "TRUE"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"AWS_LAMBDA_FUNCTION_NAME", "_X_AMZN_TRACE_ID", "AWS_XRAY_DAEMON_ADDRESS", "AWS_XRAY_SDK_DISABLED"} {
				t.Setenv(k, tt.env[k])
			}
			if got := Enabled(); got != tt.want {
				t.Fatalf("Enabled() = %v, want %v", got, tt.want)
			}
			base := &http.Client{}
			wrapped := HTTPClient(base) != base
			if wrapped != tt.want {
				t.Fatalf("HTTPClient wrapped = %v, want %v", wrapped, tt.want)
			}
			var cfg aws.Config
			AWS(&cfg)
			if got := len(cfg.APIOptions) > 0; got != tt.want {
				t.Fatalf("AWS instrumented = %v, want %v", got, tt.want)
			}
		})
	}
}
