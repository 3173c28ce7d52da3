// Package discovery keeps each tenant's service_details in step with the services whose logs
// land in S3: it onboards new services with the tenant's retention and removes a service only
// after it has been absent from two consecutive successful listings and for a configured time
// (discovery.removeAfterAbsentMinutes), never more than a configured share of all services at
// once.
package discovery

import (
	"slices"
	"time"

	"github.com/logwise/controlplane/shared/logstore"
	"github.com/logwise/controlplane/shared/store"
)

// RemoveAfterMissed is how many consecutive successful listings must lack a service before it
// is removed.
const RemoveAfterMissed = 2

// Plan is what one listing changes. It is decided by Decide, without I/O.
type Plan struct {
	Listed   int      // valid services in the listing
	Known    int      // services in service_details before the sync
	Empty    bool     // the listing had no valid service: nothing changes
	Onboard  []string // listed, not known
	Returned []string // known, previously missed, listed again
	Missed   []string // known, not listed, not (yet) removed: their count grows
	// Waiting are services missed often enough but absent for less than Policy.MinAbsent:
	// nothing is written, so they become due (and a block is new) on the first listing after.
	Waiting []string
	Remove  []string // missed RemoveAfterMissed times and allowed by the guard
	// Blocked are services due for removal that the guard kept, because removing them all
	// would exceed MaxRemovalPercent of Known. They are counted as missed again.
	Blocked []string
	// NewlyBlocked is true when a blocked service has just become due (so the block is
	// recorded once, not every minute while it lasts).
	NewlyBlocked bool
	Invalid      []InvalidName // listed names that cannot be services
}

// InvalidName is a listed name that was skipped, and why.
type InvalidName struct {
	Name   string
	Reason string
}

// Policy is a tenant's removal rule.
type Policy struct {
	MaxRemovalPercent int           // the share of known services one sync may remove
	MinAbsent         time.Duration // how long a service must have been absent to be removed
}

// Decide compares a successful listing, made at now, with the known services. An empty
// listing (or one with no valid name) changes nothing: it is far likelier to be a wrong prefix
// or a permissions problem than the end of every service. A service is due for removal when
// RemoveAfterMissed listings lacked it and it has been absent for pol.MinAbsent, so that two
// listings seconds apart cannot remove it. Removals are allowed when they number at most
// MaxRemovalPercent of the known services (at least one when the percentage is positive, so
// a small tenant can still lose a service); otherwise none is removed and all are Blocked.
func Decide(known []store.Service, listed []string, pol Policy, now time.Time) Plan {
	p := Plan{Known: len(known)}
	present := make(map[string]bool, len(listed))
	for _, name := range listed {
		if err := logstore.CheckServiceName(name); err != nil {
			p.Invalid = append(p.Invalid, InvalidName{Name: name, Reason: err.Error()})
			continue
		}
		present[name] = true
	}
	p.Listed = len(present)
	if p.Listed == 0 {
		p.Empty = true
		return p
	}
	knownNames := make(map[string]bool, len(known))
	var due []string
	newlyDue := false
	for _, s := range known {
		knownNames[s.Name] = true
		switch {
		case present[s.Name] && s.MissedListings > 0:
			p.Returned = append(p.Returned, s.Name)
		case present[s.Name]:
		case s.MissedListings+1 < RemoveAfterMissed || s.AbsentSince == nil:
			// A row missed before absentSince was kept gets it now (the write keeps the first).
			p.Missed = append(p.Missed, s.Name)
		case now.Sub(*s.AbsentSince) < pol.MinAbsent:
			p.Waiting = append(p.Waiting, s.Name)
		default:
			due = append(due, s.Name)
			newlyDue = newlyDue || s.MissedListings+1 == RemoveAfterMissed
		}
	}
	for name := range present {
		if !knownNames[name] {
			p.Onboard = append(p.Onboard, name)
		}
	}
	if len(due) > 0 {
		if len(due) <= removalBudget(len(known), pol.MaxRemovalPercent) {
			p.Remove = due
		} else {
			p.Blocked = due
			p.Missed = append(p.Missed, due...)
			p.NewlyBlocked = newlyDue
		}
	}
	for _, l := range [][]string{p.Onboard, p.Returned, p.Missed, p.Waiting, p.Remove, p.Blocked} {
		slices.Sort(l)
	}
	return p
}

// removalBudget is how many of total services one sync may remove.
func removalBudget(total, percent int) int {
	if percent <= 0 {
		return 0
	}
	return max(1, total*percent/100)
}

// Changes turns the plan into the store writes.
func (p Plan) Changes() store.ServiceChanges {
	return store.ServiceChanges{Onboard: p.Onboard, Returned: p.Returned, Missed: p.Missed, Remove: p.Remove}
}
