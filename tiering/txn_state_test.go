package tiering

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/strata-io/strata/internal/batch"
	"github.com/strata-io/strata/internal/batch/batchtest"
	"github.com/strata-io/strata/metadata"
)

// txnRaw is a transactional data batch of n records (n > 0) or a marker
// (n == 0).
func txnRaw(t *testing.T, pid int64, epoch int16, seq int32, n int, commit bool) []byte {
	t.Helper()
	if n == 0 {
		return batch.AppendControlBatch(nil, pid, epoch, commit, 1, 0)
	}
	raw, _ := batchtest.Make(t, batchtest.Idempotent(pid, epoch, seq, n))
	binary.BigEndian.PutUint16(raw[21:], binary.BigEndian.Uint16(raw[21:])|1<<4)
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

// txnAppended is txnRaw's batch at base as the uploader reads it from a
// segment.
func txnAppended(t *testing.T, pid int64, epoch int16, seq int32, n int, commit bool, base int64) appended {
	t.Helper()
	raw := txnRaw(t, pid, epoch, seq, n, commit)
	batch.SetBaseOffset(raw, base)
	h, err := batch.Validate(raw)
	if err != nil {
		t.Fatal(err)
	}
	return appended{h: h, txn: metadata.TxnBatchOf(h, raw)}
}

func TestNextStateTransactions(t *testing.T) {
	prev := metadata.PartitionState{HighWatermark: 100, Producers: map[int64]metadata.ProducerState{
		7: {Epoch: 0, Batches: []metadata.ProducerBatch{{FirstSeq: 0, LastSeq: 1, BaseOffset: 95}}, InTxn: true, TxnFirst: 95},
	}}
	// 100-101: 8 begins; 102: 7's abort (epoch 1, raised by the
	// coordinator); 103: 8 goes on; 104: 9 begins.
	first := []appended{
		txnAppended(t, 8, 0, 0, 2, false, 100),
		txnAppended(t, 7, 1, 0, 0, false, 102),
		txnAppended(t, 8, 0, 2, 1, false, 103),
		txnAppended(t, 9, 0, 0, 1, false, 104),
	}
	st, aborted := nextState(prev, metadata.ManifestEntry{BaseOffset: 100, LastOffset: 104}, first)
	wantAborted := []metadata.AbortedTxn{{ProducerID: 7, FirstOffset: 95, LastOffset: 102, Stable: 100}}
	if fmt.Sprint(aborted) != fmt.Sprint(wantAborted) {
		t.Fatalf("aborted %v, want %v", aborted, wantAborted)
	}
	want := map[int64]metadata.ProducerState{
		7: {Epoch: 1},
		8: {Epoch: 0, Batches: []metadata.ProducerBatch{{FirstSeq: 0, LastSeq: 1, BaseOffset: 100}, {FirstSeq: 2, LastSeq: 2, BaseOffset: 103}}, InTxn: true, TxnFirst: 100},
		9: {Epoch: 0, Batches: []metadata.ProducerBatch{{FirstSeq: 0, LastSeq: 0, BaseOffset: 104}}, InTxn: true, TxnFirst: 104},
	}
	if st.HighWatermark != 105 || fmt.Sprint(st.Producers) != fmt.Sprint(want) {
		t.Fatalf("state %+v\nwant producers %v", st, want)
	}
	if prev.Producers[7].InTxn != true {
		t.Fatal("nextState changed prev")
	}
	// The next range: 8 commits, 9 aborts (nothing older is open: Stable
	// is the offset after the marker), a marker for 7 ends nothing.
	second := []appended{
		txnAppended(t, 8, 0, 0, 0, true, 105),
		txnAppended(t, 9, 0, 0, 0, false, 106),
		txnAppended(t, 7, 1, 0, 0, false, 107),
	}
	st, aborted = nextState(st, metadata.ManifestEntry{BaseOffset: 105, LastOffset: 107}, second)
	wantAborted = []metadata.AbortedTxn{{ProducerID: 9, FirstOffset: 104, LastOffset: 106, Stable: 107}}
	if fmt.Sprint(aborted) != fmt.Sprint(wantAborted) {
		t.Fatalf("aborted %v, want %v", aborted, wantAborted)
	}
	for id, ps := range st.Producers {
		if ps.InTxn {
			t.Errorf("producer %d still in a transaction: %+v", id, ps)
		}
	}
	if ps := st.Producers[8]; len(ps.Batches) != 2 || ps.Epoch != 0 {
		t.Errorf("a same-epoch marker changed producer 8's batches: %+v", ps)
	}
	// A non-transactional batch of a bumped epoch keeps the producer's
	// transaction (only its marker ends it).
	open := metadata.PartitionState{HighWatermark: 200, Producers: map[int64]metadata.ProducerState{
		7: {Epoch: 0, InTxn: true, TxnFirst: 150},
	}}
	raw, h := batchtest.Make(t, batchtest.Idempotent(7, 1, 0, 1))
	st, _ = nextState(open, metadata.ManifestEntry{BaseOffset: 200, LastOffset: 200}, []appended{{h: h, txn: metadata.TxnBatchOf(h, raw)}})
	if ps := st.Producers[7]; !ps.InTxn || ps.TxnFirst != 150 || ps.Epoch != 1 {
		t.Errorf("producer 7 after a bumped idempotent batch: %+v", ps)
	}
}

// testTransactions: the committed state in etcd records each producer's
// ongoing transaction, and each manifest entry the transactions aborted
// in it.
func testTransactions(t *testing.T, env *upEnv) {
	k := testKey(5, 0)
	env.lead(k)
	c := newCommits()
	_, stop := env.start(c, nil, nil)
	env.writeRaw(k, txnRaw(t, 10, 0, 0, 2, false)) // 0-1
	env.writeRaw(k, txnRaw(t, 11, 0, 0, 1, false)) // 2
	env.seal()
	env.writeRaw(k, txnRaw(t, 10, 0, 0, 0, false)) // 3: abort 10
	env.seal()
	c.wait(t, 2)
	stop()

	st := env.checkCommitted(k)
	if ps := st.Producers[11]; !ps.InTxn || ps.TxnFirst != 2 {
		t.Errorf("producer 11: %+v, want in a transaction from 2", ps)
	}
	if ps := st.Producers[10]; ps.InTxn {
		t.Errorf("producer 10: %+v, want no transaction", ps)
	}
	entries := env.manifestN(k, 2)
	want := []metadata.AbortedTxn{{ProducerID: 10, FirstOffset: 0, LastOffset: 3, Stable: 2}}
	if len(entries[0].Aborted) != 0 || fmt.Sprint(entries[1].Aborted) != fmt.Sprint(want) {
		t.Fatalf("aborted %v, %v; want none, %v", entries[0].Aborted, entries[1].Aborted, want)
	}
}
