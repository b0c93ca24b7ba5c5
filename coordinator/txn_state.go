package coordinator

// The transaction state machine: pure functions from a transactional id's
// record and a request to the record to write (a step), or to the error to
// answer without writing. They follow Kafka's TransactionCoordinator and
// TransactionMetadata; txn.go does the writing.

import (
	"math"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/metadata"
)

// noEpoch is Kafka's RecordBatch.NO_PRODUCER_EPOCH (and -1 producer id).
const noEpoch = -1

// txnStep is a change to a transactional id's record.
type txnStep struct {
	next metadata.TxnMetadata
	// markers, when set, are written with next (PrepareCommit or
	// PrepareAbort): one per partition and group of next.
	markers *metadata.TxnMarker
	// newPID: next needs a new producer id (the caller allocates it and
	// sets next.ProducerID).
	newPID bool
	// nextPID: next needs a new producer id for when the transaction
	// completes (transaction version 2, the bumped epoch is exhausted):
	// the caller allocates it and sets next.NextProducerID.
	nextPID bool
	// answer is the error the request gets once the step is written
	// (CONCURRENT_TRANSACTIONS after InitProducerId aborted an ongoing
	// transaction); nil for success.
	answer error
}

// epochExhausted is Kafka's isEpochExhausted: the epoch can no longer be
// bumped twice (once to fence, once for the new producer).
func epochExhausted(e int16) bool { return e >= math.MaxInt16-1 }

// isPrepare reports whether st waits for its markers.
func isPrepare(st metadata.TxnState) bool {
	return st == metadata.TxnPrepareCommit || st == metadata.TxnPrepareAbort
}

// stepInit is InitProducerId on cur (nil: a new transactional id) with the
// producer id and epoch of a KIP-360 request (pid -1: none).
func stepInit(cur *metadata.TxnMetadata, timeoutMs int32, pid int64, epoch int16, now int64) (*txnStep, error) {
	if cur == nil {
		return &txnStep{newPID: true, next: metadata.TxnMetadata{
			ProducerID: -1, ProducerEpoch: 0, PrevProducerID: -1, PrevProducerEpoch: noEpoch,
			TimeoutMs: timeoutMs, State: metadata.TxnEmpty, StartTime: -1, UpdateTime: now,
		}}, nil
	}
	expected := pid >= 0
	// Kafka's isValidProducerId.
	if expected && !(cur.ProducerEpoch == noEpoch || pid == cur.ProducerID ||
		(pid == cur.PrevProducerID && epochExhausted(epoch))) {
		return nil, kerr.ProducerFenced
	}
	switch cur.State {
	case metadata.TxnPrepareCommit, metadata.TxnPrepareAbort:
		return nil, kerr.ConcurrentTransactions
	case metadata.TxnOngoing:
		// Abort the ongoing transaction under a bumped epoch, which fences
		// its producer; the client retries and gets another bump.
		st := fenceAbort(cur, now)
		st.answer = kerr.ConcurrentTransactions
		return st, nil
	}
	next := cur.Clone()
	next.TimeoutMs, next.State, next.Partitions, next.Groups = timeoutMs, metadata.TxnEmpty, nil, nil
	next.StartTime, next.UpdateTime = -1, now
	if epochExhausted(cur.ProducerEpoch) && (!expected || epoch == cur.ProducerEpoch) {
		// Kafka's prepareProducerIdRotation.
		next.PrevProducerID = cur.ProducerID
		next.PrevProducerEpoch = noEpoch
		if expected {
			next.PrevProducerEpoch = cur.ProducerEpoch
		}
		next.ProducerEpoch = 0
		return &txnStep{next: next, newPID: true}, nil
	}
	// Kafka's prepareIncrementProducerEpoch.
	bumped := cur.ProducerEpoch + 1
	switch {
	case !expected:
		next.ProducerEpoch, next.PrevProducerEpoch = bumped, noEpoch
	case cur.ProducerEpoch == noEpoch || epoch == cur.ProducerEpoch:
		next.ProducerEpoch, next.PrevProducerEpoch = bumped, cur.ProducerEpoch
	case epoch == cur.PrevProducerEpoch:
		// A retry of a bump that succeeded: answer the current epoch.
		return &txnStep{next: next}, nil
	default:
		return nil, kerr.ProducerFenced
	}
	return &txnStep{next: next}, nil
}

