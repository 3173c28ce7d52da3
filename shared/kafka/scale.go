package kafka

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/executions"
	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/health"
	"github.com/logwise/controlplane/shared/metrics"
	"github.com/logwise/controlplane/shared/store"
)

// KindPartitionIncrease is the execution kind recorded for each partition increase.
const KindPartitionIncrease = "kafkaPartitionIncrease"

// admin is the part of kadm.Client partition scaling uses.
type admin interface {
	ListTopics(ctx context.Context, topics ...string) (kadm.TopicDetails, error)
	ListEndOffsets(ctx context.Context, topics ...string) (kadm.ListedOffsets, error)
	UpdatePartitions(ctx context.Context, set int, topics ...string) (kadm.CreatePartitionsResponses, error)
}

// baselines is where samples persist between runs (MySQL: they must survive restarts and be
// shared by every invocation).
type baselines interface {
	KafkaBaselines(ctx context.Context, tenant string) (map[string]store.KafkaBaseline, error)
	PutKafkaBaselineTx(ctx context.Context, tx *sql.Tx, b store.KafkaBaseline) error
	WithFence(ctx context.Context, l store.Lease, fn func(*sql.Tx) error) error
}

// recorder writes the execution log.
type recorder interface {
	Record(ctx context.Context, a executions.Action) (string, error)
}

// Tenant is one tenant's Kafka configuration and admin client.
type Tenant struct {
	Name             string
	Kafka            config.Kafka
	SubscribePattern string
	Admin            admin
}

// Result is the answer of a scaling run (Logwise's ScaleKafkaPartitionsResponse).
type Result struct {
	Success      bool            `json:"success"`
	Message      string          `json:"message"`
	TopicsScaled int             `json:"topicsScaled"`
	Warnings     []string        `json:"warnings"`
	Errors       []string        `json:"errors"`
	Decisions    []PartitionPlan `json:"scalingDecisions"`
}

// Service scales partitions of the topics a tenant's Spark job reads.
type Service struct {
	db      baselines
	rec     recorder
	tenants map[string]Tenant
	now     func() time.Time
	metrics *metrics.Writer
}

// NewService returns a service over the tenants' clusters.
func NewService(db baselines, rec recorder, tenants []Tenant) *Service {
	s := &Service{db: db, rec: rec, tenants: map[string]Tenant{}, now: time.Now}
	for _, t := range tenants {
		s.tenants[t.Name] = t
	}
	return s
}

// SetClock replaces the clock (tests).
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// SetMetrics sets where the per-run metrics go (nil discards).
func (s *Service) SetMetrics(w *metrics.Writer) { s.metrics = w }

