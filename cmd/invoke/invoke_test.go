package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/logwise/controlplane/internal/samtemplate"
	"github.com/logwise/controlplane/shared/config"
)

// eventCases is what each event in events/ answers when `make invoke` runs it as written,
// on the shipped events/local.yaml and the embedded defaults started for it.
var eventCases = map[string]struct {
	fn         string
	wantStatus int    // the API's HTTP status (0: not an API event)
	want       string // a fragment of the answer
}{
	"api-healthcheck-httpapi.json":               {"api", 200, `\"status\":\"UP\"`},
	"api-healthcheck-httpapi-stage.json":         {"api", 200, `\"status\":\"UP\"`},
	"api-healthcheck-rest.json":                  {"api", 200, `\"status\":\"UP\"`},
	"api-liveness-httpapi.json":                  {"api", 200, `Success`},
	"api-service-details-httpapi.json":           {"api", 200, `serviceDetails`},
	"api-service-details-rest.json":              {"api", 200, `serviceDetails`},
	"api-service-details-no-tenant-httpapi.json": {"api", 400, `MISSING_TENANT`},
	"api-service-details-bad-token-httpapi.json": {"api", 401, `UNAUTHENTICATED`},
	"api-scale-intake-httpapi.json":              {"api", 200, `\"rule\":\"tooFewHistories\"`},
	"api-replay-create-httpapi.json":             {"api", 201, `\"phase\":\"TIMESTAMP\"`},
	"api-execution-cancel-httpapi.json":          {"api", 404, `NOT_FOUND`},
	"api-admin-switches-httpapi.json":            {"api", 200, `\"enabled\":true`},
	"sparkmonitor-schedule.json":                 {"sparkmonitor", 0, `"job":"sparkmonitor"`},
	"scaler-schedule.json":                       {"scaler", 0, `"job":"scaler"`},
	"discovery-schedule.json":                    {"discovery", 0, `"job":"discovery"`},
	"peering-schedule.json":                      {"peering", 0, `"job":"peeringcopier"`},
	"peering-copy-now.json":                      {"peering", 0, `[`},
	"peering-interlink-sqs.json":                 {"peering", 0, `batchItemFailures`},
}

var (
	buildOnce sync.Map // function name → func() (string, error)
	binDir    string
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "invoke-test-")
	if err != nil {
		panic(err)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil { // what goleak.VerifyTestMain checks
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// bootstrap builds function fn once for the package's tests, as `make invoke` does.
func bootstrap(t *testing.T, fn string) string {
	t.Helper()
	f, _ := buildOnce.LoadOrStore(fn, sync.OnceValues(func() (string, error) {
		out := filepath.Join(binDir, fn, "bootstrap")
		cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", out, "./functions/"+fn)
		cmd.Dir = "../.."
		if b, err := cmd.CombinedOutput(); err != nil {
			return "", &buildError{fn, string(b), err}
		}
		return out, nil
	}))
	path, err := f.(func() (string, error))()
	if err != nil {
		t.Fatal(err)
	}
	return path
}

type buildError struct {
	fn, out string
	err     error
}

func (e *buildError) Error() string { return "build " + e.fn + ": " + e.err.Error() + "\n" + e.out }

// TestEveryEventAsWritten runs every file in events/ through invoke as `make invoke FN=...
// EVENT=...` does with no configuration in the environment: the shipped events/local.yaml
// on the embedded defaults, each function with its template timeout.
func TestEveryEventAsWritten(t *testing.T) {
	files, _ := filepath.Glob("../../events/*.json")
	for _, f := range files {
		name := filepath.Base(f)
		if name == "env.json" {
			continue
		}
		if _, ok := eventCases[name]; !ok {
			t.Errorf("events/%s has no case here: say what it answers", name)
		}
	}
	tmpl, err := samtemplate.Load("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range eventCases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ev, err := os.ReadFile("../../events/" + name)
			if err != nil {
				t.Fatal(err)
			}
			out, err := invoke(context.Background(), request{fn: tc.fn, bootstrap: bootstrap(t, tc.fn), template: "../../template.yaml",
				event: ev, localConfig: "../../events/local.yaml", environ: []string{"PATH=" + os.Getenv("PATH")}})
			if err != nil {
				t.Fatalf("invoke: %v\n%s", err, out.logs)
			}
			if want, _ := tmpl.FunctionTimeout(logicalIDs[tc.fn]); out.timeout != want || want == 0 {
				t.Errorf("ran with a %s deadline, want the template's %s", out.timeout, want)
			}
			if out.functionError {
				t.Fatalf("function error: %s\n%s", out.body, out.logs)
			}
			if tc.wantStatus != 0 {
				var resp struct {
					StatusCode int `json:"statusCode"`
				}
				_ = json.Unmarshal(out.body, &resp)
				if resp.StatusCode != tc.wantStatus {
					t.Errorf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, out.body)
				}
			}
			if !strings.Contains(string(out.body), tc.want) {
				t.Errorf("answer %s lacks %s", out.body, tc.want)
			}
		})
	}
}

// TestTimeoutIsTheTemplates: the template gives the API 29 s, the monitor 60 s (one check,
// with a replay step's S3 deletes) and peering 30 s (one pass) now that each tick is its own
// invocation; invoke reads them, so TestEveryEventAsWritten runs with them.
func TestTimeoutIsTheTemplates(t *testing.T) {
	tmpl, err := samtemplate.Load("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Duration{"ApiFunction": 29 * time.Second, "SparkMonitorFunction": 60 * time.Second, "PeeringFunction": 30 * time.Second}
	for id, w := range want {
		if got, err := tmpl.FunctionTimeout(id); err != nil || got != w {
			t.Errorf("%s timeout %s (%v), want %s", id, got, err, w)
		}
	}
}

// TestEnvJSONForSAMLocal: events/env.json, for `sam local invoke --env-vars`, sets only
// variables the template declares (SAM ignores others), and its configuration is valid.
func TestEnvJSONForSAMLocal(t *testing.T) {
	b, err := os.ReadFile("../../events/env.json")
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]map[string]string
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("env.json: %v", err)
	}
	tmpl, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for section, vars := range env {
		if section != "Parameters" && !slices.Contains([]string{"ApiFunction", "SparkMonitorFunction", "ScalerFunction", "DiscoveryFunction", "PeeringFunction"}, section) {
			t.Errorf("env.json section %s is neither Parameters nor a function", section)
		}
		// Parameters go to every function (the Globals' Environment, 8 spaces in); a function's
		// section to that function (its own Environment, 10 spaces in).
		declared := "\n        "
		if section != "Parameters" {
			declared = "\n          "
		}
		for k := range vars {
			if !strings.Contains(string(tmpl), declared+k+":") {
				t.Errorf("env.json sets %s in %s, which the template's Environment does not declare there: SAM would ignore it", k, section)
			}
		}
	}
	if _, err := config.Parse([]byte(env["Parameters"]["CONFIG_YAML"]), func(string) (string, bool) { return "", false }); err != nil {
		t.Errorf("env.json CONFIG_YAML: %v", err)
	}
}
