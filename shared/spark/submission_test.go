package spark

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/fault"
)

var update = flag.Bool("update", false, "rewrite golden files")

// testTenant is a tenant as config.Load leaves it (defaults filled).
func testTenant() config.Tenant {
	return config.Tenant{
		Name:         "ABC",
		Orchestrator: config.Orchestrator{URL: "http://orchestrator:8080"},
		ObjectStore:  config.ObjectStore{AWS: config.AWSObjectStore{Bucket: "my-bucket", Region: "us-east-1"}},
		Kafka:        config.Kafka{KafkaBrokersHost: "kafka"},
		Spark: config.Spark{
			SparkMasterHost: "spark-master", MasterHosts: []string{"spark-master"}, RestPort: 6066, WebPort: 8080,
			KafkaMaxRatePerPartition: "4000", KafkaStartingOffsets: "latest", SubscribePattern: "^logs.*",
			SparkJarPath: "/opt/app/app.jar", ClientSparkVersion: "3.1.2", MainClass: "com.logwise.spark.MainApplication",
			AppName: "logwise", DriverCoresMax: "50000", DriverCores: "1", DriverMemory: "1G", DriverMaxResultSize: "1G",
			Log4jPropertiesFilePath: "/opt/app/log4j.properties", ExecutorCores: "1", ExecutorMemory: "1G",
			// Static keys in the configuration are ignored without a credentials secret.
			S3AAccessKey: "AKIASTATICCONFIGKEY1", S3ASecretKey: "configSecretValue/abcdefghijklmnop",
			AWSAccessKeyID: "AKIASTATICCONFIGKEY2", AWSSecretAccessKey: "configSecretValue2/abcdefghijklmnop",
			AWSSessionToken: "configSessionTokenValue",
		},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden %s (run go test -update): %v", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("body differs from %s\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func indent(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

func TestBuildSubmissionGoldenHasNoCredentials(t *testing.T) {
	t.Parallel()
	tn := testTenant()
	req, err := BuildSubmission(tn, SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	body := indent(t, req)
	golden(t, "submission_default.json", body)
	for _, s := range []string{tn.Spark.S3AAccessKey, tn.Spark.S3ASecretKey, tn.Spark.AWSAccessKeyID,
		tn.Spark.AWSSecretAccessKey, tn.Spark.AWSSessionToken, "access.key", "secret.key", "AWS_SECRET_ACCESS_KEY",
		"S3A-SECRET-KEY", "credentials.provider"} {
		if bytes.Contains(body, []byte(s)) {
			t.Errorf("default body contains %q; credentials must come from the instance or pod role", s)
		}
	}
}

func TestBuildSubmissionOverridesAndReplayTimestamp(t *testing.T) {
	t.Parallel()
	tn := testTenant()
	tn.Spark.MasterHosts = []string{"m1", "m2:7078"}
	req, err := BuildSubmission(tn, SubmitOptions{DriverCores: 2, DriverMemoryInGB: 4, StartingOffsetsTimestamp: 1700000000000})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "submission_overrides.json", indent(t, req))
	checks := []struct{ name, got, want string }{
		{"driver cores", fmt.Sprint(req.SparkProperties["spark.driver.cores"]), "2"},
		{"driver memory", fmt.Sprint(req.SparkProperties["spark.driver.memory"]), "4G"},
		{"spark.master lists every master", fmt.Sprint(req.SparkProperties["spark.master"]), "spark://m1:7077,m2:7078"},
		{"last appArg", req.AppArgs[len(req.AppArgs)-1], "kafka.startingOffsetsTimestamp=1700000000000"},
		{"master host appArg", req.AppArgs[4], "spark.master.host=http://m1:8080"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
}

func TestBuildSubmissionRejectsBadInput(t *testing.T) {
	t.Parallel()
	tn := testTenant()
	cases := []struct {
		name string
		opts SubmitOptions
	}{
		{"negative cores", SubmitOptions{DriverCores: -1}},
		{"too many cores", SubmitOptions{DriverCores: MaxDriverCores + 1}},
		{"too much memory", SubmitOptions{DriverMemoryInGB: MaxDriverMemoryInGB + 1}},
		{"negative timestamp", SubmitOptions{StartingOffsetsTimestamp: -5}},
		{"keys without a secret ARN", SubmitOptions{Credentials: &Credentials{AccessKeyID: "AKIAX", SecretAccessKey: "y"}}},
		{"keys to a plain-HTTP REST port", SubmitOptions{Credentials: &Credentials{AccessKeyID: "AKIAX", SecretAccessKey: "y"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tn := tn
			if c.name == "keys to a plain-HTTP REST port" {
				tn.Spark.S3ACredentialsSecretARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:s3a"
			}
			_, err := BuildSubmission(tn, c.opts)
			if got := fault.KindOf(err); got != fault.Invalid {
				t.Errorf("got kind %v (err %v), want INVALID_REQUEST", got, err)
			}
		})
	}
}

func TestStaticCredentialsAreSentButRedactedEverywhereLoggable(t *testing.T) {
	t.Parallel()
	tn := testTenant()
	tn.Spark.S3ACredentialsSecretARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:s3a"
	tn.Spark.RestURL = "https://" + tn.Spark.SparkMasterHost + ":6066" // keys go only over https (or a trusted network)
	creds := &Credentials{AccessKeyID: "AKIARESOLVEDKEY00001", SecretAccessKey: "resolved/Secret+Key0000000000000000000", SessionToken: "resolvedSessionToken000"}
	req, err := BuildSubmission(tn, SubmitOptions{Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	wire, _ := json.Marshal(req)
	for _, want := range []string{creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken, "TemporaryAWSCredentialsProvider"} {
		if !bytes.Contains(wire, []byte(want)) {
			t.Errorf("wire body lacks %q: the job needs the configured keys", want)
		}
	}
	var logBuf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logBuf, nil))
	log.Info("submitting", "request", req)
	log.Info("submitting", "request", *req)
	loggable := map[string]string{
		"slog":         logBuf.String(),
		"%v":           fmt.Sprintf("%v", req),
		"%+v value":    fmt.Sprintf("%+v", *req),
		"%#v":          fmt.Sprintf("%#v", req),
		"%s":           fmt.Sprintf("%s", req),
		"RedactedJSON": string(req.RedactedJSON()),
	}
	for name, out := range loggable {
		if !strings.Contains(out, Redacted) {
			t.Errorf("%s: no %s marker in %s", name, Redacted, out)
		}
		for _, s := range []string{creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken} {
			if strings.Contains(out, s) {
				t.Errorf("%s leaks a secret: %s", name, out)
			}
		}
	}
	// Redaction must not alter the request itself.
	if req.SparkProperties["spark.hadoop.fs.s3a.access.key"] != creds.AccessKeyID {
		t.Errorf("Redact modified the original request")
	}
}

func TestConfigFrom(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   config.Spark
		want []Endpoint
	}{
		{"single host", config.Spark{SparkMasterHost: "m", RestPort: 6066, WebPort: 8080},
			[]Endpoint{{"http://m:6066", "http://m:8080"}}},
		{"HA hosts, RPC port ignored", config.Spark{MasterHosts: []string{"a:7077", "b"}, RestPort: 16066, WebPort: 18080},
			[]Endpoint{{"http://a:16066", "http://a:18080"}, {"http://b:16066", "http://b:18080"}}},
		{"URL overrides", config.Spark{SparkMasterHost: "m", RestURL: "https://rest.example/", WebURL: "https://web.example"},
			[]Endpoint{{"https://rest.example", "https://web.example"}}},
	}
	for _, c := range cases {
		got := ConfigFrom(c.in).Masters
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestParseCredentialsSecret(t *testing.T) {
	t.Parallel()
	c, err := ParseCredentialsSecret(`{"accessKeyId":"AKIAX","secretAccessKey":"sekret","sessionToken":"tok"}`)
	if err != nil || c != (Credentials{"AKIAX", "sekret", "tok"}) {
		t.Errorf("got %+v, %v", c, err)
	}
	for _, bad := range []string{`not json`, `{"accessKeyId":"AKIAX"}`, `{"secretAccessKey":"sekret-value"}`} {
		_, err := ParseCredentialsSecret(bad)
		if fault.KindOf(err) != fault.Invalid || strings.Contains(err.Error(), "sekret") {
			t.Errorf("%s: got %v, want an INVALID error that does not quote the secret", bad, err)
		}
	}
}
