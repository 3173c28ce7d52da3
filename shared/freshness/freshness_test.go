package freshness_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/freshness"
	"github.com/logwise/controlplane/shared/logstore"
	"github.com/logwise/controlplane/shared/logstore/s3test"
	"github.com/logwise/controlplane/shared/metrics"
)

var layout = logstore.Layout{LogsDir: "logs", CheckpointDir: "checkpoint/application"}

var policy = freshness.Policy{LookbackHours: 3, StaleAfterMinutes: 15}

func at(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func show(d freshness.ServiceDelay) string {
	if d.DelayMinutes == nil {
		return string(d.Status)
	}
	return fmt.Sprintf("%s %d", d.Status, *d.DelayMinutes)
}

func TestJudge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, now, newest string // newest "" = nothing found
		want              string
	}{
		{"same hour", "2024-06-10T12:30:00Z", "2024-06-10T12:25:00Z", "OK 5"},
		{"previous hour", "2024-06-10T12:30:00Z", "2024-06-10T11:50:00Z", "STALE 40"},
		{"same minute is at least 1", "2024-06-10T12:30:40Z", "2024-06-10T12:30:00Z", "OK 1"},
		{"across midnight (Logwise said 1)", "2024-06-10T00:05:00Z", "2024-06-09T23:58:00Z", "OK 7"},
		{"across month end (leap day)", "2024-03-01T00:02:00Z", "2024-02-29T23:59:00Z", "OK 3"},
		{"across year end", "2024-01-01T00:10:00Z", "2023-12-31T23:50:00Z", "STALE 20"},
		{"oldest bucket", "2024-06-10T12:59:00Z", "2024-06-10T09:00:00Z", "STALE 239"},
		{"at the threshold is OK", "2024-06-10T12:30:00Z", "2024-06-10T12:15:00Z", "OK 15"},
		{"a partition ahead of the clock", "2024-06-10T12:30:00Z", "2024-06-10T12:31:00Z", "OK 1"},
		{"nothing found", "2024-06-10T12:30:00Z", "", "NO_DATA"},
	}
	for _, tc := range tests {
		var newest time.Time
		if tc.newest != "" {
			newest = at(t, tc.newest)
		}
		got := freshness.Judge("api", at(t, tc.now), newest, tc.newest != "", policy)
		if show(got) != tc.want {
			t.Errorf("%s: got %s, want %s", tc.name, show(got), tc.want)
		}
	}
}

func TestSummarizeIsTheWorst(t *testing.T) {
	t.Parallel()
	d := func(n int, st freshness.Status) freshness.ServiceDelay {
		return freshness.ServiceDelay{DelayMinutes: &n, Status: st}
	}
	noData := freshness.ServiceDelay{Status: freshness.NoData}
	tests := []struct {
		name      string
		services  []freshness.ServiceDelay
		wantDelay int
		want      freshness.Status
	}{
		{"all OK", []freshness.ServiceDelay{d(2, freshness.OK), d(5, freshness.OK)}, 5, freshness.OK},
		{"one stale", []freshness.ServiceDelay{d(2, freshness.OK), d(40, freshness.Stale)}, 40, freshness.Stale},
		{"one without data", []freshness.ServiceDelay{d(2, freshness.OK), noData}, 180, freshness.NoData},
		{"stale beyond 180 beats no data's delay", []freshness.ServiceDelay{d(239, freshness.Stale), noData}, 239, freshness.NoData},
		{"no canaries", nil, 180, freshness.NoData},
	}
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range tests {
		r := freshness.Summarize("ABC", now, policy, tc.services)
		if r.AppLogsDelayMinutes != tc.wantDelay || r.Status != tc.want {
			t.Errorf("%s: got %d %s, want %d %s", tc.name, r.AppLogsDelayMinutes, r.Status, tc.wantDelay, tc.want)
		}
	}
}

func tenant() *config.Tenant {
	t := &config.Tenant{Name: "ABC"}
	t.DelayMetrics.App.SampleServiceName = "healthcheck-dummy"
	t.DelayMetrics.App.SampleServiceNames = []string{"canary-b"}
	t.DelayMetrics.MaxLookbackHours = 3
	t.DelayMetrics.StaleAfterMinutes = 15
	return t
}

