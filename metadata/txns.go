package metadata

// Transactions: the records the transaction coordinator and the partition
// leaders share through etcd.
//
// A transactional id hashes onto a coordinator shard (a partition of
// OffsetsTopic) like a group id; the shard's leader is its transaction
// coordinator and keeps its TxnMetadata under txns/<shard>/, every write
// guarded by the shard's epoch. To end a transaction the coordinator puts,
// in the same guarded etcd transaction that records PrepareCommit or
// PrepareAbort, one TxnMarker per partition and per group of the
// transaction under txnmarkers/. Every broker watches txnmarkers/: the
// leader of a marker's partition appends the COMMIT or ABORT control batch,
// waits until it is committed and deletes the marker; the coordinator of a
// marker's group makes its pending transactional offsets visible (or drops
// them) and deletes the marker. When all of a transaction's markers are
// gone its coordinator records CompleteCommit or CompleteAbort.

// TxnMarker asks a partition's leader, or a group's coordinator, to end a
// producer's transaction there: a COMMIT or ABORT control batch in the
// partition's log, or the group's pending transactional offsets made
// visible or dropped.
type TxnMarker struct {
	TransactionalID string `json:"txnId"`
	ProducerID      int64  `json:"producerId"`
	// ProducerEpoch is the epoch the marker is written with: the
	// transaction's, or the bumped one when the coordinator aborted it
	// to fence its producer (a timeout, a new InitProducerId).
	ProducerEpoch    int16 `json:"producerEpoch"`
	Commit           bool  `json:"commit"`
	CoordinatorEpoch int32 `json:"coordinatorEpoch"`
}

// AbortedTxn is one aborted transaction's range in a partition, as Kafka's
// transaction index keeps it: the producer, the offset of its first
// record in the partition and the offset of its ABORT marker. Stable is
// the partition's last stable offset right after the marker was appended:
// a read_committed fetch that ends below Stable has seen every aborted
// transaction it overlaps once it reached this one.
type AbortedTxn struct {
	ProducerID  int64 `json:"producerId"`
	FirstOffset int64 `json:"first"`
	LastOffset  int64 `json:"last"`
	Stable      int64 `json:"stable"`
}
