package broker_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker/brokertest"
	"github.com/strata-io/strata/internal/batch"
	"github.com/strata-io/strata/internal/batch/batchtest"
	"github.com/strata-io/strata/metadata"
)

// txnRecords is a transactional batch of n records from producer pid.
func txnRecords(t *testing.T, pid int64, epoch int16, seq int32, n int) []byte {
	t.Helper()
	s := batchtest.Idempotent(pid, epoch, seq, n)
	raw, _ := batchtest.Make(t, s)
	binary.BigEndian.PutUint16(raw[21:], binary.BigEndian.Uint16(raw[21:])|1<<4)
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

// produceTxn sends one batch to partition 0 with a transactional id (nil:
// none), acks=all.
func produceTxn(t *testing.T, c *brokertest.Conn, txnID *string, topic string, records []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	return produceTxnTo(t, c, txnID, topic, 0, records)
}

// produceTxnTo is produceTxn to partition p.
func produceTxnTo(t *testing.T, c *brokertest.Conn, txnID *string, topic string, p int32, records []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	return *produceAs(t, c, -1, txnID, topic, p, records)
}

// fetchIsolated reads partition 0 from offset at an isolation level,
// without waiting.
func fetchIsolated(t *testing.T, c *brokertest.Conn, topic string, offset int64, isolation int8) kmsg.FetchResponseTopicPartition {
	t.Helper()
	return fetchAt(t, c, topic, 0, offset, 0, isolation)
}

// latest is ListOffsets latest for partition 0 at an isolation level.
func latest(t *testing.T, c *brokertest.Conn, topic string, isolation int8) int64 {
	return listAt(t, c, topic, -1, isolation)
}

// listAt is ListOffsets at timestamp for partition 0 at an isolation level.
func listAt(t *testing.T, c *brokertest.Conn, topic string, timestamp int64, isolation int8) int64 {
	t.Helper()
	sp := listOffsetAt(t, c, topic, 0, timestamp, isolation)
	if sp.ErrorCode != 0 {
		t.Fatalf("list offsets: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
	return sp.Offset
}

// beginTxn opens transactional id id's transaction on partition 0 of
// topic through the coordinator, so that the partition's leader verifies
// its first batch, and returns its producer id and epoch.
func beginTxn(t *testing.T, c *brokertest.Conn, id, topic string) (int64, int16) {
	t.Helper()
	tc := txnClient{t, c}
	var resp *kmsg.InitProducerIDResponse
	until(t, func() int16 { resp = tc.initPID(id, 60_000, 4, -1, -1); return resp.ErrorCode })
	if resp.ErrorCode != 0 {
		t.Fatalf("InitProducerId %s: %v", id, kerr.ErrorForCode(resp.ErrorCode))
	}
	if code := until(t, func() int16 { return tc.addPartition(id, resp.ProducerID, resp.ProducerEpoch, topic, 0) }); code != 0 {
		t.Fatalf("AddPartitionsToTxn %s: %v", id, kerr.ErrorForCode(code))
	}
	return resp.ProducerID, resp.ProducerEpoch
}

func TestTransactionsInTheLog(t *testing.T) {
	b := brokertest.Start(t)
	const topic = "txn"
	createTopic(t, b, topic, 1, nil)
	c := b.Dial(t)
	txnID := ptr("tx")
	pid, epoch := beginTxn(t, c, "tx", topic)
	td, err := b.Admin(t).ListTopics(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	key := metadata.PartitionKey{Topic: metadata.TopicID(td[topic].ID)}

	// The producer's transaction (0-2), then a plain record (3).
	if sp := produceTxn(t, c, txnID, topic, txnRecords(t, pid, epoch, 0, 3)); sp.ErrorCode != 0 || sp.BaseOffset != 0 {
		t.Fatalf("transactional produce: %v at %d", kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset)
	}
	if sp := produceTxn(t, c, nil, topic, records(t, plain(1, 1_700_000_000_000))); sp.ErrorCode != 0 || sp.BaseOffset != 3 {
		t.Fatalf("plain produce: %v at %d", kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset)
	}
	sp := fetchIsolated(t, c, topic, 0, 0)
	if got := recordOffsets(t, sp.RecordBatches); fmt.Sprint(got) != "[0 1 2 3]" || sp.HighWatermark != 4 || sp.LastStableOffset != 0 {
		t.Fatalf("read_uncommitted: offsets %v, hwm %d, lso %d; want [0 1 2 3], 4, 0", got, sp.HighWatermark, sp.LastStableOffset)
	}
	sp = fetchIsolated(t, c, topic, 0, 1)
	if sp.ErrorCode != 0 || len(sp.RecordBatches) != 0 || sp.LastStableOffset != 0 {
		t.Fatalf("read_committed with the transaction open: %v, %d bytes, lso %d; want no records, lso 0",
			kerr.ErrorForCode(sp.ErrorCode), len(sp.RecordBatches), sp.LastStableOffset)
	}
	if got := latest(t, c, topic, 1); got != 0 {
		t.Fatalf("ListOffsets latest, read_committed = %d, want 0", got)
	}
	if got := latest(t, c, topic, 0); got != 4 {
		t.Fatalf("ListOffsets latest, read_uncommitted = %d, want 4", got)
	}
	if got0, got1 := listAt(t, c, topic, 0, 0), listAt(t, c, topic, 0, 1); got0 != 0 || got1 != -1 {
		t.Fatalf("ListOffsets at timestamp 0 = %d read_uncommitted, %d read_committed; want 0, -1", got0, got1)
	}

	// Its marker aborts it with a bumped epoch (4), as the coordinator's
	// abort on a timeout does.
	abort := metadata.TxnMarker{TransactionalID: "tx", ProducerID: pid, ProducerEpoch: epoch + 1, CoordinatorEpoch: 2}
	if err := b.WriteTxnMarker(t.Context(), key, abort); err != nil {
		t.Fatalf("abort marker: %v", err)
	}
	// Delivered again: nothing to end, nothing appended.
	if err := b.WriteTxnMarker(t.Context(), key, abort); err != nil {
		t.Fatalf("abort marker again: %v", err)
	}
	sp = fetchIsolated(t, c, topic, 0, 1)
	wantAborted := []kmsg.FetchResponseTopicPartitionAbortedTransaction{{ProducerID: pid, FirstOffset: 0}}
	if got := recordOffsets(t, sp.RecordBatches); fmt.Sprint(got) != "[0 1 2 3 4]" || sp.LastStableOffset != 5 ||
		fmt.Sprint(sp.AbortedTransactions) != fmt.Sprint(wantAborted) {
		t.Fatalf("read_committed after the abort: offsets %v, lso %d, aborted %+v; want [0 1 2 3 4], 5, %+v",
			got, sp.LastStableOffset, sp.AbortedTransactions, wantAborted)
	}
	if got := latest(t, c, topic, 1); got != 5 {
		t.Fatalf("ListOffsets latest, read_committed = %d, want 5", got)
	}

	// The marker raised the producer's epoch: its old epoch is fenced.
	sp2 := produceTxn(t, c, txnID, topic, txnRecords(t, pid, epoch, 3, 1))
	wantCode(t, "old epoch after the marker", sp2.ErrorCode, kerr.InvalidProducerEpoch)
	// A control batch from a client, and a transactional batch without a
	// transactional id, are refused.
	sp2 = produceTxn(t, c, txnID, topic, batch.AppendControlBatch(nil, pid, epoch+1, true, 0, 0))
	wantCode(t, "client control batch", sp2.ErrorCode, kerr.InvalidRecord)
	sp2 = produceTxn(t, c, nil, topic, txnRecords(t, 1001, 0, 0, 1))
	wantCode(t, "transactional batch without an id", sp2.ErrorCode, kerr.TransactionalIDAuthorizationFailed)

	// A second producer commits (5-6, marker 7), then a last plain record (8).
	pid2, epoch2 := beginTxn(t, c, "tx2", topic)
	if sp := produceTxn(t, c, ptr("tx2"), topic, txnRecords(t, pid2, epoch2, 0, 2)); sp.ErrorCode != 0 || sp.BaseOffset != 5 {
		t.Fatalf("transactional produce: %v at %d", kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset)
	}
	if err := b.WriteTxnMarker(t.Context(), key, metadata.TxnMarker{TransactionalID: "tx2", ProducerID: pid2, ProducerEpoch: epoch2, Commit: true}); err != nil {
		t.Fatalf("commit marker: %v", err)
	}
	if sp := produceTxn(t, c, nil, topic, records(t, plain(1, 1_700_000_000_000))); sp.ErrorCode != 0 || sp.BaseOffset != 8 {
		t.Fatalf("plain produce: %v at %d", kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset)
	}
	sp = fetchIsolated(t, c, topic, 5, 1)
	if got := recordOffsets(t, sp.RecordBatches); fmt.Sprint(got) != "[5 6 7 8]" || len(sp.AbortedTransactions) != 0 || sp.LastStableOffset != 9 {
		t.Fatalf("read_committed from 5: offsets %v, aborted %+v, lso %d; want [5 6 7 8], none, 9", got, sp.AbortedTransactions, sp.LastStableOffset)
	}

	// A read_committed kgo consumer sees the committed records only.
	cl := b.Client(t, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []int64
	for len(got) == 0 || got[len(got)-1] < 8 {
		fs := cl.PollFetches(t.Context())
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, r.Offset) })
	}
	if fmt.Sprint(got) != "[3 5 6 8]" {
		t.Fatalf("read_committed consumer got offsets %v, want [3 5 6 8]", got)
	}

	// A marker for a partition this broker does not know.
	if err := b.WriteTxnMarker(t.Context(), metadata.PartitionKey{Topic: key.Topic, Partition: 5}, abort); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("marker for an unknown partition: %v", err)
	}
}

func TestDescribeProducers(t *testing.T) {
	b := brokertest.Start(t)
	const topic = "dp"
	createTopic(t, b, topic, 1, nil)
	c := b.Dial(t)
	pid, epoch := beginTxn(t, c, "tx", topic)
	if sp := produceTxn(t, c, ptr("tx"), topic, txnRecords(t, pid, epoch, 0, 3)); sp.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(sp.ErrorCode))
	}
	req := kmsg.NewPtrDescribeProducersRequest()
	rt := kmsg.NewDescribeProducersRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{0, 9}
	req.Topics = append(req.Topics, rt)
	resp := c.RoundTrip(req).(*kmsg.DescribeProducersResponse)
	parts := resp.Topics[0].Partitions
	if len(parts) != 2 || parts[0].ErrorCode != 0 || len(parts[0].ActiveProducers) != 1 {
		t.Fatalf("describe producers: %+v", parts)
	}
	ap := parts[0].ActiveProducers[0]
	if ap.ProducerID != pid || ap.ProducerEpoch != int32(epoch) || ap.LastSequence != 2 || ap.CurrentTxnStartOffset != 0 || ap.LastTimestamp < 0 {
		t.Fatalf("active producer %+v", ap)
	}
	wantCode(t, "unknown partition", parts[1].ErrorCode, kerr.UnknownTopicOrPartition)
}

