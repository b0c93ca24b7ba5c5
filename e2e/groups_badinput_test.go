package e2e

// TestGroupBadInput: group requests no well-behaved member sends, against
// one broker. Each gets Kafka's error code, per partition where Kafka has
// one, and changes nothing it should not: after each, a live member of a
// Stable group still heartbeats, commits and reads its offsets back, and
// the group is still Stable with that member alone. (NOT_COORDINATOR needs
// a second broker: TestGroupCoordinatorFailover checks it.)
//
// Requests are built with kmsg and sent on raw connections (kafkaConn), so
// that the test chooses every field; the last cases use franz-go, kadm and
// kcat the way applications do.

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/internal/testenv"
)

const (
	gbTopic = "e2e-groups"       // two partitions, the live member's subscription
	gbOther = "e2e-groups-other" // one partition, nobody subscribes to it
	gbLive  = "e2e-live"         // the group of the live member
	// gbSessionMs is long enough that a member the test stops heartbeating
	// for does not expire during the test.
	gbSessionMs = 60000
)

func TestGroupBadInput(t *testing.T) {
	s, k := startBadInputTopic(t, gbTopic, 2, nil)
	wantCode(t, "CreateTopics "+gbOther, createTopicRaw(t, k, gbOther, 1, nil), nil)
	live := gbJoin(t, s, gbLive, nil)
	live.assertLive(t, "after joining")

	cases := []struct {
		name string
		run  func(t *testing.T, k *kafkaConn)
	}{
		{"OffsetCommit: unknown topic and partition out of range, valid partitions commit", func(t *testing.T, k *kafkaConn) {
			req := live.commitRequest(live.gen, live.id, gbOffset{gbTopic, 0, 11, ""}, gbOffset{gbTopic, 1, 12, ""},
				gbOffset{gbTopic, 2, 13, ""}, gbOffset{gbTopic, -1, 14, ""}, gbOffset{"e2e-no-such-topic", 0, 15, ""})
			live.wantCommit(t, k.request(req, 0).(*kmsg.OffsetCommitResponse), map[string]*kerr.Error{
				gbTopic + "/0": nil, gbTopic + "/1": nil, gbTopic + "/2": kerr.UnknownTopicOrPartition,
				gbTopic + "/-1": kerr.UnknownTopicOrPartition, "e2e-no-such-topic/0": kerr.UnknownTopicOrPartition,
			})
			gbWantOffsets(t, k, gbLive, map[string]int64{gbTopic + "/0": 11, gbTopic + "/1": 12, gbTopic + "/2": -1, "e2e-no-such-topic/0": -1})
		}},
		{"OffsetCommit: stale, future and unknown generations and members", func(t *testing.T, k *kafkaConn) {
			before := gbFetchOffset(t, k, gbLive, gbTopic, 1)
			for _, tc := range []struct {
				what   string
				gen    int32
				member string
				want   *kerr.Error
			}{
				{"an older generation", live.gen - 1, live.id, kerr.IllegalGeneration},
				{"a newer generation", live.gen + 1, live.id, kerr.IllegalGeneration},
				{"an unknown member", live.gen, "e2e-ghost-member", kerr.UnknownMemberID},
			} {
				req := live.commitRequest(tc.gen, tc.member, gbOffset{gbTopic, 1, before + 100, ""})
				live.wantCommit(t, k.request(req, 0).(*kmsg.OffsetCommitResponse), map[string]*kerr.Error{gbTopic + "/1": tc.want})
			}
			gbWantOffsets(t, k, gbLive, map[string]int64{gbTopic + "/1": before}) // nothing committed

			// A generation for a group that does not exist: GROUP_ID_NOT_FOUND
			// from v9, ILLEGAL_GENERATION before (Kafka's
			// OffsetMetadataManager.validateOffsetCommit).
			for _, tc := range []struct {
				version int16
				want    *kerr.Error
			}{{9, kerr.GroupIDNotFound}, {8, kerr.IllegalGeneration}} {
				req := groupsCommitRequest("e2e-no-such-group", 1, "e2e-ghost-member", gbTopic, 0, 1)
				resp := k.request(req, tc.version).(*kmsg.OffsetCommitResponse)
				wantCode(t, fmt.Sprintf("OffsetCommit v%d in generation 1 to a group that does not exist", resp.Version),
					resp.Topics[0].Partitions[0].ErrorCode, tc.want)
			}
			gbWantOffsets(t, k, "e2e-no-such-group", map[string]int64{gbTopic + "/0": -1})
		}},
		{"OffsetCommit: metadata over 4096 bytes", func(t *testing.T, k *kafkaConn) {
			before := gbFetchOffset(t, k, gbLive, gbTopic, 1)
			atMost, over := strings.Repeat("m", 4096), strings.Repeat("m", 4097)
			req := live.commitRequest(live.gen, live.id, gbOffset{gbTopic, 0, 21, atMost}, gbOffset{gbTopic, 1, before + 1, over})
			live.wantCommit(t, k.request(req, 0).(*kmsg.OffsetCommitResponse), map[string]*kerr.Error{
				gbTopic + "/0": nil, gbTopic + "/1": kerr.OffsetMetadataTooLarge,
			})
			gbWantOffsets(t, k, gbLive, map[string]int64{gbTopic + "/0": 21, gbTopic + "/1": before})
			if got := gbFetchMetadata(t, k, gbLive, gbTopic, 0); got != atMost {
				t.Errorf("OffsetFetch %s/0: metadata of %d bytes, committed %d", gbTopic, len(got), len(atMost))
			}
		}},
		{"Heartbeat: unknown member, wrong generation", func(t *testing.T, k *kafkaConn) {
			wantCode(t, "Heartbeat of an unknown member", gbHeartbeat(k, gbLive, "e2e-ghost-member", live.gen, nil), kerr.UnknownMemberID)
			wantCode(t, "Heartbeat in an older generation", gbHeartbeat(k, gbLive, live.id, live.gen-1, nil), kerr.IllegalGeneration)
			wantCode(t, "Heartbeat to a group that does not exist", gbHeartbeat(k, "e2e-no-such-group", "e2e-ghost-member", 1, nil), kerr.UnknownMemberID)
		}},
		{"SyncGroup: wrong generation, unknown member", func(t *testing.T, k *kafkaConn) {
			wantCode(t, "SyncGroup in a newer generation", gbSync(k, gbLive, live.id, live.gen+1, nil, nil).ErrorCode, kerr.IllegalGeneration)
			wantCode(t, "SyncGroup in an older generation", gbSync(k, gbLive, live.id, live.gen-1, nil, nil).ErrorCode, kerr.IllegalGeneration)
			wantCode(t, "SyncGroup of an unknown member", gbSync(k, gbLive, "e2e-ghost-member", live.gen, nil, nil).ErrorCode, kerr.UnknownMemberID)
		}},
		{"JoinGroup v4+ without a member id: MEMBER_ID_REQUIRED, then joins with the id given", func(t *testing.T, k *kafkaConn) {
			const group = "e2e-kip394"
			resp := k.request(gbJoinRequest(group, "", nil, gbSessionMs, "consumer", "range"), 0).(*kmsg.JoinGroupResponse)
			wantCode(t, fmt.Sprintf("JoinGroup v%d without a member id", resp.Version), resp.ErrorCode, kerr.MemberIDRequired)
			if resp.MemberID == "" || resp.Generation != -1 {
				t.Fatalf("MEMBER_ID_REQUIRED with member id %q and generation %d, want an id to retry with and -1", resp.MemberID, resp.Generation)
			}
			id := resp.MemberID
			resp = k.request(gbJoinRequest(group, id, nil, gbSessionMs, "consumer", "range"), 0).(*kmsg.JoinGroupResponse)
			wantCode(t, "JoinGroup with the member id given", resp.ErrorCode, nil)
			if resp.MemberID != id || resp.LeaderID != id || resp.Generation < 1 {
				t.Errorf("JoinGroup with member id %s: member %s, leader %s, generation %d; want itself as leader of a generation ≥ 1",
					id, resp.MemberID, resp.LeaderID, resp.Generation)
			}
			gbLeave(t, k, group, id)

			// Before v4 a member without an id is given one and joins at once.
			req := gbJoinRequest("e2e-join-v3", "", nil, gbSessionMs, "consumer", "range")
			resp = k.request(req, 3).(*kmsg.JoinGroupResponse)
			wantCode(t, "JoinGroup v3 without a member id", resp.ErrorCode, nil)
			if resp.MemberID == "" {
				t.Errorf("JoinGroup v3: no member id assigned")
			} else {
				gbLeave(t, k, "e2e-join-v3", resp.MemberID)
			}
		}},
		{"JoinGroup: empty group id, session timeout out of range, inconsistent protocols", func(t *testing.T, k *kafkaConn) {
			for _, tc := range []struct {
				what string
				req  *kmsg.JoinGroupRequest
				want *kerr.Error
			}{
				{"an empty group id", gbJoinRequest("", "", nil, gbSessionMs, "consumer", "range"), kerr.InvalidGroupID},
				{"a session timeout of 5999 ms", gbJoinRequest(gbLive, "", nil, 5999, "consumer", "range"), kerr.InvalidSessionTimeout},
				{"a session timeout of 1800001 ms", gbJoinRequest(gbLive, "", nil, 1800001, "consumer", "range"), kerr.InvalidSessionTimeout},
				{"another protocol type than the group's", gbJoinRequest(gbLive, "", nil, gbSessionMs, "connect", "range"), kerr.InconsistentGroupProtocol},
				{"no protocol in common with the group", gbJoinRequest(gbLive, "", nil, gbSessionMs, "consumer", "e2e-no-such-assignor"), kerr.InconsistentGroupProtocol},
				{"an empty protocol type", gbJoinRequest("e2e-no-protocol-type", "", nil, gbSessionMs, "", "range"), kerr.InconsistentGroupProtocol},
				{"no protocols", gbJoinRequest("e2e-no-protocols", "", nil, gbSessionMs, "consumer"), kerr.InconsistentGroupProtocol},
			} {
				resp := k.request(tc.req, 0).(*kmsg.JoinGroupResponse)
				wantCode(t, "JoinGroup with "+tc.what, resp.ErrorCode, tc.want)
			}
		}},
		{"simple-consumer commit: to a group without members, not to one with members", func(t *testing.T, k *kafkaConn) {
			const group = "e2e-simple"
			req := groupsCommitRequest(group, -1, "", gbTopic, 0, 31)
			resp := k.request(req, 0).(*kmsg.OffsetCommitResponse)
			wantCode(t, "simple commit to a new group", resp.Topics[0].Partitions[0].ErrorCode, nil)
			gbWantOffsets(t, k, group, map[string]int64{gbTopic + "/0": 31})
			before := gbFetchOffset(t, k, gbLive, gbTopic, 0)
			resp = k.request(groupsCommitRequest(gbLive, -1, "", gbTopic, 0, before+50), 0).(*kmsg.OffsetCommitResponse)
			wantCode(t, "simple commit to a group with a live member", resp.Topics[0].Partitions[0].ErrorCode, kerr.UnknownMemberID)
			gbWantOffsets(t, k, gbLive, map[string]int64{gbTopic + "/0": before})
		}},
		{"DeleteGroups: with members, unknown, empty", func(t *testing.T, k *kafkaConn) {
			req := kmsg.NewPtrDeleteGroupsRequest()
			req.Groups = []string{gbLive, "e2e-no-such-group", "e2e-simple"}
			resp := k.request(req, 0).(*kmsg.DeleteGroupsResponse)
			want := map[string]*kerr.Error{gbLive: kerr.NonEmptyGroup, "e2e-no-such-group": kerr.GroupIDNotFound, "e2e-simple": nil}
			if len(resp.Groups) != len(req.Groups) {
				t.Fatalf("DeleteGroups of %d groups: %d answers", len(req.Groups), len(resp.Groups))
			}
			for _, g := range resp.Groups {
				wantCode(t, "DeleteGroups "+g.Group, g.ErrorCode, want[g.Group])
			}
			gbWantOffsets(t, k, "e2e-simple", map[string]int64{gbTopic + "/0": -1}) // gone with the group
			if dg := gbDescribe(t, k, "e2e-simple"); dg.State != "Dead" || len(dg.Members) > 0 {
				t.Errorf("DescribeGroups of a deleted group: %s with %d members, want Dead", dg.State, len(dg.Members))
			}
			req.Groups = []string{"e2e-simple"}
			resp = k.request(req, 0).(*kmsg.DeleteGroupsResponse)
			wantCode(t, "DeleteGroups of a group just deleted", resp.Groups[0].ErrorCode, kerr.GroupIDNotFound)
		}},
		{"OffsetDelete: a subscribed topic of a live group, another topic, an unknown group", func(t *testing.T, k *kafkaConn) {
			req := live.commitRequest(live.gen, live.id, gbOffset{gbOther, 0, 41, ""})
			live.wantCommit(t, k.request(req, 0).(*kmsg.OffsetCommitResponse), map[string]*kerr.Error{gbOther + "/0": nil})
			before := gbFetchOffset(t, k, gbLive, gbTopic, 0)

			od := gbOffsetDeleteRequest(gbLive, map[string][]int32{gbTopic: {0, 1}, gbOther: {0}})
			resp := k.request(od, 0).(*kmsg.OffsetDeleteResponse)
			wantCode(t, "OffsetDelete (group)", resp.ErrorCode, nil)
			want := map[string]*kerr.Error{gbTopic + "/0": kerr.GroupSubscribedToTopic, gbTopic + "/1": kerr.GroupSubscribedToTopic, gbOther + "/0": nil}
			for _, rt := range resp.Topics {
				for _, rp := range rt.Partitions {
					key := rt.Topic + "/" + strconv.Itoa(int(rp.Partition))
					wantCode(t, "OffsetDelete "+key, rp.ErrorCode, want[key])
					delete(want, key)
				}
			}
			if len(want) > 0 {
				t.Errorf("OffsetDelete: no answer for %v", want)
			}
			gbWantOffsets(t, k, gbLive, map[string]int64{gbTopic + "/0": before, gbOther + "/0": -1})

			resp = k.request(gbOffsetDeleteRequest("e2e-no-such-group", map[string][]int32{gbTopic: {0}}), 0).(*kmsg.OffsetDeleteResponse)
			wantCode(t, "OffsetDelete of an unknown group", resp.ErrorCode, kerr.GroupIDNotFound)
		}},
		{"static membership: a second member with the same group.instance.id fences the first", func(t *testing.T, k *kafkaConn) {
			const group = "e2e-static"
			instance := kmsg.StringPtr("e2e-instance-1")
			first := gbJoin(t, s, group, instance)
			second := gbJoinStatic(t, s, group, instance)
			if second.id == first.id {
				t.Fatalf("the second static member got the first one's member id %s", first.id)
			}
			if second.gen != first.gen {
				t.Errorf("the static member that took the place: generation %d, want %d (no rebalance when nothing changed)", second.gen, first.gen)
			}
			wantCode(t, "Heartbeat of the fenced member", gbHeartbeat(first.k, group, first.id, first.gen, instance), kerr.FencedInstanceID)
			req := first.commitRequest(first.gen, first.id, gbOffset{gbTopic, 0, 51, ""})
			first.wantCommit(t, first.k.request(req, 0).(*kmsg.OffsetCommitResponse), map[string]*kerr.Error{gbTopic + "/0": kerr.FencedInstanceID})
			wantCode(t, "SyncGroup of the fenced member", gbSync(first.k, group, first.id, first.gen, instance, nil).ErrorCode, kerr.FencedInstanceID)
			resp := first.k.request(gbJoinRequest(group, first.id, instance, gbSessionMs, "consumer", "range"), 0).(*kmsg.JoinGroupResponse)
			wantCode(t, "JoinGroup of the fenced member with its member id", resp.ErrorCode, kerr.FencedInstanceID)

			// The member that took the place has the first one's assignment.
			sync := gbSync(second.k, group, second.id, second.gen, instance, nil)
			wantCode(t, "SyncGroup of the new static member", sync.ErrorCode, nil)
			if !bytes.Equal(sync.MemberAssignment, first.assignment) {
				t.Errorf("the new static member's assignment %x, the first member had %x", sync.MemberAssignment, first.assignment)
			}
			second.assignment = sync.MemberAssignment
			second.assertLive(t, "the new static member")
			gbWantOffsets(t, k, group, map[string]int64{gbTopic + "/0": second.committed}) // not the fenced 51
		}},
		{"__consumer_offsets: no produce, no delete", func(t *testing.T, k *kafkaConn) {
			pr := producePartition(t, k.produce(-1, groupsOffsetsTopic, map[int32][]byte{0: encodeBatch(noProducer, [][]byte{[]byte("e2e")})}), groupsOffsetsTopic, 0)
			wantCode(t, "Produce to "+groupsOffsetsTopic, pr.ErrorCode, kerr.InvalidTopicException)
			req := kmsg.NewPtrDeleteTopicsRequest()
			req.TimeoutMillis = 30000
			rt := kmsg.NewDeleteTopicsRequestTopic()
			rt.Topic = kmsg.StringPtr(groupsOffsetsTopic)
			req.Topics, req.TopicNames = append(req.Topics, rt), []string{groupsOffsetsTopic}
			resp := k.request(req, 0).(*kmsg.DeleteTopicsResponse)
			wantCode(t, "DeleteTopics "+groupsOffsetsTopic, resp.Topics[0].ErrorCode, kerr.InvalidTopicException)
			md := k.metadata(groupsOffsetsTopic)
			if len(md.Topics) != 1 || md.Topics[0].ErrorCode != 0 || len(md.Topics[0].Partitions) == 0 || !md.Topics[0].IsInternal {
				t.Errorf("Metadata %s after DeleteTopics: %d topics, code %d, internal %t", groupsOffsetsTopic, len(md.Topics), md.Topics[0].ErrorCode, md.Topics[0].IsInternal)
			}
		}},
		{"kadm and franz-go: simple commit, group consumer", func(t *testing.T, _ *kafkaConn) {
			gbClients(t, s)
		}},
		{"kcat: simple-consumer commit", func(t *testing.T, _ *kafkaConn) {
			gbKcat(t, s)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, dialKafka(t, s))
			live.assertLive(t, "after: "+tc.name)
		})
	}
}

