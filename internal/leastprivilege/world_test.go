package leastprivilege

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/scaling"
	"github.com/logwise/controlplane/shared/spark"
	"github.com/logwise/controlplane/shared/spark/sparktest"
	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/store/storetest"
	"github.com/logwise/controlplane/shared/supervisor"
)

// Names of the world the functions run in.
const (
	tenant          = "lp"
	partition       = "lp-east"
	peerPartition   = "lp-west"
	bucket          = "logwise-lp-logs"
	workerGroup     = "lp-spark-workers"
	configParameter = "/logwise/lp/config"
	tenantToken     = "lp-tenant-token-1234"
	adminToken      = "lp-admin-token-5678"
)

// world is everything a fully featured configuration reaches: AWS resources in moto (the
// SSM configuration, a secret of every kind, the log bucket, the interlink topic, the worker
// group, the functions the API invokes), the control plane's and a peer's databases, the Spark
// master simulator and a Kafka cluster with TLS and SASL PLAIN.
type world struct {
	admin        moto
	params       map[string]string // the stack's parameter values
	dbSecret     string
	yaml         string            // the configuration
	secrets      map[string]string // the ARNs it names
	caFile       string            // the Kafka brokers' CA
	foreignID    string            // an execution another region owns, for the interlink forwarding
	master       *sparktest.Master
	kafka        *kfake.Cluster
	cfnResponses chan []byte // the migration's answers to CloudFormation
	cfnURL       string
	s3           http.Handler // the in-process S3 the recorder sends S3 requests to
	s3c          *s3.Client   // the test's client of it
	eks          *eksWorld    // the scaler's second tenant's EKS cluster
}

func newWorld(t *testing.T, admin moto) *world {
	t.Helper()
	ctx := t.Context()
	w := &world{admin: admin, cfnResponses: make(chan []byte, 16)}
	cfg := admin.config()
	secrets := secretsmanager.NewFromConfig(cfg)
	secret := func(name, value string) string {
		out, err := secrets.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
		if err != nil {
			t.Fatalf("create secret %s: %v", name, err)
		}
		return aws.ToString(out.ARN)
	}

	peer := storetest.NewConfig(t)
	migrate(t, peer)

	w.master = sparktest.NewMaster(sparktest.Options{})
	t.Cleanup(func() { w.master.Close() })
	w.caFile = w.startKafka(t)
	w.eks = newEKSWorld(t)

	w.dbSecret = secret("lp/rds", "{}") // filled by reset
	peerSecret := secret("lp/peer-"+peerPartition, rds(peer))
	tokenSecret := secret("lp/tenant-tokens", `{"tokens":["`+tenantToken+`"]}`)
	adminSecret := secret("lp/admin-tokens", `{"tokens":["`+adminToken+`"]}`)
	kafkaSecret := secret("lp/kafka", `{"username":"lp-kafka","password":"lp-kafka-password"}`)
	s3aSecret := secret("lp/s3a", `{"accessKeyId":"AKIALPS3AKEY0000TEST","secretAccessKey":"lp-s3a-secret"}`)

	w.s3 = gofakes3.New(s3mem.New()).Server()
	s3srv := httptest.NewServer(w.s3)
	t.Cleanup(s3srv.Close)
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle, o.BaseEndpoint = true, aws.String(s3srv.URL) })
	w.s3c = s3c
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	topic, err := sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("lp-interlink")})
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	// The file-sink log has a batch, so the scaler decides.
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("logs/_spark_metadata/1"),
		Body: strings.NewReader("v1")}); err != nil {
		t.Fatalf("put sink log: %v", err)
	}
	w.workerGroup(t, cfg)
	w.invokedFunctions(t, cfg)
	// The ticks queues the Spark monitor and peering send their minute's later ticks to, named
	// by their logical IDs (as the stack resolves !Ref and !GetAtt of a queue).
	for _, q := range []string{"SparkMonitorTicksQueue", "PeeringTicksQueue"} {
		if _, err := sqs.NewFromConfig(cfg).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(q)}); err != nil {
			t.Fatalf("create queue %s: %v", q, err)
		}
	}

	srv := newCFNReceiver(w.cfnResponses)
	t.Cleanup(srv.Close)
	w.cfnURL = srv.URL

	w.params = map[string]string{
		"ConfigParameterName":        configParameter,
		"DatabaseSecretArn":          w.dbSecret,
		"TenantTokenSecretArns":      tokenSecret,
		"AdminTokenSecretArns":       adminSecret,
		"KafkaCredentialsSecretArns": kafkaSecret,
		"S3ACredentialsSecretArns":   s3aSecret,
		"PeerSecretArns":             peerSecret,
		"LogBucketArnPattern":        "arn:aws:s3:::logwise-*",
		"InterlinkTopicArn":          aws.ToString(topic.TopicArn),
		"KmsKeyArn":                  "arn:aws:kms:" + region + ":" + accountID + ":key/lp-secrets",
		"MskClusterName":             "lp-msk",
		"VpcId":                      "vpc-0123456789abcdef0",
		"VpcSubnetIds":               "subnet-0123456789abcdef0",
		"VpcSecurityGroupIds":        "sg-0123456789abcdef0",
	}
	w.secrets = map[string]string{"token": tokenSecret, "admin": adminSecret, "kafka": kafkaSecret, "s3a": s3aSecret, "peer": peerSecret,
		"topic": aws.ToString(topic.TopicArn)}
	return w
}

