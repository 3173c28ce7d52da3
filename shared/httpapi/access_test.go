package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/store/storetest"
	"github.com/logwise/controlplane/shared/supervisor"
)

// fakeTakeovers records what the API asked for.
type fakeTakeovers struct {
	user  string
	force bool
}

func (f *fakeTakeovers) TakeOver(_ context.Context, id, user, _ string, force bool) (executions.Detail, error) {
	f.user, f.force = user, force
	return executions.Detail{Summary: executions.Summary{ID: id, Application: "ABC", Owned: true}}, nil
}

func hdr(tenant, token string, extra ...string) map[string]string {
	h := map[string]string{TenantHeader: tenant, "Authorization": "Bearer " + token}
	for i := 0; i+1 < len(extra); i += 2 {
		h[extra[i]] = extra[i+1]
	}
	return h
}

func errCode(body map[string]any) any {
	e, _ := body["error"].(map[string]any)
	return e["code"]
}

// TestActorIsTheTokensName: the audit trail records the name of the token, whatever the
// body's "user" or X-User say.
func TestActorIsTheTokensName(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	repo := executions.NewRepository(db.SQL(), "us-east-1")
	ctx := context.Background()
	id, _ := repo.StartPipeline(ctx, executions.PipelineSpec{Tenant: "ABC", Name: "replay",
		Stages: []executions.StageSpec{{RefID: "1", Type: "wait", Name: "Wait"}}})
	s, _ := testServer(t, Deps{ExecutionDeps: ExecutionDeps{Executions: repo}})
	h := s.Handler()
	code, body := do(t, h, "PUT", "/executions/"+id+"/cancel", `{"user":"mallory","reason":"r"}`, hdr("ABC", "token-abc-alice", "X-User", "mallory"))
	if code != 200 {
		t.Fatalf("cancel: %d %v", code, body)
	}
	d, _ := repo.Get(ctx, id)
	if d.Body["canceledBy"] != "alice" {
		t.Fatalf("canceledBy = %v, want the token's name alice", d.Body["canceledBy"])
	}
}

func TestForcedTakeoverNeedsAnAdminToken(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	repo := executions.NewRepository(db.SQL(), "us-east-1")
	foreign, _ := executions.NewRepository(db.SQL(), "eu-west-1").StartPipeline(context.Background(), executions.PipelineSpec{Tenant: "ABC", Name: "replay"})
	tests := []struct {
		name, token, body string
		wantCode          int
		wantUser          string
	}{
		{"forced with a tenant token", "token-abc-alice", `{"force":true,"reason":"east is gone","user":"ops"}`, 403, ""},
		{"forced with an admin token", "admin-token-1", `{"force":true,"reason":"east is gone"}`, 200, "ops"},
		{"unforced with a tenant token", "token-abc-alice", `{"reason":"east is gone"}`, 200, "alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk := &fakeTakeovers{}
			s, _ := testServer(t, Deps{ExecutionDeps: ExecutionDeps{Executions: repo, Takeovers: tk}})
			code, body := do(t, s.Handler(), "POST", "/executions/"+foreign+"/takeover", tt.body, hdr("ABC", tt.token))
			if code != tt.wantCode {
				t.Fatalf("status %d (%v), want %d", code, body, tt.wantCode)
			}
			if code == 403 && errCode(body) != "NOT_ADMIN" {
				t.Fatalf("refusal %v, want NOT_ADMIN", body)
			}
			if tk.user != tt.wantUser {
				t.Fatalf("takeover recorded by %q, want %q", tk.user, tt.wantUser)
			}
		})
	}
}

func TestDeletingADecisionRecordNeedsAnAdminToken(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	repo := executions.NewRepository(db.SQL(), "us-east-1")
	ctx := context.Background()
	record := func() string {
		id, err := repo.Record(ctx, executions.Action{Tenant: "ABC", Kind: "scaleWorkers", Description: "scaled", Trigger: "schedule"})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	s, _ := testServer(t, Deps{ExecutionDeps: ExecutionDeps{Executions: repo}})
	h := s.Handler()
	id := record()
	if code, body := do(t, h, "DELETE", "/executions/"+id, "", hdr("ABC", "token-abc-1")); code != 403 || errCode(body) != "NOT_ADMIN" {
		t.Fatalf("tenant deleting a decision record: %d %v, want 403 NOT_ADMIN", code, body)
	}
	if _, err := repo.Get(ctx, id); err != nil {
		t.Fatalf("the record is gone after a refused delete: %v", err)
	}
	if code, body := do(t, h, "DELETE", "/executions/"+id, "", hdr("ABC", "admin-token-1")); code != 200 {
		t.Fatalf("admin deleting a decision record: %d %v", code, body)
	}
}

// fakeReplays is a SparkService holding one replay awaiting approval.
type fakeReplays struct {
	SparkService
	replay     supervisor.Replay
	approvedBy string
}

// ListReplays lists only replays newer than f.replay, as the real list (the 100 newest)
// does once a tenant has many: the approval check must not depend on the list.
func (f *fakeReplays) ListReplays(context.Context, string) ([]supervisor.Replay, error) {
	return []supervisor.Replay{{ID: f.replay.ID + 100, CreatedBy: "someone-else"}}, nil
}

func (f *fakeReplays) Replay(_ context.Context, _ string, id int64) (supervisor.Replay, error) {
	if id != f.replay.ID {
		return supervisor.Replay{}, fault.NotFoundf("no replay %d", id)
	}
	return f.replay, nil
}

func (f *fakeReplays) ApproveReplay(_ context.Context, _ string, _ int64, op string) (supervisor.Replay, error) {
	f.approvedBy = op
	return f.replay, nil
}

func TestDistinctApprover(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	repo := executions.NewRepository(db.SQL(), "us-east-1")
	ctx := context.Background()
	tests := []struct {
		name     string
		distinct bool
		approver string
		wantCode int
	}{
		{"creator approves, setting off", false, "token-abc-alice", 200},
		{"creator approves, setting on", true, "token-abc-alice", 403},
		{"another token approves, setting on", true, "token-abc-bob", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pid, _ := repo.StartPipeline(ctx, executions.PipelineSpec{Tenant: "ABC", Name: supervisor.ReplayPipelineName,
				Context: map[string]any{"replay": map[string]any{"createdBy": "alice"}},
				Stages:  []executions.StageSpec{{RefID: "1", Type: "manualJudgment", Name: "Approve"}}})
			if _, err := repo.UpdateStage(ctx, pid, "1", executions.Running, nil); err != nil {
				t.Fatal(err)
			}
			sp := &fakeReplays{replay: supervisor.Replay{ID: 7, CreatedBy: "alice"}}
			s, _ := testServer(t, Deps{SparkDeps: SparkDeps{Spark: sp}, ExecutionDeps: ExecutionDeps{Executions: repo}})
			s.cfg.Tenants[0].Auth.DistinctApprover = tt.distinct
			h := s.Handler()
			// Both ways of approving: the replay API and the pipeline's judgment stage.
			for _, path := range []string{"/replays/7/approve", "/executions/" + pid + "/stages/1/judgement"} {
				code, body := do(t, h, "POST", path, `{"judgment":"continue"}`, hdr("ABC", tt.approver))
				if code != tt.wantCode {
					t.Fatalf("%s: %d %v, want %d", path, code, body, tt.wantCode)
				}
				if code == 403 && errCode(body) != "SAME_APPROVER" {
					t.Fatalf("%s: refusal %v, want SAME_APPROVER", path, body)
				}
			}
		})
	}
}

