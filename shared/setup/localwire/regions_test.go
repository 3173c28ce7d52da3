package localwire

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/logwise/controlplane/internal/mototest"
	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/store/storetest"
)

// region is one deployment of the control plane with its own database and interlink queue.
type testRegion struct {
	name  string
	app   *System
	db    store.Config
	queue string
}

// twoRegions builds us-east-1 (the owner) and us-west-2 (which peers from us-east-1), sharing an
// interlink topic on moto_server, each with the whole system wired.
func twoRegions(t *testing.T) (east, west *testRegion, sqsc *sqs.Client) {
	url := mototest.Start(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	ctx := context.Background()
	mcfg := mototest.Config(url)
	snsc := sns.NewFromConfig(mcfg)
	sqsc = sqs.NewFromConfig(mcfg)
	top, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("logwise-interlink")})
	if err != nil {
		t.Fatal(err)
	}
	queue := func(name string) string {
		q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		attrs, _ := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
		if _, err := snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: top.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(attrs.Attributes["QueueArn"])}); err != nil {
			t.Fatal(err)
		}
		return aws.ToString(q.QueueUrl)
	}
	eastDB, westDB := storetest.NewConfig(t), storetest.NewConfig(t)
	mk := func(name string, db store.Config, peers string) *testRegion {
		y := fmt.Sprintf(`
deployment: {partition: %s, region: us-east-1}
database: {dsn: %q}
peering: {enabled: %v, intervalMs: 100, ownerUnreachableMinutes: 1, peers: [%s]}
interlink: {enabled: true, topicArn: %q, endpointOverride: %q}
api:
  tokens:
    - {name: alice, secret: abc-token, tenant: ABC}
    - {name: oncall, secret: admin-token, role: admin}
tenants:
  - name: ABC
    objectStore: {aws: {bucket: logs, endpointOverride: "http://127.0.0.1:1", pathStyle: true}}
    vector: {host: 127.0.0.1, apiPort: 1}
    kafka: {kafkaBrokersHost: 127.0.0.1, kafkaBrokerPort: 1}
    spark: {sparkMasterHost: 127.0.0.1, restPort: 1, webPort: 1, sparkJarPath: s3://jars/app.jar}
`, name, db.DSN(), peers != "", peers, aws.ToString(top.TopicArn), url)
		return &testRegion{name: name, app: appFromYAML(t, name, y), db: db, queue: queue("interlink-" + name)}
	}
	east = mk("us-east-1", eastDB, "")
	west = mk("us-west-2", westDB, fmt.Sprintf("{id: us-east-1, dsn: %q}", eastDB.DSN()))
	return east, west, sqsc
}

// deliver hands what reached r's queue to its peering function, as the SQS trigger would.
func deliver(t *testing.T, r *testRegion, sqsc *sqs.Client) {
	t.Helper()
	out, err := sqsc.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(r.queue), MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	var recs []map[string]string
	for _, m := range out.Messages {
		recs = append(recs, map[string]string{"messageId": aws.ToString(m.MessageId), "body": aws.ToString(m.Body), "eventSource": "aws:sqs"})
	}
	raw, _ := json.Marshal(map[string]any{"Records": recs})
	if _, err := r.app.Peering.Handler(r.app.jobs, nil)(context.Background(), raw); err != nil {
		t.Fatalf("%s applying its queue: %v", r.name, err)
	}
}

func call(t *testing.T, r *testRegion, method, path, body string) (int, map[string]any) {
	t.Helper()
	return callAs(t, r, "abc-token", method, path, body)
}

