package e2e

// Transactions on one broker (issue 19): isolation (read_committed,
// last_stable_offset, aborted_transactions), the automatic abort of a hung
// transaction, zombie fencing, transactional offset commits, and
// read_committed over data compacted and archived in the object store.
//
// Raw requests (kafkaConn, badinput_test.go) check what the protocol says
// exactly: offsets, control batches, error codes; franz-go clients check
// what an application sees.

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnWithin bounds every wait for the broker to do something on its own
// (write a marker, abort a hung transaction, compact): a liveness guard.
const txnWithin = 60 * time.Second

// txnSingle wraps one broker as a txnCluster, for its readers and requests.
func txnSingle(t *testing.T, s *Strata) *txnCluster {
	return &txnCluster{brokerSet{t: t, start: time.Now(), brokers: []*Strata{s}, clientLog: newRingLog(t, "clients", 400)}}
}

// --- raw transactional requests ------------------------------------------------

// txnRetriable are the codes a transactional client retries (the
// coordinator codes, which every group client retries too).
var txnRetriable = []int16{
	kerr.ConcurrentTransactions.Code, kerr.CoordinatorLoadInProgress.Code,
	kerr.CoordinatorNotAvailable.Code, kerr.NotCoordinator.Code,
}

// txnRetry repeats do while it answers a code a client retries, and returns
// the last code.
func txnRetry(t *testing.T, what string, do func() int16) int16 {
	t.Helper()
	deadline := time.Now().Add(txnWithin)
	for {
		code := do()
		if !slices.Contains(txnRetriable, code) {
			return code
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %s after %s", what, codeName(code), txnWithin)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// txnInit is InitProducerId for a transactional id.
func txnInit(t *testing.T, k *kafkaConn, txnID string, timeoutMs int32) producer {
	t.Helper()
	var pr producer
	code := txnRetry(t, "InitProducerId "+txnID, func() int16 {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr(txnID), timeoutMs
		req.ProducerID, req.ProducerEpoch = -1, -1
		resp := k.request(req, 0).(*kmsg.InitProducerIDResponse)
		pr = producer{id: resp.ProducerID, epoch: resp.ProducerEpoch}
		return resp.ErrorCode
	})
	wantCode(t, "InitProducerId "+txnID, code, nil)
	if code != 0 {
		t.FailNow()
	}
	return pr
}

// txnAddPartitions is AddPartitionsToTxn (v3 at most: the client form) for
// one partition; it returns the partition's code.
func txnAddPartitions(t *testing.T, k *kafkaConn, txnID string, pr producer, topic string, p int32) int16 {
	t.Helper()
	return txnRetry(t, "AddPartitionsToTxn "+txnID, func() int16 {
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = txnID, pr.id, pr.epoch
		rt := kmsg.NewAddPartitionsToTxnRequestTopic()
		rt.Topic, rt.Partitions = topic, []int32{p}
		req.Topics = append(req.Topics, rt)
		resp := k.request(req, 3).(*kmsg.AddPartitionsToTxnResponse)
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if rt.Topic == topic && rp.Partition == p {
					return rp.ErrorCode
				}
			}
		}
		t.Fatalf("AddPartitionsToTxn %s: no answer for %s/%d", txnID, topic, p)
		return 0
	})
}

// txnAddOffsets is AddOffsetsToTxn.
func txnAddOffsets(t *testing.T, k *kafkaConn, txnID string, pr producer, group string) int16 {
	t.Helper()
	return txnRetry(t, "AddOffsetsToTxn "+txnID, func() int16 {
		req := kmsg.NewPtrAddOffsetsToTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = txnID, pr.id, pr.epoch, group
		return k.request(req, 0).(*kmsg.AddOffsetsToTxnResponse).ErrorCode
	})
}

// txnEnd is EndTxn (v4 at most: v5 is KIP-890's transaction version 2).
func txnEnd(t *testing.T, k *kafkaConn, txnID string, pr producer, commit bool) int16 {
	t.Helper()
	return txnRetry(t, "EndTxn "+txnID, func() int16 {
		req := kmsg.NewPtrEndTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = txnID, pr.id, pr.epoch, commit
		return k.request(req, 4).(*kmsg.EndTxnResponse).ErrorCode
	})
}

// txnEncodeBatch is encodeBatch with the transactional attribute.
func txnEncodeBatch(pr producer, values [][]byte) []byte {
	b := encodeBatch(pr, values)
	binary.BigEndian.PutUint16(b[21:], 0x10) // transactional, no compression, create time
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// txnProduce produces values in one transactional batch of pr (acks=all)
// and returns the partition's code and base offset.
func txnProduce(t *testing.T, k *kafkaConn, txnID string, pr producer, topic string, p int32, values ...string) (int16, int64) {
	t.Helper()
	var vs [][]byte
	for _, v := range values {
		vs = append(vs, []byte(v))
	}
	req := kmsg.NewPtrProduceRequest()
	req.TransactionID, req.Acks, req.TimeoutMillis = kmsg.StringPtr(txnID), -1, 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = p, txnEncodeBatch(pr, vs)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	got := producePartition(t, k.request(req, 0).(*kmsg.ProduceResponse), topic, p)
	return got.ErrorCode, got.BaseOffset
}

// txnFetch is one Fetch of a partition from offset with the isolation level
// (0 read_uncommitted, 1 read_committed), waiting at most 100ms.
func txnFetch(t *testing.T, k *kafkaConn, topic string, p int32, offset int64, isolation int8) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 100, 1, 8<<20
	req.IsolationLevel = isolation
	req.SessionID, req.SessionEpoch = 0, -1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes = p, offset, 4<<20
	fp.CurrentLeaderEpoch, fp.LogStartOffset, fp.LastFetchedEpoch = -1, -1, -1
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	resp := k.request(req, 0).(*kmsg.FetchResponse)
	wantCode(t, "Fetch (top level)", resp.ErrorCode, nil)
	if req.GetVersion() < 4 {
		t.Fatalf("Fetch v%d has no isolation level", req.GetVersion())
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rt.Topic == topic && rp.Partition == p {
				wantCode(t, fmt.Sprintf("Fetch %s/%d at %d (isolation %d)", topic, p, offset, isolation), rp.ErrorCode, nil)
				return rp
			}
		}
	}
	t.Fatalf("Fetch response has no partition %s/%d", topic, p)
	return kmsg.FetchResponseTopicPartition{}
}

