package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/logwise/controlplane/shared/fault"
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
// naming the failing check otherwise. Probes match "UP" or a 2xx.
func (s *Server) healthcheck(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 5e9)
	defer cancel()
	mysql := checkResult{Status: "UP", Type: "mysql", Response: map[string]string{"response": "1"}}
	var err error
	if s.deps.Health == nil {
		err = errors.New("no database configured")
	} else {
		err = s.deps.Health.Ping(ctx)
	}
	if err != nil {
		mysql = checkResult{Status: "DOWN", Type: "mysql", Error: err.Error()}
	}
	body := map[string]any{"status": mysql.Status, "checks": map[string]checkResult{"mysql": mysql}}
	if err != nil {
		writeFailure(w, r, s.log, fault.Wrap(fault.Unavailable, err, "mysql is DOWN").WithCode("HEALTHCHECK_FAILED"), body)
		return nil
	}
	writeData(w, http.StatusOK, body)
	return nil
}
