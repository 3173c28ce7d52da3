// Package scaling sizes a tenant's Spark workers to the load the streaming job reports: a pure
// decision (Decide, the Logwise algorithm with its crashes turned into explained no-ops), the
// actuators that apply it (a Kubernetes Deployment's scale subresource, an AWS Auto Scaling
// Group), and the service that stores reports, decides, applies and records each decision.
package scaling

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The Logwise constants (ApplicationConstants.java).
const (
	HistoryWindow       = 5    // SPARK_HISTORY_MONITOR_COUNT: reports the expected size is computed from
	MinUpscale          = 1    // SPARK_MIN_UPSCALE
	MaxUpscale          = 200  // SPARK_MAX_UPSCALE: most workers added by one decision
	MinDownscale        = 2    // SPARK_MIN_DOWNSCALE: smaller reductions are close calls, not acted on
	MaxDownscale        = 50   // SPARK_MAX_DOWNSCALE: most workers removed by one decision
	DownscaleProportion = 0.25 // SPARK_DOWNSCALE_PROPORTION: most of the cluster removed by one decision
	// sinkLogBuffer is the head-room added on file-sink batches ending in 7 or 8, just
	// before the compaction batch (ending in 9 with the default compactInterval of 10).
	sinkLogBuffer = 0.5
)

// Action is what a decision does.
type Action string

// The actions.
const (
	None      Action = "none"
	Upscale   Action = "upscale"
	Downscale Action = "downscale"
)

// Rule names the branch of the algorithm that produced a decision, for the execution log.
type Rule string

// The rules, in the order Decide checks them.
const (
	RuleBothDisabled      Rule = "bothDirectionsDisabled"
	RuleTooFewHistories   Rule = "tooFewHistories"
	RuleNoDriver          Rule = "noActiveDriver"
	RuleNoWorkers         Rule = "noAliveWorkers"
	RuleSinkLogEmpty      Rule = "fileSinkLogEmpty"
	RuleSinkLogCompaction Rule = "fileSinkLogCompaction"
	RuleNoInputRecords    Rule = "noInputRecords"
	RuleAtTarget          Rule = "atTarget"
	RuleDownscale         Rule = "downscale"
	RuleDownscaleCapped   Rule = "downscaleCapped"
	RuleDownscaleTooSmall Rule = "downscaleBelowMinimum"
	RuleDownscaleDisabled Rule = "downscaleDisabled"
	RuleDownscaleBlocked  Rule = "downscaleBlockedBeforeCompaction"
	RuleUpscale           Rule = "upscale"
	RuleUpscaleCapped     Rule = "upscaleCapped"
	RuleUpscaleDisabled   Rule = "upscaleDisabled"
)

// Report is the part of a stage-history report the decision uses.
type Report struct {
	InputRecords   int64
	SubmissionTime int64 // epoch ms
}

// Policy is a tenant's sizing configuration (Logwise spark.* keys).
type Policy struct {
	PerCoreLogsProcess      int64 // P: records one core processes per batch
	ExecutorCoresPerMachine int   // C: cores per worker
	MinWorkers, MaxWorkers  int
}

// Observed is everything the decision looks at.
type Observed struct {
	// Reports are the newest reports by arrival (at most HistoryWindow are used); Decide
	// orders them by submission time itself.
	Reports []Report
	// SinkLog holds the object names under <logsDir>/_spark_metadata/ (with or without the
	// prefix): the Structured Streaming file-sink log, one entry per micro-batch.
	SinkLog []string
	// Workers is the number of ALIVE workers the master reports now.
	Workers int
	// DriverRunning says whether the master has an active driver.
	DriverRunning bool
	// Up and Down are the effective direction flags (see Flags).
	Up, Down bool
}

// Decision is the outcome of Decide: what to do and why, with the inputs that led there.
type Decision struct {
	Action Action `json:"action"`
	Rule   Rule   `json:"rule"`
	Reason string `json:"reason"`
	// From is the ALIVE worker count; Target the size to apply (From on a no-op).
	From   int `json:"from"`
	Target int `json:"target"`
	// Expected is the raw expected size (0 when it could not be computed); Clamped is it
	// clamped to the policy's bounds.
	Expected int `json:"expected"`
	Clamped  int `json:"clamped"`
	// CloseCall marks a no-op where the expected size differed from the actual one but not
	// by enough to act (or a direction was disabled).
	CloseCall bool `json:"closeCall"`
	// Buffer is the head-room factor applied (growth plus file-sink buffer).
	Buffer float64 `json:"buffer"`
	// LatestSinkBatch is the newest file-sink log batch id (-1 when unknown).
	LatestSinkBatch int64   `json:"latestSinkBatch"`
	MaxRecords      int64   `json:"maxRecords"`
	InputRecords    []int64 `json:"inputRecords"`
	Up              bool    `json:"upscaleEnabled"`
	Down            bool    `json:"downscaleEnabled"`
}

