package coordinator

// The classic consumer-group protocol, one group at a time, as Kafka's
// GroupCoordinator runs it:
//
//	Empty ──join──▶ PreparingRebalance ──every member joined, or the
//	  ▲                 ▲        │        rebalance timeout──▶ CompletingRebalance
//	  │ last member     │ join,  │                                   │
//	  │ left/expired    │ leave, └──────── no member left ──▶ Empty  │ leader's SyncGroup
//	  │                 │ expiry                                     ▼
//	  └─────────────────┴──────────────────────────────────────── Stable
//
// Every group's state is guarded by its shard's lock; JoinGroup and
// SyncGroup requests that must wait for the rest of the group park a reply
// channel on their member. Timers (session, rebalance, pending sync) take
// the shard lock and check that what they were set for still holds.
//
// Each completed generation (Stable) and each emptied group is written to
// etcd, so that a new coordinator resumes the group where it was.

import (
	"bytes"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/metadata"
)

// Kafka's group.min.session.timeout.ms and group.max.session.timeout.ms.
const (
	MinSessionTimeoutMs = 6000
	MaxSessionTimeoutMs = 1800000
	// MaxOffsetMetadata is Kafka's offset.metadata.max.bytes.
	MaxOffsetMetadata = 4096
)

// State is a group's state in the classic protocol.
type State int8

// The states of a group (the diagram above).
const (
	StateEmpty State = iota
	StatePreparingRebalance
	StateCompletingRebalance
	StateStable
	StateDead
)

var groupStateNames = [...]string{"Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead"}

// String is Kafka's name of the state, as DescribeGroups and ListGroups
// report it.
func (s State) String() string { return groupStateNames[s] }

// Group is one consumer group of the classic protocol. Its state is
// guarded by its shard's lock: it is read and changed only inside
// Coordinator.WithGroup, or by the shard's timers and writer.
type Group struct {
	s  *Shard
	id string

	state        State
	generation   int32
	protocolType string
	protocol     string
	leader       string

	members map[string]*member
	pending map[string]*member // got MEMBER_ID_REQUIRED, not joined yet
	static  map[string]string  // group.instance.id → member id
	// protocols counts, for each protocol name, the members supporting it.
	protocols map[string]int
	joining   int // members waiting in JoinGroup

	rebalanceTimer *time.Timer
	syncTimer      *time.Timer
	awaitingSync   map[string]bool

	offsets map[metadata.GroupPartition]metadata.CommittedOffset
	// txnOffsets are the pending transactional offsets (TxnOffsetCommit),
	// by producer id, as etcd holds them: invisible until the producer's
	// transaction commits (ApplyTxnOffsets).
	txnOffsets map[int64]map[metadata.GroupPartition]metadata.PendingOffset

	// consumer is set while the group is a KIP-848 consumer group
	// (consumer_group.go); its classic state stays Empty.
	consumer *consumerGroup
}

// Client is what the coordinator keeps of the connection a member joined
// through: the client id it sent and its address, as DescribeGroups reports
// them.
type Client struct {
	ID   string
	Host string
}

type member struct {
	id               string
	instanceID       *string
	clientID         string
	clientHost       string
	sessionTimeout   int32
	rebalanceTimeout int32
	protocols        []metadata.GroupProtocol
	assignment       []byte

	// reply, when non-nil, is a JoinGroup or SyncGroup waiting for the
	// group; join is the member's latest JoinGroup.
	reply     chan kmsg.Response
	replySync *kmsg.SyncGroupRequest
	join      *kmsg.JoinGroupRequest
	timer     *time.Timer
}

func newGroup(s *Shard, id string) *Group {
	return &Group{
		s: s, id: id,
		members:   map[string]*member{},
		pending:   map[string]*member{},
		static:    map[string]string{},
		protocols: map[string]int{},
		offsets:   map[metadata.GroupPartition]metadata.CommittedOffset{},

		txnOffsets: map[int64]map[metadata.GroupPartition]metadata.PendingOffset{},
	}
}

