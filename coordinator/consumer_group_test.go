package coordinator

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/partition"
)

// fakeTopics is the partition manager as the consumer groups see it.
type fakeTopics map[string]*partition.Topic

func (f fakeTopics) Topic(name string) *partition.Topic { return f[name] }

func (f fakeTopics) Topics() []*partition.Topic {
	var out []*partition.Topic
	for _, t := range f {
		out = append(out, t)
	}
	return out
}

func (f fakeTopics) add(name string, parts int) {
	f[name] = &partition.Topic{Meta: metadata.Topic{Name: name, ID: metadata.NewTopicID(), Partitions: int32(parts)},
		Parts: make([]*partition.Partition, parts)}
}

// cgTest is one consumer group on a shard of a coordinator whose records
// go to written instead of etcd.
type cgTest struct {
	t      *testing.T
	topics fakeTopics
	s      *Shard
	g      *Group

	mu      sync.Mutex
	written []*metadata.ConsumerGroupRecord
}

func newCGTest(t *testing.T) *cgTest {
	ctx, cancel := context.WithCancel(context.Background())
	ct := &cgTest{t: t, topics: fakeTopics{}}
	c := New(ctx, Options{Topics: ct.topics})
	c.consumerWrites.put = func(_ context.Context, _ metadata.PartitionKey, _ int64, puts []metadata.ConsumerGroupPut) error {
		ct.mu.Lock()
		defer ct.mu.Unlock()
		for _, p := range puts {
			ct.written = append(ct.written, p.Record)
		}
		return nil
	}
	ct.s = &Shard{c: c, groups: map[string]*Group{}}
	ct.g = ct.s.group("g", true)
	t.Cleanup(func() {
		ct.s.mu.Lock()
		ct.g.stop(kerr.NotCoordinator)
		ct.s.mu.Unlock()
		cancel()
	})
	return ct
}

// hb sends a heartbeat as the member id with epoch; topics nil leaves the
// subscription as it is; owned nil is a heartbeat that does not report
// the partitions owned.
func (ct *cgTest) hb(id string, epoch int32, topics []string, owned metadata.ConsumerAssignment, mod ...func(*kmsg.ConsumerGroupHeartbeatRequest)) *kmsg.ConsumerGroupHeartbeatResponse {
	ct.t.Helper()
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Version = 1
	req.Group, req.MemberID, req.MemberEpoch, req.RebalanceTimeoutMillis = "g", id, epoch, -1
	req.SubscribedTopicNames = topics
	if epoch == 0 {
		req.RebalanceTimeoutMillis = 60000
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	}
	if owned != nil {
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		for t, ps := range owned {
			req.Topics = append(req.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: t, Partitions: ps})
		}
	}
	for _, fn := range mod {
		fn(req)
	}
	if code, msg := CheckConsumerHeartbeat(req); code != nil {
		return &kmsg.ConsumerGroupHeartbeatResponse{ErrorCode: code.Code, ErrorMessage: &msg}
	}
	ct.s.mu.Lock()
	resp, w := ct.g.ConsumerHeartbeat(Client{ID: "client", Host: "/127.0.0.1"}, req)
	ct.checkOwnership()
	ct.s.mu.Unlock()
	if err := w.Wait(context.Background()); err != nil {
		ct.t.Fatalf("write: %v", err)
	}
	return resp
}

// checkOwnership: no partition is owned (assigned or being revoked) by
// two members at once. s.mu is held.
func (ct *cgTest) checkOwnership() {
	ct.t.Helper()
	seen := map[topicPartition]string{}
	for id, m := range ct.g.consumer.members {
		for _, a := range []metadata.ConsumerAssignment{m.Assigned, m.Revoking} {
			for t, ps := range a {
				for _, p := range ps {
					tp := topicPartition{t, p}
					if other, ok := seen[tp]; ok {
						ct.t.Fatalf("partition %d of %s is owned by %s and %s", p, t, other, id)
					}
					seen[tp] = id
				}
			}
		}
	}
}

