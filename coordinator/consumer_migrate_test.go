package coordinator

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/metadata"
)

// classicMeta is a member's ConsumerProtocolSubscription: topic t, owning
// parts of it.
func classicMeta(parts ...int32) []byte {
	md := kmsg.ConsumerMemberMetadata{Version: 3, Topics: []string{"t"}, Generation: -1}
	if len(parts) > 0 {
		md.OwnedPartitions = []kmsg.ConsumerMemberMetadataOwnedPartition{{Topic: "t", Partitions: parts}}
	}
	return md.AppendTo(nil)
}

func classicAssign(parts ...int32) []byte {
	a := kmsg.ConsumerMemberAssignment{Version: 3, Topics: []kmsg.ConsumerMemberAssignmentTopic{{Topic: "t", Partitions: parts}}}
	return a.AppendTo(nil)
}

// stableClassic makes ct's group a Stable classic group of generation gen
// whose members (id → partitions of t) use protocolType.
func (ct *cgTest) stableClassic(protocolType string, gen int32, members map[string][]int32) {
	ct.s.mu.Lock()
	defer ct.s.mu.Unlock()
	g := ct.g
	g.protocolType, g.protocol, g.generation, g.state = protocolType, "cooperative-sticky", gen, StateStable
	for _, id := range slices.Sorted(maps.Keys(members)) {
		m := &member{id: id, clientID: "classic", clientHost: "/127.0.0.1", sessionTimeout: 10000, rebalanceTimeout: 60000,
			protocols:  []metadata.GroupProtocol{{Name: "cooperative-sticky", Metadata: classicMeta(members[id]...)}},
			assignment: classicAssign(members[id]...)}
		g.addMember(m)
		g.heartbeat(m)
		if g.leader == "" {
			g.leader = id
		}
	}
}

// rawHB sends a ConsumerGroupHeartbeat of member id at epoch (0: a join
// subscribing to t) without ct.hb's ownership check, which needs a
// consumer group: the group may be classic before and after.
func (ct *cgTest) rawHB(id string, epoch int32) *kmsg.ConsumerGroupHeartbeatResponse {
	ct.t.Helper()
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = 1
	req.Group, req.MemberID, req.MemberEpoch, req.RebalanceTimeoutMillis = "g", id, epoch, -1
	if epoch == 0 {
		req.RebalanceTimeoutMillis, req.SubscribedTopicNames, req.Topics = 60000, []string{"t"}, []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	}
	ct.s.mu.Lock()
	resp, w := ct.g.ConsumerHeartbeat(Client{ID: "client", Host: "/127.0.0.1"}, req)
	ct.s.mu.Unlock()
	if err := w.Wait(context.Background()); err != nil {
		ct.t.Fatalf("write: %v", err)
	}
	return resp
}

// join sends a classic JoinGroup (v9) as member id reporting owned.
func (ct *cgTest) join(id string, owned ...int32) *kmsg.JoinGroupResponse {
	ct.t.Helper()
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = 9
	req.Group, req.MemberID, req.ProtocolType = "g", id, "consumer"
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 10000, 60000
	req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "cooperative-sticky", Metadata: classicMeta(owned...)}}
	ct.s.mu.Lock()
	now, wait := ct.g.Join(Client{ID: "classic", Host: "/127.0.0.1"}, req)
	if ct.g.consumer != nil {
		ct.checkOwnership()
	}
	ct.s.mu.Unlock()
	if now == nil {
		now = <-wait
	}
	return now.(*kmsg.JoinGroupResponse)
}

// sync sends a classic SyncGroup; the partitions of t it assigns.
func (ct *cgTest) sync(id string, gen int32) ([]int32, int16) {
	ct.t.Helper()
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version = 5
	req.Group, req.MemberID, req.Generation = "g", id, gen
	req.ProtocolType, req.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("cooperative-sticky")
	ct.s.mu.Lock()
	now, wait := ct.g.Sync(req)
	ct.s.mu.Unlock()
	if now == nil {
		now = <-wait
	}
	resp := now.(*kmsg.SyncGroupResponse)
	if resp.ErrorCode != 0 {
		return nil, resp.ErrorCode
	}
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(resp.MemberAssignment); err != nil {
		ct.t.Fatalf("sync of %s: assignment does not parse: %v", id, err)
	}
	var parts []int32
	for _, t := range a.Topics {
		if t.Topic != "t" {
			ct.t.Fatalf("sync of %s: assigned topic %q", id, t.Topic)
		}
		parts = append(parts, t.Partitions...)
	}
	slices.Sort(parts)
	return parts, 0
}

func (ct *cgTest) classicHB(id string, gen int32) *kerr.Error {
	ct.s.mu.Lock()
	defer ct.s.mu.Unlock()
	return ct.g.Heartbeat(&kmsg.HeartbeatRequest{Group: "g", MemberID: id, Generation: gen})
}

