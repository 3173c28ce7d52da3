package localwire

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/setup/setuptest"
	"github.com/logwise/controlplane/shared/spark/sparktest"
	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/store/storetest"
)

// kubeDeployment is a Kubernetes API server holding one Deployment's scale subresource.
type kubeDeployment struct {
	mu       sync.Mutex
	replicas int
	patches  []string
}

func (k *kubeDeployment) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer kube-token" {
		http.Error(w, `{"kind":"Status","reason":"Unauthorized","code":401}`, http.StatusUnauthorized)
		return
	}
	if r.URL.Path != "/apis/apps/v1/namespaces/logwise/deployments/spark-worker/scale" {
		http.Error(w, `{"kind":"Status","reason":"NotFound","code":404}`, http.StatusNotFound)
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if r.Method == http.MethodPatch {
		b, _ := io.ReadAll(r.Body)
		k.patches = append(k.patches, string(b))
		var s struct {
			Spec struct{ Replicas int } `json:"spec"`
		}
		_ = json.Unmarshal(b, &s)
		k.replicas = s.Spec.Replicas
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"kind":"Scale","apiVersion":"autoscaling/v1","spec":{"replicas":%d},"status":{"replicas":%d,"selector":"app=spark-worker"}}`, k.replicas, k.replicas)
}

// databases are the two databases the API suite runs on: MariaDB, and the embedded
// go-mysql-server with the one-connection pool `make run` uses by default.
var databases = []struct {
	name string
	new  func(testing.TB) store.Config
}{{"mariadb", storetest.NewConfig}, {"embedded", storetest.NewEmbeddedConfig}}

// onEachDatabase runs test once per database, in parallel subtests.
func onEachDatabase(t *testing.T, test func(t *testing.T, db store.Config)) {
	for _, d := range databases {
		t.Run(d.name, func(t *testing.T) {
			test(t, d.new(t))
		})
	}
}

// wiredApp is the whole API over db with the tenant's pipeline on loopback: the Spark
// master simulator with two workers, S3 holding the file-sink log, Kafka, and a Kubernetes
// Deployment of workers.
func wiredApp(t *testing.T, db store.Config) (*System, *sparktest.Master, *kubeDeployment) {
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	master := sparktest.NewMaster(sparktest.Options{Workers: []sparktest.WorkerSpec{{Cores: 2}, {Cores: 2}}})
	t.Cleanup(master.Close)
	s3srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(s3srv.Close)
	cl := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(s3srv.URL), UsePathStyle: true, Credentials: aws.AnonymousCredentials{}})
	ctx := context.Background()
	if _, err := cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("logs")}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"9.compact", "10", "11", "12"} { // the latest batch, 12, allows scaling
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("logs"), Key: aws.String("logs/_spark_metadata/" + n), Body: strings.NewReader("v1")}); err != nil {
			t.Fatal(err)
		}
	}
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "logs.api"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	kube := &kubeDeployment{replicas: 2}
	ksrv := httptest.NewTLSServer(kube)
	t.Cleanup(ksrv.Close)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.crt")
	tok := filepath.Join(dir, "token")
	_ = os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ksrv.Certificate().Raw}), 0o600)
	_ = os.WriteFile(tok, []byte("kube-token\n"), 0o600)
	khost, kport, _ := strings.Cut(kc.ListenAddrs()[0], ":")
	y := fmt.Sprintf(`
deployment: {partition: us-east-1}
database: {dsn: %q}
tenants:
  - name: ABC
    auth: {tokens: ["abc-token"]}
    objectStore: {aws: {bucket: logs, endpointOverride: %q, pathStyle: true}}
    vector: {host: 127.0.0.1, apiPort: 1}
    kafka: {kafkaBrokersHost: %q, kafkaBrokerPort: %s}
    spark:
      restUrl: %q
      webUrl: %q
      sparkJarPath: s3://jars/app.jar
      cluster: {clusterType: kubernetes, kubernetes: {apiServer: %q, caFile: %q, tokenFile: %q}}
`, db.DSN(), s3srv.URL, khost, kport, master.RestURL(), master.WebURL(), ksrv.URL, ca, tok)
	return appFromYAMLPool(t, "test", y, db.MaxOpenConns), master, kube
}

// appFromYAML loads and wires the whole system from a configuration, as the local runner does.
func appFromYAML(t *testing.T, name, y string) *System {
	t.Helper()
	return appFromYAMLPool(t, name, y, 0)
}

// appFromYAMLPool is appFromYAML with the store's pool bounded to maxOpenConns (0: the default).
func appFromYAMLPool(t *testing.T, name, y string, maxOpenConns int) *System {
	t.Helper()
	env := setuptest.Load(t, name, y, setup.Options{MaxOpenConns: maxOpenConns})
	app, err := New(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)
	return app
}

func apiCall(t *testing.T, app *System, method, path, body string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("X-Tenant-Name", "ABC")
	req.Header.Set("Authorization", "Bearer abc-token")
	rec := httptest.NewRecorder()
	app.API.Handler().ServeHTTP(rec, req)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: body is not JSON: %q", method, path, rec.Body.String())
	}
	return rec.Code, out
}

func TestStageReportsPostedThroughTheAPIScaleTheWorkers(t *testing.T) {
	onEachDatabase(t, testStageReportsScaleTheWorkers)
}

func testStageReportsScaleTheWorkers(t *testing.T, db store.Config) {
	app, master, kube := wiredApp(t, db)

	// The job is submitted through the API and runs on a worker.
	code, body := apiCall(t, app, "POST", "/monitor-spark-job", `{"driverCores": 1}`)
	if code != 200 || body["data"].(map[string]any)["submissionId"] == nil {
		t.Fatalf("monitor: %d %v", code, body)
	}
	master.Step()

	// Bad reports are refused, naming the field, and nothing is stored.
	for _, bad := range []string{`{}`, `{"sparkStageHistory":{"inputRecords":-5,"outputBytes":1,"submissionTime":1,"completionTime":2,"status":"succeeded"}}`, `not json`} {
		if code, body := apiCall(t, app, "POST", "/scale-spark-cluster", bad); code != 400 || body["error"] == nil {
			t.Fatalf("bad report %s: %d %v", bad, code, body)
		}
	}
	if code, body := apiCall(t, app, "GET", "/spark-stage-history", ""); code != 200 || len(body["data"].(map[string]any)["sparkStageHistory"].([]any)) != 0 {
		t.Fatalf("history after refused reports: %d %v", code, body)
	}

	// Five reports of a heavy load (the Spark job's body, coresUsed missing in one).
	var last map[string]any
	now := time.Now().UnixMilli()
	for i := 0; i < 5; i++ {
		cores := `,"coresUsed": 4`
		if i == 2 {
			cores = ""
		}
		report := fmt.Sprintf(`{"enableUpScale":true,"sparkStageHistory":{"inputRecords":%d,"outputBytes":1000,"submissionTime":%d,"completionTime":%d,"status":"succeeded"%s}}`,
			4_000_000+i*10_000, now+int64(i)*60_000, now+int64(i)*60_000+30_000, cores)
		code, body := apiCall(t, app, "POST", "/scale-spark-cluster", report)
		if code != 200 {
			t.Fatalf("report %d: %d %v", i, code, body)
		}
		last = body["data"].(map[string]any)
	}
	d := last["decision"].(map[string]any)
	if d["action"] != "upscale" || d["from"].(float64) != 2 {
		t.Fatalf("decision after five heavy reports = %v", d)
	}
	target := int(d["target"].(float64))
	kube.mu.Lock()
	replicas, patches := kube.replicas, len(kube.patches)
	kube.mu.Unlock()
	if replicas != target || patches != 1 || target <= 2 {
		t.Fatalf("deployment replicas = %d after %d patches; want the decision's target %d (> 2)", replicas, patches, target)
	}
	if last["executionId"] == nil {
		t.Fatalf("the decision was not recorded as an execution: %v", last)
	}

	// An override that disables upscaling wins over the job's flag; null clears it.
	if code, _ := apiCall(t, app, "POST", "/update-spark-scale-override", `{"enableUpScale": false, "enableDownScale": null}`); code != 200 {
		t.Fatalf("override: %d", code)
	}
	if code, _ := apiCall(t, app, "POST", "/update-spark-scale-override", `{"enableUpScale": false, "enableDownScale": null}`); code != 200 {
		t.Fatalf("sending the same override twice: %d", code)
	}
	kube.mu.Lock()
	kube.replicas = 2 // someone scaled the workers back by hand
	kube.mu.Unlock()
	code, body = apiCall(t, app, "POST", "/scale-spark-cluster", fmt.Sprintf(`{"enableUpScale":true,"sparkStageHistory":{"inputRecords":4100000,"outputBytes":1,"submissionTime":%d,"completionTime":%d,"status":"succeeded"}}`, now+600_000, now+630_000))
	if d := body["data"].(map[string]any)["decision"].(map[string]any); code != 200 || d["action"] != "none" || d["upscaleEnabled"] != false {
		t.Fatalf("with upscaling overridden off: %d %v", code, body)
	}
	code, body = apiCall(t, app, "GET", "/spark-stage-history?limit=3", "")
	hist := body["data"].(map[string]any)["sparkStageHistory"].([]any)
	if code != 200 || len(hist) != 3 || hist[0].(map[string]any)["inputRecords"].(float64) != 4_100_000 {
		t.Fatalf("history newest first, limited: %d %v", code, body)
	}
	if code, body := apiCall(t, app, "GET", "/spark-stage-history?limit=100000", ""); code != 400 || body["error"] == nil {
		t.Fatalf("unbounded limit: %d %v", code, body)
	}
}

// TestSupervisionAndReplayRoutes runs on both databases: on the embedded one, a route that
// opens a second connection inside its transaction would wait for itself (POST /replays did).
func TestSupervisionAndReplayRoutes(t *testing.T) {
	onEachDatabase(t, testSupervisionAndReplayRoutes)
}

func testSupervisionAndReplayRoutes(t *testing.T, db store.Config) {
	app, master, _ := wiredApp(t, db)
	code, body := apiCall(t, app, "GET", "/spark/supervision", "")
	if code != 200 || body["data"].(map[string]any)["state"] != "ACTIVE" {
		t.Fatalf("supervision: %d %v", code, body)
	}
	if code, body := apiCall(t, app, "POST", "/monitor-spark-job", `{"driverCores": 0}`); code != 400 || body["error"] == nil {
		t.Fatalf("driverCores 0: %d %v", code, body)
	}
	code, body = apiCall(t, app, "POST", "/monitor-spark-job", "")
	if code != 200 || body["data"].(map[string]any)["success"] != true || len(master.Submissions()) != 1 {
		t.Fatalf("monitor: %d %v, submissions %d", code, body, len(master.Submissions()))
	}
	code, body = apiCall(t, app, "POST", "/monitor-spark-job", "")
	if code != 200 || len(master.Submissions()) != 1 {
		t.Fatalf("a second check with the driver SUBMITTED submitted again: %d %v", code, body)
	}
	if code, _ := apiCall(t, app, "POST", "/spark/supervision/pause", ""); code != 200 {
		t.Fatalf("pause: %d", code)
	}
	if code, body := apiCall(t, app, "GET", "/spark/supervision", ""); body["data"].(map[string]any)["state"] != "PAUSED" {
		t.Fatalf("after pause: %d %v", code, body)
	}
	if code, _ := apiCall(t, app, "POST", "/spark/supervision/resume", ""); code != 200 {
		t.Fatalf("resume: %d", code)
	}
	future := time.Now().Add(time.Hour).UnixMilli()
	code, body = apiCall(t, app, "POST", "/replays", fmt.Sprintf(`{"startingOffsetsTimestamp":%d,"resumeToSubscribePatternTimestamp":%d,"approvalRequired":true}`, future, future+3_600_000))
	if code != 201 {
		t.Fatalf("create replay: %d %v", code, body)
	}
	id := int(body["data"].(map[string]any)["id"].(float64))
	if code, body := apiCall(t, app, "POST", "/replays", `{"startingOffsetsTimestamp":5,"resumeToSubscribePatternTimestamp":1}`); code != 400 || body["error"] == nil {
		t.Fatalf("resume before start: %d %v", code, body)
	}
	code, body = apiCall(t, app, "GET", "/replays", "")
	if reps := body["data"].(map[string]any)["replays"].([]any); code != 200 || len(reps) != 1 {
		t.Fatalf("list replays: %d %v", code, body)
	}
	if code, body := apiCall(t, app, "POST", fmt.Sprintf("/replays/%d/cancel", id), ""); code != 200 || body["data"].(map[string]any)["canceledBy"] == nil {
		t.Fatalf("cancel replay: %d %v", code, body)
	}
	if code, _ := apiCall(t, app, "POST", "/replays/x/cancel", ""); code != 400 {
		t.Fatalf("bad replay id: %d", code)
	}
}
