package kafka

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/store/storetest"
)

// TestPlan is the reference's table 12.8 (the decision rows) plus this port's changes.
func TestPlan(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2031, 11, 22, 10, 0, 0, 0, time.UTC)
	prev := func(sum int64, age time.Duration) *Sample { return &Sample{OffsetSum: sum, At: t0.Add(-age)} }
	tests := []struct {
		name       string
		prev       *Sample
		sum        int64
		partitions int
		rate       int64
		max        int
		wantTarget int
		wantRule   string
		wantKeep   bool
	}{
		{"no baseline", nil, 50000, 5, 1000, 1000, 0, "noBaseline", false},
		{"rate 166/s needs 1 of 10", prev(100000, 60*time.Second), 110000, 10, 1000, 1000, 0, "enoughPartitions", false},
		{"baseline 301 s old", prev(100000, 301*time.Second), 110000, 10, 1000, 1000, 0, "baselineTooOld", false},
		{"baseline in the future", prev(100000, -time.Second), 110000, 10, 1000, 1000, 0, "baselineInFuture", false},
		{"rate 16666/s needs 17", prev(100000, 60*time.Second), 1100000, 3, 1000, 1000, 17, "increase", false},
		{"rate 2001/s at 2000 needs 2", prev(0, 60*time.Second), 120060, 1, 2000, 1000, 2, "increase", false},
		{"30 s is too recent: baseline kept", prev(0, 30*time.Second), 120060, 1, 2000, 1000, 0, "sampleTooRecent", true},
		{"300 s still counts", prev(0, 300*time.Second), 900000, 1, 2000, 1000, 2, "increase", false},
		{"capped by maxPartitions", prev(100000, 60*time.Second), 1100000, 3, 1000, 8, 8, "increaseCapped", false},
		{"already at maxPartitions", prev(100000, 60*time.Second), 1100000, 8, 1000, 8, 0, "atMaxPartitions", false},
		{"offsets went back (topic recreated)", prev(5000, 60*time.Second), 10, 3, 1000, 1000, 0, "offsetsWentBack", false},
		{"never shrinks", prev(0, 60*time.Second), 60, 12, 1, 1000, 0, "enoughPartitions", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := Plan("logs.api", tc.prev, Sample{OffsetSum: tc.sum, At: t0}, tc.partitions, tc.rate, tc.max)
			if p.Target != tc.wantTarget || p.Rule != tc.wantRule || p.KeepBaseline != tc.wantKeep {
				t.Errorf("got target %d rule %s keep %v (rate %.2f), want %d %s %v", p.Target, p.Rule, p.KeepBaseline, p.RatePerSec, tc.wantTarget, tc.wantRule, tc.wantKeep)
			}
		})
	}
	// The rate is a float, not Logwise's integer division: 100 records in 61 s.
	p := Plan("t", &Sample{0, t0.Add(-61 * time.Second)}, Sample{100, t0}, 1, 1, 1000)
	if math.Abs(p.RatePerSec-100.0/61) > 1e-9 {
		t.Errorf("rate = %v, want %v", p.RatePerSec, 100.0/61)
	}
}

type kafkaWorld struct {
	cluster *kfake.Cluster
	adm     *kadm.Client
	prod    *kgo.Client
}

