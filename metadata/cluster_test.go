package metadata

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/sourcegraph/conc/pool"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Store suite cases for the cluster: leader epochs, the controller
// election, the watched view and session renewal. They are listed in
// storeSuite (store_test.go).

// within bounds every wait for something that should happen at once;
// reaching it fails the test.
const within = 30 * time.Second

// shortTTL makes a lease whose end (a revoke, an expiry) the session
// notices within about a second: keep-alives go every TTL/3. It is etcd's
// minimum TTL with default election settings.
const shortTTL = 2 * time.Second

func tenure(t *testing.T, s *Store, k PartitionKey, broker int32) Leadership {
	t.Helper()
	l, err := s.AcquireLeadership(t.Context(), k, broker)
	if err != nil {
		t.Fatalf("acquire %s as broker %d: %v", k, broker, err)
	}
	return l
}

func resign(t *testing.T, s *Store, k PartitionKey, epoch int64) {
	t.Helper()
	if err := s.ResignLeadership(t.Context(), k, epoch); err != nil {
		t.Fatal(err)
	}
}

func readView(t *testing.T, s *Store) *View {
	t.Helper()
	v, err := s.ReadView(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// awaitView watches until the view satisfies pred and returns that view.
func awaitView(t *testing.T, s *Store, what string, pred func(*View) bool) *View {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	var found, last *View
	err := s.Watch(ctx, func(v *View) {
		last = v
		if found == nil && pred(v) {
			found = v
			cancel()
		}
	})
	if found == nil {
		t.Fatalf("the view did not show %s within %s (watch: %v); last view: %+v", what, within, err, last)
	}
	return found
}

// awaitClosed waits until ch is closed.
func awaitClosed(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatalf("%s: not closed within %s", what, within)
	}
}

type campaignResult struct {
	ctl *Controller
	err error
}

// campaign campaigns in the background; the result arrives on the channel.
// The campaign gives up when ctx (or the test) ends.
func campaign(ctx context.Context, s *Store, broker int32) <-chan campaignResult {
	ch := make(chan campaignResult, 1)
	go func() {
		ctl, err := s.Campaign(ctx, broker)
		ch <- campaignResult{ctl, err}
	}()
	return ch
}

func awaitCampaign(t *testing.T, what string, ch <-chan campaignResult) campaignResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		t.Fatalf("%s: campaign did not return within %s", what, within)
		return campaignResult{}
	}
}

func elected(t *testing.T, what string, ch <-chan campaignResult) *Controller {
	t.Helper()
	r := awaitCampaign(t, what, ch)
	if r.err != nil {
		t.Fatalf("%s: campaign: %v", what, r.err)
	}
	return r.ctl
}

// notElected checks that a campaign in the background has not returned.
func notElected(t *testing.T, what string, ch <-chan campaignResult) {
	t.Helper()
	select {
	case r := <-ch:
		t.Fatalf("%s: campaign returned (%v) while another broker's term lasts", what, r.err)
	default:
	}
}

func candidates(n int) func(*View) bool {
	return func(v *View) bool { return len(v.candidates) == n }
}

func controllerIs(b int32) func(*View) bool {
	return func(v *View) bool { return v.Controller == b }
}

