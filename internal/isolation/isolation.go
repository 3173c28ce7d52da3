// Package isolation checks that the API keeps tenants apart, route by route, over the routes
// the mux itself lists (httpapi.Server.Routes), so a route added later is covered without
// touching the check. It takes any http.Handler, so it runs against a bare httpapi.Server or
// the fully wired setup.App alike.
package isolation

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/logwise/controlplane/shared/httpapi"
)

// Tenant is one tenant of the check: its name, a valid bearer token, and Data, the strings
// that only this tenant's answers may contain (its execution IDs, bucket, hosts, service
// names, its token).
type Tenant struct {
	Name  string
	Token string
	Data  []string
}

// Parties are who the check sends requests as: two tenants and a holder of an admin token.
type Parties struct {
	A, B       Tenant
	AdminToken string
}

// UnknownTenant names no configured tenant.
const UnknownTenant = "NO-SUCH-TENANT"

// DefaultParams fill path parameters that Params does not name.
var DefaultParams = map[string]string{"id": "01ISOLATIONCHECK", "stageId": "1"}

// Case is one request of the check and what its answer must be.
type Case struct {
	Route  string // the route pattern
	Name   string // what the case checks
	Method string
	Path   string
	Tenant string // X-Tenant-Name
	Token  string // bearer token, "" for none
	// Want says which status passes: "403", "401" or "not 401/403".
	Want string
	// Hidden are strings the answer must not contain (the other tenant's data).
	Hidden []string
}

// Cases lists the requests of the check, for every route:
//   - tenant-scoped: a's token for b and b's for a (403), a's token for an unknown tenant (403,
//     as for a known one), no token for b or for an unknown tenant (401: no tenant
//     enumeration), a's token for a and the admin token for b (anything but 401/403);
//   - admin routes: no token (401), a tenant's token (403), the admin token (not 401/403);
//   - public routes: no token (not 401/403).
//
// params fill the path parameters: point {id} at one of b's objects so that the own-tenant
// request tries to reach b's data too.
func Cases(routes []httpapi.Route, p Parties, params map[string]string) []Case {
	a, b := p.A, p.B
	var out []Case
	for _, r := range routes {
		method, path := splitPattern(r.Pattern)
		path = fill(path, params)
		var cs []Case
		switch {
		case r.TenantScoped:
			cs = []Case{
				{Name: "token of " + a.Name + " for " + b.Name, Tenant: b.Name, Token: a.Token, Want: "403", Hidden: b.Data},
				{Name: "token of " + b.Name + " for " + a.Name, Tenant: a.Name, Token: b.Token, Want: "403", Hidden: a.Data},
				{Name: "token of " + a.Name + " for an unknown tenant", Tenant: UnknownTenant, Token: a.Token, Want: "403", Hidden: b.Data},
				{Name: "no token for " + b.Name, Tenant: b.Name, Want: "401", Hidden: b.Data},
				{Name: "no token for an unknown tenant", Tenant: UnknownTenant, Want: "401", Hidden: b.Data},
				{Name: "own token of " + a.Name, Tenant: a.Name, Token: a.Token, Want: "not 401/403", Hidden: b.Data},
				{Name: "admin token for " + b.Name, Tenant: b.Name, Token: p.AdminToken, Want: "not 401/403"},
			}
		case r.Admin:
			cs = []Case{
				{Name: "no token on an admin route", Want: "401"},
				{Name: "token of " + a.Name + " on an admin route", Tenant: a.Name, Token: a.Token, Want: "403"},
				{Name: "admin token on an admin route", Token: p.AdminToken, Want: "not 401/403"},
			}
		default:
			cs = []Case{{Name: "no token on a public route", Want: "not 401/403", Hidden: append(append([]string(nil), a.Data...), b.Data...)}}
		}
		for _, c := range cs {
			c.Route, c.Method, c.Path = r.Pattern, method, path
			out = append(out, c)
		}
	}
	return out
}

// Check runs the cases on h and returns every problem found: a wrong status, or an answer
// that contains data it must not (b's data answering a request made as or for a, a's data
// answering b's token, any tenant's data on a public route). An empty result means the routes
// keep a and b apart.
func Check(h http.Handler, routes []httpapi.Route, p Parties, params map[string]string) []string {
	var problems []string
	for _, c := range Cases(routes, p, params) {
		status, body := do(h, c)
		if !wantStatus(c.Want, status) {
			problems = append(problems, fmt.Sprintf("%s, %s %s: status %d, want %s; body %s", c.Name, c.Method, c.Path, status, c.Want, clip(body)))
		}
		for _, d := range c.Hidden {
			// A string the request itself carries (an ID in the path) echoed back is no leak.
			if d != "" && strings.Contains(body, d) && !strings.Contains(c.Path, d) {
				problems = append(problems, fmt.Sprintf("%s, %s %s: answer contains the other tenant's %q: %s", c.Name, c.Method, c.Path, d, clip(body)))
			}
		}
	}
	return problems
}

// Require is Check for tests: it fails t with every problem, and fails when no route is
// tenant-scoped (a check over nothing proves nothing).
func Require(t testing.TB, h http.Handler, routes []httpapi.Route, p Parties, params map[string]string) {
	t.Helper()
	scoped := 0
	for _, r := range routes {
		if r.TenantScoped {
			scoped++
		}
	}
	if scoped == 0 {
		t.Fatalf("no tenant-scoped route among %d routes: nothing to check", len(routes))
	}
	for _, p := range Check(h, routes, p, params) {
		t.Error(p)
	}
}

func do(h http.Handler, c Case) (int, string) {
	var body io.Reader
	if c.Method == http.MethodPost || c.Method == http.MethodPut || c.Method == http.MethodPatch {
		body = strings.NewReader(`{}`)
	}
	req := httptest.NewRequest(c.Method, c.Path, body)
	req.Header.Set("Content-Type", "application/json")
	if c.Tenant != "" {
		req.Header.Set(httpapi.TenantHeader, c.Tenant)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func wantStatus(want string, got int) bool {
	switch want {
	case "403":
		return got == http.StatusForbidden
	case "401":
		return got == http.StatusUnauthorized
	default:
		return got != http.StatusUnauthorized && got != http.StatusForbidden
	}
}

// splitPattern splits "GET /executions/{id}" into method and path ("" method: GET).
func splitPattern(p string) (string, string) {
	if m, path, ok := strings.Cut(p, " "); ok {
		return m, path
	}
	return http.MethodGet, p
}

var paramRE = regexp.MustCompile(`\{([A-Za-z0-9_]+)(\.\.\.)?\}`)

// fill replaces {name} and {name...} with params[name], DefaultParams[name] or "x".
func fill(path string, params map[string]string) string {
	return paramRE.ReplaceAllStringFunc(path, func(m string) string {
		name := paramRE.FindStringSubmatch(m)[1]
		if v, ok := params[name]; ok {
			return v
		}
		if v, ok := DefaultParams[name]; ok {
			return v
		}
		return "x"
	})
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return strings.TrimSpace(s)
}
