package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/fault"
)

// KafkaMetadata answers a Kafka Metadata request for all topics (kafka.Probe, or an adapter of
// shared/kafka).
type KafkaMetadata interface {
	Metadata(ctx context.Context) (ClusterState, error)
}

// ClusterState is what the Kafka check needs from a Metadata response.
type ClusterState struct {
	Brokers []string               // host:port of each broker the cluster reports
	Topics  map[string]TopicHealth // every topic, by name
}

// TopicHealth counts a topic's partitions by state.
type TopicHealth struct {
	Partitions      int
	Offline         int // no leader (LeaderId == -1) or a load error
	UnderReplicated int // fewer in-sync replicas than replicas
}

// DriverState says whether the tenant's streaming job is alive: the Spark master answers
// ALIVE and the job's driver is alive by the monitor's definition (SUBMITTED, RUNNING,
// RELAUNCHING...). detail is a plain sentence for the report.
type DriverState interface {
	DriverAlive(ctx context.Context, tenant string) (alive bool, detail string, err error)
}

// NewestFinder finds the newest minute partition of a service (*logstore.Store).
type NewestFinder interface {
	NewestMinute(ctx context.Context, svc string, now time.Time, lookbackHours int) (time.Time, bool, error)
}

// Checker runs the four checks of a tenant.
type Checker struct {
	HTTP  *http.Client // for Vector; its own timeout is not needed, each check has one
	Spark DriverState
	Now   func() time.Time
}

// NewChecker returns a Checker using client for Vector and spark for the driver state.
func NewChecker(client *http.Client, spark DriverState) *Checker {
	return &Checker{HTTP: client, Spark: spark, Now: time.Now}
}

// Targets are a tenant's per-tenant dependencies. A nil one makes its check DOWN ("not
// configured").
type Targets struct {
	Kafka   KafkaMetadata
	Objects NewestFinder
}

// Check runs the four checks concurrently, each bounded by health.timeoutSeconds, and
// returns the report with the overall verdict.
func (c *Checker) Check(ctx context.Context, t *config.Tenant, targets Targets) Report {
	timeout := time.Duration(max(1, t.Health.TimeoutSeconds)) * time.Second
	checks := []struct {
		component string
		run       func(context.Context) Check
	}{
		{Vector, func(ctx context.Context) Check { return c.vector(ctx, t) }},
		{Kafka, func(ctx context.Context) Check { return c.kafka(ctx, t, targets.Kafka) }},
		{Spark, func(ctx context.Context) Check { return c.spark(ctx, t) }},
		{S3, func(ctx context.Context) Check { return c.s3(ctx, t, targets.Objects) }},
	}
	out := make([]ComponentCheck, len(checks))
	var wg sync.WaitGroup
	for i, chk := range checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			done := make(chan Check, 1)
			go func() { done <- chk.run(cctx) }()
			select {
			case res := <-done:
				out[i] = ComponentCheck{Component: chk.component, Check: res}
			case <-cctx.Done():
				// A probe that ignores its context must not hold the report.
				out[i] = ComponentCheck{Component: chk.component, Check: down(
					fmt.Sprintf("%s health check timed out after %s", title(chk.component), timeout), nil)}
			}
		})
	}
	wg.Wait()
	r := Report{Tenant: t.Name, Checks: out}
	r.Status, r.Message = Overall(out)
	return r
}

func title(component string) string {
	switch component {
	case S3:
		return "S3"
	}
	return strings.ToUpper(component[:1]) + component[1:]
}

// vector asks Vector's API GET /health: 200 {"ok":true} is UP; 503 means Vector is draining
// or shutting down.
func (c *Checker) vector(ctx context.Context, t *config.Tenant) Check {
	if t.Vector.Host == "" || t.Vector.APIPort == 0 {
		return down("Vector is not configured (vector.host and vector.apiPort)", nil)
	}
	url := "http://" + net.JoinHostPort(t.Vector.Host, strconv.Itoa(t.Vector.APIPort)) + "/health"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return down("Vector health check failed: "+err.Error(), nil)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return down("Vector health check timed out: "+url, map[string]any{"url": url})
		}
		return down("Vector is unreachable at "+url+": "+err.Error(), map[string]any{"url": url})
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	details := map[string]any{"responseCode": resp.StatusCode}
	switch {
	case resp.StatusCode == http.StatusServiceUnavailable:
		return down("Vector is draining or shutting down (GET /health answered 503): it accepts no new logs", details)
	case resp.StatusCode != http.StatusOK:
		return down(fmt.Sprintf("Vector health check returned %d", resp.StatusCode), details)
	}
	var h struct {
		OK *bool `json:"ok"`
	}
	if json.Unmarshal(body, &h) == nil && h.OK != nil && !*h.OK {
		return down(`Vector reports {"ok":false}`, details)
	}
	return up("Vector is healthy", details)
}

