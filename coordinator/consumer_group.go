package coordinator

// KIP-848 consumer groups: the protocol of ConsumerGroupHeartbeat, where
// the coordinator assigns partitions and every member moves to its share
// on its own, one heartbeat at a time, as Kafka's GroupMetadataManager and
// CurrentAssignmentBuilder run it.
//
// A group has an epoch, bumped whenever its members or their
// subscriptions change (or the topics they subscribe to), and a target
// assignment computed by the server-side assignor (uniform or range,
// consumer_assign.go) at some epoch, the assignment epoch. Each member has
// a member epoch and moves towards its target:
//
//	STABLE ──target epoch moved on──▶ compute next:
//	   partitions to revoke? ──▶ UNREVOKED_PARTITIONS (same epoch; the member
//	   │                          is told to keep only the rest; it comes back
//	   │                          once it stopped owning them, or is fenced
//	   │                          after its rebalance timeout)
//	   partitions still owned by another member? ──▶ UNRELEASED_PARTITIONS
//	   │                          (member epoch = assignment epoch; it gets
//	   │                          each such partition once its owner revoked it)
//	   otherwise ──▶ STABLE at the assignment epoch
//
// A partition therefore moves to its new owner only after the old owner
// revoked it. A member silent for the session timeout is removed; a member
// that leaves (epoch -1) is removed at once; a static member (instance id)
// that leaves with epoch -2 keeps its place and partitions until its
// session timeout, and a new member with the same instance id takes them
// over. Every change is written to etcd (one record per group, before the
// heartbeat that made it is answered), so a new coordinator resumes every
// member at its epoch with its partitions.

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/partition"
)

// Kafka's defaults of group.consumer.session.timeout.ms,
// group.consumer.heartbeat.interval.ms (the defaults of the group configs
// consumer.session.timeout.ms and consumer.heartbeat.interval.ms,
// consumer_configs.go) and the rebalance timeout a member that gives none
// gets.
const (
	ConsumerSessionTimeout    = 45 * time.Second
	ConsumerHeartbeatInterval = 5 * time.Second
	// ReconcilingHeartbeatInterval is the interval a member is given while
	// its group is not Stable (some member revokes, waits for partitions,
	// or is behind the assignment epoch), so that partitions move on as
	// soon as their owners gave them up rather than a full interval later.
	// A deviation: Kafka gives the same interval throughout. A group whose
	// consumer.heartbeat.interval.ms is shorter gets that throughout.
	ReconcilingHeartbeatInterval = 500 * time.Millisecond
	defaultRebalanceTimeoutMs    = 300000
	// topicsRefresh is how often a group's subscriptions are resolved
	// again (regular expressions matched against the topics, partition
	// counts looked up), at a heartbeat (Kafka refreshes them periodically
	// too).
	topicsRefresh = time.Second
)

// The assignors a member may ask for; uniform is the default, as in Kafka.
const (
	AssignorUniform = "uniform"
	AssignorRange   = "range"
)

// A member's reconciliation state (Kafka's MemberState); the numbers are
// stored in etcd.
const (
	memberStable     int8 = 0 // STABLE
	memberUnrevoked  int8 = 1 // UNREVOKED_PARTITIONS
	memberUnreleased int8 = 2 // UNRELEASED_PARTITIONS
)

// The member epochs of a leave.
const (
	leaveEpoch       = -1
	staticLeaveEpoch = -2
)

// AllTopics is what regular-expression subscriptions need of the partition
// manager: every topic it knows. partition.Manager has it.
type AllTopics interface {
	Topics() []*partition.Topic
}

// consumerGroup is the KIP-848 side of a Group (Group.consumer): set while
// the group is a consumer group.
type consumerGroup struct {
	g               *Group
	epoch           int32
	assignmentEpoch int32
	assignor        string
	// subscriptionHash names the subscribed topics, with their ids and
	// partition counts, as of the last target assignment: when they
	// change the group epoch moves on.
	subscriptionHash string
	members          map[string]*consumerMember
	static           map[string]string // instance id → member id
	regexAt          time.Time         // last resolution of the subscriptions
	// cfg is the group's session timeout and heartbeat interval as of the
	// last heartbeat (consumer_configs.go): each heartbeat takes the
	// group's current ones.
	cfg ConsumerConfig
}

type consumerMember struct {
	metadata.ConsumerGroupMember
	// since is the member epoch at which the member got each partition it
	// owns (KIP-1251): a commit of an older epoch is taken for the
	// partitions it had then. Not in etcd: after a failover, a member's
	// partitions take any epoch up to its current one.
	since     map[topicPartition]int32
	re        *regexp.Regexp
	session   *time.Timer
	rebalance *time.Timer
	// joinTimer and syncTimer bound a classic member's rejoin and sync
	// (consumer_migrate.go).
	joinTimer, syncTimer *time.Timer
}

type topicPartition struct {
	topic metadata.TopicID
	part  int32
}