// gbMember is a group member driven request by request on its own raw
// connection.
type gbMember struct {
	k          *kafkaConn
	group      string
	id         string
	instance   *string
	gen        int32
	assignment []byte
	committed  int64 // the offset of gbTopic/0 it last committed
}

// gbJoin joins group as its only member (through MEMBER_ID_REQUIRED
// unless static), syncs as its leader with gbTopic's partitions for itself,
// and checks the group is Stable with it.
func gbJoin(t *testing.T, s *Strata, group string, instance *string) *gbMember {
	t.Helper()
	m := &gbMember{k: dialKafka(t, s), group: group, instance: instance}
	resp := m.k.request(gbJoinRequest(group, "", instance, gbSessionMs, "consumer", "range"), 0).(*kmsg.JoinGroupResponse)
	if resp.ErrorCode == kerr.MemberIDRequired.Code {
		resp = m.k.request(gbJoinRequest(group, resp.MemberID, instance, gbSessionMs, "consumer", "range"), 0).(*kmsg.JoinGroupResponse)
	}
	if resp.ErrorCode != 0 {
		t.Fatalf("JoinGroup %s: %s", group, codeName(resp.ErrorCode))
	}
	m.id, m.gen = resp.MemberID, resp.Generation
	if resp.LeaderID != m.id || len(resp.Members) != 1 {
		t.Fatalf("JoinGroup %s: leader %s with %d members, want %s alone", group, resp.LeaderID, len(resp.Members), m.id)
	}
	a := kmsg.NewConsumerMemberAssignment()
	at := kmsg.NewConsumerMemberAssignmentTopic()
	at.Topic, at.Partitions = gbTopic, []int32{0, 1}
	a.Topics = append(a.Topics, at)
	sa := kmsg.NewSyncGroupRequestGroupAssignment()
	sa.MemberID, sa.MemberAssignment = m.id, a.AppendTo(nil)
	sync := gbSync(m.k, group, m.id, m.gen, instance, []kmsg.SyncGroupRequestGroupAssignment{sa})
	if sync.ErrorCode != 0 || !bytes.Equal(sync.MemberAssignment, sa.MemberAssignment) {
		t.Fatalf("SyncGroup %s as leader: %s, assignment %x, want %x", group, codeName(sync.ErrorCode), sync.MemberAssignment, sa.MemberAssignment)
	}
	m.assignment = sync.MemberAssignment
	return m
}

