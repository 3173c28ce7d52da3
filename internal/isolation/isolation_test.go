package isolation

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/httpapi"
	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/setup/apiwire"
	"github.com/logwise/controlplane/shared/setup/setuptest"
	"github.com/logwise/controlplane/shared/store/storetest"
)

// TestWiredAppKeepsTenantsApart runs the check on the API exactly as the functions wire it
// (apiwire.New over a real MariaDB database), with executions of both tenants, so every route
// any domain registers is covered as soon as it is wired.
func TestWiredAppKeepsTenantsApart(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	db := storetest.NewConfig(t)
	env := setuptest.Load(t, "isolation", fmt.Sprintf(`
deployment: {partition: us-east-1, region: us-east-1}
database: {dsn: "%s"}
api:
  tokens:
    - {name: ops, secret: token-of-admin, role: admin}
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
`, db.DSN()), setup.Options{})
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
	p := Parties{A: abc, B: xyz, AdminToken: "token-of-admin"}
	t.Logf("checking %d requests over %d routes", len(Cases(routes, p, nil)), len(routes))
	// {id} is XYZ's execution: ABC's own-token requests try to reach it and must not.
	Require(t, api.Handler(), routes, p, map[string]string{"id": xyzID})
}

// goodHandler answers as a correct API would: /public to anyone, /admin/* to the admin token,
// /things/* to the tenant's own token or the admin token, the token checked before the tenant.
func goodHandler(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	tenant := r.Header.Get(httpapi.TenantHeader)
	switch {
	case r.URL.Path == "/public":
		_, _ = w.Write([]byte(`{"data":"ok"}`))
	case tok == "" || tok != "tadmin" && tok != "ta" && tok != "tb":
		w.WriteHeader(401)
	case strings.HasPrefix(r.URL.Path, "/admin/") && tok != "tadmin":
		w.WriteHeader(403)
	case strings.HasPrefix(r.URL.Path, "/admin/"), tok == "tadmin":
		_, _ = w.Write([]byte(`{"data":"as admin"}`))
	case tok != tokenOf(tenant):
		w.WriteHeader(403)
	default:
		_, _ = w.Write([]byte(`{"data":["` + strings.ToLower(tenant) + `-secret"]}`))
	}
}

// TestCheckCatchesLeaks proves the check fails a route that ignores the tenant, one that
// accepts any token, one that refuses its own tenant, one that tells unknown tenants apart
// before the token, and an admin route open to tenant tokens.
func TestCheckCatchesLeaks(t *testing.T) {
	t.Parallel()
	p := Parties{A: Tenant{Name: "A", Token: "ta", Data: []string{"a-secret"}}, B: Tenant{Name: "B", Token: "tb", Data: []string{"b-secret"}}, AdminToken: "tadmin"}
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"leaks the other tenant's data", func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/things/") && strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") == tokenOf(r.Header.Get(httpapi.TenantHeader)) {
				_, _ = w.Write([]byte(`{"data":["a-secret","b-secret"]}`))
				return
			}
			goodHandler(w, r)
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
		}, "own token of A, GET /things/01ISOLATIONCHECK: status 403, want not 401/403"},
		{"enumerates tenants", func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get(httpapi.TenantHeader) == UnknownTenant {
				w.WriteHeader(400)
				return
			}
			goodHandler(w, r)
		}, "no token for an unknown tenant, GET /things/01ISOLATIONCHECK: status 400, want 401"},
		{"admin route open to tenant tokens", func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/admin/") && r.Header.Get("Authorization") != "" {
				_, _ = w.Write([]byte(`{"data":"as admin"}`))
				return
			}
			goodHandler(w, r)
		}, "token of A on an admin route, GET /admin/switches: status 200, want 403"},
	}
	routes := []httpapi.Route{{Pattern: "GET /things/{id}", TenantScoped: true}, {Pattern: "GET /public"}, {Pattern: "GET /admin/switches", Admin: true}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems := Check(tt.handler, routes, p, nil)
			if !strings.Contains(strings.Join(problems, "\n"), tt.want) {
				t.Fatalf("problems %q; want one containing %q", problems, tt.want)
			}
		})
	}
	if problems := Check(http.HandlerFunc(goodHandler), routes, p, nil); len(problems) != 0 {
		t.Fatalf("a correct API reported: %q", problems)
	}
	if got := Cases(routes, p, nil); len(got) != 7+1+3 || got[0].Path != "/things/01ISOLATIONCHECK" {
		t.Fatalf("cases %+v; want 11, the first on /things/01ISOLATIONCHECK", got)
	}
}

func tokenOf(tenant string) string { return "t" + strings.ToLower(tenant) }