func newConsumerGroup(g *Group) *consumerGroup {
	return &consumerGroup{g: g, members: map[string]*consumerMember{}, static: map[string]string{}, cfg: g.consumerConfig()}
}

// consumerConfig is the group's consumer configs as this broker last read
// them (Coordinator.ConsumerConfig), without waiting for etcd.
func (g *Group) consumerConfig() ConsumerConfig {
	if g.s == nil || g.s.c == nil {
		return DefaultConsumerConfig()
	}
	return g.s.c.cachedConsumerConfig(g.id)
}

// restoreConsumerGroup rebuilds a consumer group from etcd when this
// broker starts to coordinate it: every member keeps its epoch and
// partitions and has a full session timeout to heartbeat.
func restoreConsumerGroup(g *Group, r *metadata.ConsumerGroupRecord) *consumerGroup {
	cg := newConsumerGroup(g)
	cg.epoch, cg.assignmentEpoch, cg.assignor, cg.subscriptionHash = r.Epoch, r.AssignmentEpoch, r.Assignor, r.SubscriptionHash
	for _, rm := range r.Members {
		m := &consumerMember{ConsumerGroupMember: rm}
		if rm.SubscribedRegex != "" {
			m.re, _ = compileTopicRegex(rm.SubscribedRegex)
		}
		cg.members[m.ID] = m
		if m.InstanceID != nil {
			cg.static[*m.InstanceID] = m.ID
		}
		cg.heartbeat(m)
		if m.State == memberUnrevoked && m.Classic == nil { // a classic member rejoins (consumer_migrate.go)
			cg.startRebalanceTimer(m)
		}
	}
	return cg
}

// record is what etcd keeps of the group.
func (cg *consumerGroup) record() *metadata.ConsumerGroupRecord {
	r := &metadata.ConsumerGroupRecord{Epoch: cg.epoch, AssignmentEpoch: cg.assignmentEpoch, Assignor: cg.assignor, SubscriptionHash: cg.subscriptionHash}
	for _, id := range slices.Sorted(maps.Keys(cg.members)) {
		r.Members = append(r.Members, cg.members[id].ConsumerGroupMember)
	}
	return r
}

// persist queues the group's record; the write returned lands it.
func (cg *consumerGroup) persist() *ConsumerWrite {
	return cg.g.s.putConsumerGroup(cg.g.id, cg.record())
}

// stop stops every timer of the group: the shard moved or the group ended.
func (cg *consumerGroup) stop() {
	for _, m := range cg.members {
		stopTimer(m.session)
		stopTimer(m.rebalance)
		m.stopClassicTimers()
	}
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}

// compileTopicRegex compiles a subscription's regular expression: RE2/J,
// which Kafka uses, is Go's RE2 syntax; the whole topic name must match.
func compileTopicRegex(expr string) (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + expr + ")$")
}

// CheckConsumerHeartbeat is Kafka's validation of a ConsumerGroupHeartbeat
// before its group is looked at: nil, or the error (INVALID_REQUEST with a
// message, UNSUPPORTED_ASSIGNOR, INVALID_REGULAR_EXPRESSION).
func CheckConsumerHeartbeat(req *kmsg.ConsumerGroupHeartbeatRequest) (*kerr.Error, string) {
	invalid := func(msg string) (*kerr.Error, string) { return kerr.InvalidRequest, msg }
	switch e := req.MemberEpoch; {
	case req.InstanceID != nil && *req.InstanceID == "":
		return invalid("InstanceId can't be empty.")
	case req.RackID != nil && *req.RackID == "":
		return invalid("RackId can't be empty.")
	case req.MemberID == "" && (e != 0 || req.Version >= 1):
		return invalid("MemberId can't be empty.")
	case e < staticLeaveEpoch:
		return invalid(fmt.Sprintf("MemberEpoch is %d, but must be greater than or equal to -2.", e))
	case e == staticLeaveEpoch && req.InstanceID == nil:
		return invalid("InstanceId can't be null when MemberEpoch is -2.")
	case e == 0 && req.RebalanceTimeoutMillis == -1:
		return invalid("RebalanceTimeoutMs must be provided in first request.")
	case e == 0 && req.SubscribedTopicNames == nil && req.SubscribedTopicRegex == nil:
		return invalid("SubscribedTopicNames or SubscribedTopicRegex must be set in first request.")
	case e == 0 && (req.Topics == nil || len(req.Topics) > 0):
		return invalid("TopicPartitions must be empty when (re-)joining.")
	case req.SubscribedTopicNames != nil && req.SubscribedTopicRegex != nil:
		return invalid("SubscribedTopicNames and SubscribedTopicRegex cannot both be set.")
	}
	if a := req.ServerAssignor; a != nil && *a != AssignorUniform && *a != AssignorRange {
		return kerr.UnsupportedAssignor, fmt.Sprintf("ServerAssignor %s is not supported. Supported assignors: uniform, range.", *a)
	}
	if r := req.SubscribedTopicRegex; r != nil && *r != "" {
		if _, err := compileTopicRegex(*r); err != nil {
			return kerr.InvalidRegularExpression, err.Error()
		}
	}
	return nil, ""
}

