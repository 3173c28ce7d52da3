package kafka_test

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/health"
	"github.com/logwise/controlplane/shared/kafka"
	"github.com/logwise/controlplane/shared/store"
	"github.com/logwise/controlplane/shared/store/storetest"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startCluster(t *testing.T, port int) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.Ports(port), kfake.SeedTopics(2, "logs.api"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestKafkaUnreachableThenBack closes the tenant's Kafka cluster and runs the scaler's Kafka
// step and the health check against it: the scale run fails with an Unavailable error, stores
// no sample and records nothing; the health verdict is DOWN naming the brokers. A cluster
// listening on the same address again is picked up by the same clients without a restart: the
// next run stores its sample and the health check is UP.
func TestKafkaUnreachableThenBack(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cluster := startCluster(t, port)
	adm, err := kafka.Connect(config.Kafka{KafkaType: "ec2", KafkaBrokersHost: addr}, nil, kafka.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(adm.Close)
	db := storetest.New(t)
	now := time.Date(2031, 11, 22, 10, 0, 0, 0, time.UTC)
	db.SetClock(func() time.Time { return now })
	ctx := context.Background()
	lease, err := db.AcquireLease(ctx, "scaler/ABC", "test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s := kafka.NewService(db, executions.NewLog(db.SQL(), "test"), []kafka.Tenant{{Name: "ABC",
		Kafka: config.Kafka{PartitionRatePerSecond: 10, MaxPartitionsPerTopic: 6}, SubscribePattern: "^logs.*", Admin: adm}})
	s.SetClock(func() time.Time { return now })
	tenant := &config.Tenant{Name: "ABC", Kafka: config.Kafka{KafkaBrokersHost: addr}, Spark: config.Spark{SubscribePattern: "^logs.*"}}
	checker := health.NewChecker(nil, nil)
	probe := health.KadmProbe{Admin: adm}
	bounded := func(d time.Duration) context.Context {
		c, cancel := context.WithTimeout(ctx, d)
		t.Cleanup(cancel)
		return c
	}

	if r, err := s.Scale(bounded(10*time.Second), "ABC", lease); err != nil || !r.Success {
		t.Fatalf("healthy run: %+v, %v", r, err)
	}
	before, err := db.KafkaBaselines(ctx, "ABC")
	if err != nil || len(before) != 1 {
		t.Fatalf("baselines after the healthy run: %v, %v; want logs.api", before, err)
	}

	cluster.Close()
	now = now.Add(time.Minute)
	r, err := s.Scale(bounded(2*time.Second), "ABC", lease)
	t.Logf("Kafka down: scale result %q, error kind %v: %v", r.Message, fault.KindOf(err), err)
	if !fault.Is(err, fault.Unavailable) || r.Success {
		t.Errorf("scale with Kafka down: success=%v, error %v (kind %v); want an Unavailable failure", r.Success, err, fault.KindOf(err))
	}
	after, err := db.KafkaBaselines(ctx, "ABC")
	if err != nil || !reflect.DeepEqual(after, before) {
		t.Errorf("baselines changed while Kafka was down: %v, want %v (%v)", after, before, err)
	}
	if n := increases(t, db); n != 0 {
		t.Errorf("%d partition increases recorded while Kafka was down", n)
	}
	_, herr := kafka.CheckHealth(bounded(2*time.Second), adm, "^logs.*")
	t.Logf("Kafka down: CheckHealth error kind %v: %v", fault.KindOf(herr), herr)
	if !fault.Is(herr, fault.Unavailable) {
		t.Errorf("CheckHealth with the cluster closed: %v (kind %v), want Unavailable", herr, fault.KindOf(herr))
	}
	rep := checker.Check(bounded(5*time.Second), tenant, health.Targets{Kafka: probe})
	down := componentStatus(rep, "kafka")
	t.Logf("Kafka down: health %s / kafka %s", rep.Status, down)
	if down != health.Down {
		t.Errorf("kafka verdict with the cluster closed: %s, want DOWN", down)
	}

	startCluster(t, port)
	now = now.Add(time.Minute)
	var ok bool
	for attempt := 0; attempt < 20 && !ok; attempt++ { // the client redials on its own
		r, err = s.Scale(bounded(2*time.Second), "ABC", lease)
		ok = err == nil && r.Success
	}
	t.Logf("Kafka back: scale result %q, error %v", r.Message, err)
	if !ok {
		t.Fatalf("scale after Kafka came back: %+v, %v", r, err)
	}
	back, err := db.KafkaBaselines(ctx, "ABC")
	if err != nil || !back["logs.api"].SampledAt.Equal(now) {
		t.Errorf("baselines after recovery: %v, %v; want logs.api sampled at %v", back, err, now)
	}
	rep = checker.Check(bounded(5*time.Second), tenant, health.Targets{Kafka: probe})
	t.Logf("Kafka back: kafka %s", componentStatus(rep, "kafka"))
	if got := componentStatus(rep, "kafka"); got != health.Up {
		t.Errorf("kafka verdict after recovery: %s, want UP", got)
	}
}

func componentStatus(r health.Report, name string) health.Status {
	for _, c := range r.Checks {
		if c.Component == name {
			return c.Check.Status
		}
	}
	return ""
}

func increases(t *testing.T, db *store.DB) int {
	t.Helper()
	var n int
	if err := db.SQL().QueryRow("SELECT COUNT(*) FROM orchestrations WHERE body LIKE '%kafkaPartitionIncrease%'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
