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
func fenceAbort(cur *metadata.TxnMetadata, now int64) *txnStep {
	next := cur.Clone()
	if next.ProducerEpoch < math.MaxInt16 {
		next.ProducerEpoch++
	}
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

// stepAdd is AddPartitionsToTxn (parts) or AddOffsetsToTxn (group): nil
// step and nil error when everything is in the ongoing transaction already.
func stepAdd(cur *metadata.TxnMetadata, pid int64, epoch int16, parts []metadata.TxnPartition, groups []string, now int64) (*txnStep, error) {
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
	}
	next.State, next.UpdateTime = metadata.TxnOngoing, now
	return &txnStep{next: next}, nil
}

// stepEnd is EndTxn: nil step and nil error when the transaction has
// ended that way already (a retry).
func stepEnd(cur *metadata.TxnMetadata, pid int64, epoch int16, commit bool, now int64) (*txnStep, error) {
	switch {
	case cur == nil || cur.ProducerID != pid:
		return nil, kerr.InvalidProducerIDMapping
	case epoch != cur.ProducerEpoch:
		return nil, kerr.ProducerFenced
	}
	switch cur.State {
	case metadata.TxnOngoing:
		next := cur.Clone()
		next.State, next.UpdateTime = metadata.TxnPrepareAbort, now
		if commit {
			next.State = metadata.TxnPrepareCommit
		}
		return &txnStep{next: next, markers: &metadata.TxnMarker{ProducerEpoch: next.ProducerEpoch, Commit: commit}}, nil
	case metadata.TxnCompleteCommit:
		if commit {
			return nil, nil
		}
	case metadata.TxnCompleteAbort:
		if !commit {
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
	return &txnStep{next: next}
}
