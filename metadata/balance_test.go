package metadata

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"testing"
)

// clusterSpec describes a View for Balance by topic name.
type clusterSpec struct {
	brokers []int32
	topics  map[string]int32   // name → partitions
	assign  map[string][]int32 // current assignments (a name not in topics: a deleted topic)
	leaders map[string][]int32 // current leader of partition i (-1: none)
}

// specID is a fixed topic id per name, so that cases can name topics.
func specID(name string) TopicID {
	var id TopicID
	copy(id[:], name)
	return id
}

func (c clusterSpec) view() *View {
	v := &View{
		Brokers:     map[int32]Broker{},
		Controller:  -1,
		Topics:      map[string]Topic{},
		Assignments: map[TopicID][]int32{},
		Leaders:     map[PartitionKey]Leader{},
	}
	for _, b := range c.brokers {
		v.Brokers[b] = Broker{ID: b, Addr: "b" + strconv.Itoa(int(b)) + ":9092"}
	}
	for name, n := range c.topics {
		v.Topics[name] = Topic{Name: name, ID: specID(name), Partitions: n}
	}
	for name, a := range c.assign {
		v.Assignments[specID(name)] = slices.Clone(a)
	}
	for name, ls := range c.leaders {
		for p, b := range ls {
			if b >= 0 {
				v.Leaders[PartitionKey{specID(name), int32(p)}] = Leader{Broker: b, Epoch: int64(100 + p), LeaderEpoch: 3}
			}
		}
	}
	return v
}

// home is where a partition is served now: its assigned broker if live,
// else its leader if live, else nowhere (-1).
func home(v *View, key PartitionKey) int32 {
	if b := v.Assigned(key); b >= 0 {
		if _, ok := v.Brokers[b]; ok {
			return b
		}
	}
	if l, ok := v.Leaders[key]; ok {
		if _, live := v.Brokers[l.Broker]; live {
			return l.Broker
		}
	}
	return -1
}

// apply is v with Balance's result written, as the controller does.
func apply(v *View, moves map[TopicID][]int32) *View {
	n := v.clone()
	for id, a := range moves {
		if a == nil {
			delete(n.Assignments, id)
		} else {
			n.Assignments[id] = a
		}
	}
	return n
}

// minMoves is the fewest partitions that must change broker for every
// partition to be on a live broker with loads at most one apart: each
// broker keeps at most its final load of the partitions it serves now, and
// the brokers that serve the most get the larger final loads.
func minMoves(v *View) int {
	total, homes := 0, map[int32]int{}
	for _, t := range v.Topics {
		for p := range t.Partitions {
			total++
			if h := home(v, PartitionKey{t.ID, p}); h >= 0 {
				homes[h]++
			}
		}
	}
	n := len(v.Brokers)
	if n == 0 {
		return 0
	}
	floor, extra := total/n, total%n
	kept, above := 0, 0
	for b := range v.Brokers {
		kept += min(homes[b], floor)
		if homes[b] > floor {
			above++
		}
	}
	return total - kept - min(extra, above)
}

