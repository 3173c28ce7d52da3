package health

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
)

// KadmProbe reads cluster metadata through franz-go's admin client. The lead may replace it
// with an adapter of shared/kafka; it is kept here so the health check needs nothing else.
type KadmProbe struct {
	Admin *kadm.Client
}

// Metadata requests metadata for all topics and counts offline and under-replicated
// partitions of each. It asks the brokers every time: kadm otherwise answers from franz-go's
// metadata cache (up to 5 s old), which kept reporting a closed cluster UP.
// kadm.WithAuthorizedOps is kadm's only way to bypass that cache.
func (p KadmProbe) Metadata(ctx context.Context) (ClusterState, error) {
	md, err := p.Admin.Metadata(kadm.WithAuthorizedOps(ctx))
	if err != nil {
		return ClusterState{}, fmt.Errorf("kafka metadata: %w", err)
	}
	st := ClusterState{Topics: make(map[string]TopicHealth, len(md.Topics))}
	for _, b := range md.Brokers {
		st.Brokers = append(st.Brokers, net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))))
	}
	for name, td := range md.Topics {
		if td.IsInternal {
			continue
		}
		if td.Err != nil {
			st.Topics[name] = TopicHealth{Offline: 1}
			continue
		}
		th := TopicHealth{Partitions: len(td.Partitions)}
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
