package kafka

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/health"
)

// Health is what the pipeline-health check reports of Kafka.
type Health struct {
	Brokers int      `json:"brokers"`
	Topics  []string `json:"topics"` // topics fully matching the subscribe pattern
}

// CheckHealth asks the brokers for metadata and lists the topics matching pattern. It bypasses
// kadm's metadata cache (kadm.WithAuthorizedOps), so an unreachable cluster is reported at once.
func CheckHealth(ctx context.Context, adm *kadm.Client, pattern string) (Health, error) {
	re, err := health.SubscribeMatcher(pattern)
	if err != nil {
		return Health{}, err
	}
	md, err := adm.Metadata(kadm.WithAuthorizedOps(ctx))
	if err != nil {
		return Health{}, fault.Wrap(fault.Unavailable, err, "Kafka metadata")
	}
	h := Health{Brokers: len(md.Brokers), Topics: []string{}}
	for name, td := range md.Topics {
		if td.Err == nil && !td.IsInternal && re.MatchString(name) {
			h.Topics = append(h.Topics, name)
		}
	}
	slices.Sort(h.Topics)
	if h.Brokers == 0 {
		return h, fault.New(fault.Unavailable, "Kafka answered metadata with no brokers")
	}
	return h, nil
}