// ConsumerHeartbeat handles a ConsumerGroupHeartbeat (checked already by
// CheckConsumerHeartbeat) from a member connected as cl. The response is
// complete but for the outcome of the write returned (nil: nothing
// changed), which the caller waits for before answering. It runs under the
// shard lock. The group's session timeout and heartbeat interval are those
// the caller read last (Coordinator.ConsumerConfig, before taking the
// lock): a change of them applies from this heartbeat on.
func (g *Group) ConsumerHeartbeat(cl Client, req *kmsg.ConsumerGroupHeartbeatRequest) (*kmsg.ConsumerGroupHeartbeatResponse, *ConsumerWrite) {
	cfg := g.consumerConfig()
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	resp.HeartbeatIntervalMillis = int32(cfg.HeartbeatInterval / time.Millisecond)
	fail := func(code *kerr.Error) (*kmsg.ConsumerGroupHeartbeatResponse, *ConsumerWrite) {
		resp.ErrorCode = code.Code
		return resp, nil
	}
	if g.consumer == nil {
		if g.state != StateEmpty || len(g.members) > 0 {
			// A classic group with members is upgraded online when a
			// member joins (consumer_migrate.go); otherwise Kafka's
			// answer when the upgrade is not allowed.
			if req.MemberEpoch != 0 || !g.upgrade() {
				return fail(kerr.GroupIDNotFound)
			}
		} else {
			g.consumer = newConsumerGroup(g)
		}
	}
	cg := g.consumer
	cg.cfg = cfg
	switch req.MemberEpoch {
	case leaveEpoch, staticLeaveEpoch:
		return cg.leave(req, resp)
	}
	var m *consumerMember
	changed := false // the group's record changes
	bump := false    // the group epoch moves on
	if req.MemberEpoch == 0 {
		var code *kerr.Error
		m, changed, bump, code = cg.join(cl, req)
		if code != nil {
			return fail(code)
		}
	} else {
		m = cg.members[req.MemberID]
		if m == nil {
			if req.InstanceID != nil && cg.static[*req.InstanceID] != "" {
				return fail(kerr.FencedInstanceID)
			}
			return fail(kerr.UnknownMemberID)
		}
		if req.InstanceID != nil && (m.InstanceID == nil || *m.InstanceID != *req.InstanceID) {
			return fail(kerr.FencedInstanceID)
		}
		if code := m.checkEpoch(req); code != nil {
			return fail(code)
		}
	}
	cg.heartbeat(m)
	if cg.update(m, req) {
		changed, bump = true, true
	}
	if cg.refreshTopics(bump) {
		changed = true
	}
	before := m.ConsumerGroupMember
	if cg.reconcile(m, req.Topics) {
		changed = true
	}
	assignedChanged := !sameAssignment(before.Assigned, m.Assigned)
	m.trackSince()
	if m.State == memberUnrevoked {
		if before.State != memberUnrevoked || !sameAssignment(before.Revoking, m.Revoking) {
			cg.startRebalanceTimer(m)
		}
	} else {
		stopTimer(m.rebalance)
		m.rebalance = nil
	}
	resp.MemberID = kmsg.StringPtr(m.ID)
	resp.MemberEpoch = m.Epoch
	if cg.state() != "Stable" {
		resp.HeartbeatIntervalMillis = int32(min(ReconcilingHeartbeatInterval, cfg.HeartbeatInterval) / time.Millisecond)
	}
	full := req.RebalanceTimeoutMillis != -1 && (req.SubscribedTopicNames != nil || req.SubscribedTopicRegex != nil) && req.Topics != nil
	if req.MemberEpoch == 0 || full || assignedChanged {
		resp.Assignment = responseAssignment(m.Assigned)
	}
	if !changed {
		return resp, nil
	}
	return resp, cg.persist()
}

// join handles a heartbeat of epoch 0: a new member, a member that lost
// its partitions and joins again, or a static member taking over the
// place of one that left (epoch -2) with the same instance id.
func (cg *consumerGroup) join(cl Client, req *kmsg.ConsumerGroupHeartbeatRequest) (m *consumerMember, changed, bump bool, code *kerr.Error) {
	id := req.MemberID
	if id == "" { // v0: the coordinator names the member
		id = newMemberID(cl.ID, req.InstanceID)
	}
	if req.InstanceID != nil {
		if oldID := cg.static[*req.InstanceID]; oldID != "" && oldID != id {
			old := cg.members[oldID]
			if old.Epoch != staticLeaveEpoch && old.Classic == nil { // a classic member is replaced at once (consumer_migrate.go)
				return nil, false, false, kerr.UnreleasedInstanceID
			}
			// The new member takes the old one's place: its epoch,
			// partitions and target, without a new group epoch unless
			// its subscription differs (update).
			cg.removeMember(old)
			m = &consumerMember{ConsumerGroupMember: old.ConsumerGroupMember, re: old.re}
			m.ID = id
			if m.Epoch == staticLeaveEpoch {
				m.Epoch = m.PreviousEpoch
			}
			if m.Classic != nil { // as Kafka: the new member starts at epoch 0 with the old one's partitions
				m.Classic, m.Epoch, m.PreviousEpoch = nil, 0, 0
			}
			cg.addMember(m)
			cg.g.s.c.log.Info("static consumer group member replaced", "group", cg.g.id, "instance", *req.InstanceID, "old", oldID, "new", id)
		}
	}
	if m == nil {
		m = cg.members[id]
	}
	if m == nil {
		m = &consumerMember{}
		m.ID, m.InstanceID = id, req.InstanceID
		cg.addMember(m)
		bump = true
	} else if m.Epoch != 0 || len(m.Assigned) > 0 || len(m.Revoking) > 0 {
		// The member joins again: it owns nothing now.
		m.Assigned, m.Revoking = nil, nil
		m.PreviousEpoch, m.Epoch, m.State = m.Epoch, 0, memberStable
	}
	m.ClientID, m.ClientHost = cl.ID, cl.Host
	return m, true, bump, nil
}