// txnListLatest is ListOffsets latest with the isolation level: the high
// watermark (0) or the last stable offset (1).
func txnListLatest(t *testing.T, k *kafkaConn, topic string, p int32, isolation int8) int64 {
	t.Helper()
	req := listOffsetsRequest(topic, p, -1)
	req.IsolationLevel = isolation
	resp := k.request(req, 0).(*kmsg.ListOffsetsResponse)
	if req.GetVersion() < 2 {
		t.Fatalf("ListOffsets v%d has no isolation level", req.GetVersion())
	}
	rp := resp.Topics[0].Partitions[0]
	wantCode(t, fmt.Sprintf("ListOffsets %s/%d (isolation %d)", topic, p, isolation), rp.ErrorCode, nil)
	return rp.Offset
}

// txnAwaitStable waits until the last stable offset of the partition is its
// high watermark and the high watermark is at least hwm (every marker
// written), and returns the high watermark.
func txnAwaitStable(t *testing.T, k *kafkaConn, topic string, p int32, hwm int64) int64 {
	t.Helper()
	deadline := time.Now().Add(txnWithin)
	for {
		h, lso := txnListLatest(t, k, topic, p, 0), txnListLatest(t, k, topic, p, 1)
		if lso == h && h >= hwm {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/%d: last stable offset %d, high watermark %d after %s; want both at %d or more (a transaction's marker missing?)",
				topic, p, lso, h, txnWithin, hwm)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// txnBatchInfo is what a record batch says about itself.
type txnBatchInfo struct {
	Base, Last    int64
	PID           int64
	Epoch         int16
	Txn, Control  bool
	ControlType   int16    // 0 abort, 1 commit; -1 when not a control batch
	Values        []string // of an uncompressed data batch
	compressionOK bool
}

func (b txnBatchInfo) String() string {
	kind := "data"
	switch {
	case b.Control && b.ControlType == 0:
		kind = "ABORT"
	case b.Control && b.ControlType == 1:
		kind = "COMMIT"
	case b.Control:
		kind = fmt.Sprintf("control type %d", b.ControlType)
	}
	return fmt.Sprintf("%d-%d %s pid %d epoch %d txn %v", b.Base, b.Last, kind, b.PID, b.Epoch, b.Txn)
}

// txnBatches parses the record batches of a fetch answer (a trailing
// partial batch is left out).
func txnBatches(t *testing.T, raw []byte) []txnBatchInfo {
	t.Helper()
	var out []txnBatchInfo
	for len(raw) >= 12 {
		n := 12 + int(int32(binary.BigEndian.Uint32(raw[8:12])))
		if n > len(raw) {
			break
		}
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(raw[:n]); err != nil {
			t.Fatalf("record batch: %v", err)
		}
		raw = raw[n:]
		b := txnBatchInfo{Base: rb.FirstOffset, Last: rb.FirstOffset + int64(rb.LastOffsetDelta), PID: rb.ProducerID,
			Epoch: rb.ProducerEpoch, Txn: rb.Attributes&0x10 != 0, Control: rb.Attributes&0x20 != 0, ControlType: -1,
			compressionOK: rb.Attributes&0x07 == 0}
		if b.compressionOK {
			recs := rb.Records
			for range rb.NumRecords {
				l, w := binary.Varint(recs)
				if w <= 0 || int(l)+w > len(recs) {
					t.Fatalf("batch at %d: malformed record", b.Base)
				}
				var r kmsg.Record
				if err := r.ReadFrom(recs[:w+int(l)]); err != nil {
					t.Fatalf("batch at %d: record: %v", b.Base, err)
				}
				recs = recs[w+int(l):]
				if b.Control {
					if len(r.Key) >= 4 {
						b.ControlType = int16(binary.BigEndian.Uint16(r.Key[2:4]))
					}
				} else {
					b.Values = append(b.Values, string(r.Value))
				}
			}
		}
		out = append(out, b)
	}
	return out
}

// txnLog is every batch of a partition from offset 0, read_uncommitted.
func txnLog(t *testing.T, k *kafkaConn, topic string, p int32) []txnBatchInfo {
	t.Helper()
	hwm := txnListLatest(t, k, topic, p, 0)
	var out []txnBatchInfo
	for next := int64(0); next < hwm; {
		bs := txnBatches(t, txnFetch(t, k, topic, p, next, 0).RecordBatches)
		if len(bs) == 0 {
			t.Fatalf("%s/%d: read_uncommitted fetch at %d (high watermark %d) returned no batch", topic, p, next, hwm)
		}
		for _, b := range bs {
			if b.Last >= next {
				out = append(out, b)
				next = b.Last + 1
			}
		}
	}
	return out
}

// txnBatchAt is the batch holding offset o.
func txnBatchAt(bs []txnBatchInfo, o int64) (txnBatchInfo, bool) {
	for _, b := range bs {
		if b.Base <= o && o <= b.Last {
			return b, true
		}
	}
	return txnBatchInfo{}, false
}

// txnValues is the values of what a reader read, in order, with offsets.
func txnValues(rs []txnRead) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%d:%s", r.Offset, r.Value))
	}
	return out
}

// txnTransact runs one transaction of cl producing values to partition 0
// and ends it; it returns the records' offsets.
func txnTransact(t *testing.T, cl *kgo.Client, topic string, commit bool, values ...string) []int64 {
	t.Helper()
	ctx := testContext(t, txnWithin)
	if err := cl.BeginTransaction(); err != nil {
		t.Fatalf("begin: %v", err)
	}
	offsets := txnProduceSync(t, cl, topic, values...)
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatalf("end transaction (commit %v): %v", commit, err)
	}
	return offsets
}