// checkBalance checks what Balance promises for any view and returns the
// balanced view, the number of partitions moved and the loads.
func checkBalance(t *testing.T, v *View) (after *View, moved int, loads map[int32]int) {
	t.Helper()
	before := v.clone()
	before.Assignments = maps.Clone(v.Assignments)
	for id, a := range v.Assignments {
		before.Assignments[id] = slices.Clone(a)
	}
	got := Balance(v)
	if !reflect.DeepEqual(v, before) {
		t.Fatalf("Balance modified its view")
	}
	for range 5 {
		if again := Balance(v); !reflect.DeepEqual(again, got) {
			t.Fatalf("Balance is not deterministic:\n%v\n%v", got, again)
		}
	}

	exists := map[TopicID]Topic{}
	for _, tp := range v.Topics {
		exists[tp.ID] = tp
	}
	for id, a := range got {
		_, ok := exists[id]
		switch {
		case !ok && a != nil:
			t.Errorf("deleted topic %x assigned %v, want nil", id[:4], a)
		case !ok:
			if _, was := v.Assignments[id]; !was {
				t.Errorf("nil for topic %x that has no assignment", id[:4])
			}
		case a == nil:
			t.Errorf("existing topic %x: nil (delete)", id[:4])
		case slices.Equal(a, v.Assignments[id]):
			t.Errorf("topic %x returned unchanged: %v", id[:4], a)
		}
	}
	for id := range v.Assignments {
		if _, ok := exists[id]; !ok {
			if a, ok := got[id]; !ok || a != nil {
				t.Errorf("deleted topic %x: assignment not removed", id[:4])
			}
		}
	}

	after = apply(v, got)
	loads = map[int32]int{}
	for b := range v.Brokers {
		loads[b] = 0
	}
	for _, tp := range v.Topics {
		a := after.Assignments[tp.ID]
		if len(v.Brokers) == 0 {
			if _, ok := got[tp.ID]; ok {
				t.Errorf("no live broker, yet topic %s assigned %v", tp.Name, got[tp.ID])
			}
			continue
		}
		if len(a) != int(tp.Partitions) {
			t.Fatalf("topic %s: assignment %v for %d partitions", tp.Name, a, tp.Partitions)
		}
		for p, b := range a {
			if _, live := v.Brokers[b]; !live {
				t.Fatalf("topic %s partition %d assigned to %d, not a live broker", tp.Name, p, b)
			}
			loads[b]++
			if b != home(v, PartitionKey{tp.ID, int32(p)}) {
				moved++
			}
		}
	}
	if len(loads) > 0 {
		lo, hi := slices.Min(slices.Collect(maps.Values(loads))), slices.Max(slices.Collect(maps.Values(loads)))
		if hi-lo > 1 {
			t.Errorf("loads %v: %d apart, want at most 1", loads, hi-lo)
		}
	}
	if want := minMoves(v); moved != want {
		t.Errorf("moved %d partitions, the fewest possible is %d", moved, want)
	}
	if again := Balance(after); len(again) != 0 {
		t.Errorf("Balance of its own result moves more: %v", again)
	}
	return after, moved, loads
}

