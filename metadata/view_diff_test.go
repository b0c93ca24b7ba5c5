package metadata

import (
	"context"
	"maps"
	"slices"
	"testing"

	"github.com/strata-io/strata/internal/testenv"
)

func TestViewChanges(t *testing.T) {
	etcd := testenv.StartEtcd(t)
	runStoreCases(t, []string{etcd.Endpoint}, []storeCase{{"ChangesSince", testViewChangesSince}})
}

// testViewChangesSince: each View Watch makes of the one before says which
// partitions (leaders, assignments) and topics changed, and no others; a
// View read whole, or one asked about a View it was not made of, says it
// cannot tell.
func testViewChangesSince(t *testing.T, env *storeEnv) {
	a := env.store(t)
	ctl, err := a.Campaign(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	id := createTopic(t, a, "events", 6)
	other := createTopic(t, a, "other", 3)
	if err := ctl.SetAssignments(t.Context(), map[TopicID][]int32{id: {1, 1, 1, 1, 1, 1}, other: {1, 1, 1}}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), within)
	views := make(chan *View, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.Watch(ctx, func(v *View) {
			select {
			case views <- v:
			case <-ctx.Done():
			}
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	var last *View
	// changes gathers the changes of the views up to the first with
	// pred, each asked of the one before.
	changes := func(what string, pred func(*View) bool) (map[PartitionKey]struct{}, map[TopicID]struct{}) {
		t.Helper()
		parts, topics := map[PartitionKey]struct{}{}, map[TopicID]struct{}{}
		for {
			select {
			case v := <-views:
				p, tp, ok := v.ChangesSince(last.Revision)
				if !ok {
					t.Fatalf("view at %d made of the one at %d cannot tell its changes", v.Revision, last.Revision)
				}
				maps.Copy(parts, p)
				maps.Copy(topics, tp)
				last = v
				if pred(v) {
					return parts, topics
				}
			case <-ctx.Done():
				t.Fatalf("no view with %s within %s", what, within)
			}
		}
	}
	last = <-views
	if _, _, ok := last.ChangesSince(last.Revision - 1); ok {
		t.Fatal("a view read whole tells changes")
	}
	if v, err := a.ReadView(t.Context()); err != nil {
		t.Fatal(err)
	} else if _, _, ok := v.ChangesSince(last.Revision); ok {
		t.Fatal("ReadView's view tells changes")
	}

	k := PartitionKey{Topic: id, Partition: 4}
	l := tenure(t, a, k, 1)
	parts, topics := changes("the leader of events/4", func(v *View) bool { return v.Leaders[k].Epoch == l.Epoch })
	if want := []PartitionKey{k}; !slices.Equal(slices.Collect(maps.Keys(parts)), want) || len(topics) != 0 {
		t.Errorf("after a leadership: partitions %v, topics %v; want %v alone", parts, topics, want)
	}
	if _, _, ok := last.ChangesSince(last.Revision); ok {
		t.Error("a view tells its changes since a view it was not made of (itself)")
	}

	// Two partitions move: only they changed, not the topic's others.
	if err := ctl.SetAssignments(t.Context(), map[TopicID][]int32{id: {1, 2, 1, 1, 1, 2}}); err != nil {
		t.Fatal(err)
	}
	parts, topics = changes("the new assignment", func(v *View) bool { return v.Assigned(PartitionKey{Topic: id, Partition: 5}) == 2 })
	want := map[PartitionKey]struct{}{{Topic: id, Partition: 1}: {}, {Topic: id, Partition: 5}: {}}
	if !maps.Equal(parts, want) || len(topics) != 0 {
		t.Errorf("after moving 1 and 5: partitions %v, topics %v; want %v", parts, topics, want)
	}

	// A topic created and one deleted are topics that changed.
	created := createTopic(t, a, "new", 1)
	if err := a.DeleteTopic(t.Context(), "other"); err != nil {
		t.Fatal(err)
	}
	_, topics = changes("the topics", func(v *View) bool {
		_, gone := v.Topics["other"]
		return v.Topics["new"].ID == created && !gone
	})
	if _, ok := topics[created]; !ok {
		t.Errorf("topics changed %v, want the new one %s", topics, created)
	}
	if _, ok := topics[other]; !ok {
		t.Errorf("topics changed %v, want the deleted one %s", topics, other)
	}
}
