package httpapi

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/store"
)

// SwitchStore reads and sets the dynamic peering switches (Orca's DynamicConfigService keys),
// which the copier reads on every pass.
type SwitchStore interface {
	PeeringSwitches(ctx context.Context) (store.PeeringSwitches, error)
	SetPeeringEnabled(ctx context.Context, enabled bool) error
	SetPeerEnabled(ctx context.Context, peerID string, enabled bool) error
	SetPeeringDeleteLimit(ctx context.Context, limit *int) error
}

// handleAdmin registers a deployment-wide route: it needs an admin token (api.tokens with
// role admin, or api.adminTokens), unless auth is disabled.
func (s *Server) handleAdmin(pattern string, h handlerFunc) {
	s.routes = append(s.routes, Route{Pattern: pattern, Admin: true})
	s.mux.Handle(pattern, s.wrap(func(w http.ResponseWriter, r *http.Request) error {
		p, err := s.auth.caller(r)
		if err != nil {
			return err
		}
		r = withPrincipal(r, p)
		if err := requireAdmin(r, "this route"); err != nil {
			return err
		}
		return h(w, r)
	}))
}

// registerAdmin declares the deployment-wide admin routes.
func (s *Server) registerAdmin() {
	s.handleAdmin("GET /admin/peering/switches", s.getSwitches)
	s.handleAdmin("PUT /admin/peering/switches", s.putSwitches)
}

type switchesView struct {
	Enabled               bool            `json:"enabled"`
	Peers                 map[string]bool `json:"peers"`
	MaxAllowedDeleteCount *int            `json:"maxAllowedDeleteCount"`
}

func (s *Server) getSwitches(w http.ResponseWriter, r *http.Request) error {
	if s.deps.Switches == nil {
		return unavailable("peering switches")
	}
	sw, err := s.deps.Switches.PeeringSwitches(r.Context())
	if err != nil {
		return err
	}
	peers := sw.PeerEnabled
	if peers == nil {
		peers = map[string]bool{}
	}
	writeData(w, http.StatusOK, switchesView{Enabled: sw.Enabled, Peers: peers, MaxAllowedDeleteCount: sw.MaxAllowedDeleteCount})
	return nil
}

// switchesRequest changes the switches it names: "enabled" (all peering), "peers" (per peer),
// "maxAllowedDeleteCount" (a number, or null to fall back to peering.maxAllowedDeleteCount).
type switchesRequest struct {
	Enabled               *bool           `json:"enabled"`
	Peers                 map[string]bool `json:"peers"`
	MaxAllowedDeleteCount json.RawMessage `json:"maxAllowedDeleteCount"`
}

func (s *Server) putSwitches(w http.ResponseWriter, r *http.Request) error {
	if s.deps.Switches == nil {
		return unavailable("peering switches")
	}
	var req switchesRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	var limit *int
	setLimit := len(req.MaxAllowedDeleteCount) > 0
	if setLimit && string(req.MaxAllowedDeleteCount) != "null" {
		var n int
		if err := json.Unmarshal(req.MaxAllowedDeleteCount, &n); err != nil || n < 0 {
			return fault.Invalidf("maxAllowedDeleteCount must be a non-negative integer or null")
		}
		limit = &n
	}
	for id := range req.Peers {
		if id == "" || len(id) > 32 {
			return fault.Invalidf("peer id %q must be 1-32 characters", truncate(id, 40))
		}
	}
	ctx := r.Context()
	if req.Enabled != nil {
		if err := s.deps.Switches.SetPeeringEnabled(ctx, *req.Enabled); err != nil {
			return err
		}
	}
	for id, on := range req.Peers {
		if err := s.deps.Switches.SetPeerEnabled(ctx, id, on); err != nil {
			return err
		}
	}
	if setLimit {
		if err := s.deps.Switches.SetPeeringDeleteLimit(ctx, limit); err != nil {
			return err
		}
	}
	s.log.InfoContext(ctx, "peering switches changed", "by", actor(r), "enabled", req.Enabled, "peers", req.Peers, "maxAllowedDeleteCount", string(req.MaxAllowedDeleteCount))
	return s.getSwitches(w, r)
}
