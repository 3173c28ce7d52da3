package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/interlink"
)

// ExecutionService reads and acts on executions.
type ExecutionService interface {
	List(ctx context.Context, f executions.Filter) (executions.Page, error)
	Get(ctx context.Context, id string) (executions.Detail, error)
	Cancel(ctx context.Context, id, user, reason string) (executions.Detail, error)
	Pause(ctx context.Context, id, user string) (executions.Detail, error)
	Resume(ctx context.Context, id, user string) (executions.Detail, error)
	Judge(ctx context.Context, id, stageID string, j executions.Judgment, user, input string) (executions.Detail, error)
	Delete(ctx context.Context, id string) error
}

// Forwarder sends an action on a foreign execution to its owner over interlink.
type Forwarder interface {
	Forward(ctx context.Context, a interlink.Action) (interlink.Receipt, error)
}

// TakeoverService takes over foreign executions whose owner is gone.
type TakeoverService interface {
	TakeOver(ctx context.Context, id, user, reason string, force bool) (executions.Detail, error)
}

// ExecutionDeps are the services behind the executions routes. Without a Forwarder, actions
// on foreign executions are refused with 409 naming the owner.
type ExecutionDeps struct {
	Executions ExecutionService
	Forwarder  Forwarder
	Takeovers  TakeoverService
}

// registerExecutions declares the executions routes. A tenant sees and acts on its own
// executions only (the execution's application is the tenant).
func (s *Server) registerExecutions() {
	s.handleTenant("GET /executions", s.listExecutions)
	s.handleTenant("GET /executions/{id}", s.getExecution)
	s.handleTenant("PUT /executions/{id}/cancel", s.executionAction("cancel"))
	s.handleTenant("PUT /executions/{id}/pause", s.executionAction("pause"))
	s.handleTenant("PUT /executions/{id}/resume", s.executionAction("resume"))
	s.handleTenant("POST /executions/{id}/stages/{stageId}/judgement", s.judge)
	s.handleTenant("POST /executions/{id}/stages/{stageId}/judgment", s.judge)
	s.handleTenant("DELETE /executions/{id}", s.deleteExecution)
	s.handleTenant("POST /executions/{id}/takeover", s.takeover)
}

func (s *Server) executionsSvc() (ExecutionService, error) {
	if s.deps.Executions == nil {
		return nil, unavailable("the execution log")
	}
	return s.deps.Executions, nil
}

func (s *Server) listExecutions(w http.ResponseWriter, r *http.Request, t *config.Tenant) error {
	svc, err := s.executionsSvc()
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := executions.Filter{Application: t.Name, Cursor: q.Get("cursor")}
	if tn := q.Get("tenant"); tn != "" && tn != t.Name {
		return fault.New(fault.Forbidden, "tenant %s cannot list executions of tenant %s", t.Name, truncate(tn, 64)).WithCode("WRONG_TENANT")
	}
	switch typ := executions.Type(q.Get("type")); typ {
	case "", executions.Pipeline, executions.Orchestration:
		f.Type = typ
	default:
		return fault.Invalidf("type must be pipeline or orchestration, got %q", truncate(string(typ), 32))
	}
	if st := q.Get("status"); st != "" {
		for _, v := range strings.Split(st, ",") {
			s := executions.Status(strings.ToUpper(strings.TrimSpace(v)))
			if !validStatus(s) {
				return fault.Invalidf("status %q is not an execution status", truncate(v, 32))
			}
			f.Statuses = append(f.Statuses, s)
		}
	}
	if q.Has("partition") {
		p := q.Get("partition")
		f.Partition = &p
	}
	if f.Since, err = queryTime(q.Get("since"), "since"); err != nil {
		return err
	}
	if f.Until, err = queryTime(q.Get("until"), "until"); err != nil {
		return err
	}
	if f.Limit, err = queryInt(r, "limit", 50, 1, 500); err != nil {
		return err
	}
	page, err := svc.List(r.Context(), f)
	if err != nil {
		return err
	}
	writeData(w, http.StatusOK, page)
	return nil
}