func (cg *consumerGroup) addMember(m *consumerMember) {
	cg.members[m.ID] = m
	if m.InstanceID != nil {
		cg.static[*m.InstanceID] = m.ID
	}
}

// removeMember drops m and its timers; its partitions are free.
func (cg *consumerGroup) removeMember(m *consumerMember) {
	if cg.members[m.ID] != m {
		return
	}
	delete(cg.members, m.ID)
	if m.InstanceID != nil && cg.static[*m.InstanceID] == m.ID {
		delete(cg.static, *m.InstanceID)
	}
	stopTimer(m.session)
	stopTimer(m.rebalance)
	m.stopClassicTimers()
}

// fence removes a member (session or rebalance timeout, a leave): the
// group epoch moves on and the others get its partitions.
func (cg *consumerGroup) fence(m *consumerMember, reason, why string) *ConsumerWrite {
	cg.g.s.c.log.Info("consumer group member removed", "group", cg.g.id, "member", m.ID, "why", why)
	cg.g.s.c.consumerMetrics.removed.WithLabelValues(reason).Inc()
	if w := cg.downgradeOnLeave(m); w != nil { // the rest are classic members (consumer_migrate.go)
		return w
	}
	cg.removeMember(m)
	cg.epoch++
	cg.g.s.c.consumerMetrics.epochs.Inc()
	cg.computeTarget()
	return cg.persist()
}

// leave handles a heartbeat of epoch -1 (leave) or -2 (a static member
// leaves for now, keeping its place).
func (cg *consumerGroup) leave(req *kmsg.ConsumerGroupHeartbeatRequest, resp *kmsg.ConsumerGroupHeartbeatResponse) (*kmsg.ConsumerGroupHeartbeatResponse, *ConsumerWrite) {
	m := cg.members[req.MemberID]
	if m == nil && req.InstanceID != nil {
		if id := cg.static[*req.InstanceID]; id != "" {
			if req.MemberID != "" && req.MemberID != id {
				resp.ErrorCode = kerr.FencedInstanceID.Code
				return resp, nil
			}
			m = cg.members[id]
		}
	}
	if m == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp, nil
	}
	resp.MemberID = kmsg.StringPtr(m.ID)
	resp.MemberEpoch = req.MemberEpoch
	if req.MemberEpoch == staticLeaveEpoch && m.InstanceID != nil {
		// Kept, with its partitions, until its session timeout.
		if m.Epoch != staticLeaveEpoch {
			m.PreviousEpoch = m.Epoch
		}
		m.Epoch, m.Revoking, m.State = staticLeaveEpoch, nil, memberStable
		stopTimer(m.rebalance)
		m.rebalance = nil
		cg.heartbeat(m)
		return resp, cg.persist()
	}
	return resp, cg.fence(m, "leave", "left the group")
}

// checkEpoch is Kafka's check of the epoch a member sends: its current
// one, or its previous one when the response that moved it on was lost
// (then the partitions it reports must be among those it has).
func (m *consumerMember) checkEpoch(req *kmsg.ConsumerGroupHeartbeatRequest) *kerr.Error {
	switch e := req.MemberEpoch; {
	case e == m.Epoch:
		return nil
	case e > m.Epoch:
		return kerr.FencedMemberEpoch
	case e == m.PreviousEpoch && req.Topics != nil && ownsSubset(req.Topics, m.Assigned):
		return nil
	}
	return kerr.FencedMemberEpoch
}

func ownsSubset(owned []kmsg.ConsumerGroupHeartbeatRequestTopic, assigned metadata.ConsumerAssignment) bool {
	for _, t := range owned {
		for _, p := range t.Partitions {
			if !slices.Contains(assigned[t.TopicID], p) {
				return false
			}
		}
	}
	return true
}