// gbJoinStatic joins group with a static instance id that a member already
// has: it takes that member's place at once.
func gbJoinStatic(t *testing.T, s *Strata, group string, instance *string) *gbMember {
	t.Helper()
	m := &gbMember{k: dialKafka(t, s), group: group, instance: instance}
	resp := m.k.request(gbJoinRequest(group, "", instance, gbSessionMs, "consumer", "range"), 0).(*kmsg.JoinGroupResponse)
	if resp.ErrorCode != 0 {
		t.Fatalf("JoinGroup %s with instance id %s: %s", group, *instance, codeName(resp.ErrorCode))
	}
	m.id, m.gen = resp.MemberID, resp.Generation
	return m
}

// assertLive checks that m is a member in good standing: its gbHeartbeat
// and a commit succeed, the commit reads back, and the group is Stable with
// m as its only member.
func (m *gbMember) assertLive(t *testing.T, when string) {
	t.Helper()
	if code := gbHeartbeat(m.k, m.group, m.id, m.gen, m.instance); code != 0 {
		t.Errorf("%s: Heartbeat of the live member of %s: %s", when, m.group, codeName(code))
	}
	m.committed++
	req := m.commitRequest(m.gen, m.id, gbOffset{gbTopic, 0, m.committed, "live"})
	resp := m.k.request(req, 0).(*kmsg.OffsetCommitResponse)
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Errorf("%s: OffsetCommit of the live member of %s: %s", when, m.group, codeName(code))
	}
	if got := gbFetchOffset(t, m.k, m.group, gbTopic, 0); got != m.committed {
		t.Errorf("%s: %s committed %d, OffsetFetch returns %d", when, m.group, m.committed, got)
	}
	dg := gbDescribe(t, m.k, m.group)
	if dg.State != "Stable" || len(dg.Members) != 1 || dg.Members[0].MemberID != m.id {
		var ids []string
		for _, dm := range dg.Members {
			ids = append(ids, dm.MemberID)
		}
		t.Errorf("%s: group %s is %s with members %v, want Stable with %s", when, m.group, dg.State, ids, m.id)
	}
}

