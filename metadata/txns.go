package metadata

import (
	"net/url"
	"strconv"
)

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

// TxnState is a transaction's state, named as Kafka's DescribeTransactions
// and ListTransactions name it.
type TxnState string

// The states of a transaction, as in Kafka's TransactionState.
const (
	TxnEmpty          TxnState = "Empty"
	TxnOngoing        TxnState = "Ongoing"
	TxnPrepareCommit  TxnState = "PrepareCommit"
	TxnPrepareAbort   TxnState = "PrepareAbort"
	TxnCompleteCommit TxnState = "CompleteCommit"
	TxnCompleteAbort  TxnState = "CompleteAbort"
	TxnDead           TxnState = "Dead"
)

// TxnStates are every state, in Kafka's order.
var TxnStates = []TxnState{TxnEmpty, TxnOngoing, TxnPrepareCommit, TxnPrepareAbort, TxnCompleteCommit, TxnCompleteAbort, TxnDead}

// TxnPartition is one partition of a transaction: its topic by name (as
// the protocol names it) and by id (as the marker keys name it).
type TxnPartition struct {
	Topic     string  `json:"topic"`
	TopicID   TopicID `json:"topicId"`
	Partition int32   `json:"partition"`
}

// Key is the partition's PartitionKey.
func (p TxnPartition) Key() PartitionKey {
	return PartitionKey{Topic: p.TopicID, Partition: p.Partition}
}

// TxnMetadata is one transactional id's record, as Kafka's transaction
// log keeps it: the producer id and epoch it is served under, the ones
// before (so that a retried InitProducerId is recognized, KIP-360), the
// timeout, the state and what the current transaction touched.
type TxnMetadata struct {
	ProducerID        int64          `json:"producerId"`
	ProducerEpoch     int16          `json:"producerEpoch"`
	PrevProducerID    int64          `json:"prevProducerId"`    // -1: none
	PrevProducerEpoch int16          `json:"prevProducerEpoch"` // -1: none
	TimeoutMs         int32          `json:"timeoutMs"`
	State             TxnState       `json:"state"`
	Partitions        []TxnPartition `json:"partitions,omitempty"`
	Groups            []string       `json:"groups,omitempty"`
	StartTime         int64          `json:"start"`  // unix ms the transaction began; -1 when none is
	UpdateTime        int64          `json:"update"` // unix ms of the last change
	// TxnVersion is the transaction protocol version of the client's last
	// request that started or ended a transaction (Kafka's
	// clientTransactionVersion): 2 (KIP-890 part 2: partitions added by
	// Produce v12+, an epoch bump at every EndTxn v5+), else 0 or 1.
	TxnVersion int16 `json:"txnVersion,omitempty"`
	// NextProducerID is the producer id a transaction version 2 end
	// allocated because the bumped epoch is exhausted: the record switches
	// to it (epoch 0) when the transaction completes. 0: none (producer
	// ids start at FirstProducerID).
	NextProducerID int64 `json:"nextProducerId,omitempty"`
}

// Clone returns a deep copy of m.
func (m TxnMetadata) Clone() TxnMetadata {
	m.Partitions = append([]TxnPartition(nil), m.Partitions...)
	m.Groups = append([]string(nil), m.Groups...)
	return m
}

// HasPartition reports whether the transaction holds the partition named
// topic/partition.
func (m *TxnMetadata) HasPartition(topic string, partition int32) bool {
	for _, p := range m.Partitions {
		if p.Topic == topic && p.Partition == partition {
			return true
		}
	}
	return false
}

// HasGroup reports whether the transaction holds group.
func (m *TxnMetadata) HasGroup(group string) bool {
	for _, g := range m.Groups {
		if g == group {
			return true
		}
	}
	return false
}

// The key layout of transactions (the package doc's keys, kept here so
// that keys.go stays the cluster's):
//
//	txns/<shard>/<path-escaped transactional id>             TxnMetadata
//	txnmarkers/p/<topic id>/<partition>/<producer id>         TxnMarker
//	txnmarkers/g/<path-escaped group>/<producer id>           TxnMarker

func (k keys) txnShard(shard int32) string {
	return k.prefix + "txns/" + strconv.Itoa(int(shard)) + "/"
}
func (k keys) txn(shard int32, id string) string {
	return k.txnShard(shard) + url.PathEscape(id)
}
func (k keys) txnMarkers() string { return k.prefix + "txnmarkers/" }
func (k keys) partitionMarker(p PartitionKey, producerID int64) string {
	return k.txnMarkers() + "p/" + p.Topic.String() + "/" + strconv.Itoa(int(p.Partition)) + "/" + strconv.FormatInt(producerID, 10)
}
func (k keys) groupMarker(group string, producerID int64) string {
	return k.txnMarkers() + "g/" + url.PathEscape(group) + "/" + strconv.FormatInt(producerID, 10)
}
