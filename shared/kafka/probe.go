package kafka

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/logwise/controlplane/shared/health"
)

// Probe answers the pipeline health check's Kafka question (health.KafkaMetadata) through
// franz-go's admin client. It lives here, not in shared/health, so that a function which
// links the health check without Kafka (discovery) links no Kafka client.
type Probe struct {
	Admin MetadataReader
}

// MetadataReader is the part of kadm.Client the probe uses.
type MetadataReader interface {
	Metadata(ctx context.Context, topics ...string) (kadm.Metadata, error)
}

// Metadata requests metadata for all topics and counts offline and under-replicated
// partitions of each. It asks the brokers every time: kadm otherwise answers from franz-go's
// metadata cache (up to 5 s old), which kept reporting a closed cluster UP.
// kadm.WithAuthorizedOps is kadm's only way to bypass that cache.
func (p Probe) Metadata(ctx context.Context) (health.ClusterState, error) {
	md, err := p.Admin.Metadata(kadm.WithAuthorizedOps(ctx))
	if err != nil {
		return health.ClusterState{}, fmt.Errorf("kafka metadata: %w", err)
	}
	st := health.ClusterState{Topics: make(map[string]health.TopicHealth, len(md.Topics))}
	for _, b := range md.Brokers {
		st.Brokers = append(st.Brokers, net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))))
	}
	for name, td := range md.Topics {
		if td.IsInternal {
			continue
		}
		if td.Err != nil {
			st.Topics[name] = health.TopicHealth{Offline: 1}
			continue
		}
		th := health.TopicHealth{Partitions: len(td.Partitions)}
		for _, pd := range td.Partitions {
			if pd.Err != nil || pd.Leader < 0 {
				th.Offline++
			} else if len(pd.ISR) < len(pd.Replicas) {
				th.UnderReplicated++
			}
		}
		st.Topics[name] = th
	}
	return st, nil
}
