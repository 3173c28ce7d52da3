package supervisor

import (
	"context"
	"time"

	"github.com/logwise/controlplane/shared/config"
	"github.com/logwise/controlplane/shared/spark"
	"github.com/logwise/controlplane/shared/store"
)

// Submission is one recorded submission attempt.
type Submission struct {
	ID           int64     `json:"id"`
	Tenant       string    `json:"tenant"`
	SubmittedAt  time.Time `json:"submittedAt"`
	SubmissionID string    `json:"submissionId,omitempty"`
	Reason       string    `json:"reason"`
	Trigger      string    `json:"trigger"`
	RequestBody  string    `json:"requestBody"` // redacted
	Outcome      string    `json:"outcome"`
	Message      string    `json:"message,omitempty"`
	Master       string    `json:"master,omitempty"`
}

// budget reads the tenant's supervision state and its counted submissions inside the window
// (and after the last resume).
func (s *Supervisor) budget(ctx context.Context, tenant string, p config.CrashLoop, now time.Time) (Budget, error) {
	sup, err := s.d.Store.SparkSupervision(ctx, tenant)
	if err != nil {
		return Budget{}, err
	}
	from := now.Add(-time.Duration(p.WindowMinutes) * time.Minute)
	if sup.Resumed.After(from) {
		from = sup.Resumed
	}
	recent, err := s.d.Store.CountedSubmissions(ctx, tenant, from)
	if err != nil {
		return Budget{}, err
	}
	return Budget{State: sup.State, Policy: p, Version: sup.Version, RecentSubmissions: recent}, nil
}

// recordAttempt writes a PENDING submission row under the fence: a monitor whose lease was
// taken over gets store.ErrStaleToken and sends nothing.
func (s *Supervisor) recordAttempt(ctx context.Context, lease store.Lease, tenant string, at time.Time, reason, trigger string, req *spark.CreateRequest) (int64, error) {
	return s.d.Store.RecordSubmissionAttempt(ctx, lease, store.SparkSubmission{Tenant: tenant, SubmittedAt: at, Reason: reason,
		Trigger: trigger, RequestBody: string(req.RedactedJSON())})
}

// Submissions lists the tenant's recorded submissions, newest first (at most limit).
func (s *Supervisor) Submissions(ctx context.Context, tenant string, limit int) ([]Submission, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	rows, err := s.d.Store.SparkSubmissions(ctx, tenant, limit)
	if err != nil {
		return nil, err
	}
	out := make([]Submission, 0, len(rows))
	for _, r := range rows {
		out = append(out, Submission(r))
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