// restoreGroup rebuilds a group from etcd when this broker starts to
// coordinate it: a group that was Stable is Stable again, and every member
// has a full session timeout to send its next heartbeat.
func restoreGroup(s *Shard, id string, lg *metadata.LoadedGroup) *Group {
	g := newGroup(s, id)
	g.offsets = lg.Offsets
	if lg.TxnOffsets != nil {
		g.txnOffsets = lg.TxnOffsets
	}
	if r := lg.Record; r != nil {
		g.protocolType, g.protocol, g.generation, g.leader = r.ProtocolType, r.Protocol, r.Generation, r.Leader
		for _, rm := range r.Members {
			m := &member{
				id: rm.ID, instanceID: rm.InstanceID, clientID: rm.ClientID, clientHost: rm.ClientHost,
				sessionTimeout: rm.SessionTimeoutMs, rebalanceTimeout: rm.RebalanceTimeout,
				protocols: rm.Protocols, assignment: rm.Assignment,
			}
			g.addMember(m)
			g.heartbeat(m)
		}
		if len(g.members) > 0 {
			g.state = StateStable
		}
	}
	return g
}

// record is what etcd keeps of the group's membership.
func (g *Group) record() *metadata.GroupRecord {
	r := &metadata.GroupRecord{ProtocolType: g.protocolType, Protocol: g.protocol, Generation: g.generation, Leader: g.leader}
	for _, m := range g.members {
		r.Members = append(r.Members, metadata.GroupMember{
			ID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost,
			SessionTimeoutMs: m.sessionTimeout, RebalanceTimeout: m.rebalanceTimeout,
			Protocols: m.protocols, Assignment: m.assignment,
		})
	}
	return r
}

// persist writes the group's membership, in order with the shard's other
// writes; nobody waits for it: a coordinator that fails before it lands
// leaves the previous generation, and members rejoin.
func (g *Group) persist() {
	g.s.submit(&Write{w: metadata.GroupWrite{Group: g.id, Record: g.record()}})
}

// after runs fn after d under the shard lock, unless the shard was closed
// or the group replaced meanwhile.
func (g *Group) after(d time.Duration, fn func()) *time.Timer {
	return time.AfterFunc(d, func() {
		g.s.mu.Lock()
		defer g.s.mu.Unlock()
		if g.s.closed || g.s.groups[g.id] != g {
			return
		}
		fn()
	})
}

// stop ends the group on this broker: the shard moved or the group was
// deleted. Waiting members get code.
func (g *Group) stop(code *kerr.Error) {
	for _, m := range g.members {
		if m.timer != nil {
			m.timer.Stop()
		}
		g.replyError(m, code)
	}
	for _, m := range g.pending {
		if m.timer != nil {
			m.timer.Stop()
		}
	}
	if g.rebalanceTimer != nil {
		g.rebalanceTimer.Stop()
	}
	if g.syncTimer != nil {
		g.syncTimer.Stop()
	}
	if g.consumer != nil { // KIP-848
		g.consumer.stop()
	}
	g.state = StateDead
}

// replyError answers a member's waiting JoinGroup or SyncGroup with code.
func (g *Group) replyError(m *member, code *kerr.Error) {
	if m.reply == nil {
		return
	}
	var resp kmsg.Response
	if m.replySync != nil {
		r := m.replySync.ResponseKind().(*kmsg.SyncGroupResponse)
		r.ErrorCode = code.Code
		resp = r
	} else {
		r := m.join.ResponseKind().(*kmsg.JoinGroupResponse)
		r.ErrorCode, r.MemberID, r.Generation = code.Code, m.id, -1
		resp = r
	}
	g.send(m, resp)
}

// send hands a waiting member its response.
func (g *Group) send(m *member, resp kmsg.Response) {
	if m.reply == nil {
		return
	}
	if m.replySync == nil {
		g.joining--
	}
	m.reply <- resp
	m.reply, m.replySync = nil, nil
}

func newMemberID(clientID string, instanceID *string) string {
	if instanceID != nil {
		return *instanceID + "-" + uuid.NewString()
	}
	return clientID + "-" + uuid.NewString()
}