// Changes reports whether the decision resizes the cluster.
func (d Decision) Changes() bool { return d.Action != None && d.Target != d.From }

// Inputs returns the decision's inputs for the execution log.
func (d Decision) Inputs() map[string]any {
	return map[string]any{
		"workers": d.From, "inputRecords": d.InputRecords, "latestSinkBatch": d.LatestSinkBatch,
		"upscaleEnabled": d.Up, "downscaleEnabled": d.Down,
	}
}

// Outcome returns the decision's outcome for the execution log.
func (d Decision) Outcome() map[string]any {
	return map[string]any{
		"action": string(d.Action), "from": d.From, "target": d.Target, "expected": d.Expected,
		"clamped": d.Clamped, "buffer": d.Buffer, "maxRecords": d.MaxRecords, "closeCall": d.CloseCall,
		"reason": d.Reason,
	}
}

// Flags returns the effective direction flags: an override flag, when set, wins over the
// flag the Spark job sent (either way: an override can also enable a direction).
func Flags(requestUp, requestDown bool, overrideUp, overrideDown *bool) (up, down bool) {
	up, down = requestUp, requestDown
	if overrideUp != nil {
		up = *overrideUp
	}
	if overrideDown != nil {
		down = *overrideDown
	}
	return up, down
}

// Decide sizes the cluster: the Logwise algorithm (SparkService#scaleSpark), where every
// input that crashed the original (too few reports, zero records, an empty file-sink log, no
// driver, no workers) is a no-op with a reason instead.
func Decide(o Observed, p Policy) Decision {
	d := Decision{Action: None, From: o.Workers, Target: o.Workers, LatestSinkBatch: -1, Up: o.Up, Down: o.Down}
	reports := newestBySubmission(o.Reports)
	for _, r := range reports {
		d.InputRecords = append(d.InputRecords, r.InputRecords)
	}
	noop := func(r Rule, format string, args ...any) Decision {
		d.Rule, d.Reason = r, fmt.Sprintf(format, args...)
		return d
	}
	if !o.Up && !o.Down {
		return noop(RuleBothDisabled, "upscale and downscale are both disabled")
	}
	if len(reports) < HistoryWindow {
		return noop(RuleTooFewHistories, "%d stage-history reports, %d needed", len(reports), HistoryWindow)
	}
	if !o.DriverRunning {
		return noop(RuleNoDriver, "no active Spark driver: the reports do not describe a running job")
	}
	if o.Workers <= 0 {
		return noop(RuleNoWorkers, "the master reports no ALIVE workers")
	}
	latest, compact, ok := LatestSinkBatch(o.SinkLog)
	if !ok {
		return noop(RuleSinkLogEmpty, "the file-sink log (_spark_metadata) has no batch entries")
	}
	d.LatestSinkBatch = latest
	if compact {
		return noop(RuleSinkLogCompaction, "the latest file-sink batch %d is a compaction batch", latest)
	}
	sinkBuffer := 0.0
	if latest%10 >= 7 {
		sinkBuffer = sinkLogBuffer
	}
	records := d.InputRecords
	growth := growthBuffer(records)
	d.Buffer = growth + sinkBuffer
	d.MaxRecords = slices.Max(records)
	// In floating point, saturated: reports as large as int64 allows (stored before the intake
	// was bounded) or an extreme growth buffer must ask for the maximum, never wrap.
	withBuffer := float64(d.MaxRecords) + math.Ceil(d.Buffer*float64(d.MaxRecords))
	if d.MaxRecords <= 0 {
		return noop(RuleNoInputRecords, "the last %d reports read no input records", len(records))
	}
	cores := math.Ceil(withBuffer / float64(max(p.PerCoreLogsProcess, 1)))
	d.Expected = saturatedInt(math.Ceil(cores / float64(max(p.ExecutorCoresPerMachine, 1))))
	d.Clamped = min(p.MaxWorkers, max(p.MinWorkers, d.Expected))
	a, e := o.Workers, d.Clamped
	switch {
	case e == a:
		return noop(RuleAtTarget, "%d workers are expected and %d are alive", e, a)
	case e < a && latest%10 == 8:
		d.CloseCall = true
		return noop(RuleDownscaleBlocked, "expected %d < %d alive, but batch %d is just before compaction", e, a, latest)
	case e < a && !o.Down:
		d.CloseCall = true
		return noop(RuleDownscaleDisabled, "expected %d < %d alive, but downscale is disabled", e, a)
	case e < a && a-e < MinDownscale:
		d.CloseCall = true
		return noop(RuleDownscaleTooSmall, "expected %d is %d below %d alive, less than the minimum downscale of %d", e, a-e, a, MinDownscale)
	case e < a:
		step, rule := min(MaxDownscale, a-e), RuleDownscale
		if 1-float64(e)/float64(a) >= DownscaleProportion {
			step, rule = min(MaxDownscale, int(math.Ceil(float64(a)*DownscaleProportion))), RuleDownscaleCapped
		}
		d.Action, d.Rule, d.Target = Downscale, rule, a-step
		d.Reason = fmt.Sprintf("expected %d < %d alive: remove %d (at most %.0f%% and %d per decision)", e, a, step, DownscaleProportion*100, MaxDownscale)
		return d
	case !o.Up:
		d.CloseCall = true
		return noop(RuleUpscaleDisabled, "expected %d > %d alive, but upscale is disabled", e, a)
	default: // e > a, and e - a >= MinUpscale
		step, rule := e-a, RuleUpscale
		if step > MaxUpscale {
			step, rule = MaxUpscale, RuleUpscaleCapped
		}
		d.Action, d.Rule, d.Target = Upscale, rule, a+step
		d.Reason = fmt.Sprintf("expected %d > %d alive: add %d (at most %d per decision)", e, a, step, MaxUpscale)
		return d
	}
}