// reset gives the next run of fn the world of a first run: a fresh database (no lease,
// submission or decision of an earlier run) holding a foreign execution and heavy
// stage-history reports, one worker in the group, and no live driver (the monitor submits
// one) or, for the scaler, a running one (the reports describe a running job).
func (w *world) reset(t *testing.T, fn string) {
	t.Helper()
	ctx := t.Context()
	c := storetest.NewConfig(t)
	w.foreignID = foreignExecution(t, c)
	db, err := store.Open(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	up := true
	for _, ten := range []string{tenant, eksTenant} {
		for i := range scaling.HistoryWindow + 1 {
			cores := 2
			if err := db.InsertStageHistory(ctx, store.StageHistory{Tenant: ten, OutputBytes: 1 << 30, InputRecords: 50_000_000,
				SubmissionTime: now.Add(-time.Duration(i+1) * time.Minute).UnixMilli(), CompletionTime: now.Add(-time.Duration(i) * time.Minute).UnixMilli(),
				CoresUsed: &cores, Status: "COMPLETE", EnableUpScale: &up, EnableDownScale: &up, CreatedAt: now}); err != nil {
				t.Fatalf("insert stage history: %v", err)
			}
		}
	}
	if fn == "SparkMonitorFunction" {
		w.dueReplay(t, db)
	}
	cfg := w.admin.config()
	if _, err := secretsmanager.NewFromConfig(cfg).PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(w.dbSecret),
		SecretString: aws.String(rds(c))}); err != nil {
		t.Fatalf("point the database secret at the fresh database: %v", err)
	}
	// A fresh master: the monitor judges a job by the drivers it sees (a recently failed one
	// holds resubmission back), so no earlier run's driver may remain.
	w.master.Close()
	w.master = sparktest.NewMaster(sparktest.Options{})
	w.yaml = w.configYAML(fn)
	if _, err := ssm.NewFromConfig(cfg).PutParameter(ctx, &ssm.PutParameterInput{Name: aws.String(configParameter),
		Type: ssmtypes.ParameterTypeSecureString, Value: aws.String(w.yaml), Overwrite: aws.Bool(true)}); err != nil {
		t.Fatalf("put configuration: %v", err)
	}
	if fn == "ScalerFunction" {
		w.runDriver(t)
	}
	if _, err := autoscaling.NewFromConfig(cfg).SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{
		AutoScalingGroupName: aws.String(workerGroup), DesiredCapacity: aws.Int32(1)}); err != nil {
		t.Fatalf("reset the worker group: %v", err)
	}
}

