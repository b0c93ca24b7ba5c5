package metadata

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sourcegraph/conc/pool"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/strata-io/strata/internal/testenv"
)

// The store suite runs against an embedded etcd and a real etcd process.

func TestStoreEmbedded(t *testing.T) {
	e, err := StartEmbedded(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	runStoreSuite(t, e.Endpoints())
}

func TestStoreEtcd(t *testing.T) {
	etcd := testenv.StartEtcd(t)
	runStoreSuite(t, []string{etcd.Endpoint})
}

// storeCase is one case of a store suite: run gets a storeEnv of a key
// prefix of its own.
type storeCase struct {
	name string
	run  func(t *testing.T, env *storeEnv)
}

var storeSuite = []storeCase{
	{"ClusterIDStable", testClusterIDStable},
	{"BrokerIDsUnique", testBrokerIDsUnique},
	{"RegisterAndBrokers", testRegisterAndBrokers},
	{"Topics", testTopics},
	{"InvalidTopics", testInvalidTopics},
	{"DeleteTopic", testDeleteTopic},
	{"Leadership", testLeadership},
	{"Fencing", testFencing},
	{"LeaseReattach", testLeaseReattach},
	{"Batched200", testBatched200},
	{"SamePartitionTwice", testSamePartitionTwice},
	{"LargeStates", testLargeStates},
	{"ManifestOrder", testManifestOrder},
	{"ProducerIDs", testProducerIDs},
	// cluster_test.go
	{"LeaderEpochs", testLeaderEpochs},
	{"LeaderEpochRace", testLeaderEpochRace},
	{"ResumeLeadership", testResumeLeadership},
	{"Campaign", testCampaign},
	{"CampaignSessionEnds", testCampaignSessionEnds},
	{"SetAssignments", testSetAssignments},
	{"PreferredLeaders", testPreferredLeaders},
	{"ControllerTermEnds", testControllerTermEnds},
	{"ReadView", testReadView},
	{"Watch", testWatch},
	{"Renew", testRenew},
	{"BrokerConfigs", testBrokerConfigs}, // cluster_configs_test.go
	// groups_test.go
	{"GroupsRoundTrip", testGroupsRoundTrip},
	{"GroupsFenced", testGroupsFenced},
	{"GroupsManyWrites", testGroupsManyWrites},
	{"GroupsDelete", testGroupsDelete},
	{"GroupsShardsApart", testGroupsShardsApart},
}

func runStoreSuite(t *testing.T, endpoints []string) {
	runStoreCases(t, endpoints, storeSuite, securitySuite)
}

// runStoreCases runs the cases of every list against the etcd at endpoints.
func runStoreCases(t *testing.T, endpoints []string, cases ...[]storeCase) {
	for _, tc := range slices.Concat(cases...) {
		t.Run(tc.name, func(t *testing.T) {
			// Each case has a prefix of its own on the shared server.
			tc.run(t, &storeEnv{endpoints: endpoints, prefix: "/strata-test/" + t.Name() + "/"})
		})
	}
}

// storeEnv makes stores on one etcd and one key prefix, each with a client
// of its own, as separate brokers would have.
type storeEnv struct {
	endpoints []string
	prefix    string
}

func (e *storeEnv) client(t *testing.T) *clientv3.Client {
	t.Helper()
	c, err := Connect(t.Context(), e.endpoints, 10*time.Second, ClientAuth{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (e *storeEnv) store(t *testing.T) *Store {
	t.Helper()
	return e.storeWith(t, Options{})
}

func (e *storeEnv) storeWith(t *testing.T, opts Options) *Store {
	t.Helper()
	opts.Prefix = e.prefix
	s, err := New(t.Context(), e.client(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// createTopic creates a topic with n partitions and returns its id.
func createTopic(t *testing.T, s *Store, name string, n int32) TopicID {
	t.Helper()
	id := NewTopicID()
	if err := s.CreateTopic(t.Context(), Topic{Name: name, ID: id, Partitions: n}); err != nil {
		t.Fatal(err)
	}
	return id
}

func acquire(t *testing.T, s *Store, k PartitionKey, broker int32) int64 {
	t.Helper()
	l, err := s.AcquireLeadership(t.Context(), k, broker)
	if err != nil {
		t.Fatalf("acquire %s: %v", k, err)
	}
	return l.Epoch
}

// commitFor is a commit of n records at base with the state that follows.
func commitFor(k PartitionKey, epoch, base, n int64) Commit {
	return Commit{
		Key:   k,
		Epoch: epoch,
		Entry: ManifestEntry{
			Object: fmt.Sprintf("seg-%d-%d", k.Partition, base), Position: base * 10, Size: n * 10,
			BaseOffset: base, LastOffset: base + n - 1, MaxTimestamp: 1700000000000 + base,
			Batches: int32(n), CRC: uint32(base),
		},
		State: PartitionState{HighWatermark: base + n},
	}
}

func mustCommit(t *testing.T, s *Store, commits ...Commit) {
	t.Helper()
	for i, err := range s.CommitSegments(t.Context(), commits) {
		if err != nil {
			t.Fatalf("commit %d (%s): %v", i, commits[i].Key, err)
		}
	}
}

func manifestBases(t *testing.T, s *Store, k PartitionKey) []int64 {
	t.Helper()
	m, err := s.Manifest(t.Context(), k)
	if err != nil {
		t.Fatal(err)
	}
	var bases []int64
	for _, e := range m {
		bases = append(bases, e.BaseOffset)
	}
	return bases
}

// revision is the etcd cluster's current revision.
func revision(t *testing.T, s *Store) int64 {
	t.Helper()
	resp, err := s.Client().Get(t.Context(), "revision-probe")
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

func testClusterIDStable(t *testing.T, env *storeEnv) {
	stores := []*Store{env.store(t), env.store(t), env.store(t)}
	ids := make([]string, len(stores))
	p := pool.New().WithErrors()
	for i, s := range stores {
		p.Go(func() (err error) { ids[i], err = s.ClusterID(t.Context()); return err })
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	if len(ids[0]) != 22 {
		t.Errorf("cluster id %q: want 22 characters", ids[0])
	}
	for i, id := range ids {
		if id != ids[0] {
			t.Errorf("store %d: cluster id %q, store 0 has %q", i, id, ids[0])
		}
	}
	// A new store reads the stored id.
	again, err := env.store(t).ClusterID(t.Context())
	if err != nil || again != ids[0] {
		t.Errorf("cluster id later = %q, %v; want %q", again, err, ids[0])
	}
}

func testBrokerIDsUnique(t *testing.T, env *storeEnv) {
	const stores, perStore = 4, 10
	var mu sync.Mutex
	seen := map[int32]bool{}
	p := pool.New().WithErrors()
	for range stores {
		s := env.store(t)
		for range perStore {
			p.Go(func() error {
				id, err := s.AllocateBrokerID(t.Context())
				if err != nil {
					return err
				}
				mu.Lock()
				defer mu.Unlock()
				if seen[id] {
					return fmt.Errorf("broker id %d handed out twice", id)
				}
				seen[id] = true
				return nil
			})
		}
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	// Ids are dense from 1.
	for id := int32(1); id <= stores*perStore; id++ {
		if !seen[id] {
			t.Errorf("broker id %d not handed out; got %v", id, slices.Sorted(maps.Keys(seen)))
		}
	}
}

func testRegisterAndBrokers(t *testing.T, env *storeEnv) {
	ctx := t.Context()
	a, b := env.store(t), env.store(t)
	ba := Broker{ID: 2, Addr: "10.0.0.2:9092", Rack: "r1"}
	bb := Broker{ID: 1, Addr: "10.0.0.1:9092"}
	if err := a.Register(ctx, ba); err != nil {
		t.Fatal(err)
	}
	if err := b.Register(ctx, bb); err != nil {
		t.Fatal(err)
	}
	if got, want := readView(t, a).Brokers, map[int32]Broker{1: bb, 2: ba}; !reflect.DeepEqual(got, want) {
		t.Fatalf("brokers = %+v, want %+v", got, want)
	}

	// Closing a revokes its lease: its registration goes at once.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	select {
	case <-a.Done():
	default:
		t.Error("Done not closed after Close")
	}
	if got, want := readView(t, b).Brokers, map[int32]Broker{1: bb}; !reflect.DeepEqual(got, want) {
		t.Fatalf("brokers after close = %+v, want %+v", got, want)
	}
}

func testTopics(t *testing.T, env *storeEnv) {
	ctx := t.Context()
	s := env.store(t)
	orders := Topic{Name: "orders", ID: NewTopicID(), Partitions: 3,
		Configs: map[string]string{"retention.ms": "3600000", "cleanup.policy": "compact"}}
	alpha := Topic{Name: "alpha", ID: NewTopicID(), Partitions: 1}
	for _, tp := range []Topic{orders, alpha} {
		if err := s.CreateTopic(ctx, tp); err != nil {
			t.Fatal(err)
		}
	}
	dup := Topic{Name: "orders", ID: NewTopicID(), Partitions: 1}
	if err := s.CreateTopic(ctx, dup); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("create existing topic: %v, want ErrTopicExists", err)
	}

	got, err := s.Topic(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version <= 0 {
		t.Errorf("version %d, want > 0", got.Version)
	}
	read := got
	got.Version = 0
	if !reflect.DeepEqual(got, orders) {
		t.Errorf("topic = %+v, want %+v", got, orders)
	}
	if all := readView(t, s).Topics; len(all) != 2 || all["alpha"].Name != "alpha" || all["orders"].Version != read.Version {
		t.Errorf("topics = %+v, want alpha and orders (version %d)", all, read.Version)
	}
	if _, err := s.Topic(ctx, "missing"); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("missing topic: %v, want ErrUnknownTopic", err)
	}

	// Compare-and-swap on the version.
	upd := read
	upd.Partitions = 6
	upd.Configs = map[string]string{"retention.ms": "60000"}
	if err := s.UpdateTopic(ctx, upd); err != nil {
		t.Fatal(err)
	}
	now, err := s.Topic(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if now.Partitions != 6 || !maps.Equal(now.Configs, upd.Configs) || now.Version <= read.Version || now.ID != orders.ID {
		t.Errorf("after update: %+v", now)
	}
	stale := read
	stale.Partitions = 9
	for _, tc := range []struct {
		name string
		t    Topic
		want error
	}{
		{"stale version", stale, ErrConflict},
		{"no version", Topic{Name: "orders", ID: orders.ID, Partitions: 9}, ErrConflict},
		{"unknown topic", Topic{Name: "nope", ID: NewTopicID(), Partitions: 1, Version: now.Version}, ErrUnknownTopic},
		{"unknown topic, no version", Topic{Name: "nope", ID: NewTopicID(), Partitions: 1}, ErrUnknownTopic},
	} {
		if err := s.UpdateTopic(ctx, tc.t); !errors.Is(err, tc.want) {
			t.Errorf("%s: update = %v, want %v", tc.name, err, tc.want)
		}
	}
	if again, _ := s.Topic(ctx, "orders"); again.Partitions != 6 {
		t.Errorf("failed updates changed the topic: %+v", again)
	}
}

func testInvalidTopics(t *testing.T, env *storeEnv) {
	s := env.store(t)
	for _, tp := range []Topic{
		{Name: "", ID: NewTopicID(), Partitions: 1},
		{Name: "a/b", ID: NewTopicID(), Partitions: 1},
		{Name: "zero-id", Partitions: 1},
		{Name: "no-partitions", ID: NewTopicID()},
	} {
		if err := s.CreateTopic(t.Context(), tp); !errors.Is(err, ErrInvalid) {
			t.Errorf("create %+v: %v, want ErrInvalid", tp, err)
		}
	}
	if all := readView(t, s).Topics; len(all) != 0 {
		t.Errorf("topics = %+v; want none", all)
	}
}

func testDeleteTopic(t *testing.T, env *storeEnv) {
	ctx := t.Context()
	s := env.store(t)
	doomed := createTopic(t, s, "doomed", 2)
	kept := createTopic(t, s, "kept", 1)
	var commits []Commit
	for _, k := range []PartitionKey{{doomed, 0}, {doomed, 1}, {kept, 0}} {
		commits = append(commits, commitFor(k, acquire(t, s, k, 1), 0, 5))
	}
	mustCommit(t, s, commits...)

	if err := s.DeleteTopic(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Topic(ctx, "doomed"); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("deleted topic read: %v", err)
	}
	resp, err := s.Client().Get(ctx, s.keys.topicPartitions(doomed), clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Count != 0 {
		t.Errorf("%d partition keys left after delete", resp.Count)
	}
	if got := manifestBases(t, s, PartitionKey{kept, 0}); !slices.Equal(got, []int64{0}) {
		t.Errorf("other topic's manifest = %v", got)
	}
	if err := s.DeleteTopic(ctx, "doomed"); !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("delete again: %v, want ErrUnknownTopic", err)
	}
	// The old leader's epoch went with the topic.
	c := commits[0]
	c.Entry.BaseOffset = 5
	if errs := s.CommitSegments(ctx, []Commit{c}); !errors.Is(errs[0], ErrFenced) {
		t.Errorf("commit to deleted topic: %v, want ErrFenced", errs[0])
	}
}

func testLeadership(t *testing.T, env *storeEnv) {
	ctx := t.Context()
	a, b := env.store(t), env.store(t)
	k := PartitionKey{Topic: NewTopicID(), Partition: 3}

	e1 := acquire(t, a, k, 1)
	if e1 <= 0 {
		t.Fatalf("epoch %d", e1)
	}
	if again := acquire(t, a, k, 1); again != e1 {
		t.Errorf("re-acquire epoch %d, want %d", again, e1)
	}
	if _, err := b.AcquireLeadership(ctx, k, 2); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("other store acquire: %v, want ErrNotLeader", err)
	}
	// Resigning a wrong epoch keeps the leadership.
	if err := a.ResignLeadership(ctx, k, e1+1); err != nil {
		t.Fatal(err)
	}
	if _, err := b.AcquireLeadership(ctx, k, 2); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("after resign of a wrong epoch: %v, want ErrNotLeader", err)
	}
	if err := a.ResignLeadership(ctx, k, e1); err != nil {
		t.Fatal(err)
	}
	e2 := acquire(t, b, k, 2)
	if e2 <= e1 {
		t.Errorf("new epoch %d not above %d", e2, e1)
	}
	if _, err := a.AcquireLeadership(ctx, k, 1); !errors.Is(err, ErrNotLeader) {
		t.Errorf("old leader acquire: %v, want ErrNotLeader", err)
	}
	// Resigning what is already lost is not an error.
	if err := a.ResignLeadership(ctx, k, e1); err != nil {
		t.Errorf("resign lost leadership: %v", err)
	}
}

func testFencing(t *testing.T, env *storeEnv) {
	ctx := t.Context()
	a, b := env.store(t), env.store(t)
	k := PartitionKey{Topic: NewTopicID(), Partition: 0}

	ea := acquire(t, a, k, 1)
	first := commitFor(k, ea, 0, 10)
	mustCommit(t, a, first)

	// A's lease ends; B takes over.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	eb := acquire(t, b, k, 2)
	if eb <= ea {
		t.Fatalf("epoch %d not above %d", eb, ea)
	}
	// A, not knowing yet, tries to commit its next segment: nothing is written.
	zombie := commitFor(k, ea, 10, 10)
	zombie.State.Producers = map[int64]ProducerState{7: {Epoch: 1}}
	if errs := a.CommitSegments(ctx, []Commit{zombie}); !errors.Is(errs[0], ErrFenced) {
		t.Fatalf("zombie commit: %v, want ErrFenced", errs[0])
	}
	if got := manifestBases(t, b, k); !slices.Equal(got, []int64{0}) {
		t.Errorf("manifest after zombie commit = %v, want [0]", got)
	}
	st, err := b.PartitionState(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st, first.State) {
		t.Errorf("state after zombie commit = %+v, want %+v", st, first.State)
	}
	// The new leader carries on from the committed state.
	mustCommit(t, b, commitFor(k, eb, 10, 5))
	if got := manifestBases(t, b, k); !slices.Equal(got, []int64{0, 10}) {
		t.Errorf("manifest = %v, want [0 10]", got)
	}
	// An epoch of zero never passes, even where no leader key exists.
	free := PartitionKey{Topic: NewTopicID()}
	if errs := b.CommitSegments(ctx, []Commit{commitFor(free, 0, 0, 1)}); !errors.Is(errs[0], ErrFenced) {
		t.Errorf("commit with epoch 0: %v, want ErrFenced", errs[0])
	}
	if got := manifestBases(t, b, free); len(got) != 0 {
		t.Errorf("epoch-0 commit wrote %v", got)
	}
}

func testLeaseReattach(t *testing.T, env *storeEnv) {
	ctx := t.Context()
	a := env.store(t)
	k := PartitionKey{Topic: NewTopicID(), Partition: 1}
	epoch := acquire(t, a, k, 1)
	if err := a.Register(ctx, Broker{ID: 1, Addr: "a:9092"}); err != nil {
		t.Fatal(err)
	}
	// The process dies without revoking its lease...
	a.session.Orphan()
	// ...and comes back within the TTL.
	a2 := env.storeWith(t, Options{LeaseID: a.LeaseID()})
	if got := acquire(t, a2, k, 1); got != epoch {
		t.Errorf("epoch after re-attach = %d, want %d", got, epoch)
	}
	mustCommit(t, a2, commitFor(k, epoch, 0, 1))
	if bs := readView(t, a2).Brokers; len(bs) != 1 {
		t.Errorf("brokers after re-attach = %+v", bs)
	}

	if err := a2.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := New(ctx, env.client(t), Options{Prefix: env.prefix, LeaseID: a.LeaseID()})
	if !errors.Is(err, ErrLeaseExpired) {
		t.Errorf("re-attach to a revoked lease: %v, want ErrLeaseExpired", err)
	}
}

func testBatched200(t *testing.T, env *storeEnv) {
	// Within etcd's default limits, 200 commits fit in ceil(200/64) = 4
	// transactions; within the large ones (the Store's default, which the
	// test servers are started with), in one.
	t.Run("DefaultLimits", func(t *testing.T) {
		testBatched200Within(t, env, Options{TxnLimits: DefaultTxnLimits}, 4)
	})
	t.Run("LargeLimits", func(t *testing.T) { testBatched200Within(t, env, Options{}, 1) })
}

func testBatched200Within(t *testing.T, env *storeEnv, opts Options, txns int64) {
	ctx := t.Context()
	env = &storeEnv{endpoints: env.endpoints, prefix: env.prefix + t.Name() + "/"}
	a, b := env.storeWith(t, opts), env.store(t)
	id := NewTopicID()
	const n = 200
	keys := make([]PartitionKey, n)
	epochs := make([]int64, n)
	p := pool.New().WithMaxGoroutines(16)
	for i := range keys {
		keys[i] = PartitionKey{Topic: id, Partition: int32(i)}
		p.Go(func() { epochs[i] = acquire(t, a, keys[i], 1) })
	}
	p.Wait()

	// A loses some partitions to B, spread over every transaction.
	fenced := func(i int) bool { return i%7 == 3 || i == n-1 }
	for i := range keys {
		if fenced(i) {
			if err := a.ResignLeadership(ctx, keys[i], epochs[i]); err != nil {
				t.Fatal(err)
			}
			acquire(t, b, keys[i], 2)
		}
	}

	commits := make([]Commit, n)
	for i := range commits {
		commits[i] = commitFor(keys[i], epochs[i], 100, int64(i+1))
	}
	before := revision(t, a)
	errs := a.CommitSegments(ctx, commits)
	if len(errs) != n {
		t.Fatalf("%d errors for %d commits", len(errs), n)
	}
	for i, err := range errs {
		if fenced(i) != errors.Is(err, ErrFenced) || (!fenced(i) && err != nil) {
			t.Errorf("commit %d: %v (fenced: %v)", i, err, fenced(i))
		}
	}
	// Successful transactions each add one revision.
	if delta := revision(t, a) - before; delta != txns {
		t.Errorf("commit took %d write transactions, want %d", delta, txns)
	}
	for i, k := range keys {
		m, err := a.Manifest(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		st, err := a.PartitionState(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if fenced(i) {
			if len(m) != 0 || st.HighWatermark != 0 {
				t.Errorf("fenced partition %d written: %v, %+v", i, m, st)
			}
			continue
		}
		if len(m) != 1 || !reflect.DeepEqual(m[0], commits[i].Entry) || !reflect.DeepEqual(st, commits[i].State) {
			t.Errorf("partition %d: manifest %+v state %+v, want %+v %+v", i, m, st, commits[i].Entry, commits[i].State)
		}
	}
}

func testSamePartitionTwice(t *testing.T, env *storeEnv) {
	ctx := t.Context()
	s := env.store(t)
	id := NewTopicID()
	x, y, z := PartitionKey{id, 0}, PartitionKey{id, 1}, PartitionKey{id, 2}
	ex, ey, ez := acquire(t, s, x, 1), acquire(t, s, y, 1), acquire(t, s, z, 1)

	bad := commitFor(z, ez, 0, 5)
	bad.Entry.BaseOffset = -1
	commits := []Commit{
		commitFor(x, ex, 0, 10),
		commitFor(y, ey, 0, 3),
		commitFor(x, ex, 10, 10),
		bad,
		commitFor(x, ex, 20, 1),
		commitFor(z, ez, 5, 5), // after a failed commit of z: must not leave a gap
	}
	errs := s.CommitSegments(ctx, commits)
	for i, want := range []error{nil, nil, nil, ErrInvalid, nil, ErrInvalid} {
		if (want == nil) != (errs[i] == nil) || !errors.Is(errs[i], want) {
			t.Errorf("commit %d: %v, want %v", i, errs[i], want)
		}
	}
	if got := manifestBases(t, s, x); !slices.Equal(got, []int64{0, 10, 20}) {
		t.Errorf("manifest of x = %v", got)
	}
	if st, _ := s.PartitionState(ctx, x); st.HighWatermark != 21 {
		t.Errorf("state of x = %+v, want the last commit's", st)
	}
	if got := manifestBases(t, s, z); len(got) != 0 {
		t.Errorf("manifest of z = %v, want empty", got)
	}
}

func testLargeStates(t *testing.T, env *storeEnv) {
	// Three commits of ~600 KiB of producer state: together above etcd's
	// request limit, so they must go in separate transactions.
	s := env.store(t)
	id := NewTopicID()
	var commits []Commit
	for p := range int32(3) {
		k := PartitionKey{id, p}
		c := commitFor(k, acquire(t, s, k, 1), 0, 1)
		c.State.Producers = map[int64]ProducerState{}
		for pid := range int64(2500) {
			var batches []ProducerBatch
			for j := range int32(5) {
				batches = append(batches, ProducerBatch{FirstSeq: j * 100, LastSeq: j*100 + 99, BaseOffset: pid*1000 + int64(j)})
			}
			c.State.Producers[1000+pid] = ProducerState{Epoch: 3, Batches: batches}
		}
		commits = append(commits, c)
	}
	mustCommit(t, s, commits...)
	st, err := s.PartitionState(t.Context(), commits[2].Key)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st, commits[2].State) {
		t.Errorf("large state did not round-trip (%d producers)", len(st.Producers))
	}
}

func testManifestOrder(t *testing.T, env *storeEnv) {
	ctx := t.Context()
	s := env.store(t)
	k := PartitionKey{Topic: NewTopicID(), Partition: 0}
	epoch := acquire(t, s, k, 1)

	st, err := s.PartitionState(ctx, k)
	if err != nil || !reflect.DeepEqual(st, PartitionState{}) || st.Producers != nil {
		t.Errorf("state before any commit = %+v, %v; want zero", st, err)
	}
	if got := manifestBases(t, s, k); len(got) != 0 {
		t.Errorf("manifest before any commit = %v", got)
	}

	// Bases whose decimal strings sort differently from their values.
	r := rand.New(rand.NewPCG(1, 2))
	bases := []int64{9, 10, 100, 0, 1 << 40, 99, 1000000}
	r.Shuffle(len(bases), func(i, j int) { bases[i], bases[j] = bases[j], bases[i] })
	for _, base := range bases[:3] {
		mustCommit(t, s, commitFor(k, epoch, base, 1))
	}
	var rest []Commit
	for _, base := range bases[3:] {
		rest = append(rest, commitFor(k, epoch, base, 1))
	}
	mustCommit(t, s, rest...)
	if got, want := manifestBases(t, s, k), slices.Sorted(slices.Values(bases)); !slices.Equal(got, want) {
		t.Errorf("manifest order = %v, want %v", got, want)
	}

	want := PartitionState{HighWatermark: 77, LogStartOffset: 9, Producers: map[int64]ProducerState{
		1000: {Epoch: 2, Batches: []ProducerBatch{{0, 4, 60}, {5, 9, 70}}},
	}}
	c := commitFor(k, epoch, 2000000, 1)
	c.State = want
	mustCommit(t, s, c)
	if st, err := s.PartitionState(ctx, k); err != nil || !reflect.DeepEqual(st, want) {
		t.Errorf("state = %+v, %v; want %+v", st, err, want)
	}
}

func testProducerIDs(t *testing.T, env *storeEnv) {
	type block struct{ first, n int64 }
	var mu sync.Mutex
	var blocks []block
	p := pool.New().WithErrors()
	for i := range 4 {
		s := env.store(t)
		for j := range 6 {
			n := int64(1 + (i*6+j)%5*250)
			p.Go(func() error {
				first, err := s.AllocateProducerIDs(t.Context(), n)
				if err != nil {
					return err
				}
				mu.Lock()
				blocks = append(blocks, block{first, n})
				mu.Unlock()
				return nil
			})
		}
	}
	if err := p.Wait(); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(blocks, func(a, b block) int { return int(a.first - b.first) })
	if blocks[0].first != FirstProducerID {
		t.Errorf("first producer id %d, want %d", blocks[0].first, FirstProducerID)
	}
	for i := 1; i < len(blocks); i++ {
		if prev := blocks[i-1]; prev.first+prev.n != blocks[i].first {
			t.Errorf("blocks %+v and %+v overlap or leave a gap", prev, blocks[i])
		}
	}
	if _, err := env.store(t).AllocateProducerIDs(t.Context(), 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty block: %v, want ErrInvalid", err)
	}
}

func TestConnectUnreachable(t *testing.T) {
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	_, err := Connect(context.Background(), []string{endpoint}, 300*time.Millisecond, ClientAuth{})
	if err == nil || !strings.Contains(err.Error(), endpoint) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connect to nothing = %v; want a deadline error naming %s", err, endpoint)
	}
	if _, err := Connect(context.Background(), nil, time.Second, ClientAuth{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Connect without endpoints = %v, want ErrInvalid", err)
	}
}
