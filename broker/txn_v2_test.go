package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/broker/brokertest"
	"github.com/strata-io/strata/internal/testenv"
	"github.com/strata-io/strata/objectstore"
)

// txnVersion pins the broker's finalized transaction version.
func txnVersion(v int32) brokertest.Option {
	return func(c *broker.Config) { c.TransactionVersion = v }
}

// requestsServed is how many requests of api the broker answered.
func requestsServed(t *testing.T, b *brokertest.Broker, api string) uint64 {
	t.Helper()
	mfs, err := b.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, mf := range mfs {
		if mf.GetName() != "strata_requests_seconds" {
			continue
		}
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if l.GetName() == "api" && l.GetValue() == api {
					n += m.Histogram.GetSampleCount()
				}
			}
		}
	}
	return n
}

// txnEpoch is the producer id and epoch DescribeTransactions gives id.
func txnEpoch(t *testing.T, adm *kadm.Client, id string) (int64, int16) {
	t.Helper()
	d, err := adm.DescribeTransactions(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	dt, ok := d[id]
	if !ok || dt.Err != nil {
		t.Fatalf("describe %s: %+v", id, dt)
	}
	return dt.ProducerID, dt.ProducerEpoch
}

// runTxns runs three transactions of 10 records each over the topic's
// partitions with prod, commit, abort, commit, and returns the producer
// id and epoch after each; then it checks that a read_committed consumer
// reads exactly the committed records.
func runTxns(t *testing.T, prod *kgo.Client, adm *kadm.Client, id, topic string, partitions int32, cons *kgo.Client) (epochs []int16) {
	t.Helper()
	ctx := t.Context()
	// kgo chooses the transaction version at BeginTransaction from the
	// ApiVersions it has: have it learn them first.
	if err := prod.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	for i, commit := range []bool{true, false, true} {
		if err := prod.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for j := range 10 {
			r := &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("%c%d", 'a'+i, j)), Partition: int32(j) % partitions}
			if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("transaction %d: produce: %v", i, err)
			}
		}
		if err := prod.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("transaction %d: end (commit %v): %v", i, commit, err)
		}
		_, epoch := txnEpoch(t, adm, id)
		epochs = append(epochs, epoch)
	}
	got := map[string]int{}
	n := 0
	for n < 20 {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got[string(r.Value)]++
			n++
		})
	}
	for i := range 2 {
		for j := range 10 {
			v := fmt.Sprintf("%c%d", "ac"[i], j)
			if got[v] != 1 {
				t.Errorf("record %s read %d times, want once", v, got[v])
			}
		}
	}
	if len(got) != 20 {
		t.Errorf("read_committed read %d distinct records, want the 20 committed: %v", len(got), got)
	}
	return epochs
}

