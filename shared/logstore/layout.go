// Package logstore is the only package that knows where the pipeline's objects live in S3:
// the Hive-style data partitions the Spark job writes, its file-sink log and its checkpoint.
// Every other package asks it for keys and listings instead of building them.
//
// Layout (Spark's partitionBy(service_name, year, month, day, hour, minute), values from the
// record's event time in UTC):
//
//	<logsDir>/service_name=<svc>/year=YYYY/month=MM/day=DD/hour=HH/minute=mm/part-*
//	<logsDir>/_spark_metadata/<batchId>[.compact]   the file-sink log
//	<checkPointDir>/...                             offsets/, commits/, sources/, state/, metadata
package logstore

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxServiceNameLength is the longest service name the control plane stores
// (service_details.serviceName is VARCHAR(255)).
const MaxServiceNameLength = 255

// hiveDefaultPartition is the directory Spark writes for a null or empty partition value.
const hiveDefaultPartition = "__HIVE_DEFAULT_PARTITION__"

// Layout says where a tenant's logs and Spark state live inside its bucket. LogsDir and
// CheckpointDir are key prefixes without the bucket (config spark.logsDir and
// spark.checkPointDir, e.g. "logs" and "checkpoint/application"); leading and trailing slashes
// are ignored.
type Layout struct {
	LogsDir       string
	CheckpointDir string
}

// dir returns a directory prefix ending in "/" ("" for the bucket root).
func dir(p string) string {
	p = strings.Trim(p, "/")
	if p == "" {
		return ""
	}
	return p + "/"
}

// LogsPrefix is the logs root, e.g. "logs/".
func (l Layout) LogsPrefix() string { return dir(l.LogsDir) }

// ServicesPrefix is the prefix every service directory starts with, e.g. "logs/service_name=".
// A delimiter listing of it yields one common prefix per service.
func (l Layout) ServicesPrefix() string { return l.LogsPrefix() + "service_name=" }

// ServicePrefix is the directory of one service, e.g. "logs/service_name=api/". The name is
// escaped the way Spark escapes partition values.
func (l Layout) ServicePrefix(svc string) string {
	return l.ServicesPrefix() + escapePartitionValue(svc) + "/"
}

// HourPrefix is the directory of one UTC hour of a service,
// e.g. "logs/service_name=api/year=2024/month=01/day=01/hour=00/".
func (l Layout) HourPrefix(svc string, t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("%syear=%d/month=%02d/day=%02d/hour=%02d/",
		l.ServicePrefix(svc), t.Year(), int(t.Month()), t.Day(), t.Hour())
}

// MinutesPrefix is what a delimiter listing of one hour bucket uses as Prefix: the hour
// directory followed by "minute=". Its common prefixes are the minute partitions.
func (l Layout) MinutesPrefix(svc string, t time.Time) string {
	return l.HourPrefix(svc, t) + "minute="
}

// MinutePrefix is the directory of one UTC minute of a service, ending in "/".
func (l Layout) MinutePrefix(svc string, t time.Time) string {
	return fmt.Sprintf("%s%02d/", l.MinutesPrefix(svc, t), t.UTC().Minute())
}

// SparkMetadataPrefix is the file-sink log directory, e.g. "logs/_spark_metadata/".
func (l Layout) SparkMetadataPrefix() string { return l.LogsPrefix() + "_spark_metadata/" }

// CheckpointPrefix is the checkpoint directory, e.g. "checkpoint/application/". It is "" when
// CheckpointDir is empty; DeleteSparkState refuses that.
func (l Layout) CheckpointPrefix() string { return dir(l.CheckpointDir) }

// ParseServicePrefix returns the service named by a key or prefix under ServicesPrefix, e.g.
// "logs/service_name=api/" or "logs/service_name=api/year=2024/...". ok is false when the key
// is not under ServicesPrefix or has no "/" after the name. The name is unescaped the way
// Spark unescapes partition values.
func (l Layout) ParseServicePrefix(key string) (svc string, ok bool) {
	rest, found := strings.CutPrefix(key, l.ServicesPrefix())
	if !found {
		return "", false
	}
	name, _, found := strings.Cut(rest, "/")
	if !found {
		return "", false
	}
	return unescapePartitionValue(name), true
}

// ParseMinutePartition returns the UTC start of the minute partition a key or prefix names,
// from its year=/month=/day=/hour=/minute= segments, e.g.
// ".../year=2023/month=12/day=31/hour=23/minute=58/part-0.gz.parquet" gives
// 2023-12-31T23:58:00Z. ok is false unless all five segments are present, in order, and form a
// valid date and time.
func ParseMinutePartition(key string) (time.Time, bool) {
	names := [...]string{"year", "month", "day", "hour", "minute"}
	var vals [5]int
	next := 0
	for seg := range strings.SplitSeq(key, "/") {
		if next == len(names) {
			break
		}
		v, found := strings.CutPrefix(seg, names[next]+"=")
		if !found {
			if next > 0 {
				return time.Time{}, false // the date segments must be consecutive
			}
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return time.Time{}, false
		}
		vals[next] = n
		next++
	}
	if next != len(names) {
		return time.Time{}, false
	}
	y, mo, d, h, mi := vals[0], vals[1], vals[2], vals[3], vals[4]
	t := time.Date(y, time.Month(mo), d, h, mi, 0, 0, time.UTC)
	// time.Date normalises out-of-range values (month=13); such a key is not a partition.
	if t.Year() != y || int(t.Month()) != mo || t.Day() != d || t.Hour() != h || t.Minute() != mi {
		return time.Time{}, false
	}
	return t, true
}

// CheckServiceName reports why a service name cannot be stored or addressed: empty, longer than
// MaxServiceNameLength characters, not UTF-8, containing a control character, or Spark's
// placeholder for a null partition value.
func CheckServiceName(svc string) error {
	switch {
	case svc == "":
		return fmt.Errorf("service name is empty")
	case svc == hiveDefaultPartition:
		return fmt.Errorf("service name %s is Spark's null partition", svc)
	case !utf8.ValidString(svc):
		return fmt.Errorf("service name %q is not valid UTF-8", svc)
	case utf8.RuneCountInString(svc) > MaxServiceNameLength:
		return fmt.Errorf("service name %.40q... is %d characters long, more than %d",
			svc, utf8.RuneCountInString(svc), MaxServiceNameLength)
	}
	for _, r := range svc {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("service name %q contains a control character", svc)
		}
	}
	return nil
}

// needsEscape lists the characters Spark's ExternalCatalogUtils.escapePathName escapes in
// partition values (besides control characters).
const needsEscape = "\"#%'*/:=?\\{[]^"

// escapePartitionValue escapes a partition value as Spark does: each listed character and
// each control character becomes %XX (upper-case hex).
func escapePartitionValue(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < 0x20 || c == 0x7f || strings.IndexByte(needsEscape, c) >= 0 {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// unescapePartitionValue undoes escapePartitionValue. Like Spark's unescapePathName it keeps a
// '%' that is not followed by two hex digits.
func unescapePartitionValue(v string) string {
	if !strings.Contains(v, "%") {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '%' && i+2 < len(v) {
			if n, err := strconv.ParseUint(v[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 2
				continue
			}
		}
		b.WriteByte(v[i])
	}
	return b.String()
}
