package coordinator

import (
	"math"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/metadata"
)

// v2meta is a record whose transaction is of version 2.
func v2meta(pid int64, epoch int16, st metadata.TxnState) *metadata.TxnMetadata {
	m := meta(pid, epoch, st)
	m.TxnVersion = 2
	return m
}

// TestTxnV2ImplicitAdd: a leader's implicit addition begins a transaction
// of version 2 from Empty or Complete* (and its timeout), adds to an
// ongoing one, and is refused while one ends or for another producer.
func TestTxnV2ImplicitAdd(t *testing.T) {
	for _, s := range []metadata.TxnState{metadata.TxnEmpty, metadata.TxnCompleteCommit, metadata.TxnCompleteAbort} {
		st, err := stepAdd(meta(10, 4, s), 10, 4, []metadata.TxnPartition{tp0}, nil, 100, 2)
		if err != nil || st.next.State != metadata.TxnOngoing || st.next.StartTime != 100 || st.next.TxnVersion != 2 ||
			!st.next.HasPartition("t", 0) {
			t.Errorf("%s: %+v, %v", s, st, err)
		}
	}
	ongoing := v2meta(10, 4, metadata.TxnOngoing)
	ongoing.StartTime, ongoing.Partitions = 50, []metadata.TxnPartition{tp0}
	if st, err := stepAdd(ongoing, 10, 4, []metadata.TxnPartition{tp0}, nil, 100, 2); st != nil || err != nil {
		t.Errorf("already in: %+v, %v", st, err)
	}
	st, err := stepAdd(ongoing, 10, 4, nil, []string{"g"}, 100, 2)
	if err != nil || st.next.StartTime != 50 || !st.next.HasGroup("g") || !st.next.HasPartition("t", 0) {
		t.Errorf("group: %+v, %v", st, err)
	}
	for _, tc := range []struct {
		cur   *metadata.TxnMetadata
		epoch int16
		want  error
	}{
		{v2meta(10, 5, metadata.TxnPrepareCommit), 5, kerr.ConcurrentTransactions}, // the previous one ends
		{v2meta(10, 5, metadata.TxnCompleteCommit), 4, kerr.ProducerFenced},
		{nil, 4, kerr.InvalidProducerIDMapping},
	} {
		if st, err := stepAdd(tc.cur, 10, tc.epoch, []metadata.TxnPartition{tp0}, nil, 1, 2); st != nil || err != tc.want {
			t.Errorf("%+v: %+v, %v; want %v", tc.cur, st, err, tc.want)
		}
	}
}

// TestTxnV2End: EndTxn v5 bumps the epoch at the prepare (markers carry
// it), the completion keeps it, and a retry with the epoch before is
// answered as Kafka's TransactionCoordinator answers it.
func TestTxnV2End(t *testing.T) {
	ongoing := v2meta(10, 4, metadata.TxnOngoing)
	ongoing.Partitions = []metadata.TxnPartition{tp0}
	st, err := stepEnd(ongoing, 10, 4, true, 9, 2)
	if err != nil || st.next.State != metadata.TxnPrepareCommit || st.next.ProducerEpoch != 5 || st.next.PrevProducerEpoch != 4 ||
		st.markers == nil || st.markers.ProducerEpoch != 5 || !st.markers.Commit || st.nextPID {
		t.Fatalf("commit: %+v, %v", st, err)
	}
	if id, ep := endAnswer(st.next); id != 10 || ep != 5 {
		t.Errorf("answer %d/%d, want 10/5", id, ep)
	}
	prepared := st.next
	// A retry while the markers are written: CONCURRENT_TRANSACTIONS;
	// the other outcome INVALID_TXN_STATE; the new epoch is not a retry.
	for _, tc := range []struct {
		epoch  int16
		commit bool
		want   error
	}{{4, true, kerr.ConcurrentTransactions}, {4, false, kerr.InvalidTxnState}, {5, true, kerr.ProducerFenced}, {3, true, kerr.ProducerFenced}} {
		if st, err := stepEnd(&prepared, 10, tc.epoch, tc.commit, 10, 2); st != nil || err != tc.want {
			t.Errorf("prepared, epoch %d commit %v: %+v, %v; want %v", tc.epoch, tc.commit, st, err, tc.want)
		}
	}
	done := stepComplete(&prepared, 11).next
	if done.State != metadata.TxnCompleteCommit || done.ProducerEpoch != 5 || done.ProducerID != 10 {
		t.Fatalf("complete: %+v", done)
	}
	// After completion: the retry of the same outcome succeeds (nothing
	// written), the other is INVALID_TXN_STATE, an older epoch fenced,
	// and a commit with the current epoch (no transaction) fenced.
	if st, err := stepEnd(&done, 10, 4, true, 12, 2); st != nil || err != nil {
		t.Errorf("retried commit: %+v, %v", st, err)
	}
	for _, tc := range []struct {
		epoch  int16
		commit bool
		want   error
	}{{4, false, kerr.InvalidTxnState}, {3, true, kerr.ProducerFenced}, {5, true, kerr.ProducerFenced}} {
		if st, err := stepEnd(&done, 10, tc.epoch, tc.commit, 12, 2); st != nil || err != tc.want {
			t.Errorf("completed, epoch %d commit %v: %+v, %v; want %v", tc.epoch, tc.commit, st, err, tc.want)
		}
	}
	// An abort with the current epoch and nothing ongoing (every produce
	// failed): the epoch bumped, CompleteAbort, no markers.
	st, err = stepEnd(&done, 10, 5, false, 12, 2)
	if err != nil || st.markers != nil || st.next.State != metadata.TxnCompleteAbort || st.next.ProducerEpoch != 6 {
		t.Errorf("empty abort: %+v, %v", st, err)
	}
	// Version 1 (EndTxn v4) on a version 1 record: no bump, as before.
	v1 := meta(10, 4, metadata.TxnOngoing)
	if st, err := stepEnd(v1, 10, 4, false, 9, 1); err != nil || st.next.ProducerEpoch != 4 || st.markers.ProducerEpoch != 4 {
		t.Errorf("v1: %+v, %v", st, err)
	}
	if st, err := stepEnd(meta(10, 4, metadata.TxnEmpty), 10, 4, false, 9, 1); st != nil || err != kerr.InvalidTxnState {
		t.Errorf("v1 empty abort: %+v, %v", st, err)
	}
}