func validStatus(s executions.Status) bool {
	switch s {
	case executions.NotStarted, executions.Buffered, executions.Running, executions.Paused, executions.Suspended,
		executions.Succeeded, executions.FailedContinue, executions.Terminal, executions.Canceled, executions.Redirect,
		executions.Stopped, executions.Skipped:
		return true
	}
	return false
}

// queryTime reads RFC 3339 or epoch milliseconds.
func queryTime(raw, name string) (time.Time, error) {
	if raw == "" {
		return time.Time{}, nil
	}
	if ms, err := strconv.ParseInt(raw, 10, 64); err == nil {
		return time.UnixMilli(ms), nil
	}
	t, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		return time.Time{}, fault.Invalidf("%s must be RFC 3339 or epoch milliseconds, got %q", name, truncate(raw, 40))
	}
	return t, nil
}

// tenantExecution reads an execution and hides those of other tenants (404, as if absent).
func (s *Server) tenantExecution(r *http.Request, t *config.Tenant) (ExecutionService, executions.Detail, error) {
	svc, err := s.executionsSvc()
	if err != nil {
		return nil, executions.Detail{}, err
	}
	id := r.PathValue("id")
	d, err := svc.Get(r.Context(), id)
	if err != nil {
		return nil, d, err
	}
	if d.Application != t.Name {
		return nil, executions.Detail{}, fault.NotFoundf("execution %s does not exist", id)
	}
	return svc, d, nil
}

func (s *Server) getExecution(w http.ResponseWriter, r *http.Request, t *config.Tenant) error {
	_, d, err := s.tenantExecution(r, t)
	if err != nil {
		return err
	}
	writeData(w, http.StatusOK, d)
	return nil
}

// actionRequest is the optional body of an action. A "user" field is ignored: the actor is
// the caller's token.
type actionRequest struct {
	Reason string `json:"reason"`
}

func (s *Server) executionAction(action string) tenantHandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, t *config.Tenant) error {
		var req actionRequest
		if err := decodeJSON(r, &req, true); err != nil {
			return err
		}
		svc, d, err := s.tenantExecution(r, t)
		if err != nil {
			return err
		}
		user := actor(r)
		if !d.Owned {
			return s.forward(w, r, d, interlink.Action{Kind: action, User: user, Reason: truncate(req.Reason, 1024)})
		}
		switch action {
		case "cancel":
			d, err = svc.Cancel(r.Context(), d.ID, user, truncate(req.Reason, 1024))
		case "pause":
			d, err = svc.Pause(r.Context(), d.ID, user)
		case "resume":
			d, err = svc.Resume(r.Context(), d.ID, user)
		}
		if err != nil {
			return err
		}
		writeData(w, http.StatusOK, d)
		return nil
	}
}

// forward sends an action on a foreign execution to its owner and answers 202 with the
// event id; with interlink off, or the topic unreachable, it answers 409 naming the owner.
func (s *Server) forward(w http.ResponseWriter, r *http.Request, d executions.Detail, a interlink.Action) error {
	refusal := executions.ForeignError(d.ID, d.Partition)
	if s.deps.Forwarder == nil {
		return refusal
	}
	a.Type, a.ID, a.Owner = d.Type, d.ID, d.Partition
	rec, err := s.deps.Forwarder.Forward(r.Context(), a)
	if err != nil {
		if fault.Is(err, fault.Unavailable) {
			s.log.WarnContext(r.Context(), "interlink unavailable; refusing", "execution", d.ID, "error", err.Error())
			return &fault.Error{Kind: refusal.Kind, Code: refusal.Code, Message: refusal.Message + " (interlink is unreachable)", Err: err}
		}
		return err
	}
	writeData(w, http.StatusAccepted, rec)
	return nil
}

