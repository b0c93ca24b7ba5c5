package coordinator

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/partition"
)

func TestShareAssignment(t *testing.T) {
	id := metadata.TopicID{1}
	c := &Coordinator{topics: fakeTopics{"t": {Meta: metadata.Topic{Name: "t", ID: id}, Parts: make([]*partition.Partition, 4)}}}
	for _, tc := range []struct {
		members int
		want    map[string][]int32
	}{
		{1, map[string][]int32{"m0": {0, 1, 2, 3}}},
		{2, map[string][]int32{"m0": {0, 2}, "m1": {1, 3}}},
		{3, map[string][]int32{"m0": {0, 3}, "m1": {1}, "m2": {2}}},
		// More members than partitions: every partition shared.
		{6, map[string][]int32{"m0": {0}, "m1": {1}, "m2": {2}, "m3": {3}, "m4": {0}, "m5": {1}}},
	} {
		g := &shareGroup{members: map[string]*shareMember{}}
		for i := range tc.members {
			g.members[fmt.Sprintf("m%d", i)] = &shareMember{id: fmt.Sprintf("m%d", i), topics: []string{"t", "unknown"}}
		}
		c.reassignShare(g)
		got := map[string][]int32{}
		for mid, m := range g.members {
			got[mid] = m.assigned[id]
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%d members: %v, want %v", tc.members, got, tc.want)
		}
		epoch := g.epoch
		c.reassignShare(g)
		if g.epoch != epoch {
			t.Errorf("%d members: the epoch moved from %d to %d with nothing changed", tc.members, epoch, g.epoch)
		}
		delete(g.members, "m0")
		c.reassignShare(g)
		if tc.members > 1 && g.epoch == epoch {
			t.Errorf("%d members: a member left and the epoch stayed %d", tc.members, epoch)
		}
	}
}

func TestShareSessionEpochs(t *testing.T) {
	sh := newShares(&Coordinator{})
	tp := ShareTP{Partition: 1}
	if _, _, err := sh.OpenSession("g", "m", 1, true, nil, nil); err == nil {
		t.Fatal("epoch 1 opened a session that does not exist")
	}
	if _, _, err := sh.OpenSession("g", "m", 0, false, nil, nil); err == nil {
		t.Fatal("ShareAcknowledge opened a session")
	}
	s, old, err := sh.OpenSession("g", "m", 0, true, []ShareTP{tp}, nil)
	if err != nil || old != nil || !s.Parts[tp] {
		t.Fatalf("open: %v %v %v", s, old, err)
	}
	if _, _, err := sh.OpenSession("g", "m", 2, true, nil, nil); err == nil {
		t.Fatal("epoch 2 accepted after epoch 0")
	}
	if _, _, err := sh.OpenSession("g", "m", 1, false, nil, nil); err != nil {
		t.Fatalf("epoch 1: %v", err)
	}
	if _, _, err := sh.OpenSession("g", "m", 2, true, nil, []ShareTP{tp}); err != nil || len(s.Parts) != 0 {
		t.Fatalf("epoch 2 forgetting the partition: %v, parts %v", err, s.Parts)
	}
	s2, old, err := sh.OpenSession("g", "m", 0, true, nil, nil)
	if err != nil || old != s || s2 == s {
		t.Fatalf("a new session did not replace the old one: %v", err)
	}
	if closed, _, err := sh.OpenSession("g", "m", -1, false, nil, nil); err != nil || closed != s2 {
		t.Fatalf("close: %v", err)
	}
	if _, _, err := sh.OpenSession("g", "m", -1, false, nil, nil); err == nil {
		t.Fatal("a closed session closed again")
	}
}

// TestShareSessionEnd: a connection's close ends the member's session only
// if it is still the one the connection opened (a new connection's session
// of the same member stays), and a partition is reported added once, by
// the request that added it.
func TestShareSessionEnd(t *testing.T) {
	sh := newShares(&Coordinator{})
	tp, tp2 := ShareTP{Partition: 1}, ShareTP{Partition: 2}
	none := func(ShareTP) *partition.Partition { return nil }
	s1, _, err := sh.OpenSession("g", "m", 0, true, []ShareTP{tp}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := sh.Added(s1); !reflect.DeepEqual(got, []ShareTP{tp}) {
		t.Fatalf("added by the opening request: %v", got)
	}
	if _, _, err := sh.OpenSession("g", "m", 1, true, []ShareTP{tp, tp2}, nil); err != nil {
		t.Fatal(err)
	}
	if got := sh.Added(s1); !reflect.DeepEqual(got, []ShareTP{tp2}) {
		t.Fatalf("added by the second request: %v, want only the new partition", got)
	}
	// The member reconnects and opens a new session; the old connection's
	// close must leave it.
	s2, old, err := sh.OpenSession("g", "m", 0, true, []ShareTP{tp}, nil)
	if err != nil || old != s1 {
		t.Fatalf("reopen: %v %v", old, err)
	}
	sh.EndSession("g", "m", s1, none)
	if _, _, err := sh.OpenSession("g", "m", 1, true, nil, nil); err != nil {
		t.Fatalf("the old connection's close ended the new session: %v", err)
	}
	// Its own connection's close ends it.
	sh.EndSession("g", "m", s2, none)
	if _, _, err := sh.OpenSession("g", "m", 2, true, nil, nil); err == nil {
		t.Fatal("the session outlived its connection")
	}
}

// TestStaleShareCopy: a copy is stale when etcd's revision differs from
// the one it holds and none of its own writes overlapped the read; with a
// write overlapping, a difference proves nothing (read again).
func TestStaleShareCopy(t *testing.T) {
	for _, tc := range []struct {
		read, held  int64
		quiet       bool
		stale, sure bool
	}{
		{7, 7, true, false, true},
		{7, 7, false, false, true},
		{9, 7, true, true, true},    // an admin's put
		{0, 7, true, true, true},    // an admin's delete
		{9, 7, false, false, false}, // maybe our own write landing
	} {
		stale, sure := staleShareCopy(tc.read, tc.held, tc.quiet)
		if stale != tc.stale || sure != tc.sure {
			t.Errorf("read %d, held %d, quiet %v: stale %v sure %v, want %v %v", tc.read, tc.held, tc.quiet, stale, sure, tc.stale, tc.sure)
		}
	}
}
