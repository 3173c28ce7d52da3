// Package metrics writes CloudWatch metrics in the Embedded Metric Format (EMF): one JSON
// object per line on stdout, which Lambda ships to CloudWatch Logs and CloudWatch turns into
// metrics. No maintained Go EMF library resolves from the module proxy here, and the format is
// small (reference/protocols.md §9), so it is written here.
package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Namespace is the CloudWatch namespace of every control plane metric.
const Namespace = "Logwise/ControlPlane"

// Unit is a CloudWatch unit.
type Unit string

// Units used by the control plane.
const (
	Count        Unit = "Count"
	Seconds      Unit = "Seconds"
	Milliseconds Unit = "Milliseconds"
	Minutes      Unit = "None" // CloudWatch has no minutes unit; names say "Minutes"
	None         Unit = "None"
)

// Metric is one named value.
type Metric struct {
	Name  string
	Value float64
	Unit  Unit
}

// Writer emits EMF lines. It is safe for concurrent use; a nil *Writer discards.
type Writer struct {
	mu        sync.Mutex
	out       io.Writer
	namespace string
	now       func() time.Time
}

// New returns a writer of EMF lines to out (os.Stdout in Lambda).
func New(out io.Writer) *Writer {
	return &Writer{out: out, namespace: Namespace, now: time.Now}
}

// SetClock replaces the clock (tests).
func (w *Writer) SetClock(now func() time.Time) { w.now = now }

// validName reports whether s is a valid metric or dimension name: 1 to 255 of
// A-Z a-z 0-9 . _ # : / -. (A loop, not a regexp: `{1,255}` compiles to 255 copies of the class,
// 240 KB and 1 to 2 ms at every cold start.)
func validName(s string) bool {
	if len(s) == 0 || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte("._#:/-", c) >= 0:
		default:
			return false
		}
	}
	return true
}

const (
	maxDimensions = 9   // the older schema's limit, safe for every reader
	maxMetrics    = 100 // per event
	maxDimValue   = 1024
)

// Emit writes the metrics with the given dimensions as one EMF event. Invalid names and
// dimension values are reported as an error and nothing is written.
func (w *Writer) Emit(dims map[string]string, ms ...Metric) error {
	if w == nil || len(ms) == 0 {
		return nil
	}
	if len(dims) > maxDimensions {
		return fmt.Errorf("emf: %d dimensions, at most %d", len(dims), maxDimensions)
	}
	if len(ms) > maxMetrics {
		return fmt.Errorf("emf: %d metrics in one event, at most %d", len(ms), maxMetrics)
	}
	keys := slices.Sorted(maps.Keys(dims))
	event := map[string]any{}
	for _, k := range keys {
		if !validName(k) || dims[k] == "" || len(dims[k]) > maxDimValue {
			return fmt.Errorf("emf: invalid dimension %q=%q", k, dims[k])
		}
		event[k] = dims[k]
	}
	defs := make([]map[string]any, 0, len(ms))
	for _, m := range ms {
		if !validName(m.Name) {
			return fmt.Errorf("emf: invalid metric name %q", m.Name)
		}
		if _, clash := dims[m.Name]; clash {
			return fmt.Errorf("emf: metric %q has a dimension's name", m.Name)
		}
		unit := m.Unit
		if unit == "" {
			unit = None
		}
		defs = append(defs, map[string]any{"Name": m.Name, "Unit": string(unit)})
		event[m.Name] = m.Value
	}
	event["_aws"] = map[string]any{
		"Timestamp": w.now().UnixMilli(),
		"CloudWatchMetrics": []map[string]any{{
			"Namespace":  w.namespace,
			"Dimensions": [][]string{keys},
			"Metrics":    defs,
		}},
	}
	line, err := json.Marshal(event)
	if err != nil {
		return fmt.Errorf("emf: encode: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err = w.out.Write(append(line, '\n'))
	return err
}
