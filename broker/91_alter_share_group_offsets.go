package broker

// AlterShareGroupOffsets: v0 (KIP-932).
//
// Sets a share group's start offset (SPSO) on partitions: the stored
// share-partition state becomes that start with nothing in flight, so that
// the group's next delivery there starts at it. On the group's coordinator
// (NOT_COORDINATOR elsewhere), for a share group without members, as in
// Kafka: NON_EMPTY_GROUP while members are active, GROUP_ID_NOT_FOUND for a
// classic or consumer group, or a group that is no share group here (no
// members and no stored state). Per partition: TOPIC_AUTHORIZATION_FAILED
// without READ on the topic, UNKNOWN_TOPIC_OR_PARTITION for a topic or
// partition that does not exist, INVALID_REQUEST for a negative offset,
// KAFKA_STORAGE_ERROR when etcd fails. An offset below the log start is
// moved up to it at the next delivery; one above the high watermark waits
// for the log to reach it. Needs READ on the group
// (GROUP_AUTHORIZATION_FAILED). The partitions' leaders hold the states in
// memory: they notice the change through the key's etcd revision
// (coordinator/share_partitions.go) and read it again.

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/coordinator"
	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/partition"
)

func handleAlterShareGroupOffsets(ctx context.Context, c *conn, req *kmsg.AlterShareGroupOffsetsRequest, resp *kmsg.AlterShareGroupOffsetsResponse) {
	id := req.GroupID
	switch {
	case !c.allowed(kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, id):
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return
	case strings.TrimSpace(id) == "":
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return
	}
	if _, code := emptyShareGroup(ctx, c, id); code != nil {
		resp.ErrorCode = code.Code
		return
	}
	for _, rt := range req.Topics {
		t := kmsg.NewAlterShareGroupOffsetsResponseTopic()
		t.Topic = rt.Topic
		topic, tcode := adminShareTopic(ctx, c, rt.Topic)
		if topic != nil {
			t.TopicID = topic.Meta.ID
		}
		for _, rp := range rt.Partitions {
			p := kmsg.NewAlterShareGroupOffsetsResponseTopicPartition()
			p.Partition = rp.Partition
			code := tcode
			switch {
			case code != nil:
			case topic.Partition(rp.Partition) == nil:
				code = kerr.UnknownTopicOrPartition
			case rp.StartOffset < 0:
				code = kerr.InvalidRequest
			default:
				val, _ := json.Marshal(partition.ShareSnapshot{Start: rp.StartOffset})
				if err := c.srv.store.PutShareState(ctx, topic.Partition(rp.Partition).Key(), id, val); err != nil {
					c.srv.log.Warn("alter share group offsets", "group", id, "topic", rt.Topic, "partition", rp.Partition, "error", err)
					code = kerr.KafkaStorageError
				}
			}
			if code != nil {
				p.ErrorCode, p.ErrorMessage = code.Code, kmsg.StringPtr(code.Description)
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	c.srv.log.Info("altered share group offsets", "group", id)
}

// emptyShareGroup checks, on the group's coordinator, that id is a share
// group without members, as AlterShareGroupOffsets,
// DeleteShareGroupOffsets and DeleteGroups need, and returns its stored
// share-partition states. Errors: the coordinator's (NOT_COORDINATOR, …);
// GROUP_ID_NOT_FOUND when id is a classic or consumer group, or no share
// group (no membership on this coordinator and no stored state: membership
// is kept in memory, the states in etcd); NON_EMPTY_GROUP when it has
// members; COORDINATOR_NOT_AVAILABLE when etcd cannot be read.
func emptyShareGroup(ctx context.Context, c *conn, id string) ([]metadata.StoredShareState, *kerr.Error) {
	co := c.srv.groups
	if co == nil {
		return nil, kerr.CoordinatorNotAvailable
	}
	other := false
	if err := co.WithGroup(id, false, func(_ *coordinator.Shard, g *coordinator.Group) {
		other = g != nil && g.State() != coordinator.StateDead
	}); err != nil {
		return nil, asKerr(err)
	}
	if other {
		return nil, kerr.GroupIDNotFound
	}
	st, err := co.DescribeShareGroup(id)
	if err != nil {
		return nil, asKerr(err)
	}
	if st != nil && len(st.Members) > 0 {
		return nil, kerr.NonEmptyGroup
	}
	stored, err := c.srv.store.ShareStatesOfGroup(ctx, id)
	if err != nil {
		c.srv.log.Warn("read share states", "group", id, "error", err)
		return nil, kerr.CoordinatorNotAvailable
	}
	if st == nil && len(stored) == 0 {
		return nil, kerr.GroupIDNotFound
	}
	return stored, nil
}

// adminShareTopic resolves a topic of a share group admin request, which
// needs READ on it: TOPIC_AUTHORIZATION_FAILED, UNKNOWN_TOPIC_OR_PARTITION.
func adminShareTopic(ctx context.Context, c *conn, name string) (*partition.Topic, *kerr.Error) {
	if !c.allowed(kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, name) {
		return nil, kerr.TopicAuthorizationFailed
	}
	t := c.srv.topics.Topic(name)
	if t == nil {
		if lt, err := c.srv.topics.Lookup(ctx, name); err == nil {
			t = lt
		}
	}
	if t == nil {
		return nil, kerr.UnknownTopicOrPartition
	}
	return t, nil
}
