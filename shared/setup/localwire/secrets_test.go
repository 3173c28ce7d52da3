package localwire_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/logwise/controlplane/internal/mototest"
	"github.com/logwise/controlplane/internal/syncbuf"
	"github.com/logwise/controlplane/shared/logstore/s3test"
	"github.com/logwise/controlplane/shared/metrics"
	"github.com/logwise/controlplane/shared/setup"
	"github.com/logwise/controlplane/shared/setup/localwire"
	"github.com/logwise/controlplane/shared/setup/setuptest"
	"github.com/logwise/controlplane/shared/spark/sparktest"
	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/store/storetest"
)

// lockedBuffer collects log lines from concurrent writers.
type lockedBuffer = syncbuf.Buffer

func secret(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// passwordUser creates a MariaDB user with a password, allowed on database name only, and
// drops it when the test ends.
func passwordUser(t *testing.T, cfg store.Config) store.Config {
	t.Helper()
	root, err := sql.Open("mysql", storetest.ServerDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	user, pass := "lw_"+secret("")[:12], secret("Pw-")
	for _, host := range []string{"%", "localhost", "127.0.0.1"} {
		for _, q := range []string{
			fmt.Sprintf("CREATE USER '%s'@'%s' IDENTIFIED BY '%s'", user, host, pass),
			fmt.Sprintf("GRANT ALL ON `%s`.* TO '%s'@'%s'", cfg.Name, user, host),
		} {
			if _, err := root.Exec(q); err != nil {
				t.Fatalf("%s: %v", strings.Replace(q, pass, "***", 1), err)
			}
		}
		t.Cleanup(func() { _, _ = root.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%s'", user, host)) })
	}
	cfg.User, cfg.Password = user, pass
	return cfg
}

// TestNoSecretInLogsRowsOrBodies builds the whole system with a configured secret of every
// kind — a database password (a real MariaDB user), static S3A keys served from Secrets
// Manager through spark.s3aCredentialsSecretArn, a Confluent API secret and an API token —
// calls every API route with valid and invalid input, runs every scheduled job, and then
// scans every log line and EMF metric line, every stored row of the tables that keep requests and outcomes
// (spark_submissions, orchestrations, pipelines) and every Spark submission body the master
// simulator received. The static keys must reach Spark (that is what they are for) and
// nothing else; no other secret may appear anywhere.
func TestNoSecretInLogsRowsOrBodies(t *testing.T) {
	moto := mototest.Start(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto)
	ctx := context.Background()

	accessKey, secretKey := "AKIA"+strings.ToUpper(secret(""))[:16], secret("s3a/")
	sm := secretsmanager.NewFromConfig(mototest.Config(moto))
	created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("logwise/s3a"),
		SecretString: aws.String(fmt.Sprintf(`{"accessKeyId":%q,"secretAccessKey":%q}`, accessKey, secretKey))})
	if err != nil {
		t.Fatal(err)
	}
	dbCfg := storetest.NewConfig(t)
	dbCfg = passwordUser(t, dbCfg)
	master := sparktest.NewMaster(sparktest.Options{})
	t.Cleanup(master.Close)
	s3 := s3test.New(t)
	kf, err := kfake.NewCluster(kfake.SeedTopics(1, "logs.api"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kf.Close)
	token, confluentSecret := secret("tok-"), secret("cflt-")
	secrets := map[string]string{"database password": dbCfg.Password, "S3A access key": accessKey, "S3A secret key": secretKey,
		"Confluent API secret": confluentSecret, "API token": token}

	y := fmt.Sprintf(`
deployment: {partition: us-east-1, region: us-east-1}
database: {dsn: %q}
tenants:
  - name: ABC
    auth: {tokens: [%q]}
    objectStore: {aws: {bucket: %s, endpointOverride: %q, pathStyle: true}}
    vector: {host: 127.0.0.1, apiPort: 1}
    kafka: {kafkaBrokersHost: %q, kafkaType: confluent, confluentApiKey: KEY123, confluentApiSecret: %q}
    spark: {restUrl: %q, webUrl: %q, sparkJarPath: "s3a://jars/app.jar", s3aCredentialsSecretArn: %q, restNetworkTrusted: true}
    delayMetrics: {app: {sampleServiceName: api}}
`, dbCfg.DSN(), token, s3.Bucket, s3.URL, kf.ListenAddrs()[0], confluentSecret, master.RestURL(), master.WebURL(), aws.ToString(created.ARN))
	logs := &lockedBuffer{}
	env := setuptest.Load(t, "local", y, setup.Options{Log: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	emf := &lockedBuffer{} // the EMF metrics are scanned too
	env.Metrics = metrics.New(emf)
	app, err := localwire.New(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Close)

	// Every scheduled job once: the monitor submits the job with the static keys.
	for _, job := range app.Jobs() {
		jctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		start := time.Now()
		_, err := app.RunJob(jctx, job)
		cancel()
		t.Logf("job %s: %v (%v)", job, err, time.Since(start).Round(time.Millisecond))
	}

	// Every route, with valid and invalid input, authorised and not.
	param := regexp.MustCompile(`\{[^}]+\}`)
	statuses := map[int]int{}
	slow := map[string]time.Duration{}
	for _, r := range app.API.Routes() {
		method, path, _ := strings.Cut(r.Pattern, " ")
		if method == "" || path == "" {
			method, path = "GET", r.Pattern
		}
		for _, p := range []string{param.ReplaceAllString(path, "1"), param.ReplaceAllString(path, "api")} {
			for _, body := range []string{"", `{}`, `{"sparkStageHistory":{"outputBytes":1,"inputRecords":1,"submissionTime":1,"completionTime":2},"serviceName":"api","id":"x"}`, `{not json` + token} {
				for _, auth := range []string{"Bearer " + token, "Bearer wrong-" + token[:6], ""} {
					req := httptest.NewRequest(method, p, strings.NewReader(body))
					req.Header.Set("X-Tenant-Name", "ABC")
					if auth != "" {
						req.Header.Set("Authorization", auth)
					}
					rctx, cancel := context.WithTimeout(ctx, time.Second)
					rec := httptest.NewRecorder()
					start := time.Now()
					app.API.Handler().ServeHTTP(rec, req.WithContext(rctx))
					cancel()
					if d := time.Since(start); d > 500*time.Millisecond {
						slow[method+" "+p] = d.Round(time.Millisecond)
					}
					statuses[rec.Code]++
					for what, v := range secrets {
						if strings.Contains(rec.Body.String(), v) {
							t.Errorf("%s %s answered with the %s in its body", method, p, what)
						}
					}
				}
			}
		}
	}
	t.Logf("%d routes called; statuses %v; slow: %v", len(app.API.Routes()), statuses, slow)

	// The scan.
	bodies := master.Submissions()
	if len(bodies) == 0 {
		t.Fatal("the master received no submission: the monitor did not run the submit path")
	}
	for i, b := range bodies {
		if !bytes.Contains(b, []byte(accessKey)) || !bytes.Contains(b, []byte(secretKey)) {
			t.Errorf("submission %d lacks the static S3A keys the secret ARN configures", i)
		}
		for _, what := range []string{"database password", "Confluent API secret", "API token"} {
			if bytes.Contains(b, []byte(secrets[what])) {
				t.Errorf("submission %d contains the %s", i, what)
			}
		}
	}
	var rows strings.Builder
	for _, q := range []string{"SELECT CONCAT_WS('|', requestBody, IFNULL(message,''), reason) FROM spark_submissions",
		"SELECT body FROM orchestrations", "SELECT body FROM pipelines"} {
		rs, err := env.Store.SQL().QueryContext(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		for rs.Next() {
			var s sql.NullString
			if err := rs.Scan(&s); err != nil {
				t.Fatal(err)
			}
			rows.WriteString(s.String + "\n")
		}
		rs.Close()
	}
	logText := logs.String() + emf.String()
	t.Logf("scanned %d log bytes (%d lines), %d stored row bytes, %d submission bodies", len(logText), strings.Count(logText, "\n"), rows.Len(), len(bodies))
	for what, v := range secrets {
		if n := strings.Count(logText, v); n > 0 {
			t.Errorf("the %s appears %d times in the logs", what, n)
		}
		if n := strings.Count(rows.String(), v); n > 0 {
			t.Errorf("the %s appears %d times in stored rows", what, n)
		}
	}
}
