package coordinator

// Online migration between a classic group and a KIP-848 consumer group,
// as Kafka 4 defines it with group.consumer.migration.policy=bidirectional
// (its default), after Kafka's GroupMetadataManager:
//
//   - Upgrade. A classic group with members whose protocol type is
//     "consumer" (their metadata a ConsumerProtocolSubscription) becomes a
//     consumer group when a member joins it with ConsumerGroupHeartbeat
//     (ConsumerGroup.fromClassicGroup): the group epoch and every member's
//     epoch are the classic generation, each member owns and targets what
//     its last SyncGroup gave it, and the joining member's arrival moves
//     the epoch on, so the server-side assignor gives it its share.
//   - Classic members of a consumer group go on with JoinGroup, SyncGroup,
//     Heartbeat and LeaveGroup. A JoinGroup is answered at once: it
//     reconciles the member (the partitions it owns are those its
//     subscription metadata reports) and its generation is its member
//     epoch; the SyncGroup that follows gets the partitions the member is
//     to own now, serialized as a ConsumerProtocolAssignment in the version
//     of its metadata. A Heartbeat answers REBALANCE_IN_PROGRESS while the
//     member is behind the group epoch, must revoke partitions, or may take
//     partitions that were released: the member rejoins, and a partition
//     moves to another member only after its owner rejoined without it. A
//     classic member that does not rejoin, or sync, within its rebalance
//     timeout is removed; its session timeout is its own.
//   - Downgrade. When the last member of the consumer protocol leaves (or is
//     removed) and members of the classic protocol remain, the group becomes
//     a classic group again (ClassicGroup.fromConsumerGroup): generation the
//     group epoch, every member's assignment its target, and a rebalance
//     starts so that the members rejoin as a classic group.
//
// In etcd, a consumer group's record (consumer_writer.go) holds its classic
// members too. Its record is authoritative: while it exists, a classic
// record of the same group is ignored at load, so an upgrade is durable once
// the consumer record landed, and a downgrade once its deletion landed (the
// classic record written with it gives the members their generation back;
// without it they rejoin).

import (
	"errors"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/metadata"
)

// maxConsumerAssignmentVersion is the newest ConsumerProtocolAssignment
// version: a member that speaks a newer subscription gets this one.
const maxConsumerAssignmentVersion = 3

// upgrade turns a classic group with members into a consumer group
// (Kafka's validateOnlineUpgrade and convertToConsumerGroup); false, and
// nothing changed, when it cannot be: the members' protocol type is not
// "consumer", or their metadata or assignments do not parse.
func (g *Group) upgrade() bool {
	if g.protocolType != "consumer" || len(g.members) == 0 {
		return false
	}
	cg := newConsumerGroup(g)
	cg.epoch, cg.assignmentEpoch = g.generation, g.generation
	for _, cm := range g.members {
		m, ok := g.convertMember(cm)
		if !ok {
			g.s.c.log.Info("cannot upgrade the classic group: a member's consumer protocol metadata is malformed", "group", g.id, "member", cm.id)
			return false
		}
		cg.addMember(m)
	}
	cg.chooseAssignor()
	// Members waiting in JoinGroup or SyncGroup are told to rejoin: they
	// rejoin the consumer group.
	g.dropClassicMembers()
	g.consumer = cg
	for _, m := range cg.members {
		m.trackSince()
		cg.heartbeat(m)
	}
	g.persist() // the classic record without members
	g.s.c.log.Info("classic group upgraded to a consumer group", "group", g.id, "members", len(cg.members), "epoch", cg.epoch)
	return true
}

