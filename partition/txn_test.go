package partition

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/internal/batch"
	"github.com/strata-io/strata/metadata"
)

// txnBatch is a transactional batch of n records from producer pid.
func txnBatch(t testing.TB, pid int64, epoch int16, seq int32, n int) ([]byte, batch.Header) {
	t.Helper()
	raw, _ := makeBatch(t, idem(pid, epoch, seq, n))
	binary.BigEndian.PutUint16(raw[21:], binary.BigEndian.Uint16(raw[21:])|1<<4)
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	h, err := batch.Validate(raw)
	if err != nil || !h.Transactional() {
		t.Fatalf("transactional batch: %v", err)
	}
	return raw, h
}

func appendTxn(t testing.TB, p *Partition, w *walWrites, pid int64, epoch int16, seq int32, n int) AppendResult {
	t.Helper()
	raw, h := txnBatch(t, pid, epoch, seq, n)
	res, err := p.Append(raw, h, -1, w.write)
	if err != nil {
		t.Fatalf("append transactional batch: %v", err)
	}
	return res
}

func appendMarker(t testing.TB, p *Partition, w *walWrites, pid int64, epoch int16, commit bool) (AppendResult, bool) {
	t.Helper()
	res, ok, err := p.AppendMarker(metadata.TxnMarker{ProducerID: pid, ProducerEpoch: epoch, Commit: commit, CoordinatorEpoch: 3}, 1_700_000_000_000, w.write)
	if err != nil {
		t.Fatalf("append marker: %v", err)
	}
	return res, ok
}

// commitUpTo commits everything below hwm as the uploader would: one
// manifest entry from the old high watermark, whose Aborted are the
// aborted ranges of its markers.
func commitUpTo(t testing.TB, p *Partition, hwm int64) {
	t.Helper()
	p.mu.Lock()
	e := metadata.ManifestEntry{BaseOffset: p.hwm, LastOffset: hwm - 1}
	for _, at := range p.pendingAborted {
		if at.LastOffset >= e.BaseOffset && at.LastOffset <= e.LastOffset {
			e.Aborted = append(e.Aborted, at)
		}
	}
	p.mu.Unlock()
	p.committed(1, e, metadata.PartitionState{HighWatermark: hwm})
}

func readCommitted(t testing.TB, p *Partition, offset int64) (bases []int64, lso int64, aborted []metadata.AbortedTxn) {
	t.Helper()
	out, lso, aborted, err := p.ReadCommitted(context.Background(), nil, offset, 1<<20)
	if err != nil {
		t.Fatalf("ReadCommitted(%d): %v", offset, err)
	}
	for _, raw := range out {
		h, _ := batch.Parse(raw)
		bases = append(bases, h.BaseOffset)
	}
	return bases, lso, aborted
}

func TestLastStableOffset(t *testing.T) {
	p := ledPartition(t, metadata.PartitionState{HighWatermark: 100})
	w := &walWrites{}
	appendTxn(t, p, w, 7, 0, 0, 3) // 100-102
	appendSpec(t, p, w, plain(1))  // 103
	if !p.InTxn(7) || p.InTxn(8) {
		t.Fatal("InTxn: producer 7 should have a transaction, 8 none")
	}
	commitUpTo(t, p, 104)
	if lso := p.LastStableOffset(); lso != 100 {
		t.Fatalf("LSO with an open transaction = %d, want 100", lso)
	}
	if bases, lso, _ := readCommitted(t, p, 100); len(bases) != 0 || lso != 100 {
		t.Fatalf("read_committed at the LSO = %v, lso %d; want nothing, 100", bases, lso)
	}
	if got, err := p.Read(context.Background(), nil, 100, 1<<20); err != nil || len(got) != 2 {
		t.Fatalf("read_uncommitted = %d batches, %v; want 2", len(got), err)
	}
	res, ok := appendMarker(t, p, w, 7, 0, true)
	if !ok || res.Base != 104 || p.InTxn(7) {
		t.Fatalf("commit marker = %+v, %v; want appended at 104, the transaction ended", res, ok)
	}
	if lso := p.LastStableOffset(); lso != 100 {
		t.Fatalf("LSO with the marker not committed = %d, want 100", lso)
	}
	commitUpTo(t, p, 105)
	if lso := p.LastStableOffset(); lso != 105 {
		t.Fatalf("LSO after the marker is committed = %d, want 105", lso)
	}
	bases, lso, aborted := readCommitted(t, p, 100)
	if fmt.Sprint(bases) != "[100 103 104]" || lso != 105 || len(aborted) != 0 {
		t.Fatalf("read_committed = %v, lso %d, aborted %v; want [100 103 104], 105, none", bases, lso, aborted)
	}
	// A marker for a producer with no ongoing transaction is not appended.
	if _, ok := appendMarker(t, p, w, 7, 0, true); ok || len(w.batches) != 3 {
		t.Fatalf("a second marker was appended (%v, %d writes)", ok, len(w.batches))
	}
}

