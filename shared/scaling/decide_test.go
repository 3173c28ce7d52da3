package scaling

import (
	"fmt"
	"math"
	"testing"
)

func reports(records ...int64) []Report {
	rs := make([]Report, len(records))
	for i, r := range records {
		rs[i] = Report{InputRecords: r, SubmissionTime: int64(1_000_000 - i)} // newest first
	}
	return rs
}

func sinkLog(latest string) []string {
	return []string{"logs/_spark_metadata/0", "logs/_spark_metadata/" + latest, "logs/_spark_metadata/.1.tmp"}
}

func repeat(v int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// TestExpectedWorkers is the reference's table 12.2, row by row.
func TestExpectedWorkers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		records    []int64
		sink       string
		p          int64
		c          int
		wantBuffer float64
		wantMax    int64 // maxWithBuffer, shown via cores
		wantCores  int64
		wantRaw    int // 0: no expected size
		wantRule   Rule
	}{
		{"flat 1e6, batch 5", repeat(1e6, 5), "5", 500000, 2, 0, 1_000_000, 2, 1, RuleAtTarget},
		{"flat 1e6, batch 7 (+50%)", repeat(1e6, 5), "7", 500000, 2, 0.5, 1_500_000, 3, 2, RuleAtTarget},
		{"flat 4e6, batch 3", repeat(4e6, 5), "3", 500000, 2, 0, 4_000_000, 8, 4, RuleAtTarget},
		{"growing 5e6..1e6, batch 3", []int64{5e6, 4e6, 3e6, 2e6, 1e6}, "3", 500000, 2, 0.520833, 7_604_167, 16, 8, RuleAtTarget},
		{"growing 5e6..1e6, batch 17", []int64{5e6, 4e6, 3e6, 2e6, 1e6}, "17", 500000, 2, 1.020833, 10_104_167, 21, 11, RuleAtTarget},
		{"not incremental 3e6,5e6,...", []int64{3e6, 5e6, 2e6, 1e6, 1e6}, "3", 500000, 2, 0, 5_000_000, 10, 5, RuleAtTarget},
		{"not incremental 9e6,9.5e6,...", []int64{9e6, 9.5e6, 9e6, 9e6, 9e6}, "3", 500000, 2, 0, 9_500_000, 19, 10, RuleAtTarget},
		{"4 entries only", repeat(1e6, 4), "5", 500000, 2, 0, 0, 0, 0, RuleTooFewHistories},
		{"flat 1000, P 1000 C 4", repeat(1000, 5), "5", 1000, 4, 0, 1000, 1, 1, RuleAtTarget},
		{"5000..4600, P 1000 C 4", []int64{5000, 4900, 4800, 4700, 4600}, "5", 1000, 4, 0.021064, 5106, 6, 2, RuleAtTarget},
		{"1000..1400 falling, P 1000 C 4", []int64{1000, 1100, 1200, 1300, 1400}, "5", 1000, 4, 0, 1400, 2, 1, RuleAtTarget},
		{"zero records", repeat(0, 5), "5", 500000, 2, 0, 0, 0, 0, RuleNoInputRecords},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pol := Policy{PerCoreLogsProcess: tc.p, ExecutorCoresPerMachine: tc.c, MinWorkers: 1, MaxWorkers: 1000}
			// Alive workers = the expected size, so the decision is "at target" and shows the computation.
			d := Decide(Observed{Reports: reports(tc.records...), SinkLog: sinkLog(tc.sink), Workers: max(tc.wantRaw, 1),
				DriverRunning: true, Up: true, Down: true}, pol)
			if d.Expected != tc.wantRaw || d.Rule != tc.wantRule || d.Action != None {
				t.Fatalf("got expected %d rule %s action %s; want expected %d rule %s action none (%s)", d.Expected, d.Rule, d.Action, tc.wantRaw, tc.wantRule, d.Reason)
			}
			if tc.wantRaw == 0 {
				return
			}
			if math.Abs(d.Buffer-tc.wantBuffer) > 1e-6 {
				t.Errorf("buffer = %.6f, want %.6f", d.Buffer, tc.wantBuffer)
			}
			withBuffer := d.MaxRecords + int64(math.Ceil(d.Buffer*float64(d.MaxRecords)))
			if withBuffer != tc.wantMax {
				t.Errorf("maxWithBuffer = %d, want %d", withBuffer, tc.wantMax)
			}
			if cores := (withBuffer + tc.p - 1) / tc.p; cores != tc.wantCores {
				t.Errorf("cores = %d, want %d", cores, tc.wantCores)
			}
		})
	}
	// Row "same, batch 17" clamps to the default maximum of 10.
	d := Decide(Observed{Reports: reports(5e6, 4e6, 3e6, 2e6, 1e6), SinkLog: sinkLog("17"), Workers: 4, DriverRunning: true, Up: true, Down: true},
		Policy{PerCoreLogsProcess: 500000, ExecutorCoresPerMachine: 2, MinWorkers: 2, MaxWorkers: 10})
	if d.Expected != 11 || d.Clamped != 10 || d.Target != 10 {
		t.Errorf("batch 17 with max 10: got expected %d clamped %d target %d, want 11, 10, 10", d.Expected, d.Clamped, d.Target)
	}
}

