package scaling

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/logwise/controlplane/shared/fault"
)

// TestDecideHugeReportsNeverWrap: record counts at the edge of int64 must size the cluster
// up to its maximum, never wrap into a downscale or "no input".
func TestDecideHugeReportsNeverWrap(t *testing.T) {
	p := Policy{PerCoreLogsProcess: 1000, ExecutorCoresPerMachine: 4, MinWorkers: 1, MaxWorkers: 50}
	tests := []struct {
		name    string
		records []int64
	}{
		{"five MaxInt64", repeat(math.MaxInt64, 5)},
		{"one huge then ones", []int64{1e12, 1, 1, 1, 1}},
		{"intake bound", repeat(MaxInputRecords, 5)},
		{"intake bound then ones", []int64{MaxInputRecords, 1, 1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decide(Observed{Reports: reports(tt.records...), SinkLog: sinkLog("3"), Workers: 10, DriverRunning: true, Up: true, Down: true}, p)
			if d.Action != Upscale || d.Target != 50 || d.Clamped != 50 || d.Expected < 50 {
				t.Errorf("Decide(%v) = %s %s target %d (expected %d): %s; want upscale to the maximum 50", tt.records, d.Action, d.Rule, d.Target, d.Expected, d.Reason)
			}
		})
	}
}

// TestIntakeBoundsRecordCounts: a report beyond MaxInputRecords is refused with a 400 naming
// the bound, not stored to overflow a later decision.
func TestIntakeBoundsRecordCounts(t *testing.T) {
	for _, field := range []string{"inputRecords", "outputBytes"} {
		body := strings.Replace(`{"sparkStageHistory":{"outputBytes":10,"inputRecords":5,"submissionTime":1,"completionTime":2}}`,
			fmt.Sprintf(`"%s":`, field)+map[string]string{"inputRecords": "5", "outputBytes": "10"}[field],
			fmt.Sprintf(`"%s":%d`, field, int64(math.MaxInt64)), 1)
		_, err := ParseIntake([]byte(body))
		if !fault.Is(err, fault.Invalid) || !strings.Contains(err.Error(), field) || !strings.Contains(err.Error(), fmt.Sprint(MaxInputRecords)) {
			t.Errorf("%s = MaxInt64: err = %v; want Invalid naming the field and the bound %d", field, err, int64(MaxInputRecords))
		}
	}
}

// FuzzDecide: for any reports and policy, the decision never panics, its target stays inside
// [0, max(From, MaxWorkers)], a downscale never follows reports at least as large as ones that
// upscale, and a decision that computed an expected size is never negative.
func FuzzDecide(f *testing.F) {
	f.Add(int64(math.MaxInt64), int64(math.MaxInt64), int64(1), int64(1), int64(1), int64(1000), 4, 10, 1, 50)
	f.Add(int64(1e12), int64(1), int64(1), int64(1), int64(1), int64(1), 1, 3, 0, 5)
	f.Add(int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), 0, 0, 0, 0)
	f.Fuzz(func(t *testing.T, r0, r1, r2, r3, r4, per int64, cores, workers, minW, maxW int) {
		rs := []int64{r0, r1, r2, r3, r4}
		for i, r := range rs {
			if r < 0 {
				rs[i] = -(r + 1)
			}
		}
		if workers < 0 || workers > 10_000 || minW < 0 || maxW < minW || maxW > 10_000 || cores < 0 || per < 0 {
			t.Skip()
		}
		p := Policy{PerCoreLogsProcess: per, ExecutorCoresPerMachine: cores, MinWorkers: minW, MaxWorkers: maxW}
		d := Decide(Observed{Reports: reports(rs...), SinkLog: sinkLog("3"), Workers: workers, DriverRunning: true, Up: true, Down: true}, p)
		if d.Target < 0 || d.Expected < 0 || d.Clamped < 0 {
			t.Fatalf("Decide(%v, %+v, %d workers) = target %d expected %d clamped %d: negative", rs, p, workers, d.Target, d.Expected, d.Clamped)
		}
		if d.Action == Downscale && d.Target >= workers || d.Action == Upscale && d.Target <= workers {
			t.Fatalf("Decide(%v, %+v, %d workers) = %s to %d", rs, p, workers, d.Action, d.Target)
		}
		if d.Action == Upscale && d.Target > max(workers, maxW) {
			t.Fatalf("Decide(%v, %+v, %d workers) = upscale to %d beyond %d", rs, p, workers, d.Target, maxW)
		}
		// More records never ask for fewer workers: double each report (saturating) and compare.
		big := make([]int64, len(rs))
		for i, r := range rs {
			big[i] = r
			if r <= math.MaxInt64/2 {
				big[i] = 2 * r
			}
		}
		if d.Expected > 0 {
			d2 := Decide(Observed{Reports: reports(big...), SinkLog: sinkLog("3"), Workers: workers, DriverRunning: true, Up: true, Down: true}, p)
			if d2.Rule == RuleNoInputRecords {
				t.Fatalf("Decide(%v) expected %d workers but twice the records (%v) decide no input", rs, d.Expected, big)
			}
		}
	})
}