// testLeaderEpochs: every new tenure is the next Kafka leader epoch, and the
// history records where each began (the committed high watermark then).
func testLeaderEpochs(t *testing.T, env *storeEnv) {
	a, b := env.store(t), env.store(t)
	k := PartitionKey{Topic: NewTopicID(), Partition: 2}

	l0 := tenure(t, a, k, 1)
	if want := []EpochStart{{0, 0}}; l0.Epoch <= 0 || l0.LeaderEpoch != 0 || !slices.Equal(l0.History, want) {
		t.Fatalf("first tenure = %+v, want a positive epoch, leader epoch 0, history %v", l0, want)
	}
	// The same live lease acquiring again is the same tenure, not a new one.
	if again := tenure(t, a, k, 1); !reflect.DeepEqual(again, l0) {
		t.Fatalf("re-acquire with the same lease = %+v, want the same tenure %+v", again, l0)
	}
	mustCommit(t, a, commitFor(k, l0.Epoch, 0, 10))

	// A resigns; B starts at the committed high watermark.
	resign(t, a, k, l0.Epoch)
	l1 := tenure(t, b, k, 2)
	if want := []EpochStart{{0, 0}, {1, 10}}; l1.LeaderEpoch != 1 || !slices.Equal(l1.History, want) || l1.Epoch <= l0.Epoch {
		t.Fatalf("second tenure = %+v, want leader epoch 1, history %v, epoch above %d", l1, want, l0.Epoch)
	}
	mustCommit(t, b, commitFor(k, l1.Epoch, 10, 15))

	// B's lease ends; A leads again, from where B's commits ended.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := tenure(t, a, k, 1)
	if want := []EpochStart{{0, 0}, {1, 10}, {2, 25}}; l2.LeaderEpoch != 2 || !slices.Equal(l2.History, want) || l2.Epoch <= l1.Epoch {
		t.Fatalf("third tenure = %+v, want leader epoch 2, history %v, epoch above %d", l2, want, l1.Epoch)
	}
	want := Leader{Broker: 1, Epoch: l2.Epoch, LeaderEpoch: 2, Lease: int64(a.LeaseID())}
	if got := readView(t, a).Leaders[k]; got != want {
		t.Errorf("view's leader = %+v, want %+v", got, want)
	}

	// The history keeps the last maxEpochHistory tenures; leader epochs go on counting.
	l := l2
	for range maxEpochHistory + 1 {
		resign(t, a, k, l.Epoch)
		l = tenure(t, a, k, 1)
	}
	last := l2.LeaderEpoch + maxEpochHistory + 1
	if l.LeaderEpoch != last || len(l.History) != maxEpochHistory {
		t.Fatalf("after %d tenures: leader epoch %d with %d history entries, want %d with %d",
			last+1, l.LeaderEpoch, len(l.History), last, maxEpochHistory)
	}
	for i, e := range l.History {
		if want := (EpochStart{LeaderEpoch: last - maxEpochHistory + 1 + int32(i), StartOffset: 25}); e != want {
			t.Fatalf("history[%d] = %+v, want %+v (the last %d tenures, oldest first)", i, e, want, maxEpochHistory)
		}
	}
	// The trimmed history is what is stored: another broker continues from it.
	resign(t, a, k, l.Epoch)
	next := tenure(t, env.store(t), k, 3)
	if next.LeaderEpoch != last+1 || len(next.History) != maxEpochHistory ||
		!slices.Equal(next.History[:maxEpochHistory-1], l.History[1:]) || next.History[maxEpochHistory-1] != (EpochStart{last + 1, 25}) {
		t.Fatalf("tenure after the cap = leader epoch %d, history %v; want %d, history shifted by one",
			next.LeaderEpoch, next.History, last+1)
	}
}

// testResumeLeadership: a broker back after its lease ended continues its
// last tenure (same Kafka leader epoch, new fencing epoch) only while no
// tenure began since; otherwise, or for any other epoch, it takes nothing.
func testResumeLeadership(t *testing.T, env *storeEnv) {
	k := PartitionKey{Topic: NewTopicID(), Partition: 0}
	a := env.store(t)
	l0 := tenure(t, a, k, 1)
	mustCommit(t, a, commitFor(k, l0.Epoch, 0, 10))
	if err := a.Close(); err != nil { // the lease ends; the key goes with it
		t.Fatal(err)
	}

	// An epoch that is not the last tenure's takes nothing.
	back := env.store(t)
	if l, err := back.ResumeLeadership(t.Context(), k, 1, l0.Epoch+1000); !errors.Is(err, ErrNotResumable) {
		t.Fatalf("resume with an epoch that is not the last tenure's = %+v, %v, want ErrNotResumable", l, err)
	}
	if got := readView(t, back).Leaders[k]; got.Epoch != 0 {
		t.Fatalf("a refused resume left a leader: %+v", got)
	}
	l := tenure(t, back, k, 1)
	if l.Resumed != 0 || l.LeaderEpoch != 1 {
		t.Fatalf("new tenure after the lease ended = %+v, want leader epoch 1", l)
	}
	if hist, err := back.EpochHistory(t.Context(), k); err != nil || !reflect.DeepEqual(hist, l.History) {
		t.Fatalf("EpochHistory = %v, %v, want %v", hist, err, l.History)
	}
	mustCommit(t, back, commitFor(k, l.Epoch, 10, 5))
	if err := back.Close(); err != nil {
		t.Fatal(err)
	}

	again := env.store(t)
	r, err := again.ResumeLeadership(t.Context(), k, 1, l.Epoch)
	if err != nil {
		t.Fatal(err)
	}
	if r.Resumed != l.Epoch || r.LeaderEpoch != 1 || r.Epoch <= l.Epoch || !reflect.DeepEqual(r.History, l.History) {
		t.Fatalf("resume of the last tenure = %+v, want Resumed %d, leader epoch 1, a larger fencing epoch, history %v",
			r, l.Epoch, l.History)
	}
	if got := readView(t, again).Leaders[k]; got.Epoch != r.Epoch || got.LeaderEpoch != 1 {
		t.Errorf("view's leader = %+v, want fencing epoch %d at leader epoch 1", got, r.Epoch)
	}
	mustCommit(t, again, commitFor(k, r.Epoch, 15, 1)) // commits go under the new fencing epoch
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}

	// Another broker leads in between: resuming the older tenure starts the next one.
	other := env.store(t)
	o := tenure(t, other, k, 2)
	resign(t, other, k, o.Epoch)
	if late, err := env.store(t).ResumeLeadership(t.Context(), k, 1, r.Epoch); !errors.Is(err, ErrNotResumable) {
		t.Fatalf("resume after another tenure = %+v, %v, want ErrNotResumable", late, err)
	}
}