// TestDecideTable is the reference's table 12.3 (min 2, max 10 unless noted).
func TestDecideTable(t *testing.T) {
	t.Parallel()
	const null = -1
	tests := []struct {
		a, e       int
		max        int
		up, down   bool
		wantAction Action
		wantTarget int
		wantRule   Rule
	}{
		{5, null, 10, true, true, None, 5, RuleTooFewHistories},
		{0, 5, 10, true, true, None, 0, RuleNoWorkers},
		{5, 5, 10, true, true, None, 5, RuleAtTarget},
		{5, 1, 10, true, true, Downscale, 3, RuleDownscaleCapped},
		{5, 20, 10, true, true, Upscale, 10, RuleUpscale},
		{10, 8, 10, true, true, Downscale, 8, RuleDownscale},
		{10, 9, 10, true, true, None, 10, RuleDownscaleTooSmall},
		{10, 3, 10, true, true, Downscale, 7, RuleDownscaleCapped},
		{10, 7, 10, true, true, Downscale, 7, RuleDownscaleCapped},
		{4, 3, 10, true, true, None, 4, RuleDownscaleTooSmall},
		{40, 2, 10, true, true, Downscale, 30, RuleDownscaleCapped},
		{200, 2, 10, true, true, Downscale, 150, RuleDownscaleCapped},
		{300, 2, 400, true, true, Downscale, 250, RuleDownscaleCapped},
		{10, 250, 400, true, true, Upscale, 210, RuleUpscaleCapped},
		{9, 10, 10, true, true, Upscale, 10, RuleUpscale},
		{10, 3, 10, true, false, None, 10, RuleDownscaleDisabled},
		{5, 9, 10, false, true, None, 5, RuleUpscaleDisabled},
	}
	for _, tc := range tests {
		name := fmt.Sprintf("A=%d E=%d max=%d up=%v down=%v", tc.a, tc.e, tc.max, tc.up, tc.down)
		t.Run(name, func(t *testing.T) {
			// P = C = 1 with flat reports makes the expected size equal the records.
			rs := reports(repeat(int64(tc.e), 5)...)
			if tc.e == null {
				rs = reports(repeat(1, 4)...)
			}
			d := Decide(Observed{Reports: rs, SinkLog: sinkLog("3"), Workers: tc.a, DriverRunning: true, Up: tc.up, Down: tc.down},
				Policy{PerCoreLogsProcess: 1, ExecutorCoresPerMachine: 1, MinWorkers: 2, MaxWorkers: tc.max})
			if d.Action != tc.wantAction || d.Target != tc.wantTarget || d.Rule != tc.wantRule {
				t.Errorf("got %s → %d (%s: %s), want %s → %d (%s)", d.Action, d.Target, d.Rule, d.Reason, tc.wantAction, tc.wantTarget, tc.wantRule)
			}
			if d.Target < 2 && d.Action != None {
				t.Errorf("target %d below the minimum", d.Target)
			}
		})
	}
}

