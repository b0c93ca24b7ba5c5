package broker

// OffsetFetch: v0-v9 (every offset of a group with a null topic list from
// v2; many groups in one request from v8).
//
// Answers from the coordinator's memory, which holds what etcd holds. A
// partition without a committed offset gets offset -1, as in Kafka; so does
// every partition of a group that does not exist. Offsets are always stable
// (there are no transactions), so require_stable changes nothing. It
// answers once the commits queued by the connection's earlier requests
// have landed, so a commit followed by an OffsetFetch reads the commit
// (conn.go).

import (
	"context"
	"sort"

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
	for _, rg := range groups {
		var want map[string][]int32
		if rg.Topics != nil {
			want = map[string][]int32{}
			for _, rt := range rg.Topics {
				want[rt.Topic] = append(want[rt.Topic], rt.Partitions...)
			}
		}
		f := c.srv.fetchOffsets(rg.Group, want)
		g := kmsg.NewOffsetFetchResponseGroup()
		g.Group, g.ErrorCode = rg.Group, f.code
		for _, topic := range f.topics {
			rt := kmsg.NewOffsetFetchResponseGroupTopic()
			rt.Topic = topic
			for _, fo := range f.parts[topic] {
				rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.Metadata = fo.partition, fo.o.Offset, fo.o.LeaderEpoch, fo.o.Metadata
				if req.Version < 2 {
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
// or every one when want is nil.
func (b *server) fetchOffsets(id string, want map[string][]int32) fetchedOffsets {
	f := fetchedOffsets{parts: map[string][]fetchedOffset{}}
	missing := metadata.CommittedOffset{Offset: -1, LeaderEpoch: -1, Metadata: kmsg.StringPtr("")}
	err := b.groups.WithGroup(id, false, func(_ *coordinator.Shard, g *coordinator.Group) {
		if want == nil {
			if g == nil {
				return
			}
			g.Offsets(func(gp metadata.GroupPartition, o metadata.CommittedOffset) {
				f.parts[gp.Topic] = append(f.parts[gp.Topic], fetchedOffset{partition: gp.Partition, o: o, found: true})
			})
			return
		}
		for topic, parts := range want {
			for _, p := range parts {
				fo := fetchedOffset{partition: p, o: missing}
				if g != nil {
					fo.o, fo.found = g.Offset(metadata.GroupPartition{Topic: topic, Partition: p})
					if !fo.found {
						fo.o = missing
					}
				}
				f.parts[topic] = append(f.parts[topic], fo)
			}
		}
	})
	if err != nil {
		f.code = kerrCode(err)
		for topic, parts := range want { // every partition asked for, with the error
			f.parts[topic] = nil
			for _, p := range parts {
				f.parts[topic] = append(f.parts[topic], fetchedOffset{partition: p, o: missing})
			}
		}
	}
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
	return f
}
