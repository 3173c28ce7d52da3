package peering

import (
	"strings"

	"github.com/logwise/controlplane/shared/executions"
)

// executionTypes are the execution types (executions.Type), in the order a pass copies them.
var executionTypes = []executions.Type{executions.Pipeline, executions.Orchestration}

// table describes one execution type's tables with an explicit column list (Orca's schema after
// its whole changelog), so a schema difference at a peer fails with a clear error instead of
// silently copying whatever SELECT * returns.
type table struct {
	typ             executions.Type
	executions      string
	stages          string
	execColumns     []string // partitionCol is among them
	stageColumns    []string
	partitionColumn int // index of `partition` in execColumns
	updatedColumn   int // index of updated_at in execColumns
}

// The indexes of a stage row's execution_id and updated_at in stageColumns.
const (
	stageParentColumn  = 2
	stageUpdatedColumn = 4
)

var pipelineColumns = []string{"id", "legacy_id", "`partition`", "config_id", "application", "status",
	"build_time", "start_time", "updated_at", "canceled", "body"}
var orchestrationColumns = []string{"id", "legacy_id", "`partition`", "status", "application",
	"build_time", "start_time", "updated_at", "canceled", "body"}
var stageColumns = []string{"id", "legacy_id", "execution_id", "status", "updated_at", "body"}

var tables = map[executions.Type]table{
	executions.Pipeline: {typ: executions.Pipeline, executions: "pipelines", stages: "pipeline_stages",
		execColumns: pipelineColumns, stageColumns: stageColumns, partitionColumn: 2, updatedColumn: 8},
	executions.Orchestration: {typ: executions.Orchestration, executions: "orchestrations", stages: "orchestration_stages",
		execColumns: orchestrationColumns, stageColumns: stageColumns, partitionColumn: 2, updatedColumn: 7},
}

// compressed returns the name of the compressed-body table of a main table (Orca 20201214).
func compressed(t string) string { return t + "_compressed_executions" }

var compressedColumns = []string{"id", "compressed_body", "compression_type"}

// The status sets of Orca's ExecutionStatus. Queries use IN (...) lists, never NOT IN, so the
// status indexes are used (Orca PR #3523).
const (
	completedStatuses = "'CANCELED','SUCCEEDED','STOPPED','SKIPPED','TERMINAL','FAILED_CONTINUE'"
	activeStatuses    = "'NOT_STARTED','RUNNING','PAUSED','SUSPENDED','REDIRECT','BUFFERED'"
)

func cols(c []string) string { return strings.Join(c, ", ") }

// placeholders returns "?, ?, ?" for n values.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

func anyStrings(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// chunks splits ids into lists of at most n, keeping the order.
func chunks[T any](ids []T, n int) [][]T {
	var out [][]T
	for len(ids) > n {
		out = append(out, ids[:n:n])
		ids = ids[n:]
	}
	if len(ids) > 0 {
		out = append(out, ids)
	}
	return out
}