// gbOffset is one partition's offset (and metadata) to commit.
type gbOffset struct {
	topic     string
	partition int32
	offset    int64
	metadata  string
}

func (m *gbMember) commitRequest(gen int32, memberID string, offsets ...gbOffset) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation, req.MemberID, req.InstanceID = m.group, gen, memberID, m.instance
	for _, o := range offsets {
		i := slices.IndexFunc(req.Topics, func(rt kmsg.OffsetCommitRequestTopic) bool { return rt.Topic == o.topic })
		if i < 0 {
			rt := kmsg.NewOffsetCommitRequestTopic()
			rt.Topic = o.topic
			req.Topics = append(req.Topics, rt)
			i = len(req.Topics) - 1
		}
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.Metadata = o.partition, o.offset, kmsg.StringPtr(o.metadata)
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	return req
}

// wantCommit checks an OffsetCommit answer, by "topic/partition".
func (m *gbMember) wantCommit(t *testing.T, resp *kmsg.OffsetCommitResponse, want map[string]*kerr.Error) {
	t.Helper()
	seen := map[string]bool{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			key := rt.Topic + "/" + strconv.Itoa(int(rp.Partition))
			w, ok := want[key]
			if !ok {
				t.Errorf("OffsetCommit answers for %s, which was not in the request", key)
				continue
			}
			seen[key] = true
			wantCode(t, "OffsetCommit "+key, rp.ErrorCode, w)
		}
	}
	for key := range want {
		if !seen[key] {
			t.Errorf("OffsetCommit: no answer for %s", key)
		}
	}
}

