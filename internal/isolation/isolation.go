// Package isolation checks that the API keeps tenants apart, route by route, over the routes
// the mux itself lists (httpapi.Server.Routes), so a route added later is covered without
// touching the check. It takes any http.Handler, so it runs against a bare httpapi.Server or
// the API as the api function wires it (apiwire.New) alike.
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
}

// Cases lists, for every tenant-scoped route, the requests of the check: a's token for b
// (403), b's token for a (403), no token for b (401) and a's token for a (anything but
// 401/403: the route works for its own tenant). params fill the path parameters: point
// {id} at one of b's objects so that the own-tenant request tries to reach b's data too.
func Cases(routes []httpapi.Route, a, b Tenant, params map[string]string) []Case {
	var out []Case
	for _, r := range routes {
		if !r.TenantScoped {
			continue
		}
		method, path := splitPattern(r.Pattern)
		path = fill(path, params)
		for _, c := range []Case{
			{Name: "token of " + a.Name + " for " + b.Name, Tenant: b.Name, Token: a.Token, Want: "403"},
			{Name: "token of " + b.Name + " for " + a.Name, Tenant: a.Name, Token: b.Token, Want: "403"},
			{Name: "no token for " + b.Name, Tenant: b.Name, Want: "401"},
			{Name: "own token of " + a.Name, Tenant: a.Name, Token: a.Token, Want: "not 401/403"},
		} {
			c.Route, c.Method, c.Path = r.Pattern, method, path
			out = append(out, c)
		}
	}
	return out
}

// Check runs the cases on h and returns every problem found: a wrong status, or an answer to
// a request made as (or for) a that contains any of b's data. An empty result means the
// routes keep a and b apart.
func Check(h http.Handler, routes []httpapi.Route, a, b Tenant, params map[string]string) []string {
	var problems []string
	for _, c := range Cases(routes, a, b, params) {
		status, body := do(h, c)
		if !wantStatus(c.Want, status) {
			problems = append(problems, fmt.Sprintf("%s, %s %s: status %d, want %s; body %s", c.Name, c.Method, c.Path, status, c.Want, clip(body)))
		}
		leaked := b.Data
		if c.Token == b.Token {
			leaked = a.Data // b's token used for a must not reveal a's data either
		}
		for _, d := range leaked {
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
func Require(t testing.TB, h http.Handler, routes []httpapi.Route, a, b Tenant, params map[string]string) {
	t.Helper()
	if len(Cases(routes, a, b, params)) == 0 {
		t.Fatalf("no tenant-scoped route among %d routes: nothing to check", len(routes))
	}
	for _, p := range Check(h, routes, a, b, params) {
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
	req.Header.Set(httpapi.TenantHeader, c.Tenant)
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
