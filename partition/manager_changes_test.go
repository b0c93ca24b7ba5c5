package partition

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/testenv"
	"github.com/strata-io/strata/metadata"
)

// fakeUploader records what the manager tells the uploader.
type fakeUploader struct {
	mu     sync.Mutex
	states map[metadata.PartitionKey]metadata.PartitionState
	forgot map[metadata.PartitionKey]int
}

func newFakeUploader() *fakeUploader {
	return &fakeUploader{states: map[metadata.PartitionKey]metadata.PartitionState{}, forgot: map[metadata.PartitionKey]int{}}
}

func (u *fakeUploader) SetState(key metadata.PartitionKey, st metadata.PartitionState) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.states[key] = st
}

func (u *fakeUploader) Forget(key metadata.PartitionKey) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.forgot[key]++
}

// reconcileEnv is a manager of broker 1 on a real etcd, whose views the
// test hands it one at a time from a watch of its own, and whose reconcile
// passes the test runs (no Run loop).
type reconcileEnv struct {
	t     *testing.T
	store *metadata.Store
	ctl   *metadata.Controller
	m     *Manager
	up    *fakeUploader
	views chan *metadata.View
	last  *metadata.View

	ctx      context.Context
	watching bool
	watched  chan struct{}
}

func newReconcileEnv(t *testing.T) *reconcileEnv {
	t.Helper()
	etcd := testenv.StartEtcd(t)
	ctx, cancel := context.WithCancel(context.Background())
	cl, err := metadata.Connect(ctx, []string{etcd.Endpoint}, 10*time.Second, metadata.ClientAuth{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := metadata.New(ctx, cl, metadata.Options{Prefix: "/strata-test/"})
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := s.Campaign(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	e := &reconcileEnv{t: t, store: s, ctl: ctl, up: newFakeUploader(), views: make(chan *metadata.View, 1024)}
	e.m = NewManager(ctx, Options{Store: s, BrokerID: 1})
	e.m.SetUploader(e.up)
	e.m.fullEvery = time.Hour // no periodic full pass unless a test asks
	e.watched = make(chan struct{})
	e.ctx = ctx
	t.Cleanup(func() {
		cancel()
		if e.watching {
			<-e.watched
		}
		e.m.wg.Wait()
		s.Close()
		cl.Close()
	})
	return e
}

// watch starts watching the views the test hands the manager.
func (e *reconcileEnv) watch() {
	e.watching = true
	go func() {
		defer close(e.watched)
		_ = e.store.Watch(e.ctx, func(v *metadata.View) {
			select {
			case e.views <- v:
			case <-e.ctx.Done():
			}
		})
	}()
}

// pass hands the manager the views watched until one satisfies pred, runs
// a reconcile pass after each, and returns the partitions each pass
// looked at.
func (e *reconcileEnv) pass(what string, pred func(*metadata.View) bool) []int64 {
	e.t.Helper()
	var visits []int64
	timeout := time.After(30 * time.Second)
	for {
		select {
		case v := <-e.views:
			e.last = v
			e.m.SetView(v)
			before := e.m.visits.Load()
			e.m.reconcileNext()
			visits = append(visits, e.m.visits.Load()-before)
			if pred(v) {
				return visits
			}
		case <-timeout:
			e.t.Fatalf("no view with %s within 30s (passes looked at %v partitions)", what, visits)
		}
	}
}

// ledHere counts the partitions of topic this manager leads at the
// epoch the view shows.
func (e *reconcileEnv) ledHere(v *metadata.View, topic *Topic) int {
	n := 0
	for _, p := range topic.Parts {
		if _, ok := e.m.Leader(v, p); ok {
			n++
		}
	}
	return n
}

func sum(xs []int64) int64 {
	var s int64
	for _, x := range xs {
		s += x
	}
	return s
}

// TestReconcileOnlyChanged: after the first pass, which looks at every
// partition, a pass looks only at the partitions a view changed or this
// broker acted on; every partition is still led or handed over as the
// assignments say.
func TestReconcileOnlyChanged(t *testing.T) {
	e := newReconcileEnv(t)
	ctx := t.Context()
	const n = 200
	mt := metadata.Topic{Name: "many", ID: metadata.NewTopicID(), Partitions: n}
	if err := e.store.CreateTopic(ctx, mt); err != nil {
		t.Fatal(err)
	}
	all := make([]int32, n)
	for i := range all {
		all[i] = 1
	}
	if err := e.ctl.SetAssignments(ctx, map[metadata.TopicID][]int32{mt.ID: all}); err != nil {
		t.Fatal(err)
	}
	e.watch()
	// The first view is read whole: the pass looks at everything and
	// takes every partition (in batches).
	visits := e.pass("the first view", func(*metadata.View) bool { return true })
	topic := e.m.TopicByID(mt.ID)
	if topic == nil || visits[0] != n {
		t.Fatalf("first pass looked at %v partitions, want %d (topic %v)", visits, n, topic)
	}
	visits = e.pass("every leader", func(v *metadata.View) bool { return e.ledHere(v, topic) == n })
	// The leader keys' creation came in views: each partition is looked
	// at again about once (when its key shows), not n times a view.
	if got := sum(visits); got > 2*n {
		t.Errorf("passes until every partition's leader showed looked at %v partitions (%d), want at most %d", visits, got, 2*n)
	}
	e.up.mu.Lock()
	if len(e.up.states) != n {
		t.Errorf("uploader got the state of %d partitions, want %d", len(e.up.states), n)
	}
	e.up.mu.Unlock()
	for _, p := range topic.Parts {
		epoch, _ := p.Led()
		if l := e.last.Leaders[p.key]; l.Epoch != epoch || l.Broker != 1 || l.LeaderEpoch != 0 {
			t.Errorf("%s: led at %d, view %+v", p.key, epoch, l)
		}
	}

	// Two partitions move to broker 2: the passes look at them alone,
	// and hand them over.
	moved := map[int32]bool{7: true, 150: true}
	next := append([]int32(nil), all...)
	for i := range moved {
		next[i] = 2
	}
	if err := e.ctl.SetAssignments(ctx, map[metadata.TopicID][]int32{mt.ID: next}); err != nil {
		t.Fatal(err)
	}
	visits = e.pass("the moved partitions resigned", func(v *metadata.View) bool {
		for i := range moved {
			if _, ok := v.Leaders[metadata.PartitionKey{Topic: mt.ID, Partition: i}]; ok || v.Assigned(metadata.PartitionKey{Topic: mt.ID, Partition: i}) != 2 {
				return false
			}
		}
		return true
	})
	for _, got := range visits {
		if got > int64(len(moved)) {
			t.Errorf("a pass after moving %d partitions looked at %d (passes: %v)", len(moved), got, visits)
		}
	}
	if sum(visits) == 0 {
		t.Error("no pass looked at the moved partitions")
	}
	for _, p := range topic.Parts {
		_, led := p.Led()
		if led == moved[p.key.Partition] {
			t.Errorf("%s led %v after partitions %v moved", p.key, led, moved)
		}
	}
	// A pass with nothing changed looks at nothing; a full pass (due by
	// fullEvery) at everything.
	before := e.m.visits.Load()
	e.m.reconcileNext()
	e.m.reconcileNext() // the hand-offs marked their partitions as they ended
	if got := e.m.visits.Load() - before; got > int64(len(moved)) {
		t.Errorf("passes with nothing new looked at %d partitions", got)
	}
	e.m.fullEvery = 0
	before = e.m.visits.Load()
	e.m.reconcileNext()
	if got := e.m.visits.Load() - before; got != n {
		t.Errorf("full pass looked at %d partitions, want %d", got, n)
	}
}
