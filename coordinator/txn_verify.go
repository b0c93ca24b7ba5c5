package coordinator

import "context"

// VerifyTxn checks, for a partition leader about to append a producer's
// first transactional batch to a partition since its last marker there,
// that the transaction is ongoing under that producer id and epoch and
// that the partition was added to it: nil, or the error Kafka's
// verification gives (INVALID_TXN_STATE, INVALID_PRODUCER_EPOCH,
// PRODUCER_FENCED, or a retriable one while the coordinator cannot tell).
//
// TODO(issue 19): reads the transaction's record in etcd.
func (c *Coordinator) VerifyTxn(ctx context.Context, txnID string, producerID int64, producerEpoch int16, topic string, partition int32) error {
	return nil
}
