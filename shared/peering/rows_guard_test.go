package peering

import (
	"context"
	"testing"
)

// TestUpsertNeverOverwritesALocalRow: the execution upsert is the last line of the "never
// overwrite a local row" rule. The copier re-reads the local keys under lock before writing,
// but a row inserted after that re-read (no gap lock at READ COMMITTED) would meet the upsert's
// ON DUPLICATE KEY UPDATE: a row owned here (another partition, or NULL) keeps every column;
// a copy of the peer's is updated.
func TestUpsertNeverOverwritesALocalRow(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	mustExec(t, p.local, "INSERT INTO pipelines (id, `partition`, application, status, build_time, updated_at, body) VALUES "+
		"('LOCAL000000000000000000001', ?, 'mine', 'RUNNING', 1, 5, 'local body'), "+
		"('LEGACY00000000000000000001', NULL, 'mine', 'RUNNING', 1, 5, 'legacy body'), "+
		"('COPY0000000000000000000001', ?, 'theirs', 'RUNNING', 1, 5, 'old copy')", localPartition, peerID)
	rows := []row{}
	for _, id := range []string{"LOCAL000000000000000000001", "LEGACY00000000000000000001", "COPY0000000000000000000001"} {
		r := make(row, len(pipelineColumns))
		r[0], r[2] = []byte(id), []byte(peerID)
		r[4], r[5], r[6], r[8], r[9], r[10] = []byte("theirs"), []byte("SUCCEEDED"), []byte("1"), []byte("9"), []byte{0}, []byte("peer body")
		rows = append(rows, r)
	}
	if _, err := upsert(context.Background(), p.local.SQL(), "pipelines", pipelineColumns, rows, 1<<20); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{
		"LOCAL000000000000000000001": localPartition + "/mine/RUNNING/local body",
		"LEGACY00000000000000000001": "-/mine/RUNNING/legacy body",
		"COPY0000000000000000000001": peerID + "/theirs/SUCCEEDED/peer body",
	} {
		var got string
		if err := p.local.SQL().QueryRow("SELECT CONCAT_WS('/', COALESCE(`partition`, '-'), application, status, body) FROM pipelines WHERE id = ?", id).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s = %q after the upsert; want %q", id, got, want)
		}
	}
}
