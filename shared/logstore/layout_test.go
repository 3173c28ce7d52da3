package logstore

import (
	"strings"
	"testing"
	"time"
)

func TestLayoutKeys(t *testing.T) {
	t.Parallel()
	at := time.Date(2024, 1, 1, 1, 30, 0, 0, time.UTC)
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"services prefix", Layout{LogsDir: "logs"}.ServicesPrefix(), "logs/service_name="},
		{"slashes ignored", Layout{LogsDir: "/logs/"}.ServicesPrefix(), "logs/service_name="},
		{"nested logs dir", Layout{LogsDir: "a/b"}.ServicesPrefix(), "a/b/service_name="},
		{"bucket root", Layout{}.ServicesPrefix(), "service_name="},
		{"service prefix", Layout{LogsDir: "logs"}.ServicePrefix("api"), "logs/service_name=api/"},
		{"service escaped like spark", Layout{LogsDir: "logs"}.ServicePrefix("a/b=c:d"), "logs/service_name=a%2Fb%3Dc%3Ad/"},
		{"hour prefix", Layout{LogsDir: "logs"}.HourPrefix("healthcheck-dummy", at),
			"logs/service_name=healthcheck-dummy/year=2024/month=01/day=01/hour=01/"},
		{"minutes prefix (logwise shape)", Layout{LogsDir: "logs"}.MinutesPrefix("healthcheck-dummy", at.Add(-2*time.Hour)),
			"logs/service_name=healthcheck-dummy/year=2023/month=12/day=31/hour=23/minute="},
		{"minute prefix", Layout{LogsDir: "logs"}.MinutePrefix("api", at),
			"logs/service_name=api/year=2024/month=01/day=01/hour=01/minute=30/"},
		{"non-UTC time converted", Layout{LogsDir: "logs"}.HourPrefix("api", at.In(time.FixedZone("IST", 5*3600+1800))),
			"logs/service_name=api/year=2024/month=01/day=01/hour=01/"},
		{"spark metadata", Layout{LogsDir: "logs"}.SparkMetadataPrefix(), "logs/_spark_metadata/"},
		{"checkpoint", Layout{CheckpointDir: "checkpoint/application"}.CheckpointPrefix(), "checkpoint/application/"},
		{"checkpoint empty", Layout{}.CheckpointPrefix(), ""},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

func TestParseServicePrefix(t *testing.T) {
	t.Parallel()
	l := Layout{LogsDir: "logs"}
	tests := []struct {
		name, key, want string
		ok              bool
	}{
		{"common prefix", "logs/service_name=api/", "api", true},
		{"object key", "logs/service_name=my-service/year=2023/month=01/day=01/hour=00/minute=00/part-0", "my-service", true},
		{"nested service_name takes the first", "logs/service_name=first-service/service_name=second-service/x", "first-service", true},
		{"escaped name", "logs/service_name=a%2Fb%3Dc/", "a/b=c", true},
		{"malformed escape kept", "logs/service_name=100%zz/", "100%zz", true},
		{"no trailing slash", "logs/service_name=api", "", false},
		{"other dir", "logs/_spark_metadata/0", "", false},
		{"other logs dir", "other/service_name=api/", "", false},
	}
	for _, tc := range tests {
		got, ok := l.ParseServicePrefix(tc.key)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: ParseServicePrefix(%q) = %q, %v; want %q, %v", tc.name, tc.key, got, ok, tc.want, tc.ok)
		}
	}
}

func TestEscapeRoundTrip(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"api", "a/b", "x=y", "100%", "tab\tname", "ünïcode-svc", "q?#*[]^{}'\"\\:"} {
		l := Layout{LogsDir: "logs"}
		got, ok := l.ParseServicePrefix(l.ServicePrefix(name))
		if !ok || got != name {
			t.Errorf("round trip of %q: got %q, %v", name, got, ok)
		}
		if strings.Count(l.ServicePrefix(name), "/") != 2 {
			t.Errorf("ServicePrefix(%q) = %q: the name must not add a directory level", name, l.ServicePrefix(name))
		}
	}
}

func TestParseMinutePartition(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, key string
		want      time.Time
		ok        bool
	}{
		{"object key", "logs/service_name=api/year=2023/month=12/day=31/hour=23/minute=58/part-0.gz.parquet",
			time.Date(2023, 12, 31, 23, 58, 0, 0, time.UTC), true},
		{"common prefix", "logs/service_name=api/year=2024/month=02/day=29/hour=00/minute=00/",
			time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), true},
		{"unpadded year and values", "x/year=2024/month=3/day=1/hour=4/minute=5/", time.Date(2024, 3, 1, 4, 5, 0, 0, time.UTC), true},
		{"no minute", "logs/service_name=api/year=2024/month=01/day=01/hour=01/", time.Time{}, false},
		{"minute empty (listing prefix)", "logs/service_name=api/year=2024/month=01/day=01/hour=01/minute=", time.Time{}, false},
		{"month 13", "x/year=2024/month=13/day=01/hour=01/minute=01/", time.Time{}, false},
		{"feb 30", "x/year=2023/month=02/day=30/hour=01/minute=01/", time.Time{}, false},
		{"minute 60", "x/year=2023/month=02/day=01/hour=01/minute=60/", time.Time{}, false},
		{"not a number", "x/year=2023/month=02/day=01/hour=aa/minute=01/", time.Time{}, false},
		{"out of order", "x/year=2023/day=01/month=02/hour=01/minute=01/", time.Time{}, false},
		{"legacy without names", "logs/service_name=api/2023/01/01/file.log", time.Time{}, false},
	}
	for _, tc := range tests {
		got, ok := ParseMinutePartition(tc.key)
		if !got.Equal(tc.want) || ok != tc.ok {
			t.Errorf("%s: ParseMinutePartition(%q) = %v, %v; want %v, %v", tc.name, tc.key, got, ok, tc.want, tc.ok)
		}
	}
}

func TestCheckServiceName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, svc string
		ok        bool
	}{
		{"plain", "api", true},
		{"255 characters", strings.Repeat("a", 255), true},
		{"255 multibyte characters", strings.Repeat("é", 255), true},
		{"256 characters", strings.Repeat("a", 256), false},
		{"empty", "", false},
		{"hive null partition", "__HIVE_DEFAULT_PARTITION__", false},
		{"control character", "a\nb", false},
		{"invalid utf-8", "a\xffb", false},
	}
	for _, tc := range tests {
		err := CheckServiceName(tc.svc)
		if (err == nil) != tc.ok {
			t.Errorf("%s: CheckServiceName got %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
