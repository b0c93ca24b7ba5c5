package coordinator

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/metadata"
)

// VerifyTxn checks, for a partition leader about to append a producer's
// first transactional batch to a partition since its last marker there,
// that the transaction is ongoing under that producer id and epoch and
// that the partition was added to it: nil, or the error Kafka's
// verification gives (INVALID_PRODUCER_ID_MAPPING when the transactional
// id has no record or another producer id, INVALID_PRODUCER_EPOCH for
// another epoch, as Kafka maps PRODUCER_FENCED for produce,
// INVALID_TXN_STATE when no transaction is ongoing or the partition is not
// in it, and NOT_ENOUGH_REPLICAS, retriable, while the transaction is
// ending or the record cannot be read).
//
// It reads the transaction's record in etcd (a linearizable read), once
// per transaction per partition, so it needs no coordinator here.
func (t *Txns) VerifyTxn(ctx context.Context, txnID string, producerID int64, producerEpoch int16, topic string, partition int32) error {
	lt, err := t.readRecord(ctx, txnID)
	if err != nil {
		return kerr.NotEnoughReplicas
	}
	return verifyRecord(lt, producerID, producerEpoch, topic, partition)
}

// VerifyTxnGroup checks a TxnOffsetCommit of transaction version 1 as
// Kafka's group coordinator does: the transaction is ongoing under that
// producer id and epoch and has the group (AddOffsetsToTxn). nil, or
// INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED (another epoch: a zombie),
// INVALID_TXN_STATE (no transaction ongoing, or the group not in it), or
// COORDINATOR_NOT_AVAILABLE, retriable, when the record cannot be read.
// Like VerifyTxn it reads the record in etcd.
func (t *Txns) VerifyTxnGroup(ctx context.Context, txnID string, producerID int64, producerEpoch int16, group string) error {
	lt, err := t.readRecord(ctx, txnID)
	if err != nil {
		return kerr.CoordinatorNotAvailable
	}
	if lt == nil || lt.Meta.ProducerID != producerID {
		return kerr.InvalidProducerIDMapping
	}
	m := &lt.Meta
	switch {
	case m.ProducerEpoch != producerEpoch:
		return kerr.ProducerFenced
	case m.State != metadata.TxnOngoing || !m.HasGroup(group):
		return kerr.InvalidTxnState
	}
	return nil
}

// readRecord reads txnID's record from etcd (a linearizable read; nil:
// none).
func (t *Txns) readRecord(ctx context.Context, txnID string) (*metadata.LoadedTxn, error) {
	sl, err := t.locate(txnID)
	if err != nil {
		return nil, err
	}
	lt, err := t.store.ReadTxn(ctx, sl.key.Partition, txnID)
	if err != nil {
		t.log.Debug("verify transaction", "transactional_id", txnID, "error", err)
	}
	return lt, err
}

// verifyRecord is VerifyTxn's check of the record read (nil: none).
func verifyRecord(lt *metadata.LoadedTxn, producerID int64, producerEpoch int16, topic string, partition int32) error {
	if lt == nil || lt.Meta.ProducerID != producerID {
		return kerr.InvalidProducerIDMapping
	}
	m := &lt.Meta
	switch {
	case m.ProducerEpoch != producerEpoch:
		return kerr.InvalidProducerEpoch
	case isPrepare(m.State):
		return kerr.NotEnoughReplicas
	case m.State != metadata.TxnOngoing || !m.HasPartition(topic, partition):
		return kerr.InvalidTxnState
	}
	return nil
}
