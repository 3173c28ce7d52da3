package httpapi

import (
	"context"
	"net/http"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/discovery"
	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/freshness"
	"github.com/logwise/controlplane/shared/health"
	"github.com/logwise/controlplane/shared/store"
)

// DiscoveryService syncs and lists a tenant's services, measures its log sync delay and checks
// its pipeline (*discovery.Service).
type DiscoveryService interface {
	SyncServices(ctx context.Context, t *config.Tenant) (discovery.Result, error)
	ServiceDetails(ctx context.Context, tenant string) ([]store.Service, error)
	SyncDelay(ctx context.Context, t *config.Tenant) (freshness.Report, error)
	PipelineHealth(ctx context.Context, t *config.Tenant) health.Report
}

// DiscoveryDeps are the services behind the discovery routes.
type DiscoveryDeps struct {
	Discovery DiscoveryService
}

// registerDiscovery declares the discovery routes.
func (s *Server) registerDiscovery() {
	s.handleTenant("POST /component/sync", s.componentSync)
	s.handleTenant("POST /api/v1/component/sync", s.componentSync)
	s.handleTenant("GET /service-details", s.serviceDetails)
	s.handleTenant("GET /metric/sync-delay", s.syncDelay)
	s.handleTenant("GET /api/v1/metric/sync-delay", s.syncDelay)
	s.handleTenant("GET /pipeline/health", s.pipelineHealth)
}

func (s *Server) discovery() (DiscoveryService, error) {
	if s.deps.Discovery == nil {
		return nil, unavailable("Service discovery")
	}
	return s.deps.Discovery, nil
}

// componentSyncRequest is the documented body; Logwise's code reads the query parameter.
type componentSyncRequest struct {
	ComponentType *string `json:"componentType"`
}

// componentSyncResponse is Logwise's success message plus what the sync did.
type componentSyncResponse struct {
	message
	Result discovery.Result `json:"result"`
}

// componentSync runs one service discovery sync. componentType comes from the JSON body or
// the query (the two must agree); only "application" exists.
func (s *Server) componentSync(w http.ResponseWriter, r *http.Request, t *config.Tenant) error {
	svc, err := s.discovery()
	if err != nil {
		return err
	}
	var req componentSyncRequest
	if err := decodeJSON(r, &req, true); err != nil {
		return err
	}
	ct, fromQuery := "", r.URL.Query().Has("componentType")
	switch {
	case req.ComponentType != nil && fromQuery && *req.ComponentType != r.URL.Query().Get("componentType"):
		return fault.Invalidf("componentType differs between the body (%q) and the query (%q)",
			truncate(*req.ComponentType, 32), truncate(r.URL.Query().Get("componentType"), 32)).WithCode("INVALID_REQUEST_ERROR")
	case req.ComponentType != nil:
		ct = *req.ComponentType
	case fromQuery:
		ct = r.URL.Query().Get("componentType")
	default:
		return fault.Invalidf("Invalid Request: componentType is required").WithCode("INVALID_REQUEST_ERROR")
	}
	if ct != "application" {
		return fault.Invalidf("ComponentType: %s is invalid", truncate(ct, 32)).WithCode("INVALID_COMPONENT_TYPE")
	}
	res, err := svc.SyncServices(r.Context(), t)
	if err != nil {
		return err
	}
	writeData(w, http.StatusOK, componentSyncResponse{
		message: success("Successfully synced componentType: application for tenant: %s", t.Name),
		Result:  res,
	})
	return nil
}

// serviceDetail is one entry of Logwise's GET /service-details, which Grafana reads.
type serviceDetail struct {
	ServiceName   string `json:"serviceName"`
	RetentionDays int    `json:"retentionDays"`
	Tenant        string `json:"tenant"`
}

// serviceDetails answers {"data":{"serviceDetails":[...]}}.
func (s *Server) serviceDetails(w http.ResponseWriter, r *http.Request, t *config.Tenant) error {
	svc, err := s.discovery()
	if err != nil {
		return err
	}
	rows, err := svc.ServiceDetails(r.Context(), t.Name)
	if err != nil {
		return err
	}
	out := make([]serviceDetail, 0, len(rows))
	for _, row := range rows {
		out = append(out, serviceDetail{ServiceName: row.Name, RetentionDays: row.RetentionDays, Tenant: row.Tenant})
	}
	writeData(w, http.StatusOK, map[string]any{"serviceDetails": out})
	return nil
}

// syncDelay answers {"data":{"tenant","appLogsDelayMinutes","status","services",...}}.
func (s *Server) syncDelay(w http.ResponseWriter, r *http.Request, t *config.Tenant) error {
	svc, err := s.discovery()
	if err != nil {
		return err
	}
	rep, err := svc.SyncDelay(r.Context(), t)
	if err != nil {
		return err
	}
	writeData(w, http.StatusOK, rep)
	return nil
}

// pipelineHealth answers the Logwise body without envelope: 200 when UP, 503 otherwise.
func (s *Server) pipelineHealth(w http.ResponseWriter, r *http.Request, t *config.Tenant) error {
	svc, err := s.discovery()
	if err != nil {
		return err
	}
	rep := svc.PipelineHealth(r.Context(), t)
	// Logwise's body, without the envelope: its clients read it as it is (README says so).
	writeJSON(w, healthStatus(rep.Status == health.Up), rep)
	return nil
}
