package httpapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/supervisor"
)

// SparkService supervises a tenant's Spark streaming job and its replays.
type SparkService interface {
	Check(ctx context.Context, t config.Tenant, opts supervisor.Options) (supervisor.Result, error)
	State(ctx context.Context, tenant string) (string, error)
	Pause(ctx context.Context, tenant, operator string) (string, error)
	Resume(ctx context.Context, tenant, operator string) (string, error)
	Submissions(ctx context.Context, tenant string, limit int) ([]supervisor.Submission, error)
	CreateReplay(ctx context.Context, tenant string, req supervisor.ReplayRequest, operator string) (supervisor.Replay, error)
	ListReplays(ctx context.Context, tenant string) ([]supervisor.Replay, error)
	Replay(ctx context.Context, tenant string, id int64) (supervisor.Replay, error)
	CancelReplay(ctx context.Context, tenant string, id int64, operator string) (supervisor.Replay, error)
	ApproveReplay(ctx context.Context, tenant string, id int64, operator string) (supervisor.Replay, error)
}

// SparkDeps are the services behind the spark routes.
type SparkDeps struct {
	Spark SparkService
}

// registerSpark declares the Spark supervision and replay routes.
func (s *Server) registerSpark() {
	s.handleTenant("POST /monitor-spark-job", s.monitorSparkJob)
	s.handleTenant("POST /api/v1/monitor-spark-job", s.monitorSparkJob)
	s.handleTenant("GET /spark/supervision", s.sparkSupervision)
	s.handleTenant("POST /spark/supervision/resume", s.sparkSupervisionChange(true))
	s.handleTenant("POST /spark/supervision/pause", s.sparkSupervisionChange(false))
	s.handleTenant("POST /replays", s.createReplay)
	s.handleTenant("GET /replays", s.listReplays)
	s.handleTenant("POST /replays/{id}/cancel", s.replayAction(false))
	s.handleTenant("POST /replays/{id}/approve", s.replayAction(true))
}

func (s *Server) spark() (SparkService, error) {
	if s.deps.Spark == nil {
		return nil, unavailable("Spark supervision")
	}
	return s.deps.Spark, nil
}

// monitorRequest is Logwise's MonitorSparkJobRequest: optional driver overrides.
type monitorRequest struct {
	DriverCores      *int `json:"driverCores"`
	DriverMemoryInGb *int `json:"driverMemoryInGb"`
}

// monitorSparkJob does one synchronous check (and at most one submission) and answers with
// what it found and did, well inside API Gateway's 29 s. The scheduled function does the
// minute-long polling.
func (s *Server) monitorSparkJob(w http.ResponseWriter, r *http.Request, t *config.Tenant) error {
	svc, err := s.spark()
	if err != nil {
		return err
	}
	var req monitorRequest
	if err := decodeJSON(r, &req, true); err != nil {
		return err
	}
	opts := supervisor.Options{Trigger: "api"}
	if req.DriverCores != nil {
		if *req.DriverCores < 1 || *req.DriverCores > 64 {
			return fault.Invalidf("driverCores must be between 1 and 64, got %d", *req.DriverCores)
		}
		opts.DriverCores = *req.DriverCores
	}
	if req.DriverMemoryInGb != nil {
		if *req.DriverMemoryInGb < 1 || *req.DriverMemoryInGb > 512 {
			return fault.Invalidf("driverMemoryInGb must be between 1 and 512, got %d", *req.DriverMemoryInGb)
		}
		opts.DriverMemoryInGB = *req.DriverMemoryInGb
	}
	res, err := svc.Check(r.Context(), *t, opts)
	if err != nil {
		return err
	}
	if res.Action == supervisor.WaitForWorkers {
		// The check ran, but the job is not running: its driver waits for a worker to start on.
		s.writeFailure(w, r, fault.New(fault.Unavailable, "the spark job of tenant %s is not running: its driver %s is %s and the master has no alive worker to start it on",
			t.Name, res.DriverID, res.DriverState).WithCode("NO_ALIVE_WORKERS"), res)
		return nil
	}
	writeData(w, http.StatusOK, struct {
		message
		supervisor.Result
	}{success("Successfully monitored the spark job for tenant: %s", t.Name), res})
	return nil
}

