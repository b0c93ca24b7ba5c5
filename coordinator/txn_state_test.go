package coordinator

import (
	"errors"
	"math"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/metadata"
)

func meta(pid int64, epoch int16, st metadata.TxnState) *metadata.TxnMetadata {
	return &metadata.TxnMetadata{ProducerID: pid, ProducerEpoch: epoch, PrevProducerID: -1, PrevProducerEpoch: -1,
		TimeoutMs: 1000, State: st, StartTime: -1}
}

var tp0 = metadata.TxnPartition{Topic: "t", TopicID: metadata.TopicID{1}, Partition: 0}

// TestTxnStepInit: InitProducerId's transitions, as Kafka's.
func TestTxnStepInit(t *testing.T) {
	// A new id: a new producer id, epoch 0.
	st, err := stepInit(nil, 500, -1, -1, 7)
	if err != nil || !st.newPID || st.next.ProducerEpoch != 0 || st.next.State != metadata.TxnEmpty || st.next.TimeoutMs != 500 {
		t.Fatalf("new id: %+v, %v", st, err)
	}
	// A known, idle id: the epoch bumped, the timeout replaced.
	for _, s := range []metadata.TxnState{metadata.TxnEmpty, metadata.TxnCompleteCommit, metadata.TxnCompleteAbort} {
		st, err := stepInit(meta(10, 4, s), 800, -1, -1, 7)
		if err != nil || st.newPID || st.next.ProducerID != 10 || st.next.ProducerEpoch != 5 || st.next.TimeoutMs != 800 || st.next.State != metadata.TxnEmpty {
			t.Errorf("%s: %+v, %v", s, st, err)
		}
	}
	// Ending: CONCURRENT_TRANSACTIONS, nothing written.
	for _, s := range []metadata.TxnState{metadata.TxnPrepareCommit, metadata.TxnPrepareAbort} {
		if st, err := stepInit(meta(10, 4, s), 800, -1, -1, 7); st != nil || err != kerr.ConcurrentTransactions {
			t.Errorf("%s: %+v, %v", s, st, err)
		}
	}
	// Ongoing: aborted under a bumped epoch, then CONCURRENT_TRANSACTIONS.
	cur := meta(10, 4, metadata.TxnOngoing)
	cur.Partitions, cur.Groups = []metadata.TxnPartition{tp0}, []string{"g"}
	st, err = stepInit(cur, 800, -1, -1, 7)
	if err != nil || st.answer != kerr.ConcurrentTransactions || st.next.State != metadata.TxnPrepareAbort ||
		st.next.ProducerEpoch != 5 || st.markers == nil || st.markers.ProducerEpoch != 5 || st.markers.Commit ||
		len(st.next.Partitions) != 1 || len(st.next.Groups) != 1 {
		t.Fatalf("ongoing: %+v, %v", st, err)
	}
	// Epoch used up: a new producer id at epoch 0.
	st, err = stepInit(meta(10, math.MaxInt16-1, metadata.TxnEmpty), 800, -1, -1, 7)
	if err != nil || !st.newPID || st.next.ProducerEpoch != 0 || st.next.PrevProducerID != 10 {
		t.Errorf("exhausted: %+v, %v", st, err)
	}
}

// TestTxnStepInitKIP360: a v3+ InitProducerId's producer id and epoch.
func TestTxnStepInitKIP360(t *testing.T) {
	cur := meta(10, 4, metadata.TxnEmpty)
	// The current producer after an abortable error: bumped, the previous
	// epoch remembered.
	st, err := stepInit(cur, 800, 10, 4, 7)
	if err != nil || st.next.ProducerEpoch != 5 || st.next.PrevProducerEpoch != 4 {
		t.Fatalf("current: %+v, %v", st, err)
	}
	// Its retry (the answer lost): the same epoch again, nothing bumped.
	st, err = stepInit(&st.next, 800, 10, 4, 8)
	if err != nil || st.next.ProducerEpoch != 5 {
		t.Fatalf("retry: %+v, %v", st, err)
	}
	// An older epoch, or another producer id: fenced.
	if _, err := stepInit(cur, 800, 10, 2, 7); err != kerr.ProducerFenced {
		t.Errorf("old epoch: %v", err)
	}
	if _, err := stepInit(cur, 800, 11, 4, 7); err != kerr.ProducerFenced {
		t.Errorf("other producer id: %v", err)
	}
}

