package executions

// Execution is the JSON body of an Orca execution row (the stages live in their own rows).
// Only the fields Orca's UI and API rely on, plus the control plane's own context.
type Execution struct {
	ID                   string         `json:"id"`
	Type                 Type           `json:"type"`
	Application          string         `json:"application"`
	Name                 string         `json:"name,omitempty"`
	Description          string         `json:"description,omitempty"`
	Status               Status         `json:"status"`
	Canceled             bool           `json:"canceled"`
	CanceledBy           string         `json:"canceledBy,omitempty"`
	CancellationReason   string         `json:"cancellationReason,omitempty"`
	BuildTime            int64          `json:"buildTime"`
	StartTime            int64          `json:"startTime,omitempty"`
	EndTime              int64          `json:"endTime,omitempty"`
	Partition            string         `json:"partition,omitempty"`
	Origin               string         `json:"origin"`
	Trigger              map[string]any `json:"trigger"`
	Context              map[string]any `json:"context,omitempty"`
	Paused               *PausedDetails `json:"paused,omitempty"`
	Authentication       map[string]any `json:"authentication,omitempty"`
	KeepWaitingPipelines bool           `json:"keepWaitingPipelines"`
	LimitConcurrent      bool           `json:"limitConcurrent"`
	Stages               []Stage        `json:"stages,omitempty"` // filled on read; never stored in the body
}

// PausedDetails records a pause (Orca's PausedDetails).
type PausedDetails struct {
	PausedBy   string `json:"pausedBy,omitempty"`
	ResumedBy  string `json:"resumedBy,omitempty"`
	PauseTime  int64  `json:"pauseTime,omitempty"`
	ResumeTime int64  `json:"resumeTime,omitempty"`
}

// Stage is the JSON body of a stage row.
type Stage struct {
	ID                   string         `json:"id"`
	RefID                string         `json:"refId"`
	Type                 string         `json:"type"`
	Name                 string         `json:"name"`
	ExecutionID          string         `json:"executionId,omitempty"`
	Status               Status         `json:"status"`
	StartTime            int64          `json:"startTime,omitempty"`
	EndTime              int64          `json:"endTime,omitempty"`
	Context              map[string]any `json:"context"`
	Outputs              map[string]any `json:"outputs"`
	RequisiteStageRefIDs []string       `json:"requisiteStageRefIds"`
	LastModified         map[string]any `json:"lastModified,omitempty"`
}
