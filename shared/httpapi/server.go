// Package httpapi is the control plane's REST API: a net/http ServeMux behind
// aws-lambda-go-api-proxy in Lambda, or a plain http.Server locally. Handlers are thin: they
// decode and validate, resolve and authorise the tenant, and call the same shared logic the
// scheduled functions use. Errors become HTTP statuses in exactly one place (writeError).
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/logwise/controlplane/shared/config"
)

// Deps are the services behind the API, one embedded struct per domain (each defined in its
// domain's file). A nil service makes its routes answer 503 NOT_CONFIGURED.
type Deps struct {
	Health   Pinger
	Switches SwitchStore
	Redactor Redactor // masks secrets in error answers; nil masks nothing

	SparkDeps
	ScalingDeps
	DiscoveryDeps
	ExecutionDeps
}

// Server serves the API.
type Server struct {
	cfg     *config.Config
	log     *slog.Logger
	deps    Deps
	auth    *authenticator
	mux     *http.ServeMux
	timeout time.Duration
	routes  []Route
}

// Route is a registered route, for tests that must cover every route (tenant isolation).
type Route struct {
	Pattern      string // "METHOD /path"
	TenantScoped bool
	Admin        bool // needs an admin token
}

// New builds the server and its routes.
func New(cfg *config.Config, log *slog.Logger, deps Deps) *Server {
	s := &Server{cfg: cfg, log: log, deps: deps, auth: newAuthenticator(cfg), mux: http.NewServeMux(), timeout: 25 * time.Second}
	s.register()
	return s
}

// Routes lists every registered route.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// Handler returns the API's http.Handler with recovery, deadline and access logging.
func (s *Server) Handler() http.Handler { return s.recoverer(s.mux) }

// register declares every route. Domain files add theirs through their register* method.
func (s *Server) register() {
	s.handle("GET /healthcheck", false, s.healthcheck)
	s.mux.HandleFunc("GET /liveness", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("Success"))
	})
	s.routes = append(s.routes, Route{Pattern: "GET /liveness"})
	s.registerSpark()
	s.registerScaling()
	s.registerDiscovery()
	s.registerExecutions()
	s.registerAdmin()
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, notFoundRoute(r))
	})
}

// handlerFunc is a handler that returns its failure instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// tenantHandlerFunc is a handler for a tenant-scoped route, called with the authorised tenant.
type tenantHandlerFunc func(w http.ResponseWriter, r *http.Request, t *config.Tenant) error

// handle registers a handler that needs no tenant.
func (s *Server) handle(pattern string, _ bool, h handlerFunc) {
	s.routes = append(s.routes, Route{Pattern: pattern})
	s.mux.Handle(pattern, s.wrap(h))
}

// handleTenant registers a tenant-scoped handler: the bearer token must be valid and belong
// to the tenant X-Tenant-Name names, or be an admin token (unless auth is disabled). The
// handler finds its caller with principalOf.
func (s *Server) handleTenant(pattern string, h tenantHandlerFunc) {
	s.routes = append(s.routes, Route{Pattern: pattern, TenantScoped: true})
	s.mux.Handle(pattern, s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		t, p, err := s.auth.tenant(r)
		if err != nil {
			return err
		}
		return h(w, withPrincipal(r, p), t)
	}))
}

// wrap gives a handler its deadline, body limit and error writing, and logs the request once.
func (s *Server) wrap(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
		defer cancel()
		r = r.WithContext(ctx)
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.cfg.API.MaxBodyBytes)
		}
		sw := &statusWriter{ResponseWriter: w}
		err := h(sw, r)
		if err != nil {
			s.writeError(sw, r, err)
		}
		level := slog.LevelInfo
		if sw.status >= 500 {
			level = slog.LevelError
		}
		attrs := []any{"method", r.Method, "path", r.URL.Path, "status", sw.status, "durationMs", time.Since(start).Milliseconds()}
		if t := r.Header.Get(TenantHeader); t != "" && len(t) <= 64 {
			attrs = append(attrs, "tenant", t)
		}
		if err != nil && sw.status >= 500 {
			attrs = append(attrs, "error", err.Error())
		}
		s.log.Log(r.Context(), level, "request", attrs...)
	})
}

// recoverer turns a panic into a 500 with the error envelope.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(r.Context(), "panic serving request", "method", r.Method, "path", r.URL.Path,
					"panic", v, "stack", string(debug.Stack()))
				s.writeError(w, r, errPanic)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// StripPrefix removes an API Gateway stage or base path from request paths, so that
// /prod/healthcheck and /healthcheck reach the same route.
func StripPrefix(prefix string, next http.Handler) http.Handler {
	prefix = "/" + strings.Trim(prefix, "/")
	if prefix == "/" || prefix == "/$default" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := strings.CutPrefix(r.URL.Path, prefix); ok && (p == "" || p[0] == '/') {
			r2 := r.Clone(r.Context())
			if p == "" {
				p = "/"
			}
			r2.URL.Path = p
			r2.URL.RawPath = ""
			r = r2
		}
		next.ServeHTTP(w, r)
	})
}