// heartbeat restarts m's session timeout; at its end the member is
// removed.
func (cg *consumerGroup) heartbeat(m *consumerMember) {
	stopTimer(m.session)
	m.session = cg.g.after(cg.sessionTimeout(m), func() {
		if cg.g.consumer != cg || cg.members[m.ID] != m {
			return
		}
		cg.fence(m, "session", "session timeout expired")
	})
}

// startRebalanceTimer gives a member that must revoke partitions its
// rebalance timeout to do so; then it is removed.
func (cg *consumerGroup) startRebalanceTimer(m *consumerMember) {
	stopTimer(m.rebalance)
	epoch := m.Epoch
	m.rebalance = cg.g.after(time.Duration(m.RebalanceTimeoutMs)*time.Millisecond, func() {
		if cg.g.consumer != cg || cg.members[m.ID] != m || m.State != memberUnrevoked || m.Epoch != epoch {
			return
		}
		cg.fence(m, "rebalance", "did not revoke its partitions within the rebalance timeout")
	})
}

// update takes a heartbeat's subscription, assignor, rack and rebalance
// timeout (those it carries); it reports whether the subscription or
// assignor changed, which moves the group epoch on.
func (cg *consumerGroup) update(m *consumerMember, req *kmsg.ConsumerGroupHeartbeatRequest) bool {
	changed := false
	if req.RackID != nil {
		m.RackID = req.RackID
	}
	if req.RebalanceTimeoutMillis > 0 {
		m.RebalanceTimeoutMs = req.RebalanceTimeoutMillis
	} else if m.RebalanceTimeoutMs <= 0 {
		m.RebalanceTimeoutMs = defaultRebalanceTimeoutMs
	}
	if req.SubscribedTopicNames != nil {
		topics := slices.Clone(req.SubscribedTopicNames)
		slices.Sort(topics)
		topics = slices.Compact(topics)
		if !slices.Equal(topics, m.SubscribedTopics) || m.SubscribedRegex != "" {
			m.SubscribedTopics, m.SubscribedRegex, m.re = topics, "", nil
			changed = true
		}
	}
	if r := req.SubscribedTopicRegex; r != nil && (*r != m.SubscribedRegex || len(m.SubscribedTopics) > 0) {
		m.SubscribedRegex, m.SubscribedTopics, m.re = *r, nil, nil
		if *r != "" {
			m.re, _ = compileTopicRegex(*r) // checked by CheckConsumerHeartbeat
		}
		changed = true
	}
	if a := req.ServerAssignor; a != nil && *a != m.Assignor {
		m.Assignor = *a
		changed = true
	}
	if changed {
		cg.chooseAssignor()
	}
	return changed
}

// chooseAssignor is Kafka's choice of the group's assignor: the one most
// members ask for (ties by name), uniform when none asks.
func (cg *consumerGroup) chooseAssignor() {
	votes := map[string]int{}
	for _, m := range cg.members {
		if m.Assignor != "" {
			votes[m.Assignor]++
		}
	}
	best, most := AssignorUniform, 0
	for _, name := range slices.Sorted(maps.Keys(votes)) {
		if votes[name] > most {
			best, most = name, votes[name]
		}
	}
	cg.assignor = best
}

// subscribedTopic is a topic the group subscribes to, as the assignors
// see it.
type subscribedTopic struct {
	name  string
	id    metadata.TopicID
	parts int32
}

// resolve returns the topics each member subscribes to (by name, regular
// expressions matched against every topic), the topics themselves sorted
// by name, and the hash that names them.
func (cg *consumerGroup) resolve() (subs map[string]map[string]bool, topics []subscribedTopic, hash string) {
	c := cg.g.s.c
	var all []*partition.Topic
	regex := false
	for _, m := range cg.members {
		regex = regex || m.re != nil
	}
	if at, ok := c.topics.(AllTopics); ok && regex {
		all = at.Topics()
	}
	subs = make(map[string]map[string]bool, len(cg.members))
	found := map[string]subscribedTopic{}
	for id, m := range cg.members {
		mine := map[string]bool{}
		for _, name := range m.SubscribedTopics {
			if t := c.topics.Topic(name); t != nil && name != metadata.OffsetsTopic {
				mine[name] = true
				found[name] = subscribedTopic{name: name, id: t.Meta.ID, parts: int32(len(t.Parts))}
			}
		}
		if m.re != nil {
			for _, t := range all {
				if name := t.Meta.Name; name != metadata.OffsetsTopic && m.re.MatchString(name) {
					mine[name] = true
					found[name] = subscribedTopic{name: name, id: t.Meta.ID, parts: int32(len(t.Parts))}
				}
			}
		}
		subs[id] = mine
	}
	for _, name := range slices.Sorted(maps.Keys(found)) {
		t := found[name]
		topics = append(topics, t)
		hash += fmt.Sprintf("%s/%s/%d;", t.name, t.id, t.parts)
	}
	return subs, topics, hash
}