func count(a *kmsg.ConsumerGroupHeartbeatResponseAssignment) int {
	n := 0
	if a != nil {
		for _, t := range a.Topics {
			n += len(t.Partitions)
		}
	}
	return n
}

func owned(a *kmsg.ConsumerGroupHeartbeatResponseAssignment) metadata.ConsumerAssignment {
	out := metadata.ConsumerAssignment{}
	for _, t := range a.Topics {
		out[t.TopicID] = t.Partitions
	}
	return out
}

func wantCode(t *testing.T, what string, resp *kmsg.ConsumerGroupHeartbeatResponse, want *kerr.Error) {
	t.Helper()
	var code int16
	if want != nil {
		code = want.Code
	}
	if resp.ErrorCode != code {
		t.Fatalf("%s: error %v, want %v", what, kerr.ErrorForCode(resp.ErrorCode), want)
	}
}

// TestConsumerGroupRevokeBeforeAssign: a joining member gets a partition
// only once its previous owner revoked it, and the members' epochs move
// as Kafka's CurrentAssignmentBuilder moves them.
func TestConsumerGroupRevokeBeforeAssign(t *testing.T) {
	ct := newCGTest(t)
	ct.topics.add("t", 4)
	r := ct.hb("m1", 0, []string{"t"}, nil)
	wantCode(t, "m1 joins", r, nil)
	if r.MemberEpoch != 1 || count(r.Assignment) != 4 {
		t.Fatalf("m1 joins: epoch %d with %d partitions, want epoch 1 with 4", r.MemberEpoch, count(r.Assignment))
	}
	all := owned(r.Assignment)

	r = ct.hb("m2", 0, []string{"t"}, nil)
	if r.MemberEpoch != 2 || count(r.Assignment) != 0 {
		t.Fatalf("m2 joins: epoch %d with %d partitions, want epoch 2 with none (m1 owns them)", r.MemberEpoch, count(r.Assignment))
	}
	// m1 learns it must give up two: it keeps its epoch until it did.
	r = ct.hb("m1", 1, nil, all)
	if r.MemberEpoch != 1 || count(r.Assignment) != 2 {
		t.Fatalf("m1 told to revoke: epoch %d with %d partitions, want epoch 1 with 2", r.MemberEpoch, count(r.Assignment))
	}
	kept := owned(r.Assignment)
	// Not yet revoked: m2 still gets nothing.
	r = ct.hb("m2", 2, nil, metadata.ConsumerAssignment{})
	if count(r.Assignment) != 0 {
		t.Fatalf("m2 got %d partitions before m1 revoked them", count(r.Assignment))
	}
	// A keepalive (partitions not reported) does not count as revoking.
	r = ct.hb("m1", 1, nil, nil)
	if r.MemberEpoch != 1 {
		t.Fatalf("m1's keepalive moved its epoch to %d", r.MemberEpoch)
	}
	r = ct.hb("m1", 1, nil, kept)
	if r.MemberEpoch != 2 {
		t.Fatalf("m1 revoked: epoch %d, want 2", r.MemberEpoch)
	}
	r = ct.hb("m2", 2, nil, metadata.ConsumerAssignment{})
	if count(r.Assignment) != 2 {
		t.Fatalf("m2 after m1 revoked: %d partitions, want 2", count(r.Assignment))
	}
	ct.s.mu.Lock()
	state := ct.g.consumer.state()
	ct.s.mu.Unlock()
	if state != "Stable" {
		t.Fatalf("group state %s, want Stable", state)
	}

	// m2 leaves: m1 gets everything at the next epoch.
	r = ct.hb("m2", leaveEpoch, nil, nil)
	if r.MemberEpoch != leaveEpoch {
		t.Fatalf("leave answered epoch %d", r.MemberEpoch)
	}
	r = ct.hb("m1", 2, nil, nil)
	if r.MemberEpoch != 3 || count(r.Assignment) != 4 {
		t.Fatalf("m1 after m2 left: epoch %d with %d partitions, want 3 with 4", r.MemberEpoch, count(r.Assignment))
	}
}

