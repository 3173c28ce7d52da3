package httpapi

import (
	"context"
	"net/http"
)

// Pinger checks that the database answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

type checkResult struct {
	Status   string            `json:"status"`
	Type     string            `json:"type"`
	Response map[string]string `json:"response,omitempty"`
	Error    string            `json:"error,omitempty"`
}

// healthcheck answers GET /healthcheck: UP when MySQL answers SELECT 1 (Logwise's body), 503
// naming the failing check otherwise. Probes match "UP" or a 2xx. The route needs no token,
// so a failure says which check failed, never the driver's text (which names hosts and
// users): that goes to the log.
func (s *Server) healthcheck(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 5e9)
	defer cancel()
	mysql := checkResult{Status: "UP", Type: "mysql", Response: map[string]string{"response": "1"}}
	if s.deps.Health == nil {
		mysql = checkResult{Status: "DOWN", Type: "mysql", Error: "no database configured"}
	} else if err := s.deps.Health.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "healthcheck: database ping failed", "error", err.Error())
		mysql = checkResult{Status: "DOWN", Type: "mysql", Error: "the database did not answer (see the control plane's logs)"}
	}
	body := map[string]any{"status": mysql.Status, "checks": map[string]checkResult{"mysql": mysql}}
	if mysql.Status != "UP" {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{
			"data":  body,
			"error": errorDetail{Code: "HEALTHCHECK_FAILED", Message: "mysql is DOWN", Cause: mysql.Error},
		})
		return nil
	}
	writeData(w, http.StatusOK, body)
	return nil
}