func gbJoinRequest(group, memberID string, instance *string, sessionMs int32, protocolType string, protocols ...string) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Group, req.MemberID, req.InstanceID = group, memberID, instance
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis, req.ProtocolType = sessionMs, 10000, protocolType
	for _, name := range protocols {
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = name, groupsSubscription(gbTopic)
		req.Protocols = append(req.Protocols, p)
	}
	return req
}

func gbHeartbeat(k *kafkaConn, group, memberID string, gen int32, instance *string) int16 {
	k.t.Helper()
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.MemberID, req.Generation, req.InstanceID = group, memberID, gen, instance
	return k.request(req, 0).(*kmsg.HeartbeatResponse).ErrorCode
}

func gbSync(k *kafkaConn, group, memberID string, gen int32, instance *string, assignments []kmsg.SyncGroupRequestGroupAssignment) *kmsg.SyncGroupResponse {
	k.t.Helper()
	req := kmsg.NewPtrSyncGroupRequest()
	req.Group, req.MemberID, req.Generation, req.InstanceID = group, memberID, gen, instance
	req.ProtocolType, req.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
	req.GroupAssignment = assignments
	return k.request(req, 0).(*kmsg.SyncGroupResponse)
}

func gbLeave(t *testing.T, k *kafkaConn, group, memberID string) {
	t.Helper()
	req := kmsg.NewPtrLeaveGroupRequest()
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.MemberID = memberID
	req.Group, req.MemberID, req.Members = group, memberID, append(req.Members, lm)
	resp := k.request(req, 0).(*kmsg.LeaveGroupResponse)
	code := resp.ErrorCode
	if code == 0 && len(resp.Members) > 0 {
		code = resp.Members[0].ErrorCode
	}
	wantCode(t, "LeaveGroup "+group, code, nil)
}

