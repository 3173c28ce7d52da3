package scaling

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/logwise/controlplane/shared/fault"
)

// FuzzParseIntake feeds arbitrary bodies to the scale intake. Invariants: no panic; a
// rejected body is fault.Invalid; an accepted body holds a history with every required
// count present, non-negative and ordered, passes Validate again, and yields a storable row
// that re-encodes and parses to the same values.
func FuzzParseIntake(f *testing.F) {
	for _, s := range []string{
		`{"sparkStageHistory":{"outputBytes":10,"inputRecords":5,"submissionTime":1,"completionTime":2,"coresUsed":4,"status":"succeeded"}}`,
		`{"enableUpScale":false,"enableDownScale":null,"sparkStageHistory":{"outputBytes":0,"inputRecords":0,"submissionTime":0,"completionTime":0}}`,
		`{"SPARKSTAGEHISTORY":{"OUTPUTBYTES":1,"INPUTRECORDS":1,"SUBMISSIONTIME":1,"COMPLETIONTIME":1,"coresUsed":null}}`,
		`{"sparkStageHistory":{"outputBytes":-1,"inputRecords":5,"submissionTime":1,"completionTime":2}}`,
		`{"sparkStageHistory":{"outputBytes":1,"inputRecords":5,"submissionTime":3,"completionTime":2}}`,
		`{"sparkStageHistory":{"outputBytes":"1","inputRecords":5,"submissionTime":1,"completionTime":2}}`,
		`{"sparkStageHistory":{"outputBytes":1e3,"inputRecords":5,"submissionTime":1,"completionTime":2}}`,
		`{"sparkStageHistory":{"outputBytes":1,"inputRecords":5,"submissionTime":1,"completionTime":2,"coresUsed":9999999999}}`,
		`{"sparkStageHistory":null}`,
		`{} {}`,
		`[]`,
		``,
		`null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := ParseIntake(body)
		if err != nil {
			if !fault.Is(err, fault.Invalid) {
				t.Fatalf("ParseIntake(%q) = %v: kind %v, want Invalid", body, err, fault.KindOf(err))
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("ParseIntake(%q) accepted a request Validate rejects: %v", body, err)
		}
		h := r.SparkStageHistory
		if h == nil || h.InputRecords == nil || h.OutputBytes == nil || h.SubmissionTime == nil || h.CompletionTime == nil ||
			*h.InputRecords < 0 || *h.OutputBytes < 0 || *h.CompletionTime < *h.SubmissionTime {
			t.Fatalf("ParseIntake(%q) accepted a nonsense history %+v", body, h)
		}
		row := r.history("T")
		if row.Status == "" || row.Tenant != "T" {
			t.Fatalf("history row %+v lacks its status or tenant", row)
		}
		again, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := ParseIntake(again)
		if err != nil || !reflect.DeepEqual(r2.history("T"), row) {
			t.Fatalf("the accepted request re-encoded as %s parses to %+v, %v; want %+v", again, r2.history("T"), err, row)
		}
	})
}
