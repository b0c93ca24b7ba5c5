package metadata

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sourcegraph/conc/pool"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/strata-io/strata/internal/testenv"
)

// The batched acquisition against a real etcd at its default
// --max-txn-ops: a batch that held more ops than etcd allows fails there.

func TestAcquireLeaderships(t *testing.T) {
	etcd := testenv.StartEtcd(t)
	runStoreCases(t, []string{etcd.Endpoint}, []storeCase{
		{"SameAsOneByOne", testAcquireBatchSameAsOneByOne},
		{"NotLeaderInBatch", testAcquireBatchNotLeader},
		{"Race", testAcquireBatchRace},
		{"Fencing", testAcquireBatchFencing},
		{"SmallTxnLimit", testAcquireBatchSmallLimit},
	})
}

// acquiredOutcome is what the one-by-one path gives for one partition:
// AcquireLeadership or ResumeLeadership, then PartitionState and Manifest.
func acquireOneByOne(ctx context.Context, s *Store, broker int32, r Acquisition) Acquired {
	var a Acquired
	if r.Resume != 0 {
		a.Leadership, a.Err = s.ResumeLeadership(ctx, r.Key, broker, r.Resume)
	} else {
		a.Leadership, a.Err = s.AcquireLeadership(ctx, r.Key, broker)
	}
	if a.Err != nil {
		return a
	}
	if a.State, a.Err = s.PartitionState(ctx, r.Key); a.Err != nil {
		return a
	}
	a.Manifest, a.Err = s.Manifest(ctx, r.Key)
	return a
}

// errClass names the kind of an acquisition's error, for comparing the
// two paths.
func errClass(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrNotLeader):
		return "not leader"
	case errors.Is(err, ErrNotResumable):
		return "not resumable"
	default:
		return "other"
	}
}

// checkEpochKeys checks that a leadership's fencing epoch is its leader
// key's CreateRevision, held by s's lease, and the epoch history's
// ModRevision (the history is written in the transaction that creates the
// key), and that the history is the leadership's.
func checkEpochKeys(t *testing.T, s *Store, k PartitionKey, l Leadership) {
	t.Helper()
	resp, err := s.client.Txn(t.Context()).Then(clientv3.OpGet(s.keys.leader(k)), clientv3.OpGet(s.keys.epochs(k))).Commit()
	if err != nil {
		t.Fatal(err)
	}
	lkv, ekv := firstKV(resp, 0), firstKV(resp, 1)
	if lkv == nil || ekv == nil {
		t.Fatalf("%s: leader key %v, epoch history %v after acquisition", k, lkv, ekv)
	}
	if lkv.CreateRevision != l.Epoch || clientv3.LeaseID(lkv.Lease) != s.LeaseID() {
		t.Errorf("%s: leader key created at %d under lease %x, want epoch %d under %x", k, lkv.CreateRevision, lkv.Lease, l.Epoch, s.LeaseID())
	}
	if ekv.ModRevision != l.Epoch {
		t.Errorf("%s: epoch history written at %d, want the epoch %d", k, ekv.ModRevision, l.Epoch)
	}
	if hist, err := s.EpochHistory(t.Context(), k); err != nil || !reflect.DeepEqual(hist, l.History) {
		t.Errorf("%s: EpochHistory = %v, %v, want %v", k, hist, err, l.History)
	}
}