func gbDescribe(t *testing.T, k *kafkaConn, group string) kmsg.DescribeGroupsResponseGroup {
	t.Helper()
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{group}
	resp := k.request(req, 0).(*kmsg.DescribeGroupsResponse)
	if len(resp.Groups) != 1 || resp.Groups[0].ErrorCode != 0 {
		t.Fatalf("DescribeGroups %s: %+v", group, resp.Groups)
	}
	return resp.Groups[0]
}

func gbOffsetDeleteRequest(group string, parts map[string][]int32) *kmsg.OffsetDeleteRequest {
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = group
	for topic, ps := range parts {
		rt := kmsg.NewOffsetDeleteRequestTopic()
		rt.Topic = topic
		for _, p := range ps {
			rp := kmsg.NewOffsetDeleteRequestTopicPartition()
			rp.Partition = p
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	return req
}

// gbFetchCommitted is the OffsetFetch answer for one partition of a group.
func gbFetchCommitted(t *testing.T, k *kafkaConn, group, topic string, partition int32) kmsg.OffsetFetchResponseGroupTopicPartition {
	t.Helper()
	req := kmsg.NewPtrOffsetFetchRequest()
	rg := kmsg.NewOffsetFetchRequestGroup()
	rt := kmsg.NewOffsetFetchRequestGroupTopic()
	rt.Topic, rt.Partitions = topic, []int32{partition}
	rg.Group, rg.Topics = group, append(rg.Topics, rt)
	req.Groups = append(req.Groups, rg)
	resp := k.request(req, 0).(*kmsg.OffsetFetchResponse)
	if resp.Version < 8 {
		t.Fatalf("OffsetFetch v%d: the test needs v8+ (groups in the request)", resp.Version)
	}
	if len(resp.Groups) != 1 || resp.Groups[0].ErrorCode != 0 {
		t.Fatalf("OffsetFetch %s: %+v", group, resp.Groups)
	}
	for _, gt := range resp.Groups[0].Topics {
		for _, gp := range gt.Partitions {
			if gt.Topic == topic && gp.Partition == partition {
				if gp.ErrorCode != 0 {
					t.Errorf("OffsetFetch %s %s/%d: %s", group, topic, partition, codeName(gp.ErrorCode))
				}
				return gp
			}
		}
	}
	t.Fatalf("OffsetFetch %s: no answer for %s/%d", group, topic, partition)
	return kmsg.OffsetFetchResponseGroupTopicPartition{}
}

func gbFetchOffset(t *testing.T, k *kafkaConn, group, topic string, partition int32) int64 {
	t.Helper()
	return gbFetchCommitted(t, k, group, topic, partition).Offset
}

func gbFetchMetadata(t *testing.T, k *kafkaConn, group, topic string, partition int32) string {
	t.Helper()
	if md := gbFetchCommitted(t, k, group, topic, partition).Metadata; md != nil {
		return *md
	}
	return ""
}

// gbWantOffsets checks a group's committed offsets by "topic/partition" (-1:
// none committed).
func gbWantOffsets(t *testing.T, k *kafkaConn, group string, want map[string]int64) {
	t.Helper()
	for key, w := range want {
		topic, ps, _ := strings.Cut(key, "/")
		p, _ := strconv.Atoi(ps)
		if got := gbFetchOffset(t, k, group, topic, int32(p)); got != w {
			t.Errorf("OffsetFetch %s %s: %d, want %d", group, key, got, w)
		}
	}
}

// gbClients commits as an admin tool does (kadm: no generation, no
// member) and reads it back, then consumes and commits as a franz-go group
// member.
func gbClients(t *testing.T, s *Strata) {
	t.Helper()
	ctx := testContext(t, 30*time.Second)
	cl := newClient(t, s)
	defer cl.Close()
	adm := kadm.NewClient(cl)
	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: gbOther, Partition: 0, At: 61, LeaderEpoch: -1, Metadata: "kadm"})
	if err := adm.CommitAllOffsets(ctx, "e2e-kadm", offsets); err != nil {
		t.Fatalf("kadm CommitOffsets: %v", err)
	}
	fetched, err := adm.FetchOffsets(ctx, "e2e-kadm")
	if err == nil {
		err = fetched.Error()
	}
	if o, ok := fetched.Lookup(gbOther, 0); err != nil || !ok || o.At != 61 || o.Metadata != "kadm" {
		t.Errorf("kadm FetchOffsets: %+v, %v; want 61 with metadata \"kadm\"", o, err)
	}

	const n = 20
	prod := newClient(t, s, kgo.DefaultProduceTopic(gbOther))
	defer prod.Close()
	for i := range n {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("group-" + strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	ends, err := adm.ListEndOffsets(ctx, gbOther)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(gbOther, 0)
	cons := newClient(t, s, kgo.ConsumerGroup("e2e-franz"), kgo.ConsumeTopics(gbOther), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(250*time.Millisecond))
	defer cons.Close()
	var read int64
	for read < end.Offset {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("franz-go group consumer: %d of %d records read: %v", read, end.Offset, ctx.Err())
		}
		read += int64(fs.NumRecords())
		if err := cons.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("franz-go group consumer: commit: %v", err)
		}
	}
	fetched, err = adm.FetchOffsets(ctx, "e2e-franz")
	if err == nil {
		err = fetched.Error()
	}
	if o, ok := fetched.Lookup(gbOther, 0); err != nil || !ok || o.At != end.Offset {
		t.Errorf("franz-go group consumer read %d records; committed %+v, %v; want %d", read, o, err, end.Offset)
	}
}

