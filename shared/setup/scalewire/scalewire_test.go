package scalewire_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/logstore/s3test"
	"github.com/logwise/controlplane/shared/scaling"
	"github.com/logwise/controlplane/shared/scaling/actuators"
	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/setup/buckets"
	"github.com/logwise/controlplane/shared/setup/scalewire"
	"github.com/logwise/controlplane/shared/setup/setuptest"
	"github.com/logwise/controlplane/shared/spark/sparktest"
	"github.com/logwise/controlplane/shared/store/storetest"
	"github.com/logwise/controlplane/shared/tracing"
)

// TestScalerAppliesTheAPIsScaleNow: the scaler function takes {"scaleNow":{"tenant":...}}
// (sent by the API) and decides and records under the tenant's lease; while a scheduled run
// holds the lease it leaves the decision to that run and says so.
func TestScalerAppliesTheAPIsScaleNow(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	master := sparktest.NewMaster(sparktest.Options{Workers: []sparktest.WorkerSpec{{Cores: 2}, {Cores: 2}}})
	t.Cleanup(master.Close)
	s3 := s3test.New(t)
	env := setuptest.Load(t, "scaler", fmt.Sprintf(`
deployment: {partition: us-east-1}
database: {dsn: %q}
tenants:
  - name: ABC
    auth: {tokens: ["abc-token"]}
    objectStore: {aws: {bucket: %s, endpointOverride: %q, pathStyle: true}}
    vector: {host: 127.0.0.1, apiPort: 1}
    kafka: {kafkaBrokersHost: 127.0.0.1, kafkaBrokerPort: 1}
    spark: {restUrl: %q, webUrl: %q, sparkJarPath: s3://jars/app.jar}
`, storetest.NewConfig(t).DSN(), s3.Bucket, s3.URL, master.RestURL(), master.WebURL()), setup.Options{})
	ctx := context.Background()
	jobs := setup.NewJobs(env)
	sc := scalewire.New(env, buckets.New(env.AWS), actuators.InProcess(env.AWS, tracing.HTTPClient))
	sc.AddJobs(jobs)
	h := sc.Handler(jobs)

	out, err := h(ctx, json.RawMessage(`{"scaleNow":{"tenant":"ABC"}}`))
	res, ok := out.(scaling.ReconcileResult)
	// No report is stored yet: the scaler decides a no-op from the 2 alive workers, which is
	// counted (SparkScaleUnchanged), not recorded as an execution.
	if !ok || res.Workers.Decision.Rule != scaling.RuleTooFewHistories || res.Workers.Decision.From != 2 || res.Workers.ExecutionID != "" {
		t.Fatalf("scaleNow = %#v, %v; want an unrecorded no-op decision from the 2 alive workers", out, err)
	}

	lease, err := env.Store.AcquireLease(ctx, scaling.LeaseName("ABC"), "scheduled-run", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Store.ReleaseLease(ctx, lease)
	out, err = h(ctx, json.RawMessage(`{"scaleNow":{"tenant":"ABC"}}`))
	if b, _ := json.Marshal(out); err != nil || !strings.Contains(string(b), "holds the tenant's lease") {
		t.Fatalf("scaleNow while a run holds the lease = %s, %v; want skipped", b, err)
	}
}