func joinProtocols(req *kmsg.JoinGroupRequest) []metadata.GroupProtocol {
	out := make([]metadata.GroupProtocol, 0, len(req.Protocols))
	for _, p := range req.Protocols {
		out = append(out, metadata.GroupProtocol{Name: p.Name, Metadata: p.Metadata})
	}
	return out
}

// addMember adds m to the group and counts its protocols.
func (g *Group) addMember(m *member) {
	g.members[m.id] = m
	for _, p := range m.protocols {
		g.protocols[p.Name]++
	}
	if m.instanceID != nil {
		g.static[*m.instanceID] = m.id
	}
}

// removeMember drops m without starting a rebalance.
func (g *Group) removeMember(m *member) {
	if g.members[m.id] != m {
		return
	}
	g.replyError(m, kerr.UnknownMemberID)
	delete(g.members, m.id)
	delete(g.awaitingSync, m.id)
	for _, p := range m.protocols {
		g.protocols[p.Name]--
	}
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
	if m.timer != nil {
		m.timer.Stop()
	}
}

// heartbeat restarts m's session timeout; at its end the member is removed
// and the group rebalances.
func (g *Group) heartbeat(m *member) {
	if m.timer != nil {
		m.timer.Stop()
	}
	m.timer = g.after(time.Duration(m.sessionTimeout)*time.Millisecond, func() {
		if g.members[m.id] != m {
			return
		}
		g.s.c.log.Info("consumer group member session expired", "group", g.id, "member", m.id)
		g.removeMember(m)
		g.rebalance()
	})
}

