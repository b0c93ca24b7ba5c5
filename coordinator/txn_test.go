package coordinator

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/internal/testenv"
	"github.com/strata-io/strata/metadata"
)

// txnBroker is one broker's transaction side: a store of its own, its
// Txns and its Dispatcher, on a shared etcd; it leads the shards in led.
type txnBroker struct {
	t     *testing.T
	store *metadata.Store
	txns  *Txns
	disp  *Dispatcher

	mu      sync.Mutex
	led     map[int32]int64 // shard → epoch
	written []metadata.PendingMarker
	writeOK bool
	leads   bool // leads every data partition
	leadsP0 bool // leads the data partitions numbered 0
	gone    bool // every data partition is deleted
}

const testShards = 3

var testOffsetsTopic = metadata.NewTopicID()

func newTxnBroker(t *testing.T, endpoint, prefix string) *txnBroker {
	t.Helper()
	client, err := metadata.Connect(t.Context(), []string{endpoint}, 10*time.Second, metadata.ClientAuth{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	store, err := metadata.New(t.Context(), client, metadata.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	b := &txnBroker{t: t, store: store, led: map[int32]int64{}, writeOK: true, leads: true}
	ctx, cancel := context.WithCancel(context.Background())
	b.disp = NewDispatcher(DispatcherOptions{
		Store: store,
		WriteMarker: func(_ context.Context, key metadata.PartitionKey, mk metadata.TxnMarker) error {
			b.mu.Lock()
			defer b.mu.Unlock()
			if !b.writeOK {
				return kerr.NotLeaderForPartition
			}
			b.written = append(b.written, metadata.PendingMarker{Partition: key, Marker: mk})
			return nil
		},
		ApplyOffsets: func(_ context.Context, group string, pid int64, epoch int16, commit bool) error {
			b.mu.Lock()
			defer b.mu.Unlock()
			b.written = append(b.written, metadata.PendingMarker{IsGroup: true, Group: group,
				Marker: metadata.TxnMarker{ProducerID: pid, ProducerEpoch: epoch, Commit: commit}})
			return nil
		},
		LeadsPartition: func(k metadata.PartitionKey) bool {
			b.mu.Lock()
			defer b.mu.Unlock()
			return b.leads || b.leadsP0 && k.Partition == 0
		},
		LeadsGroup:    func(string) bool { return true },
		PartitionGone: func(metadata.PartitionKey, int64) bool { b.mu.Lock(); defer b.mu.Unlock(); return b.gone },
		OnChange:      func() { b.txns.Kick() },
	})
	b.txns = NewTxns(ctx, TxnOptions{
		Store:      store,
		ProducerID: func(ctx context.Context) (int64, error) { return store.AllocateProducerIDs(ctx, 1) },
		MaxTimeout: time.Hour,
		Markers:    b.disp,
	})
	b.txns.shardList = func() []shardLead {
		b.mu.Lock()
		defer b.mu.Unlock()
		out := make([]shardLead, testShards)
		for i := range out {
			epoch := b.led[int32(i)]
			out[i] = shardLead{key: metadata.PartitionKey{Topic: testOffsetsTopic, Partition: int32(i)}, epoch: epoch, led: epoch > 0, leaderEpoch: 7}
		}
		return out
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); b.txns.Run() }()
	go func() { defer wg.Done(); b.disp.Run(ctx) }()
	t.Cleanup(func() { b.txns.Close(); cancel(); wg.Wait() })
	return b
}

// lead takes the leadership of every shard in etcd.
func (b *txnBroker) lead(id int32) {
	b.t.Helper()
	for n := range int32(testShards) {
		l, err := b.store.AcquireLeadership(b.t.Context(), metadata.PartitionKey{Topic: testOffsetsTopic, Partition: n}, id)
		if err != nil {
			b.t.Fatal(err)
		}
		b.mu.Lock()
		b.led[n] = l.Epoch
		b.mu.Unlock()
	}
	b.txns.Sync()
}

// resign gives every shard up.
func (b *txnBroker) resign() {
	b.t.Helper()
	b.mu.Lock()
	led := b.led
	b.led = map[int32]int64{}
	b.mu.Unlock()
	for n, epoch := range led {
		if err := b.store.ResignLeadership(b.t.Context(), metadata.PartitionKey{Topic: testOffsetsTopic, Partition: n}, epoch); err != nil {
			b.t.Fatal(err)
		}
	}
}

// retry repeats fn while it answers a retriable coordinator error.
func retry(t *testing.T, fn func() error) error {
	t.Helper()
	for {
		err := fn()
		switch err {
		case kerr.CoordinatorLoadInProgress, kerr.ConcurrentTransactions:
		default:
			return err
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("still %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// waitState waits until id's record is in st.
func waitState(t *testing.T, txns *Txns, id string, st metadata.TxnState) metadata.TxnMetadata {
	t.Helper()
	for {
		m, err := txns.Describe(id)
		if err == nil && m.State == st {
			return m
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("%s never reached %s: %+v, %v", id, st, m, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TestTxnFailover: a coordinator that takes a shard over completes the
// transactions that were ending (their markers written by the
// dispatchers) and keeps the ongoing ones; the one it took over from is
// fenced.
func TestTxnFailover(t *testing.T) {
	etcd := testenv.StartEtcd(t)
	prefix := "/strata-test/" + t.Name() + "/"
	a := newTxnBroker(t, etcd.Endpoint, prefix)
	a.lead(1)
	a.mu.Lock()
	a.writeOK = false // a's partitions refuse markers: the commit stays PrepareCommit
	a.mu.Unlock()
	topic := metadata.NewTopicID()
	parts := []metadata.TxnPartition{{Topic: "t", TopicID: topic, Partition: 0}, {Topic: "t", TopicID: topic, Partition: 1}}

	start := func(b *txnBroker, id string) (int64, int16) {
		t.Helper()
		var pid int64
		var epoch int16
		if err := retry(t, func() (err error) {
			pid, epoch, err = b.txns.InitProducerID(t.Context(), id, 60_000, -1, -1)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if err := b.txns.AddPartitions(t.Context(), id, pid, epoch, parts); err != nil {
			t.Fatal(err)
		}
		return pid, epoch
	}
	pidC, epochC := start(a, "committing")
	if err := a.txns.AddGroup(t.Context(), "committing", pidC, epochC, "grp"); err != nil {
		t.Fatal(err)
	}
	pidO, epochO := start(a, "ongoing")
	if _, _, err := a.txns.EndTxn(t.Context(), "committing", pidC, epochC, true, 1); err != nil {
		t.Fatal(err)
	}
	if err := a.txns.AddPartitions(t.Context(), "committing", pidC, epochC, parts); err != kerr.ConcurrentTransactions {
		t.Errorf("AddPartitions while committing: %v", err)
	}
	// The group's marker is applied (a leads the groups); the partitions'
	// are not: the transaction stays PrepareCommit.
	for {
		if n, _ := a.disp.Pending("committing", pidC); n == 2 {
			break
		}
		select {
		case <-t.Context().Done():
			t.Fatal("group marker never applied")
		case <-time.After(5 * time.Millisecond):
		}
	}
	if m, _ := a.txns.Describe("committing"); m.State != metadata.TxnPrepareCommit || len(m.Partitions) != 2 {
		t.Fatalf("with markers pending: %+v", m)
	}

	// Failover to b.
	a.resign()
	b := newTxnBroker(t, etcd.Endpoint, prefix)
	b.lead(2)
	m := waitState(t, b.txns, "committing", metadata.TxnCompleteCommit)
	if m.ProducerID != pidC || m.ProducerEpoch != epochC || len(m.Partitions) != 0 {
		t.Errorf("completed after failover: %+v", m)
	}
	b.mu.Lock()
	written := append([]metadata.PendingMarker(nil), b.written...)
	b.mu.Unlock()
	if len(written) != 2 {
		t.Errorf("b wrote %d markers, want the 2 partitions': %+v", len(written), written)
	}
	for _, w := range written {
		if w.IsGroup || w.Partition.Topic != topic || !w.Marker.Commit || w.Marker.ProducerID != pidC || w.Marker.ProducerEpoch != epochC || w.Marker.TransactionalID != "committing" || w.Marker.CoordinatorEpoch != 7 {
			t.Errorf("marker written: %+v", w)
		}
	}
	if o, err := b.txns.Describe("ongoing"); err != nil || o.State != metadata.TxnOngoing || len(o.Partitions) != 2 {
		t.Errorf("ongoing after failover: %+v, %v", o, err)
	}
	// The old coordinator no longer leads: its writes are fenced.
	a.mu.Lock()
	a.led[shardOf("ongoing", testShards)] = 1 << 40 // it still believes it leads, under a stale epoch
	a.mu.Unlock()
	if err := retry(t, func() error { _, _, err := a.txns.EndTxn(t.Context(), "ongoing", pidO, epochO, false, 1); return err }); err != kerr.NotCoordinator {
		t.Errorf("EndTxn on the old coordinator: %v", err)
	}
	// The new one ends the ongoing transaction.
	if _, _, err := b.txns.EndTxn(t.Context(), "ongoing", pidO, epochO, false, 1); err != nil {
		t.Fatal(err)
	}
	waitState(t, b.txns, "ongoing", metadata.TxnCompleteAbort)
	if n, rev := b.disp.Pending("ongoing", pidO); n != 0 || rev == 0 {
		t.Errorf("markers of the aborted transaction: %d pending at revision %d", n, rev)
	}
}

// TestTxnMarkersOfDeletedPartitions: the markers of partitions that no
// longer exist are dropped unwritten, so that their transaction completes;
// meanwhile DescribeTransactions lists the partitions still waiting.
func TestTxnMarkersOfDeletedPartitions(t *testing.T) {
	etcd := testenv.StartEtcd(t)
	a := newTxnBroker(t, etcd.Endpoint, "/strata-test/"+t.Name()+"/")
	a.mu.Lock()
	a.leads, a.leadsP0 = false, true
	a.mu.Unlock()
	a.lead(1)
	var pid int64
	var epoch int16
	if err := retry(t, func() (err error) {
		pid, epoch, err = a.txns.InitProducerID(t.Context(), "deleted", 60_000, -1, -1)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	id := metadata.NewTopicID()
	parts := []metadata.TxnPartition{{Topic: "gone", TopicID: id, Partition: 0}, {Topic: "gone", TopicID: id, Partition: 1}}
	if err := a.txns.AddPartitions(t.Context(), "deleted", pid, epoch, parts); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.txns.EndTxn(t.Context(), "deleted", pid, epoch, true, 1); err != nil {
		t.Fatal(err)
	}
	// Partition 0's marker is written; nobody leads partition 1: the
	// transaction waits for its marker, and lists only that partition.
	for {
		m, err := a.txns.Describe("deleted")
		if err != nil || m.State != metadata.TxnPrepareCommit {
			t.Fatalf("after EndTxn: %+v, %v", m, err)
		}
		if len(m.Partitions) == 1 && m.Partitions[0] == parts[1] {
			break
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("partition 0's marker never written: %+v", m)
		case <-time.After(5 * time.Millisecond):
		}
	}
	a.mu.Lock()
	a.gone = true
	a.mu.Unlock()
	waitState(t, a.txns, "deleted", metadata.TxnCompleteCommit)
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.written) != 1 || a.written[0].Partition != parts[0].Key() {
		t.Errorf("markers written: %+v, want partition 0's only", a.written)
	}
}

// TestTxnResumeSplitMarkers: a coordinator that loads a record whose
// split write of markers was cut short writes the markers again and
// completes the transaction.
func TestTxnResumeSplitMarkers(t *testing.T) {
	etcd := testenv.StartEtcd(t)
	prefix := "/strata-test/" + t.Name() + "/"
	b := newTxnBroker(t, etcd.Endpoint, prefix)
	const id = "split"
	topic := metadata.NewTopicID()
	meta := metadata.TxnMetadata{ProducerID: 42, ProducerEpoch: 3, PrevProducerID: -1, PrevProducerEpoch: -1,
		TimeoutMs: 60_000, State: metadata.TxnPrepareAbort, StartTime: 1, UpdateTime: 2,
		Partitions: []metadata.TxnPartition{{Topic: "t", TopicID: topic, Partition: 4}}}
	rec, err := json.Marshal(struct {
		metadata.TxnMetadata
		MarkersPending bool `json:"markersPending"`
	}{meta, true})
	if err != nil {
		t.Fatal(err)
	}
	shard := shardOf(id, testShards)
	if _, err := b.store.Client().Put(t.Context(), prefix+"txns/"+strconv.Itoa(int(shard))+"/"+id, string(rec)); err != nil {
		t.Fatal(err)
	}
	b.lead(1)
	m := waitState(t, b.txns, id, metadata.TxnCompleteAbort)
	if m.ProducerID != 42 || m.ProducerEpoch != 3 {
		t.Errorf("completed as %+v", m)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.written) != 1 || b.written[0].Partition != meta.Partitions[0].Key() || b.written[0].Marker.Commit || b.written[0].Marker.ProducerEpoch != 3 {
		t.Errorf("markers written: %+v", b.written)
	}
}
