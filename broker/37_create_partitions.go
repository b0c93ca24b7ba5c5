package broker

// CreatePartitions: v0-v3.
//
// Raises a topic's partition count (INVALID_PARTITIONS when the count does not
// grow or exceeds the limit); new partitions are led at once. Manual
// assignments are rejected (INVALID_REPLICA_ASSIGNMENT). Each topic needs
// ALTER (TOPIC_AUTHORIZATION_FAILED, before its existence is looked at).

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/metadata"
)

func handleCreatePartitions(ctx context.Context, c *conn, req *kmsg.CreatePartitionsRequest, resp *kmsg.CreatePartitionsResponse) {
	b := c.srv
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		if !c.allowed(kmsg.ACLOperationAlter, kmsg.ACLResourceTypeTopic, rt.Topic) {
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, st)
			continue
		}
		err := b.addPartitions(ctx, rt.Topic, rt.Count, len(rt.Assignment) > 0, req.ValidateOnly)
		var ke *kerr.Error
		switch {
		case err == nil:
			if t := b.topics.Topic(rt.Topic); t != nil && !req.ValidateOnly {
				b.topics.WaitLeaders(ctx, t.Meta.ID, t.Meta.Partitions)
			}
		case errors.Is(err, metadata.ErrUnknownTopic):
			setErr(&st.ErrorCode, &st.ErrorMessage, kerr.UnknownTopicOrPartition, "unknown topic "+rt.Topic)
		case errors.As(err, &ke):
			setErr(&st.ErrorCode, &st.ErrorMessage, ke, err.Error())
		default:
			b.log.Error("create partitions", "topic", rt.Topic, "error", err)
			setErr(&st.ErrorCode, &st.ErrorMessage, kerr.UnknownServerError, err.Error())
		}
		resp.Topics = append(resp.Topics, st)
	}
}

func (b *server) addPartitions(ctx context.Context, name string, count int32, assigned, validateOnly bool) error {
	return b.topics.UpdateTopic(ctx, name, validateOnly, func(mt *metadata.Topic) error {
		switch {
		case name == metadata.OffsetsTopic:
			return fmt.Errorf("%w: the partitions of the internal topic %s are the consumer groups' coordinator shards; their number is fixed", kerr.InvalidPartitions, name)
		case assigned:
			return fmt.Errorf("%w: Strata assigns partitions itself", kerr.InvalidReplicaAssignment)
		case count <= mt.Partitions:
			return fmt.Errorf("%w: topic %s has %d partitions; the count can only grow", kerr.InvalidPartitions, name, mt.Partitions)
		case count > maxPartitions:
			return fmt.Errorf("%w: at most %d partitions", kerr.InvalidPartitions, maxPartitions)
		}
		if !validateOnly {
			b.log.Info("adding partitions", "topic", name, "partitions", count)
		}
		mt.Partitions = count
		return nil
	})
}
