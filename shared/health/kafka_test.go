package health

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/logwise/controlplane/shared/config"
)

type fakeCluster struct {
	state ClusterState
	err   error
}

func (f fakeCluster) Metadata(context.Context) (ClusterState, error) { return f.state, f.err }

func TestKafkaVerdicts(t *testing.T) {
	t.Parallel()
	brokers := []string{"b1:9092", "b2:9092"}
	tests := []struct {
		name    string
		probe   KafkaMetadata
		want    Status
		message string
	}{
		{"healthy", fakeCluster{state: ClusterState{Brokers: brokers, Topics: map[string]TopicHealth{"logs.api": {Partitions: 3}, "other": {Partitions: 1, Offline: 1}}}},
			Up, "Kafka brokers answer and 1 topics match ^logs.*"},
		{"offline partition", fakeCluster{state: ClusterState{Brokers: brokers, Topics: map[string]TopicHealth{"logs.api": {Partitions: 3, Offline: 1}}}},
			Down, "1 partitions of topics matching ^logs.* have no leader"},
		{"under-replicated", fakeCluster{state: ClusterState{Brokers: brokers, Topics: map[string]TopicHealth{"logs.api": {Partitions: 3, UnderReplicated: 2}}}},
			Warning, "2 partitions of topics matching ^logs.* are under-replicated"},
		{"no brokers", fakeCluster{state: ClusterState{}}, Down, "Kafka answered metadata with no brokers"},
		{"unreachable", fakeCluster{err: errors.New("dial tcp 10.0.0.1:9092: connection refused")}, Down,
			"Kafka brokers kafka.abc are unreachable: dial tcp 10.0.0.1:9092: connection refused"},
		{"no client", nil, Down, "Kafka client is not configured for brokers kafka.abc"},
	}
	tenant := &config.Tenant{Name: "ABC"}
	tenant.Kafka.KafkaBrokersHost = "kafka.abc"
	tenant.Spark.SubscribePattern = "^logs.*"
	for _, tc := range tests {
		got := (&Checker{}).kafka(context.Background(), tenant, tc.probe)
		if got.Status != tc.want || !strings.Contains(got.Message, tc.message) {
			t.Errorf("%s: got %s %q, want %s containing %q", tc.name, got.Status, got.Message, tc.want, tc.message)
		}
	}
}