// txnProduceSync produces values to partition 0 and returns their offsets.
func txnProduceSync(t *testing.T, cl *kgo.Client, topic string, values ...string) []int64 {
	t.Helper()
	ctx := testContext(t, txnWithin)
	var rs []*kgo.Record
	for _, v := range values {
		rs = append(rs, &kgo.Record{Topic: topic, Partition: 0, Key: []byte(strings.SplitN(v, "=", 2)[0]), Value: []byte(v)})
	}
	results := cl.ProduceSync(ctx, rs...)
	if err := results.FirstErr(); err != nil {
		t.Fatalf("produce %v: %v", values, err)
	}
	var out []int64
	for _, r := range results {
		out = append(out, r.Record.Offset)
	}
	return out
}

// --- TestTxnIsolation -------------------------------------------------------------

// TestTxnIsolation, on one broker: an aborted transaction's records are
// invisible to read_committed and visible to read_uncommitted, with an
// ABORT and a COMMIT control batch where Kafka puts them and the aborted
// transaction listed in a read_committed fetch; while a transaction is open
// the last stable offset stays at its first offset while the high watermark
// moves past it, and moves once it commits; a hung transaction is aborted
// by the broker after its transaction.timeout.ms; a zombie producer is
// fenced once another takes its transactional id.
func TestTxnIsolation(t *testing.T) {
	s := StartStrata(t, Options{})
	c := txnSingle(t, s)
	const topic = "txn-isolation"
	ensureTopic(t, s, topic, 1, nil)
	k := dialKafka(t, s)
	txnClient := func(id string, opts ...kgo.Opt) *kgo.Client {
		return c.client(append([]kgo.Opt{kgo.TransactionalID(id), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.ProducerBatchCompression(kgo.NoCompression())}, opts...)...)
	}
	plain := c.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	read := func(level kgo.IsolationLevel, name string, through int64) []string {
		return txnValues(c.txnReadAll(topic, level, name, map[int32]int64{0: through}))
	}

	// An aborted transaction, then a committed one, of the same producer.
	a := txnClient("iso-a")
	aborted := txnTransact(t, a, topic, false, "a=aborted-0", "a=aborted-1", "a=aborted-2")
	committed := txnTransact(t, a, topic, true, "a=committed-0", "a=committed-1", "a=committed-2")
	if !slices.Equal(aborted, []int64{0, 1, 2}) || !slices.Equal(committed, []int64{4, 5, 6}) {
		t.Fatalf("aborted records at %v, committed ones at %v; want 0-2, then 4-6 after the ABORT marker at 3", aborted, committed)
	}
	txnAwaitStable(t, k, topic, 0, 8) // the COMMIT marker at 7
	log := txnLog(t, k, topic, 0)
	pidA := log[0].PID
	for _, want := range []struct {
		at   int64
		desc string
		ok   func(b txnBatchInfo) bool
	}{
		{0, "a transactional data batch", func(b txnBatchInfo) bool { return b.Txn && !b.Control && b.Base == 0 && b.Last == 2 }},
		{3, "an ABORT marker of the same producer", func(b txnBatchInfo) bool {
			return b.Control && b.Txn && b.ControlType == 0 && b.PID == pidA && b.Base == 3 && b.Last == 3
		}},
		{4, "a transactional data batch of the same producer", func(b txnBatchInfo) bool { return b.Txn && !b.Control && b.PID == pidA }},
		{7, "a COMMIT marker of the same producer", func(b txnBatchInfo) bool {
			return b.Control && b.Txn && b.ControlType == 1 && b.PID == pidA && b.Base == 7 && b.Last == 7
		}},
	} {
		if b, ok := txnBatchAt(log, want.at); !ok || !want.ok(b) {
			t.Errorf("offset %d: want %s; the log is %v", want.at, want.desc, log)
		}
	}
	fp := txnFetch(t, k, topic, 0, 0, 1)
	if fp.LastStableOffset != 8 || fp.HighWatermark != 8 {
		t.Errorf("read_committed fetch: last stable offset %d, high watermark %d; want 8 and 8", fp.LastStableOffset, fp.HighWatermark)
	}
	if len(fp.AbortedTransactions) != 1 || fp.AbortedTransactions[0].ProducerID != pidA || fp.AbortedTransactions[0].FirstOffset != 0 {
		t.Errorf("read_committed fetch from 0: aborted transactions %+v; want producer %d from offset 0", fp.AbortedTransactions, pidA)
	}
	if got, want := read(kgo.ReadCommitted(), "read_committed", 6), []string{"4:a=committed-0", "5:a=committed-1", "6:a=committed-2"}; !slices.Equal(got, want) {
		t.Errorf("read_committed: %v, want %v", got, want)
	}
	if got, want := read(kgo.ReadUncommitted(), "read_uncommitted", 6),
		[]string{"0:a=aborted-0", "1:a=aborted-1", "2:a=aborted-2", "4:a=committed-0", "5:a=committed-1", "6:a=committed-2"}; !slices.Equal(got, want) {
		t.Errorf("read_uncommitted: %v, want %v", got, want)
	}

	// An open transaction holds the last stable offset at its first
	// offset while records after it raise the high watermark.
	b := txnClient("iso-b")
	if err := b.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	open := txnProduceSync(t, b, topic, "b=open-0", "b=open-1")
	after := txnProduceSync(t, plain, topic, "p=plain-0", "p=plain-1")
	if !slices.Equal(open, []int64{8, 9}) || !slices.Equal(after, []int64{10, 11}) {
		t.Fatalf("open transaction's records at %v, plain ones at %v; want 8-9 and 10-11", open, after)
	}
	if hwm, lso := txnListLatest(t, k, topic, 0, 0), txnListLatest(t, k, topic, 0, 1); hwm != 12 || lso != 8 {
		t.Errorf("with a transaction open from offset 8: ListOffsets latest %d (read_uncommitted), %d (read_committed); want 12 and 8", hwm, lso)
	}
	fp = txnFetch(t, k, topic, 0, 0, 1)
	if fp.LastStableOffset != 8 || fp.HighWatermark != 12 {
		t.Errorf("read_committed fetch with a transaction open from offset 8: last stable offset %d, high watermark %d; want 8 and 12", fp.LastStableOffset, fp.HighWatermark)
	}
	for _, bi := range txnBatches(t, fp.RecordBatches) {
		if bi.Last >= 8 {
			t.Errorf("read_committed fetch returned batch %v, at or past the last stable offset 8", bi)
		}
	}
	if bs := txnBatches(t, txnFetch(t, k, topic, 0, 8, 0).RecordBatches); len(bs) == 0 || bs[0].Base != 8 || !bs[0].Txn {
		t.Errorf("read_uncommitted fetch at 8: %v; want the open transaction's records first", bs)
	}
	if err := b.EndTransaction(testContext(t, txnWithin), kgo.TryCommit); err != nil {
		t.Fatalf("commit the open transaction: %v", err)
	}
	txnAwaitStable(t, k, topic, 0, 13) // its COMMIT marker at 12
	want := []string{"4:a=committed-0", "5:a=committed-1", "6:a=committed-2", "8:b=open-0", "9:b=open-1", "10:p=plain-0", "11:p=plain-1"}
	if got := read(kgo.ReadCommitted(), "read_committed", 11); !slices.Equal(got, want) {
		t.Errorf("read_committed after the commit: %v, want %v", got, want)
	}

	// A hung transaction: begun, records produced, never ended. The broker
	// aborts it once its transaction.timeout.ms has passed.
	h := txnClient("iso-hung", kgo.TransactionTimeout(2*time.Second))
	if err := h.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	hung := txnProduceSync(t, h, topic, "h=hung-0", "h=hung-1")
	if !slices.Equal(hung, []int64{13, 14}) {
		t.Fatalf("hung transaction's records at %v; want 13-14", hung)
	}
	hwm := txnAwaitStable(t, k, topic, 0, 16) // the ABORT marker at 15
	log = txnLog(t, k, topic, 0)
	hb, _ := txnBatchAt(log, 13)
	if mb, ok := txnBatchAt(log, 15); !ok || !mb.Control || mb.ControlType != 0 || mb.PID != hb.PID || hwm != 16 {
		t.Errorf("after the hung transaction timed out: high watermark %d, batch at 15 %v; want an ABORT marker of producer %d at 15 and the high watermark 16", hwm, mb, hb.PID)
	}
	if mb, ok := txnBatchAt(log, 15); ok && mb.Epoch < hb.Epoch {
		t.Errorf("the ABORT marker of the hung transaction has epoch %d, below its records' %d", mb.Epoch, hb.Epoch)
	}
	fp = txnFetch(t, k, topic, 0, 13, 1)
	if !slices.ContainsFunc(fp.AbortedTransactions, func(at kmsg.FetchResponseTopicPartitionAbortedTransaction) bool {
		return at.ProducerID == hb.PID && at.FirstOffset == 13
	}) {
		t.Errorf("read_committed fetch from 13: aborted transactions %+v; want producer %d from offset 13", fp.AbortedTransactions, hb.PID)
	}
	// A record after the marker, for the readers to read up to.
	if later := txnProduceSync(t, plain, topic, "p=plain-2"); !slices.Equal(later, []int64{16}) {
		t.Fatalf("the record after the ABORT marker at %v, want 16", later)
	}
	want = append(want, "16:p=plain-2")
	if got := read(kgo.ReadCommitted(), "read_committed", 16); !slices.Equal(got, want) {
		t.Errorf("read_committed after the hung transaction timed out: %v, want %v", got, want)
	}
	if got := read(kgo.ReadUncommitted(), "read_uncommitted", 16); !slices.Contains(got, "13:h=hung-0") || !slices.Contains(got, "14:h=hung-1") {
		t.Errorf("read_uncommitted after the hung transaction timed out: %v; want its records at 13 and 14", got)
	}
	// Its producer cannot commit it any more.
	if err := h.EndTransaction(testContext(t, txnWithin), kgo.TryCommit); err == nil {
		t.Errorf("the hung producer committed its transaction after the broker aborted it")
	} else {
		t.Logf("the hung producer's commit after the timeout: %v", err)
	}

	// A zombie: a producer whose transactional id another producer
	// initialised again is fenced (its open transaction aborted).
	const zid = "iso-zombie"
	zombie := txnInit(t, k, zid, 60000)
	wantCode(t, "AddPartitionsToTxn (zombie, before)", txnAddPartitions(t, k, zid, zombie, topic, 0), nil)
	code, zoff := txnProduce(t, k, zid, zombie, topic, 0, "z=zombie-0")
	wantCode(t, "transactional Produce (zombie, before)", code, nil)
	zombie.seq++
	k2 := dialKafka(t, s)
	fresh := txnInit(t, k2, zid, 60000)
	if fresh.id != zombie.id || fresh.epoch <= zombie.epoch {
		t.Errorf("InitProducerId %s again: producer %d epoch %d; want producer %d with an epoch above %d", zid, fresh.id, fresh.epoch, zombie.id, zombie.epoch)
	}
	fenced := []int16{kerr.ProducerFenced.Code, kerr.InvalidProducerEpoch.Code}
	code, _ = txnProduce(t, k, zid, zombie, topic, 0, "z=zombie-1")
	if !slices.Contains(fenced, code) {
		t.Errorf("transactional Produce of the zombie (epoch %d, the producer now has %d): %s; want PRODUCER_FENCED or INVALID_PRODUCER_EPOCH", zombie.epoch, fresh.epoch, codeName(code))
	}
	if code := txnAddPartitions(t, k, zid, zombie, topic, 0); !slices.Contains(fenced, code) {
		t.Errorf("AddPartitionsToTxn of the zombie: %s; want PRODUCER_FENCED or INVALID_PRODUCER_EPOCH", codeName(code))
	}
	if code := txnEnd(t, k, zid, zombie, true); !slices.Contains(fenced, code) {
		t.Errorf("EndTxn (commit) of the zombie: %s; want PRODUCER_FENCED or INVALID_PRODUCER_EPOCH", codeName(code))
	}
	wantCode(t, "AddPartitionsToTxn (new producer)", txnAddPartitions(t, k2, zid, fresh, topic, 0), nil)
	code, foff := txnProduce(t, k2, zid, fresh, topic, 0, "z=fresh-0")
	wantCode(t, "transactional Produce (new producer)", code, nil)
	wantCode(t, "EndTxn commit (new producer)", txnEnd(t, k2, zid, fresh, true), nil)
	txnAwaitStable(t, k, topic, 0, foff+2)
	log = txnLog(t, k, topic, 0)
	if mb, ok := txnBatchAt(log, zoff+1); !ok || !mb.Control || mb.ControlType != 0 || mb.PID != zombie.id {
		t.Errorf("offset %d, after the zombie's record: %v; want the ABORT marker of producer %d (fenced by InitProducerId)", zoff+1, mb, zombie.id)
	}
	committedNow := read(kgo.ReadCommitted(), "read_committed", foff)
	if slices.ContainsFunc(committedNow, func(v string) bool { return strings.Contains(v, "zombie") }) ||
		!slices.Contains(committedNow, fmt.Sprintf("%d:z=fresh-0", foff)) {
		t.Errorf("read_committed after the zombie was fenced: %v; want the new producer's record at %d and no zombie's", committedNow, foff)
	}
	if got := read(kgo.ReadUncommitted(), "read_uncommitted", foff); !slices.Contains(got, fmt.Sprintf("%d:z=zombie-0", zoff)) {
		t.Errorf("read_uncommitted after the zombie was fenced: %v; want the zombie's record at %d", got, zoff)
	}
}

