package metadata

import (
	"slices"
	"testing"
)

// TestBalancePreferred: a partition whose preferred leader is live is
// assigned to it whatever the share, is never moved to even the loads, and
// falls back to balancing while its preferred leader is gone.
func TestBalancePreferred(t *testing.T) {
	for _, tc := range []struct {
		name     string
		brokers  []int32
		replicas [][]int32
		assign   []int32
		want     []int32
	}{
		{"new topic on broker 3", []int32{1, 2, 3}, [][]int32{{3}, {3}, {3}, {3}}, nil, []int32{3, 3, 3, 3}},
		{"moves off a live broker", []int32{1, 2}, [][]int32{{2, 1}, {1}}, []int32{1, 2}, []int32{2, 1}},
		{"preferred gone: balanced", []int32{1, 2}, [][]int32{{3}, {3}}, []int32{3, 3}, []int32{1, 2}},
		{"partial: others balanced around", []int32{1, 2}, [][]int32{{1}, {1}}, nil, []int32{1, 1, 2, 2}},
		{"the others even out past a pinned broker", []int32{1, 2, 3}, [][]int32{{1}, {1}, {1}, {1}}, []int32{1, 1, 1, 1, 2, 2, 2, 2}, []int32{1, 1, 1, 1, 2, 2, 3, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := clusterSpec{brokers: tc.brokers, topics: map[string]int32{"t": int32(len(tc.want))}}
			if tc.assign != nil {
				spec.assign = map[string][]int32{"t": tc.assign}
			}
			v := spec.view()
			tp := v.Topics["t"]
			tp.Replicas = tc.replicas
			v.Topics["t"] = tp
			got := Balance(v)[specID("t")]
			if got == nil {
				got = v.Assignments[specID("t")]
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("assignment = %v, want %v", got, tc.want)
			}
		})
	}
}

// testPreferredLeaders: replica lists stored with a topic come back in the
// view, and a controller balancing that view assigns each partition to its
// live preferred leader.
func testPreferredLeaders(t *testing.T, env *storeEnv) {
	ctx := t.Context()
	s := env.store(t)
	for _, b := range []int32{1, 2, 3} {
		if err := s.Register(ctx, Broker{ID: b, Addr: "b:9092"}); err != nil {
			t.Fatal(err)
		}
	}
	id := NewTopicID()
	tp := Topic{Name: "pinned", ID: id, Partitions: 3, Replicas: [][]int32{{2, 1}, {3}, {2}}}
	if err := s.CreateTopic(ctx, tp); err != nil {
		t.Fatal(err)
	}
	ctl, err := s.Campaign(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	v := awaitView(t, s, "three brokers", func(v *View) bool { return len(v.Brokers) == 3 })
	if got := v.Topics["pinned"].Replicas; len(got) != 3 || got[0][1] != 1 {
		t.Fatalf("replicas in view = %v", got)
	}
	if err := ctl.SetAssignments(ctx, Balance(v)); err != nil {
		t.Fatal(err)
	}
	if got := readView(t, s).Assignments[id]; !slices.Equal(got, []int32{2, 3, 2}) {
		t.Fatalf("assignment = %v, want [2 3 2]", got)
	}

	// A reassignment: partition 1 to broker 1.
	tp, err = s.Topic(ctx, "pinned")
	if err != nil {
		t.Fatal(err)
	}
	tp.Replicas[1] = []int32{1}
	if err := s.UpdateTopic(ctx, tp); err != nil {
		t.Fatal(err)
	}
	if err := ctl.SetAssignments(ctx, Balance(readView(t, s))); err != nil {
		t.Fatal(err)
	}
	if got := readView(t, s).Assignments[id]; !slices.Equal(got, []int32{2, 1, 2}) {
		t.Fatalf("assignment after reassignment = %v, want [2 1 2]", got)
	}
}
