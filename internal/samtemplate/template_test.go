// Package samtemplate checks template.yaml for what cfn-lint does not: the dashboard body is
// valid JSON whose widgets reference metrics the code really emits, every alarm is complete,
// and each function follows the build and runtime contract.
package samtemplate

import (
	"encoding/json"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func load(t *testing.T) map[string]*yaml.Node {
	t.Helper()
	b, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	return mapping(root.Content[0])
}

func resources(t *testing.T, typ string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	for name, r := range mapping(load(t)["Resources"]) {
		if get(r, "Type") != nil && get(r, "Type").Value == typ {
			out[name] = r
		}
	}
	return out
}

// emitted returns what the non-test Go code under shared/ emits: each metric with its
// dimension sets.
func emitted(t *testing.T) emissions {
	t.Helper()
	e, err := scanEmissions("../../shared")
	if err != nil {
		t.Fatal(err)
	}
	if len(e) == 0 {
		t.Fatal("found no EMF emission under shared/: the scanner no longer matches the code")
	}
	return e
}

func TestFunctionsFollowTheBuildContract(t *testing.T) {
	t.Parallel()
	tpl := load(t)
	g := get(tpl["Globals"], "Function")
	for key, want := range map[string]string{"Runtime": "provided.al2023", "Handler": "bootstrap", "Tracing": "Active", "CodeUri": "."} {
		if n := get(g, key); n == nil || n.Value != want {
			t.Errorf("Globals.Function.%s = %v, want %s", key, n, want)
		}
	}
	if a := get(g, "Architectures"); a == nil || len(a.Content) != 1 || a.Content[0].Value != "arm64" {
		t.Errorf("Globals.Function.Architectures must be [arm64]")
	}
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	fns := resources(t, "AWS::Serverless::Function")
	want := map[string]string{"ApiFunction": "api", "SparkMonitorFunction": "sparkmonitor", "ScalerFunction": "scaler",
		"DiscoveryFunction": "discovery", "PeeringFunction": "peering", "MigrateFunction": "migrate"}
	if len(fns) != len(want) {
		t.Errorf("functions = %d, want %d", len(fns), len(want))
	}
	for name, dir := range want {
		fn := fns[name]
		if fn == nil {
			t.Errorf("function %s missing", name)
			continue
		}
		if bm := get(fn, "Metadata", "BuildMethod"); bm == nil || bm.Value != "makefile" {
			t.Errorf("%s: Metadata.BuildMethod must be makefile", name)
		}
		if !strings.Contains(string(makefile), "build-"+name+":") || !strings.Contains(string(makefile), "./functions/"+dir) {
			t.Errorf("%s: Makefile lacks build-%s building ./functions/%s", name, name, dir)
		}
		if lf := get(fn, "Properties", "LoggingConfig", "LogFormat"); lf == nil || lf.Value != "JSON" {
			t.Errorf("%s: LoggingConfig.LogFormat must be JSON", name)
		}
		if lg := get(fn, "Properties", "LoggingConfig", "LogGroup"); lg == nil {
			t.Errorf("%s: no log group with retention", name)
		}
		if name == "MigrateFunction" {
			continue
		}
		if d := get(fn, "DependsOn"); d == nil || d.Value != "SchemaMigration" {
			t.Errorf("%s must depend on SchemaMigration (start only on a migrated schema)", name)
		}
		if name == "ApiFunction" {
			if to := get(fn, "Properties", "Timeout"); to == nil || to.Value != "29" {
				t.Errorf("ApiFunction.Timeout must stay within API Gateway's 29 s")
			}
			if rc := get(fn, "Properties", "ReservedConcurrentExecutions"); rc == nil || rc.Tag != "!Ref" || rc.Value != "ApiReservedConcurrency" {
				t.Errorf("ApiFunction.ReservedConcurrentExecutions must be the ApiReservedConcurrency parameter")
			}
			continue
		}
		checkScheduled(t, name, fn)
	}
}

// checkScheduled holds a scheduled function to: one run a minute, a schedule name chosen by
// CloudFormation (two stacks in a region must not collide), no retry anywhere (the next tick
// is the retry), stale events dropped, and bounded concurrency.
func checkScheduled(t *testing.T, name string, fn *yaml.Node) {
	t.Helper()
	sched := false
	for _, ev := range mapping(get(fn, "Properties", "Events")) {
		if get(ev, "Type").Value != "ScheduleV2" || get(ev, "Properties", "ScheduleExpression").Value != "rate(1 minute)" {
			continue
		}
		sched = true
		if r := get(ev, "Properties", "RetryPolicy", "MaximumRetryAttempts"); r == nil || r.Value != "0" {
			t.Errorf("%s: a scheduled run must not be retried by the Scheduler (the next tick is the retry)", name)
		}
		if get(ev, "Properties", "Name") != nil {
			t.Errorf("%s: the schedule has a fixed name; two stacks in one region would collide", name)
		}
		if o := get(ev, "Properties", "OmitName"); o == nil || o.Value != "true" {
			t.Errorf("%s: the schedule needs OmitName: true (SAM otherwise names it after the event)", name)
		}
	}
	if !sched {
		t.Errorf("%s: no rate(1 minute) ScheduleV2 event", name)
	}
	if r := get(fn, "Properties", "EventInvokeConfig", "MaximumRetryAttempts"); r == nil || r.Value != "0" {
		t.Errorf("%s: EventInvokeConfig.MaximumRetryAttempts must be 0 (Lambda retries asynchronous events twice by default)", name)
	}
	if a := get(fn, "Properties", "EventInvokeConfig", "MaximumEventAgeInSeconds"); a == nil || atoi(a.Value) < 60 || atoi(a.Value) > 120 {
		t.Errorf("%s: EventInvokeConfig.MaximumEventAgeInSeconds must be short (60 to 120 s): a stale tick is dropped", name)
	}
	if rc := get(fn, "Properties", "ReservedConcurrentExecutions"); rc == nil || (rc.Value != "1" && rc.Value != "2") {
		t.Errorf("%s: ReservedConcurrentExecutions must bound overlapping runs (1, or 2 beside an SQS trigger)", name)
	}
}

func TestMigrationRunsOnEveryDeployBeforeTheFunctions(t *testing.T) {
	cr := get(load(t)["Resources"], "SchemaMigration")
	if cr == nil || !strings.HasPrefix(get(cr, "Type").Value, "Custom::") {
		t.Fatal("no SchemaMigration custom resource")
	}
	p := get(cr, "Properties")
	if tok := get(p, "ServiceToken"); tok == nil || !strings.HasPrefix(tok.Value, "MigrateFunction") {
		t.Errorf("SchemaMigration.ServiceToken must invoke MigrateFunction, got %v", tok)
	}
	// The code version changes with every build of the migrate function, whose binary embeds
	// the migrations: a deploy that brings a migration always sends an Update.
	if v := get(p, "CodeVersion"); v == nil || v.Tag != "!Ref" || v.Value != "MigrateFunction.Version" {
		t.Errorf("SchemaMigration needs CodeVersion: !Ref MigrateFunction.Version, so that new code migrates again")
	}
	if a := get(load(t)["Resources"], "MigrateFunction", "Properties", "AutoPublishAlias"); a == nil {
		t.Errorf("MigrateFunction needs AutoPublishAlias (its Version is the custom resource's trigger)")
	}
}

func TestConfigParameterARNHasOneSlash(t *testing.T) {
	tpl := load(t)
	param := get(tpl["Parameters"], "ConfigParameterName")
	if d := get(param, "Default"); d == nil || !strings.HasPrefix(d.Value, "/") {
		t.Fatalf("ConfigParameterName's default must be a path starting with /")
	}
	if ap := get(param, "AllowedPattern"); ap == nil || !strings.HasPrefix(ap.Value, "^/") {
		t.Errorf("ConfigParameterName must be constrained to start with /, got %v", ap)
	}
	b, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "parameter/${ConfigParameterName}") {
		t.Errorf("the SSM ARN parameter/${ConfigParameterName} becomes parameter//... for a name starting with /")
	}
	if !strings.Contains(string(b), ":parameter${ConfigParameterName}") {
		t.Errorf("no ssm:GetParameter grant on parameter${ConfigParameterName}")
	}
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return n
}