// convertMember is a classic member as a member of a consumer group, at the
// group's generation, owning what it was assigned.
func (g *Group) convertMember(cm *member) (*consumerMember, bool) {
	meta := cm.protocols[0].Metadata
	for _, p := range cm.protocols {
		if p.Name == g.protocol {
			meta = p.Metadata
		}
	}
	var sub kmsg.ConsumerMemberMetadata
	if err := sub.ReadFrom(meta); err != nil {
		return nil, false
	}
	assigned := metadata.ConsumerAssignment{}
	if len(cm.assignment) > 0 {
		var a kmsg.ConsumerMemberAssignment
		if err := a.ReadFrom(cm.assignment); err != nil {
			return nil, false
		}
		for _, t := range a.Topics {
			if tp := g.s.c.topics.Topic(t.Topic); tp != nil {
				assigned[tp.Meta.ID] = append(assigned[tp.Meta.ID], t.Partitions...)
			}
		}
	}
	m := &consumerMember{}
	m.ID, m.InstanceID, m.RackID = cm.id, cm.instanceID, sub.Rack
	m.ClientID, m.ClientHost = cm.clientID, cm.clientHost
	m.RebalanceTimeoutMs = cm.rebalanceTimeout
	m.SubscribedTopics = sortedTopics(sub.Topics)
	m.Epoch, m.PreviousEpoch, m.State = g.generation, g.generation, memberStable
	m.Assigned, m.Target = normalize(assigned), normalize(assigned)
	m.Classic = &metadata.ClassicMember{SessionTimeoutMs: cm.sessionTimeout, Protocols: slices.Clone(cm.protocols)}
	return m, true
}

func sortedTopics(topics []string) []string {
	out := slices.Clone(topics)
	slices.Sort(out)
	return slices.Compact(out)
}

// dropClassicMembers removes every classic member and stops the classic
// protocol's timers: the group is a consumer group now (upgraded, or loaded
// with a consumer record, which wins over the classic one).
func (g *Group) dropClassicMembers() {
	for _, m := range g.members {
		stopTimer(m.timer)
		g.replyError(m, kerr.RebalanceInProgress)
	}
	for _, m := range g.pending {
		stopTimer(m.timer)
	}
	stopTimer(g.rebalanceTimer)
	g.rebalanceTimer = nil
	g.clearSync()
	g.members, g.pending, g.static, g.protocols = map[string]*member{}, map[string]*member{}, map[string]string{}, map[string]int{}
	g.joining = 0
	g.state, g.leader, g.protocol, g.protocolType = StateEmpty, "", "", "consumer"
}

// downgradeOnLeave is Kafka's validateOnlineDowngradeWithFencedMember and
// convertToClassicGroup: when leaving is the last member of the consumer
// protocol and others remain, the group becomes a classic group of the
// others and rebalances; the write deletes the consumer record. nil when
// the group stays a consumer group.
func (cg *consumerGroup) downgradeOnLeave(leaving *consumerMember) *ConsumerWrite {
	if len(cg.members) <= 1 {
		return nil
	}
	for id, m := range cg.members {
		if id != leaving.ID && m.Classic == nil {
			return nil
		}
	}
	g := cg.g
	cg.removeMember(leaving)
	cg.stop()
	g.consumer = nil
	w := g.s.putConsumerGroup(g.id, nil)
	g.dropClassicMembers()
	g.generation = cg.epoch
	for _, id := range slices.Sorted(maps.Keys(cg.members)) {
		m := cg.members[id]
		cm := &member{
			id: m.ID, instanceID: m.InstanceID, clientID: m.ClientID, clientHost: m.ClientHost,
			sessionTimeout: m.Classic.SessionTimeoutMs, rebalanceTimeout: m.RebalanceTimeoutMs,
			protocols: m.Classic.Protocols,
		}
		g.addMember(cm)
	}
	g.protocol = g.selectProtocol()
	for _, id := range slices.Sorted(maps.Keys(cg.members)) {
		cm := g.members[id]
		cm.assignment = cg.classicAssignment(cg.members[id].Target, cm.protocols, g.protocol)
		g.heartbeat(cm)
	}
	g.state = StateStable
	g.persist()
	g.s.c.log.Info("consumer group downgraded to a classic group", "group", g.id, "members", len(g.members), "generation", g.generation, "left", leaving.ID)
	g.rebalance()
	return w
}

// classicAssignment serializes a as the ConsumerProtocolAssignment of a
// member whose protocols are protocols, in the version of the metadata of
// protocol (the first one when it has none of that name), as Kafka's
// prepareAssignment.
func (cg *consumerGroup) classicAssignment(a metadata.ConsumerAssignment, protocols []metadata.GroupProtocol, protocol string) []byte {
	var version int16
	for i, p := range protocols {
		if i == 0 || p.Name == protocol {
			if len(p.Metadata) >= 2 {
				version = int16(p.Metadata[0])<<8 | int16(p.Metadata[1])
			}
		}
	}
	version = min(max(version, 0), maxConsumerAssignmentVersion)
	out := kmsg.ConsumerMemberAssignment{Version: version, Topics: []kmsg.ConsumerMemberAssignmentTopic{}}
	for _, id := range sortedTopicIDs(a) {
		name := cg.topicName(id)
		if name == "" {
			continue
		}
		out.Topics = append(out.Topics, kmsg.ConsumerMemberAssignmentTopic{Topic: name, Partitions: slices.Clone(a[id])})
	}
	return out.AppendTo(nil)
}

