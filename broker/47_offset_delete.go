package broker

// OffsetDelete: v0.
//
// Deletes some committed offsets of a group. A group that does not exist
// gets GROUP_ID_NOT_FOUND. While a consumer group has members, offsets of
// topics they subscribe to are kept (GROUP_SUBSCRIBED_TO_TOPIC per
// partition), as in Kafka; a group of another protocol type must be empty
// (NON_EMPTY_GROUP). It needs DELETE on the group (GROUP_AUTHORIZATION_FAILED)
// and READ on each topic (TOPIC_AUTHORIZATION_FAILED for its partitions,
// whose offsets are kept).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/coordinator"
	"github.com/strata-io/strata/metadata"
)

// handleOffsetDelete looks at the group's offsets once the connection's
// earlier commits have landed, and queues the deletion, in its ordered
// part; the wait part waits for it.
func handleOffsetDelete(c *conn, kreq kmsg.Request) func(context.Context) kmsg.Response {
	req := kreq.(*kmsg.OffsetDeleteRequest)
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if !c.allowed(kmsg.ACLOperationDelete, kmsg.ACLResourceTypeGroup, req.Group) {
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return func(context.Context) kmsg.Response { return resp }
	}
	readable := make([]bool, len(req.Topics))
	for i, rt := range req.Topics {
		readable[i] = c.allowed(kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, rt.Topic)
	}
	if err := c.awaitGroupWrites(); err != nil {
		resp.ErrorCode = kerr.RequestTimedOut.Code
		return func(context.Context) kmsg.Response { return resp }
	}
	codes := make([]map[int32]int16, len(req.Topics))
	write := metadata.GroupWrite{Group: req.Group, Offsets: map[metadata.GroupPartition]*metadata.CommittedOffset{}}
	var s *coordinator.Shard
	var code *kerr.Error
	err := c.srv.groups.WithGroup(req.Group, false, func(sh *coordinator.Shard, g *coordinator.Group) {
		s = sh
		switch {
		case g == nil || g.State() == coordinator.StateDead:
			code = kerr.GroupIDNotFound
			return
		case g.State() != coordinator.StateEmpty && g.ProtocolType() != "consumer":
			code = kerr.NonEmptyGroup
			return
		}
		for i, rt := range req.Topics {
			codes[i] = map[int32]int16{}
			busy := g.State() != coordinator.StateEmpty && g.Subscribed(rt.Topic)
			for _, rp := range rt.Partitions {
				gp := metadata.GroupPartition{Topic: rt.Topic, Partition: rp.Partition}
				switch _, ok := g.Offset(gp); {
				case !readable[i]:
					codes[i][rp.Partition] = kerr.TopicAuthorizationFailed.Code
				case busy:
					codes[i][rp.Partition] = kerr.GroupSubscribedToTopic.Code
				case ok:
					write.Offsets[gp] = nil
				}
			}
		}
	})
	outcome := c.queueOffsets(s, write, err, code)
	return func(ctx context.Context) kmsg.Response {
		code := outcome(ctx)
		if code != nil {
			resp.ErrorCode = code.Code
			return resp
		}
		for i, rt := range req.Topics {
			st := kmsg.NewOffsetDeleteResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetDeleteResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, codes[i][rp.Partition]
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp
	}
}
