package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
)

// LambdaHandler adapts h to API Gateway: HTTP API (payload 2.0) and REST API (payload 1.0)
// events both work, so the function can sit behind either. A stage name in an HTTP API path
// (/prod/healthcheck on a non-default stage) is stripped before routing.
func LambdaHandler(h http.Handler) func(context.Context, json.RawMessage) (any, error) {
	v1 := httpadapter.New(h)
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		var probe struct {
			Version        string `json:"version"`
			RawPath        string `json:"rawPath"`
			RequestContext struct {
				Stage string `json:"stage"`
			} `json:"requestContext"`
		}
		if err := json.Unmarshal(raw, &probe); err != nil {
			return nil, fmt.Errorf("decode API Gateway event: %w", err)
		}
		if probe.Version == "2.0" {
			var ev events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, fmt.Errorf("decode HTTP API event: %w", err)
			}
			stage := probe.RequestContext.Stage
			if stage != "" && stage != "$default" {
				if p, ok := strings.CutPrefix(ev.RawPath, "/"+stage); ok && (p == "" || p[0] == '/') {
					ev.RawPath = p
					if ev.RawPath == "" {
						ev.RawPath = "/"
					}
				}
			}
			return httpadapter.NewV2(h).ProxyWithContext(ctx, ev)
		}
		var ev events.APIGatewayProxyRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("decode REST API event: %w", err)
		}
		return v1.ProxyWithContext(ctx, ev)
	}
}
