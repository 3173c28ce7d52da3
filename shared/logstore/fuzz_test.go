package logstore

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// validName is an oracle for CheckServiceName written from its documentation.
func validName(svc string) bool {
	if svc == "" || svc == hiveDefaultPartition || !utf8.ValidString(svc) || utf8.RuneCountInString(svc) > MaxServiceNameLength {
		return false
	}
	return !strings.ContainsFunc(svc, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// FuzzServiceName checks CheckServiceName against the oracle, and that every accepted name
// survives the layout: ServicePrefix, HourPrefix and MinutePrefix parse back to the name and
// the minute.
func FuzzServiceName(f *testing.F) {
	for _, s := range []string{"api", "", "a/b", "100%", "%41", "x=y", "__HIVE_DEFAULT_PARTITION__", "tab\there",
		"naïve", "\xff", strings.Repeat("é", 256), "{[]}^:*?'\"#\\"} {
		f.Add("logs", s, int64(1700000000))
	}
	f.Add("/a/b/", "svc", int64(0))
	f.Fuzz(func(t *testing.T, logsDir, svc string, unix int64) {
		err := CheckServiceName(svc)
		if (err == nil) != validName(svc) {
			t.Fatalf("CheckServiceName(%q) = %v; the oracle says valid=%v", svc, err, validName(svc))
		}
		if err != nil {
			return
		}
		l := Layout{LogsDir: logsDir, CheckpointDir: "checkpoint"}
		if strings.Contains(l.LogsPrefix(), "service_name=") {
			return // a logs directory that itself looks like a partition is not a layout
		}
		for _, key := range []string{l.ServicePrefix(svc), l.ServicePrefix(svc) + "year=2024/part-0"} {
			got, ok := l.ParseServicePrefix(key)
			if !ok || got != svc {
				t.Fatalf("ParseServicePrefix(%q) = %q, %v; want %q, true", key, got, ok, svc)
			}
		}
		// A minute between 1970 and 9999 (ParseMinutePartition reads unsigned years).
		unix = ((unix % 253402300799) + 253402300799) % 253402300799
		at := time.Unix(unix, 0).UTC()
		key := l.MinutePrefix(svc, at) + "part-00000.gz.parquet"
		got, ok := ParseMinutePartition(key)
		if want := at.Truncate(time.Minute); !ok || !got.Equal(want) {
			t.Fatalf("ParseMinutePartition(%q) = %v, %v; want %v, true", key, got, ok, want)
		}
	})
}

// FuzzParseMinutePartition feeds arbitrary keys: it must not panic, and what it accepts is a
// UTC minute whose own key parses back to the same minute.
func FuzzParseMinutePartition(f *testing.F) {
	for _, k := range []string{
		"logs/service_name=api/year=2023/month=12/day=31/hour=23/minute=58/part-0.gz.parquet",
		"year=2024/month=02/day=29/hour=00/minute=00/",
		"year=2023/month=02/day=29/hour=00/minute=00/",
		"year=2024/month=13/day=01/hour=00/minute=00/",
		"year=2024/month=01/x=1/day=01/hour=00/minute=00/",
		"year=-1/month=01/day=01/hour=00/minute=00/",
		"year=99999999999999999999/month=1/day=1/hour=0/minute=0",
		"minute=01/year=2024",
		"",
	} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		got, ok := ParseMinutePartition(key)
		if !ok {
			if !got.IsZero() {
				t.Fatalf("ParseMinutePartition(%q) rejected the key but returned %v", key, got)
			}
			return
		}
		if got.Location() != time.UTC || !got.Equal(got.Truncate(time.Minute)) {
			t.Fatalf("ParseMinutePartition(%q) = %v: not a UTC minute", key, got)
		}
		l := Layout{LogsDir: "logs"}
		again, ok := ParseMinutePartition(l.MinutePrefix("svc", got))
		if !ok || !again.Equal(got) {
			t.Fatalf("the key of %v parses to %v, %v", got, again, ok)
		}
	})
}

// FuzzParseServicePrefix feeds arbitrary keys: no panic; an accepted key is under
// ServicesPrefix and holds a "/" after the name.
func FuzzParseServicePrefix(f *testing.F) {
	for _, k := range []string{"logs/service_name=api/", "logs/service_name=a%2Fb/year=2024/", "logs/service_name=api",
		"logs/service_name=%zz/", "logs/service_name=%2/", "other/service_name=api/", "logs/service_name=/"} {
		f.Add("logs", k)
	}
	f.Fuzz(func(t *testing.T, logsDir, key string) {
		l := Layout{LogsDir: logsDir}
		svc, ok := l.ParseServicePrefix(key)
		if !ok {
			if svc != "" {
				t.Fatalf("ParseServicePrefix(%q) rejected the key but returned %q", key, svc)
			}
			return
		}
		rest, found := strings.CutPrefix(key, l.ServicesPrefix())
		if !found || !strings.Contains(rest, "/") {
			t.Fatalf("ParseServicePrefix(%q) accepted a key that is not a service directory (prefix %q)", key, l.ServicesPrefix())
		}
		if len(svc) > len(rest) {
			t.Fatalf("ParseServicePrefix(%q) = %q: longer than the escaped name", key, svc)
		}
	})
}