// testAcquireBatchSameAsOneByOne builds the same situations in two topics,
// takes one topic's partitions one by one and the other's in one batch,
// and compares: same outcome, leader epoch, history, resume, state and
// manifest, and in both the epoch is the leader key's creation.
func testAcquireBatchSameAsOneByOne(t *testing.T, env *storeEnv) {
	ctx := t.Context()
	other := env.store(t) // broker 2
	type situation struct {
		name  string
		setUp func(t *testing.T, k PartitionKey, me *Store) (resume int64) // me is broker 1's store
	}
	// ended is a tenure of broker 1 that ended with its lease, after a
	// commit of n records: its fencing epoch.
	ended := func(t *testing.T, k PartitionKey, n int64) int64 {
		gone := env.store(t)
		l := tenure(t, gone, k, 1)
		mustCommit(t, gone, commitFor(k, l.Epoch, 0, n))
		if err := gone.Close(); err != nil {
			t.Fatal(err)
		}
		return l.Epoch
	}
	situations := []situation{
		{"fresh", func(*testing.T, PartitionKey, *Store) int64 { return 0 }},
		{"led before", func(t *testing.T, k PartitionKey, _ *Store) int64 {
			l := tenure(t, other, k, 2)
			mustCommit(t, other, commitFor(k, l.Epoch, 0, 10), commitFor(k, l.Epoch, 10, 5))
			resign(t, other, k, l.Epoch)
			return 0
		}},
		{"led by another", func(t *testing.T, k PartitionKey, _ *Store) int64 {
			tenure(t, other, k, 2)
			return 0
		}},
		{"already mine", func(t *testing.T, k PartitionKey, me *Store) int64 {
			l := tenure(t, me, k, 1)
			mustCommit(t, me, commitFor(k, l.Epoch, 0, 3))
			return 0
		}},
		{"resumable", func(t *testing.T, k PartitionKey, _ *Store) int64 { return ended(t, k, 7) }},
		{"led since", func(t *testing.T, k PartitionKey, _ *Store) int64 {
			e := ended(t, k, 7)
			l := tenure(t, other, k, 2)
			resign(t, other, k, l.Epoch)
			return e
		}},
		{"resume held by another", func(t *testing.T, k PartitionKey, _ *Store) int64 {
			e := ended(t, k, 7)
			tenure(t, other, k, 2)
			return e
		}},
		{"resume a tenure that is not the last", func(t *testing.T, k PartitionKey, _ *Store) int64 {
			return ended(t, k, 2) + 1000
		}},
		{"long manifest", func(t *testing.T, k PartitionKey, _ *Store) int64 {
			l := tenure(t, other, k, 2)
			var cs []Commit
			for i := range int64(acquireManifestPage + 5) {
				cs = append(cs, commitFor(k, l.Epoch, i, 1))
			}
			mustCommit(t, other, cs...)
			resign(t, other, k, l.Epoch)
			return 0
		}},
	}
	single, batch := env.store(t), env.store(t) // two sessions of broker 1
	t1, t2 := NewTopicID(), NewTopicID()
	var reqs1, reqs2 []Acquisition
	for i, s := range situations {
		k1, k2 := PartitionKey{Topic: t1, Partition: int32(i)}, PartitionKey{Topic: t2, Partition: int32(i)}
		reqs1 = append(reqs1, Acquisition{Key: k1, Resume: s.setUp(t, k1, single)})
		reqs2 = append(reqs2, Acquisition{Key: k2, Resume: s.setUp(t, k2, batch)})
	}
	got := batch.AcquireLeaderships(ctx, 1, reqs2, 0)
	if len(got) != len(reqs2) {
		t.Fatalf("%d outcomes for %d requests", len(got), len(reqs2))
	}
	for i, s := range situations {
		want := acquireOneByOne(ctx, single, 1, reqs1[i])
		g := got[i]
		if errClass(g.Err) != errClass(want.Err) {
			t.Errorf("%s: batch %v, one by one %v", s.name, g.Err, want.Err)
			continue
		}
		if want.Err != nil {
			if g.Leadership.Epoch != 0 {
				t.Errorf("%s: failed with a leadership %+v", s.name, g.Leadership)
			}
			continue
		}
		gl, wl := g.Leadership, want.Leadership
		if gl.LeaderEpoch != wl.LeaderEpoch || !reflect.DeepEqual(gl.History, wl.History) ||
			(gl.Resumed != 0) != (wl.Resumed != 0) || (gl.Resumed != 0 && gl.Resumed != reqs2[i].Resume) {
			t.Errorf("%s: batch leadership %+v, one by one %+v", s.name, gl, wl)
		}
		if !reflect.DeepEqual(g.State, want.State) {
			t.Errorf("%s: batch state %+v, one by one %+v", s.name, g.State, want.State)
		}
		if !reflect.DeepEqual(g.Manifest, want.Manifest) {
			t.Errorf("%s: batch manifest of %d entries, one by one %d", s.name, len(g.Manifest), len(want.Manifest))
		}
		checkEpochKeys(t, batch, reqs2[i].Key, gl)
		checkEpochKeys(t, single, reqs1[i].Key, wl)
	}
	// The outcomes are not vacuous: each kind the situations aim at came.
	kinds := map[string]int{}
	for _, g := range got {
		kinds[errClass(g.Err)]++
	}
	if kinds["ok"] != 5 || kinds["not leader"] != 2 || kinds["not resumable"] != 2 {
		t.Errorf("outcomes by kind = %v, want 5 ok, 2 not leader, 2 not resumable", kinds)
	}
}

