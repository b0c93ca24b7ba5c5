package metadata

import (
	"errors"
	"fmt"
	"testing"

	"github.com/strata-io/strata/internal/testenv"
)

// TestShareStates: KIP-932 share-partition states in etcd, on a real etcd.
func TestShareStates(t *testing.T) {
	etcd := testenv.StartEtcd(t)
	runStoreCases(t, []string{etcd.Endpoint}, []storeCase{
		{"RevisionGuard", testShareStatesRevisionGuard},
		{"Fenced", testShareStatesFenced},
		{"DeleteGroup", testShareStatesDeleteGroup},
	})
}

// readShare reads a share state and its revision.
func readShare(t *testing.T, s *Store, k PartitionKey, group string) (string, int64) {
	t.Helper()
	v, rev, err := s.ShareState(t.Context(), k, group)
	if err != nil {
		t.Fatal(err)
	}
	return string(v), rev
}

// testShareStatesRevisionGuard: the leader's writes go through only while
// the key is at the revision the leader last saw (0: absent), and each
// returns the key's new revision; an admin's change (PutShareState,
// DeleteShareStates) makes the leader's next write fail with
// ErrShareStateChanged and leaves the admin's value, for writes alone and
// among others in one transaction, which still commit.
func testShareStatesRevisionGuard(t *testing.T, env *storeEnv) {
	ctx := t.Context()
	s := env.store(t)
	topic := NewTopicID()
	k := PartitionKey{Topic: topic, Partition: 0}
	epoch := acquire(t, s, k, 1)
	w := func(group, value string, rev int64) ShareStateWrite {
		return ShareStateWrite{Partition: k, Epoch: epoch, Group: group, Value: []byte(value), Revision: rev}
	}

	// Made once: a second "first" write (revision 0) fails.
	r := s.CommitShareStates(ctx, []ShareStateWrite{w("g", "v1", 0)})
	if r[0].Err != nil || r[0].Revision == 0 {
		t.Fatalf("first write: %+v", r[0])
	}
	if v, rev := readShare(t, s, k, "g"); v != "v1" || rev != r[0].Revision {
		t.Fatalf("read %q at %d, want v1 at %d", v, rev, r[0].Revision)
	}
	if r2 := s.CommitShareStates(ctx, []ShareStateWrite{w("g", "again", 0)}); !errors.Is(r2[0].Err, ErrShareStateChanged) {
		t.Fatalf("a first write over an existing state: %v, want ErrShareStateChanged", r2[0].Err)
	}
	rev := r[0].Revision
	r = s.CommitShareStates(ctx, []ShareStateWrite{w("g", "v2", rev)})
	if r[0].Err != nil || r[0].Revision <= rev {
		t.Fatalf("write at the revision held: %+v", r[0])
	}
	rev = r[0].Revision

	// The admin alters: the leader's write at its revision fails and the
	// admin's value stays; in the same transaction another group's write
	// commits.
	if err := s.PutShareState(ctx, k, "g", []byte("admin")); err != nil {
		t.Fatal(err)
	}
	other := s.CommitShareStates(ctx, []ShareStateWrite{w("h", "h1", 0)})[0]
	r = s.CommitShareStates(ctx, []ShareStateWrite{w("g", "stale", rev), w("h", "h2", other.Revision)})
	if !errors.Is(r[0].Err, ErrShareStateChanged) {
		t.Fatalf("a write over the admin's change: %v, want ErrShareStateChanged", r[0].Err)
	}
	if r[1].Err != nil {
		t.Fatalf("the other group's write in the same transaction: %v", r[1].Err)
	}
	if v, _ := readShare(t, s, k, "g"); v != "admin" {
		t.Fatalf("the admin's value was overwritten: %q", v)
	}
	if v, _ := readShare(t, s, k, "h"); v != "h2" {
		t.Fatalf("the other group's state is %q, want h2", v)
	}
	// Read again, the leader writes at the admin's revision.
	_, rev = readShare(t, s, k, "g")
	if r = s.CommitShareStates(ctx, []ShareStateWrite{w("g", "v3", rev)}); r[0].Err != nil {
		t.Fatalf("write after reading the admin's state: %v", r[0].Err)
	}
	rev = r[0].Revision

	// The admin deletes: the leader's write fails; the key stays absent.
	if err := s.DeleteShareStates(ctx, "g", []PartitionKey{k}); err != nil {
		t.Fatal(err)
	}
	if r = s.CommitShareStates(ctx, []ShareStateWrite{w("g", "resurrected", rev)}); !errors.Is(r[0].Err, ErrShareStateChanged) {
		t.Fatalf("a write over the admin's deletion: %v, want ErrShareStateChanged", r[0].Err)
	}
	if v, rev := readShare(t, s, k, "g"); v != "" || rev != 0 {
		t.Fatalf("a deleted state came back: %q at %d", v, rev)
	}

	// More writes than one transaction takes, each at its own revision.
	var many []ShareStateWrite
	for i := range shareStatesPerTxn + 10 {
		many = append(many, w(fmt.Sprintf("m%d", i), "x", 0))
	}
	for i, r := range s.CommitShareStates(ctx, many) {
		if r.Err != nil || r.Revision == 0 {
			t.Fatalf("write %d of many: %+v", i, r)
		}
		if _, rev := readShare(t, s, k, many[i].Group); rev != r.Revision {
			t.Fatalf("write %d of many: revision %d returned, %d stored", i, r.Revision, rev)
		}
	}
}

