package executions_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/store/storetest"
)

func TestRecordWritesOrchestrationInLocalPartition(t *testing.T) {
	t.Parallel()
	db := storetest.New(t)
	log := executions.NewLog(db.SQL(), "us-east-1")
	now := time.Date(2031, 11, 22, 12, 0, 0, 0, time.UTC)
	log.SetClock(func() time.Time { return now })

	id, err := log.Record(context.Background(), executions.Action{
		Tenant: "ABC", Kind: "sparkSubmission", Description: "no driver alive",
		Inputs: map[string]any{"drivers": 0}, Rule: "no active driver", Outcome: map[string]any{"submissionId": "driver-1"},
	})
	if err != nil {
		t.Fatalf("record: %v", err)
	}
	var partition, app, status, body string
	var canceled []byte
	if err := db.SQL().QueryRow("SELECT `partition`, application, status, canceled, body FROM orchestrations WHERE id = ?", id).
		Scan(&partition, &app, &status, &canceled, &body); err != nil {
		t.Fatalf("read back: %v", err)
	}
	if partition != "us-east-1" || app != "ABC" || status != "SUCCEEDED" || len(canceled) != 1 || canceled[0] != 0 {
		t.Fatalf("row = (%s, %s, %s, %v), want (us-east-1, ABC, SUCCEEDED, [0])", partition, app, status, canceled)
	}
	var ex executions.Execution
	if err := json.Unmarshal([]byte(body), &ex); err != nil {
		t.Fatalf("body is not JSON: %v", err)
	}
	if ex.ID != id || ex.Type != executions.Orchestration || ex.Context["rule"] != "no active driver" || ex.BuildTime != now.UnixMilli() {
		t.Fatalf("body = %+v", ex)
	}
	var stageBody string
	if err := db.SQL().QueryRow("SELECT body FROM orchestration_stages WHERE execution_id = ?", id).Scan(&stageBody); err != nil {
		t.Fatalf("stage: %v", err)
	}
	var st executions.Stage
	_ = json.Unmarshal([]byte(stageBody), &st)
	if st.Type != "sparkSubmission" || st.Context["outcome"].(map[string]any)["submissionId"] != "driver-1" {
		t.Fatalf("stage = %+v", st)
	}
}
