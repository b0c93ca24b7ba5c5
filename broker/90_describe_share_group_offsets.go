package broker

// DescribeShareGroupOffsets: v0-v1 (KIP-932).
//
// Each share group's start offset (SPSO) per partition, as stored in etcd
// (every acknowledgement that was answered is stored), from the group's
// coordinator (NOT_COORDINATOR elsewhere). Null topics: every partition the
// group has a state of. A topic with no partitions listed: all of its
// partitions. A partition without a state has start offset -1. Lag (v1) is
// the records from the start offset to the high watermark not yet
// acknowledged or archived, when this broker leads the partition; -1
// otherwise (a deviation: Kafka asks the leader). Needs DESCRIBE on the
// group and on each topic.

import (
	"context"
	"encoding/json"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/partition"
)

func handleDescribeShareGroupOffsets(ctx context.Context, c *conn, req *kmsg.DescribeShareGroupOffsetsRequest, resp *kmsg.DescribeShareGroupOffsetsResponse) {
	co := c.srv.groups
	for _, rg := range req.Groups {
		g := kmsg.NewDescribeShareGroupOffsetsResponseGroup()
		g.GroupID = rg.GroupID
		resp.Groups = append(resp.Groups, describeShareOffsets(ctx, c, co != nil, rg, g))
	}
}

func describeShareOffsets(ctx context.Context, c *conn, ok bool, rg kmsg.DescribeShareGroupOffsetsRequestGroup, g kmsg.DescribeShareGroupOffsetsResponseGroup) kmsg.DescribeShareGroupOffsetsResponseGroup {
	if !c.allowed(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, rg.GroupID) {
		g.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return g
	}
	if !ok {
		g.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return g
	}
	if _, err := c.srv.groups.ShareGroupMembers(rg.GroupID); err != nil {
		g.ErrorCode = kerrCode(err)
		return g
	}
	stored, err := c.srv.store.ShareStatesOfGroup(ctx, rg.GroupID)
	if err != nil {
		g.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return g
	}
	states := map[metadata.PartitionKey]partition.ShareSnapshot{}
	for _, st := range stored {
		var snap partition.ShareSnapshot
		if json.Unmarshal(st.Value, &snap) == nil {
			states[st.Partition] = snap
		}
	}
	type want struct {
		topic string
		parts []int32
	}
	var wants []want
	if rg.Topics == nil {
		byTopic := map[string][]int32{}
		for k := range states {
			if t := c.srv.topics.TopicByID(k.Topic); t != nil {
				byTopic[t.Meta.Name] = append(byTopic[t.Meta.Name], k.Partition)
			}
		}
		for name, ps := range byTopic {
			sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
			wants = append(wants, want{name, ps})
		}
		sort.Slice(wants, func(i, j int) bool { return wants[i].topic < wants[j].topic })
	} else {
		for _, rt := range rg.Topics {
			wants = append(wants, want{rt.Topic, rt.Partitions})
		}
	}
	for _, w := range wants {
		rt := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopic()
		rt.Topic = w.topic
		denied := !c.allowed(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, w.topic)
		if denied && rg.Topics == nil {
			continue
		}
		t := c.srv.topics.Topic(w.topic)
		if t == nil && !denied {
			if lt, err := c.srv.topics.Lookup(ctx, w.topic); err == nil {
				t = lt
			}
		}
		parts := w.parts
		if len(parts) == 0 && t != nil {
			for i := range t.Parts {
				parts = append(parts, int32(i))
			}
		}
		if t != nil {
			rt.TopicID = t.Meta.ID
		}
		for _, n := range parts {
			rp := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopicPartition()
			rp.Partition, rp.StartOffset, rp.LeaderEpoch, rp.Lag = n, -1, -1, -1
			switch {
			case denied:
				rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case t == nil || t.Partition(n) == nil:
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				p := t.Partition(n)
				if snap, ok := states[p.Key()]; ok {
					rp.StartOffset = snap.Start
					if _, led := p.Led(); led {
						_, hwm := p.Offsets()
						lag := hwm - snap.Start
						for _, r := range snap.Ranges {
							if r.State == partition.ShareAcknowledged || r.State == partition.ShareArchived {
								lag -= min(r.Last+1, hwm) - min(r.First, hwm)
							}
						}
						rp.Lag = max(lag, 0)
					}
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		g.Topics = append(g.Topics, rt)
	}
	return g
}