// TestTxnVersion2Kgo: franz-go 1.22 runs its transactions under
// transaction version 2 when the broker finalizes it (no
// AddPartitionsToTxn; the epoch bumped by every end), and under version 1
// when the broker is pinned to it; both read back exactly the committed
// records.
func TestTxnVersion2Kgo(t *testing.T) {
	for _, tv := range []int32{2, 1} {
		t.Run(fmt.Sprintf("v%d", tv), func(t *testing.T) {
			b := brokertest.Start(t, txnVersion(tv))
			createTopic(t, b, "tv", 2, nil)
			adm := b.Admin(t)
			prod := b.Client(t, kgo.TransactionalID("tv-producer"), kgo.TransactionTimeout(time.Minute))
			cons := b.Client(t, kgo.ConsumeTopics("tv"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			epochs := runTxns(t, prod, adm, "tv-producer", "tv", 2, cons)
			adds := requestsServed(t, b, "AddPartitionsToTxn")
			if tv == 2 {
				if adds != 0 {
					t.Errorf("AddPartitionsToTxn served %d times under version 2, want none", adds)
				}
				for i, e := range epochs {
					if want := int16(i) + 1; e != want {
						t.Errorf("epoch after transaction %d = %d, want %d (bumped by every end): %v", i, e, want, epochs)
					}
				}
				return
			}
			if adds == 0 {
				t.Error("AddPartitionsToTxn never served under version 1")
			}
			for i, e := range epochs {
				if e != 0 {
					t.Errorf("epoch after transaction %d = %d, want 0 (version 1 keeps it): %v", i, e, epochs)
				}
			}
		})
	}
}

// TestTxnVersion2ApiVersions: ApiVersions v4 lists transaction.version
// 0..2 (v3 leaves it out of the supported features, as Kafka), finalized
// at the broker's version, and caps the versions of version 2 when pinned
// to 1.
func TestTxnVersion2ApiVersions(t *testing.T) {
	for _, tv := range []int16{2, 1} {
		b := brokertest.Start(t, txnVersion(int32(tv)))
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(3)
		req.ClientSoftwareName, req.ClientSoftwareVersion = "test", "1"
		c := b.Dial(t)
		if resp := c.RoundTrip(req).(*kmsg.ApiVersionsResponse); len(resp.SupportedFeatures) != 0 || len(resp.FinalizedFeatures) != 1 {
			t.Errorf("v3 response: supported %+v, finalized %+v", resp.SupportedFeatures, resp.FinalizedFeatures)
		}
		req.SetVersion(4)
		resp := c.RoundTrip(req).(*kmsg.ApiVersionsResponse)
		if len(resp.SupportedFeatures) != 1 || resp.SupportedFeatures[0].Name != "transaction.version" ||
			resp.SupportedFeatures[0].MinVersion != 0 || resp.SupportedFeatures[0].MaxVersion != 2 {
			t.Errorf("v%d: supported features %+v", tv, resp.SupportedFeatures)
		}
		if len(resp.FinalizedFeatures) != 1 || resp.FinalizedFeatures[0].MaxVersionLevel != tv || resp.FinalizedFeaturesEpoch < 0 {
			t.Errorf("v%d: finalized features %+v epoch %d", tv, resp.FinalizedFeatures, resp.FinalizedFeaturesEpoch)
		}
		want := map[int16]int16{0: 12, 26: 5, 28: 5}
		if tv == 1 {
			want = map[int16]int16{0: 11, 26: 4, 28: 4}
		}
		for _, k := range resp.ApiKeys {
			if w, ok := want[k.ApiKey]; ok && k.MaxVersion != w {
				t.Errorf("v%d: %s max v%d, want v%d", tv, kmsg.NameForKey(k.ApiKey), k.MaxVersion, w)
			}
		}
	}
}

// TestTxnVersion2GroupSession: a GroupTransactSession under version 2
// commits its offsets with TxnOffsetCommit v5, which adds the group to
// the transaction (no AddOffsetsToTxn); the offsets and the output become
// visible together when the transaction commits.
func TestTxnVersion2GroupSession(t *testing.T) {
	b := brokertest.Start(t)
	createTopic(t, b, "tv-in", 1, nil)
	createTopic(t, b, "tv-out", 1, nil)
	ctx := t.Context()
	in := b.Client(t, kgo.DefaultProduceTopic("tv-in"))
	for i := range 10 {
		if err := in.ProduceSync(ctx, kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(b.Addr()), kgo.TransactionalID("tv-etl"),
		kgo.ConsumerGroup("tv-group"), kgo.ConsumeTopics("tv-in"), kgo.DefaultProduceTopic("tv-out"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.TransactionTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	done := 0
	for done < 10 {
		fs := sess.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		if err := sess.Begin(); err != nil {
			t.Fatal(err)
		}
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			n++
			if err := sess.ProduceSync(ctx, kgo.StringRecord("out-"+string(r.Value))).FirstErr(); err != nil {
				t.Error(err)
			}
		})
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			t.Fatal(err)
		}
		if committed {
			done += n
		}
	}
	if n := requestsServed(t, b, "AddOffsetsToTxn"); n != 0 {
		t.Errorf("AddOffsetsToTxn served %d times under version 2, want none", n)
	}
	if n := requestsServed(t, b, "TxnOffsetCommit"); n == 0 {
		t.Error("TxnOffsetCommit never served")
	}
	// The offsets become visible once the group's marker is applied,
	// after EndTxn answered.
	adm := b.Admin(t)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		offs, err := adm.FetchOffsets(ctx, "tv-group")
		if err != nil {
			t.Fatal(err)
		}
		o, ok := offs.Lookup("tv-in", 0)
		if ok && o.At == 10 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group offset of tv-in/0 = %+v (%v), want 10", o, ok)
		}
	}
	cons := b.Client(t, kgo.ConsumeTopics("tv-out"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]int{}
	for n := 0; n < 10; {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)]++; n++ })
	}
	for i := range 10 {
		if v := fmt.Sprintf("out-%d", i); got[v] != 1 {
			t.Errorf("%s read %d times, want once", v, got[v])
		}
	}
}