type takeoverRequest struct {
	Reason string `json:"reason"`
	Force  bool   `json:"force"`
}

// takeover makes this partition the owner of a foreign execution whose owner is gone. A
// forced takeover (which skips the reachability check) needs an admin token.
func (s *Server) takeover(w http.ResponseWriter, r *http.Request, t *config.Tenant) error {
	var req takeoverRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	if req.Force {
		if err := requireAdmin(r, "a forced takeover"); err != nil {
			return err
		}
	}
	if s.deps.Takeovers == nil {
		return unavailable("ownership takeover (no peers)")
	}
	_, d, err := s.tenantExecution(r, t)
	if err != nil {
		return err
	}
	d, err = s.deps.Takeovers.TakeOver(r.Context(), d.ID, actor(r), truncate(req.Reason, 1024), req.Force)
	if err != nil {
		return err
	}
	writeData(w, http.StatusOK, d)
	return nil
}

// judgementRequest accepts Orca's spelling ("judgmentStatus") and plain ones.
type judgementRequest struct {
	Judgment       string `json:"judgment"`
	Judgement      string `json:"judgement"`
	JudgmentStatus string `json:"judgmentStatus"`
	Input          string `json:"input"`
}

func (s *Server) judge(w http.ResponseWriter, r *http.Request, t *config.Tenant) error {
	var req judgementRequest
	if err := decodeJSON(r, &req, false); err != nil {
		return err
	}
	j := strings.ToLower(firstNonEmpty(req.Judgment, req.Judgement, req.JudgmentStatus))
	if j != string(executions.Continue) && j != string(executions.Stop) {
		return fault.Invalidf(`judgement must be "continue" or "stop", got %q`, truncate(j, 32))
	}
	svc, d, err := s.tenantExecution(r, t)
	if err != nil {
		return err
	}
	if t.Auth.DistinctApprover && executions.Judgment(j) == executions.Continue && replayCreator(d) == actor(r) {
		return errSameApprover(d.ID)
	}
	if !d.Owned {
		return s.forward(w, r, d, interlink.Action{Kind: "judgement", User: actor(r), StageID: r.PathValue("stageId"),
			Judgment: executions.Judgment(j), Input: truncate(req.Input, 1024)})
	}
	d, err = svc.Judge(r.Context(), d.ID, r.PathValue("stageId"), executions.Judgment(j), actor(r), truncate(req.Input, 1024))
	if err != nil {
		return err
	}
	writeData(w, http.StatusOK, d)
	return nil
}

// deleteExecution deletes an execution (and, through its tombstone, the peers' copies). An
// orchestration is the decision record of an automatic action: deleting one needs an admin
// token (retention deletes them by its own rules).
func (s *Server) deleteExecution(w http.ResponseWriter, r *http.Request, t *config.Tenant) error {
	svc, d, err := s.tenantExecution(r, t)
	if err != nil {
		return err
	}
	if d.Type == executions.Orchestration {
		if err := requireAdmin(r, "deleting a decision record (an automatic action's execution)"); err != nil {
			return err
		}
	}
	if !d.Owned {
		return s.forward(w, r, d, interlink.Action{Kind: "delete", User: actor(r)})
	}
	if err := svc.Delete(r.Context(), d.ID); err != nil {
		return err
	}
	writeData(w, http.StatusOK, map[string]string{"deleted": d.ID})
	return nil
}

// replayCreator is the token name that created a replay's pipeline ("" for any other
// execution).
func replayCreator(d executions.Detail) string {
	c, _ := d.Body["context"].(map[string]any)
	rep, _ := c["replay"].(map[string]any)
	by, _ := rep["createdBy"].(string)
	return by
}

// errSameApprover refuses a replay's approval by the token that created it, for tenants
// with auth.distinctApprover.
func errSameApprover(what any) error {
	return fault.New(fault.Forbidden, "replay %v was created with this token; auth.distinctApprover requires another token to approve it", what).WithCode("SAME_APPROVER")
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