// protocolsMatch reports whether a joining member can be in the group: the
// same protocol type, and a protocol every current member supports.
func (g *Group) protocolsMatch(protocolType string, protocols []kmsg.JoinGroupRequestProtocol) bool {
	if protocolType == "" || len(protocols) == 0 {
		return false
	}
	if len(g.members) == 0 {
		return true
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protocols {
		if g.protocols[p.Name] == len(g.members) {
			return true
		}
	}
	return false
}

// Join handles a JoinGroup from a member connected as cl. It returns the
// response now, or nil and a channel that gets it once the rebalance
// completes.
func (g *Group) Join(cl Client, req *kmsg.JoinGroupRequest) (kmsg.Response, chan kmsg.Response) {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.MemberID, resp.Generation = req.MemberID, -1
	fail := func(code *kerr.Error) (kmsg.Response, chan kmsg.Response) {
		resp.ErrorCode = code.Code
		return resp, nil
	}
	if g.consumer != nil && len(g.consumer.members) > 0 { // KIP-848 online migration (consumer_migrate.go)
		return g.consumer.classicJoin(cl, req)
	}
	if code := g.classicJoinBlocked(); code != nil { // KIP-848 (consumer_group.go)
		return fail(code)
	}
	if !g.protocolsMatch(req.ProtocolType, req.Protocols) {
		return fail(kerr.InconsistentGroupProtocol)
	}
	if req.Version == 0 {
		req.RebalanceTimeoutMillis = req.SessionTimeoutMillis
	}
	if req.MemberID == "" {
		if req.InstanceID != nil {
			if old := g.members[g.static[*req.InstanceID]]; old != nil {
				return g.replaceStatic(cl, old, req)
			}
		}
		m := &member{id: newMemberID(cl.ID, req.InstanceID), clientID: cl.ID, clientHost: cl.Host, instanceID: req.InstanceID}
		resp.MemberID = m.id
		if req.Version >= 4 && req.InstanceID == nil {
			// KIP-394: the member must come back with its id, so that a
			// client that timed out does not leave a ghost member.
			m.sessionTimeout = req.SessionTimeoutMillis
			g.pending[m.id] = m
			m.timer = g.after(time.Duration(req.SessionTimeoutMillis)*time.Millisecond, func() { delete(g.pending, m.id) })
			return fail(kerr.MemberIDRequired)
		}
		return g.joinAndRebalance(m, req)
	}
	if req.InstanceID != nil {
		if err := g.checkInstance(req.InstanceID, req.MemberID); err != nil {
			return fail(err)
		}
	}
	if m := g.pending[req.MemberID]; m != nil {
		delete(g.pending, m.id)
		m.timer.Stop()
		return g.joinAndRebalance(m, req)
	}
	m := g.members[req.MemberID]
	if m == nil {
		return fail(kerr.UnknownMemberID)
	}
	switch g.state {
	case StateCompletingRebalance, StateStable:
		if sameProtocols(m.protocols, req.Protocols) && (g.state == StateCompletingRebalance || g.leader != m.id) {
			// Nothing changed: the member missed the response.
			g.fillJoin(m, resp)
			g.heartbeat(m)
			return resp, nil
		}
	case StateEmpty, StateDead:
		return fail(kerr.UnknownMemberID)
	}
	return g.updateAndRebalance(m, req)
}

// replaceStatic lets a static member that restarted (same instance id, no
// member id) take its old place: the old member id is fenced, and when
// nothing else changed the group stays Stable (KIP-345).
func (g *Group) replaceStatic(cl Client, old *member, req *kmsg.JoinGroupRequest) (kmsg.Response, chan kmsg.Response) {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	m := &member{id: newMemberID(cl.ID, req.InstanceID), instanceID: req.InstanceID, clientID: cl.ID,
		clientHost: cl.Host, assignment: old.assignment}
	g.replyError(old, kerr.FencedInstanceID)
	unchanged := g.state == StateStable && sameProtocols(old.protocols, req.Protocols)
	wasLeader := g.leader == old.id
	g.removeMember(old)
	m.sessionTimeout, m.rebalanceTimeout, m.protocols, m.join = req.SessionTimeoutMillis, req.RebalanceTimeoutMillis, joinProtocols(req), req
	g.addMember(m)
	if wasLeader {
		g.leader = m.id
	}
	g.s.c.log.Info("static consumer group member replaced", "group", g.id, "instance", *req.InstanceID, "old", old.id, "new", m.id)
	if unchanged {
		g.heartbeat(m)
		g.fillJoin(m, resp)
		resp.SkipAssignment = m.id == g.leader // KIP-814: keep the current assignment
		g.persist()
		return resp, nil
	}
	return g.waitRebalance(m, req)
}

// checkInstance is Kafka's static membership check: the instance id must
// map to the member id given.
func (g *Group) checkInstance(instanceID *string, memberID string) *kerr.Error {
	if instanceID == nil {
		return nil
	}
	known, ok := g.static[*instanceID]
	switch {
	case !ok:
		return kerr.UnknownMemberID
	case known != memberID:
		return kerr.FencedInstanceID
	}
	return nil
}

func (g *Group) joinAndRebalance(m *member, req *kmsg.JoinGroupRequest) (kmsg.Response, chan kmsg.Response) {
	m.sessionTimeout, m.rebalanceTimeout, m.protocols, m.join = req.SessionTimeoutMillis, req.RebalanceTimeoutMillis, joinProtocols(req), req
	if len(g.members) == 0 {
		g.protocolType = req.ProtocolType
	}
	g.addMember(m)
	g.heartbeat(m)
	return g.waitRebalance(m, req)
}

func (g *Group) updateAndRebalance(m *member, req *kmsg.JoinGroupRequest) (kmsg.Response, chan kmsg.Response) {
	for _, p := range m.protocols {
		g.protocols[p.Name]--
	}
	m.sessionTimeout, m.rebalanceTimeout, m.protocols, m.join = req.SessionTimeoutMillis, req.RebalanceTimeoutMillis, joinProtocols(req), req
	for _, p := range m.protocols {
		g.protocols[p.Name]++
	}
	g.heartbeat(m)
	return g.waitRebalance(m, req)
}

// waitRebalance parks m's JoinGroup and (re)starts the rebalance.
func (g *Group) waitRebalance(m *member, req *kmsg.JoinGroupRequest) (kmsg.Response, chan kmsg.Response) {
	m.join = req
	if m.reply != nil {
		g.replyError(m, kerr.RebalanceInProgress) // a JoinGroup replaced by a newer one
	}
	ch := make(chan kmsg.Response, 1)
	m.reply, m.replySync = ch, nil
	g.joining++
	g.rebalance()
	return nil, ch
}

// rebalance moves the group to PreparingRebalance: members waiting in
// SyncGroup are told to rejoin, and the rebalance completes once every
// member has joined or the longest rebalance timeout has passed.
func (g *Group) rebalance() {
	if g.state == StateCompletingRebalance {
		for _, m := range g.members {
			if m.replySync != nil {
				g.replyError(m, kerr.RebalanceInProgress)
			}
		}
	}
	g.clearSync()
	if len(g.members) == 0 {
		g.becomeEmpty()
		return
	}
	g.state = StatePreparingRebalance
	if g.joining >= len(g.members) {
		g.completeRebalance()
		return
	}
	if g.rebalanceTimer != nil {
		g.rebalanceTimer.Stop()
	}
	gen := g.generation
	g.rebalanceTimer = g.after(time.Duration(g.maxRebalanceTimeout())*time.Millisecond, func() {
		if g.generation == gen && g.state == StatePreparingRebalance {
			g.completeRebalance()
		}
	})
}

func (g *Group) maxRebalanceTimeout() int32 {
	var most int32
	for _, m := range g.members {
		most = max(most, m.rebalanceTimeout)
	}
	return most
}

// becomeEmpty moves a group without members to Empty, and records that.
func (g *Group) becomeEmpty() {
	if g.rebalanceTimer != nil {
		g.rebalanceTimer.Stop()
	}
	g.state, g.leader, g.protocol = StateEmpty, "", ""
	g.generation++
	g.persist()
}

// completeRebalance starts the next generation with the members that
// joined: members that did not are removed, a protocol is chosen, the
// leader gets every member's metadata.
func (g *Group) completeRebalance() {
	if g.rebalanceTimer != nil {
		g.rebalanceTimer.Stop()
		g.rebalanceTimer = nil
	}
	for _, m := range g.members {
		if m.reply == nil {
			g.s.c.log.Info("consumer group member did not rejoin within the rebalance timeout", "group", g.id, "member", m.id)
			g.removeMember(m)
		}
	}
	if len(g.members) == 0 {
		g.becomeEmpty()
		return
	}
	g.generation++
	g.state = StateCompletingRebalance
	g.protocol = g.selectProtocol()
	if g.members[g.leader] == nil {
		g.leader = ""
		for id := range g.members {
			if g.leader == "" || id < g.leader {
				g.leader = id
			}
		}
	}
	g.awaitingSync = make(map[string]bool, len(g.members))
	for _, m := range g.members {
		g.awaitingSync[m.id] = true
		resp := m.join.ResponseKind().(*kmsg.JoinGroupResponse)
		g.fillJoin(m, resp)
		g.send(m, resp)
		g.heartbeat(m)
	}
	gen := g.generation
	g.syncTimer = g.after(time.Duration(g.maxRebalanceTimeout())*time.Millisecond, func() {
		if g.generation != gen || g.state != StateCompletingRebalance || len(g.awaitingSync) == 0 {
			return
		}
		for id := range g.awaitingSync {
			if m := g.members[id]; m != nil {
				g.s.c.log.Info("consumer group member did not sync within the rebalance timeout", "group", g.id, "member", id)
				g.removeMember(m)
			}
		}
		g.rebalance()
	})
}

func (g *Group) clearSync() {
	g.awaitingSync = nil
	if g.syncTimer != nil {
		g.syncTimer.Stop()
		g.syncTimer = nil
	}
}

// selectProtocol is Kafka's vote: among the protocols every member
// supports, each member votes for the first it lists; most votes win (ties
// by name, for determinism).
func (g *Group) selectProtocol() string {
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if g.protocols[p.Name] == len(g.members) {
				votes[p.Name]++
				break
			}
		}
	}
	best, bestVotes := "", 0
	for name, v := range votes {
		if v > bestVotes || (v == bestVotes && name < best) {
			best, bestVotes = name, v
		}
	}
	return best
}