// testShareStatesFenced: a leader whose epoch ended is fenced, whatever the
// revision.
func testShareStatesFenced(t *testing.T, env *storeEnv) {
	ctx := t.Context()
	a, b := env.store(t), env.store(t)
	k := PartitionKey{Topic: NewTopicID(), Partition: 3}
	ea := acquire(t, a, k, 1)
	r := a.CommitShareStates(ctx, []ShareStateWrite{{Partition: k, Epoch: ea, Group: "g", Value: []byte("a")}})[0]
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	acquire(t, b, k, 2)
	if r2 := b.CommitShareStates(ctx, []ShareStateWrite{{Partition: k, Epoch: ea, Group: "g", Value: []byte("zombie"), Revision: r.Revision}})[0]; !errors.Is(r2.Err, ErrFenced) {
		t.Fatalf("a write under an ended epoch: %v, want ErrFenced", r2.Err)
	}
	if v, _ := readShare(t, b, k, "g"); v != "a" {
		t.Fatalf("state %q after a fenced write, want a", v)
	}
}

// testShareStatesDeleteGroup: a group's states are found by group and by
// topic, and DeleteShareStates and DeleteShareGroupConfig take the group's
// keys and no other group's.
func testShareStatesDeleteGroup(t *testing.T, env *storeEnv) {
	ctx := t.Context()
	s := env.store(t)
	t1, t2 := NewTopicID(), NewTopicID()
	var writes []ShareStateWrite
	for _, k := range []PartitionKey{{Topic: t1, Partition: 0}, {Topic: t1, Partition: 1}, {Topic: t2, Partition: 0}} {
		epoch := acquire(t, s, k, 1)
		for _, g := range []string{"with/slash", "other"} {
			writes = append(writes, ShareStateWrite{Partition: k, Epoch: epoch, Group: g, Value: []byte("s")})
		}
	}
	for _, r := range s.CommitShareStates(ctx, writes) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	for _, g := range []string{"with/slash", "other"} {
		if err := s.UpdateShareGroupConfig(ctx, g, func(map[string]string) (map[string]string, error) {
			return map[string]string{"share.auto.offset.reset": "earliest"}, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.ShareStatesOfGroup(ctx, "with/slash")
	if err != nil || len(all) != 3 {
		t.Fatalf("states of the group: %v %v, want 3", all, err)
	}
	of1, err := s.ShareStatesOfTopic(ctx, "with/slash", t1)
	if err != nil || len(of1) != 2 {
		t.Fatalf("states of the group on one topic: %v %v, want 2", of1, err)
	}
	parts := []PartitionKey{of1[0].Partition, of1[1].Partition}
	if err := s.DeleteShareStates(ctx, "with/slash", parts); err != nil {
		t.Fatal(err)
	}
	if left, _ := s.ShareStatesOfGroup(ctx, "with/slash"); len(left) != 1 || left[0].Partition.Topic != t2 {
		t.Fatalf("after deleting one topic's states: %v", left)
	}
	if err := s.DeleteShareGroupConfig(ctx, "with/slash"); err != nil {
		t.Fatal(err)
	}
	if cfg, err := s.ShareGroupConfig(ctx, "with/slash"); err != nil || len(cfg) != 0 {
		t.Fatalf("configs after deletion: %v %v", cfg, err)
	}
	if others, _ := s.ShareStatesOfGroup(ctx, "other"); len(others) != 3 {
		t.Fatalf("the other group's states: %v, want 3", others)
	}
	if cfg, _ := s.ShareGroupConfig(ctx, "other"); cfg["share.auto.offset.reset"] != "earliest" {
		t.Fatalf("the other group's configs: %v", cfg)
	}
}