// learningRedactor masks the secrets it has been told of so far, like setup's redactor,
// which learns each secret as it is read.
type learningRedactor struct{ secrets []string }

func (l *learningRedactor) String(s string) string {
	for _, x := range l.secrets {
		s = strings.ReplaceAll(s, x, "****")
	}
	return s
}

func TestErrorsCarryNoSecretsOrDriverText(t *testing.T) {
	t.Parallel()
	t.Run("healthcheck", func(t *testing.T) {
		driver := errors.New("dial tcp 10.1.2.3:3306: connect: connection refused (user logwise_app)")
		s, logs := testServer(t, Deps{Health: pinger{driver}})
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthcheck", nil))
		if rec.Code != 503 || strings.Contains(rec.Body.String(), "10.1.2.3") || strings.Contains(rec.Body.String(), "logwise_app") {
			t.Fatalf("unauthenticated healthcheck answered %d %s; want 503 without the driver's text", rec.Code, rec.Body.String())
		}
		if !strings.Contains(logs.String(), "10.1.2.3") {
			t.Fatalf("the driver's text is not in the log either: %s", logs.String())
		}
	})
	t.Run("causes of non-internal errors", func(t *testing.T) {
		red := &learningRedactor{}
		s, _ := testServer(t, Deps{Redactor: red})
		// Secrets read after the server was built (a Kafka password, a peer's DSN password).
		red.secrets = append(red.secrets, "kafka-sasl-pw-42", "peer-db-pw-7")
		s.handle("GET /fail", func(http.ResponseWriter, *http.Request) error {
			return fault.Wrap(fault.Upstream, errors.New("SASL auth as logwise:kafka-sasl-pw-42 failed; peer dsn u:peer-db-pw-7@tcp"), "reach kafka-sasl-pw-42")
		})
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/fail", nil))
		if rec.Code != 502 || strings.Contains(rec.Body.String(), "kafka-sasl-pw-42") || strings.Contains(rec.Body.String(), "peer-db-pw-7") ||
			!strings.Contains(rec.Body.String(), "SASL auth as logwise:**** failed") {
			t.Fatalf("answer %d %s; want 502 with the secrets masked", rec.Code, rec.Body.String())
		}
	})
}

// fakeMonitor is a SparkService whose check finds the job's driver waiting for workers.
type fakeMonitor struct {
	SparkService
	res supervisor.Result
}

func (f fakeMonitor) Check(context.Context, config.Tenant, supervisor.Options) (supervisor.Result, error) {
	return f.res, nil
}

func TestMonitorSparkJobIsNoSuccessWhileTheDriverWaitsForWorkers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		res      supervisor.Result
		wantCode int
		wantErr  string
	}{
		{"driver running", supervisor.Result{Tenant: "ABC", Action: supervisor.Action("NONE"), DriverID: "driver-1", DriverState: "RUNNING"}, 200, ""},
		{"driver submitted, no worker", supervisor.Result{Tenant: "ABC", Action: supervisor.WaitForWorkers, DriverID: "driver-1", DriverState: "SUBMITTED"}, 503, "NO_ALIVE_WORKERS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := testServer(t, Deps{SparkDeps: SparkDeps{Spark: fakeMonitor{res: tt.res}}})
			code, body := do(t, s.Handler(), "POST", "/monitor-spark-job", `{}`, hdr("ABC", "token-abc-1"))
			gotErr, _ := errCode(body).(string)
			if code != tt.wantCode || gotErr != tt.wantErr {
				t.Fatalf("%d %v; want %d %q", code, body, tt.wantCode, tt.wantErr)
			}
			if data, _ := body["data"].(map[string]any); tt.wantErr == "" && data["success"] != true {
				t.Errorf("a running driver is not reported as success: %v", body)
			}
			if tt.wantErr != "" && !strings.Contains(fmt.Sprint(body["error"]), "no alive worker") {
				t.Errorf("the error does not say why: %v", body["error"])
			}
		})
	}
}