// The metric references of the template, with their dimension sets: a dashboard SEARCH
// ('{Namespace,dim,...} MetricName="X"') and a Metrics Insights query (FUNC(X) FROM
// SCHEMA("Namespace", dim, ...)) both match only metrics with exactly those dimensions.
var (
	searchRE   = regexp.MustCompile(`\{([^}]+)\} MetricName=\\?"([^"\\]+)\\?"`)
	insightsRE = regexp.MustCompile(`(?:MAX|MIN|SUM|AVG|COUNT)\("?([A-Za-z0-9][A-Za-z0-9.]*)"?\) FROM SCHEMA\("([^"]+)"((?:,\s*[A-Za-z0-9]+)*)\)`)
)

// ref is one metric a widget or alarm reads.
type ref struct {
	where, namespace, metric string
	dims                     []string
}

func searchRefs(where, expr string) []ref {
	var out []ref
	for _, m := range searchRE.FindAllStringSubmatch(expr, -1) {
		parts := strings.Split(m[1], ",")
		out = append(out, ref{where: where, namespace: parts[0], metric: m[2], dims: parts[1:]})
	}
	return out
}

func insightsRefs(where, expr string) []ref {
	var out []ref
	for _, m := range insightsRE.FindAllStringSubmatch(expr, -1) {
		var dims []string
		for _, d := range strings.Split(m[3], ",") {
			if d = strings.TrimSpace(d); d != "" {
				dims = append(dims, d)
			}
		}
		out = append(out, ref{where: where, namespace: m[2], metric: m[1], dims: dims})
	}
	return out
}