// TestTxnProduceVerified: a producer's first transactional batch on a
// partition is checked with its coordinator (transaction protocol version
// 1): a partition not added to the transaction, or no transaction begun,
// gets INVALID_TXN_STATE and nothing is appended; a producer id that is
// not its transactional id's gets INVALID_PRODUCER_ID_MAPPING.
func TestTxnProduceVerified(t *testing.T) {
	b := brokertest.Start(t)
	const topic = "verified"
	createTopic(t, b, topic, 2, nil)
	c := b.Dial(t)
	pid, epoch := beginTxn(t, c, "tx-v", topic) // partition 0 added

	sp := produceTxnTo(t, c, ptr("tx-v"), topic, 1, txnRecords(t, pid, epoch, 0, 1))
	wantCode(t, "partition not added", sp.ErrorCode, kerr.InvalidTxnState)
	sp = produceTxnTo(t, c, ptr("tx-v"), topic, 0, txnRecords(t, pid+1, epoch, 0, 1))
	wantCode(t, "another producer id", sp.ErrorCode, kerr.InvalidProducerIDMapping)

	// A second id initialized but with no partition added: no transaction.
	tc := txnClient{t, c}
	var init *kmsg.InitProducerIDResponse
	until(t, func() int16 { init = tc.initPID("tx-idle", 60_000, 4, -1, -1); return init.ErrorCode })
	sp = produceTxnTo(t, c, ptr("tx-idle"), topic, 0, txnRecords(t, init.ProducerID, init.ProducerEpoch, 0, 1))
	wantCode(t, "no transaction begun", sp.ErrorCode, kerr.InvalidTxnState)

	if got := latest(t, c, topic, 0); got != 0 {
		t.Fatalf("partition 0 holds %d records, want none appended", got)
	}
	// The added partition takes the batch.
	if sp := produceTxnTo(t, c, ptr("tx-v"), topic, 0, txnRecords(t, pid, epoch, 0, 2)); sp.ErrorCode != 0 || sp.BaseOffset != 0 {
		t.Fatalf("batch to the added partition: %v at %d", kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset)
	}
}
