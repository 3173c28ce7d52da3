package kafka

import (
	"math"
	"time"
)

// The sample ages between which a rate is measured (Logwise: more than 30 s, at most 300 s).
const (
	MinSampleAge = 30 * time.Second
	MaxSampleAge = 300 * time.Second
)

// Sample is a topic's summed end offsets at a time.
type Sample struct {
	OffsetSum int64
	At        time.Time
}

// PartitionPlan is the pure partition decision for one topic.
type PartitionPlan struct {
	Topic      string  `json:"topic"`
	Current    int     `json:"currentPartitions"`
	Required   int     `json:"requiredPartitions"`
	Target     int     `json:"targetPartitions"` // Required capped by the maximum; 0 when nothing to do
	RatePerSec float64 `json:"ratePerSecond"`
	AgeSeconds float64 `json:"sampleAgeSeconds"`
	Rule       string  `json:"rule"`
	// KeepBaseline is true when the previous sample must stay (the new one is too close).
	KeepBaseline bool `json:"-"`
}

// Plan decides a topic's partition count from the previous sample and the current one:
// rate = delta / seconds (float); required = ceil(rate / ratePerPartition); partitions only
// grow, up to maxPartitions. A sample younger than MinSampleAge keeps the baseline (Logwise
// reset it, so calls under 30 s apart never scaled); an older, future or backwards one resets it.
func Plan(topic string, prev *Sample, cur Sample, partitions int, ratePerPartition int64, maxPartitions int) PartitionPlan {
	p := PartitionPlan{Topic: topic, Current: partitions}
	if prev == nil {
		p.Rule = "noBaseline"
		return p
	}
	age := cur.At.Sub(prev.At)
	p.AgeSeconds = age.Seconds()
	switch {
	case age < 0:
		p.Rule = "baselineInFuture"
		return p
	case age <= MinSampleAge:
		p.Rule, p.KeepBaseline = "sampleTooRecent", true
		return p
	case age > MaxSampleAge:
		p.Rule = "baselineTooOld"
		return p
	case cur.OffsetSum < prev.OffsetSum:
		p.Rule = "offsetsWentBack"
		return p
	}
	p.RatePerSec = float64(cur.OffsetSum-prev.OffsetSum) / age.Seconds()
	p.Required = int(math.Ceil(p.RatePerSec / float64(max(ratePerPartition, 1))))
	switch {
	case p.Required <= partitions:
		p.Rule = "enoughPartitions"
	case partitions >= maxPartitions:
		p.Rule = "atMaxPartitions"
	default:
		p.Target = min(p.Required, maxPartitions)
		p.Rule = "increase"
		if p.Target < p.Required {
			p.Rule = "increaseCapped"
		}
	}
	return p
}