// awsDims are the dimension sets of the AWS metrics the template reads.
var awsDims = map[string]string{"AWS/Lambda": "FunctionName", "AWS/ApiGateway": "ApiId", "AWS/SQS": "QueueName"}

// checkRefs fails for every reference to a metric not emitted with exactly its dimensions.
func checkRefs(t *testing.T, code emissions, refs []ref) {
	t.Helper()
	for _, r := range refs {
		switch {
		case r.namespace == "Logwise/ControlPlane":
			if code[r.metric] == nil {
				t.Errorf("%s reads %s, which no code under shared/ emits", r.where, r.metric)
			} else if !code.has(r.metric, r.dims) {
				t.Errorf("%s reads %s with dimensions {%s}; the code emits it with %v", r.where, r.metric, dimSet(r.dims), code.sets(r.metric))
			}
		case awsDims[r.namespace] != "":
			if dimSet(r.dims) != awsDims[r.namespace] {
				t.Errorf("%s reads %s %s with dimensions {%s}, want {%s}", r.where, r.namespace, r.metric, dimSet(r.dims), awsDims[r.namespace])
			}
		default:
			t.Errorf("%s reads namespace %q, which nothing publishes", r.where, r.namespace)
		}
	}
}

func TestDashboardIsValidAndReferencesEmittedMetrics(t *testing.T) {
	t.Parallel()
	dash := resources(t, "AWS::CloudWatch::Dashboard")
	if len(dash) != 1 {
		t.Fatalf("dashboards = %d, want 1", len(dash))
	}
	var body string
	for _, d := range dash {
		body = get(d, "Properties", "DashboardBody").Value // the !Sub string
	}
	sub := regexp.MustCompile(`\$\{[A-Za-z0-9:.]+\}`)
	var parsed struct {
		Widgets []struct {
			Type       string `json:"type"`
			Properties struct {
				Title   string `json:"title"`
				Metrics []any  `json:"metrics"`
			} `json:"properties"`
		} `json:"widgets"`
	}
	if err := json.Unmarshal([]byte(sub.ReplaceAllString(body, "x")), &parsed); err != nil {
		t.Fatalf("dashboard body is not JSON: %v", err)
	}
	code := emitted(t)
	seen := map[string]bool{}
	titles := ""
	for _, w := range parsed.Widgets {
		where := "widget " + strconv.Quote(w.Properties.Title)
		if len(w.Properties.Metrics) == 0 {
			t.Errorf("%s has no metrics", where)
		}
		titles += w.Properties.Title + "|"
		var refs []ref
		for _, m := range w.Properties.Metrics {
			switch m := m.(type) {
			case map[string]any: // {"expression": "SEARCH(...)"}
				expr, _ := m["expression"].(string)
				refs = append(refs, searchRefs(where, expr)...)
			case []any: // [namespace, metric, dim, value, ..., {options}]
				r := ref{where: where}
				var strs []string
				for _, v := range m {
					if s, ok := v.(string); ok {
						strs = append(strs, s)
					}
				}
				if len(strs) < 2 || len(strs)%2 != 0 {
					t.Errorf("%s: metric array %v is not [namespace, metric, dimension, value, ...]", where, m)
					continue
				}
				r.namespace, r.metric = strs[0], strs[1]
				for i := 2; i < len(strs); i += 2 {
					r.dims = append(r.dims, strs[i])
				}
				refs = append(refs, r)
			}
		}
		if len(refs) == 0 {
			t.Errorf("%s reads no metric the test understands", where)
		}
		for _, r := range refs {
			seen[r.metric] = true
		}
		checkRefs(t, code, refs)
	}
	for _, want := range []string{"AppLogsDelayMinutes", "LogSyncStale", "LogSyncNoData", "LogSyncMeasureFailed", "SparkDriverAlive",
		"SparkSubmissions", "SparkCrashLoop", "SparkWorkersAlive", "KafkaPartitionsAdded", "pollers.peering.lag",
		"pollers.peering.numPeered", "pollers.peering.numErrors", "ApproximateNumberOfMessagesVisible"} {
		if !seen[want] {
			t.Errorf("dashboard lacks %s", want)
		}
	}
	for _, want := range []string{"API 4xx, 5xx and latency", "Lambda errors and throttles", "dead-letter queue"} {
		if !strings.Contains(titles, want) {
			t.Errorf("dashboard lacks the %q widget", want)
		}
	}
}

