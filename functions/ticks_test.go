package functions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/logwise/controlplane/internal/lambdarun"
	"github.com/logwise/controlplane/internal/mototest"
	"github.com/logwise/controlplane/shared/reconcile"
	"github.com/logwise/controlplane/shared/store/storetest"
	"github.com/logwise/controlplane/shared/ticks"
)

// tickQueue is a ticks queue in moto_server and the environment a bootstrap needs to use it.
type tickQueue struct {
	client *sqs.Client
	url    string
	env    []string
}

func newTickQueue(t testing.TB, name string) *tickQueue {
	t.Helper()
	endpoint := mototest.Start(t)
	client := sqs.NewFromConfig(mototest.Config(endpoint))
	out, err := client.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	url := aws.ToString(out.QueueUrl)
	return &tickQueue{client: client, url: url, env: []string{"TICKS_QUEUE_URL=" + url, "AWS_ENDPOINT_URL_SQS=" + endpoint}}
}

// queued counts the messages in the queue, delayed or not.
func (q *tickQueue) queued(t testing.TB) int {
	t.Helper()
	out, err := q.client.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.url),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range out.Attributes {
		k, _ := strconv.Atoi(v)
		n += k
	}
	return n
}

// sqsEventOf is the event the SQS event source hands the function for one message body.
func sqsEventOf(body string) []byte {
	b, _ := json.Marshal(map[string]any{"Records": []map[string]string{{"messageId": "m1", "eventSource": "aws:sqs",
		"eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ticks", "body": body}}})
	return b
}

// TestSparkMonitorBootstrapRunsEachTickAsAnInvocation invokes the built bootstrap with its
// schedule and then with the tick the schedule queued (read back from moto's SQS): each is one
// check, and the schedule's invocation queued the minute's later ticks.
func TestSparkMonitorBootstrapRunsEachTickAsAnInvocation(t *testing.T) {
	pl := newPipeline(t)
	q := newTickQueue(t, "sparkmonitor-ticks")
	p := start(t, "sparkmonitor", testConfig(t, pl), q.env...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var sum reconcile.Summary
	if res, err := p.InvokeJSON(ctx, event(t, "sparkmonitor-schedule.json"), &sum); err != nil || res.Error {
		t.Fatalf("schedule: %v %s", err, res.Body)
	}
	if len(sum.Results) != 1 || sum.Results[0].Outcome != reconcile.Done || len(pl.master.Submissions()) != 1 {
		t.Fatalf("schedule: %+v, %d submissions; want one check that submitted", sum, len(pl.master.Submissions()))
	}
	// testConfig polls every 1 s for 2 s: one later tick, at +1 s.
	var body string
	for body == "" && ctx.Err() == nil {
		out, err := q.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.url), WaitTimeSeconds: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			body = aws.ToString(m.Body)
		}
	}
	tk, err := ticks.Decode(body)
	if err != nil || tk.Job != "sparkmonitor" || tk.Offset != time.Second {
		t.Fatalf("queued tick %q: %+v, %v; want sparkmonitor at +1s", body, tk, err)
	}
	var sums []reconcile.Summary
	if res, err := p.InvokeJSON(ctx, sqsEventOf(body), &sums); err != nil || res.Error {
		t.Fatalf("tick: %v %s", err, res.Body)
	}
	if len(sums) != 1 || sums[0].Results[0].Outcome != reconcile.Done || len(pl.master.Submissions()) != 1 {
		t.Fatalf("tick: %+v, %d submissions; want one check that found the driver alive", sums, len(pl.master.Submissions()))
	}
	if !strings.Contains(p.Output.String(), `"message":"tick"`) {
		t.Errorf("no tick log line in the output:\n%s", p.Output.String())
	}
}

// procCPU is the CPU time (user + system) the process has used so far.
func procCPU(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64) // fields 14 and 15 of stat(5), counted after the comm
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// peakRSSMB is the process's peak resident memory (VmHWM), which must fit the function's
// memory size.
func peakRSSMB(tb testing.TB, pid int) float64 {
	tb.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return float64(kb) / 1024
		}
	}
	tb.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// lambdaMBPerVCPU is the memory at which Lambda gives a function one full vCPU; below it the
// CPU share is proportional to memory.
const lambdaMBPerVCPU = 1769

// throttled models a phase at memory mb from its unthrottled wall and CPU times: the CPU part
// stretches by 1769/mb (a CPU quota), the waiting part does not.
func throttled(wall, cpu time.Duration, mb int) time.Duration {
	share := min(float64(mb)/lambdaMBPerVCPU, 1)
	wait := max(wall-cpu, 0)
	return wait + time.Duration(float64(cpu)/share)
}

