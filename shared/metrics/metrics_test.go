package metrics

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestEmitWritesOneValidEMFLine(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	w := New(&buf)
	w.SetClock(func() time.Time { return time.UnixMilli(1722815170123) })
	if err := w.Emit(map[string]string{"tenant": "ABC", "service": "api"},
		Metric{Name: "LogSyncDelayMinutes", Value: 7, Unit: None},
		Metric{Name: "DriverAlive", Value: 1, Unit: Count}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("lines = %d, want 1", len(lines))
	}
	var ev struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		Tenant  string  `json:"tenant"`
		Service string  `json:"service"`
		Delay   float64 `json:"LogSyncDelayMinutes"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &ev); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	d := ev.AWS.CloudWatchMetrics[0]
	if ev.AWS.Timestamp != 1722815170123 || d.Namespace != Namespace || ev.Tenant != "ABC" || ev.Delay != 7 {
		t.Fatalf("event = %+v", ev)
	}
	if got := strings.Join(d.Dimensions[0], ","); got != "service,tenant" {
		t.Fatalf("dimensions = %s, want service,tenant", got)
	}
	if len(d.Metrics) != 2 || d.Metrics[1].Unit != "Count" {
		t.Fatalf("metrics = %+v", d.Metrics)
	}
}

func TestEmitAcceptsEveryAllowedCharacter(t *testing.T) {
	t.Parallel()
	name := "AZaz09._#:/-" + strings.Repeat("x", 243) // 255 characters
	var buf bytes.Buffer
	if err := New(&buf).Emit(map[string]string{"a.b:c/d#e-f_g": "v"}, Metric{Name: name, Value: 1}); err != nil || buf.Len() == 0 {
		t.Fatalf("err = %v, wrote %d bytes; want the event", err, buf.Len())
	}
}

func TestEmitRejectsInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		dims map[string]string
		m    Metric
	}{
		{"empty dimension value", map[string]string{"tenant": ""}, Metric{Name: "x", Value: 1}},
		{"bad metric name", nil, Metric{Name: "has space", Value: 1}},
		{"metric named like a dimension", map[string]string{"tenant": "A"}, Metric{Name: "tenant", Value: 1}},
		{"empty metric name", nil, Metric{Name: "", Value: 1}},
		{"metric name of 256 characters", nil, Metric{Name: strings.Repeat("a", 256), Value: 1}},
		{"non-ASCII metric name", nil, Metric{Name: "lag\u00e9", Value: 1}},
		{"bad dimension name", map[string]string{"ten ant": "A"}, Metric{Name: "x", Value: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := New(&buf).Emit(tt.dims, tt.m); err == nil || buf.Len() != 0 {
				t.Fatalf("err = %v, wrote %q; want an error and nothing written", err, buf.String())
			}
		})
	}
}
