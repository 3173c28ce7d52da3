package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"math"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// metricStore keeps the metrics the local functions emit, as CloudWatch would receive them:
// it is the io.Writer of their EMF lines, and the local runner adds what AWS itself would
// measure (API Gateway's request counts and latency, Lambda's errors and throttles).
type metricStore struct {
	mu      sync.Mutex
	partial []byte
	series  map[string]*series // by seriesKey
	now     func() time.Time
}

type series struct {
	namespace, name string
	dims            map[string]string
	points          []point
}

type point struct {
	t time.Time
	v float64
}

// keep bounds each series: at a one-minute tick, the last six hours of per-minute points.
const keep = 4096

func newMetricStore(now func() time.Time) *metricStore {
	return &metricStore{series: map[string]*series{}, now: now}
}

// Write takes EMF lines (one JSON event per line), as stdout does in Lambda.
func (m *metricStore) Write(b []byte) (int, error) {
	m.mu.Lock()
	m.partial = append(m.partial, b...)
	var lines [][]byte
	for {
		i := bytes.IndexByte(m.partial, '\n')
		if i < 0 {
			break
		}
		lines = append(lines, slices.Clone(m.partial[:i]))
		m.partial = m.partial[i+1:]
	}
	m.mu.Unlock()
	for _, l := range lines {
		m.emf(l)
	}
	return len(b), nil
}