// callAs calls r's API for tenant ABC with the given bearer token.
func callAs(t *testing.T, r *testRegion, token, method, path, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("X-Tenant-Name", "ABC")
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	r.app.API.Handler().ServeHTTP(rec, req)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

// pass runs one peering pass in r.
func pass(t *testing.T, r *testRegion) {
	t.Helper()
	c, err := r.app.Peering.Copier(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Pass(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestForeignCancelIsAppliedByItsOwnerAndSeenAfterTheOnDemandCopy(t *testing.T) {
	east, west, sqsc := twoRegions(t)
	ctx := context.Background()
	id, err := east.app.Env.Executions.StartPipeline(ctx, executions.PipelineSpec{Tenant: "ABC", Name: "sparkReplay",
		Stages: []executions.StageSpec{{RefID: "1", Type: "killDriver", Name: "Kill the driver"}}})
	if err != nil {
		t.Fatal(err)
	}
	pass(t, west) // first pass: the completed delta (nothing yet)
	pass(t, west) // from the second pass on, active executions are copied
	if d, err := west.app.Env.Executions.Get(ctx, id); err != nil || d.Owned || d.Status != executions.Running {
		t.Fatalf("west's copy of the east replay: %+v %v", d.Summary, err)
	}

	code, body := call(t, west, "PUT", "/executions/"+id+"/cancel", `{"reason":"replayed the wrong hour"}`)
	if code != http.StatusAccepted {
		t.Fatalf("cancel of a foreign execution: %d %v, want 202", code, body)
	}
	data := body["data"].(map[string]any)
	if data["eventId"] == "" || data["ownerPartition"] != "us-east-1" || data["eventType"] != "CANCEL" {
		t.Fatalf("receipt = %v", data)
	}
	deliver(t, west, sqsc) // west drops it: not its partition
	if d, _ := west.app.Env.Executions.Get(ctx, id); d.Status != executions.Running {
		t.Fatalf("west changed its copy itself: %s", d.Status)
	}
	deliver(t, east, sqsc) // the owner applies it
	if d, _ := east.app.Env.Executions.Get(ctx, id); d.Status != executions.Canceled || d.Body["cancellationReason"] != "replayed the wrong hour" {
		t.Fatalf("owner's execution: %s %v", d.Status, d.Body["cancellationReason"])
	}
	// The on-demand copy requested by the forward brings the outcome back within seconds,
	// without waiting for a scheduled pass.
	waitFor(t, "west to see the cancel", func() bool {
		d, err := west.app.Env.Executions.Get(ctx, id)
		return err == nil && d.Status == executions.Canceled
	})
}

func TestInterlinkOffRefusesWith409NamingTheOwner(t *testing.T) {
	_, west, _ := twoRegions(t)
	west.app.Env.Config.Interlink.Enabled, west.app.Env.Config.Interlink.TopicARN = false, "" // interlink off
	rebuilt, err := New(context.Background(), west.app.Env)
	if err != nil {
		t.Fatal(err)
	}
	west.app = rebuilt
	ctx := context.Background()
	foreign, _ := executions.NewRepository(west.app.Env.Store.SQL(), "us-east-1").StartPipeline(ctx, executions.PipelineSpec{Tenant: "ABC", Name: "x"})
	code, body := call(t, west, "PUT", "/executions/"+foreign+"/pause", "")
	e, _ := body["error"].(map[string]any)
	if code != http.StatusConflict || e["code"] != "FOREIGN_EXECUTION" || !strings.Contains(e["message"].(string), "owned by partition us-east-1") {
		t.Fatalf("got %d %v, want 409 FOREIGN_EXECUTION naming us-east-1", code, body)
	}
}

func TestTakeoverOnlyWhenTheOwnerIsGoneAndNotUndoneByPeering(t *testing.T) {
	east, west, sqsc := twoRegions(t)
	ctx := context.Background()
	id, _ := east.app.Env.Executions.StartPipeline(ctx, executions.PipelineSpec{Tenant: "ABC", Name: "sparkReplay",
		Stages: []executions.StageSpec{{RefID: "1", Type: "killDriver", Name: "Kill"}, {RefID: "2", Type: "deleteCheckpoint", Name: "Delete"}}})
	pass(t, west)
	pass(t, west)

	code, body := call(t, west, "POST", "/executions/"+id+"/takeover", `{"reason":"us-east-1 is down"}`)
	if e, _ := body["error"].(map[string]any); code != http.StatusConflict || e["code"] != "OWNER_REACHABLE" {
		t.Fatalf("takeover while the owner answers: %d %v, want 409 OWNER_REACHABLE", code, body)
	}
	if code, _ := call(t, west, "POST", "/executions/"+id+"/takeover", `{}`); code != http.StatusBadRequest {
		t.Fatalf("takeover without a reason: %d, want 400", code)
	}
	// The owner's database has stopped answering for two minutes (the configured minimum is
	// one): recorded here as the copier records a failed ping (the detection itself is tested
	// in shared/peering, TestPassRecordsPeerReachability).
	if err := west.app.Env.Store.RecordPeerContact(ctx, "us-east-1", false, time.Now().Add(-2*time.Minute), "dial tcp 127.0.0.1:3306: connect: connection refused"); err != nil {
		t.Fatal(err)
	}
	code, body = call(t, west, "POST", "/executions/"+id+"/takeover", `{"reason":"us-east-1 is down","user":"someone-else@example.com"}`)
	if code != http.StatusOK || body["data"].(map[string]any)["owned"] != true || body["data"].(map[string]any)["partition"] != "us-west-2" {
		t.Fatalf("takeover after the owner went away: %d %v", code, body)
	}
	d, _ := west.app.Env.Executions.Get(ctx, id)
	tk := d.Body["context"].(map[string]any)["takeover"].(map[string]any)
	if tk["by"] != "alice" || tk["fromPartition"] != "us-east-1" || tk["reason"] != "us-east-1 is down" {
		t.Fatalf("takeover record = %v", tk)
	}
	// The owner comes back and keeps writing its (now stale) row; peering never undoes the
	// takeover.
	if _, err := east.app.Env.Executions.UpdateStage(ctx, id, "1", executions.Succeeded, map[string]any{"late": true}); err != nil {
		t.Fatal(err)
	}
	rebuilt, err := New(ctx, west.app.Env)
	if err != nil {
		t.Fatal(err)
	}
	west.app = rebuilt
	pass(t, west)
	pass(t, west)
	d, _ = west.app.Env.Executions.Get(ctx, id)
	if !d.Owned || d.Partition != "us-west-2" {
		t.Fatalf("after peering passes the taken-over execution is %+v", d.Summary)
	}
	st, _ := d.StageOf("1")
	if st.Context["late"] == true {
		t.Fatalf("peering copied the old owner's write over the taken-over execution")
	}
	// A forced takeover is allowed at once and recorded as forced.
	id2, _ := east.app.Env.Executions.StartPipeline(ctx, executions.PipelineSpec{Tenant: "ABC", Name: "x"})
	pass(t, west)
	if _, err := west.app.Env.Store.SQL().Exec("UPDATE peer_contacts SET unreachable_since_ms = NULL"); err != nil {
		t.Fatal(err)
	}
	if code, body := call(t, west, "POST", "/executions/"+id2+"/takeover", `{"reason":"drill","force":true}`); code != http.StatusForbidden {
		t.Fatalf("forced takeover with a tenant token: %d %v, want 403", code, body)
	}
	code, body = callAs(t, west, "admin-token", "POST", "/executions/"+id2+"/takeover", `{"reason":"drill","force":true}`)
	if code != http.StatusOK {
		t.Fatalf("forced takeover: %d %v", code, body)
	}
	d, _ = west.app.Env.Executions.Get(ctx, id2)
	if tk := d.Body["context"].(map[string]any)["takeover"].(map[string]any); tk["force"] != true || tk["by"] != "oncall" {
		t.Fatalf("forced takeover recorded as %v; want forced, by oncall", d.Body["context"])
	}
	// The former owner hears of both takeovers and stands down.
	deliver(t, east, sqsc)
	for _, x := range []string{id, id2} {
		if d, _ := east.app.Env.Executions.Get(ctx, x); d.Owned || d.Partition != "us-west-2" {
			t.Fatalf("east's %s after the TAKEOVER events: %+v; want owned by us-west-2", x, d.Summary)
		}
		if _, err := east.app.Env.Executions.Cancel(ctx, x, "east-runner", "late"); !fault.Is(err, fault.Conflict) {
			t.Fatalf("east acting on %s after ceding it: %v; want FOREIGN_EXECUTION", x, err)
		}
	}
}

func TestRetentionTombstonesAreAppliedByThePeerRegion(t *testing.T) {
	east, west, _ := twoRegions(t)
	ctx := context.Background()
	old, _ := east.app.Env.Executions.Record(ctx, executions.Action{Tenant: "ABC", Kind: "scaleWorkers", Description: "an old decision"})
	kept, _ := east.app.Env.Executions.StartPipeline(ctx, executions.PipelineSpec{Tenant: "ABC", Name: "sparkReplay"})
	pass(t, west)
	pass(t, west)
	for _, id := range []string{old, kept} {
		if _, err := west.app.Env.Executions.Get(ctx, id); err != nil {
			t.Fatalf("west has no copy of %s before retention: %v", id, err)
		}
	}
	// East's retention deletes its finished executions older than the cutoff, with tombstones.
	n, err := east.app.Env.Executions.PurgeCompleted(ctx, time.Now().Add(time.Minute), 100)
	if err != nil || n != 1 {
		t.Fatalf("east purged %d, %v; want the one finished execution", n, err)
	}
	pass(t, west)
	if _, err := west.app.Env.Executions.Get(ctx, old); err == nil {
		t.Fatalf("west still has %s after east's tombstone was peered", old)
	}
	if _, err := west.app.Env.Executions.Get(ctx, kept); err != nil {
		t.Fatalf("west lost the running replay %s: %v", kept, err)
	}
}