func (ct *cgTest) lastRecord() *metadata.ConsumerGroupRecord {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	if len(ct.written) == 0 {
		return nil
	}
	return ct.written[len(ct.written)-1]
}

// reconcileClassic runs a classic member through JoinGroup/SyncGroup
// until it is stable at the group epoch, as a cooperative client does:
// it rejoins reporting what its last SyncGroup gave it. It returns its
// generation and partitions.
func (ct *cgTest) reconcileClassic(id string, owns []int32) (int32, []int32) {
	ct.t.Helper()
	for range 4 {
		jr := ct.join(id, owns...)
		if jr.ErrorCode != 0 {
			ct.t.Fatalf("%s joins: %v", id, kerr.ErrorForCode(jr.ErrorCode))
		}
		parts, code := ct.sync(id, jr.Generation)
		if code != 0 {
			ct.t.Fatalf("%s syncs at %d: %v", id, jr.Generation, kerr.ErrorForCode(code))
		}
		for _, p := range parts {
			if !slices.Contains(owns, p) && ct.ownedByOther(id, p) {
				ct.t.Fatalf("%s got partition %d that another member owns", id, p)
			}
		}
		owns = parts
		if ct.classicHB(id, jr.Generation) == nil {
			return jr.Generation, owns
		}
	}
	ct.t.Fatalf("%s did not reconcile", id)
	return 0, nil
}

func (ct *cgTest) ownedByOther(id string, p int32) bool {
	ct.s.mu.Lock()
	defer ct.s.mu.Unlock()
	o := ct.g.consumer.owners()[topicPartition{ct.topics["t"].Meta.ID, p}]
	return o != "" && o != id
}

// TestClassicGroupUpgrade: a Stable classic group of the consumer
// protocol type becomes a consumer group when a member joins with
// ConsumerGroupHeartbeat: the classic members keep their partitions at the
// classic generation, are told to rejoin, rejoin through JoinGroup and
// SyncGroup with server-computed assignments, and the new member gets a
// partition only after its classic owner rejoined without it.
func TestClassicGroupUpgrade(t *testing.T) {
	ct := newCGTest(t)
	ct.topics.add("t", 4)
	tid := ct.topics["t"].Meta.ID
	ct.stableClassic("consumer", 5, map[string][]int32{"a": {0, 1}, "b": {2, 3}})

	r := ct.hb("c", 0, []string{"t"}, nil)
	wantCode(t, "c joins the classic group", r, nil)
	if r.MemberEpoch != 6 || count(r.Assignment) != 0 {
		t.Fatalf("c joins: epoch %d with %d partitions, want epoch 6 (the generation moved on) with none: the classic members own them all",
			r.MemberEpoch, count(r.Assignment))
	}
	ct.s.mu.Lock()
	typ, classic := ct.g.Type(), len(ct.g.members)
	ct.s.mu.Unlock()
	if typ != "consumer" || classic != 0 {
		t.Fatalf("after the upgrade: type %s with %d classic-state members, want consumer with 0", typ, classic)
	}
	rec := ct.lastRecord()
	if rec == nil || len(rec.Members) != 3 {
		t.Fatalf("record after the upgrade: %+v, want the three members", rec)
	}
	for _, m := range rec.Members {
		if (m.ID == "c") != (m.Classic == nil) {
			t.Fatalf("record: member %s classic metadata %+v", m.ID, m.Classic)
		}
		if m.ID == "a" && (m.Epoch != 5 || !slices.Equal(m.Assigned[tid], []int32{0, 1})) {
			t.Fatalf("record: a at epoch %d owning %v, want 5 owning [0 1]", m.Epoch, m.Assigned[tid])
		}
	}

	// The classic members learn of the rebalance from their heartbeats
	// and SyncGroups, at their generation; an old generation is illegal.
	if err := ct.classicHB("a", 5); err != kerr.RebalanceInProgress {
		t.Fatalf("a's heartbeat: %v, want REBALANCE_IN_PROGRESS", err)
	}
	if err := ct.classicHB("a", 4); err != kerr.IllegalGeneration {
		t.Fatalf("a's heartbeat of generation 4: %v, want ILLEGAL_GENERATION", err)
	}
	if _, code := ct.sync("b", 5); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("b's sync at 5: %v, want REBALANCE_IN_PROGRESS", kerr.ErrorForCode(code))
	}
	// A classic member commits with its generation, any OffsetCommit version.
	ct.s.mu.Lock()
	okCommit := ct.g.CheckCommitVersion(2, 5, "a", nil, nil)
	staleCommit := ct.g.CheckCommitVersion(2, 4, "a", nil, nil)
	ct.s.mu.Unlock()
	if okCommit != nil || staleCommit != kerr.IllegalGeneration {
		t.Fatalf("a's commits: at its generation %v, at an older one %v; want nil and ILLEGAL_GENERATION", okCommit, staleCommit)
	}

	// A classic member that rejoins still owning what it must give up
	// stays revoking (at its generation): nothing moves to c yet.
	for _, id := range []string{"a", "b"} {
		parts := map[string][]int32{"a": {0, 1}, "b": {2, 3}}[id]
		ct.join(id, parts...)
		if jr := ct.join(id, parts...); jr.ErrorCode != 0 || (jr.Generation != 5 && jr.Generation != 6) {
			t.Fatalf("%s rejoins: generation %d, %v", id, jr.Generation, kerr.ErrorForCode(jr.ErrorCode))
		}
	}
	if r := ct.hb("c", 6, nil, metadata.ConsumerAssignment{}); count(r.Assignment) != 0 {
		t.Fatalf("c got %v while the classic members still own every partition", r.Assignment)
	}
	ga, pa := ct.reconcileClassic("a", []int32{0, 1})
	gb, pb := ct.reconcileClassic("b", []int32{2, 3})
	if ga != 6 || gb != 6 {
		t.Fatalf("classic members stable at generations %d and %d, want 6", ga, gb)
	}
	r = ct.hb("c", 6, nil, metadata.ConsumerAssignment{})
	wantCode(t, "c after the classic members rejoined", r, nil)
	pc := owned(r.Assignment)[tid]
	all := slices.Concat(pa, pb, pc)
	slices.Sort(all)
	if !slices.Equal(all, []int32{0, 1, 2, 3}) || len(pc) != 1 {
		t.Fatalf("a %v, b %v, c %v: want every partition once, c one", pa, pb, pc)
	}
	ct.s.mu.Lock()
	state := ct.g.consumer.state()
	ct.s.mu.Unlock()
	if state != "Stable" {
		t.Fatalf("group state %s, want Stable", state)
	}
}