// fenceAbort aborts cur's ongoing transaction under a bumped epoch
// (Kafka's prepareFenceProducerEpoch, then endTransaction(ABORT) not from
// the client): a timeout, or InitProducerId of a new producer.
//
// Under transaction version 2 the epoch is bumped twice, as Kafka's fence
// and then its abort each bump it: the fenced producer's epoch is not the
// one a completed end of version 2 leaves (its own plus one), so its
// EndTxn is not taken for a retry of one and gets PRODUCER_FENCED.
func fenceAbort(cur *metadata.TxnMetadata, now int64) *txnStep {
	next := cur.Clone()
	bump := int16(1)
	if cur.TxnVersion >= 2 {
		bump = 2
	}
	next.ProducerEpoch = int16(min(int32(next.ProducerEpoch)+int32(bump), math.MaxInt16))
	next.PrevProducerEpoch = noEpoch
	next.State, next.UpdateTime = metadata.TxnPrepareAbort, now
	return &txnStep{next: next, markers: &metadata.TxnMarker{ProducerEpoch: next.ProducerEpoch}}
}

// checkProducer is the producer check of AddPartitionsToTxn and
// AddOffsetsToTxn: the id's producer under its current epoch, and no
// transaction ending.
func checkProducer(cur *metadata.TxnMetadata, pid int64, epoch int16) error {
	switch {
	case cur == nil || cur.ProducerID != pid:
		return kerr.InvalidProducerIDMapping
	case cur.ProducerEpoch != epoch:
		return kerr.ProducerFenced
	case isPrepare(cur.State):
		return kerr.ConcurrentTransactions
	}
	return nil
}

// stepAdd is AddPartitionsToTxn (parts) or AddOffsetsToTxn (group), or
// under transaction version 2 (tv 2) a partition leader's or group
// coordinator's implicit addition: nil step and nil error when everything
// is in the ongoing transaction already. The transaction a step starts
// records tv.
func stepAdd(cur *metadata.TxnMetadata, pid int64, epoch int16, parts []metadata.TxnPartition, groups []string, now int64, tv int16) (*txnStep, error) {
	if err := checkProducer(cur, pid, epoch); err != nil {
		return nil, err
	}
	if cur.State == metadata.TxnDead {
		return nil, kerr.InvalidTxnState
	}
	next := cur.Clone()
	changed := false
	for _, p := range parts {
		if !next.HasPartition(p.Topic, p.Partition) {
			next.Partitions = append(next.Partitions, p)
			changed = true
		}
	}
	for _, g := range groups {
		if !next.HasGroup(g) {
			next.Groups = append(next.Groups, g)
			changed = true
		}
	}
	if cur.State == metadata.TxnOngoing && !changed {
		return nil, nil
	}
	if cur.State != metadata.TxnOngoing {
		next.StartTime = now // Empty, CompleteCommit, CompleteAbort: a new transaction
		next.TxnVersion = tv
	} else if tv > next.TxnVersion {
		next.TxnVersion = tv
	}
	next.State, next.UpdateTime = metadata.TxnOngoing, now
	return &txnStep{next: next}, nil
}