func (g *Group) fillJoin(m *member, resp *kmsg.JoinGroupResponse) {
	resp.Generation = g.generation
	resp.ProtocolType = kmsg.StringPtr(g.protocolType)
	resp.Protocol = kmsg.StringPtr(g.protocol)
	resp.LeaderID = g.leader
	resp.MemberID = m.id
	if g.leader != m.id {
		return
	}
	for _, o := range g.members {
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID, jm.InstanceID = o.id, o.instanceID
		for _, p := range o.protocols {
			if p.Name == g.protocol {
				jm.ProtocolMetadata = p.Metadata
				break
			}
		}
		resp.Members = append(resp.Members, jm)
	}
}

func sameProtocols(have []metadata.GroupProtocol, req []kmsg.JoinGroupRequestProtocol) bool {
	if len(have) != len(req) {
		return false
	}
	for i := range have {
		if have[i].Name != req[i].Name || !bytes.Equal(have[i].Metadata, req[i].Metadata) {
			return false
		}
	}
	return true
}

// Sync handles a SyncGroup: the leader's brings the assignments and makes
// the group Stable; the others wait for it.
func (g *Group) Sync(req *kmsg.SyncGroupRequest) (kmsg.Response, chan kmsg.Response) {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	fail := func(code *kerr.Error) (kmsg.Response, chan kmsg.Response) {
		resp.ErrorCode = code.Code
		return resp, nil
	}
	if g.consumer != nil { // KIP-848: a classic member of a consumer group (consumer_migrate.go)
		return g.consumer.classicSync(req)
	}
	if err := g.checkInstance(req.InstanceID, req.MemberID); err != nil {
		return fail(err)
	}
	m := g.members[req.MemberID]
	switch {
	case m == nil:
		return fail(kerr.UnknownMemberID)
	case req.Generation != g.generation:
		return fail(kerr.IllegalGeneration)
	case req.ProtocolType != nil && *req.ProtocolType != g.protocolType,
		req.Protocol != nil && *req.Protocol != g.protocol:
		return fail(kerr.InconsistentGroupProtocol)
	}
	switch g.state {
	case StatePreparingRebalance:
		return fail(kerr.RebalanceInProgress)
	case StateStable:
		g.heartbeat(m)
		g.fillSync(m, resp)
		return resp, nil
	case StateCompletingRebalance:
	default:
		return fail(kerr.UnknownMemberID)
	}
	g.heartbeat(m)
	delete(g.awaitingSync, m.id)
	if m.reply != nil {
		g.replyError(m, kerr.RebalanceInProgress) // a SyncGroup replaced by a newer one
	}
	ch := make(chan kmsg.Response, 1)
	m.reply, m.replySync = ch, req
	if m.id == g.leader {
		for _, o := range g.members {
			o.assignment = nil
		}
		for _, a := range req.GroupAssignment {
			if o := g.members[a.MemberID]; o != nil {
				o.assignment = a.MemberAssignment
			}
		}
		g.state = StateStable
		g.clearSync()
		for _, o := range g.members {
			if o.replySync != nil {
				r := o.replySync.ResponseKind().(*kmsg.SyncGroupResponse)
				g.fillSync(o, r)
				g.send(o, r)
			}
		}
		g.persist()
	}
	return nil, ch
}