// TestDecideCrashCasesAreExplainedNoOps covers the inputs that crashed the original and the
// file-sink log gate.
func TestDecideCrashCasesAreExplainedNoOps(t *testing.T) {
	t.Parallel()
	pol := Policy{PerCoreLogsProcess: 1, ExecutorCoresPerMachine: 1, MinWorkers: 2, MaxWorkers: 10}
	base := func() Observed {
		return Observed{Reports: reports(repeat(8, 5)...), SinkLog: sinkLog("3"), Workers: 4, DriverRunning: true, Up: true, Down: true}
	}
	tests := []struct {
		name       string
		mod        func(*Observed)
		wantAction Action
		wantTarget int
		wantRule   Rule
	}{
		{"zero records", func(o *Observed) { o.Reports = reports(repeat(0, 5)...) }, None, 4, RuleNoInputRecords},
		{"zero records after load (no NaN)", func(o *Observed) { o.Reports = reports(8, 0, 0, 0, 0) }, Upscale, 8, RuleUpscale},
		{"empty file-sink log", func(o *Observed) { o.SinkLog = nil }, None, 4, RuleSinkLogEmpty},
		{"file-sink log of junk only", func(o *Observed) { o.SinkLog = []string{"logs/_spark_metadata/", "x.compact", ".9.tmp"} }, None, 4, RuleSinkLogEmpty},
		{"no reports", func(o *Observed) { o.Reports = nil }, None, 4, RuleTooFewHistories},
		{"fewer than 5 reports", func(o *Observed) { o.Reports = reports(8, 8, 8) }, None, 4, RuleTooFewHistories},
		{"no driver", func(o *Observed) { o.DriverRunning = false }, None, 4, RuleNoDriver},
		{"both directions disabled", func(o *Observed) { o.Up, o.Down = false, false }, None, 4, RuleBothDisabled},
		{"latest is compaction", func(o *Observed) { o.SinkLog = []string{"10", "15.compact", "5"} }, None, 4, RuleSinkLogCompaction},
		{"numeric, not lexical, latest", func(o *Observed) { o.SinkLog = []string{"9.compact", "10", "5"} }, Upscale, 8, RuleUpscale},
		{"batch 8 blocks downscale", func(o *Observed) { o.Reports = reports(repeat(2, 5)...); o.SinkLog = sinkLog("18") }, None, 4, RuleDownscaleBlocked},
		{"batch 8 still upscales with buffer", func(o *Observed) { o.SinkLog = sinkLog("28") }, Upscale, 10, RuleUpscale},
		{"batch 6 downscales (25% of 4 is 1)", func(o *Observed) { o.Reports = reports(repeat(2, 5)...); o.SinkLog = sinkLog("26") }, Downscale, 3, RuleDownscaleCapped},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := base()
			tc.mod(&o)
			d := Decide(o, pol)
			if d.Action != tc.wantAction || d.Target != tc.wantTarget || d.Rule != tc.wantRule || d.Reason == "" {
				t.Errorf("got %s → %d (%s: %q), want %s → %d (%s) with a reason", d.Action, d.Target, d.Rule, d.Reason, tc.wantAction, tc.wantTarget, tc.wantRule)
			}
			if math.IsNaN(d.Buffer) || math.IsInf(d.Buffer, 0) {
				t.Errorf("buffer = %v", d.Buffer)
			}
		})
	}
}

