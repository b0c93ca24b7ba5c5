package broker

// OffsetFetch: v0-v9 (every offset of a group with a null topic list from
// v2; many groups in one request from v8).
//
// Answers from the coordinator's memory, which holds what etcd holds. A
// partition without a committed offset gets offset -1, as in Kafka; so does
// every partition of a group that does not exist. Pending transactional
// offsets (TxnOffsetCommit) are never shown; with require_stable (v7+), a
// partition that has some, of any producer, gets UNSTABLE_OFFSET_COMMIT
// and offset -1 (the client retries until the transaction ends), as in
// Kafka; without it, the committed offset. It answers once the commits queued by the connection's earlier requests
// have landed, so a commit followed by an OffsetFetch reads the commit
// (conn.go). A group needs DESCRIBE (GROUP_AUTHORIZATION_FAILED: for the
// group from v8, at the top level from v2, on each partition asked for
// before), each topic asked for DESCRIBE (TOPIC_AUTHORIZATION_FAILED for its
// partitions); the topics the principal may not DESCRIBE are left out of
// an answer with every offset.

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/coordinator"
	"github.com/strata-io/strata/metadata"
)

// fetchedOffsets is one group's answer, by topic then partition.
type fetchedOffsets struct {
	code   int16
	topics []string
	parts  map[string][]fetchedOffset
}

type fetchedOffset struct {
	partition int32
	o         metadata.CommittedOffset
	found     bool
	code      int16
}

// missingOffset is the answer for a partition without a committed offset.
var missingOffset = metadata.CommittedOffset{Offset: -1, LeaderEpoch: -1, Metadata: kmsg.StringPtr("")}

// addFailed answers every partition of topic with code.
func (f *fetchedOffsets) addFailed(topic string, parts []int32, code int16) {
	f.parts[topic] = nil
	for _, p := range parts {
		f.parts[topic] = append(f.parts[topic], fetchedOffset{partition: p, o: missingOffset, code: code})
	}
}

// sort orders f's topics and their partitions, and gives each offset
// metadata (null is not sent).
func (f *fetchedOffsets) sort() {
	f.topics = f.topics[:0]
	for topic, ps := range f.parts {
		f.topics = append(f.topics, topic)
		sort.Slice(ps, func(i, j int) bool { return ps[i].partition < ps[j].partition })
		for i := range ps {
			if ps[i].o.Metadata == nil {
				ps[i].o.Metadata = kmsg.StringPtr("")
			}
		}
	}
	sort.Strings(f.topics)
}