// refreshTopics recomputes the target assignment when bump is set (the
// group epoch moves on) or when the topics the group subscribes to
// changed (created, deleted, partitions added; looked at again at most
// every topicsRefresh). It reports whether it did.
func (cg *consumerGroup) refreshTopics(bump bool) bool {
	if !bump {
		if time.Since(cg.regexAt) < topicsRefresh && cg.assignmentEpoch == cg.epoch {
			return false
		}
		_, _, hash := cg.resolve()
		cg.regexAt = time.Now()
		if hash == cg.subscriptionHash && cg.assignmentEpoch == cg.epoch {
			return false
		}
	}
	cg.epoch++
	cg.g.s.c.consumerMetrics.epochs.Inc()
	cg.computeTarget()
	return true
}

// computeTarget runs the group's assignor at the group epoch.
func (cg *consumerGroup) computeTarget() {
	subs, topics, hash := cg.resolve()
	cg.regexAt = time.Now()
	cg.subscriptionHash = hash
	cg.assignmentEpoch = cg.epoch
	if len(cg.members) == 0 {
		return
	}
	in := assignInput{subs: subs, topics: topics, current: map[string]metadata.ConsumerAssignment{}}
	for id, m := range cg.members {
		in.members = append(in.members, assignMember{id: id, instanceID: m.InstanceID})
		in.current[id] = m.Target
	}
	sort.Slice(in.members, func(i, j int) bool { return in.members[i].id < in.members[j].id })
	var out map[string]metadata.ConsumerAssignment
	if cg.assignor == AssignorRange {
		out = assignRange(in)
	} else {
		out = assignUniform(in)
	}
	for id, m := range cg.members {
		m.Target = out[id]
	}
}

// owners maps every partition a member owns or is revoking to it.
func (cg *consumerGroup) owners() map[topicPartition]string {
	out := map[topicPartition]string{}
	for id, m := range cg.members {
		for _, a := range []metadata.ConsumerAssignment{m.Assigned, m.Revoking} {
			for t, ps := range a {
				for _, p := range ps {
					out[topicPartition{t, p}] = id
				}
			}
		}
	}
	return out
}

// reconcile moves m towards its target (Kafka's CurrentAssignmentBuilder);
// owned is what the member reports it owns (nil: not reported). It
// reports whether m changed.
func (cg *consumerGroup) reconcile(m *consumerMember, owned []kmsg.ConsumerGroupHeartbeatRequestTopic) bool {
	switch m.State {
	case memberStable:
		if m.Epoch == cg.assignmentEpoch {
			return false
		}
	case memberUnrevoked:
		if owned == nil || ownsAny(owned, m.Revoking) {
			return false // it has not revoked them yet
		}
	}
	before := m.ConsumerGroupMember
	cg.nextAssignment(m)
	return before.Epoch != m.Epoch || before.State != m.State ||
		!sameAssignment(before.Assigned, m.Assigned) || !sameAssignment(before.Revoking, m.Revoking)
}

func ownsAny(owned []kmsg.ConsumerGroupHeartbeatRequestTopic, a metadata.ConsumerAssignment) bool {
	for _, t := range owned {
		for _, p := range t.Partitions {
			if slices.Contains(a[t.TopicID], p) {
				return true
			}
		}
	}
	return false
}

// nextAssignment is Kafka's computeNextAssignment: m keeps what it has of
// its target; partitions it has outside its target are to be revoked
// first (its epoch stays); once it has none, it gets the partitions of its
// target that nobody else owns any more, at the assignment epoch.
func (cg *consumerGroup) nextAssignment(m *consumerMember) {
	owners := cg.owners()
	keep := metadata.ConsumerAssignment{}
	revoke := metadata.ConsumerAssignment{}
	unreleased := false
	assigned := 0
	for t, ps := range m.Assigned {
		for _, p := range ps {
			if slices.Contains(m.Target[t], p) {
				keep[t] = append(keep[t], p)
			} else {
				revoke[t] = append(revoke[t], p)
			}
		}
	}
	next := metadata.ConsumerAssignment{}
	for t, ps := range keep {
		next[t] = slices.Clone(ps)
	}
	for t, ps := range m.Target {
		for _, p := range ps {
			if slices.Contains(m.Assigned[t], p) {
				continue
			}
			if owner := owners[topicPartition{t, p}]; owner != "" && owner != m.ID {
				unreleased = true
				continue
			}
			next[t] = append(next[t], p)
			assigned++
		}
	}
	setEpoch := func(e int32) {
		if m.Epoch != e {
			m.PreviousEpoch, m.Epoch = m.Epoch, e
		}
	}
	switch {
	case len(revoke) > 0:
		m.Assigned, m.Revoking, m.State = normalize(keep), normalize(revoke), memberUnrevoked
	case unreleased:
		setEpoch(cg.assignmentEpoch)
		m.Assigned, m.Revoking, m.State = normalize(next), nil, memberUnreleased
	default:
		setEpoch(cg.assignmentEpoch)
		m.Assigned, m.Revoking, m.State = normalize(next), nil, memberStable
	}
}

