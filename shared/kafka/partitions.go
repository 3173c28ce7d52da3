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

// Growth is how sustained a rate must be before partitions grow: adding partitions cannot be
// undone (and reorders keys), so one busy sample is not enough.
type Growth struct {
	// Samples is how many consecutive samples must each need more partitions (at least 1).
	Samples int
	// Window is the least time from the first of them to the last.
	Window time.Duration
}

// GrowthOf reads the tenant's kafka.partitionGrowthSamples and partitionGrowthWindowSeconds.
func GrowthOf(samples, windowSeconds int) Growth {
	return Growth{Samples: max(samples, 1), Window: time.Duration(max(windowSeconds, 0)) * time.Second}
}

// Streak is a topic's run of consecutive samples that needed more partitions (stored with
// its baseline).
type Streak struct {
	Samples  int
	Since    time.Time // when the first of them was taken
	Required int       // the least partition count any of them needed
}

// Sustain applies g to a topic's plan at time at, given its streak so far, and returns the
// plan to act on and the streak to store. A plan that wants more partitions extends the
// streak; it is acted on only once the streak has g.Samples samples spanning g.Window, and
// then asks for the least any of them needed (the rate that was sustained), after which the
// streak restarts. A plan that needs no more, or whose rate could not be measured, restarts
// it; a too-recent sample (KeepBaseline) leaves it unchanged.
func Sustain(p PartitionPlan, s Streak, at time.Time, g Growth) (PartitionPlan, Streak) {
	if p.KeepBaseline {
		return p, s
	}
	if p.Target == 0 {
		return p, Streak{}
	}
	if s.Samples == 0 {
		s = Streak{Since: at, Required: p.Target}
	}
	s.Samples++
	s.Required = min(s.Required, p.Target)
	if s.Samples < max(g.Samples, 1) || at.Sub(s.Since) < g.Window {
		p.Target, p.Rule = 0, "growthNotSustained"
		return p, s
	}
	if s.Required <= p.Current {
		p.Target, p.Rule = 0, "enoughPartitions"
		return p, Streak{}
	}
	p.Target = s.Required
	return p, Streak{}
}
