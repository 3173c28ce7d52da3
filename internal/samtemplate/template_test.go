// Package samtemplate checks template.yaml for what cfn-lint does not: the dashboard body is
// valid JSON whose widgets reference metrics the code really emits, every alarm is complete,
// and each function follows the build and runtime contract.
package samtemplate

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
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

func mapping(n *yaml.Node) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	if n == nil || n.Kind != yaml.MappingNode {
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		out[n.Content[i].Value] = n.Content[i+1]
	}
	return out
}

func get(n *yaml.Node, path ...string) *yaml.Node {
	for _, p := range path {
		n = mapping(n)[p]
		if n == nil {
			return nil
		}
	}
	return n
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

// emitted collects every string literal in the non-test Go code under shared/: a metric the
// template references must be one of them.
func emitted(t *testing.T) map[string]bool {
	t.Helper()
	lit := regexp.MustCompile(`"([A-Za-z][A-Za-z0-9.]*)"`)
	out := map[string]bool{}
	err := filepath.WalkDir("../../shared", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range lit.FindAllStringSubmatch(string(b), -1) {
			out[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestFunctionsFollowTheBuildContract(t *testing.T) {
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
	want := map[string]string{"ApiFunction": "api", "SparkMonitorFunction": "sparkmonitor", "ScalerFunction": "scaler", "DiscoveryFunction": "discovery", "PeeringFunction": "peering",
		"MigrateFunction": "migrate"}
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
		if name == "ApiFunction" {
			if to := get(fn, "Properties", "Timeout"); to == nil || to.Value != "29" {
				t.Errorf("ApiFunction.Timeout must stay within API Gateway's 29 s")
			}
			continue
		}
		if name == "MigrateFunction" {
			// Run by a custom resource on deploy, never on a schedule; the others wait for it.
			cr := resources(t, "Custom::SchemaMigration")["SchemaMigration"]
			if st := get(cr, "Properties", "ServiceToken"); cr == nil || st == nil || !strings.HasPrefix(st.Value, "MigrateFunction.") {
				t.Errorf("no Custom::SchemaMigration SchemaMigration whose ServiceToken is MigrateFunction")
			}
			for other := range want {
				if d := get(fns[other], "DependsOn"); other != name && (d == nil || d.Value != "SchemaMigration") {
					t.Errorf("%s must depend on SchemaMigration (it refuses an older schema)", other)
				}
			}
			continue
		}
		sched := false
		for _, ev := range mapping(get(fn, "Properties", "Events")) {
			if get(ev, "Type").Value == "ScheduleV2" && get(ev, "Properties", "ScheduleExpression").Value == "rate(1 minute)" {
				sched = true
				if r := get(ev, "Properties", "RetryPolicy", "MaximumRetryAttempts"); r == nil || r.Value != "0" {
					t.Errorf("%s: a scheduled run must not be retried (the next tick is the retry)", name)
				}
			}
		}
		if !sched {
			t.Errorf("%s: no rate(1 minute) ScheduleV2 event", name)
		}
	}
}

var (
	searchRE   = regexp.MustCompile(`MetricName=\\?"([^"\\]+)\\?"`)
	insightsRE = regexp.MustCompile(`(?:MAX|MIN|SUM|AVG)\("?([A-Za-z][A-Za-z0-9.]*)"?\) FROM SCHEMA\("Logwise/ControlPlane"`)
)

func TestDashboardIsValidAndReferencesEmittedMetrics(t *testing.T) {
	dash := resources(t, "AWS::CloudWatch::Dashboard")
	if len(dash) != 1 {
		t.Fatalf("dashboards = %d, want 1", len(dash))
	}
	var body string
	for _, d := range dash {
		body = get(d, "Properties", "DashboardBody").Value // the !Sub string
	}
	sub := regexp.MustCompile(`\$\{[A-Za-z0-9:]+\}`)
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
	for _, m := range searchRE.FindAllStringSubmatch(body, -1) {
		seen[m[1]] = true
		if !code[m[1]] {
			t.Errorf("dashboard shows %s, which no code under shared/ emits", m[1])
		}
	}
	for _, want := range []string{"AppLogsDelayMinutes", "SparkDriverAlive", "SparkSubmissions", "SparkCrashLoop", "SparkWorkersAlive",
		"KafkaPartitionsAdded", "pollers.peering.lag", "pollers.peering.numPeered", "pollers.peering.numErrors"} {
		if !seen[want] {
			t.Errorf("dashboard lacks %s", want)
		}
	}
	titles := ""
	for _, w := range parsed.Widgets {
		if len(w.Properties.Metrics) == 0 {
			t.Errorf("widget %q has no metrics", w.Properties.Title)
		}
		titles += w.Properties.Title + "|"
	}
	for _, want := range []string{"API 4xx, 5xx and latency", "Lambda errors and throttles"} {
		if !strings.Contains(titles, want) {
			t.Errorf("dashboard lacks the %q widget", want)
		}
	}
}

func TestAlarmsAreCompleteAndWatchEmittedMetrics(t *testing.T) {
	alarms := resources(t, "AWS::CloudWatch::Alarm")
	code := emitted(t)
	watched := map[string]bool{}
	for name, a := range alarms {
		p := get(a, "Properties")
		for _, k := range []string{"ComparisonOperator", "EvaluationPeriods", "Threshold", "TreatMissingData", "AlarmDescription"} {
			if get(p, k) == nil {
				t.Errorf("alarm %s lacks %s", name, k)
			}
		}
		if get(p, "MetricName") == nil && get(p, "Metrics") == nil {
			t.Errorf("alarm %s names no metric", name)
		}
		if ms := get(p, "Metrics"); ms != nil {
			for _, m := range ms.Content {
				expr := get(m, "Expression")
				if expr == nil {
					continue
				}
				for _, q := range insightsRE.FindAllStringSubmatch(expr.Value, -1) {
					watched[q[1]] = true
					if !code[q[1]] {
						t.Errorf("alarm %s watches %s, which no code under shared/ emits", name, q[1])
					}
				}
			}
		}
	}
	for _, want := range []string{"AppLogsDelayMinutes", "SparkDriverAlive", "SparkCrashLoop", "pollers.peering.numErrors", "pollers.peering.numPeered", "pollers.peering.lag"} {
		if !watched[want] {
			t.Errorf("no alarm watches %s", want)
		}
	}
	lag := get(alarms["PeeringLagAlarm"], "Properties")
	if get(lag, "Threshold").Value != "60" || get(lag, "EvaluationPeriods").Value != "3" || get(lag, "ComparisonOperator").Value != "GreaterThanThreshold" {
		t.Errorf("PeeringLagAlarm must be lag > 60 for 3 minutes")
	}
}