// TestTxnStepAdd: AddPartitionsToTxn and AddOffsetsToTxn.
func TestTxnStepAdd(t *testing.T) {
	cur := meta(10, 4, metadata.TxnEmpty)
	st, err := stepAdd(cur, 10, 4, []metadata.TxnPartition{tp0}, nil, 100, 1)
	if err != nil || st.next.State != metadata.TxnOngoing || st.next.StartTime != 100 || !st.next.HasPartition("t", 0) {
		t.Fatalf("first add: %+v, %v", st, err)
	}
	ongoing := st.next
	// The same partition again: nothing to write.
	if st, err := stepAdd(&ongoing, 10, 4, []metadata.TxnPartition{tp0}, nil, 200, 1); st != nil || err != nil {
		t.Errorf("again: %+v, %v", st, err)
	}
	// A group: added, the start kept.
	st, err = stepAdd(&ongoing, 10, 4, nil, []string{"g"}, 200, 1)
	if err != nil || !st.next.HasGroup("g") || st.next.StartTime != 100 {
		t.Errorf("group: %+v, %v", st, err)
	}
	for _, tc := range []struct {
		name  string
		cur   *metadata.TxnMetadata
		pid   int64
		epoch int16
		want  error
	}{
		{"no record", nil, 10, 4, kerr.InvalidProducerIDMapping},
		{"other producer", cur, 11, 4, kerr.InvalidProducerIDMapping},
		{"old epoch", cur, 10, 3, kerr.ProducerFenced},
		{"committing", meta(10, 4, metadata.TxnPrepareCommit), 10, 4, kerr.ConcurrentTransactions},
		{"aborting", meta(10, 4, metadata.TxnPrepareAbort), 10, 4, kerr.ConcurrentTransactions},
	} {
		if st, err := stepAdd(tc.cur, tc.pid, tc.epoch, []metadata.TxnPartition{tp0}, nil, 1, 1); st != nil || err != tc.want {
			t.Errorf("%s: %+v, %v; want %v", tc.name, st, err, tc.want)
		}
	}
}

// TestTxnStepEnd: EndTxn in every state, as Kafka answers it.
func TestTxnStepEnd(t *testing.T) {
	ongoing := meta(10, 4, metadata.TxnOngoing)
	ongoing.Partitions, ongoing.StartTime = []metadata.TxnPartition{tp0}, 5
	for _, commit := range []bool{true, false} {
		st, err := stepEnd(ongoing, 10, 4, commit, 9, 1)
		want := metadata.TxnPrepareAbort
		if commit {
			want = metadata.TxnPrepareCommit
		}
		if err != nil || st.next.State != want || st.markers == nil || st.markers.Commit != commit || st.markers.ProducerEpoch != 4 {
			t.Errorf("commit %v: %+v, %v", commit, st, err)
		}
	}
	for _, tc := range []struct {
		state  metadata.TxnState
		commit bool
		want   error // nil: nothing written, success
	}{
		{metadata.TxnCompleteCommit, true, nil},
		{metadata.TxnCompleteCommit, false, kerr.InvalidTxnState},
		{metadata.TxnCompleteAbort, false, nil},
		{metadata.TxnCompleteAbort, true, kerr.InvalidTxnState},
		{metadata.TxnPrepareCommit, true, kerr.ConcurrentTransactions},
		{metadata.TxnPrepareCommit, false, kerr.InvalidTxnState},
		{metadata.TxnPrepareAbort, false, kerr.ConcurrentTransactions},
		{metadata.TxnPrepareAbort, true, kerr.InvalidTxnState},
		{metadata.TxnEmpty, true, kerr.InvalidTxnState},
		{metadata.TxnEmpty, false, kerr.InvalidTxnState},
	} {
		if st, err := stepEnd(meta(10, 4, tc.state), 10, 4, tc.commit, 9, 1); st != nil || err != tc.want {
			t.Errorf("%s commit %v: %+v, %v; want %v", tc.state, tc.commit, st, err, tc.want)
		}
	}
	if _, err := stepEnd(ongoing, 10, 3, true, 9, 1); err != kerr.ProducerFenced {
		t.Errorf("old epoch: %v", err)
	}
	if _, err := stepEnd(ongoing, 10, 5, true, 9, 1); err != kerr.ProducerFenced {
		t.Errorf("newer epoch: %v", err)
	}
	if _, err := stepEnd(ongoing, 11, 4, true, 9, 1); err != kerr.InvalidProducerIDMapping {
		t.Errorf("other producer: %v", err)
	}
}