func (s *Server) sparkSupervision(w http.ResponseWriter, r *http.Request, t *config.Tenant) error {
	svc, err := s.spark()
	if err != nil {
		return err
	}
	limit, err := queryInt(r, "limit", 20, 1, 200)
	if err != nil {
		return err
	}
	state, err := svc.State(r.Context(), t.Name)
	if err != nil {
		return err
	}
	subs, err := svc.Submissions(r.Context(), t.Name, limit)
	if err != nil {
		return err
	}
	if subs == nil {
		subs = []supervisor.Submission{}
	}
	writeData(w, http.StatusOK, map[string]any{"tenant": t.Name, "state": state, "submissions": subs})
	return nil
}

// sparkSupervisionChange resumes supervision (leaving CRASH_LOOP or PAUSED) or pauses it.
func (s *Server) sparkSupervisionChange(resume bool) tenantHandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, t *config.Tenant) error {
		svc, err := s.spark()
		if err != nil {
			return err
		}
		var req actionRequest
		if err := decodeJSON(r, &req, true); err != nil {
			return err
		}
		op := actor(r)
		var prev string
		if resume {
			prev, err = svc.Resume(r.Context(), t.Name, op)
		} else {
			prev, err = svc.Pause(r.Context(), t.Name, op)
		}
		if err != nil {
			return err
		}
		now, err := svc.State(r.Context(), t.Name)
		if err != nil {
			return err
		}
		writeData(w, http.StatusOK, map[string]string{"tenant": t.Name, "previousState": prev, "state": now})
		return nil
	}
}

func (s *Server) createReplay(w http.ResponseWriter, r *http.Request, t *config.Tenant) error {
	svc, err := s.spark()
	if err != nil {
		return err
	}
	var req supervisor.ReplayRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	rep, err := svc.CreateReplay(r.Context(), t.Name, req, actor(r))
	if err != nil {
		return err
	}
	writeData(w, http.StatusCreated, rep)
	return nil
}

func (s *Server) listReplays(w http.ResponseWriter, r *http.Request, t *config.Tenant) error {
	svc, err := s.spark()
	if err != nil {
		return err
	}
	reps, err := svc.ListReplays(r.Context(), t.Name)
	if err != nil {
		return err
	}
	if reps == nil {
		reps = []supervisor.Replay{}
	}
	writeData(w, http.StatusOK, map[string]any{"replays": reps})
	return nil
}

func (s *Server) replayAction(approve bool) tenantHandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, t *config.Tenant) error {
		svc, err := s.spark()
		if err != nil {
			return err
		}
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil || id <= 0 {
			return fault.Invalidf("replay id must be a positive integer, got %q", truncate(r.PathValue("id"), 32))
		}
		var req actionRequest
		if err := decodeJSON(r, &req, true); err != nil {
			return err
		}
		var rep supervisor.Replay
		if approve {
			if t.Auth.DistinctApprover {
				if err := distinctApprover(r, svc, t.Name, id); err != nil {
					return err
				}
			}
			rep, err = svc.ApproveReplay(r.Context(), t.Name, id, actor(r))
		} else {
			rep, err = svc.CancelReplay(r.Context(), t.Name, id, actor(r))
		}
		if err != nil {
			return err
		}
		writeData(w, http.StatusOK, rep)
		return nil
	}
}

// distinctApprover refuses the approval of replay id by the token that created it.
func distinctApprover(r *http.Request, svc SparkService, tenant string, id int64) error {
	rep, err := svc.Replay(r.Context(), tenant, id)
	if err != nil {
		return err
	}
	if rep.CreatedBy == actor(r) {
		return errSameApprover(id)
	}
	return nil
}