// normalize sorts an assignment's lists and drops empty topics; nil when
// empty.
func normalize(a metadata.ConsumerAssignment) metadata.ConsumerAssignment {
	var out metadata.ConsumerAssignment
	for t, ps := range a {
		if len(ps) == 0 {
			continue
		}
		if out == nil {
			out = metadata.ConsumerAssignment{}
		}
		ps = slices.Clone(ps)
		slices.Sort(ps)
		out[t] = slices.Compact(ps)
	}
	return out
}

func sameAssignment(a, b map[metadata.TopicID][]int32) bool {
	if len(a) != len(b) {
		return false
	}
	for t, ps := range a {
		if !slices.Equal(ps, b[t]) {
			return false
		}
	}
	return true
}

func responseAssignment(a metadata.ConsumerAssignment) *kmsg.ConsumerGroupHeartbeatResponseAssignment {
	out := &kmsg.ConsumerGroupHeartbeatResponseAssignment{Topics: []kmsg.ConsumerGroupHeartbeatResponseAssignmentTopic{}}
	for _, t := range sortedTopicIDs(a) {
		at := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
		at.TopicID, at.Partitions = t, a[t]
		out.Topics = append(out.Topics, at)
	}
	return out
}

func sortedTopicIDs(a metadata.ConsumerAssignment) []metadata.TopicID {
	ids := slices.Collect(maps.Keys(a))
	slices.SortFunc(ids, func(x, y metadata.TopicID) int { return slices.Compare(x[:], y[:]) })
	return ids
}

// state is Kafka's state of a consumer group.
func (cg *consumerGroup) state() string {
	switch {
	case len(cg.members) == 0:
		return "Empty"
	case cg.epoch != cg.assignmentEpoch:
		return "Assigning"
	}
	for _, m := range cg.members {
		if m.State != memberStable || (m.Epoch != cg.assignmentEpoch && m.Epoch != staticLeaveEpoch) {
			return "Reconciling"
		}
	}
	return "Stable"
}

// IsConsumer reports whether the group is a KIP-848 consumer group.
func (g *Group) IsConsumer() bool { return g.consumer != nil }

// Type is the group's type as ListGroups reports it: "consumer" for a
// KIP-848 group, else "classic".
func (g *Group) Type() string {
	if g.consumer != nil {
		return "consumer"
	}
	return "classic"
}

// StateName is the group's state as ListGroups and DescribeGroups report
// it, for either type.
func (g *Group) StateName() string {
	if g.consumer != nil {
		return g.consumer.state()
	}
	return g.state.String()
}

// hasConsumerMembers reports whether the group is a consumer group with
// members (not Empty, for DeleteGroups).
func (g *Group) hasConsumerMembers() bool { return g.consumer != nil && len(g.consumer.members) > 0 }

// DescribeConsumer fills a ConsumerGroupDescribe answer; false when the
// group is not a consumer group (GROUP_ID_NOT_FOUND). name resolves topic
// ids.
func (g *Group) DescribeConsumer(dg *kmsg.ConsumerGroupDescribeResponseGroup, name func(metadata.TopicID) string) bool {
	cg := g.consumer
	if cg == nil {
		return false
	}
	dg.State, dg.Epoch, dg.AssignmentEpoch, dg.AssignorName = cg.state(), cg.epoch, cg.assignmentEpoch, cg.assignor
	for _, id := range slices.Sorted(maps.Keys(cg.members)) {
		m := cg.members[id]
		dm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
		dm.MemberID, dm.InstanceID, dm.RackID, dm.MemberEpoch = m.ID, m.InstanceID, m.RackID, m.Epoch
		dm.ClientID, dm.ClientHost = m.ClientID, m.ClientHost
		dm.SubscribedTopics = slices.Clone(m.SubscribedTopics)
		if dm.SubscribedTopics == nil {
			dm.SubscribedTopics = []string{}
		}
		if m.SubscribedRegex != "" {
			dm.SubscribedTopicRegex = kmsg.StringPtr(m.SubscribedRegex)
		}
		dm.MemberType = 1 // consumer protocol
		if m.Classic != nil {
			dm.MemberType = 0 // classic protocol (consumer_migrate.go)
		}
		dm.Assignment = describeAssignment(m.Assigned, name)
		dm.TargetAssignment = describeAssignment(m.Target, name)
		dg.Members = append(dg.Members, dm)
	}
	return true
}

func describeAssignment(a metadata.ConsumerAssignment, name func(metadata.TopicID) string) kmsg.Assignment {
	out := kmsg.Assignment{TopicPartitions: []kmsg.AssignmentTopicPartition{}}
	for _, t := range sortedTopicIDs(a) {
		tp := kmsg.NewAssignmentTopicPartition()
		tp.TopicID, tp.Topic, tp.Partitions = t, name(t), a[t]
		out.TopicPartitions = append(out.TopicPartitions, tp)
	}
	return out
}

