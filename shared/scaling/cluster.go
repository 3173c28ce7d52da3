package scaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/logwise/controlplane/shared/fault"
)

// Worker is a Spark standalone worker as the master's /json lists it.
type Worker struct {
	ID    string `json:"id"`
	Host  string `json:"host"`
	State string `json:"state"` // ALIVE, DEAD, DECOMMISSIONED, UNKNOWN
}

// Driver is an active driver as the master's /json lists it.
type Driver struct {
	ID     string `json:"id"`
	State  string `json:"state"`
	Worker string `json:"worker"` // a worker id, or "None" while unassigned
}

// Cluster is the master's view of the cluster, read fresh for every decision.
type Cluster struct {
	Workers []Worker `json:"workers"`
	Drivers []Driver `json:"activedrivers"`
}

// Alive counts the ALIVE workers.
func (c Cluster) Alive() int {
	n := 0
	for _, w := range c.Workers {
		if w.State == "ALIVE" {
			n++
		}
	}
	return n
}

// DriverRunning reports whether an active driver is running (or being started or relaunched
// under supervision): the job whose reports drive the decision exists.
func (c Cluster) DriverRunning() bool {
	for _, d := range c.Drivers {
		switch d.State {
		case "RUNNING", "SUBMITTED", "RELAUNCHING":
			return true
		}
	}
	return false
}

// DriverWorkers returns the ids of the workers hosting an active driver.
func (c Cluster) DriverWorkers() map[string]bool {
	out := map[string]bool{}
	for _, d := range c.Drivers {
		if d.Worker != "" && d.Worker != "None" {
			out[d.Worker] = true
		}
	}
	return out
}

// RemovableHosts returns the hosts of ALIVE workers that host no driver, in the master's order.
func (c Cluster) RemovableHosts() []string {
	drivers := c.DriverWorkers()
	var out []string
	for _, w := range c.Workers {
		if w.State == "ALIVE" && !drivers[w.ID] {
			out = append(out, w.Host)
		}
	}
	return out
}

// MasterJSON reads the cluster from a Spark master's web UI /json (text/json, not
// application/json). It stands in until shared/spark's client is wired.
type MasterJSON struct {
	URL  string // http://master:8080
	HTTP *http.Client
}

// Cluster fetches /json now; nothing is cached.
func (m MasterJSON) Cluster(ctx context.Context) (Cluster, error) {
	u := strings.TrimRight(m.URL, "/") + "/json"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Cluster{}, fmt.Errorf("read Spark master %s: %w", u, err)
	}
	c := m.HTTP
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return Cluster{}, fault.Wrap(fault.Timeout, err, "read Spark master %s", u)
		}
		return Cluster{}, fault.Wrap(fault.Unavailable, err, "read Spark master %s", u)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Cluster{}, fault.New(fault.Upstream, "read Spark master %s: HTTP %d", u, resp.StatusCode)
	}
	var cl Cluster
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&cl); err != nil {
		return Cluster{}, fault.Wrap(fault.Upstream, err, "read Spark master %s: unreadable /json", u)
	}
	return cl, nil
}

// Applied is what an actuator did with a decision.
type Applied struct {
	// Target is the size the cluster is now asked to have.
	Target int `json:"target"`
	// Removed lists the instances terminated (ASG downscale).
	Removed []string `json:"removed,omitempty"`
	// Note explains a partial or skipped application.
	Note string `json:"note,omitempty"`
}
