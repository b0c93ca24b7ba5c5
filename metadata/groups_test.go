package metadata

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/strata-io/strata/internal/testenv"
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

// The pending transactional offsets' cases run on a real etcd of their own.
func TestGroupTxnOffsets(t *testing.T) {
	etcd := testenv.StartEtcd(t)
	runStoreCases(t, []string{etcd.Endpoint}, []storeCase{
		{"LoadCommitAbort", testTxnOffsetsLoadCommitAbort},
		{"Superseded", testTxnOffsetsSuperseded},
		{"Fenced", testTxnOffsetsFenced},
		{"Deletes", testTxnOffsetsDeletes},
		{"Invalid", testTxnOffsetsInvalid},
	})
}

func pendingWrite(group string, producer int64, offsets map[GroupPartition]int64) GroupWrite {
	t := &TxnOffsets{ProducerID: producer, Offsets: map[GroupPartition]CommittedOffset{}}
	for gp, o := range offsets {
		t.Offsets[gp] = *offset(o)
	}
	return GroupWrite{Group: group, TxnOffsets: t}
}

// pendingOf is what a loaded group holds pending, by producer, partition.
func pendingOf(lg *LoadedGroup) map[int64]map[GroupPartition]int64 {
	out := map[int64]map[GroupPartition]int64{}
	if lg == nil {
		return out
	}
	for pid, offsets := range lg.TxnOffsets {
		out[pid] = map[GroupPartition]int64{}
		for gp, po := range offsets {
			out[pid][gp] = po.Offset.Offset
		}
	}
	return out
}

func committedOf(lg *LoadedGroup) map[GroupPartition]int64 {
	out := map[GroupPartition]int64{}
	if lg == nil {
		return out
	}
	for gp, o := range lg.Offsets {
		out[gp] = o.Offset
	}
	return out
}