// topicName is the name of a subscribed topic of the group by id, "" when
// none of the members' subscriptions has it any more.
func (cg *consumerGroup) topicName(id metadata.TopicID) string {
	c := cg.g.s.c
	for _, m := range cg.members {
		for _, name := range m.SubscribedTopics {
			if t := c.topics.Topic(name); t != nil && t.Meta.ID == id {
				return name
			}
		}
	}
	if at, ok := c.topics.(AllTopics); ok {
		for _, t := range at.Topics() {
			if t.Meta.ID == id {
				return t.Meta.Name
			}
		}
	}
	return ""
}

// sessionTimeout is m's session timeout: its own for a classic member,
// else the group's consumer.session.timeout.ms (consumer_configs.go).
func (cg *consumerGroup) sessionTimeout(m *consumerMember) time.Duration {
	if m.Classic != nil {
		return time.Duration(m.Classic.SessionTimeoutMs) * time.Millisecond
	}
	return cg.cfg.SessionTimeout
}

// stopClassicTimers stops a classic member's join and sync timeouts.
func (m *consumerMember) stopClassicTimers() {
	stopTimer(m.joinTimer)
	stopTimer(m.syncTimer)
	m.joinTimer, m.syncTimer = nil, nil
}

// classicMember finds the classic member a JoinGroup, SyncGroup,
// Heartbeat or LeaveGroup names (Kafka's validateConsumerGroupMember and
// throwIfMemberDoesNotUseClassicProtocol).
func (cg *consumerGroup) classicMember(memberID string, instanceID *string) (*consumerMember, *kerr.Error) {
	var m *consumerMember
	if instanceID == nil {
		m = cg.members[memberID]
	} else {
		m = cg.members[cg.static[*instanceID]]
		if m != nil && memberID != "" && m.ID != memberID {
			return nil, kerr.FencedInstanceID
		}
	}
	if m == nil || m.Classic == nil {
		return nil, kerr.UnknownMemberID
	}
	return m, nil
}