// TestConsumerGroupEpochChecks: Kafka's checks of the member epoch and id.
func TestConsumerGroupEpochChecks(t *testing.T) {
	ct := newCGTest(t)
	ct.topics.add("t", 2)
	r := ct.hb("m1", 0, []string{"t"}, nil)
	a1 := owned(r.Assignment)
	wantCode(t, "epoch ahead", ct.hb("m1", 5, nil, nil), kerr.FencedMemberEpoch)
	wantCode(t, "unknown member", ct.hb("nobody", 1, nil, nil), kerr.UnknownMemberID)
	ct.hb("m2", 0, []string{"t"}, nil)
	r = ct.hb("m1", 1, nil, a1) // told to revoke one
	kept := owned(r.Assignment)
	r = ct.hb("m1", 1, nil, kept)
	if r.MemberEpoch != 2 {
		t.Fatalf("m1 epoch %d, want 2", r.MemberEpoch)
	}
	// The response that moved m1 to 2 was lost: its previous epoch is
	// taken with partitions it has, not with others.
	wantCode(t, "previous epoch, owned subset", ct.hb("m1", 1, nil, kept), nil)
	wantCode(t, "previous epoch, not reported", ct.hb("m1", 1, nil, nil), kerr.FencedMemberEpoch)
	wantCode(t, "previous epoch, partitions it lost", ct.hb("m1", 1, nil, a1), kerr.FencedMemberEpoch)

	wantCode(t, "bad assignor", ct.hb("m3", 0, []string{"t"}, nil, func(r *kmsg.ConsumerGroupHeartbeatRequest) {
		r.ServerAssignor = kmsg.StringPtr("sticky")
	}), kerr.UnsupportedAssignor)
	wantCode(t, "join with partitions", ct.hb("m3", 0, []string{"t"}, a1), kerr.InvalidRequest)
	wantCode(t, "bad regex", ct.hb("m3", 0, nil, nil, func(r *kmsg.ConsumerGroupHeartbeatRequest) {
		r.SubscribedTopicRegex = kmsg.StringPtr("(")
	}), kerr.InvalidRegularExpression)

	// Offset commits: the current epoch; an older one for partitions the
	// member has owned since then (KIP-1251); a newer one never.
	ct.s.mu.Lock()
	defer ct.s.mu.Unlock()
	cg := ct.g.consumer
	m1 := cg.members["m1"]
	var mine, theirs metadata.GroupPartition
	for _, p := range []int32{0, 1} {
		gp := metadata.GroupPartition{Topic: "t", Partition: p}
		if slices.Contains(m1.Assigned[ct.topics["t"].Meta.ID], p) {
			mine = gp
		} else {
			theirs = gp
		}
	}
	for _, tc := range []struct {
		epoch   int32
		member  string
		version int16
		parts   []metadata.GroupPartition
		want    *kerr.Error
	}{
		{2, "m1", 9, []metadata.GroupPartition{mine}, nil},
		{1, "m1", 9, []metadata.GroupPartition{mine}, nil},
		{1, "m1", 9, []metadata.GroupPartition{theirs}, kerr.StaleMemberEpoch},
		{3, "m1", 9, []metadata.GroupPartition{mine}, kerr.StaleMemberEpoch},
		{2, "m1", 8, []metadata.GroupPartition{mine}, kerr.UnsupportedVersion},
		{2, "nobody", 9, []metadata.GroupPartition{mine}, kerr.UnknownMemberID},
		{-1, "", 9, []metadata.GroupPartition{mine}, kerr.UnknownMemberID}, // members: not a simple consumer's group
	} {
		if got := ct.g.CheckCommitVersion(tc.version, tc.epoch, tc.member, nil, tc.parts); got != tc.want {
			t.Errorf("commit v%d by %s at epoch %d of %v: %v, want %v", tc.version, tc.member, tc.epoch, tc.parts, got, tc.want)
		}
	}
	if got := ct.g.CheckConsumerFetch(kmsg.StringPtr("m1"), 1); got != kerr.StaleMemberEpoch {
		t.Errorf("fetch at an old epoch: %v", got)
	}
	if got := ct.g.CheckConsumerFetch(nil, -1); got != nil {
		t.Errorf("admin fetch: %v", got)
	}
}