// trackSince records the epoch at which m got each partition it owns now.
func (m *consumerMember) trackSince() {
	if m.since == nil {
		m.since = map[topicPartition]int32{}
	}
	owned := map[topicPartition]bool{}
	for _, a := range []metadata.ConsumerAssignment{m.Assigned, m.Revoking} {
		for t, ps := range a {
			for _, p := range ps {
				tp := topicPartition{t, p}
				owned[tp] = true
				if _, ok := m.since[tp]; !ok {
					m.since[tp] = m.Epoch
				}
			}
		}
	}
	for tp := range m.since {
		if !owned[tp] {
			delete(m.since, tp)
		}
	}
}

// checkConsumerCommit is Kafka's ConsumerGroup.validateOffsetCommit: a
// commit without a member (epoch < 0) only to a group without members;
// otherwise the member must exist (UNKNOWN_MEMBER_ID) and send its current
// epoch (STALE_MEMBER_EPOCH); a member of the consumer protocol must use
// OffsetCommit v9+ (UNSUPPORTED_VERSION) unless it commits in a
// transaction.
func (cg *consumerGroup) checkCommit(epoch int32, memberID string, version int16, txn bool, parts []metadata.GroupPartition) *kerr.Error {
	if epoch < 0 && len(cg.members) == 0 {
		return nil
	}
	if epoch < 0 && memberID == "" && txn {
		return nil
	}
	m := cg.members[memberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID
	case m.Classic != nil: // a classic member: its generation (consumer_migrate.go)
		if epoch != m.Epoch {
			return kerr.IllegalGeneration
		}
		return nil
	case !txn && version < 9:
		return kerr.UnsupportedVersion
	case epoch == m.Epoch:
		return nil
	case epoch > m.Epoch || parts == nil:
		return kerr.StaleMemberEpoch
	}
	// KIP-1251: an older epoch is enough for partitions the member has
	// owned since then.
	for _, gp := range parts {
		t := cg.g.s.c.topics.Topic(gp.Topic)
		if t == nil {
			return kerr.StaleMemberEpoch
		}
		tp := topicPartition{t.Meta.ID, gp.Partition}
		if !slices.Contains(m.Assigned[tp.topic], tp.part) && !slices.Contains(m.Revoking[tp.topic], tp.part) {
			return kerr.StaleMemberEpoch
		}
		if epoch < m.since[tp] {
			return kerr.StaleMemberEpoch
		}
	}
	return nil
}

// CheckConsumerFetch is Kafka's ConsumerGroup.validateOffsetFetch for
// OffsetFetch v9+: a fetch that names a member must name one the group
// has (UNKNOWN_MEMBER_ID) at its current epoch (STALE_MEMBER_EPOCH); one
// without (memberID nil, an admin) is taken. Classic groups take every
// fetch.
func (g *Group) CheckConsumerFetch(memberID *string, epoch int32) *kerr.Error {
	cg := g.consumer
	if cg == nil || memberID == nil || (epoch < 0 && *memberID == "") {
		return nil
	}
	m := cg.members[*memberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID
	case epoch != m.Epoch && m.Classic != nil:
		return kerr.IllegalGeneration
	case epoch != m.Epoch:
		return kerr.StaleMemberEpoch
	}
	return nil
}

// subscribedConsumer reports whether a member of the consumer group
// subscribes to topic (OffsetDelete's GROUP_SUBSCRIBED_TO_TOPIC).
func (cg *consumerGroup) subscribed(topic string) bool {
	for _, m := range cg.members {
		if slices.Contains(m.SubscribedTopics, topic) || (m.re != nil && m.re.MatchString(topic)) {
			return true
		}
	}
	return false
}

// classicJoinBlocked is what a classic JoinGroup meets in a consumer
// group: one with members answers GROUP_ID_NOT_FOUND (Kafka's answer when
// the group is not a classic group and no migration applies; Join hands
// such a JoinGroup to classicJoin first, consumer_migrate.go); an empty
// one becomes a classic group again, its record deleted.
func (g *Group) classicJoinBlocked() *kerr.Error {
	cg := g.consumer
	if cg == nil {
		return nil
	}
	if len(cg.members) > 0 {
		return kerr.GroupIDNotFound
	}
	cg.stop()
	g.consumer = nil
	g.s.putConsumerGroup(g.id, nil)
	return nil
}

// CheckCommitVersion is CheckCommit for an OffsetCommit of the given
// version and partitions: a consumer group checks member epochs
// (checkCommit), and a member of the consumer protocol must commit with
// v9+.
func (g *Group) CheckCommitVersion(version int16, generation int32, memberID string, instanceID *string, parts []metadata.GroupPartition) *kerr.Error {
	if cg := g.consumer; cg != nil && g.state != StateDead {
		if parts == nil {
			parts = []metadata.GroupPartition{}
		}
		return cg.checkCommit(generation, memberID, version, false, parts)
	}
	return g.CheckCommit(generation, memberID, instanceID)
}

// listedProtocolType is the protocol type ListGroups reports: "consumer"
// for a consumer group, as Kafka does.
func (g *Group) listedProtocolType() string {
	if g.consumer != nil {
		return "consumer"
	}
	return g.protocolType
}