// supportsClassic is Kafka's ModernGroup.supportsClassicProtocols: the
// protocol type is "consumer" and some protocol is supported by every
// classic member.
func (cg *consumerGroup) supportsClassic(protocolType string, protocols []kmsg.JoinGroupRequestProtocol) bool {
	if protocolType != "consumer" || len(protocols) == 0 {
		return false
	}
	for _, p := range protocols {
		all := true
		for _, m := range cg.members {
			if m.Classic != nil && !slices.ContainsFunc(m.Classic.Protocols, func(q metadata.GroupProtocol) bool { return q.Name == p.Name }) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

// classicJoin handles a JoinGroup to a consumer group with members
// (Kafka's classicGroupJoinToConsumerGroup). The response goes to the
// channel once the group's record holding the change is in etcd.
func (cg *consumerGroup) classicJoin(cl Client, req *kmsg.JoinGroupRequest) (kmsg.Response, chan kmsg.Response) {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.MemberID, resp.Generation = req.MemberID, -1
	fail := func(code *kerr.Error) (kmsg.Response, chan kmsg.Response) {
		resp.ErrorCode = code.Code
		return resp, nil
	}
	if !cg.supportsClassic(req.ProtocolType, req.Protocols) {
		return fail(kerr.InconsistentGroupProtocol)
	}
	var sub kmsg.ConsumerMemberMetadata
	if err := sub.ReadFrom(req.Protocols[0].Metadata); err != nil {
		return fail(kerr.InconsistentGroupProtocol)
	}
	if req.Version == 0 {
		req.RebalanceTimeoutMillis = req.SessionTimeoutMillis
	}
	unknown := req.MemberID == ""
	id := req.MemberID
	if unknown {
		id = newMemberID(cl.ID, req.InstanceID)
		if req.Version >= 4 && req.InstanceID == nil {
			resp.MemberID = id
			return fail(kerr.MemberIDRequired)
		}
	}
	bump, fresh := false, false
	var m *consumerMember
	if req.InstanceID != nil {
		old := cg.members[cg.static[*req.InstanceID]]
		switch {
		case old != nil && unknown:
			// A static member restarting takes the old one's place and
			// partitions, at epoch 0, until it reconciles.
			cg.removeMember(old)
			m = &consumerMember{ConsumerGroupMember: old.ConsumerGroupMember}
			m.ID, m.Epoch, m.PreviousEpoch, m.State, m.Revoking = id, 0, 0, memberStable, nil
			cg.addMember(m)
			fresh = true
		case old != nil:
			if old.ID != id {
				return fail(kerr.FencedInstanceID)
			}
			m = old
		case !unknown:
			return fail(kerr.UnknownMemberID)
		}
	} else {
		m = cg.members[id]
	}
	if m == nil {
		m = &consumerMember{}
		m.ID, m.InstanceID = id, req.InstanceID
		cg.addMember(m)
		bump = true
		cg.g.s.c.log.Info("member joins the consumer group with the classic protocol", "group", cg.g.id, "member", id)
	} else if !fresh && m.Classic == nil {
		return fail(kerr.UnknownMemberID) // a member of the consumer protocol
	}
	topics := sortedTopics(sub.Topics)
	if !slices.Equal(topics, m.SubscribedTopics) || m.SubscribedRegex != "" {
		m.SubscribedTopics, m.SubscribedRegex, m.re = topics, "", nil
		bump = true
	}
	if m.Assignor != "" {
		m.Assignor = ""
		bump = true
	}
	if bump {
		cg.chooseAssignor()
	}
	if sub.Rack != nil {
		m.RackID = sub.Rack
	}
	m.RebalanceTimeoutMs = req.RebalanceTimeoutMillis
	m.ClientID, m.ClientHost = cl.ID, cl.Host
	m.Classic = &metadata.ClassicMember{SessionTimeoutMs: req.SessionTimeoutMillis, Protocols: joinProtocols(req)}
	cg.refreshTopics(bump)
	cg.reconcile(m, cg.ownedTopics(sub.OwnedPartitions))
	m.trackSince()
	stopTimer(m.rebalance)
	m.rebalance = nil

	resp.MemberID, resp.Generation = m.ID, m.Epoch
	resp.ProtocolType = kmsg.StringPtr("consumer")
	resp.Protocol = kmsg.StringPtr(m.Classic.Protocols[0].Name)
	cg.heartbeat(m)
	stopTimer(m.joinTimer)
	m.joinTimer = nil
	stopTimer(m.syncTimer)
	m.syncTimer = cg.g.after(time.Duration(m.RebalanceTimeoutMs)*time.Millisecond, func() {
		if cg.g.consumer != cg || cg.members[m.ID] != m {
			return
		}
		cg.fence(m, "sync", "the classic member did not sync within its rebalance timeout")
	})
	w := cg.persist()
	ch := make(chan kmsg.Response, 1)
	go func() {
		if err := w.Wait(cg.g.s.c.ctx); err != nil {
			r := req.ResponseKind().(*kmsg.JoinGroupResponse)
			r.MemberID, r.Generation, r.ErrorCode = m.ID, -1, errCode(err)
			ch <- r
			return
		}
		ch <- resp
	}()
	return nil, ch
}

// errCode is the Kafka error code of err (UNKNOWN_SERVER_ERROR for one
// that is not a Kafka error).
func errCode(err error) int16 {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return kerr.UnknownServerError.Code
}

// ownedTopics is the partitions a classic member's subscription reports it
// owns, as a heartbeat's (never nil: a JoinGroup always reports them; an
// eager member has revoked everything when it rejoins).
func (cg *consumerGroup) ownedTopics(owned []kmsg.ConsumerMemberMetadataOwnedPartition) []kmsg.ConsumerGroupHeartbeatRequestTopic {
	out := []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	for _, o := range owned {
		t := cg.g.s.c.topics.Topic(o.Topic)
		if t == nil {
			continue
		}
		out = append(out, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: t.Meta.ID, Partitions: o.Partitions})
	}
	return out
}

// rebalancing reports whether a classic member must rejoin (Kafka's
// classicGroupHeartbeatToConsumerGroup): it is behind the group epoch,
// must revoke partitions, or the partitions it waits for were released.
func (cg *consumerGroup) rebalancing(m *consumerMember) bool {
	return m.Epoch < cg.epoch || m.State == memberUnrevoked ||
		(m.State == memberUnreleased && !cg.waitingOnUnreleased(m))
}

// waitingOnUnreleased reports whether a partition of m's target that it
// does not own yet is still owned by another member.
func (cg *consumerGroup) waitingOnUnreleased(m *consumerMember) bool {
	owners := cg.owners()
	for t, ps := range m.Target {
		for _, p := range ps {
			if slices.Contains(m.Assigned[t], p) {
				continue
			}
			if o := owners[topicPartition{t, p}]; o != "" && o != m.ID {
				return true
			}
		}
	}
	return false
}

// startJoinTimer gives a classic member told to rejoin its rebalance
// timeout to do so (Kafka's scheduleConsumerGroupJoinTimeoutIfAbsent).
func (cg *consumerGroup) startJoinTimer(m *consumerMember) {
	if m.joinTimer != nil {
		return
	}
	m.joinTimer = cg.g.after(time.Duration(m.RebalanceTimeoutMs)*time.Millisecond, func() {
		if cg.g.consumer != cg || cg.members[m.ID] != m {
			return
		}
		cg.fence(m, "join", "the classic member did not rejoin within its rebalance timeout")
	})
}

// classicSync handles a SyncGroup of a classic member of a consumer group
// (Kafka's classicGroupSyncToConsumerGroup): the partitions it is to own
// now.
func (cg *consumerGroup) classicSync(req *kmsg.SyncGroupRequest) (kmsg.Response, chan kmsg.Response) {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	m, code := cg.classicMember(req.MemberID, req.InstanceID)
	switch {
	case code != nil:
	case req.Generation != m.Epoch:
		code = kerr.IllegalGeneration
	case req.ProtocolType != nil && *req.ProtocolType != "consumer",
		req.Protocol != nil && *req.Protocol != m.Classic.Protocols[0].Name:
		code = kerr.InconsistentGroupProtocol
	case cg.epoch > m.Epoch && m.State != memberUnrevoked:
		cg.startJoinTimer(m)
		code = kerr.RebalanceInProgress
	}
	if code != nil {
		resp.ErrorCode = code.Code
		return resp, nil
	}
	stopTimer(m.syncTimer)
	m.syncTimer = nil
	cg.heartbeat(m)
	resp.ProtocolType = kmsg.StringPtr("consumer")
	resp.Protocol = kmsg.StringPtr(m.Classic.Protocols[0].Name)
	resp.MemberAssignment = cg.classicAssignment(m.Assigned, m.Classic.Protocols, m.Classic.Protocols[0].Name)
	return resp, nil
}

// classicHeartbeat handles a Heartbeat of a classic member of a consumer
// group.
func (cg *consumerGroup) classicHeartbeat(req *kmsg.HeartbeatRequest) *kerr.Error {
	m, code := cg.classicMember(req.MemberID, req.InstanceID)
	switch {
	case code != nil:
		return code
	case req.Generation != m.Epoch:
		return kerr.IllegalGeneration
	}
	cg.heartbeat(m)
	if cg.rebalancing(m) {
		cg.startJoinTimer(m)
		return kerr.RebalanceInProgress
	}
	return nil
}

// classicLeave handles a LeaveGroup of a classic member of a consumer
// group (Kafka's classicGroupLeaveToConsumerGroup): it is removed and the
// group epoch moves on. The record is written in the background.
func (cg *consumerGroup) classicLeave(memberID string, instanceID *string) *kerr.Error {
	m, code := cg.classicMember(memberID, instanceID)
	if code != nil {
		return code
	}
	cg.g.s.c.log.Info("classic member left the consumer group", "group", cg.g.id, "member", m.ID)
	cg.removeMember(m)
	cg.epoch++
	cg.g.s.c.consumerMetrics.epochs.Inc()
	cg.computeTarget()
	cg.persist()
	return nil
}