// TestConsumerGroupStaticMember: a static member that leaves with epoch
// -2 keeps its partitions; a new member with its instance id takes them
// over at once; an instance id in use is UNRELEASED_INSTANCE_ID.
func TestConsumerGroupStaticMember(t *testing.T) {
	ct := newCGTest(t)
	ct.topics.add("t", 4)
	static := func(instance string) func(*kmsg.ConsumerGroupHeartbeatRequest) {
		return func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.InstanceID = kmsg.StringPtr(instance) }
	}
	wantCode(t, "s1 joins", ct.hb("s1", 0, []string{"t"}, nil, static("i1")), nil)
	wantCode(t, "m2 joins", ct.hb("m2", 0, []string{"t"}, nil), nil)
	r := ct.hb("s1", 1, nil, metadata.ConsumerAssignment{ct.topics["t"].Meta.ID: {0, 1, 2, 3}}, static("i1"))
	s1 := owned(r.Assignment)
	r = ct.hb("s1", 1, nil, s1, static("i1"))
	epoch := r.MemberEpoch
	wantCode(t, "instance in use", ct.hb("s2", 0, []string{"t"}, nil, static("i1")), kerr.UnreleasedInstanceID)

	r = ct.hb("s1", staticLeaveEpoch, nil, nil, static("i1"))
	wantCode(t, "static leave", r, nil)
	if r.MemberEpoch != staticLeaveEpoch {
		t.Fatalf("static leave answered epoch %d", r.MemberEpoch)
	}
	// m2 does not get s1's partitions meanwhile.
	r = ct.hb("m2", 2, nil, metadata.ConsumerAssignment{})
	if count(r.Assignment) != 2 {
		t.Fatalf("m2 has %d partitions while s1 is away, want 2", count(r.Assignment))
	}
	r = ct.hb("s2", 0, []string{"t"}, nil, static("i1"))
	wantCode(t, "static rejoin", r, nil)
	if r.MemberEpoch != epoch || !sameAssignment(owned(r.Assignment), s1) {
		t.Fatalf("s2 took over epoch %d with %v, want epoch %d with %v", r.MemberEpoch, owned(r.Assignment), epoch, s1)
	}
	wantCode(t, "the old member", ct.hb("s1", epoch, nil, nil, static("i1")), kerr.FencedInstanceID)
}

// TestConsumerGroupRebalanceTimeout: a member that does not revoke within
// its rebalance timeout is removed, and its partitions go to the others.
func TestConsumerGroupRebalanceTimeout(t *testing.T) {
	ct := newCGTest(t)
	ct.topics.add("t", 2)
	fast := func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.RebalanceTimeoutMillis = 50 }
	r := ct.hb("m1", 0, []string{"t"}, nil, fast)
	all := owned(r.Assignment)
	ct.hb("m2", 0, []string{"t"}, nil)
	if r := ct.hb("m1", 1, nil, all); count(r.Assignment) != 1 { // told to revoke one; it never does
		t.Fatalf("m1 keeps %d partitions, want 1", count(r.Assignment))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ct.s.mu.Lock()
		_, still := ct.g.consumer.members["m1"]
		ct.s.mu.Unlock()
		if !still {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("m1 was not removed after its rebalance timeout")
		}
		time.Sleep(10 * time.Millisecond)
	}
	r = ct.hb("m2", 2, nil, metadata.ConsumerAssignment{})
	if count(r.Assignment) != 2 {
		t.Fatalf("m2 has %d partitions after m1 was fenced, want 2", count(r.Assignment))
	}
	wantCode(t, "the fenced member", ct.hb("m1", 1, nil, nil), kerr.UnknownMemberID)
}