// TestClassicGroupUpgradeRefused: a classic group whose members do not
// use the consumer protocol type, or a heartbeat that is not a join,
// meets GROUP_ID_NOT_FOUND and the group stays classic.
func TestClassicGroupUpgradeRefused(t *testing.T) {
	ct := newCGTest(t)
	ct.topics.add("t", 4)
	ct.stableClassic("connect", 3, map[string][]int32{"a": {0, 1, 2, 3}})
	wantCode(t, "join of a connect group", ct.rawHB("c", 0), kerr.GroupIDNotFound)

	ct2 := newCGTest(t)
	ct2.topics.add("t", 4)
	ct2.stableClassic("consumer", 3, map[string][]int32{"a": {0, 1, 2, 3}})
	wantCode(t, "a heartbeat of epoch 1", ct2.rawHB("c", 1), kerr.GroupIDNotFound)
	for _, c := range []*cgTest{ct, ct2} {
		c.s.mu.Lock()
		typ, n := c.g.Type(), len(c.g.members)
		c.s.mu.Unlock()
		if typ != "classic" || n != 1 {
			t.Fatalf("after a refused upgrade: %s group of %d members, want classic of 1", typ, n)
		}
	}
}

// TestConsumerGroupDowngrade: when the last member of the consumer
// protocol leaves and classic members remain, the group is a classic
// group again at the group epoch, each member assigned its target, and it
// rebalances; the consumer record is deleted. A classic member joining
// a consumer group that has members joins it (no downgrade).
func TestConsumerGroupDowngrade(t *testing.T) {
	ct := newCGTest(t)
	ct.topics.add("t", 4)
	ct.stableClassic("consumer", 5, map[string][]int32{"a": {0, 1}, "b": {2, 3}})
	ct.hb("c", 0, []string{"t"}, nil)
	ga, pa := ct.reconcileClassic("a", []int32{0, 1})
	ct.reconcileClassic("b", []int32{2, 3})
	r := ct.hb("c", 6, nil, metadata.ConsumerAssignment{})
	if count(r.Assignment) != 1 {
		t.Fatalf("c owns %d partitions, want 1", count(r.Assignment))
	}
	// c revokes and leaves.
	r = ct.rawHB("c", leaveEpoch)
	wantCode(t, "c leaves", r, nil)
	ct.s.mu.Lock()
	typ, state, gen := ct.g.Type(), ct.g.state, ct.g.generation
	var assignA []byte
	if m := ct.g.members["a"]; m != nil {
		assignA = m.assignment
	}
	n := len(ct.g.members)
	ct.s.mu.Unlock()
	if typ != "classic" || n != 2 || state != StatePreparingRebalance || gen != 6 {
		t.Fatalf("after the last consumer member left: %s group of %d members, %s at generation %d; want classic of 2, PreparingRebalance at 6",
			typ, n, state, gen)
	}
	var a kmsg.ConsumerMemberAssignment
	if err := a.ReadFrom(assignA); err != nil || len(a.Topics) != 1 || !slices.Equal(a.Topics[0].Partitions, pa) {
		t.Fatalf("a's classic assignment %+v (%v), want its target %v", a, err, pa)
	}
	ct.mu.Lock()
	deleted := ct.written[len(ct.written)-1] == nil
	ct.mu.Unlock()
	if !deleted {
		t.Fatal("the consumer record was not deleted at the downgrade")
	}
	if err := ct.classicHB("a", ga); err != kerr.RebalanceInProgress {
		t.Fatalf("a's heartbeat after the downgrade: %v, want REBALANCE_IN_PROGRESS", err)
	}
}