func TestAbortedRanges(t *testing.T) {
	p := ledPartition(t, metadata.PartitionState{HighWatermark: 100})
	w := &walWrites{}
	appendTxn(t, p, w, 7, 0, 0, 2)     // 100-101
	appendTxn(t, p, w, 8, 0, 0, 1)     // 102
	appendMarker(t, p, w, 7, 0, false) // 103: abort 7
	commitUpTo(t, p, 104)
	if lso := p.LastStableOffset(); lso != 102 {
		t.Fatalf("LSO = %d, want 102 (producer 8's transaction)", lso)
	}
	bases, lso, aborted := readCommitted(t, p, 100)
	want := []metadata.AbortedTxn{{ProducerID: 7, FirstOffset: 100, LastOffset: 103, Stable: 102}}
	if fmt.Sprint(bases) != "[100]" || lso != 102 || fmt.Sprint(aborted) != fmt.Sprint(want) {
		t.Fatalf("read_committed = %v, lso %d, aborted %v; want [100], 102, %v", bases, lso, aborted, want)
	}
	appendMarker(t, p, w, 8, 0, true)  // 104: commit 8
	appendTxn(t, p, w, 9, 0, 0, 1)     // 105
	appendMarker(t, p, w, 9, 0, false) // 106: abort 9
	// Not committed yet: the aborted ranges are pending.
	commitUpTo(t, p, 105)
	bases, lso, aborted = readCommitted(t, p, 100)
	if fmt.Sprint(bases) != "[100 102 103 104]" || lso != 105 || fmt.Sprint(aborted) != fmt.Sprint(want) {
		t.Fatalf("read_committed = %v, lso %d, aborted %v; want [100 102 103 104], 105, %v", bases, lso, aborted, want)
	}
	commitUpTo(t, p, 107)
	bases, lso, aborted = readCommitted(t, p, 104)
	want9 := []metadata.AbortedTxn{{ProducerID: 9, FirstOffset: 105, LastOffset: 106, Stable: 107}}
	if fmt.Sprint(bases) != "[104 105 106]" || lso != 107 || fmt.Sprint(aborted) != fmt.Sprint(want9) {
		t.Fatalf("read_committed(104) = %v, lso %d, aborted %v; want [104 105 106], 107, %v", bases, lso, aborted, want9)
	}
	// From 100, both: the first one's Stable (102) is below the upper bound.
	if _, _, aborted = readCommitted(t, p, 100); len(aborted) != 2 {
		t.Fatalf("read_committed(100) aborted %v, want both", aborted)
	}
	// A read that ends before 9's transaction: 7's Stable (102) is not
	// above the upper bound (103), so 9's is looked at, but it does not
	// overlap.
	p.mu.Lock()
	got := p.abortedIn(100, 103)
	p.mu.Unlock()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("abortedIn(100, 103) = %v, want %v", got, want)
	}
}