// TestConsumerGroupRecordRoundTrip: what a new coordinator restores from
// the last record written is the group as it was: same epochs,
// assignments and subscriptions, and a steady heartbeat writes nothing.
func TestConsumerGroupRecordRoundTrip(t *testing.T) {
	ct := newCGTest(t)
	ct.topics.add("t", 3)
	ct.hb("m1", 0, []string{"t"}, nil)
	wantCode(t, "m2 joins", ct.hb("m2", 0, []string{"t"}, nil), nil)
	r := ct.hb("m1", 1, nil, metadata.ConsumerAssignment{ct.topics["t"].Meta.ID: {0, 1, 2}})
	ct.hb("m1", 1, nil, owned(r.Assignment))
	if r = ct.hb("m2", 2, nil, metadata.ConsumerAssignment{}); count(r.Assignment) == 0 {
		t.Fatal("m2 got nothing once m1 revoked")
	}
	ct.mu.Lock()
	n := len(ct.written)
	last := ct.written[n-1]
	ct.mu.Unlock()
	ct.hb("m2", 2, nil, nil)
	ct.hb("m1", 2, nil, nil)
	ct.mu.Lock()
	if len(ct.written) != n {
		t.Errorf("steady heartbeats wrote %d records", len(ct.written)-n)
	}
	ct.mu.Unlock()

	ct.s.mu.Lock()
	want := ct.g.consumer.record()
	ct.s.mu.Unlock()
	if fmt.Sprint(want) != fmt.Sprint(last) {
		t.Fatalf("last record written %+v, the group is %+v", last, want)
	}
	ct2 := newCGTest(t)
	ct2.topics = ct.topics
	ct2.s.c.topics = ct.topics
	ct2.s.mu.Lock()
	ct2.g.consumer = restoreConsumerGroup(ct2.g, last)
	got := ct2.g.consumer.record()
	ct2.s.mu.Unlock()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("restored %+v, want %+v", got, want)
	}
	// The restored members heartbeat on at their epochs, nothing moves.
	r = ct2.hb("m1", 2, nil, nil)
	wantCode(t, "m1 on the new coordinator", r, nil)
	if r.MemberEpoch != 2 || r.Assignment != nil {
		t.Fatalf("m1 on the new coordinator: epoch %d, assignment %v", r.MemberEpoch, r.Assignment)
	}
	ct2.mu.Lock()
	if len(ct2.written) != 0 {
		t.Errorf("a steady heartbeat on the new coordinator wrote %d records", len(ct2.written))
	}
	ct2.mu.Unlock()
}

func uniformInput(members []string, topics []subscribedTopic, current map[string]metadata.ConsumerAssignment) assignInput {
	in := assignInput{subs: map[string]map[string]bool{}, topics: topics, current: current}
	for _, m := range members {
		in.members = append(in.members, assignMember{id: m})
		in.subs[m] = map[string]bool{}
		for _, t := range topics {
			in.subs[m][t.name] = true
		}
	}
	return in
}

func sizes(out map[string]metadata.ConsumerAssignment) map[string]int {
	n := map[string]int{}
	for m, a := range out {
		for _, ps := range a {
			n[m] += len(ps)
		}
	}
	return n
}