func TestBalance(t *testing.T) {
	for _, tc := range []struct {
		name string
		clusterSpec
		moved int                // partitions that change broker (home to new), new ones included
		to    []int32            // if set: the only brokers moved partitions may go to
		loads map[int32]int      // if set: partitions per broker afterwards
		want  map[string][]int32 // if set: exactly what Balance returns (nil: delete)
	}{
		{
			name:        "new topic spreads evenly over three brokers",
			clusterSpec: clusterSpec{brokers: []int32{1, 2, 3}, topics: map[string]int32{"orders": 6}},
			moved:       6,
			loads:       map[int32]int{1: 2, 2: 2, 3: 2},
		},
		{
			name:        "new topic that does not divide evenly",
			clusterSpec: clusterSpec{brokers: []int32{1, 2, 3}, topics: map[string]int32{"orders": 7}},
			moved:       7,
		},
		{
			name: "a joining broker gets a fair share and nothing else moves",
			clusterSpec: clusterSpec{brokers: []int32{1, 2, 3, 4}, topics: map[string]int32{"orders": 12},
				assign: map[string][]int32{"orders": {1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3}}},
			moved: 3, to: []int32{4},
			loads: map[int32]int{1: 3, 2: 3, 3: 3, 4: 3},
		},
		{
			name: "a joining broker when the share does not divide evenly",
			clusterSpec: clusterSpec{brokers: []int32{1, 2, 3, 4}, topics: map[string]int32{"orders": 10},
				assign: map[string][]int32{"orders": {1, 2, 3, 1, 2, 3, 1, 2, 3, 1}}},
			moved: 2, to: []int32{4},
		},
		{
			name: "two joining brokers share the moves",
			clusterSpec: clusterSpec{brokers: []int32{1, 2, 3, 4}, topics: map[string]int32{"a": 4, "b": 4},
				assign: map[string][]int32{"a": {1, 2, 1, 2}, "b": {2, 1, 2, 1}}},
			moved: 4, to: []int32{3, 4},
			loads: map[int32]int{1: 2, 2: 2, 3: 2, 4: 2},
		},
		{
			name: "a leaving broker's partitions go to the live ones",
			clusterSpec: clusterSpec{brokers: []int32{1, 2}, topics: map[string]int32{"orders": 6},
				assign: map[string][]int32{"orders": {1, 2, 3, 1, 2, 3}}},
			moved: 2, to: []int32{1, 2},
			loads: map[int32]int{1: 3, 2: 3},
		},
		{
			name: "fair share counts every topic",
			clusterSpec: clusterSpec{brokers: []int32{1, 2}, topics: map[string]int32{"a": 1, "b": 1},
				assign: map[string][]int32{"a": {1}, "b": {1}}},
			moved: 1, to: []int32{2},
		},
		{
			name: "dead assigned broker: partitions stay with their live leaders",
			clusterSpec: clusterSpec{brokers: []int32{1, 2, 3}, topics: map[string]int32{"orders": 3},
				assign:  map[string][]int32{"orders": {9, 9, 9}},
				leaders: map[string][]int32{"orders": {2, 3, 1}}},
			want: map[string][]int32{"orders": {2, 3, 1}},
		},
		{
			name: "a new controller without assignments keeps the leaders",
			clusterSpec: clusterSpec{brokers: []int32{1, 2, 3}, topics: map[string]int32{"orders": 4},
				leaders: map[string][]int32{"orders": {3, 1, 2, 3}}},
			want: map[string][]int32{"orders": {3, 1, 2, 3}},
		},
		{
			name: "a leader above its share keeps only its share",
			clusterSpec: clusterSpec{brokers: []int32{1, 2, 3}, topics: map[string]int32{"orders": 3},
				leaders: map[string][]int32{"orders": {1, 1, 1}}},
			moved: 2, to: []int32{2, 3},
		},
		{
			name: "dead assigned broker and dead or no leader",
			clusterSpec: clusterSpec{brokers: []int32{1, 2}, topics: map[string]int32{"orders": 3},
				assign:  map[string][]int32{"orders": {5, 6, -1}},
				leaders: map[string][]int32{"orders": {5, -1, -1}}},
			moved: 3,
		},
		{
			name: "a live assigned broker wins over another live leader",
			clusterSpec: clusterSpec{brokers: []int32{1, 2}, topics: map[string]int32{"orders": 2},
				assign:  map[string][]int32{"orders": {1, 2}},
				leaders: map[string][]int32{"orders": {2, 1}}},
			want: map[string][]int32{},
		},
		{
			name: "a balanced view moves nothing",
			clusterSpec: clusterSpec{brokers: []int32{1, 2, 3}, topics: map[string]int32{"a": 3, "b": 2},
				assign:  map[string][]int32{"a": {1, 2, 3}, "b": {2, 3}},
				leaders: map[string][]int32{"a": {1, -1, 3}, "b": {3, 2}}},
			want: map[string][]int32{},
		},
		{
			name: "a topic's new partitions are placed and its old ones stay",
			clusterSpec: clusterSpec{brokers: []int32{1, 2, 3}, topics: map[string]int32{"a": 6, "b": 1},
				assign: map[string][]int32{"a": {1, 2, 3}, "b": {1}}},
			moved: 3,
		},
		{
			name: "a deleted topic's assignment is removed",
			clusterSpec: clusterSpec{brokers: []int32{1, 2}, topics: map[string]int32{"kept": 2},
				assign: map[string][]int32{"kept": {1, 2}, "gone": {2, 1}}},
			want: map[string][]int32{"gone": nil},
		},
		{
			name: "no live broker: deleted topics only, nothing assigned",
			clusterSpec: clusterSpec{topics: map[string]int32{"kept": 2, "new": 1},
				assign: map[string][]int32{"kept": {1, 2}, "gone": {1}}},
			want: map[string][]int32{"gone": nil},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := tc.view()
			got := Balance(v)
			after, moved, loads := checkBalance(t, v)
			if tc.want != nil {
				want := map[TopicID][]int32{}
				for name, a := range tc.want {
					want[specID(name)] = a
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("Balance = %v, want %v", got, want)
				}
			} else if moved != tc.moved {
				t.Errorf("moved %d partitions, want %d", moved, tc.moved)
			}
			if tc.loads != nil && !maps.Equal(loads, tc.loads) {
				t.Errorf("loads %v, want %v", loads, tc.loads)
			}
			if tc.to != nil {
				for _, tp := range v.Topics {
					for p, b := range after.Assignments[tp.ID] {
						if b != home(v, PartitionKey{tp.ID, int32(p)}) && !slices.Contains(tc.to, b) {
							t.Errorf("topic %s partition %d moved to broker %d, want one of %v", tp.Name, p, b, tc.to)
						}
					}
				}
			}
		})
	}
}