// emf records one EMF event; a line that is not one is ignored (CloudWatch keeps it as a log).
func (m *metricStore) emf(line []byte) {
	var ev map[string]any
	if json.Unmarshal(line, &ev) != nil {
		return
	}
	var meta struct {
		Timestamp         int64 `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Namespace  string     `json:"Namespace"`
			Dimensions [][]string `json:"Dimensions"`
			Metrics    []struct {
				Name string `json:"Name"`
			} `json:"Metrics"`
		} `json:"CloudWatchMetrics"`
	}
	raw, _ := json.Marshal(ev["_aws"])
	if json.Unmarshal(raw, &meta) != nil {
		return
	}
	t := time.UnixMilli(meta.Timestamp)
	for _, d := range meta.CloudWatchMetrics {
		for _, set := range d.Dimensions {
			dims := map[string]string{}
			for _, k := range set {
				dims[k] = fmt.Sprint(ev[k])
			}
			for _, mt := range d.Metrics {
				if v, ok := ev[mt.Name].(float64); ok {
					m.record(d.Namespace, mt.Name, dims, v, t)
				}
			}
		}
	}
}

// record adds one value.
func (m *metricStore) record(namespace, name string, dims map[string]string, v float64, t time.Time) {
	key := seriesKey(namespace, name, dims)
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.series[key]
	if s == nil {
		s = &series{namespace: namespace, name: name, dims: dims}
		m.series[key] = s
	}
	s.points = append(s.points, point{t, v})
	if len(s.points) > keep {
		s.points = slices.Delete(s.points, 0, len(s.points)-keep)
	}
}

func seriesKey(namespace, name string, dims map[string]string) string {
	keys := make([]string, 0, len(dims))
	for k := range dims {
		keys = append(keys, k+"="+dims[k])
	}
	sort.Strings(keys)
	return namespace + "|" + name + "|" + strings.Join(keys, ",")
}

// The names the template's dashboard gives the local stand-ins of AWS resources.
const (
	localAPIID = "local-http-api"
	// localDeadLetterQueue stands for the interlink's dead-letter queue: the local interlink is
	// in process and dead-letters nothing, so its depth is always 0.
	localDeadLetterQueue = "local-interlink-dead-letters"
)

// functionOfJob is the template function a scheduled job runs in.
var functionOfJob = map[string]string{"sparkmonitor": "SparkMonitorFunction", "scaler": "ScalerFunction",
	"discovery": "DiscoveryFunction", "retention": "DiscoveryFunction", "peeringcopier": "PeeringFunction"}

// invocation records what Lambda measures of one invocation of function.
func (m *metricStore) invocation(function string, failed bool) {
	dims := map[string]string{"FunctionName": function}
	now := m.now()
	m.record("AWS/Lambda", "Errors", dims, b2f(failed), now)
	m.record("AWS/Lambda", "Throttles", dims, 0, now) // nothing throttles in one process
	if function == "PeeringFunction" {                // the function that consumes the interlink queue
		m.record("AWS/SQS", "ApproximateNumberOfMessagesVisible", map[string]string{"QueueName": localDeadLetterQueue}, 0, now)
	}
}

// measureAPI records what API Gateway and Lambda measure of each request.
func (m *metricStore) measureAPI(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := m.now()
		sw := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		dims := map[string]string{"ApiId": localAPIID}
		now := m.now()
		m.record("AWS/ApiGateway", "4xx", dims, b2f(sw.status >= 400 && sw.status < 500), now)
		m.record("AWS/ApiGateway", "5xx", dims, b2f(sw.status >= 500), now)
		m.record("AWS/ApiGateway", "Latency", dims, float64(now.Sub(start).Microseconds())/1000, now)
		m.invocation("ApiFunction", sw.status == http.StatusInternalServerError)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// ---- the dashboard ----

// dashboard renders the template's CloudWatch dashboard from a metricStore: each widget's
// metrics (SEARCH expressions or metric arrays) are evaluated over the stored series,
// aggregated per period with the widget's statistic, and drawn as SVG on the server.
type dashboard struct {
	widgets []widget
	metrics *metricStore
	// scale maps the dashboard's periods onto the runner's clock: with a fast tick, a
	// period of 60 s (one simulated minute) lasts one tick.
	scale float64
}

type widget struct {
	Type       string `json:"type"`
	X          int    `json:"x"`
	Y          int    `json:"y"`
	Width      int    `json:"width"`
	Height     int    `json:"height"`
	Properties struct {
		Title   string            `json:"title"`
		Period  int               `json:"period"`
		Metrics []json.RawMessage `json:"metrics"`
		YAxis   struct {
			Left struct {
				Min *float64 `json:"min"`
				Max *float64 `json:"max"`
			} `json:"left"`
		} `json:"yAxis"`
	} `json:"properties"`
}

// newDashboard parses the template's DashboardBody, its ${...} references resolved to the
// local stand-ins' names.
func newDashboard(body string, metrics *metricStore, tick time.Duration) (*dashboard, error) {
	body = regexp.MustCompile(`\$\{([A-Za-z0-9:.]+)\}`).ReplaceAllStringFunc(body, func(ref string) string {
		switch name := ref[2 : len(ref)-1]; name {
		case "AWS::Region":
			return "local"
		case "HttpApi":
			return localAPIID
		case "InterlinkDeadLetterQueue.QueueName":
			return localDeadLetterQueue
		default:
			return name
		}
	})
	var d struct {
		Widgets []widget `json:"widgets"`
	}
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		return nil, fmt.Errorf("dashboard body: %w", err)
	}
	return &dashboard{widgets: d.Widgets, metrics: metrics, scale: tick.Seconds() / 60}, nil
}

// line is one drawn series.
type line struct {
	label  string
	values []point // one per period, oldest first
}

var searchRE = regexp.MustCompile(`^SEARCH\('\{([^}]*)\} MetricName="([^"]+)"', '([A-Za-z0-9.]+)', (\d+)\)$`)

// lines evaluates a widget's metrics.
func (d *dashboard) lines(w widget) []line {
	period := time.Duration(float64(max(w.Properties.Period, 60))*d.scale*1000) * time.Millisecond
	period = max(period, time.Second)
	var out []line
	for _, raw := range w.Properties.Metrics {
		var expr struct {
			Expression string `json:"expression"`
		}
		if json.Unmarshal(raw, &expr) == nil && expr.Expression != "" {
			m := searchRE.FindStringSubmatch(expr.Expression)
			if m == nil {
				continue
			}
			schema := strings.Split(m[1], ",")
			for _, s := range d.metrics.find(schema[0], m[2], schema[1:], nil) {
				out = append(out, line{label: label(s), values: aggregate(s.points, m[3], period)})
			}
			continue
		}
		var arr []any
		if json.Unmarshal(raw, &arr) != nil || len(arr) < 2 {
			continue
		}
		ns, _ := arr[0].(string)
		name, _ := arr[1].(string)
		dims, stat := map[string]string{}, "Average"
		var names []string
		for i := 2; i < len(arr); i++ {
			if opts, ok := arr[i].(map[string]any); ok {
				if s, ok := opts["stat"].(string); ok {
					stat = s
				}
				continue
			}
			if i+1 < len(arr) {
				k, v := fmt.Sprint(arr[i]), fmt.Sprint(arr[i+1])
				dims[k] = v
				names = append(names, k)
				i++
			}
		}
		for _, s := range d.metrics.find(ns, name, names, dims) {
			out = append(out, line{label: label(s), values: aggregate(s.points, stat, period)})
		}
	}
	return out
}

// find returns copies of the series of namespace and name whose dimension names are exactly
// dimNames (CloudWatch's schema match) and whose values match want where it names them.
func (m *metricStore) find(namespace, name string, dimNames []string, want map[string]string) []series {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []series
	for _, s := range m.series {
		if s.namespace != namespace || s.name != name || len(s.dims) != len(dimNames) {
			continue
		}
		ok := true
		for _, k := range dimNames {
			v, has := s.dims[strings.TrimSpace(k)]
			if !has || (want != nil && want[k] != v) {
				ok = false
			}
		}
		if ok {
			out = append(out, series{namespace: s.namespace, name: s.name, dims: s.dims, points: slices.Clone(s.points)})
		}
	}
	slices.SortFunc(out, func(a, b series) int { return strings.Compare(label(a), label(b)) })
	return out
}

func label(s series) string {
	keys := make([]string, 0, len(s.dims))
	for k := range s.dims {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := []string{s.name}
	for _, k := range keys {
		parts = append(parts, s.dims[k])
	}
	return strings.Join(parts, " ")
}

// aggregate groups points by period and applies stat (Sum, Maximum, Minimum, Average,
// SampleCount, pNN); at most the last 60 periods are kept.
func aggregate(ps []point, stat string, period time.Duration) []point {
	var out []point
	var bucket []float64
	var start time.Time
	flush := func() {
		if len(bucket) > 0 {
			out = append(out, point{start, statOf(bucket, stat)})
		}
	}
	for _, p := range ps {
		b := p.t.Truncate(period)
		if !b.Equal(start) {
			flush()
			start, bucket = b, nil
		}
		bucket = append(bucket, p.v)
	}
	flush()
	if len(out) > 60 {
		out = out[len(out)-60:]
	}
	return out
}

func statOf(vs []float64, stat string) float64 {
	switch {
	case stat == "Sum":
		s := 0.0
		for _, v := range vs {
			s += v
		}
		return s
	case stat == "Maximum":
		return slices.Max(vs)
	case stat == "Minimum":
		return slices.Min(vs)
	case stat == "SampleCount":
		return float64(len(vs))
	case strings.HasPrefix(stat, "p"):
		q, err := strconv.ParseFloat(stat[1:], 64)
		if err != nil {
			return math.NaN()
		}
		s := slices.Sorted(slices.Values(vs))
		return s[min(len(s)-1, max(0, int(math.Ceil(q/100*float64(len(s))))-1))]
	default: // Average
		s := 0.0
		for _, v := range vs {
			s += v
		}
		return s / float64(len(vs))
	}
}

// The page's grid: the dashboard is 24 columns wide; a height unit is 30 px.
const (
	colWidth  = 58
	rowHeight = 30
)

// palette is CloudWatch's series colours.
var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

// ServeHTTP answers GET /dashboard with the page; each widget is a <section> whose
// data-points attribute counts the points it draws.
func (d *dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var b strings.Builder
	height := 0
	for _, wd := range d.widgets {
		height = max(height, (wd.Y+wd.Height)*rowHeight)
	}
	fmt.Fprintf(&b, `<!doctype html><html><head><meta charset="utf-8"><title>Logwise control plane (local)</title>
<meta http-equiv="refresh" content="30">
<style>body{font-family:Arial,Helvetica,sans-serif;margin:12px;background:#f2f3f3;color:#16191f}
h1{font-size:18px;margin:0 0 8px}p.note{font-size:12px;color:#545b64;margin:0 0 10px}
.grid{position:relative;width:%dpx;height:%dpx}
section{position:absolute;box-sizing:border-box;background:#fff;border:1px solid #d5dbdb;padding:6px 8px;overflow:hidden}
section h2{font-size:13px;margin:0 0 4px;font-weight:bold}
.legend{font-size:11px;line-height:14px;white-space:nowrap;overflow:hidden}
.legend span{display:inline-block;width:10px;height:3px;margin:0 4px 2px 8px;vertical-align:middle}
.nodata{font-size:12px;color:#879196}</style></head><body>
<h1>Logwise control plane: the template's dashboard, from the local functions' metrics</h1>
<p class="note">Rendered %s on this machine from the EMF metrics the local functions emit (one period of 60 s is one tick here); no request leaves the machine.</p>
<div class="grid">`, 24*colWidth, height, html.EscapeString(d.metrics.now().UTC().Format(time.RFC3339)))
	for _, wd := range d.widgets {
		if wd.Type != "metric" {
			continue
		}
		lines := d.lines(wd)
		n := 0
		for _, l := range lines {
			n += len(l.values)
		}
		wpx, hpx := wd.Width*colWidth-6, wd.Height*rowHeight-6
		fmt.Fprintf(&b, `<section class="widget" data-title="%s" data-series="%d" data-points="%d" style="left:%dpx;top:%dpx;width:%dpx;height:%dpx">`,
			html.EscapeString(wd.Properties.Title), len(lines), n, wd.X*colWidth, wd.Y*rowHeight, wpx, hpx)
		fmt.Fprintf(&b, `<h2>%s</h2>`, html.EscapeString(wd.Properties.Title))
		if n == 0 {
			b.WriteString(`<div class="nodata">No data yet</div></section>`)
			continue
		}
		b.WriteString(chart(lines, wpx-16, hpx-70, wd.Properties.YAxis.Left.Min, wd.Properties.YAxis.Left.Max))
		b.WriteString(`<div class="legend">`)
		for i, l := range lines {
			fmt.Fprintf(&b, `<span style="background:%s"></span>%s`, palette[i%len(palette)], html.EscapeString(l.label))
		}
		b.WriteString(`</div></section>`)
	}
	b.WriteString(`</div></body></html>`)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(b.String()))
}

// chart draws lines as an SVG time series with a y axis.
func chart(lines []line, width, height int, yMin, yMax *float64) string {
	var t0, t1 time.Time
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, l := range lines {
		for _, p := range l.values {
			if t0.IsZero() || p.t.Before(t0) {
				t0 = p.t
			}
			if p.t.After(t1) {
				t1 = p.t
			}
			lo, hi = math.Min(lo, p.v), math.Max(hi, p.v)
		}
	}
	lo = math.Min(lo, 0)
	if yMin != nil {
		lo = *yMin
	}
	if yMax != nil {
		hi = *yMax
	}
	if hi <= lo {
		hi = lo + 1
	}
	const left, bottom = 44, 16
	pw, ph := float64(width-left-4), float64(height-bottom-4)
	span := t1.Sub(t0).Seconds()
	x := func(t time.Time) float64 {
		if span == 0 {
			return float64(left) + pw/2
		}
		return float64(left) + t.Sub(t0).Seconds()/span*pw
	}
	y := func(v float64) float64 { return 4 + ph - (v-lo)/(hi-lo)*ph }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-size="10" font-family="Arial">`, width, height, width, height)
	for i := 0; i <= 4; i++ {
		v := lo + (hi-lo)*float64(i)/4
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#e9ebed"/><text x="%d" y="%.1f" text-anchor="end" fill="#545b64">%s</text>`,
			left, width-4, y(v), y(v), left-4, y(v)+3, tickLabel(v))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#545b64">%s</text><text x="%d" y="%d" text-anchor="end" fill="#545b64">%s</text>`,
		left, height-2, t0.UTC().Format("15:04:05"), width-4, height-2, t1.UTC().Format("15:04:05"))
	for i, l := range lines {
		c := palette[i%len(palette)]
		var pts []string
		for _, p := range l.values {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(p.t), y(p.v)))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.6" points="%s"/>`, c, strings.Join(pts, " "))
		if len(l.values) == 1 {
			fmt.Fprintf(&b, `<circle cx="%s" r="2.5" fill="%s"/>`, strings.Replace(pts[0], ",", `" cy="`, 1), c)
		}
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func tickLabel(v float64) string {
	switch {
	case math.Abs(v) >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 1, 64) + "M"
	case math.Abs(v) >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	case v == math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 0, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}
