package logstore_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/logstore"
	"github.com/logwise/controlplane/shared/logstore/s3test"
)

var layout = logstore.Layout{LogsDir: "logs", CheckpointDir: "checkpoint/application"}

func newStore(t *testing.T) (*logstore.Store, *s3test.Server) {
	srv := s3test.New(t)
	return logstore.New(srv.Client, srv.Bucket, layout), srv
}

func TestListServicesFollowsContinuationTokens(t *testing.T) {
	t.Parallel()
	st, srv := newStore(t)
	var want []string
	for i := range 2500 {
		svc := fmt.Sprintf("svc-%05d", i)
		want = append(want, svc)
		// Two objects per service: the listing must still give one prefix per service.
		srv.Put(t, layout.MinutePrefix(svc, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))+"part-0",
			layout.MinutePrefix(svc, time.Date(2024, 1, 1, 0, 1, 0, 0, time.UTC))+"part-0")
	}
	srv.Put(t, "logs/_spark_metadata/0", "logs/README", "other/service_name=foreign/x")

	got, err := st.ListServices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %d services (first %v), want %d", len(got), got[:min(3, len(got))], len(want))
	}
	if n := srv.Count(s3test.ListObjectsV2); n != 3 {
		t.Errorf("LIST requests: got %d, want 3 (1000 prefixes per page)", n)
	}
}

func TestListServicesEscapedNamesAndEmptyBucket(t *testing.T) {
	t.Parallel()
	st, srv := newStore(t)
	got, err := st.ListServices(context.Background())
	if err != nil || len(got) != 0 {
		t.Fatalf("empty bucket: got %v, %v; want no services and no error", got, err)
	}
	srv.Put(t, layout.ServicePrefix("team/api")+"year=2024/month=01/day=01/hour=00/minute=00/part-0")
	got, err = st.ListServices(context.Background())
	if err != nil || !slices.Equal(got, []string{"team/api"}) {
		t.Fatalf("escaped: got %v, %v; want [team/api]", got, err)
	}
}

func TestListServicesFailureIsUpstream(t *testing.T) {
	t.Parallel()
	st, srv := newStore(t)
	srv.Fail(s3test.ListObjectsV2, true)
	_, err := st.ListServices(context.Background())
	if !fault.Is(err, fault.Upstream) || !strings.Contains(err.Error(), "list services in s3://logwise-logs/logs/service_name=") {
		t.Fatalf("got %v (kind %v), want an Upstream error naming the prefix", err, fault.KindOf(err))
	}
}

