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
	sl, err := t.locate(txnID)
	if err != nil {
		return kerr.NotEnoughReplicas
	}
	lt, err := t.store.ReadTxn(ctx, sl.key.Partition, txnID)
	if err != nil {
		t.log.Debug("verify transaction", "transactional_id", txnID, "error", err)
		return kerr.NotEnoughReplicas
	}
	return verifyRecord(lt, producerID, producerEpoch, topic, partition)
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
