package httpapi

import (
	"context"
	"io"
	"net/http"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/kafka"
	"github.com/logwise/controlplane/shared/scaling"
	"github.com/logwise/controlplane/shared/store"
)

// ScalingService sizes Spark workers and Kafka partitions.
type ScalingService interface {
	Intake(ctx context.Context, tenant string, req scaling.IntakeRequest) (scaling.Outcome, error)
	SetOverride(ctx context.Context, tenant string, o store.ScaleOverride) error
	History(ctx context.Context, tenant string, limit int) ([]store.StageHistory, error)
	ScalePartitions(ctx context.Context, tenant string) (kafka.Result, error)
}

// ScalingDeps are the services behind the scaling routes.
type ScalingDeps struct {
	Scaling ScalingService
}

// registerScaling declares the scaling routes (Logwise's paths).
func (s *Server) registerScaling() {
	s.handleTenant("POST /scale-spark-cluster", s.scaleSparkCluster)
	s.handleTenant("POST /update-spark-scale-override", s.updateScaleOverride)
	s.handleTenant("GET /spark-stage-history", s.stageHistory)
	s.handleTenant("POST /kafka/scale-partitions", s.scaleKafkaPartitions)
}

func (s *Server) scaling() (ScalingService, error) {
	if s.deps.Scaling == nil {
		return nil, unavailable("scaling")
	}
	return s.deps.Scaling, nil
}

// scaleSparkCluster takes the stage report the Spark job posts, stores it, decides and applies
// the worker count, and answers with the decision. When another scaler holds the tenant's
// lease the report is stored and 202 says the scheduled run decides.
func (s *Server) scaleSparkCluster(w http.ResponseWriter, r *http.Request, t *config.Tenant) error {
	svc, err := s.scaling()
	if err != nil {
		return err
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return decodeJSON(r, new(any), false) // reports the size limit or read failure
	}
	req, err := scaling.ParseIntake(body)
	if err != nil {
		return err
	}
	out, err := svc.Intake(r.Context(), t.Name, req)
	if err != nil {
		return err
	}
	status := http.StatusOK
	msg := success("Successfully scaled spark cluster for tenant: %s", t.Name)
	if out.Skipped != "" {
		status = http.StatusAccepted
		msg = success("Stored the stage history for tenant: %s; %s", t.Name, out.Skipped)
	}
	writeData(w, status, struct {
		message
		scaling.Outcome
	}{msg, out})
	return nil
}

// overrideRequest is Logwise's UpdateSparkScaleOverrideRequest: null or absent clears a flag.
type overrideRequest struct {
	EnableUpScale   *bool `json:"enableUpScale"`
	EnableDownScale *bool `json:"enableDownScale"`
}

func (s *Server) updateScaleOverride(w http.ResponseWriter, r *http.Request, t *config.Tenant) error {
	svc, err := s.scaling()
	if err != nil {
		return err
	}
	var req overrideRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if err := svc.SetOverride(r.Context(), t.Name, store.ScaleOverride{Upscale: req.EnableUpScale, Downscale: req.EnableDownScale}); err != nil {
		return err
	}
	writeData(w, http.StatusOK, success("Successfully Updated Spark Scale Override Record for tenant: %s", t.Name))
	return nil
}

// stageHistoryView is Logwise's stage history JSON.
type stageHistoryView struct {
	OutputBytes    int64  `json:"outputBytes"`
	InputRecords   int64  `json:"inputRecords"`
	SubmissionTime int64  `json:"submissionTime"`
	CompletionTime int64  `json:"completionTime"`
	CoresUsed      *int   `json:"coresUsed,omitempty"`
	Status         string `json:"status"`
	CreatedAt      string `json:"createdAt"`
}

func (s *Server) stageHistory(w http.ResponseWriter, r *http.Request, t *config.Tenant) error {
	svc, err := s.scaling()
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", scaling.DefaultHistoryLimit, 1, scaling.MaxHistoryLimit)
	if err != nil {
		return err
	}
	hs, err := svc.History(r.Context(), t.Name, limit)
	if err != nil {
		return err
	}
	out := make([]stageHistoryView, len(hs))
	for i, h := range hs {
		out[i] = stageHistoryView{OutputBytes: h.OutputBytes, InputRecords: h.InputRecords, SubmissionTime: h.SubmissionTime,
			CompletionTime: h.CompletionTime, CoresUsed: h.CoresUsed, Status: h.Status, CreatedAt: h.CreatedAt.UTC().Format("2006-01-02T15:04:05.000Z")}
	}
	writeData(w, http.StatusOK, map[string]any{"sparkStageHistory": out})
	return nil
}

// scaleKafkaPartitions answers with Logwise's body and a real status: 200 when every topic
// was handled, 502 when some increases failed, 409 while another scaler holds the lease.
func (s *Server) scaleKafkaPartitions(w http.ResponseWriter, r *http.Request, t *config.Tenant) error {
	svc, err := s.scaling()
	if err != nil {
		return err
	}
	res, err := svc.ScalePartitions(r.Context(), t.Name)
	if err != nil && res.Message == "" {
		return err
	}
	switch {
	case err != nil:
		fe := asFault(err)
		writeJSON(w, statusOf(fe.Kind), map[string]any{"data": res, "error": s.detail(fe)})
	case !res.Success:
		fe := fault.New(fault.Upstream, "%s", res.Message).WithCode("KAFKA_SCALING_FAILED")
		writeJSON(w, http.StatusBadGateway, map[string]any{"data": res, "error": s.detail(fe)})
	default:
		writeData(w, http.StatusOK, res)
	}
	return nil
}