// testTxnOffsetsLoadCommitAbort: pending offsets load apart from the
// committed ones, per producer; a committing TxnEnd moves its producer's
// into the committed offsets and deletes them, an aborting one deletes
// them only; the other producer's stay.
func testTxnOffsetsLoadCommitAbort(t *testing.T, env *storeEnv) {
	s := env.store(t)
	k, epoch := leadShard(t, s, 5)
	p0, p1, p10 := GroupPartition{Topic: "t", Partition: 0}, GroupPartition{Topic: "t", Partition: 1}, GroupPartition{Topic: "t", Partition: 10}
	err := commitShard(t, s, k, epoch, []GroupWrite{
		{Group: "g", Offsets: map[GroupPartition]*CommittedOffset{p0: offset(1)}},
		pendingWrite("g", 7, map[GroupPartition]int64{p0: 70, p1: 71}),
		pendingWrite("g", 8, map[GroupPartition]int64{p1: 81, p10: 810}),
		pendingWrite("only-pending", 9, map[GroupPartition]int64{p0: 90}),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := loadGroups(t, s, 5)
	if want := map[GroupPartition]int64{p0: 1}; !reflect.DeepEqual(committedOf(got["g"]), want) {
		t.Errorf("committed = %v, want %v (pending ones are not committed)", committedOf(got["g"]), want)
	}
	wantPending := map[int64]map[GroupPartition]int64{7: {p0: 70, p1: 71}, 8: {p1: 81, p10: 810}}
	if !reflect.DeepEqual(pendingOf(got["g"]), wantPending) {
		t.Errorf("pending = %v, want %v", pendingOf(got["g"]), wantPending)
	}
	if po := got["g"].TxnOffsets[7][p0]; po.Superseded || !reflect.DeepEqual(po.Offset, *offset(70)) {
		t.Errorf("pending offset = %+v, want %+v, not superseded", po, *offset(70))
	}
	if lg := got["only-pending"]; lg == nil || len(lg.Offsets) != 0 || pendingOf(lg)[9][p0] != 90 {
		t.Errorf("group with pending offsets only = %+v", lg)
	}

	err = commitShard(t, s, k, epoch, []GroupWrite{{Group: "g", TxnEnd: &TxnEnd{ProducerID: 7, Commit: true,
		Offsets: map[GroupPartition]*CommittedOffset{p0: offset(70), p1: offset(71)}}}})
	if err != nil {
		t.Fatal(err)
	}
	got = loadGroups(t, s, 5)
	if want := map[GroupPartition]int64{p0: 70, p1: 71}; !reflect.DeepEqual(committedOf(got["g"]), want) {
		t.Errorf("committed after commit = %v, want %v", committedOf(got["g"]), want)
	}
	if want := map[int64]map[GroupPartition]int64{8: {p1: 81, p10: 810}}; !reflect.DeepEqual(pendingOf(got["g"]), want) {
		t.Errorf("pending after commit = %v, want %v", pendingOf(got["g"]), want)
	}

	// An abort deletes even when the offsets are given.
	err = commitShard(t, s, k, epoch, []GroupWrite{{Group: "g", TxnEnd: &TxnEnd{ProducerID: 8, Commit: false,
		Offsets: map[GroupPartition]*CommittedOffset{p1: offset(81), p10: offset(810)}}}})
	if err != nil {
		t.Fatal(err)
	}
	got = loadGroups(t, s, 5)
	if want := map[GroupPartition]int64{p0: 70, p1: 71}; !reflect.DeepEqual(committedOf(got["g"]), want) {
		t.Errorf("committed after abort = %v, want %v", committedOf(got["g"]), want)
	}
	if len(got["g"].TxnOffsets) != 0 {
		t.Errorf("pending after abort = %v, want none", pendingOf(got["g"]))
	}
}

// testTxnOffsetsSuperseded: a pending offset older than its partition's
// committed offset loads as superseded; one newer does not.
func testTxnOffsetsSuperseded(t *testing.T, env *storeEnv) {
	s := env.store(t)
	k, epoch := leadShard(t, s, 6)
	p0, p1 := GroupPartition{Topic: "t", Partition: 0}, GroupPartition{Topic: "t", Partition: 1}
	writes := [][]GroupWrite{
		{{Group: "g", Offsets: map[GroupPartition]*CommittedOffset{p1: offset(1)}}},
		{pendingWrite("g", 7, map[GroupPartition]int64{p0: 70, p1: 71})},
		{{Group: "g", Offsets: map[GroupPartition]*CommittedOffset{p0: offset(2)}}},
	}
	for _, w := range writes {
		if err := commitShard(t, s, k, epoch, w); err != nil {
			t.Fatal(err)
		}
	}
	got := loadGroups(t, s, 6)["g"].TxnOffsets[7]
	if !got[p0].Superseded || got[p1].Superseded {
		t.Errorf("superseded: p0 %v (committed after it), p1 %v (committed before it); want true, false", got[p0].Superseded, got[p1].Superseded)
	}
}

// testTxnOffsetsFenced: a coordinator whose shard epoch is gone neither
// puts nor ends pending offsets.
func testTxnOffsetsFenced(t *testing.T, env *storeEnv) {
	a, b := env.store(t), env.store(t)
	k, ea := leadShard(t, a, 0)
	p0 := GroupPartition{Topic: "t", Partition: 0}
	if err := commitShard(t, a, k, ea, []GroupWrite{pendingWrite("g", 7, map[GroupPartition]int64{p0: 70})}); err != nil {
		t.Fatal(err)
	}
	if err := a.ResignLeadership(t.Context(), k, ea); err != nil {
		t.Fatal(err)
	}
	eb := acquire(t, b, k, 2)
	end := GroupWrite{Group: "g", TxnEnd: &TxnEnd{ProducerID: 7, Commit: true, Offsets: map[GroupPartition]*CommittedOffset{p0: offset(70)}}}
	for _, w := range []GroupWrite{end, pendingWrite("g", 8, map[GroupPartition]int64{p0: 80})} {
		if err := commitShard(t, a, k, ea, []GroupWrite{w}); !errors.Is(err, ErrFenced) {
			t.Fatalf("write under the old epoch: %v, want ErrFenced", err)
		}
	}
	got := loadGroups(t, b, 0)["g"]
	if want := map[int64]map[GroupPartition]int64{7: {p0: 70}}; !reflect.DeepEqual(pendingOf(got), want) || len(got.Offsets) != 0 {
		t.Fatalf("after fenced writes: pending %v (want %v), committed %v (want none)", pendingOf(got), want, committedOf(got))
	}
	if err := commitShard(t, b, k, eb, []GroupWrite{end}); err != nil {
		t.Fatal(err)
	}
	if got := committedOf(loadGroups(t, b, 0)["g"]); got[p0] != 70 {
		t.Fatalf("committed after the new coordinator's commit = %v, want 70", got)
	}
}

// testTxnOffsetsDeletes: deleting a group deletes its pending offsets;
// deleting a committed offset deletes every producer's pending offset of
// that partition (Kafka's tombstone), and no other partition's, and
// writes after the deletes in the same call apply.
func testTxnOffsetsDeletes(t *testing.T, env *storeEnv) {
	s := env.store(t)
	k, epoch := leadShard(t, s, 7)
	p1, p10 := GroupPartition{Topic: "t", Partition: 1}, GroupPartition{Topic: "t", Partition: 10}
	err := commitShard(t, s, k, epoch, []GroupWrite{
		{Group: "a", Offsets: map[GroupPartition]*CommittedOffset{p1: offset(1), p10: offset(10)}},
		pendingWrite("a", 7, map[GroupPartition]int64{p1: 71, p10: 710}),
		pendingWrite("a", 8, map[GroupPartition]int64{p1: 81}),
		pendingWrite("b", 7, map[GroupPartition]int64{p1: 71}),
	})
	if err != nil {
		t.Fatal(err)
	}
	err = commitShard(t, s, k, epoch, []GroupWrite{
		{Group: "a", Offsets: map[GroupPartition]*CommittedOffset{p1: nil}},
		pendingWrite("a", 9, map[GroupPartition]int64{p1: 91}),
		{Group: "b", Delete: true},
		pendingWrite("c", 7, map[GroupPartition]int64{p1: 71}),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := loadGroups(t, s, 7)
	if want := map[GroupPartition]int64{p10: 10}; !reflect.DeepEqual(committedOf(got["a"]), want) {
		t.Errorf("committed = %v, want %v", committedOf(got["a"]), want)
	}
	if want := map[int64]map[GroupPartition]int64{7: {p10: 710}, 9: {p1: 91}}; !reflect.DeepEqual(pendingOf(got["a"]), want) {
		t.Errorf("pending = %v, want %v", pendingOf(got["a"]), want)
	}
	if _, ok := got["b"]; ok {
		t.Errorf("deleted group b still loads: pending %v", pendingOf(got["b"]))
	}
	if pendingOf(got["c"])[7][p1] != 71 {
		t.Errorf("group c = %v, want its pending offset", pendingOf(got["c"]))
	}
}

// testTxnOffsetsInvalid: transactional writes carry no other change.
func testTxnOffsetsInvalid(t *testing.T, env *storeEnv) {
	s := env.store(t)
	k, epoch := leadShard(t, s, 8)
	p0 := GroupPartition{Topic: "t", Partition: 0}
	pw := pendingWrite("g", 7, map[GroupPartition]int64{p0: 1})
	end := &TxnEnd{ProducerID: 7, Commit: true}
	for _, w := range []GroupWrite{
		{Group: "g", Delete: true, TxnOffsets: pw.TxnOffsets},
		{Group: "g", Delete: true, TxnEnd: end},
		{Group: "g", TxnOffsets: pw.TxnOffsets, Offsets: map[GroupPartition]*CommittedOffset{p0: offset(1)}},
		{Group: "g", TxnEnd: end, Record: &GroupRecord{}},
		{Group: "g", TxnOffsets: pw.TxnOffsets, TxnEnd: end},
		pendingWrite("g", 7, map[GroupPartition]int64{{Topic: "a/b", Partition: 0}: 1}),
	} {
		if err := commitShard(t, s, k, epoch, []GroupWrite{w}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", w, err)
		}
	}
}