// BenchmarkTickInvocation measures each scheduled function's bootstrap as run per tick: start
// (exec to its first GET .../next, and the CPU used by then), one tick (wall and CPU per
// invocation, in steady state: the driver alive, no peer changes), and the log bytes one
// tick writes (stdout and stderr: logs and EMF metrics). From each it reports the modelled
// start and tick at 128, 256 and 512 MB (throttled: CPU time stretched by 1769/MB). The
// bootstrap runs with GOMAXPROCS=1. Tenants: 1, or BENCH_TENANTS.
func BenchmarkTickInvocation(b *testing.B) {
	tenants := 1
	if v, err := strconv.Atoi(os.Getenv("BENCH_TENANTS")); err == nil && v > 0 {
		tenants = v
	}
	for _, c := range []struct {
		name, schedule string
		tick           bool // consumes ticks; otherwise each run is a schedule event
	}{
		{"sparkmonitor", "sparkmonitor-schedule.json", true},
		{"peering", "peering-schedule.json", true},
		{"scaler", "scaler-schedule.json", false},
		{"discovery", "discovery-schedule.json", false},
	} {
		b.Run(fmt.Sprintf("%s/tenants=%d", c.name, tenants), func(b *testing.B) {
			pl := newPipeline(b)
			if c.name == "peering" {
				pl.peerDSN = storetestDSN(b, storetest.New(b))
			}
			cfg := testConfig(b, pl)
			if tenants > 1 {
				cfg = withTenants(cfg, tenants)
			}
			p, err := lambdarun.Start(build(b, c.name), []string{"CONFIG_YAML=" + cfg, "AWS_LAMBDA_FUNCTION_NAME=" + c.name, "GOMAXPROCS=1"})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Stop()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			startWall, err := p.WaitReady(ctx)
			if err != nil {
				b.Fatal(err)
			}
			startCPU := procCPU(b, p.Cmd.Process.Pid)
			invoke := func() {
				payload := event(b, c.schedule)
				if c.tick {
					job := c.name
					if job == "peering" {
						job = "peeringcopier"
					}
					payload = sqsEventOf(ticks.Encode(ticks.Tick{Job: job, Minute: time.Now(), Interval: 15 * time.Second}))
				}
				res, err := p.InvokeJSON(ctx, payload, nil)
				if err != nil || res.Error {
					b.Fatalf("%s: %v %s\n%s", c.name, err, res.Body, p.Output.String())
				}
			}
			// Warm up: the first check submits the drivers; the master then runs them.
			invoke()
			pl.master.Step()
			invoke()
			cpu0, log0 := procCPU(b, p.Cmd.Process.Pid), len(p.Output.String())
			b.ResetTimer()
			for b.Loop() {
				invoke()
			}
			b.StopTimer()
			n := time.Duration(b.N)
			wall := b.Elapsed() / n
			cpu := (procCPU(b, p.Cmd.Process.Pid) - cpu0) / n
			b.ReportMetric(ms(startWall), "start-ms")
			b.ReportMetric(ms(startCPU), "start-cpu-ms")
			b.ReportMetric(ms(wall), "tick-ms")
			b.ReportMetric(ms(cpu), "tick-cpu-ms")
			b.ReportMetric(float64(len(p.Output.String())-log0)/float64(b.N), "log-bytes/tick")
			b.ReportMetric(peakRSSMB(b, p.Cmd.Process.Pid), "peak-rss-mb")
			for _, mb := range []int{128, 256, 512} {
				b.ReportMetric(ms(throttled(startWall, startCPU, mb)), fmt.Sprintf("start-ms@%d", mb))
				b.ReportMetric(ms(throttled(wall, cpu, mb)), fmt.Sprintf("tick-ms@%d", mb))
			}
		})
	}
}

// withTenants copies the configuration's one tenant (ABC) into n tenants, T01..., on the same
// pipeline: each has its own lease, submission and checks.
func withTenants(cfg string, n int) string {
	head, tenant, ok := strings.Cut(cfg, "  - name: ABC\n")
	if !ok {
		return cfg
	}
	var sb strings.Builder
	sb.WriteString(head)
	for i := range n {
		fmt.Fprintf(&sb, "  - name: T%02d\n%s", i, strings.ReplaceAll(tenant, `"local-dev-token"`, fmt.Sprintf(`"token-%02d"`, i)))
	}
	return sb.String()
}

// TestPeeringBootstrapRunsEachPassAsAnInvocation invokes the built peering bootstrap with its
// schedule (one pass, the minute's later passes queued: testConfig's 200 ms interval rounds
// to 1 s, so 59 of them) and with one queued tick (one pass), and checks that a stale tick
// runs no pass.
func TestPeeringBootstrapRunsEachPassAsAnInvocation(t *testing.T) {
	pl := newPipeline(t)
	pl.peerDSN = storetestDSN(t, storetest.New(t))
	q := newTickQueue(t, "peering-ticks")
	p := start(t, "peering", testConfig(t, pl), q.env...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var sum reconcile.Summary
	if res, err := p.InvokeJSON(ctx, event(t, "peering-schedule.json"), &sum); err != nil || res.Error {
		t.Fatalf("schedule: %v %s", err, res.Body)
	}
	if sum.Job != "peeringcopier" || len(sum.Results) != 1 || sum.Results[0].Outcome != reconcile.Done {
		t.Fatalf("schedule: %+v; want one pass done", sum)
	}
	if n := q.queued(t); n != 59 {
		t.Fatalf("queued %d ticks, want 59 (every second of the minute after the first)", n)
	}
	for _, c := range []struct {
		name   string
		minute time.Time
		passes int
	}{
		{"due now", time.Now(), 1},
		{"stale: its next tick was due a minute ago", time.Now().Add(-2 * time.Minute), 0},
	} {
		var sums []reconcile.Summary
		body := ticks.Encode(ticks.Tick{Job: "peeringcopier", Minute: c.minute, Interval: time.Second})
		if res, err := p.InvokeJSON(ctx, sqsEventOf(body), &sums); err != nil || res.Error {
			t.Fatalf("%s: %v %s", c.name, err, res.Body)
		}
		if len(sums) != c.passes {
			t.Errorf("%s: %d passes (%+v), want %d", c.name, len(sums), sums, c.passes)
		}
	}
}