// TestTxnV2EndOverflow: an end whose bumped epoch is exhausted gets a new
// producer id, answered at epoch 0 and switched to at completion, with the
// previous id kept; the retry with the previous id and epoch succeeds.
func TestTxnV2EndOverflow(t *testing.T) {
	last := int16(math.MaxInt16 - 1)
	ongoing := v2meta(10, last, metadata.TxnOngoing)
	ongoing.Partitions = []metadata.TxnPartition{tp0}
	st, err := stepEnd(ongoing, 10, last, false, 9, 2)
	if err != nil || !st.nextPID || st.next.ProducerEpoch != math.MaxInt16 || st.markers.ProducerEpoch != math.MaxInt16 {
		t.Fatalf("overflow: %+v, %v", st, err)
	}
	st.next.NextProducerID = 77 // what Txns.update allocates
	if id, ep := endAnswer(st.next); id != 77 || ep != 0 {
		t.Errorf("answer %d/%d, want 77/0", id, ep)
	}
	done := stepComplete(&st.next, 10).next
	if done.ProducerID != 77 || done.ProducerEpoch != 0 || done.PrevProducerID != 10 || done.NextProducerID != 0 ||
		done.State != metadata.TxnCompleteAbort {
		t.Fatalf("complete: %+v", done)
	}
	if st, err := stepEnd(&done, 10, last, false, 11, 2); st != nil || err != nil {
		t.Errorf("retry with the previous id: %+v, %v", st, err)
	}
	if st, err := stepEnd(&done, 10, last-1, false, 11, 2); st != nil || err != kerr.InvalidProducerIDMapping {
		t.Errorf("the previous id at another epoch: %+v, %v", st, err)
	}
}

// TestTxnV2FenceAbort: a timeout or a new producer aborts a transaction of
// version 2 under an epoch bumped twice, so the fenced producer's EndTxn
// is not taken for a retry of a completed end.
func TestTxnV2FenceAbort(t *testing.T) {
	ongoing := v2meta(10, 4, metadata.TxnOngoing)
	ongoing.Partitions = []metadata.TxnPartition{tp0}
	st := fenceAbort(ongoing, 9)
	if st.next.ProducerEpoch != 6 || st.markers.ProducerEpoch != 6 || st.next.State != metadata.TxnPrepareAbort {
		t.Fatalf("fence: %+v", st)
	}
	done := stepComplete(&st.next, 10).next
	for _, commit := range []bool{true, false} {
		if st, err := stepEnd(&done, 10, 4, commit, 11, 2); st != nil || err != kerr.ProducerFenced {
			t.Errorf("fenced producer's end (commit %v): %+v, %v", commit, st, err)
		}
	}
	if st := fenceAbort(meta(10, 4, metadata.TxnOngoing), 9); st.next.ProducerEpoch != 5 {
		t.Errorf("version 1 fence: epoch %d, want 5", st.next.ProducerEpoch)
	}
}