func (g *Group) fillSync(m *member, resp *kmsg.SyncGroupResponse) {
	resp.ProtocolType = kmsg.StringPtr(g.protocolType)
	resp.Protocol = kmsg.StringPtr(g.protocol)
	resp.MemberAssignment = m.assignment
	if len(resp.MemberAssignment) == 0 && g.protocolType == "consumer" {
		// Followers must get a decodable (empty) consumer assignment.
		resp.MemberAssignment = new(kmsg.ConsumerMemberAssignment).AppendTo(nil)
	}
}

// Heartbeat handles a Heartbeat.
func (g *Group) Heartbeat(req *kmsg.HeartbeatRequest) *kerr.Error {
	if g.consumer != nil { // KIP-848: a classic member of a consumer group (consumer_migrate.go)
		return g.consumer.classicHeartbeat(req)
	}
	if err := g.checkInstance(req.InstanceID, req.MemberID); err != nil {
		return err
	}
	m := g.members[req.MemberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID
	case req.Generation != g.generation:
		return kerr.IllegalGeneration
	}
	switch g.state {
	case StatePreparingRebalance:
		g.heartbeat(m)
		return kerr.RebalanceInProgress
	case StateCompletingRebalance, StateStable:
		g.heartbeat(m)
		return nil
	}
	return kerr.UnknownMemberID
}