func TestAlarmsAreCompleteAndWatchEmittedMetrics(t *testing.T) {
	t.Parallel()
	alarms := resources(t, "AWS::CloudWatch::Alarm")
	code := emitted(t)
	watched := map[string]string{} // metric -> alarm
	for name, a := range alarms {
		p := get(a, "Properties")
		for _, k := range []string{"ComparisonOperator", "EvaluationPeriods", "Threshold", "TreatMissingData", "AlarmDescription"} {
			if get(p, k) == nil {
				t.Errorf("alarm %s lacks %s", name, k)
			}
		}
		var refs []ref
		switch {
		case get(p, "MetricName") != nil:
			r := ref{where: "alarm " + name, namespace: get(p, "Namespace").Value, metric: get(p, "MetricName").Value}
			if ds := get(p, "Dimensions"); ds != nil {
				for _, d := range ds.Content {
					r.dims = append(r.dims, get(d, "Name").Value)
				}
			}
			refs = append(refs, r)
		case get(p, "Metrics") != nil:
			for _, m := range get(p, "Metrics").Content {
				if expr := get(m, "Expression"); expr != nil {
					refs = append(refs, insightsRefs("alarm "+name, expr.Value)...)
				}
			}
		}
		if len(refs) == 0 {
			t.Errorf("alarm %s reads no metric the test understands", name)
		}
		for _, r := range refs {
			watched[r.metric] = name
		}
		checkRefs(t, code, refs)
	}
	for _, want := range []string{"AppLogsDelayMinutes", "SparkDriverAlive", "SparkCrashLoop", "LogSyncMeasureFailed",
		"pollers.peering.numErrors", "pollers.peering.lag", "ApproximateNumberOfMessagesVisible"} {
		if watched[want] == "" {
			t.Errorf("no alarm watches %s", want)
		}
	}
	// Quiet peers are healthy: copying nothing is not an alarm.
	if a := watched["pollers.peering.numPeered"]; a != "" {
		t.Errorf("alarm %s fires when peers are merely quiet (pollers.peering.numPeered)", a)
	}
	// A tenant whose master cannot be read publishes no driver state: silence must alarm.
	down := get(alarms[watched["SparkDriverAlive"]], "Properties")
	if tm := get(down, "TreatMissingData"); tm == nil || tm.Value != "breaching" {
		t.Errorf("the driver-down alarm must treat missing data as breaching")
	}
	// Each dead-letter queue has its alarm (several alarms watch the same SQS metric, so look
	// them up by name, not through watched).
	for alarm, queue := range map[string]string{"InterlinkDeadLetterAlarm": "InterlinkDeadLetterQueue", "TicksDeadLetterAlarm": "TicksDeadLetterQueue"} {
		dlq := get(alarms[alarm], "Properties", "Dimensions")
		if dlq == nil || !strings.Contains(get(dlq.Content[0], "Value").Value, queue) {
			t.Errorf("%s must watch %s", alarm, queue)
		}
	}
	lag := get(alarms["PeeringLagAlarm"], "Properties")
	if get(lag, "Threshold").Value != "60" || get(lag, "EvaluationPeriods").Value != "3" || get(lag, "ComparisonOperator").Value != "GreaterThanThreshold" {
		t.Errorf("PeeringLagAlarm must be lag > 60 for 3 minutes")
	}
}
