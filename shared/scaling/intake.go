package scaling

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/logwise/controlplane/shared/fault"
	"github.com/logwise/controlplane/shared/store"
)

// IntakeRequest is the body the Spark job's stage listener posts to /scale-spark-cluster.
// Field names match case-insensitively and unknown fields are ignored, as in Logwise.
type IntakeRequest struct {
	// EnableUpScale and EnableDownScale default to true when absent or null.
	EnableUpScale     *bool        `json:"enableUpScale"`
	EnableDownScale   *bool        `json:"enableDownScale"`
	SparkStageHistory *StageReport `json:"sparkStageHistory"`
}

// StageReport is the stage-history part of an intake request.
type StageReport struct {
	OutputBytes    *int64 `json:"outputBytes"`
	InputRecords   *int64 `json:"inputRecords"`
	SubmissionTime *int64 `json:"submissionTime"`
	CompletionTime *int64 `json:"completionTime"`
	// CoresUsed is null when the Spark job could not read it from the master.
	CoresUsed *int64 `json:"coresUsed"`
	Status    string `json:"status"`
	// Tenant is ignored: the header's tenant is used.
	Tenant string `json:"tenant"`
}

// ParseIntake decodes and validates an intake body; a bad body is fault.Invalid with a
// message naming the field.
func ParseIntake(body []byte) (IntakeRequest, error) {
	var r IntakeRequest
	if len(bytes.TrimSpace(body)) == 0 {
		return r, fault.New(fault.Invalid, "the body is empty; sparkStageHistory is required")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&r); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return r, fault.New(fault.Invalid, "%s must be %s, got a JSON %s", te.Field, jsonKind(te.Type.String()), te.Value)
		}
		return r, fault.Wrap(fault.Invalid, err, "the body is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return r, fault.New(fault.Invalid, "the body has data after its JSON object")
	}
	return r, r.Validate()
}

func jsonKind(goType string) string {
	switch {
	case strings.Contains(goType, "int"):
		return "a whole number"
	case strings.Contains(goType, "bool"):
		return "true or false"
	case strings.Contains(goType, "string"):
		return "a string"
	}
	return "an object"
}

// MaxInputRecords bounds every count of a stage-history report (records, bytes): far beyond
// any real micro-batch (a million records a second for thirty years), and small enough that
// the decision's arithmetic on it cannot wrap.
const MaxInputRecords = 1_000_000_000_000_000

// Validate checks the request: the history is required, its counts and times are present
// and non-negative, and coresUsed may be missing.
func (r IntakeRequest) Validate() error {
	h := r.SparkStageHistory
	if h == nil {
		return fault.New(fault.Invalid, "sparkStageHistory is required")
	}
	for _, f := range []struct {
		name string
		v    *int64
	}{{"inputRecords", h.InputRecords}, {"outputBytes", h.OutputBytes}, {"submissionTime", h.SubmissionTime}, {"completionTime", h.CompletionTime}} {
		if f.v == nil {
			return fault.New(fault.Invalid, "sparkStageHistory.%s is required", f.name)
		}
		if *f.v < 0 {
			return fault.New(fault.Invalid, "sparkStageHistory.%s must not be negative, got %d", f.name, *f.v)
		}
		if f.name != "submissionTime" && f.name != "completionTime" && *f.v > MaxInputRecords {
			return fault.New(fault.Invalid, "sparkStageHistory.%s must be at most %d, got %d", f.name, int64(MaxInputRecords), *f.v)
		}
	}
	if h.CoresUsed != nil && (*h.CoresUsed < 0 || *h.CoresUsed > 1<<31-1) {
		return fault.New(fault.Invalid, "sparkStageHistory.coresUsed must be between 0 and 2147483647, got %d", *h.CoresUsed)
	}
	if *h.CompletionTime < *h.SubmissionTime {
		return fault.New(fault.Invalid, "sparkStageHistory.completionTime (%d) is before submissionTime (%d)", *h.CompletionTime, *h.SubmissionTime)
	}
	if len(h.Status) > 30 {
		return fault.New(fault.Invalid, "sparkStageHistory.status is longer than 30 characters")
	}
	return nil
}

// flags returns the request's direction flags (absent or null: true).
func (r IntakeRequest) flags() (up, down bool) {
	return r.EnableUpScale == nil || *r.EnableUpScale, r.EnableDownScale == nil || *r.EnableDownScale
}

// history is the row to store.
func (r IntakeRequest) history(tenant string) store.StageHistory {
	h := r.SparkStageHistory
	row := store.StageHistory{Tenant: tenant, OutputBytes: *h.OutputBytes, InputRecords: *h.InputRecords,
		SubmissionTime: *h.SubmissionTime, CompletionTime: *h.CompletionTime, Status: h.Status,
		EnableUpScale: r.EnableUpScale, EnableDownScale: r.EnableDownScale}
	if row.Status == "" {
		row.Status = "succeeded"
	}
	if h.CoresUsed != nil {
		c := int(*h.CoresUsed)
		row.CoresUsed = &c
	}
	return row
}

// String describes a request without its numbers' noise, for logs.
func (r IntakeRequest) String() string {
	up, down := r.flags()
	if r.SparkStageHistory == nil || r.SparkStageHistory.InputRecords == nil {
		return fmt.Sprintf("intake(up=%v down=%v, no history)", up, down)
	}
	return fmt.Sprintf("intake(up=%v down=%v inputRecords=%d)", up, down, *r.SparkStageHistory.InputRecords)
}