// TestBalanceRandom checks Balance's promises (and that it moves as few
// partitions as possible) on random clusters: brokers come and go, topics
// grow and are deleted, leaders linger on dead brokers.
func TestBalanceRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for i := range 500 {
		var c clusterSpec
		c.topics, c.assign, c.leaders = map[string]int32{}, map[string][]int32{}, map[string][]int32{}
		for b := range int32(1 + r.IntN(6)) {
			if r.IntN(4) > 0 {
				c.brokers = append(c.brokers, b+1)
			}
		}
		pick := func() int32 { return int32(r.IntN(9)) - 1 } // -1, or broker 0 (never live) to 7
		for tp := range 1 + r.IntN(5) {
			name := fmt.Sprintf("t%d", tp)
			n := int32(1 + r.IntN(12))
			if r.IntN(6) > 0 {
				c.topics[name] = n
			}
			if r.IntN(4) > 0 {
				a := make([]int32, max(1, n-int32(r.IntN(3)))) // topics grow
				for p := range a {
					a[p] = pick()
				}
				c.assign[name] = a
			}
			ls := make([]int32, n)
			for p := range ls {
				ls[p] = pick()
			}
			c.leaders[name] = ls
		}
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			if checkBalance(t, c.view()); t.Failed() {
				t.Logf("cluster: %+v", c)
			}
		})
	}
}

// TestBalanceShardsApart: the coordinator shards (OffsetsTopic) and the data
// topics are balanced each on their own, so that every broker leads its
// share of both: Balance of the whole view is Balance of each part, and
// each part meets every promise of Balance.
func TestBalanceShardsApart(t *testing.T) {
	shards := clusterSpec{topics: map[string]int32{OffsetsTopic: 50}, assign: map[string][]int32{}, leaders: map[string][]int32{}}
	data := clusterSpec{topics: map[string]int32{"orders": 6, "clicks": 4}, assign: map[string][]int32{}, leaders: map[string][]int32{}}
	for _, brokers := range [][]int32{{1}, {1, 2}, {1, 2, 3}, {2, 3}, {2, 3, 4, 5}} {
		t.Run(fmt.Sprint(brokers), func(t *testing.T) {
			shards.brokers, data.brokers = brokers, brokers
			whole := clusterSpec{brokers: brokers, topics: map[string]int32{}, assign: map[string][]int32{}, leaders: map[string][]int32{}}
			for _, part := range []clusterSpec{shards, data} {
				maps.Copy(whole.topics, part.topics)
				maps.Copy(whole.assign, part.assign)
			}
			got := Balance(whole.view())
			want := Balance(shards.view())
			maps.Copy(want, Balance(data.view()))
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Balance of the whole view differs from Balance of its parts:\n%v\n%v", got, want)
			}
			for _, part := range []*clusterSpec{&shards, &data} {
				after, _, _ := checkBalance(t, part.view())
				for name := range part.topics {
					part.assign[name] = after.Assignments[specID(name)]
				}
			}
		})
	}
}

// TestBalancer: the controller's Balancer returns what Balance does, and
// skips only a View of the shape it last found balanced; a View not from
// etcd (shape 0) is always balanced.
func TestBalancer(t *testing.T) {
	unassigned := clusterSpec{brokers: []int32{1, 2}, topics: map[string]int32{"orders": 4}}
	balanced := clusterSpec{brokers: []int32{1, 2}, topics: map[string]int32{"orders": 4},
		assign: map[string][]int32{"orders": {1, 2, 1, 2}}}
	// lost is balanced's shape with broker 2 gone: only a shape change
	// (the broker's key deleted) can bring that, so a Balancer that has
	// seen the shape balanced skips it, and a new shape does not.
	lost := clusterSpec{brokers: []int32{1}, topics: map[string]int32{"orders": 4},
		assign: map[string][]int32{"orders": {1, 2, 1, 2}}}
	at := func(c clusterSpec, shape int64) *View {
		v := c.view()
		v.shape = shape
		return v
	}
	var b Balancer
	for i, tc := range []struct {
		v     *View
		moves bool
	}{
		{at(unassigned, 5), true},
		{at(unassigned, 5), true}, // moves were needed: not remembered
		{at(balanced, 6), false},
		{at(lost, 6), false}, // the shape found balanced: skipped
		{at(lost, 7), true},  // a new shape: balanced again
		{at(balanced, 0), false},
		{at(lost, 0), true}, // shape 0: never skipped
	} {
		got := b.Balance(tc.v)
		if want := Balance(tc.v); tc.moves && !reflect.DeepEqual(got, want) {
			t.Errorf("%d: Balancer %v, Balance %v", i, got, want)
		}
		if (len(got) > 0) != tc.moves {
			t.Errorf("%d: Balancer returned %v, want moves: %v", i, got, tc.moves)
		}
	}
}