// kafka reads the cluster metadata: the brokers must answer and the topics matching
// spark.subscribePattern must exist with a leader for every partition.
func (c *Checker) kafka(ctx context.Context, t *config.Tenant, probe KafkaMetadata) Check {
	hosts := t.Kafka.KafkaBrokersHost
	if probe == nil {
		return down("Kafka client is not configured for brokers "+hosts, nil)
	}
	pattern := t.Spark.SubscribePattern
	// Spark subscribes with Java's Pattern.matches: the whole topic name must match.
	re, err := SubscribeMatcher(pattern)
	if err != nil {
		return down(fmt.Sprintf("spark.subscribePattern %q is not a valid pattern: %v", pattern, err), nil)
	}
	st, err := probe.Metadata(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return down("Kafka brokers "+hosts+" did not answer metadata in time", map[string]any{"brokers": hosts})
		}
		return down("Kafka brokers "+hosts+" are unreachable: "+err.Error(), map[string]any{"brokers": hosts})
	}
	if len(st.Brokers) == 0 {
		return down("Kafka answered metadata with no brokers", map[string]any{"brokers": hosts})
	}
	var matched []string
	offline, under, partitions := 0, 0, 0
	for name, th := range st.Topics {
		if !re.MatchString(name) {
			continue
		}
		matched = append(matched, name)
		partitions += th.Partitions
		offline += th.Offline
		under += th.UnderReplicated
	}
	sort.Strings(matched)
	details := map[string]any{"brokers": len(st.Brokers), "pattern": pattern, "topics": len(matched), "partitions": partitions}
	switch {
	case len(matched) == 0:
		return down(fmt.Sprintf("Kafka has no topic matching %s: Vector has written nothing Spark subscribes to", pattern), details)
	case offline > 0:
		details["offlinePartitions"] = offline
		return down(fmt.Sprintf("Kafka: %d partitions of topics matching %s have no leader", offline, pattern), details)
	case under > 0:
		details["underReplicatedPartitions"] = under
		return warning(fmt.Sprintf("Kafka: %d partitions of topics matching %s are under-replicated", under, pattern), details)
	}
	return up(fmt.Sprintf("Kafka brokers answer and %d topics match %s", len(matched), pattern), details)
}

// spark asks whether the master is ALIVE and the job's driver alive.
func (c *Checker) spark(ctx context.Context, t *config.Tenant) Check {
	if c.Spark == nil {
		return down("Spark state is not configured", nil)
	}
	alive, detail, err := c.Spark.DriverAlive(ctx, t.Name)
	switch {
	case err != nil && ctx.Err() != nil:
		return down("Spark master did not answer in time", nil)
	case err != nil:
		return down("Spark health check failed: "+err.Error(), nil)
	case !alive:
		return down("No live Spark driver for the streaming job: "+detail, nil)
	}
	return up("Spark driver is running: "+detail, nil)
}

// s3 checks that each canary service has a minute partition newer than
// health.s3FreshnessMinutes, with at most ceil(minutes/60)+1 LISTs per canary.
func (c *Checker) s3(ctx context.Context, t *config.Tenant, objects NewestFinder) Check {
	if objects == nil {
		return down("S3 is not configured for this tenant", nil)
	}
	limit := time.Duration(t.Health.S3FreshnessMinutes) * time.Minute
	lookback := (t.Health.S3FreshnessMinutes + 59) / 60
	now := c.Now().UTC()
	canaries := t.DelayMetrics.App.Canaries()
	var fresh, stale []string
	newestOf := map[string]any{}
	for _, svc := range canaries {
		newest, found, err := objects.NewestMinute(ctx, svc, now, lookback)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
				return down("S3 logs check timed out", nil)
			}
			return down("S3 logs check failed: "+err.Error(), nil)
		}
		if found {
			newestOf[svc] = newest.Format(time.RFC3339)
		}
		// A partition is the start of its minute: it is fresh while the minute it covers
		// ended less than the limit ago.
		if found && now.Sub(newest) <= limit {
			fresh = append(fresh, svc)
		} else {
			stale = append(stale, svc)
		}
	}
	details := map[string]any{"freshnessMinutes": t.Health.S3FreshnessMinutes, "canaries": canaries, "newestPartitions": newestOf}
	switch {
	case len(canaries) == 0:
		return warning("No canary service is configured (delayMetrics.app)", details)
	case len(fresh) == 0:
		return down(fmt.Sprintf("No new logs in S3 for %s in the last %d minutes: Spark is not writing, or nothing reaches it",
			strings.Join(stale, ", "), t.Health.S3FreshnessMinutes), details)
	case len(stale) > 0:
		return warning(fmt.Sprintf("No new logs in S3 for %s in the last %d minutes (others are fresh): those services may be quiet",
			strings.Join(stale, ", "), t.Health.S3FreshnessMinutes), details)
	}
	return up("Recent logs found in S3 for every canary", details)
}

// SubscribeMatcher compiles a subscribe pattern (spark.subscribePattern) for a full match, as Java's String.matches.
func SubscribeMatcher(pattern string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(`^(?:` + pattern + `)$`)
	if err != nil {
		return nil, fault.Wrap(fault.Invalid, err, "subscribe pattern %q", pattern)
	}
	return re, nil
}