func TestTxnStateRestored(t *testing.T) {
	st := metadata.PartitionState{HighWatermark: 100, Producers: map[int64]metadata.ProducerState{
		7: {Epoch: 2, Batches: []metadata.ProducerBatch{{FirstSeq: 0, LastSeq: 4, BaseOffset: 90}}, InTxn: true, TxnFirst: 90},
		8: {Epoch: 0, Batches: []metadata.ProducerBatch{{FirstSeq: 0, LastSeq: 0, BaseOffset: 95}}},
	}}
	p := ledPartition(t, st)
	if !p.InTxn(7) || p.InTxn(8) || p.LastStableOffset() != 90 {
		t.Fatalf("after lead: InTxn(7) %v, InTxn(8) %v, LSO %d; want true, false, 90", p.InTxn(7), p.InTxn(8), p.LastStableOffset())
	}
	// Replayed from the WAL: 8 begins a transaction, 7's abort marker.
	raw, h := txnBatch(t, 8, 0, 1, 2)
	batch.SetBaseOffset(raw, 100)
	h.BaseOffset = 100
	p.replayBatch(raw, h)
	mk := batch.AppendControlBatch(nil, 7, 3, false, 1, 0)
	batch.SetBaseOffset(mk, 102)
	mh, _ := batch.Parse(mk)
	p.replayBatch(mk, mh)
	if p.InTxn(7) || !p.InTxn(8) {
		t.Fatalf("after replay: InTxn(7) %v, InTxn(8) %v; want false, true", p.InTxn(7), p.InTxn(8))
	}
	commitUpTo(t, p, 103)
	if lso := p.LastStableOffset(); lso != 100 {
		t.Fatalf("LSO = %d, want 100", lso)
	}
	// The replayed marker raised 7's epoch to 3: epoch 2 is fenced.
	w := &walWrites{}
	raw, h = txnBatch(t, 7, 2, 5, 1)
	if _, err := p.Append(raw, h, -1, w.write); !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("epoch 2 after an epoch 3 marker: %v, want INVALID_PRODUCER_EPOCH", err)
	}
	raw, h = txnBatch(t, 7, 3, 1, 1)
	if _, err := p.Append(raw, h, -1, w.write); !errors.Is(err, kerr.OutOfOrderSequenceNumber) {
		t.Fatalf("epoch 3 at sequence 1: %v, want OUT_OF_ORDER_SEQUENCE_NUMBER", err)
	}
	if res := appendTxn(t, p, w, 7, 3, 0, 1); res.Base != 103 || !p.InTxn(7) {
		t.Fatalf("epoch 3 at sequence 0 = %+v, InTxn %v", res, p.InTxn(7))
	}
	// An older marker than the producer's epoch is refused.
	if _, _, err := p.AppendMarker(metadata.TxnMarker{ProducerID: 7, ProducerEpoch: 2}, 0, w.write); !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("marker of epoch 2: %v, want INVALID_PRODUCER_EPOCH", err)
	}
	infos, err := p.Producers()
	if err != nil || len(infos) != 2 || infos[0].ProducerID != 7 || infos[0].TxnStartOffset != 103 || infos[0].Epoch != 3 ||
		infos[0].LastSequence != 0 || infos[1].TxnStartOffset != 100 || infos[1].LastSequence != 2 {
		t.Fatalf("Producers = %+v, %v", infos, err)
	}
}

// TestFencingMarkerWithoutTransaction: a coordinator's abort with a bumped
// epoch is appended even where the producer has no transaction open, so
// that a batch verified before the abort and arriving after the marker is
// fenced instead of opening a transaction that no marker would end.
func TestFencingMarkerWithoutTransaction(t *testing.T) {
	p := ledPartition(t, metadata.PartitionState{HighWatermark: 0})
	w := &walWrites{}
	// Producer 9 never wrote here (its batch is still in flight): the
	// fencing abort (epoch 1) is appended and raises its epoch.
	if res, ok := appendMarker(t, p, w, 9, 1, false); !ok || res.Base != 0 {
		t.Fatalf("fencing abort for a producer unknown here = %+v, %v; want appended at 0", res, ok)
	}
	raw, h := txnBatch(t, 9, 0, 0, 2)
	if _, err := p.Append(raw, h, -1, w.write); !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("late batch of the fenced epoch: %v, want INVALID_PRODUCER_EPOCH", err)
	}
	if p.InTxn(9) {
		t.Fatal("the fenced batch opened a transaction")
	}
	// Delivered again, or a marker of the epoch the partition knows with
	// nothing open: nothing more is appended.
	if _, ok := appendMarker(t, p, w, 9, 1, false); ok {
		t.Fatal("the fencing abort was appended twice")
	}
	if _, ok := appendMarker(t, p, w, 9, 1, true); ok || len(w.batches) != 1 {
		t.Fatalf("a marker with nothing to end or fence was appended (%d writes)", len(w.batches))
	}
	commitUpTo(t, p, 1)
	if lso := p.LastStableOffset(); lso != 1 {
		t.Fatalf("LSO = %d, want 1: nothing is open", lso)
	}
}
