package kafka

import (
	"testing"
	"time"
)

// TestGrowthNeedsASustainedRate: partitions never shrink, so one busy 30-second sample must
// not add them. An increase needs Samples consecutive samples that each need more, spanning
// at least Window; it asks for the least of them (the rate that was sustained). A sample
// that needs no more, or cannot be measured, starts the count again; a too-recent one
// leaves it as it is.
func TestGrowthNeedsASustainedRate(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	g := Growth{Samples: 3, Window: 2 * time.Minute}
	want := func(target int, rule string) PartitionPlan { return PartitionPlan{Target: target, Rule: rule} }
	tests := []struct {
		name  string
		plans []PartitionPlan // one per minute, Current 3
		want  []PartitionPlan // Target and Rule after Sustain
	}{
		{"one spike adds nothing",
			[]PartitionPlan{want(0, "enoughPartitions"), want(8, "increase"), want(0, "enoughPartitions"), want(0, "enoughPartitions")},
			[]PartitionPlan{want(0, "enoughPartitions"), want(0, "growthNotSustained"), want(0, "enoughPartitions"), want(0, "enoughPartitions")}},
		{"three in a row over two minutes add the least needed",
			[]PartitionPlan{want(8, "increase"), want(5, "increase"), want(6, "increase")},
			[]PartitionPlan{want(0, "growthNotSustained"), want(0, "growthNotSustained"), want(5, "increase")}},
		{"a quiet sample in between restarts the count",
			[]PartitionPlan{want(8, "increase"), want(8, "increase"), want(0, "enoughPartitions"), want(8, "increase"), want(8, "increase"), want(8, "increase")},
			[]PartitionPlan{want(0, "growthNotSustained"), want(0, "growthNotSustained"), want(0, "enoughPartitions"), want(0, "growthNotSustained"), want(0, "growthNotSustained"), want(8, "increase")}},
		{"an unmeasurable sample restarts the count",
			[]PartitionPlan{want(8, "increase"), want(8, "increase"), want(0, "baselineTooOld"), want(8, "increase")},
			[]PartitionPlan{want(0, "growthNotSustained"), want(0, "growthNotSustained"), want(0, "baselineTooOld"), want(0, "growthNotSustained")}},
		{"capped growth is still growth",
			[]PartitionPlan{want(6, "increaseCapped"), want(6, "increaseCapped"), want(6, "increaseCapped")},
			[]PartitionPlan{want(0, "growthNotSustained"), want(0, "growthNotSustained"), want(6, "increaseCapped")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Streak
			for i, p := range tt.plans {
				p.Current = 3
				got, next := Sustain(p, s, t0.Add(time.Duration(i)*time.Minute), g)
				if got.Target != tt.want[i].Target || got.Rule != tt.want[i].Rule {
					t.Errorf("sample %d (%s, target %d, streak %+v): got %s target %d, want %s target %d", i, p.Rule, p.Target, s, got.Rule, got.Target, tt.want[i].Rule, tt.want[i].Target)
				}
				s = next
			}
		})
	}
	// Samples that come faster than the window: three in 40 s are not yet sustained.
	var s Streak
	for i := range 4 {
		p, next := Sustain(PartitionPlan{Current: 3, Target: 8, Rule: "increase"}, s, t0.Add(time.Duration(i)*40*time.Second), g)
		if wantT := map[bool]int{true: 8, false: 0}[i == 3]; p.Target != wantT {
			t.Errorf("sample at %ds: target %d, want %d", i*40, p.Target, wantT)
		}
		s = next
	}
	// A too-recent sample keeps the streak.
	s = Streak{Samples: 2, Since: t0, Required: 7}
	if p, next := Sustain(PartitionPlan{Current: 3, Rule: "sampleTooRecent", KeepBaseline: true}, s, t0.Add(90*time.Second), g); p.Target != 0 || next != s {
		t.Errorf("too recent: %+v, streak %+v; want no target and the streak kept", p, next)
	}
	// Once the partitions already grew past the sustained need (an operator), nothing is added.
	s = Streak{Samples: 2, Since: t0, Required: 5}
	if p, _ := Sustain(PartitionPlan{Current: 6, Target: 9, Rule: "increase"}, s, t0.Add(3*time.Minute), g); p.Target != 0 {
		t.Errorf("partitions already past the sustained need: target %d, want 0", p.Target)
	}
}
