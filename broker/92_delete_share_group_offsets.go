package broker

// DeleteShareGroupOffsets: v0 (KIP-932).
//
// Deletes a share group's stored share-partition states of whole topics:
// the group's next delivery there starts again by its
// share.auto.offset.reset. On the group's coordinator (NOT_COORDINATOR
// elsewhere), for a share group without members, as in Kafka:
// NON_EMPTY_GROUP while members are active, GROUP_ID_NOT_FOUND for a
// classic or consumer group, or a group that is no share group here. Per
// topic: TOPIC_AUTHORIZATION_FAILED without READ on it,
// UNKNOWN_TOPIC_OR_PARTITION for a topic that does not exist or of which
// the group has no state ("There is no offset information to delete.", as
// Kafka says), KAFKA_STORAGE_ERROR when etcd fails. Needs DELETE on the
// group (GROUP_AUTHORIZATION_FAILED). The partitions' leaders notice the
// deletion through the keys' etcd revisions
// (coordinator/share_partitions.go).

import (
	"context"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/metadata"
)

func handleDeleteShareGroupOffsets(ctx context.Context, c *conn, req *kmsg.DeleteShareGroupOffsetsRequest, resp *kmsg.DeleteShareGroupOffsetsResponse) {
	id := req.GroupID
	switch {
	case !c.allowed(kmsg.ACLOperationDelete, kmsg.ACLResourceTypeGroup, id):
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return
	case strings.TrimSpace(id) == "":
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return
	}
	stored, code := emptyShareGroup(ctx, c, id)
	if code != nil {
		resp.ErrorCode = code.Code
		return
	}
	byTopic := map[metadata.TopicID][]metadata.PartitionKey{}
	for _, st := range stored {
		byTopic[st.Partition.Topic] = append(byTopic[st.Partition.Topic], st.Partition)
	}
	for _, rt := range req.Topics {
		t := kmsg.NewDeleteShareGroupOffsetsResponseTopic()
		t.Topic = rt.Topic
		topic, code := adminShareTopic(ctx, c, rt.Topic)
		msg := ""
		if topic != nil {
			t.TopicID = topic.Meta.ID
			parts := byTopic[topic.Meta.ID]
			switch {
			case len(parts) == 0:
				code, msg = kerr.UnknownTopicOrPartition, "There is no offset information to delete."
			default:
				if err := c.srv.store.DeleteShareStates(ctx, id, parts); err != nil {
					c.srv.log.Warn("delete share group offsets", "group", id, "topic", rt.Topic, "error", err)
					code = kerr.KafkaStorageError
				}
				delete(byTopic, topic.Meta.ID) // a topic named twice is deleted once
			}
		}
		if code != nil {
			if msg == "" {
				msg = code.Description
			}
			t.ErrorCode, t.ErrorMessage = code.Code, &msg
		}
		resp.Topics = append(resp.Topics, t)
	}
	c.srv.log.Info("deleted share group offsets", "group", id)
}

// deleteShareGroup is DeleteGroups' part for a group id that is no classic
// or consumer group: it returns the wait part that deletes the share group
// if it is one without members (emptyShareGroup's errors, as DeleteGroups
// answers them), with its share-partition states and configs in etcd, and
// forgets it on this broker. Later reads of group state on the connection
// (ListGroups) wait for it.
func (c *conn) deleteShareGroup(id string) func(context.Context) error {
	landed := c.trackGroupWrite()
	return func(ctx context.Context) error {
		defer landed()
		stored, code := emptyShareGroup(ctx, c, id)
		if code != nil {
			return code
		}
		parts := make([]metadata.PartitionKey, 0, len(stored))
		for _, st := range stored {
			parts = append(parts, st.Partition)
		}
		if err := c.srv.store.DeleteShareStates(ctx, id, parts); err != nil {
			c.srv.log.Warn("delete share group", "group", id, "error", err)
			return kerr.KafkaStorageError
		}
		if err := c.srv.store.DeleteShareGroupConfig(ctx, id); err != nil {
			c.srv.log.Warn("delete share group configs", "group", id, "error", err)
			return kerr.KafkaStorageError
		}
		c.srv.groups.Shares().ForgetGroup(id)
		return nil
	}
}
