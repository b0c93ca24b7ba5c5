package metadata

import (
	"errors"
	"reflect"
	"testing"

	"github.com/strata-io/strata/internal/testenv"
)

// TestConsumerGroups: KIP-848 group records in etcd, on a real etcd.
func TestConsumerGroups(t *testing.T) {
	etcd := testenv.StartEtcd(t)
	runStoreCases(t, []string{etcd.Endpoint}, []storeCase{
		{"RoundTrip", testConsumerGroupsRoundTrip},
		{"Fenced", testConsumerGroupsFenced},
	})
}

// testConsumerGroupsRoundTrip: what PutConsumerGroups writes,
// LoadConsumerGroups reads back (odd group ids, more groups than one
// transaction takes), beside the group's offsets, which LoadGroups still
// reads; a nil record deletes, and DeleteGroups' range delete takes the
// record with the offsets.
func testConsumerGroupsRoundTrip(t *testing.T, env *storeEnv) {
	s := env.store(t)
	k, epoch := leadShard(t, s, 5)
	inst := "i1"
	topic := NewTopicID()
	rec := &ConsumerGroupRecord{Epoch: 7, AssignmentEpoch: 7, Assignor: "uniform", SubscriptionHash: "t/x/3;",
		Members: []ConsumerGroupMember{{ID: "m1", InstanceID: &inst, ClientID: "c", ClientHost: "h", RebalanceTimeoutMs: 1000,
			SubscribedTopics: []string{"t"}, Epoch: 7, PreviousEpoch: 6, State: 1,
			Assigned: ConsumerAssignment{topic: {0, 2}}, Revoking: ConsumerAssignment{topic: {1}}, Target: ConsumerAssignment{topic: {0, 2}}}}}
	var puts []ConsumerGroupPut
	groups := []string{"with/slash", "per%cent", "ünïcode"}
	for i := range consumerGroupsPerTxn + 5 {
		groups = append(groups, "g"+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	for _, g := range groups {
		puts = append(puts, ConsumerGroupPut{Group: g, Record: rec})
	}
	if err := s.PutConsumerGroups(t.Context(), k, epoch, puts); err != nil {
		t.Fatal(err)
	}
	if err := commitShard(t, s, k, epoch, []GroupWrite{{Group: "with/slash", Offsets: map[GroupPartition]*CommittedOffset{{Topic: "t", Partition: 0}: offset(5)}}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadConsumerGroups(t.Context(), k.Partition)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(groups) {
		t.Fatalf("loaded %d consumer groups, want %d", len(got), len(groups))
	}
	for _, g := range groups {
		if !reflect.DeepEqual(got[g], rec) {
			t.Fatalf("group %q: loaded %+v, want %+v", g, got[g], rec)
		}
	}
	if lg := loadGroups(t, s, k.Partition)["with/slash"]; lg == nil || lg.Offsets[GroupPartition{Topic: "t", Partition: 0}].Offset != 5 {
		t.Fatalf("the offsets beside the record: %+v", lg)
	}
	if err := s.PutConsumerGroups(t.Context(), k, epoch, []ConsumerGroupPut{{Group: "per%cent"}}); err != nil {
		t.Fatal(err)
	}
	if err := commitShard(t, s, k, epoch, []GroupWrite{{Group: "with/slash", Delete: true}}); err != nil {
		t.Fatal(err)
	}
	got, err = s.LoadConsumerGroups(t.Context(), k.Partition)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got["per%cent"]; ok {
		t.Error("a deleted record was loaded")
	}
	if _, ok := got["with/slash"]; ok {
		t.Error("DeleteGroups left the consumer group's record")
	}
	if len(got) != len(groups)-2 {
		t.Errorf("loaded %d consumer groups, want %d", len(got), len(groups)-2)
	}
}

// testConsumerGroupsFenced: a shard led under another epoch writes
// nothing.
func testConsumerGroupsFenced(t *testing.T, env *storeEnv) {
	s := env.store(t)
	k, epoch := leadShard(t, s, 6)
	err := s.PutConsumerGroups(t.Context(), k, epoch+1000, []ConsumerGroupPut{{Group: "g", Record: &ConsumerGroupRecord{Epoch: 1}}})
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("write under a stale epoch: %v, want ErrFenced", err)
	}
	if err := s.PutConsumerGroups(t.Context(), k, 0, nil); !errors.Is(err, ErrFenced) {
		t.Fatalf("write under epoch 0: %v, want ErrFenced", err)
	}
	got, err := s.LoadConsumerGroups(t.Context(), k.Partition)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("a fenced write left %v", got)
	}
}