// testAcquireBatchNotLeader: in one batch, the partitions another broker
// leads fail with ErrNotLeader and change nothing; the others are taken.
func testAcquireBatchNotLeader(t *testing.T, env *storeEnv) {
	ctx := t.Context()
	a, b := env.store(t), env.store(t)
	topic := NewTopicID()
	var reqs []Acquisition
	held := map[int32]Leadership{}
	for i := range int32(20) {
		k := PartitionKey{Topic: topic, Partition: i}
		reqs = append(reqs, Acquisition{Key: k})
		if i%3 == 0 {
			held[i] = tenure(t, b, k, 2)
		}
	}
	for i, r := range a.AcquireLeaderships(ctx, 1, reqs, 0) {
		k := reqs[i].Key
		if bl, ok := held[k.Partition]; ok {
			if !errors.Is(r.Err, ErrNotLeader) {
				t.Errorf("%s led by broker 2: %+v, %v, want ErrNotLeader", k, r.Leadership, r.Err)
			}
			// Broker 2's tenure is untouched: its commits still pass.
			mustCommit(t, b, commitFor(k, bl.Epoch, 0, 1))
			continue
		}
		if r.Err != nil || r.Leadership.LeaderEpoch != 0 || len(r.Leadership.History) != 1 {
			t.Errorf("%s: %+v, %v, want leader epoch 0 with one history entry", k, r.Leadership, r.Err)
			continue
		}
		checkEpochKeys(t, a, k, r.Leadership)
	}
}

// testAcquireBatchRace: two brokers take the same partitions in batches
// at once: each partition goes to exactly one of them, with one tenure in
// its history, and the other gets ErrNotLeader.
func testAcquireBatchRace(t *testing.T, env *storeEnv) {
	ctx := t.Context()
	stores := []*Store{env.store(t), env.store(t)}
	topic := NewTopicID()
	const n = 100 // several batches
	var reqs []Acquisition
	for i := range int32(n) {
		reqs = append(reqs, Acquisition{Key: PartitionKey{Topic: topic, Partition: i}})
	}
	out := make([][]Acquired, len(stores))
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() { out[i] = s.AcquireLeaderships(ctx, int32(i+1), reqs, 0) })
	}
	wg.Wait()
	for j, r := range reqs {
		winners := 0
		for i, s := range stores {
			a := out[i][j]
			switch {
			case a.Err == nil:
				winners++
				if a.Leadership.LeaderEpoch != 0 || len(a.Leadership.History) != 1 {
					t.Errorf("%s won by %d: %+v, want the first tenure", r.Key, i+1, a.Leadership)
				}
				checkEpochKeys(t, s, r.Key, a.Leadership)
			case !errors.Is(a.Err, ErrNotLeader):
				t.Errorf("%s lost by %d: %v, want ErrNotLeader", r.Key, i+1, a.Err)
			}
		}
		if winners != 1 {
			t.Errorf("%s: %d winners", r.Key, winners)
		}
	}
}

// testAcquireBatchFencing: once a batch takes partitions after another
// broker's lease ended, that broker's commits under its epochs fail and the
// new tenures' pass; the new leader epochs follow the history.
func testAcquireBatchFencing(t *testing.T, env *storeEnv) {
	ctx := t.Context()
	old, next := env.store(t), env.store(t)
	topic := NewTopicID()
	var reqs []Acquisition
	for i := range int32(40) {
		reqs = append(reqs, Acquisition{Key: PartitionKey{Topic: topic, Partition: i}})
	}
	first := old.AcquireLeaderships(ctx, 1, reqs, 0)
	for i, a := range first {
		if a.Err != nil {
			t.Fatalf("%s: %v", reqs[i].Key, a.Err)
		}
		mustCommit(t, old, commitFor(reqs[i].Key, a.Leadership.Epoch, 0, 4))
	}
	// The old broker's lease ends without a word (its keys go with it).
	if _, err := old.client.Revoke(ctx, old.LeaseID()); err != nil {
		t.Fatal(err)
	}
	second := next.AcquireLeaderships(ctx, 2, reqs, 0)
	var zombies []Commit
	for i, a := range second {
		k := reqs[i].Key
		if a.Err != nil {
			t.Fatalf("%s after the lease ended: %v", k, a.Err)
		}
		want := []EpochStart{{LeaderEpoch: 0, StartOffset: 0}, {LeaderEpoch: 1, StartOffset: 4}}
		if a.Leadership.Epoch <= first[i].Leadership.Epoch || a.Leadership.LeaderEpoch != 1 || !reflect.DeepEqual(a.Leadership.History, want) ||
			a.State.HighWatermark != 4 || len(a.Manifest) != 1 {
			t.Errorf("%s: %+v, state %+v, %d manifest entries; want epoch above %d, leader epoch 1, history %v, hwm 4, one entry",
				k, a.Leadership, a.State, len(a.Manifest), first[i].Leadership.Epoch, want)
		}
		checkEpochKeys(t, next, k, a.Leadership)
		zombies = append(zombies, commitFor(k, first[i].Leadership.Epoch, 4, 1))
	}
	for i, err := range old.CommitSegments(ctx, zombies) {
		if !errors.Is(err, ErrFenced) {
			t.Errorf("%s: commit under the ended epoch: %v, want ErrFenced", zombies[i].Key, err)
		}
	}
	for i, a := range second {
		mustCommit(t, next, commitFor(reqs[i].Key, a.Leadership.Epoch, 4, 1))
	}
}

