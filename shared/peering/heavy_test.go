package peering

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/logwise/controlplane/shared/executions"
)

// TestHeavyChunksAreReadInHalves: a chunk whose rows come to more than ChunkBytes is read
// again in halves until each part fits, down to a single execution, which is read whole
// however heavy; the rows the copier holds at once stay within MemoryBytes (plus what that
// one heavy execution weighs over ChunkBytes), all of it is given back after the pass, and
// the copy converges. Sixteen executions of about 8.6 KB (a body and three stages of 2,000
// bytes) and one of about 33 KB, in chunks of 8, with ChunkBytes 20,000 and MemoryBytes
// 40,000.
func TestHeavyChunksAreReadInHalves(t *testing.T) {
	t.Parallel()
	p := newPair(t)
	for i := 0; i < 16; i++ {
		id := fmt.Sprintf("H%05d", i)
		var stages []stage
		for s := 1; s <= 3; s++ {
			stages = append(stages, stage{id: fmt.Sprintf("%s-%d", id, s), updatedAt: int64(1000 + i), body: strings.Repeat("s", 2000)})
		}
		putExec(t, p.peer, exec{typ: executions.Pipeline, id: id, partition: peerID, updatedAt: int64(1000 + i), body: strings.Repeat("b", 2000), stages: stages})
	}
	var heavy []stage
	for s := 1; s <= 10; s++ {
		heavy = append(heavy, stage{id: fmt.Sprintf("HEAVY-%02d", s), updatedAt: 1007, body: strings.Repeat("h", 3000)})
	}
	putExec(t, p.peer, exec{typ: executions.Pipeline, id: "HEAVY", partition: peerID, updatedAt: 1007, body: strings.Repeat("b", 2000), stages: heavy})

	opts := testOptions()
	opts.ChunkSize, opts.ThreadCount, opts.PageSize = 8, 2, 100
	opts.ChunkBytes, opts.MemoryBytes = 20_000, 40_000
	c := p.copier(t, opts, nil)
	type read struct{ executions, bytes int }
	var mu sync.Mutex
	var reads []read
	c.partRead = func(n, bytes int) {
		mu.Lock()
		defer mu.Unlock()
		reads = append(reads, read{n, bytes})
	}
	if s := pass(t, c); s.NumErrors != 0 || s.NumPeered != 17 {
		t.Fatalf("pass: %+v; want all 17 executions copied and no error", s)
	}
	assertConverged(t, p)

	most, heavyBytes := 0, 0
	for _, r := range reads {
		most = max(most, r.executions)
		if r.executions > 1 && r.bytes > opts.ChunkBytes {
			t.Errorf("a part of %d executions read %d bytes, over ChunkBytes %d", r.executions, r.bytes, opts.ChunkBytes)
		}
		if r.executions == 1 && r.bytes > opts.ChunkBytes {
			heavyBytes = r.bytes
		}
	}
	if most >= 8 {
		t.Errorf("a part of %d executions was read; want every chunk of 8 (about 69 KB) read in smaller parts", most)
	}
	if heavyBytes == 0 {
		t.Errorf("no single execution over ChunkBytes was read whole (reads %v)", reads)
	}
	held, peak, _ := c.mem.state()
	if held != 0 {
		t.Errorf("%d bytes still held after the pass; want 0", held)
	}
	if limit := opts.MemoryBytes + heavyBytes - opts.ChunkBytes; peak > limit || peak == 0 {
		t.Errorf("at most %d bytes held at once; want some, and no more than MemoryBytes + the heavy execution's overshoot (%d)", peak, limit)
	}
}
