package supervisor

import (
	"testing"
	"time"

	"github.com/logwise/controlplane/shared/config"
)

func TestTickSchedule(t *testing.T) {
	tenant := func(poll, dur int) config.Tenant {
		var tn config.Tenant
		tn.Spark.Monitor.PollIntervalSeconds, tn.Spark.Monitor.DurationSeconds = poll, dur
		return tn
	}
	s := time.Second
	for _, c := range []struct {
		name           string
		tenants        []config.Tenant
		interval, span time.Duration
	}{
		{"no tenants: the defaults", nil, 15 * s, 60 * s},
		{"unset values: the defaults", []config.Tenant{tenant(0, 0)}, 15 * s, 60 * s},
		{"one tenant", []config.Tenant{tenant(20, 40)}, 20 * s, 40 * s},
		{"shortest interval, longest span", []config.Tenant{tenant(20, 40), tenant(10, 30), tenant(30, 60)}, 10 * s, 60 * s},
	} {
		t.Run(c.name, func(t *testing.T) {
			i, sp := TickSchedule(c.tenants)
			if i != c.interval || sp != c.span {
				t.Fatalf("got %v, %v; want %v, %v", i, sp, c.interval, c.span)
			}
		})
	}
}
