package httpapi

import (
	"context"
	"testing"

	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/store/storetest"
)

func TestExecutionRoutes(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	repo := executions.NewRepository(db.SQL(), "us-east-1")
	ctx := context.Background()
	stages := []executions.StageSpec{{RefID: "1", Type: "manualJudgment", Name: "Approve"}, {RefID: "2", Type: "deleteCheckpoint", Name: "Delete"}}
	own, _ := repo.StartPipeline(ctx, executions.PipelineSpec{Tenant: "ABC", Name: "replay", Stages: stages})
	other, _ := repo.StartPipeline(ctx, executions.PipelineSpec{Tenant: "XYZ", Name: "replay", Stages: stages})
	foreign, _ := executions.NewRepository(db.SQL(), "eu-west-1").StartPipeline(ctx, executions.PipelineSpec{Tenant: "ABC", Name: "replay", Stages: stages})
	if _, err := repo.UpdateStage(ctx, own, "1", executions.Running, nil); err != nil {
		t.Fatal(err)
	}
	s, _ := testServer(t, Deps{ExecutionDeps: ExecutionDeps{Executions: repo}})
	abc := map[string]string{TenantHeader: "ABC", "Authorization": "Bearer token-abc-1"}
	h := s.Handler()

	code, body := do(t, h, "GET", "/executions?limit=10", "", abc)
	page := body["data"].(map[string]any)["executions"].([]any)
	if code != 200 || len(page) != 2 {
		t.Fatalf("list: %d, %d executions; want 200 and 2 (ABC's own and foreign copy, not XYZ's)", code, len(page))
	}
	if code, _ := do(t, h, "GET", "/executions?tenant=XYZ", "", abc); code != 403 {
		t.Fatalf("listing another tenant: %d, want 403", code)
	}
	if code, _ := do(t, h, "GET", "/executions?status=NOPE", "", abc); code != 400 {
		t.Fatalf("bad status filter: %d, want 400", code)
	}
	if code, _ := do(t, h, "GET", "/executions/"+other, "", abc); code != 404 {
		t.Fatalf("another tenant's execution: %d, want 404", code)
	}
	if code, body := do(t, h, "GET", "/executions/"+foreign, "", abc); code != 200 || body["data"].(map[string]any)["owned"] != false {
		t.Fatalf("reading a foreign execution: %d %v", code, body)
	}

	tests := []struct {
		name, method, path, body string
		wantCode                 int
		wantErr                  string
		wantStatus               string
	}{
		{"cancel foreign", "PUT", "/executions/" + foreign + "/cancel", "", 409, "FOREIGN_EXECUTION", ""},
		{"pause foreign", "PUT", "/executions/" + foreign + "/pause", "", 409, "FOREIGN_EXECUTION", ""},
		{"judge foreign", "POST", "/executions/" + foreign + "/stages/1/judgement", `{"judgment":"continue"}`, 409, "FOREIGN_EXECUTION", ""},
		{"delete foreign", "DELETE", "/executions/" + foreign, "", 409, "FOREIGN_EXECUTION", ""},
		{"pause other tenant's", "PUT", "/executions/" + other + "/pause", "", 404, "NOT_FOUND", ""},
		{"pause own", "PUT", "/executions/" + own + "/pause", "", 200, "", "PAUSED"},
		{"judge while paused", "POST", "/executions/" + own + "/stages/1/judgement", `{"judgment":"continue"}`, 409, "INVALID_STATE", ""},
		{"resume own", "PUT", "/executions/" + own + "/resume", "", 200, "", "RUNNING"},
		{"judge bad value", "POST", "/executions/" + own + "/stages/1/judgement", `{"judgment":"perhaps"}`, 400, "INVALID_REQUEST", ""},
		{"judge without body", "POST", "/executions/" + own + "/stages/1/judgement", ``, 400, "INVALID_REQUEST", ""},
		{"judge continue (Orca spelling)", "POST", "/executions/" + own + "/stages/1/judgment", `{"judgmentStatus":"continue","input":"go"}`, 200, "", "RUNNING"},
		{"delete running", "DELETE", "/executions/" + own, "", 409, "INVALID_STATE", ""},
		{"cancel own", "PUT", "/executions/" + own + "/cancel", `{"reason":"wrong timestamp"}`, 200, "", "CANCELED"},
		{"delete canceled", "DELETE", "/executions/" + own, "", 200, "", ""},
		{"get deleted", "GET", "/executions/" + own, "", 404, "NOT_FOUND", ""},
	}
	for _, tt := range tests {
		code, body := do(t, h, tt.method, tt.path, tt.body, abc)
		if code != tt.wantCode {
			t.Fatalf("%s: status %d (%v), want %d", tt.name, code, body, tt.wantCode)
		}
		if tt.wantErr != "" {
			if e, _ := body["error"].(map[string]any); e == nil || e["code"] != tt.wantErr {
				t.Fatalf("%s: body %v, want error code %s", tt.name, body, tt.wantErr)
			}
		}
		if tt.wantStatus != "" {
			if got := body["data"].(map[string]any)["status"]; got != tt.wantStatus {
				t.Fatalf("%s: status %v, want %s", tt.name, got, tt.wantStatus)
			}
		}
	}
}
