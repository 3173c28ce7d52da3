package httpapi

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/fault"
)

// TenantHeader names the tenant of a tenant-scoped call.
const TenantHeader = "X-Tenant-Name"

// authenticator resolves the tenant of a request and checks its bearer token.
type authenticator struct {
	cfg *config.Config
}

func newAuthenticator(cfg *config.Config) *authenticator { return &authenticator{cfg: cfg} }

// tenant returns the request's tenant: X-Tenant-Name must name a configured tenant (400
// otherwise) and, unless authentication is disabled, the bearer token must be one of that
// tenant's (401 without a valid token, 403 with another tenant's token).
func (a *authenticator) tenant(r *http.Request) (*config.Tenant, error) {
	name := r.Header.Get(TenantHeader)
	if name == "" {
		return nil, fault.Invalidf("%s header is missing", TenantHeader).WithCode("MISSING_TENANT")
	}
	t, ok := a.cfg.Tenant(name)
	if !ok {
		shown := name
		if len(shown) > 64 {
			shown = shown[:64] + "..."
		}
		return nil, fault.Invalidf("Tenant: %s is invalid", shown).WithCode("INVALID_TENANT")
	}
	if a.cfg.API.AuthDisabled {
		return t, nil
	}
	token, ok := bearer(r)
	if !ok {
		return nil, fault.New(fault.Unauthorized, "an Authorization: Bearer <token> header is required").WithCode("UNAUTHENTICATED")
	}
	hash := config.HashToken(token)
	if holds(t, hash) {
		return t, nil
	}
	for i := range a.cfg.Tenants {
		if holds(&a.cfg.Tenants[i], hash) {
			return nil, fault.New(fault.Forbidden, "this token does not belong to tenant %s", t.Name).WithCode("WRONG_TENANT")
		}
	}
	return nil, fault.New(fault.Unauthorized, "the bearer token is not valid").WithCode("UNAUTHENTICATED")
}

func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// holds reports whether t has a token with this hash, in constant time per comparison.
func holds(t *config.Tenant, hash string) bool {
	found := 0
	for _, h := range t.Auth.TokenHashes {
		found |= subtle.ConstantTimeCompare([]byte(h), []byte(hash))
	}
	return found == 1
}