// TestTxnTimeoutAndComplete: a transaction past its timeout is aborted
// under a bumped epoch; completing clears what it touched.
func TestTxnTimeoutAndComplete(t *testing.T) {
	m := meta(10, 4, metadata.TxnOngoing)
	m.StartTime, m.TimeoutMs, m.Partitions = 1000, 500, []metadata.TxnPartition{tp0}
	if timedOut(m, 1500) {
		t.Error("timed out at its deadline")
	}
	if !timedOut(m, 1501) {
		t.Error("not timed out past its deadline")
	}
	if timedOut(meta(10, 4, metadata.TxnEmpty), math.MaxInt64) {
		t.Error("an idle id timed out")
	}
	st := fenceAbort(m, 1501)
	if st.next.State != metadata.TxnPrepareAbort || st.next.ProducerEpoch != 5 || st.markers.ProducerEpoch != 5 || st.markers.Commit {
		t.Fatalf("fence: %+v", st)
	}
	// The fenced producer's EndTxn is refused.
	if _, err := stepEnd(&st.next, 10, 4, true, 1502, 1); !errors.Is(err, kerr.ProducerFenced) {
		t.Errorf("EndTxn of the fenced producer: %v", err)
	}
	done := stepComplete(&st.next, 1600)
	if done.next.State != metadata.TxnCompleteAbort || len(done.next.Partitions) != 0 || done.next.ProducerEpoch != 5 {
		t.Errorf("complete: %+v", done.next)
	}
}

// TestTxnVerifyRecord: a partition leader's verification of a
// transactional produce.
func TestTxnVerifyRecord(t *testing.T) {
	ongoing := meta(10, 4, metadata.TxnOngoing)
	ongoing.Partitions = []metadata.TxnPartition{tp0}
	lt := &metadata.LoadedTxn{Meta: *ongoing}
	for _, tc := range []struct {
		name  string
		lt    *metadata.LoadedTxn
		pid   int64
		epoch int16
		part  int32
		want  error
	}{
		{"ok", lt, 10, 4, 0, nil},
		{"no record", nil, 10, 4, 0, kerr.InvalidProducerIDMapping},
		{"other producer", lt, 11, 4, 0, kerr.InvalidProducerIDMapping},
		{"old epoch", lt, 10, 3, 0, kerr.InvalidProducerEpoch},
		{"partition not added", lt, 10, 4, 1, kerr.InvalidTxnState},
		{"not ongoing", &metadata.LoadedTxn{Meta: *meta(10, 4, metadata.TxnCompleteCommit)}, 10, 4, 0, kerr.InvalidTxnState},
		{"ending", &metadata.LoadedTxn{Meta: *meta(10, 4, metadata.TxnPrepareCommit)}, 10, 4, 0, kerr.NotEnoughReplicas},
	} {
		if err := verifyRecord(tc.lt, tc.pid, tc.epoch, "t", tc.part); err != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}
