package isolation

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/httpapi"
	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/setup/apiwire"
	"github.com/logwise/controlplane/shared/store/storetest"
)

// TestWiredAppKeepsTenantsApart runs the check on the API exactly as the functions wire it
// (apiwire.New, as the api function wires it, over a real MariaDB database), with executions of both tenants, so every
// route any domain registers is covered as soon as it is wired.
func TestWiredAppKeepsTenantsApart(t *testing.T) {
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	db := storetest.NewConfig(t)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
deployment: {partition: us-east-1, region: us-east-1}
database: {dsn: "%s"}
tenants:
  - name: ABC
    auth: {tokens: ["token-of-abc"]}
    objectStore: {aws: {bucket: bucket-of-abc, endpointOverride: "http://127.0.0.1:1", pathStyle: true}}
    vector: {host: 127.0.0.1, apiPort: 1}
    kafka: {kafkaBrokersHost: 127.0.0.1, kafkaBrokerPort: 1}
    spark: {sparkMasterHost: 127.0.0.1, restPort: 1, webPort: 1, sparkJarPath: s3://jars/logwise.jar}
  - name: XYZ
    auth: {tokens: ["token-of-xyz"]}
    objectStore: {aws: {bucket: bucket-of-xyz, endpointOverride: "http://127.0.0.1:1", pathStyle: true}}
    vector: {host: 127.0.0.1, apiPort: 1}
    kafka: {kafkaBrokersHost: 127.0.0.1, kafkaBrokerPort: 1}
    spark: {sparkMasterHost: 127.0.0.1, restPort: 1, webPort: 1, sparkJarPath: s3://jars/logwise.jar}
`, db.DSN())), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	env, err := setup.Load(context.Background(), "isolation", setup.Options{Migrate: true, Config: cfg, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("setup: %v", err)
	}
	t.Cleanup(func() { env.Store.Close() })
	repo := executions.NewRepository(env.Store.SQL(), "us-east-1")
	stages := []executions.StageSpec{{RefID: "1", Type: "manualJudgment", Name: "Approve"}}
	abcID, err := repo.StartPipeline(t.Context(), executions.PipelineSpec{Tenant: "ABC", Name: "abc-private-replay", Stages: stages})
	if err != nil {
		t.Fatal(err)
	}
	xyzID, err := repo.StartPipeline(t.Context(), executions.PipelineSpec{Tenant: "XYZ", Name: "xyz-private-replay", Stages: stages})
	if err != nil {
		t.Fatal(err)
	}
	api, err := apiwire.New(t.Context(), env, apiwire.Options{})
	if err != nil {
		t.Fatalf("wire: %v", err)
	}
	abc := Tenant{Name: "ABC", Token: "token-of-abc", Data: []string{abcID, "abc-private-replay", "bucket-of-abc", "token-of-abc"}}
	xyz := Tenant{Name: "XYZ", Token: "token-of-xyz", Data: []string{xyzID, "xyz-private-replay", "bucket-of-xyz", "token-of-xyz"}}
	routes := api.Routes()
	t.Logf("checking %d requests over %d routes", len(Cases(routes, abc, xyz, nil)), len(routes))
	// {id} is XYZ's execution: ABC's own-token requests try to reach it and must not.
	Require(t, api.Handler(), routes, abc, xyz, map[string]string{"id": xyzID})
}

// TestCheckCatchesLeaks proves the check fails a route that ignores the tenant, one that
// accepts any token and one that refuses its own tenant.
func TestCheckCatchesLeaks(t *testing.T) {
	a := Tenant{Name: "A", Token: "ta", Data: []string{"a-secret"}}
	b := Tenant{Name: "B", Token: "tb", Data: []string{"b-secret"}}
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"leaks the other tenant's data", func(w http.ResponseWriter, r *http.Request) {
			if strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") != tokenOf(r.Header.Get(httpapi.TenantHeader)) {
				w.WriteHeader(403)
				return
			}
			_, _ = w.Write([]byte(`{"data":["a-secret","b-secret"]}`))
		}, `contains the other tenant's "b-secret"`},
		{"accepts any token", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"data":[]}`))
		}, "status 200, want 403"},
		{"refuses its own tenant", func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") == "" {
				w.WriteHeader(401)
				return
			}
			w.WriteHeader(403)
		}, "status 403, want not 401/403"},
	}
	routes := []httpapi.Route{{Pattern: "GET /things/{id}", TenantScoped: true}, {Pattern: "GET /public"}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems := Check(tt.handler, routes, a, b, nil)
			if !strings.Contains(strings.Join(problems, "\n"), tt.want) {
				t.Fatalf("problems %q; want one containing %q", problems, tt.want)
			}
		})
	}
	good := func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		switch {
		case tok == "":
			w.WriteHeader(401)
		case tok != tokenOf(r.Header.Get(httpapi.TenantHeader)):
			w.WriteHeader(403)
		default:
			_, _ = w.Write([]byte(`{"data":["` + strings.ToLower(r.Header.Get(httpapi.TenantHeader)) + `-secret"]}`))
		}
	}
	if problems := Check(http.HandlerFunc(good), routes, a, b, nil); len(problems) != 0 {
		t.Fatalf("a correct route reported: %q", problems)
	}
	if got := Cases(routes, a, b, nil); len(got) != 4 || got[0].Path != "/things/01ISOLATIONCHECK" {
		t.Fatalf("cases %+v; want 4 on /things/01ISOLATIONCHECK (the public route excluded)", got)
	}
}

func tokenOf(tenant string) string { return "t" + strings.ToLower(tenant) }
