package samtemplate

import (
	"strconv"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestTickedFunctionsHaveTheirQueues checks the wiring of each check or pass as its own
// invocation: the function consumes its ticks queue one message at a time, is told the queue's
// URL, may send to it, times out well within the queue's visibility timeout, and the queue's
// dead letters raise an alarm. The scheduled functions run at the memory the measurements chose.
func TestTickedFunctionsHaveTheirQueues(t *testing.T) {
	res := mapping(load(t)["Resources"])
	tag := func(n *yaml.Node, wantTag, wantValue string) bool {
		return n != nil && n.Tag == wantTag && n.Value == wantValue
	}
	for fn, queue := range map[string]string{"SparkMonitorFunction": "SparkMonitorTicksQueue", "PeeringFunction": "PeeringTicksQueue"} {
		props := get(res[fn], "Properties")
		ev := get(props, "Events", "Ticks")
		if get(ev, "Type") == nil || get(ev, "Type").Value != "SQS" || !tag(get(ev, "Properties", "Queue"), "!GetAtt", queue+".Arn") {
			t.Errorf("%s: no SQS event Ticks on !GetAtt %s.Arn", fn, queue)
		}
		if b := get(ev, "Properties", "BatchSize"); b == nil || b.Value != "1" {
			t.Errorf("%s: Ticks BatchSize %v, want 1 (a failed tick is redelivered alone)", fn, b)
		}
		if !tag(get(props, "Environment", "Variables", "TICKS_QUEUE_URL"), "!Ref", queue) {
			t.Errorf("%s: TICKS_QUEUE_URL is not !Ref %s", fn, queue)
		}
		send := false
		for _, p := range items(get(props, "Policies")) {
			for _, st := range items(get(p, "Statement")) {
				if a := get(st, "Action"); a != nil && a.Value == "sqs:SendMessage" && tag(get(st, "Resource"), "!GetAtt", queue+".Arn") {
					send = true
				}
			}
		}
		if !send {
			t.Errorf("%s: no statement allowing sqs:SendMessage on %s", fn, queue)
		}
		timeout, _ := strconv.Atoi(value(get(props, "Timeout")))
		vis, _ := strconv.Atoi(value(get(res[queue], "Properties", "VisibilityTimeout")))
		if timeout <= 0 || vis < 6*timeout {
			t.Errorf("%s: Timeout %d s, %s VisibilityTimeout %d s; want the visibility at least six times the timeout", fn, timeout, queue, vis)
		}
		if !tag(get(res[queue], "Properties", "RedrivePolicy", "deadLetterTargetArn"), "!GetAtt", "TicksDeadLetterQueue.Arn") {
			t.Errorf("%s: dead letters do not go to TicksDeadLetterQueue", queue)
		}
	}
	alarmed := false
	for _, a := range resources(t, "AWS::CloudWatch::Alarm") {
		for _, d := range items(get(a, "Properties", "Dimensions")) {
			if tag(get(d, "Value"), "!GetAtt", "TicksDeadLetterQueue.QueueName") {
				alarmed = true
			}
		}
	}
	if !alarmed {
		t.Error("no alarm on TicksDeadLetterQueue")
	}
	for _, fn := range []string{"SparkMonitorFunction", "PeeringFunction", "ScalerFunction", "DiscoveryFunction"} {
		if m := get(res[fn], "Properties", "MemorySize"); m == nil || m.Value != "128" {
			t.Errorf("%s: MemorySize %v, want 128 (BENCHMARKS.md, Cost)", fn, m)
		}
	}
}

// items is a sequence's elements (none for a missing node).
func items(n *yaml.Node) []*yaml.Node {
	if n == nil {
		return nil
	}
	return n.Content
}

// value is a scalar's value ("" for a missing node).
func value(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	return n.Value
}
