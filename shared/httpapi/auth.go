package httpapi

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/fault"
)

// TenantHeader names the tenant of a tenant-scoped call.
const TenantHeader = "X-Tenant-Name"

// localPrincipal is the caller when api.authDisabled is set (the local runner only).
var localPrincipal = config.Principal{Name: "local", Admin: true}

// authenticator checks bearer tokens and resolves the tenant of a request.
type authenticator struct {
	cfg *config.Config
}

func newAuthenticator(cfg *config.Config) *authenticator { return &authenticator{cfg: cfg} }

// caller returns the principal of the request's bearer token: 401 without a token or with
// one that no configuration names. Every known hash is compared, in constant time each.
func (a *authenticator) caller(r *http.Request) (config.Principal, error) {
	if a.cfg.API.AuthDisabled {
		return localPrincipal, nil
	}
	token, ok := bearer(r)
	if !ok {
		return config.Principal{}, fault.New(fault.Unauthorized, "an Authorization: Bearer <token> header is required").WithCode("UNAUTHENTICATED")
	}
	hash := []byte(config.HashToken(token))
	var found config.Principal
	match := 0
	for _, p := range a.cfg.Principals() {
		if subtle.ConstantTimeCompare([]byte(p.Hash), hash) == 1 {
			found, match = p, 1
		}
	}
	if match != 1 {
		return config.Principal{}, fault.New(fault.Unauthorized, "the bearer token is not valid").WithCode("UNAUTHENTICATED")
	}
	return found, nil
}

// tenant returns the request's tenant and caller. The token is checked before the tenant,
// so that a caller without a valid token learns nothing of which tenants exist (401 for
// every tenant), and a tenant token gets the same 403 for an unknown tenant as for another
// tenant. An admin token acts on every configured tenant.
func (a *authenticator) tenant(r *http.Request) (*config.Tenant, config.Principal, error) {
	p, err := a.caller(r)
	if err != nil {
		return nil, p, err
	}
	name := r.Header.Get(TenantHeader)
	if name == "" {
		return nil, p, fault.Invalidf("%s header is missing", TenantHeader).WithCode("MISSING_TENANT")
	}
	t, ok := a.cfg.Tenant(name)
	if !p.Admin && (!ok || p.Tenant != t.Name) {
		return nil, p, fault.New(fault.Forbidden, "this token does not belong to tenant %s", truncate(name, 64)).WithCode("WRONG_TENANT")
	}
	if !ok {
		return nil, p, fault.Invalidf("Tenant: %s is invalid", truncate(name, 64)).WithCode("INVALID_TENANT")
	}
	return t, p, nil
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

type principalKey struct{}

// withPrincipal returns r carrying its authenticated caller.
func withPrincipal(r *http.Request, p config.Principal) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
}

// principalOf is the authenticated caller of r.
func principalOf(r *http.Request) config.Principal {
	p, _ := r.Context().Value(principalKey{}).(config.Principal)
	return p
}

// actor is who the audit trail records for r: the name of the caller's token, never a name
// the request gives itself.
func actor(r *http.Request) string { return principalOf(r).Name }

// requireAdmin refuses a tenant token for an action only an admin may take.
func requireAdmin(r *http.Request, what string) error {
	if !principalOf(r).Admin {
		return fault.New(fault.Forbidden, "%s needs an admin token (api.tokens with role admin)", what).WithCode("NOT_ADMIN")
	}
	return nil
}
