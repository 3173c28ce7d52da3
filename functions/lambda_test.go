// Package functions_test builds every function's bootstrap the way `sam build` does and
// invokes it with the events in events/ through a fake Lambda Runtime API, as
// `sam local invoke -e events/<file>` would.
package functions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
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
	"go.uber.org/goleak"

	"github.com/logwise/controlplane/internal/lambdarun"
	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/reconcile"
	"github.com/logwise/controlplane/shared/spark/sparktest"
	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/store/storetest"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bootstraps")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil { // what goleak.VerifyTestMain checks
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// functionNames are the functions under ./functions, each a bootstrap.
var functionNames = []string{"api", "sparkmonitor", "scaler", "discovery", "peering", "migrate"}

var (
	buildOnce sync.Once
	buildErr  error
)

// build returns ./functions/<name> compiled as the Makefile's build-<LogicalId> target does.
// The first call builds every bootstrap in one go build (the packages they share compile
// once); the tests that follow share the binaries.
func build(t testing.TB, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		args := []string{"build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", binDir + string(os.PathSeparator)}
		for _, f := range functionNames {
			args = append(args, "./"+f)
		}
		cmd := exec.Command("go", args...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, b)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, name)
}

func event(t testing.TB, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "events", file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pipeline is the tenant's pipeline the bootstraps reach on loopback: the Spark master
// simulator, an S3 stand-in and a Kafka cluster, all in this test process.
type pipeline struct {
	master  *sparktest.Master
	s3URL   string
	s3      *s3.Client
	kafka   *kfake.Cluster
	peerDSN string // a peer region's database, for the peering function
}

func newPipeline(t testing.TB) *pipeline {
	t.Helper()
	m := sparktest.NewMaster(sparktest.Options{})
	t.Cleanup(m.Close)
	s3srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(s3srv.Close)
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(s3srv.URL), UsePathStyle: true, Credentials: aws.AnonymousCredentials{}})
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("logs-abc")}); err != nil {
		t.Fatal(err)
	}
	kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "logs.api"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	return &pipeline{master: m, s3URL: s3srv.URL, s3: client, kafka: kc}
}

// testConfig is the configuration the bootstraps get through CONFIG_YAML.
func testConfig(t testing.TB, p *pipeline) string {
	return testConfigOn(t, p, migrated(t))
}

