package coordinator

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/internal/testenv"
	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/partition"
)

// topicsOf is a Topics that knows one offsets topic (or none).
type topicsOf struct{ t *partition.Topic }

func (f topicsOf) Topic(name string) *partition.Topic {
	if name == metadata.OffsetsTopic {
		return f.t
	}
	return nil
}

// txnEnv is a coordinator over a real etcd with its writer running, and
// the store it writes to.
type txnEnv struct {
	c     *Coordinator
	store *metadata.Store
}

func startTxnEnv(t *testing.T, topics Topics) *txnEnv {
	t.Helper()
	etcd := testenv.StartEtcd(t)
	client, err := metadata.Connect(t.Context(), []string{etcd.Endpoint}, 10*time.Second, metadata.ClientAuth{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	store, err := metadata.New(t.Context(), client, metadata.Options{Prefix: "/strata-test/" + t.Name() + "/"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	c := New(ctx, Options{Store: store, Topics: topics})
	var wg sync.WaitGroup
	wg.Go(c.Run)
	t.Cleanup(func() {
		c.Close()
		cancel()
		wg.Wait()
	})
	return &txnEnv{c: c, store: store}
}

// lead makes the coordinator lead shard n of a fresh offsets topic, as
// ensure does once the partition is led here, and loads it.
func (e *txnEnv) lead(t *testing.T, n int32) *Shard {
	t.Helper()
	key := metadata.PartitionKey{Topic: metadata.NewTopicID(), Partition: n}
	l, err := e.store.AcquireLeadership(t.Context(), key, 1)
	if err != nil {
		t.Fatal(err)
	}
	return e.load(t, key, l.Epoch)
}

// load (re)loads shard key under epoch from etcd, replacing the shard the
// coordinator had.
func (e *txnEnv) load(t *testing.T, key metadata.PartitionKey, epoch int64) *Shard {
	t.Helper()
	s := &Shard{shardBase: newShardBase(e.c.ctx, key, epoch), c: e.c, groups: map[string]*Group{}}
	e.c.shards.mu.Lock()
	e.c.shards.dropLocked(key.Partition)
	e.c.shards.shards[key.Partition] = s
	e.c.shards.mu.Unlock()
	s.load()
	if _, ok := s.loadState(); !ok {
		t.Fatal("shard did not load")
	}
	return s
}

var (
	gp0 = metadata.GroupPartition{Topic: "t", Partition: 0}
	gp1 = metadata.GroupPartition{Topic: "t", Partition: 1}
)

func txnOffsets(producer int64, offsets map[metadata.GroupPartition]int64) metadata.GroupWrite {
	w := &metadata.TxnOffsets{ProducerID: producer, Offsets: map[metadata.GroupPartition]metadata.CommittedOffset{}}
	for gp, o := range offsets {
		w.Offsets[gp] = metadata.CommittedOffset{Offset: o, LeaderEpoch: -1, CommitTime: 1}
	}
	return metadata.GroupWrite{Group: "g", TxnOffsets: w}
}

func wait(t *testing.T, w *Write) {
	t.Helper()
	if err := w.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// view is what a shard holds of group g: committed offsets by partition,
// whether each partition is unstable, and the pending offsets.
type view struct {
	committed map[metadata.GroupPartition]int64
	unstable  map[metadata.GroupPartition]bool
	pending   map[int64]map[metadata.GroupPartition]metadata.PendingOffset
}

func viewOf(s *Shard, group string) view {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := view{committed: map[metadata.GroupPartition]int64{}, unstable: map[metadata.GroupPartition]bool{}}
	g := s.groups[group]
	if g == nil {
		return v
	}
	for gp, o := range g.offsets {
		v.committed[gp] = o.Offset
	}
	for _, gp := range []metadata.GroupPartition{gp0, gp1} {
		v.unstable[gp] = g.Unstable(gp)
	}
	v.pending = g.txnOffsets
	if len(v.pending) == 0 {
		v.pending = nil
	}
	return v
}

// checkReload: a coordinator that loads the shard from etcd holds what
// this one holds in memory.
func (e *txnEnv) checkReload(t *testing.T, s *Shard, group string) {
	t.Helper()
	before := viewOf(s, group)
	after := viewOf(e.load(t, s.key, s.epoch), group)
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("reloaded from etcd:\n%+v\nin memory before:\n%+v", after, before)
	}
}

// TestTxnOffsetsEnd: pending offsets stay out of the committed ones and
// make their partitions unstable; ending a transaction moves its
// producer's into the committed offsets (commit) or drops them, leaves the
// other producer's, and etcd holds what memory holds throughout.
func TestTxnOffsetsEnd(t *testing.T) {
	e := startTxnEnv(t, topicsOf{})
	s := e.lead(t, 0)
	wait(t, s.QueueWrite(metadata.GroupWrite{Group: "g", Offsets: map[metadata.GroupPartition]*metadata.CommittedOffset{gp0: {Offset: 1}}}))
	wait(t, s.QueueWrite(txnOffsets(7, map[metadata.GroupPartition]int64{gp0: 70, gp1: 71})))
	wait(t, s.QueueWrite(txnOffsets(8, map[metadata.GroupPartition]int64{gp1: 81})))
	v := viewOf(s, "g")
	if want := map[metadata.GroupPartition]int64{gp0: 1}; !reflect.DeepEqual(v.committed, want) {
		t.Fatalf("committed = %v, want %v", v.committed, want)
	}
	if !v.unstable[gp0] || !v.unstable[gp1] {
		t.Fatalf("unstable = %v, want both", v.unstable)
	}
	e.checkReload(t, s, "g")
	s = e.c.shards.shards[0]

	wait(t, s.queueTxnEnd("g", 7, true))
	v = viewOf(s, "g")
	if want := map[metadata.GroupPartition]int64{gp0: 70, gp1: 71}; !reflect.DeepEqual(v.committed, want) {
		t.Fatalf("committed after commit = %v, want %v", v.committed, want)
	}
	if v.unstable[gp0] || !v.unstable[gp1] {
		t.Fatalf("unstable after commit = %v, want t-1 only (producer 8's)", v.unstable)
	}
	e.checkReload(t, s, "g")
	s = e.c.shards.shards[0]

	wait(t, s.queueTxnEnd("g", 8, false))
	v = viewOf(s, "g")
	if want := map[metadata.GroupPartition]int64{gp0: 70, gp1: 71}; !reflect.DeepEqual(v.committed, want) || v.unstable[gp1] || v.pending != nil {
		t.Fatalf("after abort: committed %v (want %v), unstable %v, pending %v", v.committed, want, v.unstable, v.pending)
	}
	// Nothing pending: nothing to do, and no error.
	wait(t, s.queueTxnEnd("g", 8, true))
	wait(t, s.queueTxnEnd("nope", 8, true))
	e.checkReload(t, s, "g")
}

// TestTxnOffsetsEndSeesQueued: an end queued right behind the producer's
// pending offsets, before they landed, commits them.
func TestTxnOffsetsEndSeesQueued(t *testing.T) {
	e := startTxnEnv(t, topicsOf{})
	s := e.lead(t, 1)
	for round := range int64(20) {
		put := s.QueueWrite(txnOffsets(round, map[metadata.GroupPartition]int64{gp0: round}))
		end := s.queueTxnEnd("g", round, true)
		wait(t, put)
		wait(t, end)
		if v := viewOf(s, "g"); v.committed[gp0] != round || v.unstable[gp0] {
			t.Fatalf("round %d: committed %v, unstable %v", round, v.committed, v.unstable)
		}
	}
	e.checkReload(t, s, "g")
}

// TestTxnOffsetsSuperseded: an OffsetCommit that lands after a pending
// offset wins over it when the transaction commits (Kafka keeps the most
// recent commit), in memory and after a reload alike.
func TestTxnOffsetsSuperseded(t *testing.T) {
	e := startTxnEnv(t, topicsOf{})
	s := e.lead(t, 2)
	wait(t, s.QueueWrite(txnOffsets(7, map[metadata.GroupPartition]int64{gp0: 70, gp1: 71})))
	wait(t, s.QueueWrite(metadata.GroupWrite{Group: "g", Offsets: map[metadata.GroupPartition]*metadata.CommittedOffset{gp0: {Offset: 5}}}))
	e.checkReload(t, s, "g")
	for _, s := range []*Shard{s, e.c.shards.shards[2]} { // the old shard is closed: its end fails
		err := s.queueTxnEnd("g", 7, true).Wait(t.Context())
		if s.closed {
			if !errors.Is(err, kerr.NotCoordinator) {
				t.Fatalf("end on a dropped shard: %v, want NOT_COORDINATOR", err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	s = e.c.shards.shards[2]
	if v := viewOf(s, "g"); v.committed[gp0] != 5 || v.committed[gp1] != 71 {
		t.Fatalf("committed = %v, want t-0 at 5 (the later OffsetCommit), t-1 at 71", v.committed)
	}
	e.checkReload(t, s, "g")
}

// TestTxnOffsetsDeletes: deleting a committed offset drops the partition's
// pending offsets, and deleting the group drops all of them, as Kafka's
// tombstones do.
func TestTxnOffsetsDeletes(t *testing.T) {
	e := startTxnEnv(t, topicsOf{})
	s := e.lead(t, 0)
	wait(t, s.QueueWrite(metadata.GroupWrite{Group: "g", Offsets: map[metadata.GroupPartition]*metadata.CommittedOffset{gp0: {Offset: 1}, gp1: {Offset: 2}}}))
	wait(t, s.QueueWrite(txnOffsets(7, map[metadata.GroupPartition]int64{gp0: 70, gp1: 71})))
	wait(t, s.QueueWrite(txnOffsets(8, map[metadata.GroupPartition]int64{gp0: 80})))
	wait(t, s.QueueWrite(metadata.GroupWrite{Group: "g", Offsets: map[metadata.GroupPartition]*metadata.CommittedOffset{gp0: nil}}))
	v := viewOf(s, "g")
	if v.unstable[gp0] || !v.unstable[gp1] || len(v.pending) != 1 {
		t.Fatalf("after deleting t-0: unstable %v, pending %v; want t-1's only", v.unstable, v.pending)
	}
	e.checkReload(t, s, "g")
	s = e.c.shards.shards[0]
	wait(t, s.QueueWrite(metadata.GroupWrite{Group: "g", Delete: true}))
	if g := s.groups["g"]; g != nil {
		t.Fatalf("deleted empty group still there: %+v", viewOf(s, "g"))
	}
	e.checkReload(t, s, "g")
}

// TestApplyTxnOffsetsNotHere: ApplyTxnOffsets answers NOT_COORDINATOR for
// a group whose shard this broker does not lead, COORDINATOR_NOT_AVAILABLE
// before it knows the offsets topic.
func TestApplyTxnOffsetsNotHere(t *testing.T) {
	topics := &topicsOf{}
	e := startTxnEnv(t, topics)
	if err := e.c.ApplyTxnOffsets(t.Context(), "g", 1, 0, true); !errors.Is(err, kerr.CoordinatorNotAvailable) {
		t.Fatalf("no offsets topic: %v, want COORDINATOR_NOT_AVAILABLE", err)
	}
	topics.t = &partition.Topic{Parts: []*partition.Partition{new(partition.Partition)}} // not led
	if err := e.c.ApplyTxnOffsets(t.Context(), "g", 1, 0, true); !errors.Is(err, kerr.NotCoordinator) {
		t.Fatalf("shard not led: %v, want NOT_COORDINATOR", err)
	}
}

// TestTxnOffsetsFenced: once another broker leads the shard, pending
// offsets are neither written nor ended here: NOT_COORDINATOR.
func TestTxnOffsetsFenced(t *testing.T) {
	e := startTxnEnv(t, topicsOf{})
	s := e.lead(t, 0)
	wait(t, s.QueueWrite(txnOffsets(7, map[metadata.GroupPartition]int64{gp0: 70})))
	if err := e.store.ResignLeadership(t.Context(), s.key, s.epoch); err != nil {
		t.Fatal(err)
	}
	if err := s.QueueWrite(txnOffsets(8, map[metadata.GroupPartition]int64{gp0: 80})).Wait(t.Context()); !errors.Is(err, kerr.NotCoordinator) {
		t.Fatalf("pending offsets of a fenced shard: %v, want NOT_COORDINATOR", err)
	}
	if err := s.queueTxnEnd("g", 7, true).Wait(t.Context()); !errors.Is(err, kerr.NotCoordinator) {
		t.Fatalf("end on a fenced shard: %v, want NOT_COORDINATOR", err)
	}
	got, err := e.store.LoadGroups(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if lg := got["g"]; len(lg.Offsets) != 0 || len(lg.TxnOffsets) != 1 || lg.TxnOffsets[7][gp0].Offset.Offset != 70 {
		t.Fatalf("etcd after fenced writes: %+v", lg)
	}
}

// TestCheckTxnCommit: Kafka's validation of a transactional commit, which
// unlike OffsetCommit's takes a commit with no member whatever the state,
// and one during a rebalance.
func TestCheckTxnCommit(t *testing.T) {
	inst, other := "i1", "i2"
	g := newGroup(nil, "g")
	g.generation = 3
	g.addMember(&member{id: "m1", instanceID: &inst})
	for _, tc := range []struct {
		state      State
		generation int32
		member     string
		instance   *string
		want       *kerr.Error
	}{
		{StateDead, -1, "", nil, kerr.CoordinatorNotAvailable},
		{StateEmpty, -1, "", nil, nil},
		{StateStable, -1, "", nil, nil},
		{StatePreparingRebalance, -1, "", nil, nil},
		{StateStable, 3, "m1", nil, nil},
		{StateCompletingRebalance, 3, "m1", &inst, nil},
		{StateStable, 3, "m2", nil, kerr.UnknownMemberID},
		{StateStable, 2, "m1", nil, kerr.IllegalGeneration},
		{StateStable, 3, "m2", &inst, kerr.FencedInstanceID},
		{StateStable, 3, "m1", &other, kerr.UnknownMemberID},
		{StateStable, -1, "m1", nil, kerr.IllegalGeneration},
	} {
		g.state = tc.state
		if got := g.CheckTxnCommit(tc.generation, tc.member, tc.instance); got != tc.want {
			t.Errorf("%v, generation %d, member %q: %v, want %v", tc.state, tc.generation, tc.member, got, tc.want)
		}
	}
}
