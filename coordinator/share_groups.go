package coordinator

// KIP-932 share groups: membership (ShareGroupHeartbeat) and assignment.
//
// A share group's members live on the coordinator shard of the group id,
// as a classic group's do, in memory only: a new coordinator answers a
// member's heartbeat GROUP_ID_NOT_FOUND and the member joins again under
// its own member id (what a share group delivers is kept by the partition
// leaders, share_partitions.go, not here, so nothing is lost).
//
// Assignment, as Kafka's simple assignor means it: every subscribed
// partition goes to at least one member, and a partition is shared when
// there are more members than partitions. Per topic, with its subscribers
// sorted by member id: when there are no more members than partitions,
// member i gets the partitions p with p mod members = i; otherwise member i
// gets partition i mod partitions. Since any member may take any record of
// a partition it is assigned, the assignment need not be sticky.

import (
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/metadata"
)

// ShareAssignor is the assignor ShareGroupDescribe names.
const ShareAssignor = "simple"

type shareMember struct {
	id, clientID, clientHost string
	rack                     *string
	epoch, prevEpoch         int32
	topics                   []string // subscribed, sorted
	assigned                 map[metadata.TopicID][]int32
	names                    map[metadata.TopicID]string
	deadline                 time.Time
}

type shareGroup struct {
	id      string
	shard   *Shard // the shard (and epoch) it was made on
	epoch   int32  // the group epoch: bumped when the assignment changes
	members map[string]*shareMember
}

// ShareHeartbeat is one ShareGroupHeartbeat, as the broker decoded it.
type ShareHeartbeat struct {
	Group, Member, ClientID, ClientHost string
	Epoch                               int32
	Rack                                *string
	Topics                              []string // nil: unchanged
}

// ShareGroupHeartbeat runs a heartbeat on the group's coordinator and fills
// in resp, or returns the coordinator error.
func (c *Coordinator) ShareGroupHeartbeat(h ShareHeartbeat, resp *kmsg.ShareGroupHeartbeatResponse) error {
	s, err := c.shardFor(h.Group)
	if err != nil {
		return err
	}
	classic := false
	if err := c.WithGroup(h.Group, false, func(_ *Shard, g *Group) { classic = g != nil }); err != nil {
		return err
	}
	cfg := c.share.config(h.Group)
	sh := c.share
	sh.mu.Lock()
	defer sh.mu.Unlock()
	resp.HeartbeatIntervalMillis = int32(cfg.heartbeat / time.Millisecond)
	if classic {
		resp.ErrorCode = kerr.GroupIDNotFound.Code // not a share group
		return nil
	}
	g := sh.groups[h.Group]
	if g != nil && g.shard != s {
		g = nil // made under a shard epoch that ended: members join again
		delete(sh.groups, h.Group)
	}
	now := time.Now()
	switch {
	case h.Epoch == 0:
		if g == nil {
			g = &shareGroup{id: h.Group, shard: s, members: map[string]*shareMember{}}
			sh.groups[h.Group] = g
		}
		m := g.members[h.Member]
		if m == nil {
			m = &shareMember{id: h.Member}
			g.members[h.Member] = m
		}
		m.topics = sortedCopy(h.Topics)
	case g == nil:
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		return nil
	case h.Epoch == -1:
		if g.members[h.Member] == nil {
			resp.ErrorCode = kerr.UnknownMemberID.Code
			return nil
		}
		delete(g.members, h.Member)
		c.reassignShare(g)
		resp.MemberID, resp.MemberEpoch = &h.Member, -1
		return nil
	default:
		m := g.members[h.Member]
		if m == nil {
			resp.ErrorCode = kerr.UnknownMemberID.Code
			return nil
		}
		if h.Epoch != m.epoch && h.Epoch != m.prevEpoch {
			resp.ErrorCode = kerr.FencedMemberEpoch.Code
			return nil
		}
		if h.Topics != nil {
			m.topics = sortedCopy(h.Topics)
		}
	}
	m := g.members[h.Member]
	m.clientID, m.clientHost, m.deadline = h.ClientID, h.ClientHost, now.Add(cfg.session)
	if h.Rack != nil {
		m.rack = h.Rack
	}
	c.reassignShare(g)
	before := m.epoch
	if m.epoch != g.epoch {
		m.prevEpoch, m.epoch = m.epoch, g.epoch
	}
	resp.MemberID, resp.MemberEpoch = &h.Member, m.epoch
	if h.Topics != nil || h.Epoch == 0 || m.epoch != before {
		a := &kmsg.ShareGroupHeartbeatResponseAssignment{}
		for _, id := range sortedIDs(m.assigned) {
			tp := kmsg.NewShareGroupHeartbeatResponseAssignmentTopicPartition()
			tp.TopicID, tp.Partitions = id, m.assigned[id]
			a.TopicPartitions = append(a.TopicPartitions, tp)
		}
		resp.Assignment = a
	}
	return nil
}