// Leave removes one member (by member id, or by instance id for a static
// member) and rebalances.
func (g *Group) Leave(memberID string, instanceID *string) *kerr.Error {
	if g.consumer != nil { // KIP-848: a classic member of a consumer group (consumer_migrate.go)
		return g.consumer.classicLeave(memberID, instanceID)
	}
	if instanceID != nil {
		known, ok := g.static[*instanceID]
		switch {
		case !ok:
			return kerr.UnknownMemberID
		case memberID != "" && memberID != known:
			return kerr.FencedInstanceID
		}
		memberID = known
	}
	if m := g.pending[memberID]; m != nil {
		m.timer.Stop()
		delete(g.pending, memberID)
		return nil
	}
	m := g.members[memberID]
	if m == nil {
		return kerr.UnknownMemberID
	}
	g.removeMember(m)
	g.rebalance()
	return nil
}

// CheckCommit is Kafka's validation of an OffsetCommit against the group
// (ClassicGroup.validateOffsetCommit): a commit with no generation and no
// member (a simple consumer, an admin tool) only to an Empty group;
// otherwise the member and generation must be current.
func (g *Group) CheckCommit(generation int32, memberID string, instanceID *string) *kerr.Error {
	return g.checkCommit(generation, memberID, instanceID, false)
}

// CheckTxnCommit is Kafka's validation of a TxnOffsetCommit against the
// group (validateOffsetCommit with isTransactional): as CheckCommit, but a
// commit with no generation and no member is taken whatever the group's
// state (older TxnOffsetCommit versions carry neither), and a group that is
// rebalancing takes it too. It does not count as the member's heartbeat.
func (g *Group) CheckTxnCommit(generation int32, memberID string, instanceID *string) *kerr.Error {
	return g.checkCommit(generation, memberID, instanceID, true)
}

// checkCommit is CheckCommit, or CheckTxnCommit if txn.
func (g *Group) checkCommit(generation int32, memberID string, instanceID *string, txn bool) *kerr.Error {
	if g.consumer != nil && g.state != StateDead { // KIP-848: member epochs (consumer_group.go)
		return g.consumer.checkCommit(generation, memberID, 9, txn, nil)
	}
	switch {
	case g.state == StateDead:
		return kerr.CoordinatorNotAvailable
	case generation < 0 && g.state == StateEmpty:
		return nil
	case generation >= 0 || memberID != "" || instanceID != nil:
		if err := g.checkInstance(instanceID, memberID); err != nil {
			return err
		}
		m := g.members[memberID]
		if m == nil {
			return kerr.UnknownMemberID
		}
		if generation != g.generation {
			return kerr.IllegalGeneration
		}
		if txn {
			return nil
		}
		if g.state == StateCompletingRebalance {
			return kerr.RebalanceInProgress
		}
		g.heartbeat(m)
		return nil
	case txn:
		return nil
	default:
		return kerr.UnknownMemberID
	}
}

// Unstable reports whether some producer has a pending transactional
// offset of the partition in the group: an OffsetFetch with require_stable
// gets UNSTABLE_OFFSET_COMMIT for it.
func (g *Group) Unstable(gp metadata.GroupPartition) bool {
	for _, offsets := range g.txnOffsets {
		if _, ok := offsets[gp]; ok {
			return true
		}
	}
	return false
}

// putTxnOffsets records a producer's committed pending offsets.
func (g *Group) putTxnOffsets(t *metadata.TxnOffsets) {
	mine := g.txnOffsets[t.ProducerID]
	if mine == nil {
		mine = map[metadata.GroupPartition]metadata.PendingOffset{}
		g.txnOffsets[t.ProducerID] = mine
	}
	for gp, o := range t.Offsets {
		mine[gp] = metadata.PendingOffset{Offset: o}
	}
}

