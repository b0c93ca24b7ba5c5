package broker_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker/brokertest"
)

// txnClient sends the transaction coordinator's requests at the versions
// given, on a connection to the one broker, which coordinates every
// transactional id.
type txnClient struct {
	t  *testing.T
	cn *brokertest.Conn
}

func (c txnClient) do(req kmsg.Request) kmsg.Response {
	c.t.Helper()
	return c.cn.RoundTrip(req)
}

// until repeats do while it answers a retriable coordinator error
// (CONCURRENT_TRANSACTIONS while markers are written, the shard loading)
// and returns the first other answer.
func until(t *testing.T, do func() int16) int16 {
	t.Helper()
	for {
		code := do()
		switch kerr.ErrorForCode(code) {
		case kerr.ConcurrentTransactions, kerr.CoordinatorLoadInProgress, kerr.NotCoordinator, kerr.CoordinatorNotAvailable:
		default:
			return code
		}
		select {
		case <-t.Context().Done():
			t.Fatal("the coordinator never settled")
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (c txnClient) initPID(id string, timeoutMs int32, version int16, pid int64, epoch int16) *kmsg.InitProducerIDResponse {
	req := kmsg.NewPtrInitProducerIDRequest()
	req.SetVersion(version)
	req.TransactionalID, req.TransactionTimeoutMillis = &id, timeoutMs
	req.ProducerID, req.ProducerEpoch = pid, epoch
	return c.do(req).(*kmsg.InitProducerIDResponse)
}

// addPartitions returns every partition's code, topic by topic.
func (c txnClient) addPartitions(id string, version int16, pid int64, epoch int16, topics map[string][]int32) map[string][]int16 {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.SetVersion(version)
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, pid, epoch
	for topic, ps := range topics {
		rt := kmsg.NewAddPartitionsToTxnRequestTopic()
		rt.Topic, rt.Partitions = topic, ps
		req.Topics = append(req.Topics, rt)
	}
	out := map[string][]int16{}
	for _, rt := range c.do(req).(*kmsg.AddPartitionsToTxnResponse).Topics {
		for _, p := range rt.Partitions {
			out[rt.Topic] = append(out[rt.Topic], p.ErrorCode)
		}
	}
	return out
}

// addPartition adds one partition and returns its code.
func (c txnClient) addPartition(id string, pid int64, epoch int16, topic string, p int32) int16 {
	return c.addPartitions(id, 3, pid, epoch, map[string][]int32{topic: {p}})[topic][0]
}

func (c txnClient) addOffsets(id string, pid int64, epoch int16, group string) int16 {
	req := kmsg.NewPtrAddOffsetsToTxnRequest()
	req.SetVersion(3)
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = id, pid, epoch, group
	return c.do(req).(*kmsg.AddOffsetsToTxnResponse).ErrorCode
}

func (c txnClient) endTxn(id string, version int16, pid int64, epoch int16, commit bool) int16 {
	req := kmsg.NewPtrEndTxnRequest()
	req.SetVersion(version)
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
	return c.do(req).(*kmsg.EndTxnResponse).ErrorCode
}

func (c txnClient) describe(id string) kmsg.DescribeTransactionsResponseTransactionState {
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.TransactionalIDs = []string{id}
	return c.do(req).(*kmsg.DescribeTransactionsResponse).TransactionStates[0]
}

// waitState waits until the transactional id's record is in state.
func (c txnClient) waitState(id, state string) kmsg.DescribeTransactionsResponseTransactionState {
	c.t.Helper()
	for {
		st := c.describe(id)
		if st.ErrorCode == 0 && st.State == state {
			return st
		}
		select {
		case <-c.t.Context().Done():
			c.t.Fatalf("%s never reached %s: last %+v", id, state, st)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestTxnCoordinatorLifecycle drives a transactional id through the
// coordinator with the protocol's requests: InitProducerId, adding
// partitions and a group, EndTxn, the markers' completion, epoch fencing
// and the errors Kafka gives on the way.
func TestTxnCoordinatorLifecycle(t *testing.T) {
	b := brokertest.Start(t)
	createTopic(t, b, "txn-topic", 2, nil)
	c := txnClient{t: t, cn: b.Dial(t)}
	const id = "lifecycle"

	if code := c.initPID(id, int32((16 * time.Minute).Milliseconds()), 4, -1, -1).ErrorCode; !errors.Is(kerr.ErrorForCode(code), kerr.InvalidTransactionTimeout) {
		t.Errorf("timeout above the maximum: %v", kerr.ErrorForCode(code))
	}
	var init *kmsg.InitProducerIDResponse
	until(t, func() int16 { init = c.initPID(id, 60_000, 4, -1, -1); return init.ErrorCode })
	wantCode(t, "InitProducerId", init.ErrorCode, nil)
	pid, epoch := init.ProducerID, init.ProducerEpoch
	if pid < 0 || epoch != 0 {
		t.Fatalf("new transactional id: producer %d epoch %d", pid, epoch)
	}
	wantCode(t, "EndTxn with no transaction", c.endTxn(id, 3, pid, epoch, true), kerr.InvalidTxnState)

	// An unknown topic fails the request: the others are not attempted.
	codes := c.addPartitions(id, 3, pid, epoch, map[string][]int32{"txn-topic": {0, 1}, "no-such-topic": {0}})
	wantCode(t, "unknown topic", codes["no-such-topic"][0], kerr.UnknownTopicOrPartition)
	for _, code := range codes["txn-topic"] {
		wantCode(t, "known topic beside an unknown one", code, kerr.OperationNotAttempted)
	}
	wantCode(t, "partition past the topic's", c.addPartition(id, pid, epoch, "txn-topic", 2), kerr.UnknownTopicOrPartition)
	if st := c.describe(id); st.State != "Empty" {
		t.Errorf("after refused adds: %+v", st)
	}

	for p := range int32(2) {
		wantCode(t, "AddPartitionsToTxn", c.addPartition(id, pid, epoch, "txn-topic", p), nil)
	}
	wantCode(t, "AddOffsetsToTxn", c.addOffsets(id, pid, epoch, "txn-group"), nil)
	wantCode(t, "AddPartitionsToTxn other producer", c.addPartition(id, pid+1, epoch, "txn-topic", 0), kerr.InvalidProducerIDMapping)
	wantCode(t, "AddPartitionsToTxn newer epoch v3", c.addPartition(id, pid, epoch+1, "txn-topic", 0), kerr.ProducerFenced)
	wantCode(t, "AddPartitionsToTxn newer epoch v1", c.addPartitions(id, 1, pid, epoch+1, map[string][]int32{"txn-topic": {0}})["txn-topic"][0], kerr.InvalidProducerEpoch)

	st := c.describe(id)
	if st.ErrorCode != 0 || st.State != "Ongoing" || st.ProducerID != pid || st.TimeoutMillis != 60_000 || st.StartTimestamp <= 0 ||
		len(st.Topics) != 1 || st.Topics[0].Topic != "txn-topic" || !slices.Equal(st.Topics[0].Partitions, []int32{0, 1}) {
		t.Errorf("ongoing transaction described as %+v", st)
	}
	list := func(states []string, pids []int64) *kmsg.ListTransactionsResponse {
		req := kmsg.NewPtrListTransactionsRequest()
		req.SetVersion(1)
		req.StateFilters, req.ProducerIDFilters, req.DurationFilterMillis = states, pids, -1
		return c.do(req).(*kmsg.ListTransactionsResponse)
	}
	if l := list([]string{"Ongoing", "Bogus"}, nil); len(l.TransactionStates) != 1 || l.TransactionStates[0].TransactionalID != id ||
		l.TransactionStates[0].ProducerID != pid || !slices.Equal(l.UnknownStateFilters, []string{"Bogus"}) {
		t.Errorf("ListTransactions Ongoing: %+v", l)
	}
	if l := list([]string{"Empty"}, nil); len(l.TransactionStates) != 0 {
		t.Errorf("ListTransactions Empty: %+v", l.TransactionStates)
	}
	if l := list(nil, []int64{pid + 1}); len(l.TransactionStates) != 0 {
		t.Errorf("ListTransactions of another producer: %+v", l.TransactionStates)
	}

	wantCode(t, "EndTxn old epoch v1", c.endTxn(id, 1, pid, epoch-1, true), kerr.InvalidProducerEpoch)
	wantCode(t, "EndTxn old epoch v3", c.endTxn(id, 3, pid, epoch-1, true), kerr.ProducerFenced)
	wantCode(t, "EndTxn commit", c.endTxn(id, 3, pid, epoch, true), nil)
	// Until the markers are written the transaction is ending: a retry of
	// the commit is CONCURRENT_TRANSACTIONS, an abort INVALID_TXN_STATE.
	if code := c.endTxn(id, 3, pid, epoch, false); code != kerr.InvalidTxnState.Code {
		t.Errorf("EndTxn abort after commit: %v", kerr.ErrorForCode(code))
	}
	wantCode(t, "EndTxn commit retried", until(t, func() int16 { return c.endTxn(id, 3, pid, epoch, true) }), nil)
	done := c.waitState(id, "CompleteCommit")
	if len(done.Topics) != 0 || done.ProducerEpoch != epoch {
		t.Errorf("committed transaction described as %+v", done)
	}
	if got := txnMetric(t, b, "strata_transactions_committed_total"); got != 1 {
		t.Errorf("committed transactions counted: %v, want 1", got)
	}

	// A new transaction, then a new producer of the same id: the ongoing
	// transaction is aborted under a bumped epoch and the new producer
	// gets CONCURRENT_TRANSACTIONS until it is, then an epoch of its own.
	wantCode(t, "second transaction", until(t, func() int16 { return c.addPartition(id, pid, epoch, "txn-topic", 1) }), nil)
	wantCode(t, "InitProducerId over an ongoing transaction", c.initPID(id, 60_000, 4, -1, -1).ErrorCode, kerr.ConcurrentTransactions)
	until(t, func() int16 { init = c.initPID(id, 60_000, 4, -1, -1); return init.ErrorCode })
	wantCode(t, "InitProducerId after the abort", init.ErrorCode, nil)
	if init.ProducerID != pid || init.ProducerEpoch != epoch+2 {
		t.Errorf("new producer: %d epoch %d, want %d epoch %d", init.ProducerID, init.ProducerEpoch, pid, epoch+2)
	}
	if st := c.describe(id); st.State != "Empty" {
		t.Errorf("after the new producer: %+v", st)
	}
	wantCode(t, "the old producer's EndTxn", c.endTxn(id, 3, pid, epoch, false), kerr.ProducerFenced)

	// KIP-360: the producer bumps its own epoch; a retry of that gets the
	// same epoch; an old epoch is fenced.
	e := init.ProducerEpoch
	bump := c.initPID(id, 60_000, 4, pid, e)
	wantCode(t, "KIP-360 bump", bump.ErrorCode, nil)
	if bump.ProducerID != pid || bump.ProducerEpoch != e+1 {
		t.Errorf("KIP-360 bump: %d epoch %d", bump.ProducerID, bump.ProducerEpoch)
	}
	retry := c.initPID(id, 60_000, 4, pid, e)
	if retry.ErrorCode != 0 || retry.ProducerEpoch != e+1 {
		t.Errorf("KIP-360 retry: %v epoch %d", kerr.ErrorForCode(retry.ErrorCode), retry.ProducerEpoch)
	}
	wantCode(t, "KIP-360 old epoch v4", c.initPID(id, 60_000, 4, pid, e-1).ErrorCode, kerr.ProducerFenced)
	wantCode(t, "KIP-360 old epoch v3", c.initPID(id, 60_000, 3, pid, e-1).ErrorCode, kerr.InvalidProducerEpoch)
}

// txnMetric is the value of one of the broker's unlabelled metrics.
func txnMetric(t *testing.T, b *brokertest.Broker, name string) float64 {
	t.Helper()
	mfs, err := b.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name || len(mf.Metric) != 1 {
			continue
		}
		m := mf.Metric[0]
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestTxnTimeout: an ongoing transaction older than its timeout is aborted
// by its coordinator under a bumped epoch, which fences its producer.
func TestTxnTimeout(t *testing.T) {
	b := brokertest.Start(t)
	createTopic(t, b, "txn-timeout", 1, nil)
	c := txnClient{t: t, cn: b.Dial(t)}
	const id = "times-out"
	var init *kmsg.InitProducerIDResponse
	until(t, func() int16 { init = c.initPID(id, 1, 4, -1, -1); return init.ErrorCode })
	wantCode(t, "InitProducerId", init.ErrorCode, nil)
	pid, epoch := init.ProducerID, init.ProducerEpoch
	wantCode(t, "AddPartitionsToTxn", c.addPartition(id, pid, epoch, "txn-timeout", 0), nil)
	st := c.waitState(id, "CompleteAbort")
	if st.ProducerID != pid || st.ProducerEpoch != epoch+1 {
		t.Errorf("timed-out transaction: producer %d epoch %d, want %d epoch %d", st.ProducerID, st.ProducerEpoch, pid, epoch+1)
	}
	wantCode(t, "EndTxn of the fenced producer v3", c.endTxn(id, 3, pid, epoch, true), kerr.ProducerFenced)
	wantCode(t, "EndTxn of the fenced producer v1", c.endTxn(id, 1, pid, epoch, true), kerr.InvalidProducerEpoch)
	if got := txnMetric(t, b, "strata_transactions_timed_out_total"); got != 1 {
		t.Errorf("timed-out transactions counted: %v, want 1", got)
	}
	if got := txnMetric(t, b, "strata_transactions_aborted_total"); got != 1 {
		t.Errorf("aborted transactions counted: %v, want 1", got)
	}
}

// TestTxnKgoProducer: a kgo transactional producer commits a transaction
// and aborts another; a read_committed consumer sees only the committed
// records. It needs transactional produce, read_committed fetch and the
// control batches (other pieces of issue 19).
func TestTxnKgoProducer(t *testing.T) {
	b := brokertest.Start(t)
	createTopic(t, b, "txn-kgo", 2, nil)
	prod := b.Client(t, kgo.TransactionalID("kgo-producer"), kgo.DefaultProduceTopic("txn-kgo"),
		kgo.TransactionTimeout(time.Minute))
	ctx := t.Context()
	for i, commit := range []bool{true, false, true} {
		if err := prod.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for j := range 10 {
			r := kgo.StringRecord(string(rune('a'+i)) + string(rune('0'+j)))
			r.Partition = int32(j % 2)
			if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("transaction %d: produce: %v", i, err)
			}
		}
		if err := prod.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("transaction %d: end (commit %v): %v", i, commit, err)
		}
	}
	cons := b.Client(t, kgo.ConsumeTopics("txn-kgo"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]bool{}
	for len(got) < 20 {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Value[0] == 'b' {
				t.Errorf("read_committed returned aborted record %s", r.Value)
			}
			got[string(r.Value)] = true
		})
	}
}

// TestTxnAdmin: kadm finds a transactional id's coordinator
// (FindCoordinator key type 1) and describes and lists its transaction;
// ListTransactions v2 filters ids by a pattern the whole id matches.
func TestTxnAdmin(t *testing.T) {
	b := brokertest.Start(t)
	createTopic(t, b, "txn-admin", 3, nil)
	c := txnClient{t: t, cn: b.Dial(t)}
	pids := map[string]int64{}
	for _, id := range []string{"admin-a", "admin-b", "other"} {
		var init *kmsg.InitProducerIDResponse
		until(t, func() int16 { init = c.initPID(id, 30_000, 4, -1, -1); return init.ErrorCode })
		wantCode(t, "InitProducerId "+id, init.ErrorCode, nil)
		pids[id] = init.ProducerID
	}
	wantCode(t, "AddPartitionsToTxn", c.addPartitions("admin-a", 3, pids["admin-a"], 0, map[string][]int32{"txn-admin": {2, 0}})["txn-admin"][0], nil)

	adm := b.Admin(t)
	ds, err := adm.DescribeTransactions(t.Context(), "admin-a", "admin-b")
	if err != nil {
		t.Fatal(err)
	}
	a := ds["admin-a"]
	if a.Err != nil || a.State != "Ongoing" || a.ProducerID != pids["admin-a"] || a.TimeoutMillis != 30_000 ||
		a.Coordinator != b.ID() || len(a.Topics["txn-admin"]) != 2 {
		t.Errorf("admin-a described as %+v", a)
	}
	if d := ds["admin-b"]; d.Err != nil || d.State != "Empty" || d.StartTimestamp != -1 {
		t.Errorf("admin-b described as %+v", d)
	}
	if d, err := adm.DescribeTransactions(t.Context(), "never-initialized"); err != nil || !errors.Is(d["never-initialized"].Err, kerr.TransactionalIDNotFound) {
		t.Errorf("unknown id described as %+v, %v", d, err)
	}
	ls, err := adm.ListTransactions(t.Context(), nil, []string{"Empty"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, l := range ls.Sorted() {
		ids = append(ids, l.TxnID)
	}
	if !slices.Equal(ids, []string{"admin-b", "other"}) {
		t.Errorf("Empty transactions listed: %v", ids)
	}

	req := kmsg.NewPtrListTransactionsRequest()
	req.SetVersion(2)
	req.DurationFilterMillis = -1
	for _, tc := range []struct {
		pattern string
		want    []string
		code    error
	}{
		{"admin-.*", []string{"admin-a", "admin-b"}, nil},
		{"admin", nil, nil}, // the whole id must match
		{"(", nil, kerr.InvalidRegularExpression},
	} {
		req.TransactionalIDPattern = &tc.pattern
		resp := c.do(req).(*kmsg.ListTransactionsResponse)
		wantCode(t, "pattern "+tc.pattern, resp.ErrorCode, tc.code)
		var got []string
		for _, st := range resp.TransactionStates {
			got = append(got, st.TransactionalID)
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("pattern %q listed %v, want %v", tc.pattern, got, tc.want)
		}
	}
}
