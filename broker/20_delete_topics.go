package broker

// DeleteTopics: v0-v6 (by name, or by topic id from v6).
//
// Removes the topic and all its partition keys (leaders, manifests, states)
// from etcd; its objects are left for garbage collection. Unknown topics get
// UNKNOWN_TOPIC_OR_PARTITION (UNKNOWN_TOPIC_ID by id); the internal topic
// __consumer_offsets gets INVALID_TOPIC_EXCEPTION. Each topic needs DELETE on
// the cluster or on the topic (TOPIC_AUTHORIZATION_FAILED); as in Kafka,
// only a principal that may DESCRIBE the topic learns that it does not
// exist, and one asking by id learns its name.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/metadata"
)

func handleDeleteTopics(ctx context.Context, c *conn, req *kmsg.DeleteTopicsRequest, resp *kmsg.DeleteTopicsResponse) {
	b := c.srv
	targets := req.Topics
	if req.Version < 6 {
		targets = nil
		for _, name := range req.TopicNames {
			rt := kmsg.NewDeleteTopicsRequestTopic()
			n := name
			rt.Topic = &n
			targets = append(targets, rt)
		}
	}
	clusterDelete := c.allowedOnCluster(kmsg.ACLOperationDelete)
	for _, rt := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		name := ""
		if rt.Topic != nil {
			name = *rt.Topic
		} else if t := b.topics.TopicByID(metadata.TopicID(rt.TopicID)); t != nil {
			name = t.Meta.Name
			st.Topic = &name
		} else {
			st.ErrorCode = kerr.UnknownTopicID.Code
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if !clusterDelete && !c.allowed(kmsg.ACLOperationDelete, kmsg.ACLResourceTypeTopic, name) {
			describable := c.allowed(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, name)
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
			switch _, err := b.topics.Lookup(ctx, name); {
			case rt.Topic == nil && !describable:
				st.Topic = nil // the name is not revealed
			case rt.Topic != nil && describable && errors.Is(err, metadata.ErrUnknownTopic):
				st.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
			resp.Topics = append(resp.Topics, st)
			continue
		}
		if t, err := b.topics.Lookup(ctx, name); err == nil {
			st.TopicID = t.Meta.ID
		}
		if name == metadata.OffsetsTopic {
			setErr(&st.ErrorCode, &st.ErrorMessage, kerr.InvalidTopicException, "the internal topic "+name+" holds the consumer-group coordinators and cannot be deleted")
			resp.Topics = append(resp.Topics, st)
			continue
		}
		err := b.store.DeleteTopic(ctx, name)
		switch {
		case errors.Is(err, metadata.ErrUnknownTopic):
			st.ErrorCode = kerr.UnknownTopicOrPartition.Code
		case err != nil:
			b.log.Error("delete topic", "topic", name, "error", err)
			st.ErrorCode = kerr.UnknownServerError.Code
		default:
			b.topics.Remove(name)
			b.log.Info("deleted topic", "topic", name)
		}
		resp.Topics = append(resp.Topics, st)
	}
}