// dueReplay records a replay from an hour ago, due now, and puts checkpoint state in the
// bucket: the monitor kills the job, lists and deletes its checkpoint and sink log, and
// resubmits it from the timestamp.
func (w *world) dueReplay(t *testing.T, db *store.DB) {
	t.Helper()
	now := time.Now()
	if _, err := supervisor.New(supervisor.Deps{Store: db, Pipelines: executions.NewRepository(db.SQL(), partition)}).CreateReplay(t.Context(), tenant,
		supervisor.ReplayRequest{StartingOffsetsTimestamp: now.Add(-time.Hour).UnixMilli(), ResumeToSubscribePatternTimestamp: now.Add(time.Hour).UnixMilli()},
		"least-privilege-test"); err != nil {
		t.Fatalf("create replay: %v", err)
	}
	for _, key := range []string{"checkpoint/offsets/1", "checkpoint/commits/1"} {
		if _, err := w.s3c.PutObject(t.Context(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader("1")}); err != nil {
			t.Fatal(err)
		}
	}
}

// runDriver submits the tenant's streaming job to the master and launches it.
func (w *world) runDriver(t *testing.T) {
	t.Helper()
	c, err := config.Parse([]byte(w.yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	ten := c.Tenants[0]
	req, err := spark.BuildSubmission(ten, spark.SubmitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := spark.New(spark.Config{Masters: spark.ConfigFrom(ten.Spark).Masters, HTTP: http.DefaultClient}).Submit(t.Context(), req); err != nil {
		t.Fatalf("submit the job: %v", err)
	}
	w.master.Step()
}

func rds(c store.Config) string {
	b, _ := json.Marshal(map[string]any{"engine": "mysql", "username": c.User, "password": c.Password, "host": c.Host, "port": c.Port, "dbname": c.Name})
	return string(b)
}

// configYAML uses every feature that reads a secret or calls AWS. The scaler's has a second
// tenant whose workers are on EKS (the first's are an Auto Scaling group).
func (w *world) configYAML(fn string) string {
	a := w.secrets
	yaml := fmt.Sprintf(`deployment: {partition: %s, region: %s}
api:
  adminTokensSecretArn: %s
peering:
  enabled: true
  intervalMs: 500
  peers: [{id: %s, secretArn: %q}]
interlink: {enabled: true, topicArn: %q}
tenants:
`, partition, region, a["admin"], peerPartition, a["peer"], a["topic"])
	yaml += w.tenantYAML(tenant, fmt.Sprintf(`s3aCredentialsSecretArn: %q
      monitor: {pollIntervalSeconds: 1, durationSeconds: 2} # one tick queued after the schedule's check
      cluster: {clusterType: asg, asg: {aws: {name: %s, region: %s}}}`, a["s3a"], workerGroup, region))
	if fn == "ScalerFunction" {
		yaml += w.tenantYAML(eksTenant, fmt.Sprintf(
			"cluster: {clusterType: kubernetes, kubernetes: {namespace: logwise, deploymentName: spark-worker, eksClusterName: %s, eksRegion: %s}}", eksCluster, region))
	}
	return yaml
}

// tenantYAML is a tenant on the world's tokens, bucket, Kafka and Spark master; spark adds
// lines to its spark section.
func (w *world) tenantYAML(name, spark string) string {
	a := w.secrets
	return fmt.Sprintf(`  - name: %s
    auth: {tokensSecretArn: %q}
    objectStore: {aws: {region: %s, bucket: %s, pathStyle: true}}
    vector: {host: 127.0.0.1, apiPort: 1}
    kafka: {kafkaType: confluent, kafkaBrokersHost: %q, credentialsSecretArn: %q, sslTruststoreLocation: %q}
    spark:
      restUrl: %q
      webUrl: %q
      sparkJarPath: s3://jars/logwise.jar
      restNetworkTrusted: true # the Spark stand-in speaks plain HTTP on loopback
      %s
`, name, a["token"], region, bucket, w.kafka.ListenAddrs()[0], a["kafka"], w.caFile, w.master.RestURL(), w.master.WebURL(), spark)
}

func migrate(t *testing.T, c store.Config) {
	t.Helper()
	db, err := store.Open(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("migrate %s: %v", c, err)
	}
}

// foreignExecution migrates the local database and records a running execution owned by the
// peer region, whose cancel the API forwards over the interlink.
func foreignExecution(t *testing.T, c store.Config) string {
	t.Helper()
	migrate(t, c)
	db, err := store.Open(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	id, err := executions.NewLog(db.SQL(), peerPartition).Record(t.Context(), executions.Action{Tenant: tenant, Kind: "sparkSubmission",
		Description: "a submission the peer region runs", Status: executions.Running})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// startKafka runs a Kafka cluster that speaks TLS and SASL PLAIN (Confluent's way) and
// returns the path of its CA certificate.
func (w *world) startKafka(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "kafka-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	w.kafka, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "logs.api"),
		kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}),
		kfake.EnableSASL(), kfake.Superuser("PLAIN", "lp-kafka", "lp-kafka-password"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.kafka.Close)
	return caFile
}

// workerGroup creates the Auto Scaling Group of Spark workers, tagged as the template's
// scaling statement requires.
func (w *world) workerGroup(t *testing.T, cfg aws.Config) {
	t.Helper()
	as := autoscaling.NewFromConfig(cfg)
	if _, err := as.CreateLaunchConfiguration(t.Context(), &autoscaling.CreateLaunchConfigurationInput{
		LaunchConfigurationName: aws.String("lp-worker"), ImageId: aws.String("ami-12c6146b"), InstanceType: aws.String("t3.medium")}); err != nil {
		t.Fatalf("create launch configuration: %v", err)
	}
	if _, err := as.CreateAutoScalingGroup(t.Context(), &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String(workerGroup), LaunchConfigurationName: aws.String("lp-worker"),
		MinSize: aws.Int32(0), MaxSize: aws.Int32(10), DesiredCapacity: aws.Int32(1), AvailabilityZones: []string{region + "a"},
		Tags: []astypes.Tag{{Key: aws.String("logwise:spark-workers"), Value: aws.String("true"), PropagateAtLaunch: aws.Bool(true)}}}); err != nil {
		t.Fatalf("create worker group: %v", err)
	}
}

// invokedFunctions creates the functions the API invokes (moto answers for them without
// running code).
func (w *world) invokedFunctions(t *testing.T, cfg aws.Config) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, w.admin.url+"/moto-api/config", strings.NewReader(`{"lambda":{"use_docker":false}}`))
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatalf("moto config: %v", err)
	} else {
		resp.Body.Close()
	}
	w.admin.iam(t, "CreateRole", "RoleName", "lp-function", "AssumeRolePolicyDocument",
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)
	lc := lambda.NewFromConfig(cfg)
	for _, name := range []string{"ScalerFunction", "PeeringFunction"} {
		if _, err := lc.CreateFunction(t.Context(), &lambda.CreateFunctionInput{FunctionName: aws.String(name),
			Role: aws.String("arn:aws:iam::" + accountID + ":role/lp-function"), Runtime: lambdatypes.RuntimeProvidedal2023,
			Handler: aws.String("bootstrap"), Code: &lambdatypes.FunctionCode{ZipFile: emptyZip}}); err != nil {
			t.Fatalf("create function %s: %v", name, err)
		}
	}
}

// emptyZip is a zip archive with no entries.
var emptyZip = []byte{0x50, 0x4b, 0x05, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