// gbKcat consumes with librdkafka's simple consumer (kcat without -G,
// starting from the stored offset), which commits where it stopped with
// OffsetCommit in generation -1 without a member id; kadm reads the commit
// back, and the next kcat resumes from it.
func gbKcat(t *testing.T, s *Strata) {
	t.Helper()
	kcat := testenv.Require(t, "kcat", "make debs")
	const group = "e2e-kcat"
	ctx := testContext(t, 30*time.Second)
	cl := newClient(t, s, kgo.DefaultProduceTopic(gbOther))
	defer cl.Close()
	adm := kadm.NewClient(cl)
	produce := func(n int) int64 {
		t.Helper()
		for i := range n {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("kcat-" + strconv.Itoa(i))}).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
		}
		ends, err := adm.ListEndOffsets(ctx, gbOther)
		if err == nil {
			err = ends.Error()
		}
		if err != nil {
			t.Fatal(err)
		}
		end, _ := ends.Lookup(gbOther, 0)
		return end.Offset
	}
	consume := func(from, to int64) {
		t.Helper()
		out := ctRun(t, ctx, nil, kcat, "-b", s.Addr, "-C", "-t", gbOther, "-p", "0", "-o", "stored", "-e",
			"-X", "group.id="+group, "-X", "auto.offset.reset=earliest", "-f", `%o\n`)
		var want []string
		for o := from; o < to; o++ {
			want = append(want, strconv.FormatInt(o, 10))
		}
		if got := strings.Fields(string(out)); !slices.Equal(got, want) {
			t.Errorf("kcat -o stored read offsets %v, want %d to %d", got, from, to-1)
		}
		fetched, err := adm.FetchOffsets(ctx, group)
		if err == nil {
			err = fetched.Error()
		}
		if o, ok := fetched.Lookup(gbOther, 0); err != nil || !ok || o.At != to {
			t.Errorf("after kcat read up to %d: committed %+v, %v; want %d", to, o, err, to)
		}
	}
	first := produce(3)
	consume(0, first)
	consume(first, produce(3)) // resumes where the commit says
}
