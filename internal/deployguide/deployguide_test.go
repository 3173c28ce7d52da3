// Package deployguide checks the README's operator's deploy guide against what it describes:
// the configuration reference against the keys the loader accepts (both ways), the parameter
// table against the template's parameters, and the runbook against the template's alarms.
package deployguide

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/logwise/controlplane/shared/config"
)

// section returns the README text from the heading until the next heading of the same or a
// higher level.
func section(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README.md has no %q section", heading)
	}
	s = s[i+len(heading)+2:]
	level := strings.Repeat("#", strings.Count(strings.Fields(heading)[0], "#"))
	for _, h := range []string{"\n" + level + " ", "\n" + level[:len(level)-1] + " "} {
		if len(h) > 2 {
			if j := strings.Index(s, h); j >= 0 {
				s = s[:j]
			}
		}
	}
	return s
}

var firstCell = regexp.MustCompile("(?m)^\\| `([^`]+)`")

// tableKeys lists the first cell of each table row that is code (`key`).
func tableKeys(text string) []string {
	var out []string
	for _, m := range firstCell.FindAllStringSubmatch(text, -1) {
		out = append(out, m[1])
	}
	return out
}

// loaderKeys lists every key config.Parse accepts: it decodes into config.Config with unknown
// keys refused, so the accepted keys are the yaml names of its fields, lists written "[]".
func loaderKeys() []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			name := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			switch ft := f.Type; {
			case ft.Kind() == reflect.Struct:
				walk(ft, prefix+name+".")
			case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
				walk(ft.Elem(), prefix+name+"[].")
			default:
				out = append(out, prefix+name)
			}
		}
	}
	walk(reflect.TypeFor[config.Config](), "")
	return out
}

func TestConfigurationReferenceMatchesTheLoader(t *testing.T) {
	documented := tableKeys(section(t, "### Configuration reference"))
	accepted := loaderKeys()
	if len(accepted) < 100 {
		t.Fatalf("found only %d accepted keys: the walk no longer matches config.Config", len(accepted))
	}
	for _, k := range accepted {
		if !slices.Contains(documented, k) {
			t.Errorf("the loader accepts %s, which the README's configuration reference does not document", k)
		}
	}
	seen := map[string]bool{}
	for _, k := range documented {
		if !slices.Contains(accepted, k) {
			t.Errorf("the README documents %s, which the loader refuses as unknown", k)
		}
		if seen[k] {
			t.Errorf("the README documents %s twice", k)
		}
		seen[k] = true
	}
}

// TestReferenceKeysParse proves the walk above is the loader's view: a configuration setting
// one documented leaf of each section parses, and a misspelt one is refused.
func TestReferenceKeysParse(t *testing.T) {
	base := `deployment: {partition: us-east-1}
database: {dsn: "u:p@tcp(127.0.0.1:3306)/x"}
tenants:
  - name: ABC
    auth: {tokenHashes: ["` + strings.Repeat("a", 64) + `"]}
    objectStore: {aws: {bucket: logs}}
    vector: {host: vector}
    kafka: {kafkaBrokersHost: kafka}
    spark: {sparkMasterHost: master, sparkJarPath: s3://jars/job.jar, cluster: {kubernetes: {eksRegion: us-east-1}}}
`
	if _, err := config.Parse([]byte(base), func(string) (string, bool) { return "", false }); err != nil {
		t.Fatalf("a configuration of documented keys does not parse: %v", err)
	}
	bad := strings.Replace(base, "eksRegion", "eksRegoin", 1)
	if _, err := config.Parse([]byte(bad), func(string) (string, bool) { return "", false }); err == nil {
		t.Fatal("a misspelt key parsed: unknown keys must be refused")
	}
}

type template struct {
	Parameters map[string]any `yaml:"Parameters"`
	Resources  map[string]struct {
		Type string `yaml:"Type"`
	} `yaml:"Resources"`
}

func loadTemplate(t *testing.T) template {
	t.Helper()
	b, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var tpl template
	if err := yaml.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	return tpl
}

func TestEveryStackParameterIsExplained(t *testing.T) {
	guide := section(t, "### Deploy")
	for name := range loadTemplate(t).Parameters {
		if !strings.Contains(guide, "`"+name+"`") {
			t.Errorf("the deploy guide does not explain the stack parameter %s", name)
		}
	}
}

func TestEveryAlarmHasARunbook(t *testing.T) {
	runbook := tableKeys(section(t, "### Alarms and what to do"))
	var alarms []string
	for name, r := range loadTemplate(t).Resources {
		if r.Type == "AWS::CloudWatch::Alarm" {
			alarms = append(alarms, name)
			if !slices.Contains(runbook, name) {
				t.Errorf("alarm %s has no runbook entry in the README", name)
			}
		}
	}
	for _, name := range runbook {
		if !slices.Contains(alarms, name) {
			t.Errorf("the README's runbook describes %s, which the template does not define", name)
		}
	}
}