// stepEnd is EndTxn of transaction version tv (2 for EndTxn v5+): nil
// step and nil error when the transaction has ended that way already (a
// retry). It follows Kafka's TransactionCoordinator.endTransaction.
//
// Under version 2 every end bumps the producer epoch (the markers carry
// the bumped one, the response returns it); an epoch that cannot be bumped
// any more gets a new producer id, which the record switches to when the
// transaction completes (stepComplete). A record whose transaction is of
// version 2 takes an EndTxn with the epoch just before its own as a retry
// of the end that bumped it (success if it asks the same outcome,
// INVALID_TXN_STATE otherwise) and one with its own epoch only while a
// transaction is ongoing or none began; PRODUCER_FENCED otherwise. An
// abort of version 2 with no transaction ongoing (a producer whose
// produces all failed) bumps the epoch and succeeds, as kfake and Kafka 4
// allow.
func stepEnd(cur *metadata.TxnMetadata, pid int64, epoch int16, commit bool, now int64, tv int16) (*txnStep, error) {
	if cur == nil {
		return nil, kerr.InvalidProducerIDMapping
	}
	v2 := cur.TxnVersion >= 2
	bumped := v2 && int32(cur.ProducerEpoch) == int32(epoch)+1
	overflowed := v2 && cur.PrevProducerID == pid && epoch == math.MaxInt16-1 && cur.ProducerEpoch == 0
	if cur.ProducerID != pid && !overflowed {
		return nil, kerr.InvalidProducerIDMapping
	}
	current := cur.ProducerID == pid && epoch == cur.ProducerEpoch
	valid := current
	if v2 {
		switch cur.State {
		case metadata.TxnPrepareCommit, metadata.TxnPrepareAbort:
			valid = bumped
		case metadata.TxnCompleteCommit, metadata.TxnCompleteAbort:
			valid = bumped || overflowed || current && tv >= 2 && !commit
		}
	}
	if !valid {
		return nil, kerr.ProducerFenced
	}
	switch cur.State {
	case metadata.TxnOngoing:
		next := cur.Clone()
		next.State, next.UpdateTime = metadata.TxnPrepareAbort, now
		if commit {
			next.State = metadata.TxnPrepareCommit
		}
		st := &txnStep{next: next}
		if tv >= 2 {
			// Kafka's prepareAbortOrCommit under version 2.
			st.next.TxnVersion = tv
			st.next.PrevProducerEpoch = cur.ProducerEpoch
			st.next.ProducerEpoch = cur.ProducerEpoch + 1 // at most MaxInt16: exhausted epochs are not handed out
			st.nextPID = epochExhausted(cur.ProducerEpoch)
		}
		st.markers = &metadata.TxnMarker{ProducerEpoch: st.next.ProducerEpoch, Commit: commit}
		return st, nil
	case metadata.TxnEmpty, metadata.TxnCompleteCommit, metadata.TxnCompleteAbort:
		if tv >= 2 && !commit && current {
			return emptyAbort(cur, now, tv), nil
		}
		if cur.State == metadata.TxnCompleteCommit && commit || cur.State == metadata.TxnCompleteAbort && !commit {
			return nil, nil
		}
	case metadata.TxnPrepareCommit:
		if commit {
			return nil, kerr.ConcurrentTransactions
		}
	case metadata.TxnPrepareAbort:
		if !commit {
			return nil, kerr.ConcurrentTransactions
		}
	}
	return nil, kerr.InvalidTxnState
}

// emptyAbort is a version 2 abort with no transaction ongoing: the epoch
// is bumped (a new producer id when it cannot be) and the record is
// CompleteAbort, with no marker to write.
func emptyAbort(cur *metadata.TxnMetadata, now int64, tv int16) *txnStep {
	next := cur.Clone()
	next.State, next.UpdateTime, next.TxnVersion = metadata.TxnCompleteAbort, now, tv
	next.Partitions, next.Groups = nil, nil
	if epochExhausted(cur.ProducerEpoch) {
		next.PrevProducerID, next.PrevProducerEpoch = cur.ProducerID, cur.ProducerEpoch
		next.ProducerEpoch = 0
		return &txnStep{next: next, newPID: true}
	}
	next.PrevProducerEpoch = cur.ProducerEpoch
	next.ProducerEpoch = cur.ProducerEpoch + 1
	return &txnStep{next: next}
}

// endAnswer is the producer id and epoch an EndTxn of version 2 answers
// with for the record m: the id the record switches to at completion
// (epoch 0) when its epoch was exhausted, else its own.
func endAnswer(m metadata.TxnMetadata) (int64, int16) {
	if m.NextProducerID != 0 {
		return m.NextProducerID, 0
	}
	return m.ProducerID, m.ProducerEpoch
}

// timedOut reports whether cur is an ongoing transaction past its timeout.
func timedOut(cur *metadata.TxnMetadata, now int64) bool {
	return cur.State == metadata.TxnOngoing && cur.StartTime >= 0 && cur.StartTime+int64(cur.TimeoutMs) < now
}

// stepComplete records that every marker of cur's PrepareCommit or
// PrepareAbort is written.
func stepComplete(cur *metadata.TxnMetadata, now int64) *txnStep {
	next := cur.Clone()
	next.State = metadata.TxnCompleteAbort
	if cur.State == metadata.TxnPrepareCommit {
		next.State = metadata.TxnCompleteCommit
	}
	next.Partitions, next.Groups, next.UpdateTime = nil, nil, now
	if cur.NextProducerID != 0 {
		// Kafka's prepareComplete after a version 2 end that exhausted
		// the epoch: the record moves to the new producer id.
		next.PrevProducerID, next.PrevProducerEpoch = cur.ProducerID, cur.PrevProducerEpoch
		next.ProducerID, next.ProducerEpoch, next.NextProducerID = cur.NextProducerID, 0, 0
	}
	return &txnStep{next: next}
}