func newKafkaWorld(t *testing.T) kafkaWorld {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(3, "logs.api"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	adm, err := Connect(config.Kafka{KafkaType: "ec2", KafkaBrokersHost: c.ListenAddrs()[0]}, nil, Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(adm.Close)
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	ctx := context.Background()
	for _, topic := range []string{"logs.web", "metrics.api", "xlogs.api"} {
		if _, err := adm.CreateTopic(ctx, 2, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	return kafkaWorld{cluster: c, adm: adm, prod: prod}
}

func (w kafkaWorld) produce(t *testing.T, topic string, n int) {
	t.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: []byte("x")}
	}
	if err := w.prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func (w kafkaWorld) partitions(t *testing.T, topic string) int {
	t.Helper()
	td, err := w.adm.ListTopics(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	return len(td[topic].Partitions)
}

func countExecutions(t *testing.T, db *store.DB) int {
	var n int
	if err := db.SQL().QueryRow("SELECT COUNT(*) FROM orchestrations WHERE body LIKE '%kafkaPartitionIncrease%'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestScaleAgainstKfakeWithBaselinesSurvivingRestart(t *testing.T) {
	t.Parallel()
	w := newKafkaWorld(t)
	db := storetest.New(t)
	ctx := context.Background()
	now := time.Date(2031, 11, 22, 10, 0, 0, 0, time.UTC)
	db.SetClock(func() time.Time { return now })
	lease, err := db.AcquireLease(ctx, "scaler/ABC", "test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Kafka{PartitionRatePerSecond: 10, MaxPartitionsPerTopic: 6}
	// newService is a fresh function instance: nothing survives in memory.
	newService := func() *Service {
		log := executions.NewLog(db.SQL(), "test")
		s := NewService(db, log, []Tenant{{Name: "ABC", Kafka: cfg, SubscribePattern: "^logs.*", Admin: w.adm}})
		s.SetClock(func() time.Time { return now })
		return s
	}

	w.produce(t, "logs.api", 100)
	r, err := newService().Scale(ctx, "ABC", lease)
	if err != nil || !r.Success || r.TopicsScaled != 0 {
		t.Fatalf("first run: %+v, %v; want success with nothing scaled (no baseline)", r, err)
	}
	if got := planTopics(r); got != "[logs.api logs.web]" {
		t.Errorf("topics sampled %s, want [logs.api logs.web] (full match of ^logs.*)", got)
	}

	// Restart; 60 s later 3000 more records: 50/s at 10/s per partition needs 5 > 3.
	now = now.Add(60 * time.Second)
	w.produce(t, "logs.api", 3000)
	r, err = newService().Scale(ctx, "ABC", lease)
	if err != nil || !r.Success || r.TopicsScaled != 1 {
		t.Fatalf("second run: %+v, %v; want logs.api scaled", r, err)
	}
	if got := w.partitions(t, "logs.api"); got != 5 {
		t.Errorf("logs.api partitions = %d, want 5", got)
	}
	if got := w.partitions(t, "logs.web"); got != 2 {
		t.Errorf("logs.web partitions = %d, want 2 (idle)", got)
	}
	if n := countExecutions(t, db); n != 1 {
		t.Errorf("recorded %d partition increases, want 1", n)
	}

	// 20 s later: too recent, the baseline is kept; 50 s after it, the rate counts again.
	now = now.Add(20 * time.Second)
	w.produce(t, "logs.api", 100)
	if r, _ := newService().Scale(ctx, "ABC", lease); r.TopicsScaled != 0 || r.Decisions[0].Rule != "sampleTooRecent" {
		t.Errorf("20 s later: %+v, want sampleTooRecent", r.Decisions)
	}
	now = now.Add(30 * time.Second)
	w.produce(t, "logs.api", 4900) // 5000 records in 50 s since the kept baseline: 100/s needs 10, capped at 6
	r, _ = newService().Scale(ctx, "ABC", lease)
	if r.TopicsScaled != 1 || w.partitions(t, "logs.api") != 6 || len(r.Warnings) != 1 {
		t.Errorf("capped run: scaled %d, partitions %d, warnings %v; want 1, 6 (cap), one warning", r.TopicsScaled, w.partitions(t, "logs.api"), r.Warnings)
	}

	// A stale lease writes nothing.
	stale := lease
	stale.Token--
	if _, err := newService().Scale(ctx, "ABC", stale); err == nil {
		t.Error("scale under a stale lease succeeded")
	}
}

func planTopics(r Result) string {
	var out []string
	for _, p := range r.Decisions {
		out = append(out, p.Topic)
	}
	return fmt.Sprint(out)
}

// vanishingAdmin deletes a topic right after listing it: the run must go on without it.
type vanishingAdmin struct {
	*kadm.Client
	topic string
}

func (v vanishingAdmin) ListTopics(ctx context.Context, topics ...string) (kadm.TopicDetails, error) {
	td, err := v.Client.ListTopics(ctx, topics...)
	if err == nil {
		if _, err := v.Client.DeleteTopics(ctx, v.topic); err != nil {
			return nil, err
		}
	}
	return td, err
}

func TestScaleTopicDeletedBetweenListAndOffsets(t *testing.T) {
	t.Parallel()
	w := newKafkaWorld(t)
	db := storetest.NewEmbedded(t)
	ctx := context.Background()
	lease, err := db.AcquireLease(ctx, "scaler/ABC", "test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s := NewService(db, executions.NewLog(db.SQL(), "test"), []Tenant{{Name: "ABC", Kafka: config.Kafka{PartitionRatePerSecond: 10, MaxPartitionsPerTopic: 10},
		SubscribePattern: "^logs.*", Admin: vanishingAdmin{w.adm, "logs.web"}}})
	r, err := s.Scale(ctx, "ABC", lease)
	if err != nil || !r.Success || len(r.Warnings) != 1 || planTopics(r) != "[logs.api]" {
		t.Fatalf("got %+v, %v; want success, one warning about logs.web, logs.api sampled", r, err)
	}
	bs, _ := db.KafkaBaselines(ctx, "ABC")
	if _, ok := bs["logs.web"]; ok || len(bs) != 1 {
		t.Errorf("baselines %v, want only logs.api", bs)
	}
}

func TestScaleDisabledAndHealth(t *testing.T) {
	t.Parallel()
	w := newKafkaWorld(t)
	off := false
	db := storetest.NewEmbedded(t)
	s := NewService(db, executions.NewLog(db.SQL(), "test"), []Tenant{{Name: "ABC", Kafka: config.Kafka{EnablePartitionScaling: &off}, SubscribePattern: "^logs.*", Admin: w.adm}})
	r, err := s.Scale(context.Background(), "ABC", store.Lease{})
	if err != nil || !r.Success || r.TopicsScaled != 0 {
		t.Errorf("disabled: %+v, %v", r, err)
	}
	if _, err := s.Scale(context.Background(), "NOPE", store.Lease{}); err == nil {
		t.Error("unknown tenant succeeded")
	}
	h, err := CheckHealth(context.Background(), w.adm, "^logs.*")
	if err != nil || h.Brokers != 3 || fmt.Sprint(h.Topics) != "[logs.api logs.web]" {
		t.Errorf("health = %+v, %v; want 3 brokers and [logs.api logs.web]", h, err)
	}
}

func TestOptionsPerConnectionType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		k       config.Kafka
		creds   Credentials
		wantErr string
		wantN   int // options beyond the 3 common ones
	}{
		{"ec2 plain", config.Kafka{KafkaType: "ec2", KafkaBrokersHost: "b1,b2:9093", KafkaBrokerPort: 9092}, Credentials{}, "", 0},
		{"ec2 TLS", config.Kafka{KafkaType: "ec2", KafkaBrokersHost: "b1", KafkaBrokerPort: 9094, TLS: true}, Credentials{}, "", 1},
		{"msk without AWS credentials", config.Kafka{KafkaType: "msk", KafkaBrokersHost: "b1"}, Credentials{}, "needs AWS credentials", 0},
		{"msk with AWS credentials", config.Kafka{KafkaType: "msk", KafkaBrokersHost: "b1", KafkaBrokerPort: 9098}, Credentials{}, "", 2},
		{"confluent", config.Kafka{KafkaType: "confluent", KafkaBrokersHost: "b1", ConfluentAPIKey: "k", ConfluentAPISecret: "s3cr3t"}, Credentials{}, "", 2},
		{"confluent without secret", config.Kafka{KafkaType: "confluent", KafkaBrokersHost: "b1", ConfluentAPIKey: "k"}, Credentials{}, "needs confluentApiKey", 0},
		{"unknown type", config.Kafka{KafkaType: "kinesis", KafkaBrokersHost: "b1"}, Credentials{}, "Invalid Kafka type: kinesis", 0},
	}
	for _, tc := range tests {
		var awsCreds aws.CredentialsProvider
		if tc.name == "msk with AWS credentials" {
			awsCreds = credentials.NewStaticCredentialsProvider("AKID", "s3cr3t", "")
		}
		opts, err := Options(tc.k, awsCreds, tc.creds)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: got %v, want error containing %q", tc.name, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case len(opts)-3 != tc.wantN:
			t.Errorf("%s: %d extra options, want %d", tc.name, len(opts)-3, tc.wantN)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: secret in error", tc.name)
		}
	}
	if got := fmt.Sprint(Brokers(config.Kafka{KafkaBrokersHost: "b1, b2:9093", KafkaBrokerPort: 9092})); got != "[b1:9092 b2:9093]" {
		t.Errorf("brokers = %s", got)
	}
}