// reassignShare computes the group's assignment from its members'
// subscriptions and the topics as this broker knows them, and bumps the
// group epoch when it changed. c.share.mu is held.
func (c *Coordinator) reassignShare(g *shareGroup) {
	ids := make([]string, 0, len(g.members))
	subs := map[string][]string{} // topic → subscribers, sorted
	for id := range g.members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		for _, t := range g.members[id].topics {
			subs[t] = append(subs[t], id)
		}
	}
	next := map[string]map[metadata.TopicID][]int32{}
	names := map[metadata.TopicID]string{}
	for _, id := range ids {
		next[id] = map[metadata.TopicID][]int32{}
	}
	for topic, members := range subs {
		t := c.topics.Topic(topic)
		if t == nil || len(t.Parts) == 0 || topic == metadata.OffsetsTopic {
			continue
		}
		tid, np, nm := t.Meta.ID, len(t.Parts), len(members)
		names[tid] = topic
		for i, id := range members {
			if nm <= np {
				for p := i; p < np; p += nm {
					next[id][tid] = append(next[id][tid], int32(p))
				}
			} else {
				next[id][tid] = []int32{int32(i % np)}
			}
		}
	}
	changed := false
	for _, id := range ids {
		m := g.members[id]
		if !sameAssignment(m.assigned, next[id]) {
			changed = true
		}
		m.assigned, m.names = next[id], names
	}
	if changed || g.epoch == 0 {
		g.epoch++
	}
}

// expireShareMembers removes the members whose session ended, and the
// groups of shards this broker no longer leads. c.share.mu is held.
func (c *Coordinator) expireShareMembers(now time.Time) {
	for id, g := range c.share.groups {
		if g.shard.ctx.Err() != nil {
			delete(c.share.groups, id)
			continue
		}
		gone := false
		for mid, m := range g.members {
			if now.After(m.deadline) {
				delete(g.members, mid)
				gone = true
			}
		}
		if gone {
			c.reassignShare(g)
		}
	}
}

// ShareGroupState is a share group as ShareGroupDescribe and ListGroups
// show it.
type ShareGroupState struct {
	ID      string
	State   string // Empty or Stable
	Epoch   int32
	Members []kmsg.ShareGroupDescribeResponseGroupMember
}

// DescribeShareGroup returns a share group this broker coordinates; nil
// (with no error) when there is none.
func (c *Coordinator) DescribeShareGroup(id string) (*ShareGroupState, error) {
	s, err := c.shardFor(id)
	if err != nil {
		return nil, err
	}
	sh := c.share
	sh.mu.Lock()
	defer sh.mu.Unlock()
	g := sh.groups[id]
	if g == nil || g.shard != s {
		return nil, nil
	}
	return g.state(), nil
}

func (g *shareGroup) state() *ShareGroupState {
	st := &ShareGroupState{ID: g.id, State: "Empty", Epoch: g.epoch}
	if len(g.members) > 0 {
		st.State = "Stable"
	}
	ids := make([]string, 0, len(g.members))
	for id := range g.members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		m := g.members[id]
		dm := kmsg.NewShareGroupDescribeResponseGroupMember()
		dm.MemberID, dm.RackID, dm.MemberEpoch = m.id, m.rack, m.epoch
		dm.ClientID, dm.ClientHost, dm.SubscribedTopicNames = m.clientID, m.clientHost, m.topics
		for _, tid := range sortedIDs(m.assigned) {
			tp := kmsg.NewShareGroupDescribeResponseGroupMemberAssignmentTopicPartition()
			tp.TopicID, tp.Topic, tp.Partitions = tid, m.names[tid], m.assigned[tid]
			dm.Assignment.TopicPartitions = append(dm.Assignment.TopicPartitions, tp)
		}
		st.Members = append(st.Members, dm)
	}
	return st
}

// ListShareGroups returns the share groups this broker coordinates.
func (c *Coordinator) ListShareGroups() []ShareGroupState {
	sh := c.share
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var out []ShareGroupState
	for _, g := range sh.groups {
		if g.shard.ctx.Err() == nil {
			out = append(out, *g.state())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// ShareGroupMembers reports whether a share group coordinated here has
// members (it then may not be deleted nor its offsets altered), or the
// coordinator error.
func (c *Coordinator) ShareGroupMembers(id string) (bool, error) {
	st, err := c.DescribeShareGroup(id)
	if err != nil {
		return false, err
	}
	return st != nil && len(st.Members) > 0, nil
}

func sortedCopy(s []string) []string {
	out := slices.Clone(s)
	sort.Strings(out)
	return slices.Compact(out)
}

func sortedIDs(m map[metadata.TopicID][]int32) []metadata.TopicID {
	ids := make([]metadata.TopicID, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return string(ids[i][:]) < string(ids[j][:]) })
	return ids
}

// Member reports whether member is a member of the share group id,
// when this broker coordinates the group (decided); a broker that does
// not coordinate it cannot tell (membership lives in the coordinator's
// memory and brokers do not call each other), and then decided is false.
// A group made under a shard epoch that ended has no members: they join
// again.
func (sh *Shares) Member(id, member string) (known, decided bool) {
	s, err := sh.c.shardFor(id)
	if err != nil {
		return false, false
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	g := sh.groups[id]
	return g != nil && g.shard == s && g.members[member] != nil, true
}