// TestConsumerRecordWinsAtLoad: a group with both a classic record of
// members and a consumer record (an upgrade whose classic record was not
// emptied before a failover) is loaded as the consumer group.
func TestConsumerRecordWinsAtLoad(t *testing.T) {
	ct := newCGTest(t)
	ct.topics.add("t", 4)
	ct.stableClassic("consumer", 5, map[string][]int32{"a": {0, 1}, "b": {2, 3}})
	ct.hb("c", 0, []string{"t"}, nil)
	// Through JSON, as etcd holds it.
	raw, err := json.Marshal(ct.lastRecord())
	if err != nil {
		t.Fatal(err)
	}
	rec := new(metadata.ConsumerGroupRecord)
	if err := json.Unmarshal(raw, rec); err != nil {
		t.Fatal(err)
	}

	ct2 := newCGTest(t)
	ct2.topics, ct2.s.c.topics = ct.topics, ct.topics
	ct2.stableClassic("consumer", 5, map[string][]int32{"a": {0, 1}, "b": {2, 3}})
	ct2.s.mu.Lock()
	ct2.s.installConsumerGroups(map[string]*metadata.ConsumerGroupRecord{"g": rec})
	g := ct2.s.groups["g"]
	typ, n, m := g.Type(), len(g.members), len(g.consumer.members)
	ct2.s.mu.Unlock()
	if typ != "consumer" || n != 0 || m != 3 {
		t.Fatalf("loaded: %s group, %d classic-state members, %d consumer members; want consumer, 0, 3", typ, n, m)
	}
	if err := ct2.classicHB("a", 5); err != kerr.RebalanceInProgress {
		t.Fatalf("a on the new coordinator: %v, want REBALANCE_IN_PROGRESS", err)
	}
	// Its session and protocols came back with it: it rejoins and syncs.
	gen, parts := ct2.reconcileClassic("a", []int32{0, 1})
	if gen != 6 || len(parts) == 0 {
		t.Fatalf("a on the new coordinator reconciled to generation %d with %v, want 6 with some partitions", gen, parts)
	}
}

// TestClassicStaticMemberReplaced: a static classic member (instance id)
// restarted with the consumer protocol under the same instance id takes
// its place and partitions at once, as Kafka's, instead of waiting for
// the classic member's session to end (UNRELEASED_INSTANCE_ID).
func TestClassicStaticMemberReplaced(t *testing.T) {
	ct := newCGTest(t)
	ct.topics.add("t", 4)
	tid := ct.topics["t"].Meta.ID
	ct.stableClassic("consumer", 5, map[string][]int32{"a": {0, 1}, "b": {2, 3}})
	ct.s.mu.Lock()
	inst := "instance-a"
	m := ct.g.members["a"]
	m.instanceID = &inst
	ct.g.static[inst] = "a"
	ct.s.mu.Unlock()
	ct.hb("c", 0, []string{"t"}, nil) // upgrade
	withInstance := func(req *kmsg.ConsumerGroupHeartbeatRequest) { req.InstanceID = &inst }
	r := ct.hb("a2", 0, []string{"t"}, nil, withInstance)
	wantCode(t, "a's instance rejoins with the consumer protocol", r, nil)
	got := owned(r.Assignment)[tid]
	ct.s.mu.Lock()
	_, old := ct.g.consumer.members["a"]
	a2 := ct.g.consumer.members["a2"]
	ct.s.mu.Unlock()
	if old || a2 == nil || a2.Classic != nil {
		t.Fatalf("after the replacement: old member kept %v, new member %+v", old, a2)
	}
	for _, p := range got {
		if !slices.Contains([]int32{0, 1}, p) {
			t.Fatalf("a2 got %v, want only partitions of the member it replaced ([0 1])", got)
		}
	}
	if len(got) == 0 {
		t.Fatalf("a2 got nothing of the partitions of the member it replaced")
	}
}