// testLeaderEpochRace: of brokers acquiring a free partition at once,
// exactly one starts a tenure, and the history gets exactly one entry.
func testLeaderEpochRace(t *testing.T, env *storeEnv) {
	const brokers = 5
	k := PartitionKey{Topic: NewTopicID(), Partition: 0}
	stores := make([]*Store, brokers)
	for i := range stores {
		stores[i] = env.store(t)
	}
	got := make([]Leadership, brokers)
	errs := make([]error, brokers)
	p := pool.New()
	for i, s := range stores {
		p.Go(func() { got[i], errs[i] = s.AcquireLeadership(t.Context(), k, int32(i+1)) })
	}
	p.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("brokers %d and %d both acquired %s: %+v, %+v", winner+1, i+1, k, got[winner], got[i])
		case err == nil:
			winner = i
		case !errors.Is(err, ErrNotLeader):
			t.Errorf("broker %d: %v, want ErrNotLeader", i+1, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no broker acquired %s: %v", k, errs)
	}
	if l := got[winner]; l.LeaderEpoch != 0 || !slices.Equal(l.History, []EpochStart{{0, 0}}) {
		t.Errorf("winner's tenure = %+v, want leader epoch 0 and one history entry", l)
	}
	// The next tenure sees one entry before it.
	resign(t, stores[winner], k, got[winner].Epoch)
	if l := tenure(t, stores[(winner+1)%brokers], k, 9); l.LeaderEpoch != 1 || len(l.History) != 2 {
		t.Errorf("next tenure = %+v, want leader epoch 1 after one earlier tenure", l)
	}
}