// Scale samples the end offsets of every topic fully matching the tenant's subscribe pattern,
// stores the samples (fenced by lease), and raises the partitions of topics whose ingest rate
// since the previous sample needs more. A topic that vanishes or fails is a warning or an
// error in the result; the others still proceed. The error is non-nil when the run as a whole
// failed (unknown tenant, Kafka unreachable, lease lost).
func (s *Service) Scale(ctx context.Context, tenant string, lease store.Lease) (Result, error) {
	r := Result{Warnings: []string{}, Errors: []string{}, Decisions: []PartitionPlan{}}
	fail := func(err error) (Result, error) {
		r.Success, r.Message = false, "Failed to scale Kafka partitions: "+err.Error()
		r.Errors = append(r.Errors, err.Error())
		return r, err
	}
	t, ok := s.tenants[tenant]
	if !ok {
		return fail(fault.New(fault.NotFound, "tenant %s has no Kafka configuration", tenant))
	}
	if !t.Kafka.PartitionScalingEnabled() {
		r.Success, r.Message = true, "Kafka partition scaling is disabled for tenant: "+tenant
		return r, nil
	}
	re, err := health.SubscribeMatcher(t.SubscribePattern)
	if err != nil {
		return fail(err)
	}
	details, err := t.Admin.ListTopics(ctx)
	if err != nil {
		return fail(fault.Wrap(fault.Unavailable, err, "list Kafka topics for tenant %s", tenant))
	}
	partitions := map[string]int{}
	for name, td := range details {
		if td.Err == nil && !td.IsInternal && re.MatchString(name) {
			partitions[name] = len(td.Partitions)
		}
	}
	topics := make([]string, 0, len(partitions))
	for name := range partitions {
		topics = append(topics, name)
	}
	slices.Sort(topics)
	if len(topics) == 0 {
		r.Success, r.Message = true, fmt.Sprintf("No topics match %s for tenant: %s", t.SubscribePattern, tenant)
		return r, nil
	}
	offsets, err := t.Admin.ListEndOffsets(ctx, topics...)
	if err != nil {
		return fail(fault.Wrap(fault.Unavailable, err, "list end offsets for tenant %s", tenant))
	}
	now := s.now()
	prev, err := s.db.KafkaBaselines(ctx, tenant)
	if err != nil {
		return fail(err)
	}
	var samples []store.KafkaBaseline
	var plans []PartitionPlan
	for _, topic := range topics {
		sum, n, gone, perr := endOffsetSum(offsets, topic)
		switch {
		case gone:
			r.Warnings = append(r.Warnings, fmt.Sprintf("topic %s disappeared while sampling; skipped", topic))
			continue
		case perr != nil:
			r.Warnings = append(r.Warnings, fmt.Sprintf("topic %s: end offsets unavailable (%v); skipped", topic, perr))
			continue
		}
		if n > partitions[topic] {
			partitions[topic] = n
		}
		var pp *Sample
		var streak Streak
		if b, ok := prev[topic]; ok {
			pp = &Sample{OffsetSum: b.OffsetSum, At: b.SampledAt}
			streak = Streak{Samples: b.HighSamples, Since: b.HighSince, Required: b.HighRequired}
		}
		plan := Plan(topic, pp, Sample{OffsetSum: sum, At: now}, partitions[topic], t.Kafka.PartitionRatePerSecond, t.Kafka.MaxPartitionsPerTopic)
		plan, streak = Sustain(plan, streak, now, GrowthOf(t.Kafka.PartitionGrowthSamples, t.Kafka.PartitionGrowthWindowSeconds))
		r.Decisions = append(r.Decisions, plan)
		if !plan.KeepBaseline {
			samples = append(samples, store.KafkaBaseline{Tenant: tenant, Topic: topic, OffsetSum: sum, SampledAt: now,
				HighSamples: streak.Samples, HighSince: streak.Since, HighRequired: streak.Required})
		}
		if plan.Rule == "atMaxPartitions" || plan.Rule == "increaseCapped" {
			r.Warnings = append(r.Warnings, fmt.Sprintf("topic %s needs %d partitions; capped at maxPartitionsPerTopic %d", topic, plan.Required, t.Kafka.MaxPartitionsPerTopic))
		}
		if plan.Target > 0 {
			plans = append(plans, plan)
		}
	}
	err = s.db.WithFence(ctx, lease, func(tx *sql.Tx) error {
		for _, b := range samples {
			if err := s.db.PutKafkaBaselineTx(ctx, tx, b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fail(fmt.Errorf("store Kafka samples for tenant %s: %w", tenant, err))
	}
	added := 0
	for _, p := range plans {
		if err := s.increase(ctx, t, p); err != nil {
			r.Errors = append(r.Errors, err.Error())
			continue
		}
		r.TopicsScaled++
		added += p.Target - p.Current
	}
	_ = s.metrics.Emit(map[string]string{"tenant": tenant},
		metrics.Metric{Name: "KafkaPartitionsAdded", Value: float64(added), Unit: metrics.Count},
		metrics.Metric{Name: "KafkaTopicsScaled", Value: float64(r.TopicsScaled), Unit: metrics.Count})
	r.Success = len(r.Errors) == 0
	if r.Success {
		r.Message = "Successfully scaled Kafka partitions for tenant: " + tenant
	} else {
		r.Message = "Failed to scale Kafka partitions: " + strings.Join(r.Errors, "; ")
	}
	return r, nil
}

// increase raises one topic's partitions and records it.
func (s *Service) increase(ctx context.Context, t Tenant, p PartitionPlan) error {
	start := s.now()
	resp, err := t.Admin.UpdatePartitions(ctx, p.Target, p.Topic)
	if err == nil {
		if tr, ok := resp[p.Topic]; ok && tr.Err != nil {
			err = fmt.Errorf("%w %s", tr.Err, tr.ErrMessage)
		}
	}
	status, outcome := executions.Succeeded, map[string]any{"partitions": p.Target}
	if err != nil {
		err = fmt.Errorf("increase partitions of %s to %d: %w", p.Topic, p.Target, err)
		status, outcome["error"] = executions.Terminal, err.Error()
	}
	_, rerr := s.rec.Record(ctx, executions.Action{
		Tenant: t.Name, Kind: KindPartitionIncrease, Trigger: "schedule", Status: status, StartTime: start,
		Description: fmt.Sprintf("Kafka topic %s: %d → %d partitions", p.Topic, p.Current, p.Target),
		Inputs: map[string]any{"topic": p.Topic, "currentPartitions": p.Current, "ratePerSecond": p.RatePerSec,
			"sampleAgeSeconds": p.AgeSeconds, "partitionRatePerSecond": t.Kafka.PartitionRatePerSecond},
		Rule:    "required = ceil(rate / partitionRatePerSecond), capped at maxPartitionsPerTopic; partitions only grow",
		Outcome: outcome,
	})
	return errors.Join(err, rerr)
}

// endOffsetSum sums a topic's high watermarks. gone is true when the topic no longer exists.
func endOffsetSum(l kadm.ListedOffsets, topic string) (sum int64, partitions int, gone bool, err error) {
	ps, ok := l[topic]
	if !ok || len(ps) == 0 {
		return 0, 0, true, nil
	}
	for _, o := range ps {
		if o.Err != nil {
			if errors.Is(o.Err, kerr.UnknownTopicOrPartition) || errors.Is(o.Err, kerr.UnknownTopicID) {
				return 0, 0, true, nil
			}
			return 0, 0, false, o.Err
		}
		sum += o.Offset
		partitions++
	}
	return sum, partitions, false, nil
}