// TestTxnVersion2TwoBrokers: two brokers on one etcd; a transactional id
// coordinated by one broker produces, under version 2, to partitions the
// other broker leads: those leaders add the partitions to the
// transaction through etcd, and the coordinator (which follows its
// records) ends the transactions with every partition.
func TestTxnVersion2TwoBrokers(t *testing.T) {
	etcd := testenv.StartEtcd(t)
	bucket := objectstore.NewMem()
	shared := func(c *broker.Config) { c.EtcdEndpoints, c.Bucket = []string{etcd.Endpoint}, bucket }
	b1 := brokertest.Start(t, shared)
	b2 := brokertest.Start(t, shared)
	brokers := map[int32]*brokertest.Broker{b1.ID(): b1, b2.ID(): b2}
	ctx := t.Context()
	adm := b1.Admin(t, kgo.SeedBrokers(b1.Addr(), b2.Addr()))
	var leaders map[int32]int32
	for deadline := time.Now().Add(30 * time.Second); ; {
		createIfAbsent(t, adm, "tv2b", 4)
		md, err := adm.Metadata(ctx, "tv2b")
		if err != nil {
			t.Fatal(err)
		}
		leaders = map[int32]int32{}
		led := map[int32]bool{}
		for _, p := range md.Topics["tv2b"].Partitions {
			leaders[p.Partition] = p.Leader
			led[p.Leader] = true
		}
		if len(led) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the topic's partitions are led by one broker only: %v", leaders)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Some partitions are led by the broker that does not coordinate the
	// transactional id, whichever it is.
	const id = "tv2b-producer"
	prod := b1.Client(t, kgo.SeedBrokers(b1.Addr(), b2.Addr()), kgo.TransactionalID(id), kgo.TransactionTimeout(time.Minute))
	cons := b1.Client(t, kgo.SeedBrokers(b1.Addr(), b2.Addr()), kgo.ConsumeTopics("tv2b"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	epochs := runTxns(t, prod, adm, id, "tv2b", 4, cons)
	c := adm.FindTxnCoordinators(ctx, id)[id]
	if c.Err != nil {
		t.Fatal(c.Err)
	}
	remote := 0
	for _, l := range leaders {
		if l != c.NodeID {
			remote++
		}
	}
	if remote == 0 {
		t.Fatalf("coordinator %d leads every partition: %v", c.NodeID, leaders)
	}
	for i, e := range epochs {
		if e != int16(i)+1 {
			t.Errorf("epochs %v: not bumped by every end (version 2)", epochs)
		}
	}
	for _, b := range brokers {
		if n := requestsServed(t, b, "AddPartitionsToTxn"); n != 0 {
			t.Errorf("broker %d served AddPartitionsToTxn %d times, want none", b.ID(), n)
		}
	}
}

// createIfAbsent creates topic with n partitions unless it exists.
func createIfAbsent(t *testing.T, adm *kadm.Client, topic string, n int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, n, -1, nil, topic); err != nil {
		t.Logf("create %s: %v", topic, err)
	}
}
