package apiwire

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/scaling"
	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/setup/setuptest"
	"github.com/logwise/controlplane/shared/store/storetest"
)

// TestBrokenKafkaSecretFailsOnlyTheKafkaRoutes: the API starts without reading the tenant's
// Kafka secret; when Secrets Manager refuses it, the Kafka routes answer 503 and pipeline
// health reports Kafka DOWN, while every other route works.
func TestBrokenKafkaSecretFailsOnlyTheKafkaRoutes(t *testing.T) {
	var calls atomic.Int32
	sm := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"AccessDeniedException","message":"not authorized to perform secretsmanager:GetSecretValue"}`))
	}))
	defer sm.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", sm.URL)
	env := setuptest.Load(t, "api", fmt.Sprintf(`
deployment: {partition: us-east-1}
database: {dsn: %q}
tenants:
  - name: ABC
    auth: {tokens: ["abc-token"]}
    objectStore: {aws: {bucket: logs, endpointOverride: "http://127.0.0.1:1", pathStyle: true}}
    vector: {host: 127.0.0.1, apiPort: 1}
    kafka: {kafkaBrokersHost: 127.0.0.1, kafkaBrokerPort: 1, credentialsSecretArn: "arn:aws:secretsmanager:us-east-1:1:secret:kafka"}
    spark: {sparkMasterHost: 127.0.0.1, restPort: 1, webPort: 1, sparkJarPath: s3://jars/app.jar}
`, storetest.NewConfig(t).DSN()), setup.Options{})
	ctx := context.Background()
	api, err := New(ctx, env, Options{})
	if err != nil {
		t.Fatalf("the API did not start with a broken Kafka secret: %v", err)
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("the API read %d secrets at start, want none (no token secret is configured)", n)
	}
	call := func(method, path string) (int, string) {
		req := httptest.NewRequest(method, path, nil)
		req.Header.Set("X-Tenant-Name", "ABC")
		req.Header.Set("Authorization", "Bearer abc-token")
		rec := httptest.NewRecorder()
		api.Handler().ServeHTTP(rec, req)
		return rec.Code, rec.Body.String()
	}
	for _, tt := range []struct {
		method, path string
		want         int
		body         string
	}{
		{"GET", "/healthcheck", 200, `"status":"UP"`},
		{"GET", "/service-details", 200, `"serviceDetails":[]`},
		{"GET", "/spark-stage-history", 200, `"sparkStageHistory"`},
		{"POST", "/kafka/scale-partitions", 503, `kafka.credentialsSecretArn`},
		{"GET", "/pipeline/health", 0, `"kafka"`},
	} {
		code, body := call(tt.method, tt.path)
		if tt.want != 0 && code != tt.want || !strings.Contains(body, tt.body) {
			t.Errorf("%s %s = %d %s; want %d containing %s", tt.method, tt.path, code, body, tt.want, tt.body)
		}
		if tt.path == "/pipeline/health" && !strings.Contains(body, "DOWN") {
			t.Errorf("pipeline health with Kafka unavailable: %s; want Kafka DOWN", body)
		}
	}
	if calls.Load() == 0 {
		t.Fatal("the Kafka routes never asked for the secret")
	}
}

// invokes records Lambda invocations.
type invokes struct{ got []*lambda.InvokeInput }

func (f *invokes) Invoke(_ context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	f.got = append(f.got, in)
	return &lambda.InvokeOutput{StatusCode: 202}, nil
}

// TestScalingDecidedByTheAPIIsSentToTheScaler: the API's actuator applies nothing itself; it
// invokes the scaler asynchronously with the tenant, and only for clusters the scaler can
// resize; with no scaler named, decisions are recorded only.
func TestScalingDecidedByTheAPIIsSentToTheScaler(t *testing.T) {
	f := &invokes{}
	a := scalerInvoke{invoke: f.Invoke, function: "logwise-ScalerFunction", tenant: "ABC"}
	got, err := a.Apply(context.Background(), scaling.Decision{Action: scaling.Upscale, From: 2, Target: 5}, scaling.Cluster{})
	if err != nil || got.Target != 5 || !strings.Contains(got.Note, "logwise-ScalerFunction") {
		t.Fatalf("Apply = %+v, %v", got, err)
	}
	if len(f.got) != 1 {
		t.Fatalf("%d invocations, want 1", len(f.got))
	}
	in := f.got[0]
	var body map[string]map[string]string
	_ = json.Unmarshal(in.Payload, &body)
	if aws.ToString(in.FunctionName) != "logwise-ScalerFunction" || in.InvocationType != lambdatypes.InvocationTypeEvent || body["scaleNow"]["tenant"] != "ABC" {
		t.Fatalf("invocation %s %s %s; want an Event invocation of the scaler with {\"scaleNow\":{\"tenant\":\"ABC\"}}", aws.ToString(in.FunctionName), in.InvocationType, in.Payload)
	}

	env := &setup.Env{AWS: aws.Config{Region: "us-east-1"}}
	tenant := func(clusterType string) config.Tenant {
		var t config.Tenant
		t.Name, t.Spark.Cluster.ClusterType = "ABC", clusterType
		return t
	}
	for _, tt := range []struct {
		function, clusterType string
		want                  bool
	}{{"scaler", "asg", true}, {"scaler", "kubernetes", true}, {"scaler", "docker", false}, {"scaler", "", false}, {"", "asg", false}} {
		if got := ViaScaler(env, tt.function)(tenant(tt.clusterType)) != nil; got != tt.want {
			t.Errorf("ViaScaler(%q) for cluster type %q: actuator %v, want %v", tt.function, tt.clusterType, got, tt.want)
		}
	}
}