// --- TestTxnOffsets ----------------------------------------------------------------

// txnOffsetCommit is TxnOffsetCommit of offsets (partition → offset) for a
// group without members (generation -1); it returns the codes.
func txnOffsetCommit(t *testing.T, k *kafkaConn, txnID, group string, pr producer, topic string, offsets map[int32]int64) map[int32]int16 {
	t.Helper()
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = txnID, group, pr.id, pr.epoch
	req.Generation, req.MemberID = -1, ""
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = topic
	for _, p := range slices.Sorted(maps.Keys(offsets)) {
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = p, offsets[p], -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	out := map[int32]int16{}
	txnRetry(t, "TxnOffsetCommit "+txnID, func() int16 {
		resp := k.request(req, 5).(*kmsg.TxnOffsetCommitResponse) // v6+ names topics by id
		var retry int16
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				out[rp.Partition] = rp.ErrorCode
				if slices.Contains(txnRetriable, rp.ErrorCode) {
					retry = rp.ErrorCode
				}
			}
		}
		return retry
	})
	return out
}

// txnOffsetFetch is OffsetFetch (v7: one group, require_stable) of the
// partitions; it returns "offset" or the error's name per partition.
func txnOffsetFetch(t *testing.T, k *kafkaConn, group, topic string, parts []int32, requireStable bool) map[int32]string {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group, req.RequireStable = group, requireStable
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = topic, parts
	req.Topics = append(req.Topics, rt)
	resp := k.request(req, 7).(*kmsg.OffsetFetchResponse)
	if req.GetVersion() < 7 {
		t.Fatalf("OffsetFetch v%d has no require_stable", req.GetVersion())
	}
	out := map[int32]string{}
	if resp.ErrorCode == kerr.GroupIDNotFound.Code {
		// A group the coordinator does not know has no offsets: some
		// brokers say so for a group that has only pending ones.
		for _, p := range parts {
			out[p] = "-1"
		}
		return out
	}
	if resp.ErrorCode != 0 {
		t.Fatalf("OffsetFetch %s: %s", group, codeName(resp.ErrorCode))
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				out[rp.Partition] = codeName(rp.ErrorCode)
			} else {
				out[rp.Partition] = fmt.Sprint(rp.Offset)
			}
		}
	}
	return out
}