func TestReportsOrderedBySubmissionTime(t *testing.T) {
	t.Parallel()
	// Arrival order differs from submission order: the growth buffer follows submission time.
	rs := []Report{{1e6, 1}, {5e6, 5}, {2e6, 2}, {4e6, 4}, {3e6, 3}, {9e9, 0}}
	d := Decide(Observed{Reports: rs, SinkLog: sinkLog("3"), Workers: 8, DriverRunning: true, Up: true, Down: true},
		Policy{PerCoreLogsProcess: 500000, ExecutorCoresPerMachine: 2, MinWorkers: 1, MaxWorkers: 100})
	if fmt.Sprint(d.InputRecords) != "[5000000 4000000 3000000 2000000 1000000]" || d.Expected != 8 {
		t.Errorf("got records %v expected %d, want [5e6 … 1e6] (6th report ignored) and 8", d.InputRecords, d.Expected)
	}
}

func TestAverageGrowthAndSinkBatch(t *testing.T) {
	t.Parallel()
	growth := []struct {
		h    []int64
		want float64
	}{{[]int64{300, 200, 100}, 0.75}, {[]int64{100, 200, 300}, -0.416667}, {[]int64{100}, 0}, {nil, 0}, {[]int64{0, 0}, 0}}
	for _, tc := range growth {
		if got := AverageGrowth(tc.h); math.Abs(got-tc.want) > 1e-6 {
			t.Errorf("AverageGrowth(%v) = %f, want %f", tc.h, got, tc.want)
		}
	}
	sink := []struct {
		names       []string
		want        int64
		wantCompact bool
		wantOK      bool
	}{
		{[]string{"10", "5", "15", "3"}, 15, false, true},
		{[]string{"123"}, 123, false, true},
		{nil, -1, false, false},
		{[]string{"10.compact", "5", "15.compact", "3"}, 15, true, true},
		{[]string{"logs/_spark_metadata/123", "logs/_spark_metadata/456", "logs/_spark_metadata/789.compact", "logs/_spark_metadata/invalid"}, 789, true, true},
		{[]string{"invalid.wal", "abc.compact"}, -1, false, false},
	}
	for _, tc := range sink {
		got, compact, ok := LatestSinkBatch(tc.names)
		if got != tc.want || compact != tc.wantCompact || ok != tc.wantOK {
			t.Errorf("LatestSinkBatch(%v) = %d %v %v, want %d %v %v", tc.names, got, compact, ok, tc.want, tc.wantCompact, tc.wantOK)
		}
	}
}

// TestFlags is the reference's table 12.4 plus clearing one flag.
func TestFlags(t *testing.T) {
	t.Parallel()
	tr, fa := true, false
	tests := []struct {
		name             string
		oUp, oDown       *bool
		reqUp, reqDown   bool
		wantUp, wantDown bool
	}{
		{"no override", nil, nil, true, false, true, false},
		{"override (false,true) beats request (true,true)", &fa, &tr, true, true, false, true},
		{"override (true,true) beats request (false,false)", &tr, &tr, false, false, true, true},
		{"no override, request (false,false)", nil, nil, false, false, false, false},
		{"upscale cleared, downscale overridden", nil, &fa, true, true, true, false},
		{"downscale cleared, upscale overridden", &fa, nil, true, true, false, true},
	}
	for _, tc := range tests {
		up, down := Flags(tc.reqUp, tc.reqDown, tc.oUp, tc.oDown)
		if up != tc.wantUp || down != tc.wantDown {
			t.Errorf("%s: got (%v, %v), want (%v, %v)", tc.name, up, down, tc.wantUp, tc.wantDown)
		}
	}
	// Both effective flags false: no scaling at all, even when the load says otherwise.
	up, down := Flags(false, false, nil, nil)
	d := Decide(Observed{Reports: reports(repeat(9, 5)...), SinkLog: sinkLog("3"), Workers: 3, DriverRunning: true, Up: up, Down: down},
		Policy{PerCoreLogsProcess: 1, ExecutorCoresPerMachine: 1, MinWorkers: 2, MaxWorkers: 10})
	if d.Action != None || d.Rule != RuleBothDisabled {
		t.Errorf("both disabled: got %s (%s), want none (%s)", d.Action, d.Rule, RuleBothDisabled)
	}
}