// TestAssignUniform: balanced within one partition, every partition once,
// and sticky: a member that joins takes partitions only from the others'
// surplus, a member that leaves gives only its own.
func TestAssignUniform(t *testing.T) {
	a := subscribedTopic{name: "a", id: metadata.NewTopicID(), parts: 7}
	b := subscribedTopic{name: "b", id: metadata.NewTopicID(), parts: 5}
	topics := []subscribedTopic{a, b}
	out := assignUniform(uniformInput([]string{"m1", "m2"}, topics, nil))
	checkAssignment(t, out, topics)
	if n := sizes(out); n["m1"] != 6 || n["m2"] != 6 {
		t.Fatalf("two members: %v", n)
	}
	next := assignUniform(uniformInput([]string{"m1", "m2", "m3"}, topics, out))
	checkAssignment(t, next, topics)
	if n := sizes(next); n["m1"] != 4 || n["m2"] != 4 || n["m3"] != 4 {
		t.Fatalf("three members: %v", n)
	}
	for _, m := range []string{"m1", "m2"} {
		for id, ps := range next[m] {
			for _, p := range ps {
				if !slices.Contains(out[m][id], p) {
					t.Errorf("%s got partition %d of %s from another member when m3 joined", m, p, id)
				}
			}
		}
	}
	// m1 leaves: m2 and m3 keep what they had.
	after := assignUniform(uniformInput([]string{"m2", "m3"}, topics, next))
	checkAssignment(t, after, topics)
	for _, m := range []string{"m2", "m3"} {
		for id, ps := range next[m] {
			for _, p := range ps {
				if !slices.Contains(after[m][id], p) {
					t.Errorf("%s lost partition %d of %s when m1 left", m, p, id)
				}
			}
		}
	}
	// Different subscriptions: only subscribers get a topic's partitions.
	in := uniformInput([]string{"m1", "m2"}, topics, nil)
	delete(in.subs["m1"], "b")
	out = assignUniform(in)
	checkAssignment(t, out, topics)
	if len(out["m1"][b.id]) != 0 {
		t.Errorf("m1 got partitions of b, which it does not subscribe to: %v", out["m1"])
	}
}

// TestAssignRange: contiguous ranges per topic, the first members one
// more, co-partitioned topics assigned alike.
func TestAssignRange(t *testing.T) {
	a := subscribedTopic{name: "a", id: metadata.NewTopicID(), parts: 5}
	b := subscribedTopic{name: "b", id: metadata.NewTopicID(), parts: 5}
	topics := []subscribedTopic{a, b}
	out := assignRange(uniformInput([]string{"m1", "m2"}, topics, nil))
	checkAssignment(t, out, topics)
	for _, tc := range []struct {
		m    string
		want []int32
	}{{"m1", []int32{0, 1, 2}}, {"m2", []int32{3, 4}}} {
		for _, topic := range topics {
			if got := out[tc.m][topic.id]; !slices.Equal(got, tc.want) {
				t.Errorf("%s of %s: %v, want %v", tc.m, topic.name, got, tc.want)
			}
		}
	}
}

// checkAssignment: every partition of topics is assigned once.
func checkAssignment(t *testing.T, out map[string]metadata.ConsumerAssignment, topics []subscribedTopic) {
	t.Helper()
	seen := map[topicPartition]string{}
	for m, a := range out {
		for id, ps := range a {
			for _, p := range ps {
				tp := topicPartition{id, p}
				if other, ok := seen[tp]; ok {
					t.Fatalf("partition %d of %s assigned to %s and %s", p, id, other, m)
				}
				seen[tp] = m
			}
		}
	}
	total := 0
	for _, tp := range topics {
		total += int(tp.parts)
	}
	if len(seen) != total {
		t.Fatalf("%d partitions assigned, want %d", len(seen), total)
	}
}

// TestConsumerGroupRegex: a member subscribed by a regular expression
// gets the partitions of a matching topic created after it joined, once
// the subscriptions are resolved again.
func TestConsumerGroupRegex(t *testing.T) {
	ct := newCGTest(t)
	ct.topics.add("r-a", 2)
	ct.topics.add("other", 2)
	regex := func(r *kmsg.ConsumerGroupHeartbeatRequest) { r.SubscribedTopicRegex = kmsg.StringPtr("r-.*") }
	r := ct.hb("m1", 0, nil, nil, regex)
	wantCode(t, "join", r, nil)
	if count(r.Assignment) != 2 {
		t.Fatalf("joined with %d partitions, want the 2 of r-a", count(r.Assignment))
	}
	epoch := r.MemberEpoch
	ct.topics.add("r-b", 3)
	time.Sleep(topicsRefresh + 100*time.Millisecond)
	r = ct.hb("m1", epoch, nil, nil)
	if r.MemberEpoch != epoch+1 || count(r.Assignment) != 5 {
		t.Fatalf("after r-b was created: epoch %d with %d partitions, want %d with 5", r.MemberEpoch, count(r.Assignment), epoch+1)
	}
}
