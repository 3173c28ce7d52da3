package leastprivilege

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/logwise/controlplane/internal/lambdarun"
)

// event is one invocation and the check of its answer ("" when it is right).
type event struct {
	name    string
	payload []byte
	check   func(res lambdarun.Result, w *world) string
}

func (e event) play(ctx context.Context, w *world, p *lambdarun.Process) string {
	ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := p.Runtime.Invoke(ictx, e.payload)
	if err != nil {
		return lastLines(err.Error()+"\n"+p.Output.String(), 6)
	}
	if res.Error {
		return "function error: " + string(res.Body)
	}
	if e.check != nil {
		return e.check(res, w)
	}
	return ""
}

// events are what each function handles in the test: every route or trigger that makes the
// function call AWS.
func (w *world) events(fn string) []event {
	switch fn {
	case "ApiFunction":
		return []event{
			httpEvent("GET", "/service-details", tenantToken, "", 200),
			httpEvent("GET", "/metric/sync-delay", tenantToken, "", 200),
			// Vector and the driver are down here (503), but the Kafka check must be UP: it
			// read the credentials secret and spoke SASL to the brokers.
			httpEvent("GET", "/pipeline/health", tenantToken, "", 503, `Kafka brokers answer`),
			httpEvent("GET", "/admin/peering/switches", adminToken, "", 200),
			httpEvent("POST", "/scale-spark-cluster", tenantToken, stageReport, 200),
			httpEvent("PUT", "/executions/"+w.foreignID+"/cancel", tenantToken, `{"reason":"least privilege test"}`, 202),
		}
	case "MigrateFunction":
		return []event{w.cfnEvent()}
	case "PeeringFunction":
		return []event{fileEvent("peering-schedule.json"), fileEvent("peering-interlink-sqs.json")}
	case "SparkMonitorFunction":
		// One check runs the due replay: it cleans the Spark state in S3 and resubmits.
		return []event{fileEvent("sparkmonitor-schedule.json")}
	case "ScalerFunction":
		return []event{fileEvent("scaler-schedule.json"),
			{name: "scaleNow from the API", payload: []byte(`{"scaleNow":{"tenant":"` + tenant + `"}}`)}}
	case "DiscoveryFunction":
		return []event{fileEvent("discovery-schedule.json")}
	}
	return nil
}

// stageReport is what the Spark job posts after each batch: a heavy stage, so that the
// decision is to scale up.
const stageReport = `{"enableUpScale":true,"enableDownScale":true,"sparkStageHistory":{"tenant":"lp","outputBytes":1000000,
"inputRecords":50000000,"submissionTime":1795356000000,"completionTime":1795356060000,"coresUsed":2,"status":"COMPLETE"}}`

func fileEvent(name string) event {
	b, err := os.ReadFile("../../events/" + name)
	if err != nil {
		panic(err)
	}
	return event{name: name, payload: b, check: func(res lambdarun.Result, _ *world) string {
		// A scheduled run answers its summary; a key that failed carries its error.
		if strings.Contains(string(res.Body), `"error":"`) || strings.Contains(string(res.Body), `"Error":"`) {
			return "a key failed: " + string(res.Body)
		}
		return ""
	}}
}

// httpEvent is an API Gateway HTTP API (v2) request for the tenant with a bearer token.
func httpEvent(method, path, token, body string, want int, wantBody ...string) event {
	ev := map[string]any{
		"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
		"headers": map[string]string{"content-type": "application/json", "x-tenant-name": tenant, "authorization": "Bearer " + token},
		"requestContext": map[string]any{"accountId": accountID, "apiId": "lp", "domainName": "lp.execute-api.us-east-1.amazonaws.com",
			"http":      map[string]any{"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7"},
			"requestId": "lp", "routeKey": "$default", "stage": "$default"},
		"body": body, "isBase64Encoded": false,
	}
	b, _ := json.Marshal(ev)
	return event{name: method + " " + path, payload: b, check: func(res lambdarun.Result, _ *world) string {
		var out struct {
			StatusCode int    `json:"statusCode"`
			Body       string `json:"body"`
		}
		if err := json.Unmarshal(res.Body, &out); err != nil {
			return "answer is not an HTTP API response: " + string(res.Body)
		}
		if out.StatusCode != want {
			return fmt.Sprintf("status %d, want %d: %s", out.StatusCode, want, out.Body)
		}
		for _, b := range wantBody {
			if !strings.Contains(out.Body, b) {
				return fmt.Sprintf("answer lacks %q: %s", b, out.Body)
			}
		}
		return ""
	}}
}

// cfnEvent is CloudFormation's Create of the SchemaMigration custom resource; the answer goes
// to the response URL, where the test reads it.
func (w *world) cfnEvent() event {
	ev := map[string]any{
		"RequestType": "Create", "ServiceToken": functionARN("MigrateFunction"), "ResponseURL": w.cfnURL + "/response",
		"StackId":   "arn:aws:cloudformation:" + region + ":" + accountID + ":stack/leastprivilege/1",
		"RequestId": "lp-migrate", "LogicalResourceId": "SchemaMigration", "ResourceType": "Custom::SchemaMigration",
		"ResourceProperties": map[string]any{"ServiceToken": functionARN("MigrateFunction"), "CodeVersion": "1"},
	}
	b, _ := json.Marshal(ev)
	return event{name: "SchemaMigration Create", payload: b, check: func(_ lambdarun.Result, w *world) string {
		select {
		case ans := <-w.cfnResponses:
			var r struct{ Status, Reason string }
			_ = json.Unmarshal(ans, &r)
			if r.Status != "SUCCESS" {
				return "the migration answered CloudFormation " + string(ans)
			}
			return ""
		case <-time.After(10 * time.Second):
			return "the migration did not answer CloudFormation"
		}
	}}
}