func TestSparkMetadataFiles(t *testing.T) {
	t.Parallel()
	st, srv := newStore(t)
	srv.Put(t, "logs/_spark_metadata/0", "logs/_spark_metadata/9.compact", "logs/_spark_metadata/10",
		"logs/service_name=api/year=2024/month=01/day=01/hour=00/minute=00/part-0", "checkpoint/application/offsets/0")
	got, err := st.SparkMetadataFiles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"0", "10", "9.compact"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// checkpointTree is what Spark 3.5 leaves in a checkpoint after a few batches, plus enough
// offsets files to need two DeleteObjects batches.
func checkpointTree(dir string) []string {
	keys := []string{
		dir + "metadata",
		dir + "sources/0/0",
		dir + "state/0/0/1.delta", dir + "state/0/0/_metadata/schema", dir + "state/0/1/2.snapshot",
	}
	for i := range 1200 {
		keys = append(keys, fmt.Sprintf("%soffsets/%d", dir, i), fmt.Sprintf("%scommits/%d", dir, i))
	}
	return keys
}

func TestDeleteSparkStateDeletesExactlyCheckpointAndSparkMetadata(t *testing.T) {
	t.Parallel()
	st, srv := newStore(t)
	doomed := append(checkpointTree("checkpoint/application/"),
		"logs/_spark_metadata/0", "logs/_spark_metadata/9.compact", "logs/_spark_metadata/10")
	kept := []string{
		"logs/service_name=api/year=2024/month=01/day=01/hour=00/minute=00/part-0.gz.parquet",
		"logs/service_name=_spark_metadata/x", // a service that happens to be named like the log
		"logs/_spark_metadata_backup/0",
		"checkpoint/application-old/offsets/0", // a sibling sharing the string prefix
		"checkpoint/other/offsets/0",
		"logs/README",
	}
	srv.Put(t, doomed...)
	srv.Put(t, kept...)
	srv.Reset()

	rep, err := st.DeleteSparkState(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Deleted != len(doomed) || rep.Remaining != 0 || len(rep.Failed) != 0 {
		t.Errorf("report: got deleted %d remaining %d failed %v, want deleted %d", rep.Deleted, rep.Remaining, rep.Failed, len(doomed))
	}
	slices.Sort(kept)
	if got := srv.Keys(t); !slices.Equal(got, kept) {
		t.Errorf("left in bucket:\n got  %v\n want %v", got, kept)
	}
	// 2405 checkpoint keys: 3 pages of 1000 → 3 DeleteObjects; 3 metadata keys → 1.
	if n := srv.Count(s3test.DeleteObjects); n != 4 {
		t.Errorf("DeleteObjects requests: got %d, want 4 (≤1000 keys each)", n)
	}
}

func TestDeleteSparkStateSurfacesRefusedKeys(t *testing.T) {
	t.Parallel()
	st, srv := newStore(t)
	srv.Put(t, checkpointTree("checkpoint/application/")...)
	srv.Put(t, "logs/_spark_metadata/0")
	srv.RefuseDelete("checkpoint/application/commits/7", "logs/_spark_metadata/0")

	rep, err := st.DeleteSparkState(context.Background())
	if err == nil || !fault.Is(err, fault.Upstream) {
		t.Fatalf("got %v, want an Upstream error", err)
	}
	var refused []string
	for _, f := range rep.Failed {
		refused = append(refused, f.Key+":"+f.Code)
	}
	slices.Sort(refused)
	want := []string{"checkpoint/application/commits/7:AccessDenied", "logs/_spark_metadata/0:AccessDenied"}
	if !slices.Equal(refused, want) || rep.Remaining != 2 {
		t.Errorf("got refused %v remaining %d, want %v remaining 2", refused, rep.Remaining, want)
	}
	if !strings.Contains(err.Error(), "2 keys refused, 2 keys remain") {
		t.Errorf("error %q does not say what was left", err)
	}
}

func TestDeleteSparkStateIsIdempotentAndRefusesUnsafeLayouts(t *testing.T) {
	t.Parallel()
	st, srv := newStore(t)
	if rep, err := st.DeleteSparkState(context.Background()); err != nil || rep.Deleted != 0 {
		t.Fatalf("nothing to delete: got %+v, %v; want success", rep, err)
	}
	srv.Put(t, "logs/service_name=api/year=2024/month=01/day=01/hour=00/minute=00/part-0")
	for _, l := range []logstore.Layout{
		{LogsDir: "logs", CheckpointDir: ""},
		{LogsDir: "logs", CheckpointDir: "/"},
		{LogsDir: "logs", CheckpointDir: "logs"},
		{LogsDir: "data/logs", CheckpointDir: "data"},
		{LogsDir: "logs", CheckpointDir: "logs/service_name=api"},
	} {
		_, err := logstore.New(srv.Client, srv.Bucket, l).DeleteSparkState(context.Background())
		if !fault.Is(err, fault.Invalid) {
			t.Errorf("layout %+v: got %v, want Invalid", l, err)
		}
	}
	if len(srv.Keys(t)) != 1 {
		t.Errorf("an unsafe layout deleted data: %v", srv.Keys(t))
	}
}

func TestNewestMinuteIsDateAwareAndBounded(t *testing.T) {
	t.Parallel()
	const svc = "healthcheck-dummy"
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name      string
		now       string
		objects   []string // minute partitions holding a part file
		want      string   // "" means not found
		wantLists int
	}{
		{"current hour", "2024-06-10T12:30:00Z", []string{"2024-06-10T12:05:00Z", "2024-06-10T12:25:00Z"}, "2024-06-10T12:25:00Z", 1},
		{"previous hour", "2024-06-10T12:30:00Z", []string{"2024-06-10T11:50:00Z", "2024-06-10T09:00:00Z"}, "2024-06-10T11:50:00Z", 2},
		{"across midnight", "2024-06-10T00:05:00Z", []string{"2024-06-09T23:58:00Z"}, "2024-06-09T23:58:00Z", 2},
		{"across month end", "2024-03-01T00:02:00Z", []string{"2024-02-29T23:59:00Z"}, "2024-02-29T23:59:00Z", 2},
		{"across year end", "2024-01-01T01:30:00Z", []string{"2023-12-31T22:10:00Z"}, "2023-12-31T22:10:00Z", 4},
		{"a day-old same hour is not recent", "2024-06-10T12:30:00Z", []string{"2024-06-09T12:29:00Z"}, "", 4},
		{"beyond lookback", "2024-06-10T12:59:00Z", []string{"2024-06-10T08:59:00Z"}, "", 4},
		{"oldest bucket", "2024-06-10T12:59:00Z", []string{"2024-06-10T09:00:00Z"}, "2024-06-10T09:00:00Z", 4},
		{"nothing", "2024-06-10T12:30:00Z", nil, "", 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, srv := newStore(t)
			for _, o := range tc.objects {
				// Many part files per minute: the cost must not depend on them.
				for p := range 30 {
					srv.Put(t, fmt.Sprintf("%spart-%05d.gz.parquet", layout.MinutePrefix(svc, at(o)), p))
				}
			}
			srv.Put(t, layout.MinutePrefix("other", at(tc.now))+"part-0") // another service is irrelevant
			got, found, err := st.NewestMinute(context.Background(), svc, at(tc.now), 3)
			if err != nil {
				t.Fatal(err)
			}
			gotS := ""
			if found {
				gotS = got.Format(time.RFC3339)
			}
			if gotS != tc.want {
				t.Errorf("newest: got %q, want %q", gotS, tc.want)
			}
			if n := srv.Count(s3test.ListObjectsV2); n != tc.wantLists {
				t.Errorf("LIST requests: got %d, want %d", n, tc.wantLists)
			}
		})
	}
}

func TestNewestMinuteFailure(t *testing.T) {
	t.Parallel()
	st, srv := newStore(t)
	srv.Fail(s3test.ListObjectsV2, true)
	_, _, err := st.NewestMinute(context.Background(), "api", time.Now(), 3)
	if !fault.Is(err, fault.Upstream) {
		t.Fatalf("got %v, want Upstream", err)
	}
}