// migrated returns a new database with the schema applied, as the migrate function leaves it
// at deploy time (the other functions refuse an older schema).
func migrated(t testing.TB) store.Config {
	t.Helper()
	cfg := storetest.NewConfig(t)
	db, err := store.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// testConfigOn is testConfig on a given database.
func testConfigOn(t testing.TB, p *pipeline, db store.Config) string {
	spark := "{sparkMasterHost: 127.0.0.1, restPort: 1, webPort: 1, sparkJarPath: s3://jars/logwise.jar}"
	s3url, kafkaHost, kafkaPort := "http://127.0.0.1:1", "127.0.0.1", "1"
	if p != nil {
		spark = fmt.Sprintf("{restUrl: %q, webUrl: %q, sparkJarPath: s3://jars/logwise.jar, monitor: {pollIntervalSeconds: 1, durationSeconds: 2}}", p.master.RestURL(), p.master.WebURL())
		s3url = p.s3URL
		kafkaHost, kafkaPort, _ = strings.Cut(p.kafka.ListenAddrs()[0], ":")
	}
	return fmt.Sprintf(`
deployment: {partition: us-east-1, region: us-east-1}
database: {dsn: "%s"}%s
tenants:
  - name: ABC
    auth: {tokens: ["local-dev-token"]}
    objectStore: {aws: {bucket: logs-abc, endpointOverride: "%s", pathStyle: true}}
    vector: {host: 127.0.0.1, apiPort: 1}
    kafka: {kafkaBrokersHost: "%s", kafkaBrokerPort: %s}
    spark: %s
`, db.DSN(), p.peeringYAML(), s3url, kafkaHost, kafkaPort, spark)
}

// peeringYAML configures a peer region's database when the test gave one.
func (p *pipeline) peeringYAML() string {
	if p == nil || p.peerDSN == "" {
		return ""
	}
	return fmt.Sprintf("\npeering: {enabled: true, intervalMs: 200, peers: [{id: eu-west-1, dsn: %q}]}", p.peerDSN)
}

func start(t testing.TB, name, cfg string, env ...string) *lambdarun.Process {
	t.Helper()
	p, err := lambdarun.Start(build(t, name), append([]string{"CONFIG_YAML=" + cfg, "AWS_LAMBDA_FUNCTION_NAME=" + name}, env...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := p.WaitReady(ctx); err != nil {
		t.Fatalf("%s bootstrap: %v", name, err)
	}
	return p
}

type proxyResponse struct {
	StatusCode        int                 `json:"statusCode"`
	Headers           map[string]string   `json:"headers"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
	Body              string              `json:"body"`
}

func TestAPIBootstrapAnswersEvents(t *testing.T) {
	p := start(t, "api", testConfig(t, nil))
	tests := []struct {
		event      string
		wantStatus int
		wantBody   string
	}{
		{"api-healthcheck-httpapi.json", 200, `"status":"UP"`},
		{"api-healthcheck-httpapi-stage.json", 200, `"status":"UP"`},
		{"api-healthcheck-rest.json", 200, `"status":"UP"`},
		{"api-liveness-httpapi.json", 200, `Success`},
		{"api-service-details-httpapi.json", 200, `{"data":{"serviceDetails":[]}}`},
		{"api-service-details-rest.json", 200, `{"data":{"serviceDetails":[]}}`},
		{"api-service-details-no-tenant-httpapi.json", 400, `"code":"MISSING_TENANT"`},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var resp proxyResponse
			res, err := p.InvokeJSON(ctx, event(t, tt.event), &resp)
			if err != nil {
				t.Fatal(err)
			}
			if res.Error {
				t.Fatalf("function error: %s", res.Body)
			}
			if resp.StatusCode != tt.wantStatus || !strings.Contains(resp.Body, tt.wantBody) {
				t.Fatalf("got %d %s, want %d containing %s", resp.StatusCode, resp.Body, tt.wantStatus, tt.wantBody)
			}
		})
	}
	// Every log line the function wrote is JSON (CloudWatch Logs Insights parses it) and
	// none carries the token.
	for _, line := range p.Output.Lines() {
		if line == "" {
			continue
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Errorf("log line is not JSON: %s", line)
		}
		if strings.Contains(line, "local-dev-token") {
			t.Errorf("log line leaks the API token: %s", line)
		}
	}
}

func TestBadConfigurationFailsAtStartNamingTheKey(t *testing.T) {
	p, err := lambdarun.Start(build(t, "api"), []string{"CONFIG_YAML=deployment: {partition: p}\ntenants: []\n"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = p.WaitReady(ctx)
	if err == nil || !strings.Contains(err.Error(), "tenants: at least one tenant is required") {
		t.Fatalf("start with a bad configuration: err = %v, want a failure naming tenants", err)
	}
}

// invokeScheduled invokes a scheduled function with its EventBridge event and returns the
// summary it answered.
func invokeScheduled(t *testing.T, p *lambdarun.Process, eventFile string) reconcile.Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var sum reconcile.Summary
	res, err := p.InvokeJSON(ctx, event(t, eventFile), &sum)
	if err != nil {
		t.Fatal(err)
	}
	if res.Error {
		t.Fatalf("%s: function error %s\noutput:\n%s", eventFile, res.Body, p.Output.String())
	}
	return sum
}

func TestSparkMonitorBootstrapSubmitsTheMissingDriver(t *testing.T) {
	pl := newPipeline(t)
	p := start(t, "sparkmonitor", testConfig(t, pl))
	sum := invokeScheduled(t, p, "sparkmonitor-schedule.json")
	if sum.Job != "sparkmonitor" || len(sum.Results) != 1 || sum.Results[0].Key != "ABC" || sum.Results[0].Outcome != reconcile.Done {
		t.Fatalf("summary = %+v", sum)
	}
	if n := len(pl.master.Submissions()); n != 1 {
		t.Fatalf("submissions at the master = %d, want 1", n)
	}
	// The next tick finds the driver SUBMITTED (alive) and submits nothing more.
	sum = invokeScheduled(t, p, "sparkmonitor-schedule.json")
	if sum.Results[0].Outcome != reconcile.Done || len(pl.master.Submissions()) != 1 {
		t.Fatalf("second tick: %+v, submissions %d; want no new submission", sum, len(pl.master.Submissions()))
	}
}

func TestScalerBootstrapDecidesForEachTenant(t *testing.T) {
	pl := newPipeline(t)
	p := start(t, "scaler", testConfig(t, pl))
	sum := invokeScheduled(t, p, "scaler-schedule.json")
	if sum.Job != "scaler" || len(sum.Results) != 1 || sum.Results[0].Outcome != reconcile.Done {
		t.Fatalf("summary = %+v\noutput:\n%s", sum, p.Output.String())
	}
	detail, _ := json.Marshal(sum.Results[0].Detail)
	if !strings.Contains(string(detail), "logs.api") {
		t.Fatalf("the scaler did not sample the tenant's Kafka topic: %s", detail)
	}
}

func TestDiscoveryBootstrapOnboardsServicesFoundInS3(t *testing.T) {
	pl := newPipeline(t)
	now := time.Now().UTC()
	for _, svc := range []string{"checkout", "payments"} {
		key := fmt.Sprintf("logs/service_name=%s/year=%04d/month=%02d/day=%02d/hour=%02d/minute=%02d/part-00000.parquet",
			svc, now.Year(), now.Month(), now.Day(), now.Hour(), now.Minute())
		if _, err := pl.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("logs-abc"), Key: aws.String(key), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := testConfig(t, pl)
	p := start(t, "discovery", cfg)
	sum := invokeScheduled(t, p, "discovery-schedule.json")
	if sum.Job != "discovery" || len(sum.Results) == 0 || sum.Results[0].Outcome != reconcile.Done {
		t.Fatalf("summary = %+v\noutput:\n%s", sum, p.Output.String())
	}
	detail, _ := json.Marshal(sum.Results[0].Detail)
	for _, want := range []string{"checkout", "payments"} {
		if !strings.Contains(string(detail), want) {
			t.Fatalf("discovery did not onboard %s: %s", want, detail)
		}
	}
	// The delay is published as EMF on stdout, one line per canary and tenant.
	if !strings.Contains(p.Output.String(), `"AppLogsDelayMinutes"`) {
		t.Fatalf("no AppLogsDelayMinutes EMF line in the output:\n%s", p.Output.String())
	}
}

func TestPeeringBootstrapTakesScheduleQueueAndOnDemandEvents(t *testing.T) {
	pl := newPipeline(t)
	peer := storetest.New(t) // the peer region's database (eu-west-1), migrated
	peerCfg, err := store.ParseDSN(storetestDSN(t, peer))
	if err != nil {
		t.Fatal(err)
	}
	pl.peerDSN = peerCfg.DSN()
	cfg := testConfig(t, pl)
	mustExecSQL(t, peer, "INSERT INTO pipelines (id, `partition`, application, status, build_time, updated_at, canceled, body) VALUES "+
		"('01JDEMOREPLAY0000000000003', 'eu-west-1', 'ABC', 'RUNNING', 1, 1000, b'0', '{\"id\":\"01JDEMOREPLAY0000000000003\"}')")
	p := start(t, "peering", cfg)
	p.Runtime.Timeout = 8 * time.Second // the copier loops passes until 5 s before the deadline
	local := openLocal(t, cfg)
	mustExecSQL(t, local, "INSERT INTO pipelines (id, `partition`, application, status, build_time, updated_at, canceled, body) VALUES "+
		"('01JDEMOREPLAY0000000000001', 'us-east-1', 'ABC', 'RUNNING', 1, 1, b'0', '{\"id\":\"01JDEMOREPLAY0000000000001\",\"status\":\"RUNNING\"}')")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var batch struct {
		BatchItemFailures []struct{ ItemIdentifier string } `json:"batchItemFailures"`
	}
	if _, err := p.InvokeJSON(ctx, event(t, "peering-interlink-sqs.json"), &batch); err != nil {
		t.Fatal(err)
	}
	if len(batch.BatchItemFailures) != 0 {
		t.Fatalf("batch failures %+v: a malformed message is dropped, a foreign one ignored, ours applied", batch)
	}
	var status string
	if err := local.SQL().QueryRow("SELECT status FROM pipelines WHERE id = '01JDEMOREPLAY0000000000001'").Scan(&status); err != nil || status != "CANCELED" {
		t.Fatalf("the CANCEL for our partition: status %s, %v", status, err)
	}

	var copied []map[string]any
	if _, err := p.InvokeJSON(ctx, event(t, "peering-copy-now.json"), &copied); err != nil {
		t.Fatal(err)
	}
	var part string
	if err := local.SQL().QueryRow("SELECT `partition` FROM pipelines WHERE id = '01JDEMOREPLAY0000000000003'").Scan(&part); err != nil || part != "eu-west-1" {
		t.Fatalf("on-demand copy: partition %q, %v (answer %v)", part, err, copied)
	}

	var sum reconcile.Summary
	if res, err := p.InvokeJSON(ctx, event(t, "peering-schedule.json"), &sum); err != nil || res.Error {
		t.Fatalf("scheduled run: %v %s", err, res.Body)
	}
	if sum.Job != "peeringcopier" || len(sum.Results) != 1 || sum.Results[0].Outcome != reconcile.Done {
		t.Fatalf("scheduled run summary = %+v", sum)
	}
}

// openLocal opens the database a bootstrap was configured with.
func openLocal(t *testing.T, cfgYAML string) *store.DB {
	t.Helper()
	cfg, err := config.Parse([]byte(cfgYAML), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	sc, err := store.ParseDSN(cfg.Database.DSN)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExecSQL(t *testing.T, db *store.DB, q string) {
	t.Helper()
	if _, err := db.SQL().Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// storetestDSN returns the DSN of a store opened by storetest.
func storetestDSN(t testing.TB, db *store.DB) string {
	t.Helper()
	var name string
	if err := db.SQL().QueryRow("SELECT DATABASE()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	base, err := store.ParseDSN(storetest.ServerDSN())
	if err != nil {
		t.Fatal(err)
	}
	base.Name = name
	return base.DSN()
}