func handleOffsetFetch(_ context.Context, c *conn, req *kmsg.OffsetFetchRequest, resp *kmsg.OffsetFetchResponse) {
	groups := req.Groups
	if req.Version < 8 { // one group, in the request's top-level fields
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group = req.Group
		if req.Topics != nil || req.Version < 2 { // null (every offset) only from v2
			rg.Topics = []kmsg.OffsetFetchRequestGroupTopic{}
			for _, rt := range req.Topics {
				gt := kmsg.NewOffsetFetchRequestGroupTopic()
				gt.Topic, gt.Partitions = rt.Topic, rt.Partitions
				rg.Topics = append(rg.Topics, gt)
			}
		}
		groups = []kmsg.OffsetFetchRequestGroup{rg}
	}
	describe := func(rt kmsg.ACLResourceType, name string) bool { return c.allowed(kmsg.ACLOperationDescribe, rt, name) }
	for _, rg := range groups {
		var f fetchedOffsets
		if !describe(kmsg.ACLResourceTypeGroup, rg.Group) {
			f = fetchedOffsets{code: kerr.GroupAuthorizationFailed.Code, parts: map[string][]fetchedOffset{}}
			if req.Version < 2 { // no group-level code: each partition asked for carries it
				for _, rt := range rg.Topics {
					f.addFailed(rt.Topic, rt.Partitions, f.code)
				}
			}
		} else {
			var want map[string][]int32
			denied := map[string][]int32{}
			if rg.Topics != nil {
				want = map[string][]int32{}
				for _, rt := range rg.Topics {
					if describe(kmsg.ACLResourceTypeTopic, rt.Topic) {
						want[rt.Topic] = append(want[rt.Topic], rt.Partitions...)
					} else {
						denied[rt.Topic] = append(denied[rt.Topic], rt.Partitions...)
					}
				}
			}
			f = c.srv.fetchOffsets(rg.Group, want, req.Version >= 7 && req.RequireStable)
			if req.Version >= 9 { // KIP-848: the member and its epoch (68_consumer_group_heartbeat.go)
				if code := c.srv.checkFetchMember(rg); code != nil {
					f = fetchedOffsets{code: code.Code, parts: map[string][]fetchedOffset{}}
					want = map[string][]int32{}
				}
			}
			if want == nil {
				for topic := range f.parts {
					if !describe(kmsg.ACLResourceTypeTopic, topic) {
						delete(f.parts, topic)
					}
				}
			}
			for topic, parts := range denied {
				f.addFailed(topic, parts, kerr.TopicAuthorizationFailed.Code)
			}
		}
		f.sort()
		g := kmsg.NewOffsetFetchResponseGroup()
		g.Group, g.ErrorCode = rg.Group, f.code
		for _, topic := range f.topics {
			rt := kmsg.NewOffsetFetchResponseGroupTopic()
			rt.Topic = topic
			for _, fo := range f.parts[topic] {
				rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = fo.partition, fo.o.Offset, fo.o.LeaderEpoch, fo.o.Metadata
				rp.ErrorCode = fo.code
				if req.Version < 2 && f.code != 0 {
					rp.ErrorCode = f.code // v0-v1 have no group-level code
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			g.Topics = append(g.Topics, rt)
		}
		resp.Groups = append(resp.Groups, g)
	}
	if req.Version < 8 {
		g := resp.Groups[0]
		resp.Groups, resp.ErrorCode = nil, g.ErrorCode
		for _, gt := range g.Topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = gt.Topic
			for _, gp := range gt.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata, rp.ErrorCode = gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata, gp.ErrorCode
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	}
}

// fetchOffsets reads a group's committed offsets of the partitions in want,
// or every one when want is nil; the caller sorts the answer. With
// requireStable, a partition with pending transactional offsets gets
// UNSTABLE_OFFSET_COMMIT instead of its offset.
func (b *server) fetchOffsets(id string, want map[string][]int32, requireStable bool) fetchedOffsets {
	f := fetchedOffsets{parts: map[string][]fetchedOffset{}}
	err := b.groups.WithGroup(id, false, func(_ *coordinator.Shard, g *coordinator.Group) {
		unstable := func(fo *fetchedOffset, gp metadata.GroupPartition) {
			if requireStable && g.Unstable(gp) {
				fo.o, fo.found, fo.code = missingOffset, false, kerr.UnstableOffsetCommit.Code
			}
		}
		if want == nil {
			if g == nil {
				return
			}
			g.Offsets(func(gp metadata.GroupPartition, o metadata.CommittedOffset) {
				fo := fetchedOffset{partition: gp.Partition, o: o, found: true}
				unstable(&fo, gp)
				f.parts[gp.Topic] = append(f.parts[gp.Topic], fo)
			})
			return
		}
		for topic, parts := range want {
			for _, p := range parts {
				fo := fetchedOffset{partition: p, o: missingOffset}
				if g != nil {
					gp := metadata.GroupPartition{Topic: topic, Partition: p}
					fo.o, fo.found = g.Offset(gp)
					if !fo.found {
						fo.o = missingOffset
					}
					unstable(&fo, gp)
				}
				f.parts[topic] = append(f.parts[topic], fo)
			}
		}
	})
	if err != nil {
		f.code = kerrCode(err)
		for topic, parts := range want { // every partition asked for, with the error
			f.addFailed(topic, parts, 0)
		}
	}
	return f
}