// txnAwaitOffsets waits until OffsetFetch answers want.
func txnAwaitOffsets(t *testing.T, k *kafkaConn, group, topic string, requireStable bool, want map[int32]string) {
	t.Helper()
	deadline := time.Now().Add(txnWithin)
	for {
		got := txnOffsetFetch(t, k, group, topic, slices.Sorted(maps.Keys(want)), requireStable)
		if maps.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("OffsetFetch %s (require_stable %v): %v after %s; want %v", group, requireStable, got, txnWithin, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTxnOffsets, on one broker: offsets committed in a transaction
// (TxnOffsetCommit) are invisible to OffsetFetch until the transaction
// commits and never visible if it aborts; while they are pending, an
// OffsetFetch with require_stable gets UNSTABLE_OFFSET_COMMIT for their
// partitions (and only theirs).
func TestTxnOffsets(t *testing.T) {
	s := StartStrata(t, Options{})
	const topic, group, txnID = "txn-offsets", "txn-offsets-group", "txn-offsets-id"
	ensureTopic(t, s, topic, 3, nil)
	k := dialKafka(t, s)
	parts := []int32{0, 1}
	// The group exists before the transactions: partition 2 (never
	// fetched below) has an offset committed outside them.
	// Right after the start the group's coordinator shard may still be
	// loading: retry as a client does.
	code := txnRetry(t, "OffsetCommit "+group, func() int16 {
		commit := k.request(groupsCommitRequest(group, -1, "", topic, 2, 3), 9).(*kmsg.OffsetCommitResponse) // v10+ names topics by id
		return commit.Topics[0].Partitions[0].ErrorCode
	})
	wantCode(t, "OffsetCommit "+group+" partition 2", code, nil)
	unstable := codeName(kerr.UnstableOffsetCommit.Code)
	check := func(what string, requireStable bool, want map[int32]string) {
		t.Helper()
		if got := txnOffsetFetch(t, k, group, topic, parts, requireStable); !maps.Equal(got, want) {
			t.Errorf("%s: OffsetFetch (require_stable %v): %v, want %v", what, requireStable, got, want)
		}
	}

	pr := txnInit(t, k, txnID, 60000)
	wantCode(t, "AddOffsetsToTxn", txnAddOffsets(t, k, txnID, pr, group), nil)
	for p, code := range txnOffsetCommit(t, k, txnID, group, pr, topic, map[int32]int64{0: 42}) {
		wantCode(t, fmt.Sprintf("TxnOffsetCommit %s/%d", topic, p), code, nil)
	}
	check("pending", false, map[int32]string{0: "-1", 1: "-1"})
	check("pending", true, map[int32]string{0: unstable, 1: "-1"})
	wantCode(t, "EndTxn commit", txnEnd(t, k, txnID, pr, true), nil)
	txnAwaitOffsets(t, k, group, topic, true, map[int32]string{0: "42", 1: "-1"})
	check("committed", false, map[int32]string{0: "42", 1: "-1"})

	// A second transaction of the same producer, aborted.
	wantCode(t, "AddOffsetsToTxn (second)", txnAddOffsets(t, k, txnID, pr, group), nil)
	for p, code := range txnOffsetCommit(t, k, txnID, group, pr, topic, map[int32]int64{0: 100, 1: 7}) {
		wantCode(t, fmt.Sprintf("TxnOffsetCommit (second) %s/%d", topic, p), code, nil)
	}
	check("pending (second)", false, map[int32]string{0: "42", 1: "-1"})
	check("pending (second)", true, map[int32]string{0: unstable, 1: unstable})
	wantCode(t, "EndTxn abort", txnEnd(t, k, txnID, pr, false), nil)
	txnAwaitOffsets(t, k, group, topic, true, map[int32]string{0: "42", 1: "-1"})
	check("aborted", false, map[int32]string{0: "42", 1: "-1"})

	// A third, whose producer is fenced by a new one before it ends: the
	// new InitProducerId aborts it, so its offsets never become visible.
	wantCode(t, "AddOffsetsToTxn (third)", txnAddOffsets(t, k, txnID, pr, group), nil)
	for p, code := range txnOffsetCommit(t, k, txnID, group, pr, topic, map[int32]int64{1: 9}) {
		wantCode(t, fmt.Sprintf("TxnOffsetCommit (third) %s/%d", topic, p), code, nil)
	}
	check("pending (third)", true, map[int32]string{0: "42", 1: unstable})
	fresh := txnInit(t, dialKafka(t, s), txnID, 60000)
	t.Logf("producer %d epoch %d fenced by epoch %d", pr.id, pr.epoch, fresh.epoch)
	txnAwaitOffsets(t, k, group, topic, true, map[int32]string{0: "42", 1: "-1"})
	check("fenced", false, map[int32]string{0: "42", 1: "-1"})
	// The group's own view, through a client.
	offs, err := kadm.NewClient(s.Client()).FetchOffsets(kadm.RequireStable(testContext(t, txnWithin)), group)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup(topic, 0); !ok || o.At != 42 {
		t.Errorf("kadm FetchOffsets %s: %s/0 at %+v (present %v), want 42", group, topic, o, ok)
	}
	if o, ok := offs.Lookup(topic, 1); ok && o.At >= 0 {
		t.Errorf("kadm FetchOffsets %s: %s/1 at %d, want none", group, topic, o.At)
	}
}

// --- TestTxnArchived ---------------------------------------------------------------

// TestTxnArchived, on a real etcd and MinIO: committed and aborted
// transactions of two producers, interleaved, with overlapping keys in a
// cleanup.policy=compact topic. Once the partition is archived and
// compacted, and again after a restart that leaves nothing but the object
// store (no disk cache), read_committed returns the latest committed value
// of each key and never an aborted record, read_uncommitted reads to the
// end through the control batches (offsets increasing, every record one
// that was produced there, every latest committed value present), and a
// read_committed fetch lists only the aborted transactions.
func TestTxnArchived(t *testing.T) {
	const topic, segmentBytes = "txn-archived", 65536
	s, etcd, _ := startExternal(t, "txnarchive", "--compaction-interval", "300ms", "--compaction-min-age", "0s", "--disk-cache-bytes", "0")
	c := txnSingle(t, s)
	ctx := testContext(t, 3*time.Minute)
	if _, err := kadm.NewClient(c.client()).CreateTopic(ctx, 1, 1, map[string]*string{
		"cleanup.policy": kadm.StringPtr("compact"), "min.compaction.lag.ms": kadm.StringPtr("0"),
		"segment.bytes": kadm.StringPtr(fmt.Sprint(segmentBytes)),
	}, topic); err != nil {
		t.Fatal(err)
	}
	opts := []kgo.Opt{kgo.RecordPartitioner(kgo.ManualPartitioner())}
	a := c.client(append(opts, kgo.TransactionalID("archived-a"))...)
	b := c.client(append(opts, kgo.TransactionalID("archived-b"))...)
	plain := c.client(opts...)

	produced := map[int64]string{} // offset → value
	latest := map[string]string{}  // key → latest committed value
	type abortedRange struct {
		producer    *kgo.Client
		first, last int64 // of the aborted transaction's records
	}
	var aborted []abortedRange
	keys := func(from, to int, round string) []string {
		var vs []string
		for i := from; i < to; i++ {
			vs = append(vs, fmt.Sprintf("k%d=%s", i, round))
		}
		return vs
	}
	note := func(cl *kgo.Client, offsets []int64, values []string, commit bool) {
		for i, o := range offsets {
			produced[o] = values[i]
			if commit {
				key, _, _ := strings.Cut(values[i], "=")
				latest[key] = values[i]
			}
		}
		if !commit {
			aborted = append(aborted, abortedRange{cl, offsets[0], offsets[len(offsets)-1]})
		}
	}
	round := func(cl *kgo.Client, commit bool, values []string) {
		note(cl, txnTransact(t, cl, topic, commit, values...), values, commit)
	}
	round(a, true, keys(0, 8, "c0"))
	round(a, false, keys(0, 8, "a1"))
	round(a, true, keys(0, 4, "c2"))
	round(a, false, keys(2, 8, "a3"))
	// b's transaction spans a's committed one: its abort range holds
	// records of a that read_committed must return.
	if err := b.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	bValues := keys(6, 8, "b4")
	bOffsets := txnProduceSync(t, b, topic, bValues...)
	round(a, true, keys(4, 6, "c5"))
	if err := b.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	note(b, bOffsets, bValues, false)
	round(a, false, keys(0, 8, "a6"))
	end := txnProduceSync(t, plain, topic, "end=end")[0]
	produced[end] = "end=end"
	latest["end"] = "end=end"
	// k0-k3: c2; k4-k5: c5; k6-k7: c0 (b4 aborted); end.
	want := slices.Sorted(maps.Values(latest))

	k := dialKafka(t, s)
	txnAwaitStable(t, k, topic, 0, end+1)
	pids := map[*kgo.Client]int64{}
	for _, cl := range []*kgo.Client{a, b} {
		id, _, err := cl.ProducerID(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pids[cl] = id
	}

	// committedValues is what read_committed returns, sorted, failing on
	// an aborted record or a record that was not produced where it is.
	committedValues := func(what string) []string {
		var out []string
		for _, r := range c.txnReadAll(topic, kgo.ReadCommitted(), what+" read_committed", map[int32]int64{0: end}) {
			if produced[r.Offset] != r.Value {
				t.Fatalf("%s: read_committed %d:%q; produced %q there", what, r.Offset, r.Value, produced[r.Offset])
			}
			if round := strings.SplitN(r.Value, "=", 2)[1]; strings.HasPrefix(round, "a") || strings.HasPrefix(round, "b") {
				t.Fatalf("%s: read_committed returned %d:%s, from an aborted transaction", what, r.Offset, r.Value)
			}
			out = append(out, r.Value)
		}
		slices.Sort(out)
		return out
	}
	checkUncommitted := func(what string) {
		t.Helper()
		seen := map[string]bool{}
		for _, r := range c.txnReadAll(topic, kgo.ReadUncommitted(), what+" read_uncommitted", map[int32]int64{0: end}) {
			if produced[r.Offset] != r.Value {
				t.Errorf("%s: read_uncommitted %d:%q; produced %q there (a control batch's offset?)", what, r.Offset, r.Value, produced[r.Offset])
			}
			seen[r.Value] = true
		}
		for _, v := range want {
			if !seen[v] {
				t.Errorf("%s: read_uncommitted lacks %q, the latest committed value of its key", what, v)
			}
		}
	}
	checkAbortedList := func(what string) {
		t.Helper()
		fp := txnFetch(t, k, topic, 0, 0, 1)
		if fp.LastStableOffset != fp.HighWatermark {
			t.Errorf("%s: read_committed fetch: last stable offset %d, high watermark %d; nothing is open", what, fp.LastStableOffset, fp.HighWatermark)
		}
		// Kafka lists each aborted transaction from its first offset;
		// a listed one must at least start within one of them, with its
		// producer.
		for _, at := range fp.AbortedTransactions {
			if !slices.ContainsFunc(aborted, func(r abortedRange) bool {
				return pids[r.producer] == at.ProducerID && r.first <= at.FirstOffset && at.FirstOffset <= r.last
			}) {
				var ranges []string
				for _, r := range aborted {
					ranges = append(ranges, fmt.Sprintf("producer %d %d-%d", pids[r.producer], r.first, r.last))
				}
				t.Errorf("%s: read_committed fetch lists aborted transaction %+v; the aborted ones are %s", what, at, strings.Join(ranges, ", "))
			}
		}
	}

	// Compaction may have begun: what read_committed returns holds at
	// least the latest committed value of each key.
	if got := committedValues("before compaction"); !txnHasAll(got, want) {
		t.Errorf("before compaction, read_committed: %v; want at least %v", got, want)
	}
	checkUncommitted("before compaction")

	awaitArchived(t, metadataStore(t, etcd.Endpoint), topic, segmentBytes)
	deadline := time.Now().Add(txnWithin)
	for {
		got := committedValues("compacted")
		if slices.Equal(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("archived, but read_committed is %v after %s; want the latest committed value of each key %v", got, txnWithin, want)
		}
		time.Sleep(300 * time.Millisecond)
	}
	checkUncommitted("compacted")
	checkAbortedList("compacted")

	if code := s.Stop(); code != 0 {
		t.Fatalf("graceful stop exited %d", code)
	}
	s.Restart()
	k = dialKafka(t, s)
	if got := committedValues("after a restart"); !slices.Equal(got, want) {
		t.Errorf("after a restart, read_committed from the object store: %v, want %v", got, want)
	}
	checkUncommitted("after a restart")
	checkAbortedList("after a restart")
}

// txnHasAll reports whether every value of want is in got.
func txnHasAll(got, want []string) bool {
	for _, w := range want {
		if !slices.Contains(got, w) {
			return false
		}
	}
	return true
}