// newestBySubmission keeps the HistoryWindow newest reports (as given, newest first) and
// orders them by submission time, newest first.
func newestBySubmission(rs []Report) []Report {
	rs = slices.Clone(rs[:min(len(rs), HistoryWindow)])
	slices.SortStableFunc(rs, func(a, b Report) int { return cmp.Compare(b.SubmissionTime, a.SubmissionTime) })
	return rs
}

// growthBuffer is the Logwise incremental buffer: when the load is not falling over the 4
// newest reports (H0 ≥ H1 ≥ H2 ≥ H3) and the newest is the maximum, the mean relative growth
// between consecutive reports, floored at 0; otherwise 0. Steps from a zero report (a
// division by zero in the original, NaN or Infinity) are left out of the mean.
func growthBuffer(h []int64) float64 {
	for i := 1; i <= 3 && i < len(h); i++ {
		if h[i-1] < h[i] {
			return 0
		}
	}
	if len(h) == 0 || slices.Max(h) != h[0] {
		return 0
	}
	return max(0, AverageGrowth(h))
}

// AverageGrowth is the mean of (h[i]-h[i+1])/h[i+1] over consecutive pairs (h newest first),
// skipping pairs whose older value is 0; 0 when no pair counts.
func AverageGrowth(h []int64) float64 {
	sum, n := 0.0, 0
	for i := 0; i+1 < len(h); i++ {
		if h[i+1] == 0 {
			continue
		}
		sum += float64(h[i]-h[i+1]) / float64(h[i+1])
		n++
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// LatestSinkBatch returns the newest batch id in a file-sink log listing and whether it is a
// compaction entry ("N.compact"). Names that are not "N" or "N.compact" (temporary files,
// other objects) are ignored; ok is false when none is left.
func LatestSinkBatch(names []string) (batch int64, compact, ok bool) {
	batch = -1
	for _, name := range names {
		if i := strings.LastIndex(name, "_spark_metadata/"); i >= 0 {
			name = name[i+len("_spark_metadata/"):]
		}
		name = strings.TrimSpace(name)
		num, isCompact := strings.CutSuffix(name, ".compact")
		if num == "" || strings.TrimLeft(num, "0123456789") != "" {
			continue
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			continue
		}
		if n > batch {
			batch, compact, ok = n, isCompact, true
		}
	}
	return batch, compact, ok
}

// saturatedInt converts a non-negative float to int, saturating at a bound no cluster
// reaches (and that int arithmetic on worker counts cannot overflow from).
func saturatedInt(f float64) int {
	const limit = 1 << 30
	if math.IsNaN(f) || f >= limit {
		return limit
	}
	return max(0, int(f))
}