// testAcquireBatchSmallLimit: under a smaller --max-txn-ops the batches
// are smaller, and the outcome the same.
func testAcquireBatchSmallLimit(t *testing.T, env *storeEnv) {
	if got := BatchSize(0); got != DefaultMaxTxnOps/opsPerAcquire {
		t.Fatalf("BatchSize(0) = %d", got)
	}
	if got := BatchSize(9); got != 2 {
		t.Fatalf("BatchSize(9) = %d, want 2", got)
	}
	s := env.store(t)
	topic := NewTopicID()
	var reqs []Acquisition
	for i := range int32(7) {
		reqs = append(reqs, Acquisition{Key: PartitionKey{Topic: topic, Partition: i}})
	}
	reqs = append(reqs, Acquisition{Key: reqs[2].Key}, Acquisition{Key: PartitionKey{Topic: topic, Partition: 9}, Resume: -1})
	out := s.AcquireLeaderships(t.Context(), 1, reqs, 9)
	for i, a := range out[:7] {
		if a.Err != nil {
			t.Errorf("%s: %v", reqs[i].Key, a.Err)
			continue
		}
		checkEpochKeys(t, s, reqs[i].Key, a.Leadership)
	}
	for _, a := range out[7:] {
		if !errors.Is(a.Err, ErrInvalid) {
			t.Errorf("a key twice, or a negative resume: %v, want ErrInvalid", a.Err)
		}
	}
	// Batches of two: the epochs of 0,1 and 2,3 pairs are shared, not
	// across pairs.
	seen := map[int64]int{}
	for _, a := range out[:7] {
		seen[a.Leadership.Epoch]++
	}
	if len(seen) != 4 {
		t.Errorf("%d distinct epochs for 7 partitions in batches of 2: %v", len(seen), fmt.Sprint(seen))
	}
}

// BenchmarkAcquire compares, on a real etcd, taking 2,000 partitions one by
// one (AcquireLeadership, PartitionState, Manifest; eight at a time, as the
// partition manager did) with AcquireLeaderships (four batches at a time,
// as it does now): new leaderships (a topic created) and leaderships the
// lease already holds (a restart within the TTL). It reports partitions per
// second; the ratio of the two is the figure, the machine being shared.
//
//	CI=true go test -run '^$' -bench BenchmarkAcquire -benchtime 1x ./metadata/
func BenchmarkAcquire(b *testing.B) {
	etcd := testenv.StartEtcd(b)
	const n = 2000
	for _, path := range []string{"one-by-one", "batched"} {
		for _, held := range []bool{false, true} {
			name := path + "/new"
			if held {
				name = path + "/held"
			}
			b.Run(name, func(b *testing.B) {
				cl, err := Connect(b.Context(), []string{etcd.Endpoint}, 10*time.Second, ClientAuth{})
				if err != nil {
					b.Fatal(err)
				}
				defer cl.Close()
				for range b.N {
					s, err := New(b.Context(), cl, Options{Prefix: fmt.Sprintf("/bench/%s/%d/", name, time.Now().UnixNano())})
					if err != nil {
						b.Fatal(err)
					}
					topic := NewTopicID()
					reqs := make([]Acquisition, n)
					for i := range reqs {
						reqs[i] = Acquisition{Key: PartitionKey{Topic: topic, Partition: int32(i)}}
					}
					if held {
						for _, a := range s.AcquireLeaderships(b.Context(), 1, reqs, 0) {
							if a.Err != nil {
								b.Fatal(a.Err)
							}
						}
					}
					t0 := time.Now()
					if path == "batched" {
						p := pool.New().WithMaxGoroutines(4).WithErrors()
						for c := range slices.Chunk(reqs, BatchSize(0)) {
							p.Go(func() error {
								for _, a := range s.AcquireLeaderships(b.Context(), 1, c, 0) {
									if a.Err != nil {
										return a.Err
									}
								}
								return nil
							})
						}
						if err := p.Wait(); err != nil {
							b.Fatal(err)
						}
					} else {
						p := pool.New().WithMaxGoroutines(8).WithErrors()
						for _, r := range reqs {
							p.Go(func() error { return acquireOneByOne(b.Context(), s, 1, r).Err })
						}
						if err := p.Wait(); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(n/time.Since(t0).Seconds(), "partitions/s")
					_ = s.Close()
				}
				b.ReportMetric(0, "ns/op")
			})
		}
	}
}
