// Package freshness measures the log sync delay: how long ago the newest minute partition of a
// tenant's canary services was written, from the full UTC date and time of the partition, so
// the value is right across midnight, month and year ends. Each measurement says whether it is
// OK, STALE or NO_DATA instead of hiding "nothing found" behind a 180-minute sentinel.
package freshness

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/metrics"
)

// Status is the verdict on one delay.
type Status string

// The statuses, from best to worst.
const (
	OK     Status = "OK"      // the newest partition is at most StaleAfterMinutes old
	Stale  Status = "STALE"   // older than StaleAfterMinutes
	NoData Status = "NO_DATA" // no partition within the lookback window
)

func (s Status) rank() int {
	switch s {
	case OK:
		return 0
	case Stale:
		return 1
	}
	return 2
}

// Policy is what a delay is judged against (config delayMetrics).
type Policy struct {
	LookbackHours     int
	StaleAfterMinutes int
}

// PolicyOf returns the tenant's delay policy.
func PolicyOf(t *config.Tenant) Policy {
	return Policy{LookbackHours: t.DelayMetrics.MaxLookbackHours, StaleAfterMinutes: t.DelayMetrics.StaleAfterMinutes}
}

// ServiceDelay is the delay of one canary service.
type ServiceDelay struct {
	Service string `json:"service"`
	// DelayMinutes is now minus the start of the newest minute partition, at least 1 (the
	// partition holds up to a minute of events); null with NO_DATA.
	DelayMinutes    *int       `json:"delayMinutes"`
	NewestPartition *time.Time `json:"newestPartition"`
	Status          Status     `json:"status"`
}

// Report is a tenant's log sync delay. Tenant and AppLogsDelayMinutes keep the Logwise shape;
// AppLogsDelayMinutes is the worst service's delay, or LookbackHours×60 when the worst has no
// data (Logwise's 180), which Status then names as NO_DATA.
type Report struct {
	Tenant              string         `json:"tenant"`
	AppLogsDelayMinutes int            `json:"appLogsDelayMinutes"`
	Status              Status         `json:"status"`
	StaleAfterMinutes   int            `json:"staleAfterMinutes"`
	LookbackHours       int            `json:"lookbackHours"`
	MeasuredAt          time.Time      `json:"measuredAt"`
	Services            []ServiceDelay `json:"services"`
}

// Judge turns the newest partition of a service into its delay and status.
func Judge(svc string, now, newest time.Time, found bool, p Policy) ServiceDelay {
	if !found {
		return ServiceDelay{Service: svc, Status: NoData}
	}
	d := max(1, int(now.Sub(newest)/time.Minute))
	st := OK
	if d > p.StaleAfterMinutes {
		st = Stale
	}
	n := newest.UTC()
	return ServiceDelay{Service: svc, DelayMinutes: &d, NewestPartition: &n, Status: st}
}

// Summarize builds the tenant report: the worst status and the worst delay.
func Summarize(tenant string, now time.Time, p Policy, services []ServiceDelay) Report {
	r := Report{Tenant: tenant, Status: OK, StaleAfterMinutes: p.StaleAfterMinutes, LookbackHours: p.LookbackHours,
		MeasuredAt: now.UTC(), Services: services}
	if len(services) == 0 {
		r.Status = NoData
	}
	for _, s := range services {
		d := p.LookbackHours * 60
		if s.DelayMinutes != nil {
			d = *s.DelayMinutes
		}
		r.AppLogsDelayMinutes = max(r.AppLogsDelayMinutes, d)
		if s.Status.rank() > r.Status.rank() {
			r.Status = s.Status
		}
	}
	if r.Status == NoData {
		r.AppLogsDelayMinutes = max(r.AppLogsDelayMinutes, p.LookbackHours*60)
	}
	return r
}

// NewestFinder finds the newest minute partition of a service (*logstore.Store).
type NewestFinder interface {
	NewestMinute(ctx context.Context, svc string, now time.Time, lookbackHours int) (time.Time, bool, error)
}

// Meter measures and publishes tenants' delays.
type Meter struct {
	Metrics *metrics.Writer // nil discards
	Now     func() time.Time
}

// NewMeter returns a Meter publishing to m.
func NewMeter(m *metrics.Writer) *Meter { return &Meter{Metrics: m, Now: time.Now} }

// Measure finds the newest partition of each canary service of t (concurrently; at most
// LookbackHours+1 LISTs each) and summarizes. Any listing failure fails the measurement: a
// delay computed from part of the canaries would look better than it is.
func (m *Meter) Measure(ctx context.Context, t *config.Tenant, objects NewestFinder) (Report, error) {
	now := m.Now().UTC()
	p := PolicyOf(t)
	canaries := t.DelayMetrics.App.Canaries()
	out := make([]ServiceDelay, len(canaries))
	errs := make([]error, len(canaries))
	var wg sync.WaitGroup
	for i, svc := range canaries {
		wg.Go(func() {
			newest, found, err := objects.NewestMinute(ctx, svc, now, p.LookbackHours)
			if err != nil {
				errs[i] = fmt.Errorf("canary %s: %w", svc, err)
				return
			}
			out[i] = Judge(svc, now, newest, found, p)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return Report{}, fmt.Errorf("measure log sync delay of tenant %s: %w", t.Name, err)
	}
	return Summarize(t.Name, now, p, out), nil
}

// Publish measures t and writes the result as EMF metrics: per canary (dimensions tenant and
// service) AppLogsDelayMinutes, LogSyncStale and LogSyncNoData; per tenant (dimension tenant)
// the worst AppLogsDelayMinutes. A failed measurement publishes LogSyncMeasureFailed = 1, so an
// alarm on missing data is not the only signal.
func (m *Meter) Publish(ctx context.Context, t *config.Tenant, objects NewestFinder) (Report, error) {
	r, err := m.Measure(ctx, t, objects)
	if err != nil {
		_ = m.Metrics.Emit(map[string]string{"tenant": t.Name}, metrics.Metric{Name: "LogSyncMeasureFailed", Value: 1, Unit: metrics.Count})
		return r, err
	}
	var errs []error
	for _, s := range r.Services {
		d := float64(r.LookbackHours * 60)
		if s.DelayMinutes != nil {
			d = float64(*s.DelayMinutes)
		}
		errs = append(errs, m.Metrics.Emit(map[string]string{"tenant": t.Name, "service": s.Service},
			metrics.Metric{Name: "AppLogsDelayMinutes", Value: d, Unit: metrics.Minutes},
			metrics.Metric{Name: "LogSyncStale", Value: flag(s.Status == Stale), Unit: metrics.Count},
			metrics.Metric{Name: "LogSyncNoData", Value: flag(s.Status == NoData), Unit: metrics.Count},
		))
	}
	errs = append(errs, m.Metrics.Emit(map[string]string{"tenant": t.Name},
		metrics.Metric{Name: "AppLogsDelayMinutes", Value: float64(r.AppLogsDelayMinutes), Unit: metrics.Minutes},
		metrics.Metric{Name: "LogSyncMeasureFailed", Value: 0, Unit: metrics.Count},
	))
	if err := errors.Join(errs...); err != nil {
		return r, fmt.Errorf("publish log sync delay of tenant %s: %w", t.Name, err)
	}
	return r, nil
}

func flag(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
