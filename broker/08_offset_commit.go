package broker

// OffsetCommit: v0-v9.
//
// Commits a group's offsets to etcd (under the group's coordinator shard,
// guarded by the shard's epoch) and answers once they are there; commits
// arriving together share one etcd transaction. One connection's commits
// land in request order, pipelined ones too (librdkafka's asynchronous
// commits): each is checked and queued in its ordered part (conn.go) and
// waited for concurrently. A member must be of the current generation
// (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID,
// REBALANCE_IN_PROGRESS while the group syncs, as Kafka validates); a
// commit with no generation and no member id (a simple consumer such as
// kcat, or an admin tool) is taken for a group with no members, and
// creates it; one naming a generation for a group that does
// not exist gets GROUP_ID_NOT_FOUND (ILLEGAL_GENERATION before v9). Each
// partition gets its own code: UNKNOWN_TOPIC_OR_PARTITION for a topic or
// partition that does not exist, OFFSET_METADATA_TOO_LARGE past 4 KiB of
// metadata (Kafka's offset.metadata.max.bytes). It needs READ on the group
// (GROUP_AUTHORIZATION_FAILED for every partition, and the group is not
// touched) and READ on each topic (TOPIC_AUTHORIZATION_FAILED for its
// partitions). Deviation: the retention time of v2-v4 is ignored;
// committed offsets are kept until the group is deleted.

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/coordinator"
	"github.com/strata-io/strata/metadata"
)

// handleOffsetCommit validates the commit and queues its write in the
// ordered part, so that one connection's commits land in request order and
// pipelined ones share etcd transactions; the wait part waits for it.
func handleOffsetCommit(c *conn, kreq kmsg.Request) func(context.Context) kmsg.Response {
	req := kreq.(*kmsg.OffsetCommitRequest)
	b := c.srv
	// codes[i][j] is the answer for req.Topics[i].Partitions[j]; the
	// partitions left at -1 are committed.
	codes := make([][]int16, len(req.Topics))
	if !c.allowed(kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group) {
		for i, rt := range req.Topics {
			codes[i] = make([]int16, len(rt.Partitions))
			for j := range codes[i] {
				codes[i][j] = kerr.GroupAuthorizationFailed.Code
			}
		}
		return func(context.Context) kmsg.Response { return offsetCommitResponse(req, codes, nil) }
	}
	now := time.Now().UnixMilli()
	write := metadata.GroupWrite{Group: req.Group, Offsets: map[metadata.GroupPartition]*metadata.CommittedOffset{}}
	for i, rt := range req.Topics {
		codes[i] = make([]int16, len(rt.Partitions))
		ct := c.commitTopic(rt.Topic)
		for j, rp := range rt.Partitions {
			if codes[i][j] = ct.commitCode(rp.Partition, rp.Metadata); codes[i][j] == -1 {
				write.Offsets[metadata.GroupPartition{Topic: rt.Topic, Partition: rp.Partition}] = &metadata.CommittedOffset{
					Offset: rp.Offset, LeaderEpoch: rp.LeaderEpoch, Metadata: rp.Metadata, CommitTime: now,
				}
			}
		}
	}
	var s *coordinator.Shard
	var code *kerr.Error
	err := b.groups.WithGroup(req.Group, req.Generation < 0, func(sh *coordinator.Shard, g *coordinator.Group) {
		s = sh
		if g == nil {
			// No such group, and the commit names a generation: Kafka
			// answers GROUP_ID_NOT_FOUND from v9, ILLEGAL_GENERATION before.
			code = kerr.IllegalGeneration
			if req.Version >= 9 {
				code = kerr.GroupIDNotFound
			}
			return
		}
		code = g.CheckCommitVersion(req.Version, req.Generation, req.MemberID, req.InstanceID, slices.Collect(maps.Keys(write.Offsets))) // KIP-848: member epochs
	})
	outcome := c.queueOffsets(s, write, err, code)
	return func(ctx context.Context) kmsg.Response { return offsetCommitResponse(req, codes, outcome(ctx)) }
}

// commitTopic looks a committed topic up, in etcd too, if the principal
// may READ it; it is one topic of an offset commit, plain or
// transactional.
func (c *conn) commitTopic(name string) topicAccess {
	ta := topicAccess{allowed: c.allowed(kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, name)}
	if ta.allowed {
		ta.t, _ = c.srv.topics.Lookup(c.ctx, name)
	}
	return ta
}

// commitCode is Kafka's check of one committed partition: the topic
// readable, the partition existing outside the internal topic, its
// metadata within coordinator.MaxOffsetMetadata. It returns the
// partition's error code, or -1 when its offset is to be written.
func (ta topicAccess) commitCode(partition int32, md *string) int16 {
	_, e := ta.partition(partition)
	switch {
	case e != nil:
		return e.Code
	case ta.t.Meta.Name == metadata.OffsetsTopic:
		return kerr.UnknownTopicOrPartition.Code
	case md != nil && len(*md) > coordinator.MaxOffsetMetadata:
		return kerr.OffsetMetadataTooLarge.Code
	}
	return -1
}

// settle gives the partitions in codes still left at -1 (to be written) the
// outcome of their write: code's, or 0 for nil.
func settle(codes [][]int16, code *kerr.Error) {
	var c int16
	if code != nil {
		c = code.Code
	}
	for i := range codes {
		for j := range codes[i] {
			if codes[i][j] == -1 {
				codes[i][j] = c
			}
		}
	}
}

// offsetCommitResponse answers each partition with its code in codes, or,
// where that is -1 (committed), with code (nil: no error): it settles
// codes.
func offsetCommitResponse(req *kmsg.OffsetCommitRequest, codes [][]int16, code *kerr.Error) *kmsg.OffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	settle(codes, code)
	for i, rt := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for j, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = codes[i][j]
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