// testCampaign: one controller at a time; the next candidate is elected when
// the term ends by Resign or by the session ending; a campaign whose context
// ends withdraws.
func testCampaign(t *testing.T, env *storeEnv) {
	ctx := t.Context()
	a, b, c := env.store(t), env.store(t), env.store(t)
	if v := readView(t, a); v.Controller != -1 {
		t.Fatalf("controller before any campaign = %d, want -1", v.Controller)
	}
	ca, err := a.Campaign(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if v := readView(t, a); v.Controller != 1 {
		t.Fatalf("controller = %d, want 1", v.Controller)
	}

	bres := campaign(ctx, b, 2)
	v := awaitView(t, a, "broker 2's candidacy", candidates(2))
	notElected(t, "broker 2 behind broker 1", bres)
	if v.Controller != 1 {
		t.Fatalf("controller with two candidates = %d, want the first, 1", v.Controller)
	}
	if err := ca.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	cb := elected(t, "broker 2 after broker 1 resigned", bres)
	if v := readView(t, a); v.Controller != 2 || len(v.candidates) != 1 {
		t.Fatalf("after resign: controller %d with %d candidates, want 2 alone", v.Controller, len(v.candidates))
	}

	// B's session ends (a crash): C, waiting behind it, is elected.
	cres := campaign(ctx, c, 3)
	awaitView(t, a, "broker 3's candidacy", candidates(2))
	notElected(t, "broker 3 behind broker 2", cres)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	awaitClosed(t, "Done of the term whose session ended", cb.Done())
	elected(t, "broker 3 after broker 2's session ended", cres)
	if v := readView(t, a); v.Controller != 3 {
		t.Fatalf("controller = %d, want 3", v.Controller)
	}

	// A campaign whose context ends returns an error. (Whether its candidacy
	// goes at once depends on where etcd's Election.Campaign was when the
	// context ended: cancelled before its put's response arrived, it leaves
	// the key until the lease ends.)
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	ares := campaign(actx, a, 1)
	awaitView(t, a, "broker 1's new candidacy", candidates(2))
	notElected(t, "broker 1 behind broker 3", ares)
	cancel()
	if r := awaitCampaign(t, "cancelled campaign", ares); r.err == nil || r.ctl != nil {
		t.Fatalf("cancelled campaign = %v, %v; want an error", r.ctl, r.err)
	}
	if v := readView(t, a); v.Controller != 3 {
		t.Fatalf("after a cancelled campaign: controller %d, want 3", v.Controller)
	}
}

// testCampaignSessionEnds: a candidate whose own session ends stops
// waiting (Campaign returns), rather than being elected later on a lease
// that no longer exists.
func testCampaignSessionEnds(t *testing.T, env *storeEnv) {
	a, b := env.store(t), env.store(t)
	if _, err := a.Campaign(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	bres := campaign(t.Context(), b, 2)
	awaitView(t, a, "broker 2's candidacy", candidates(2))
	notElected(t, "broker 2 behind broker 1", bres)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if r := awaitCampaign(t, "campaign of a broker whose session ended", bres); r.err == nil {
		t.Fatalf("campaign on an ended session elected %v", r.ctl)
	}
	if v := readView(t, a); v.Controller != 1 || len(v.candidates) != 1 {
		t.Fatalf("controller %d with %d candidates, want 1 alone", v.Controller, len(v.candidates))
	}
}

// testSetAssignments: the controller's writes land in the view; nil deletes;
// more topics than one transaction holds are all written.
func testSetAssignments(t *testing.T, env *storeEnv) {
	ctx := t.Context()
	s := env.store(t)
	ctl, err := s.Campaign(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	t1, t2 := NewTopicID(), NewTopicID()
	if err := ctl.SetAssignments(ctx, map[TopicID][]int32{t1: {1, 2, -1}, t2: {2}}); err != nil {
		t.Fatal(err)
	}
	if got, want := readView(t, s).Assignments, map[TopicID][]int32{t1: {1, 2, -1}, t2: {2}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("assignments = %v, want %v", got, want)
	}
	if err := ctl.SetAssignments(ctx, map[TopicID][]int32{t1: nil}); err != nil {
		t.Fatal(err)
	}
	if got, want := readView(t, s).Assignments, map[TopicID][]int32{t2: {2}}; !reflect.DeepEqual(got, want) {
		t.Fatalf("assignments after deleting t1 = %v, want %v", got, want)
	}

	many := map[TopicID][]int32{}
	for i := range 2*maxAssignmentsPerTxn + 7 {
		many[NewTopicID()] = []int32{int32(i % 3), int32(i % 5)}
	}
	if err := ctl.SetAssignments(ctx, many); err != nil {
		t.Fatal(err)
	}
	want := maps.Clone(many)
	want[t2] = []int32{2}
	if got := readView(t, s).Assignments; !reflect.DeepEqual(got, want) {
		t.Fatalf("after writing %d topics: view has %d assignments, want %d", len(many), len(got), len(want))
	}
}

// testControllerTermEnds: a controller whose term ended writes nothing, even
// before it notices: its lease expired while another broker took over, or it
// resigned.
func testControllerTermEnds(t *testing.T, env *storeEnv) {
	ctx := t.Context()
	a, b := env.storeWith(t, Options{SessionTTL: shortTTL}), env.store(t)
	topic := NewTopicID()
	ca, err := a.Campaign(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.SetAssignments(ctx, map[TopicID][]int32{topic: {1}}); err != nil {
		t.Fatal(err)
	}
	bres := campaign(ctx, b, 2)
	awaitView(t, b, "broker 2's candidacy", candidates(2))

	// A's lease ends behind its back (as if it expired while A was paused).
	if _, err := b.Client().Revoke(ctx, a.LeaseID()); err != nil {
		t.Fatal(err)
	}
	cb := elected(t, "broker 2 after broker 1's lease ended", bres)
	if err := ca.SetAssignments(ctx, map[TopicID][]int32{topic: {-1}}); !errors.Is(err, ErrNotController) {
		t.Fatalf("write by a controller whose lease ended = %v, want ErrNotController", err)
	}
	if err := ca.SetAssignments(ctx, map[TopicID][]int32{topic: nil}); !errors.Is(err, ErrNotController) {
		t.Fatalf("delete by a controller whose lease ended = %v, want ErrNotController", err)
	}
	if got := readView(t, b).Assigned(PartitionKey{topic, 0}); got != 1 {
		t.Fatalf("assignment after the old controller's writes = %d, want 1 (unchanged)", got)
	}
	awaitClosed(t, "Done of the term whose lease ended", ca.Done())

	if err := cb.SetAssignments(ctx, map[TopicID][]int32{topic: {2}}); err != nil {
		t.Fatal(err)
	}
	if err := cb.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cb.SetAssignments(ctx, map[TopicID][]int32{topic: {-1}}); !errors.Is(err, ErrNotController) {
		t.Errorf("write after Resign = %v, want ErrNotController", err)
	}
	if got := readView(t, b).Assigned(PartitionKey{topic, 0}); got != 2 {
		t.Errorf("assignment after writes past the term = %d, want 2 (unchanged)", got)
	}
}

// testReadView: one read shows brokers, the controller, topics, assignments
// and leaders; the cluster's other keys under cluster/ are not mistaken for any.
func testReadView(t *testing.T, env *storeEnv) {
	ctx := t.Context()
	a, b := env.store(t), env.store(t)
	// Keys under cluster/ that are not part of the view.
	if _, err := a.ClusterID(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AllocateBrokerID(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AllocateProducerIDs(ctx, 10); err != nil {
		t.Fatal(err)
	}
	ba, bb := Broker{ID: 1, Addr: "a:9092"}, Broker{ID: 2, Addr: "b:9092", Rack: "r2"}
	if err := a.Register(ctx, ba); err != nil {
		t.Fatal(err)
	}
	if err := b.Register(ctx, bb); err != nil {
		t.Fatal(err)
	}
	orders := Topic{Name: "orders", ID: NewTopicID(), Partitions: 3, Configs: map[string]string{"retention.ms": "1000"}}
	if err := a.CreateTopic(ctx, orders); err != nil {
		t.Fatal(err)
	}
	gone := createTopic(t, a, "gone", 1)
	ctl, err := a.Campaign(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	bres := campaign(bctx, b, 2) // a later candidate is not the controller
	if err := ctl.SetAssignments(ctx, map[TopicID][]int32{orders.ID: {1, 2, -1}, gone: {2}}); err != nil {
		t.Fatal(err)
	}
	p0, p1 := PartitionKey{orders.ID, 0}, PartitionKey{orders.ID, 1}
	l0 := tenure(t, a, p0, 1)
	resign(t, a, p1, tenure(t, a, p1, 1).Epoch)
	l1 := tenure(t, b, p1, 2) // the partition's second tenure
	acquire(t, b, PartitionKey{gone, 0}, 2)
	if err := a.DeleteTopic(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	awaitView(t, a, "broker 2's candidacy", candidates(2))

	before := revision(t, a)
	v := readView(t, a)
	if after := revision(t, a); v.Revision < before || v.Revision > after {
		t.Errorf("view revision %d, want between %d and %d", v.Revision, before, after)
	}
	if want := map[int32]Broker{1: ba, 2: bb}; !reflect.DeepEqual(v.Brokers, want) {
		t.Errorf("brokers = %+v, want %+v", v.Brokers, want)
	}
	if v.Controller != 1 {
		t.Errorf("controller = %d, want 1 (the first candidate)", v.Controller)
	}
	stored, err := a.Topic(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]Topic{"orders": stored}; !reflect.DeepEqual(v.Topics, want) || stored.Version <= 0 {
		t.Errorf("topics = %+v, want %+v", v.Topics, want)
	}
	if want := map[TopicID][]int32{orders.ID: {1, 2, -1}}; !reflect.DeepEqual(v.Assignments, want) {
		t.Errorf("assignments = %v, want %v (the deleted topic's gone)", v.Assignments, want)
	}
	wantLeaders := map[PartitionKey]Leader{
		p0: {Broker: 1, Epoch: l0.Epoch, LeaderEpoch: 0, Lease: int64(a.LeaseID())},
		p1: {Broker: 2, Epoch: l1.Epoch, LeaderEpoch: 1, Lease: int64(b.LeaseID())},
	}
	if !reflect.DeepEqual(v.Leaders, wantLeaders) {
		t.Errorf("leaders = %+v, want %+v", v.Leaders, wantLeaders)
	}
	for _, tc := range []struct {
		key  PartitionKey
		want int32
	}{
		{p0, 1},
		{p1, 2},
		{PartitionKey{orders.ID, 2}, -1}, // assigned to none
		{PartitionKey{orders.ID, 3}, -1}, // beyond the assignment
		{PartitionKey{orders.ID, -1}, -1},
		{PartitionKey{gone, 0}, -1},
		{PartitionKey{NewTopicID(), 0}, -1},
	} {
		if got := v.Assigned(tc.key); got != tc.want {
			t.Errorf("Assigned(%s) = %d, want %d", tc.key, got, tc.want)
		}
	}

	cancel()
	if r := awaitCampaign(t, "broker 2's cancelled campaign", bres); r.err == nil {
		t.Errorf("cancelled campaign elected")
	}
}

// testWatch: the watch delivers the current view, then a view after each
// change made while it runs; views already delivered do not change.
func testWatch(t *testing.T, env *storeEnv) {
	a, b := env.store(t), env.store(t)
	if err := a.Register(t.Context(), Broker{ID: 1, Addr: "a:9092"}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), within)
	views := make(chan *View)
	done := make(chan struct{})
	var watchErr error
	go func() {
		defer close(done)
		watchErr = a.Watch(ctx, func(v *View) {
			select {
			case views <- v:
			case <-ctx.Done():
			}
		})
	}()
	t.Cleanup(func() { cancel(); <-done }) // before the stores close
	var last *View
	next := func(what string, pred func(*View) bool) *View {
		t.Helper()
		for {
			select {
			case v := <-views:
				if last != nil && v.Revision < last.Revision {
					t.Fatalf("view at revision %d after one at %d", v.Revision, last.Revision)
				}
				last = v
				if pred(v) {
					return v
				}
			case <-ctx.Done():
				t.Fatalf("watch did not deliver a view with %s within %s; last view: %+v", what, within, last)
			}
		}
	}

	first := next("the current view", func(*View) bool { return true })
	if _, ok := first.Brokers[1]; !ok || len(first.Brokers) != 1 || first.Controller != -1 {
		t.Fatalf("first view: brokers %v, controller %d; want broker 1 alone and no controller", first.Brokers, first.Controller)
	}

	if err := b.Register(t.Context(), Broker{ID: 2, Addr: "b:9092"}); err != nil {
		t.Fatal(err)
	}
	v := next("broker 2", func(v *View) bool { _, ok := v.Brokers[2]; return ok })
	if v.Revision <= first.Revision {
		t.Errorf("view with broker 2 at revision %d, first at %d", v.Revision, first.Revision)
	}
	if len(first.Brokers) != 1 {
		t.Errorf("a delivered view changed: brokers %v", first.Brokers)
	}

	id := createTopic(t, a, "events", 2)
	next("topic events", func(v *View) bool { return v.Topics["events"].ID == id })
	ctl, err := b.Campaign(t.Context(), 2)
	if err != nil {
		t.Fatal(err)
	}
	next("controller 2", controllerIs(2))
	if err := ctl.SetAssignments(t.Context(), map[TopicID][]int32{id: {1, 2}}); err != nil {
		t.Fatal(err)
	}
	av := next("the assignment", func(v *View) bool { return v.Assigned(PartitionKey{id, 1}) == 2 })
	if av.shape != av.Revision {
		t.Errorf("view with the assignment: shape %d, want its revision %d", av.shape, av.Revision)
	}
	k := PartitionKey{id, 0}
	l := tenure(t, a, k, 1)
	want := Leader{Broker: 1, Epoch: l.Epoch, LeaderEpoch: 0, Lease: int64(a.LeaseID())}
	lv := next("the leader", func(v *View) bool { return v.Leaders[k] == want })
	if lv.shape != av.shape || lv.Revision <= av.Revision {
		t.Errorf("a new leader changed the shape: %d (revision %d) after %d (revision %d)", lv.shape, lv.Revision, av.shape, av.Revision)
	}
	resign(t, a, k, l.Epoch)
	next("no leader", func(v *View) bool { _, ok := v.Leaders[k]; return !ok })

	// B's session ends: its registration and its term go.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	next("broker 2 gone", func(v *View) bool { _, ok := v.Brokers[2]; return !ok && v.Controller == -1 })

	cancel()
	wctx, wcancel := context.WithTimeout(t.Context(), within)
	defer wcancel()
	select {
	case <-done:
		if !errors.Is(watchErr, context.Canceled) {
			t.Errorf("Watch = %v, want context.Canceled", watchErr)
		}
	case <-wctx.Done():
		t.Fatalf("Watch did not return within %s of its context ending", within)
	}
}

// testRenew: after the lease ended, Renew gives a new lease on which the
// broker registers and leads again; a live session is left as it is.
func testRenew(t *testing.T, env *storeEnv) {
	ctx := t.Context()
	s := env.storeWith(t, Options{SessionTTL: shortTTL})
	k := PartitionKey{Topic: NewTopicID(), Partition: 0}
	if err := s.Register(ctx, Broker{ID: 1, Addr: "a:9092"}); err != nil {
		t.Fatal(err)
	}
	l0 := tenure(t, s, k, 1)
	old, oldDone := s.LeaseID(), s.Done()

	if err := s.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if s.LeaseID() != old || s.Done() != oldDone {
		t.Fatalf("Renew of a live session changed the lease: %x, was %x", s.LeaseID(), old)
	}

	// The lease ends behind the store's back.
	if _, err := s.Client().Revoke(ctx, old); err != nil {
		t.Fatal(err)
	}
	awaitClosed(t, "Done after the lease was revoked", oldDone)
	if bs := readView(t, s).Brokers; len(bs) != 0 {
		t.Fatalf("brokers after the lease ended = %+v; want none", bs)
	}

	if err := s.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	lease := s.LeaseID()
	if lease == old {
		t.Fatalf("Renew kept the ended lease %x", old)
	}
	select {
	case <-s.Done():
		t.Fatal("Done of the new session is closed")
	default:
	}
	if ttl, err := s.Client().TimeToLive(ctx, lease); err != nil || ttl.TTL <= 0 {
		t.Fatalf("new lease %x: TTL %+v, %v", lease, ttl, err)
	}
	if err := s.Renew(ctx); err != nil || s.LeaseID() != lease {
		t.Fatalf("second Renew = %v, lease %x; want no change from %x", err, s.LeaseID(), lease)
	}

	// The broker joins again under the new lease.
	b := Broker{ID: 1, Addr: "a:9093"}
	if err := s.Register(ctx, b); err != nil {
		t.Fatal(err)
	}
	resp, err := s.Client().Get(ctx, s.keys.broker(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || clientv3.LeaseID(resp.Kvs[0].Lease) != lease {
		t.Fatalf("registration %+v, want one under lease %x", resp.Kvs, lease)
	}
	l1 := tenure(t, s, k, 1)
	if l1.LeaderEpoch != l0.LeaderEpoch+1 || l1.Epoch <= l0.Epoch {
		t.Fatalf("tenure after Renew = %+v, want a new one after %+v", l1, l0)
	}
	mustCommit(t, s, commitFor(k, l1.Epoch, 0, 1))

	// Close ends the new session, not only the old one.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if ttl, err := env.client(t).TimeToLive(ctx, lease); err != nil || ttl.TTL > 0 {
		t.Errorf("lease %x after Close: TTL %+v, %v; want revoked", lease, ttl, err)
	}
}
