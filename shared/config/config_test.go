package config

import (
	"errors"
	"strings"
	"testing"
)

const minimal = `
deployment: {partition: us-east-1}
api: {authDisabled: true}
tenants:
  - name: ABC
    objectStore: {aws: {bucket: logs}}
    vector: {host: vector}
    kafka: {kafkaBrokersHost: kafka}
    spark: {sparkMasterHost: spark, sparkJarPath: s3://jars/app.jar}
`

func env(m map[string]string) LookupEnv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseDefaults(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(minimal), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	tn := c.Tenants[0]
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"retention", tn.DefaultLogsRetentionDays, 3},
		{"logsDir", tn.Spark.LogsDir, "logs"},
		{"checkPointDir", tn.Spark.CheckPointDir, "checkpoint"},
		{"subscribePattern", tn.Spark.SubscribePattern, "^logs.*"},
		{"masterHosts", strings.Join(tn.Spark.MasterHosts, ","), "spark"},
		{"poll interval", tn.Spark.Monitor.PollIntervalSeconds, 15},
		{"monitor duration", tn.Spark.Monitor.DurationSeconds, 60},
		{"min workers", tn.Spark.MinWorkerCount, 2},
		{"max workers", tn.Spark.MaxWorkerCount, 10},
		{"kafka type", tn.Kafka.KafkaType, "ec2"},
		{"partition rate", tn.Kafka.PartitionRatePerSecond, int64(2000)},
		{"partition scaling on", tn.Kafka.PartitionScalingEnabled(), true},
		{"canary", strings.Join(tn.DelayMetrics.App.Canaries(), ","), "healthcheck-dummy"},
		{"lookback", tn.DelayMetrics.MaxLookbackHours, 3},
		{"removal guard", tn.Discovery.MaxRemovalPercent, 10},
		{"vector port", tn.Vector.APIPort, 8686},
		{"peering interval", c.Peering.IntervalMs, 5000},
		{"peering threads", c.Peering.ThreadCount, 30},
		{"peering chunk", c.Peering.ChunkSize, 100},
		{"peering drift", c.Peering.ClockDriftMs, 5000},
		{"peering delete limit", c.Peering.MaxAllowedDeleteCount, 100},
		{"peering chunk bytes", c.Peering.ChunkMiB, 4},
		{"peering memory", c.Peering.MemoryMiB, 32},
		{"interlink remembered", c.Interlink.MaxRemembered, 32},
		{"interlink repeats", c.Interlink.MaxRepeats, 8},
		{"interlink window", c.Interlink.WindowSeconds, 60},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

func TestSubstitution(t *testing.T) {
	t.Parallel()
	yaml := `
deployment: {partition: "${PARTITION}"}
api: {authDisabled: true}
tenants:
  - name: ABC
    objectStore: {aws: {bucket: "logs-${ENV}", region: "${?AWS_REGION}", endpointOverride: "${?S3_ENDPOINT}"}}
    vector: {host: vector, apiPort: "${VECTOR_API_PORT}"}
    kafka: {kafkaBrokersHost: kafka}
    spark: {sparkMasterHost: spark, sparkJarPath: x, logsDir: "${?LOGS_DIR}", driverMemory: "${MEM}"}
`
	c, err := Parse([]byte(yaml), env(map[string]string{"PARTITION": "eu-west-1", "ENV": "prod", "VECTOR_API_PORT": "9000", "AWS_REGION": "eu-west-1", "MEM": "2G"}))
	if err != nil {
		t.Fatal(err)
	}
	tn := c.Tenants[0]
	if c.Deployment.Partition != "eu-west-1" || tn.ObjectStore.AWS.Bucket != "logs-prod" || tn.Vector.APIPort != 9000 ||
		tn.ObjectStore.AWS.Region != "eu-west-1" || tn.ObjectStore.AWS.EndpointOverride != "" || tn.Spark.LogsDir != "logs" || tn.Spark.DriverMemory != "2G" {
		t.Fatalf("substituted config = %+v / %+v", c.Deployment, tn)
	}

	_, err = Parse([]byte(yaml), env(map[string]string{"ENV": "prod", "VECTOR_API_PORT": "9000", "MEM": "1G"}))
	var ve *ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "deployment.partition: environment variable PARTITION is not set") {
		t.Fatalf("missing required variable: err = %v", err)
	}
}

func TestValidationNamesKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"no partition, no tenants", `tenants: []`, []string{"deployment.partition: is required", "tenants: at least one tenant is required"}},
		{"unknown key", minimal + "    sparkk: {}\n", []string{"field sparkk not found"}},
		{"bad tenant fields", `
deployment: {partition: p}
tenants:
  - name: "bad name!"
    objectStore: {aws: {}}
    vector: {host: v}
    kafka: {kafkaBrokersHost: k, kafkaType: kinesis}
    spark: {sparkMasterHost: s, sparkJarPath: j, minWorkerCount: 5, maxWorkerCount: 3, subscribePattern: "([", cluster: {clusterType: asg}}
`, []string{
			`tenants[0].name: "bad name!" must be`,
			"tenants[0].objectStore.aws.bucket: is required",
			"tenants[0].auth: a tenant needs tokens",
			"tenants[0].spark.maxWorkerCount: must be at least minWorkerCount (5), got 3",
			"tenants[0].spark.subscribePattern: is not a valid regular expression",
			"tenants[0].spark.cluster.asg.aws.name: is required",
			`tenants[0].kafka.kafkaType: "kinesis" is not one of ec2, msk, confluent`,
		}},
		{"peer equals own partition", minimal + `
peering:
  peers: [{id: us-east-1, dsn: "u:p@tcp(h:3306)/orca"}, {id: eu, dsn: "a", secretArn: "b"}]
`, []string{"peering.peers[0].id: \"us-east-1\" is this deployment's own partition", "peering.peers[1]: set exactly one of dsn and secretArn"}},
		{"peering memory below a chunk", minimal + `
peering: {chunkMiB: 16, memoryMiB: 8}
`, []string{"peering.memoryMiB: must be at least peering.chunkMiB"}},
		{"duplicate tenant", minimal + `
  - name: ABC
    objectStore: {aws: {bucket: logs}}
    vector: {host: vector}
    kafka: {kafkaBrokersHost: kafka}
    spark: {sparkMasterHost: spark, sparkJarPath: j}
`, []string{`tenants[1].name: duplicate tenant "ABC"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), env(nil))
			if err == nil {
				t.Fatal("invalid configuration accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestTokensAreHashedAndSecretsListed(t *testing.T) {
	t.Parallel()
	yaml := strings.Replace(minimal, "api: {authDisabled: true}", "database: {dsn: \"app:db-pass-123@tcp(db:3306)/logwise\"}", 1) +
		"    auth: {tokens: [\"${TOKEN}\"], tokenHashes: [\"sha256:" + HashToken("other") + "\"]}\n"
	c, err := Parse([]byte(yaml), env(map[string]string{"TOKEN": "tok-abc-secret"}))
	if err != nil {
		t.Fatal(err)
	}
	a := c.Tenants[0].Auth
	if len(a.Tokens) != 0 {
		t.Fatalf("plaintext tokens kept: %v", a.Tokens)
	}
	if len(a.TokenHashes) != 2 || a.TokenHashes[0] != HashToken("other") || a.TokenHashes[1] != HashToken("tok-abc-secret") {
		t.Fatalf("hashes = %v", a.TokenHashes)
	}
	secrets := strings.Join(c.Secrets(), "|")
	for _, s := range []string{"db-pass-123", "tok-abc-secret"} {
		if !strings.Contains(secrets, s) {
			t.Errorf("Secrets() lacks %q", s)
		}
	}
}