func TestMeasureCountsListsAtTheStandIn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		now       string
		partition map[string]string // canary → newest minute written
		want      string            // per canary, in canary order
		wantLists int
		overall   string
	}{
		{"both fresh in the current hour", "2024-06-10T12:30:00Z",
			map[string]string{"healthcheck-dummy": "2024-06-10T12:28:00Z", "canary-b": "2024-06-10T12:25:00Z"},
			"OK 2, OK 5", 2, "OK 5"},
		{"across midnight", "2024-06-10T00:05:00Z",
			map[string]string{"healthcheck-dummy": "2024-06-09T23:58:00Z", "canary-b": "2024-06-10T00:01:00Z"},
			"OK 7, OK 4", 3, "OK 7"},
		{"across month end", "2024-05-01T00:30:00Z",
			map[string]string{"healthcheck-dummy": "2024-04-30T23:59:00Z", "canary-b": "2024-04-30T22:45:00Z"},
			"STALE 31, STALE 105", 5, "STALE 105"},
		{"across year end, one canary silent", "2024-01-01T01:30:00Z",
			map[string]string{"healthcheck-dummy": "2023-12-31T22:10:00Z"},
			"STALE 200, NO_DATA", 8, "NO_DATA 200"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := s3test.New(t)
			for svc, p := range tc.partition {
				for i := range 50 {
					srv.Put(t, fmt.Sprintf("%spart-%05d.gz.parquet", layout.MinutePrefix(svc, at(t, p)), i))
				}
				// Older minutes of the same hour are not the newest.
				srv.Put(t, layout.MinutePrefix(svc, at(t, p).Add(-3*time.Minute))+"part-0.gz.parquet")
			}
			m := freshness.NewMeter(nil)
			m.Now = func() time.Time { return at(t, tc.now) }
			r, err := m.Measure(context.Background(), tenant(), logstore.New(srv.Client, srv.Bucket, layout))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range r.Services {
				got = append(got, show(s))
			}
			if strings.Join(got, ", ") != tc.want {
				t.Errorf("services: got %s, want %s", strings.Join(got, ", "), tc.want)
			}
			if o := fmt.Sprintf("%s %d", r.Status, r.AppLogsDelayMinutes); o != tc.overall {
				t.Errorf("overall: got %s, want %s", o, tc.overall)
			}
			if n := srv.Count(s3test.ListObjectsV2); n != tc.wantLists {
				t.Errorf("LIST requests: got %d, want %d", n, tc.wantLists)
			}
		})
	}
}

func TestPublishWritesEMFPerServiceAndTenant(t *testing.T) {
	t.Parallel()
	srv := s3test.New(t)
	now := at(t, "2024-06-10T12:30:00Z")
	srv.Put(t, layout.MinutePrefix("healthcheck-dummy", now.Add(-4*time.Minute))+"part-0")
	var buf bytes.Buffer
	m := freshness.NewMeter(metrics.New(&buf))
	m.Now = func() time.Time { return now }
	r, err := m.Publish(context.Background(), tenant(), logstore.New(srv.Client, srv.Bucket, layout))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(r)
	for _, want := range []string{`"tenant":"ABC"`, `"appLogsDelayMinutes":180`, `"status":"NO_DATA"`, `"service":"canary-b","delayMinutes":null`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("report %s lacks %s", body, want)
		}
	}
	var got []string
	for line := range strings.SplitSeq(strings.TrimSpace(buf.String()), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		got = append(got, fmt.Sprintf("%v/%v delay=%v stale=%v nodata=%v", ev["tenant"], ev["service"], ev["AppLogsDelayMinutes"], ev["LogSyncStale"], ev["LogSyncNoData"]))
	}
	want := []string{
		"ABC/healthcheck-dummy delay=4 stale=0 nodata=0",
		"ABC/canary-b delay=180 stale=0 nodata=1",
		"ABC/<nil> delay=180 stale=<nil> nodata=<nil>",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("EMF:\n got  %v\n want %v", got, want)
	}
}

func TestMeasureFailsOnS3ErrorAndPublishSaysSo(t *testing.T) {
	t.Parallel()
	srv := s3test.New(t)
	srv.Fail(s3test.ListObjectsV2, true)
	var buf bytes.Buffer
	_, err := freshness.NewMeter(metrics.New(&buf)).Publish(context.Background(), tenant(), logstore.New(srv.Client, srv.Bucket, layout))
	if !fault.Is(err, fault.Upstream) || !strings.Contains(err.Error(), "canary healthcheck-dummy") {
		t.Fatalf("got %v, want an Upstream error naming the canary", err)
	}
	if !strings.Contains(buf.String(), `"LogSyncMeasureFailed":1`) {
		t.Errorf("no failure metric in %s", buf.String())
	}
}
