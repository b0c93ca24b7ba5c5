package metadata

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// leadShard is a coordinator shard (a partition of a fresh offsets topic)
// led by s.
func leadShard(t *testing.T, s *Store, shard int32) (PartitionKey, int64) {
	t.Helper()
	k := PartitionKey{Topic: NewTopicID(), Partition: shard}
	return k, acquire(t, s, k, 1)
}

func offset(o int64) *CommittedOffset {
	md := fmt.Sprintf("md-%d", o)
	return &CommittedOffset{Offset: o, LeaderEpoch: 3, Metadata: &md, CommitTime: 1700000000000 + o}
}

// commitShard commits one shard's writes.
func commitShard(t *testing.T, s *Store, k PartitionKey, epoch int64, writes []GroupWrite) error {
	t.Helper()
	return s.CommitGroups(t.Context(), []GroupBatch{{Shard: k, Epoch: epoch, Writes: writes}})[0]
}

func loadGroups(t *testing.T, s *Store, shard int32) map[string]*LoadedGroup {
	t.Helper()
	got, err := s.LoadGroups(t.Context(), shard)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// testGroupsRoundTrip: what CommitGroups writes, LoadGroups reads back,
// group ids with the key separator and other odd characters included, and
// nothing of another shard.
func testGroupsRoundTrip(t *testing.T, env *storeEnv) {
	s := env.store(t)
	k, epoch := leadShard(t, s, 3)
	k4, other := leadShard(t, s, 4)
	inst := "instance-1"
	rec := &GroupRecord{ProtocolType: "consumer", Protocol: "range", Generation: 7, Leader: "m1",
		Members: []GroupMember{{ID: "m1", InstanceID: &inst, ClientID: "c", ClientHost: "127.0.0.1:1",
			SessionTimeoutMs: 6000, RebalanceTimeout: 60000,
			Protocols:  []GroupProtocol{{Name: "range", Metadata: []byte{0, 1, 2}}},
			Assignment: []byte{9, 8}}}}
	groups := []string{"plain", "with/slash", "per%cent", "ünïcode and spaces", ""}
	var writes []GroupWrite
	for i, g := range groups {
		writes = append(writes, GroupWrite{Group: g, Offsets: map[GroupPartition]*CommittedOffset{
			{Topic: "t1", Partition: 0}:   offset(int64(10 * i)),
			{Topic: "t.2", Partition: 11}: offset(int64(10*i + 1)),
		}})
	}
	writes = append(writes, GroupWrite{Group: "plain", Record: rec})
	if err := commitShard(t, s, k, epoch, writes); err != nil {
		t.Fatal(err)
	}
	if err := commitShard(t, s, k4, other, []GroupWrite{{Group: "elsewhere", Record: &GroupRecord{}}}); err != nil {
		t.Fatal(err)
	}
	got := loadGroups(t, s, 3)
	if len(got) != len(groups) {
		t.Fatalf("loaded %d groups, want %d: %v", len(got), len(groups), got)
	}
	for i, g := range groups {
		lg := got[g]
		if lg == nil {
			t.Fatalf("group %q not loaded", g)
		}
		want := map[GroupPartition]CommittedOffset{
			{Topic: "t1", Partition: 0}:   *offset(int64(10 * i)),
			{Topic: "t.2", Partition: 11}: *offset(int64(10*i + 1)),
		}
		if !reflect.DeepEqual(lg.Offsets, want) {
			t.Errorf("group %q offsets = %+v, want %+v", g, lg.Offsets, want)
		}
	}
	if !reflect.DeepEqual(got["plain"].Record, rec) {
		t.Errorf("record = %+v, want %+v", got["plain"].Record, rec)
	}
	if got["with/slash"].Record != nil {
		t.Errorf("group with offsets only has a record: %+v", got["with/slash"].Record)
	}
}

// testGroupsFenced: a coordinator whose shard epoch is gone writes nothing.
func testGroupsFenced(t *testing.T, env *storeEnv) {
	a, b := env.store(t), env.store(t)
	k, ea := leadShard(t, a, 0)
	if err := commitShard(t, a, k, ea, []GroupWrite{{Group: "g", Offsets: map[GroupPartition]*CommittedOffset{{Topic: "t", Partition: 0}: offset(5)}}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil { // the lease ends: b takes the shard
		t.Fatal(err)
	}
	eb := acquire(t, b, k, 2)
	zombie := []GroupWrite{{Group: "g", Offsets: map[GroupPartition]*CommittedOffset{{Topic: "t", Partition: 0}: offset(99)}}}
	if err := commitShard(t, a, k, ea, zombie); !errors.Is(err, ErrFenced) {
		t.Fatalf("commit under the old epoch: %v, want ErrFenced", err)
	}
	if err := commitShard(t, b, k, 0, zombie); !errors.Is(err, ErrFenced) {
		t.Fatalf("commit under epoch 0: %v, want ErrFenced", err)
	}
	if got := loadGroups(t, b, 0)["g"].Offsets[GroupPartition{Topic: "t", Partition: 0}]; got.Offset != 5 {
		t.Fatalf("offset after fenced commits = %d, want 5", got.Offset)
	}
	if err := commitShard(t, b, k, eb, zombie); err != nil {
		t.Fatal(err)
	}
}

// testGroupsManyWrites: more writes than one transaction takes, with the
// same key written again and again, land in order: the last value wins.
func testGroupsManyWrites(t *testing.T, env *storeEnv) {
	s := env.store(t)
	k, epoch := leadShard(t, s, 1)
	var writes []GroupWrite
	for round := range 3 {
		for g := range 150 {
			w := GroupWrite{Group: fmt.Sprintf("g%03d", g), Offsets: map[GroupPartition]*CommittedOffset{}}
			for p := range int32(3) {
				w.Offsets[GroupPartition{Topic: "t", Partition: p}] = offset(int64(round*1000 + g))
			}
			writes = append(writes, w)
		}
	}
	// One write larger than a transaction is split.
	big := GroupWrite{Group: "big", Offsets: map[GroupPartition]*CommittedOffset{}}
	for p := range int32(300) {
		big.Offsets[GroupPartition{Topic: "t", Partition: p}] = offset(int64(p))
	}
	writes = append(writes, big)
	if err := commitShard(t, s, k, epoch, writes); err != nil {
		t.Fatal(err)
	}
	got := loadGroups(t, s, 1)
	if len(got) != 151 || len(got["big"].Offsets) != 300 {
		t.Fatalf("loaded %d groups (want 151), big has %d offsets (want 300)", len(got), len(got["big"].Offsets))
	}
	for g := range 150 {
		for p := range int32(3) {
			if o := got[fmt.Sprintf("g%03d", g)].Offsets[GroupPartition{Topic: "t", Partition: p}].Offset; o != int64(2000+g) {
				t.Fatalf("g%03d/%d = %d, want the last round's %d", g, p, o, 2000+g)
			}
		}
	}
}

// testGroupsDelete: a delete removes the group's record and offsets and no
// other group's, and writes after it in the same call apply.
func testGroupsDelete(t *testing.T, env *storeEnv) {
	s := env.store(t)
	k, epoch := leadShard(t, s, 2)
	one := map[GroupPartition]*CommittedOffset{{Topic: "t", Partition: 0}: offset(1)}
	err := commitShard(t, s, k, epoch, []GroupWrite{
		{Group: "a", Record: &GroupRecord{ProtocolType: "consumer"}, Offsets: one},
		{Group: "ab", Offsets: one}, // shares a's prefix but for the separator
	})
	if err != nil {
		t.Fatal(err)
	}
	err = commitShard(t, s, k, epoch, []GroupWrite{
		{Group: "a", Offsets: map[GroupPartition]*CommittedOffset{{Topic: "t", Partition: 1}: offset(2)}},
		{Group: "a", Delete: true},
		{Group: "ab", Offsets: map[GroupPartition]*CommittedOffset{{Topic: "t", Partition: 0}: nil}},
		{Group: "c", Offsets: one},
	})
	if err != nil {
		t.Fatal(err)
	}
	got := loadGroups(t, s, 2)
	if _, ok := got["a"]; ok {
		t.Errorf("deleted group a still loads: %+v", got["a"])
	}
	if _, ok := got["ab"]; ok {
		t.Errorf("group ab's only offset was deleted, yet it loads: %+v", got["ab"])
	}
	if got["c"] == nil || got["c"].Offsets[GroupPartition{Topic: "t", Partition: 0}].Offset != 1 {
		t.Errorf("group c = %+v, want its offset 1", got["c"])
	}
	if err := commitShard(t, s, k, epoch, []GroupWrite{{Group: "x", Delete: true, Offsets: one}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("a delete with offsets: %v, want ErrInvalid", err)
	}
}

// testGroupsShardsApart: writes of many shards share transactions, and a
// fenced shard fails alone: the others' writes land.
func testGroupsShardsApart(t *testing.T, env *storeEnv) {
	a, b := env.store(t), env.store(t)
	var batches []GroupBatch
	for shard := range int32(5) {
		k, epoch := leadShard(t, a, shard)
		w := GroupWrite{Group: fmt.Sprint("g", shard), Offsets: map[GroupPartition]*CommittedOffset{{Topic: "t", Partition: 0}: offset(int64(shard))}}
		batches = append(batches, GroupBatch{Shard: k, Epoch: epoch, Writes: []GroupWrite{w}})
	}
	// Shard 2 moves to b: a's epoch for it no longer holds.
	if err := a.ResignLeadership(t.Context(), batches[2].Shard, batches[2].Epoch); err != nil {
		t.Fatal(err)
	}
	acquire(t, b, batches[2].Shard, 2)
	errs := a.CommitGroups(t.Context(), batches)
	for i, err := range errs {
		if want := i == 2; errors.Is(err, ErrFenced) != want || (!want && err != nil) {
			t.Errorf("shard %d: %v, want fenced = %v", i, err, want)
		}
	}
	for shard := range int32(5) {
		got := loadGroups(t, a, shard)
		if _, ok := got[fmt.Sprint("g", shard)]; ok == (shard == 2) {
			t.Errorf("shard %d: group loaded = %v", shard, ok)
		}
	}
}