// endTxn builds the write that ends producerID's transaction in the group,
// from its pending offsets; false when it has none.
func (g *Group) endTxn(producerID int64, commit bool) (metadata.GroupWrite, bool) {
	mine := g.txnOffsets[producerID]
	if len(mine) == 0 {
		return metadata.GroupWrite{}, false
	}
	end := &metadata.TxnEnd{ProducerID: producerID, Commit: commit, Offsets: map[metadata.GroupPartition]*metadata.CommittedOffset{}}
	for gp, po := range mine {
		var o *metadata.CommittedOffset
		if commit && !po.Superseded {
			o = new(metadata.CommittedOffset)
			*o = po.Offset
		}
		end.Offsets[gp] = o
	}
	return metadata.GroupWrite{Group: g.id, TxnEnd: end}, true
}

// setOffset installs a committed offset; the partition's pending
// transactional offsets are older now (superseded).
func (g *Group) setOffset(gp metadata.GroupPartition, o metadata.CommittedOffset) {
	g.offsets[gp] = o
	for _, offsets := range g.txnOffsets {
		if po, ok := offsets[gp]; ok {
			po.Superseded = true
			offsets[gp] = po
		}
	}
}

// deleteOffset drops a committed offset and, as Kafka's tombstone does,
// every producer's pending transactional offset of the partition.
func (g *Group) deleteOffset(gp metadata.GroupPartition) {
	delete(g.offsets, gp)
	for pid, offsets := range g.txnOffsets {
		delete(offsets, gp)
		if len(offsets) == 0 {
			delete(g.txnOffsets, pid)
		}
	}
}

// applyTxnEnd installs a committed TxnEnd.
func (g *Group) applyTxnEnd(t *metadata.TxnEnd) {
	mine := g.txnOffsets[t.ProducerID]
	for gp, o := range t.Offsets {
		delete(mine, gp)
		if t.Commit && o != nil {
			g.setOffset(gp, *o)
		}
	}
	if len(mine) == 0 {
		delete(g.txnOffsets, t.ProducerID)
	}
}

// Subscribed reports whether a consumer member of the group subscribes to
// topic, from the members' protocol metadata.
func (g *Group) Subscribed(topic string) bool {
	if g.consumer != nil { // KIP-848
		return g.consumer.subscribed(topic)
	}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if p.Name != g.protocol {
				continue
			}
			var md kmsg.ConsumerMemberMetadata
			if md.ReadFrom(p.Metadata) != nil {
				return true // unknown: assume it does
			}
			for _, t := range md.Topics {
				if t == topic {
					return true
				}
			}
		}
	}
	return false
}

// State is the group's state.
func (g *Group) State() State {
	if g.hasConsumerMembers() { // KIP-848: a consumer group with members is not Empty
		return StateStable
	}
	return g.state
}

// ProtocolType is the protocol type its members joined with ("consumer"
// for Kafka consumers).
func (g *Group) ProtocolType() string { return g.protocolType }

// Offset returns the group's committed offset of a partition.
func (g *Group) Offset(gp metadata.GroupPartition) (metadata.CommittedOffset, bool) {
	o, ok := g.offsets[gp]
	return o, ok
}

// Offsets calls fn for every committed offset of the group, in no order.
func (g *Group) Offsets(fn func(gp metadata.GroupPartition, o metadata.CommittedOffset)) {
	for gp, o := range g.offsets {
		fn(gp, o)
	}
}

// Describe fills a DescribeGroups answer with the group's state, protocol
// and members (sorted by member id).
func (g *Group) Describe(dg *kmsg.DescribeGroupsResponseGroup) {
	dg.State, dg.ProtocolType, dg.Protocol = g.state.String(), g.protocolType, g.protocol
	for _, m := range g.members {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.ClientID, dm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
		for _, p := range m.protocols {
			if p.Name == g.protocol {
				dm.ProtocolMetadata = p.Metadata
			}
		}
		dm.MemberAssignment = m.assignment
		dg.Members = append(dg.Members, dm)
	}
	sort.Slice(dg.Members, func(i, j int) bool { return dg.Members[i].MemberID < dg.Members[j].MemberID })
}
