package broker

// CreatePartitions: v0-v3.
//
// Raises a topic's partition count (INVALID_PARTITIONS when the count does not
// grow or exceeds the limit; POLICY_VIOLATION for every topic of a request
// that adds more than 10,000 partitions over them all, as CreateTopics);
// new partitions are led at once. A manual
// assignment needs one replica list per new partition, each naming
// registered brokers once, all of one length (else INVALID_REPLICA_ASSIGNMENT
// with Kafka's messages); each list is kept with the topic and its first
// broker is the new partition's preferred leader (assignments.go). Each topic needs
// ALTER (TOPIC_AUTHORIZATION_FAILED, before its existence is looked at).

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/partition"
)

func handleCreatePartitions(ctx context.Context, c *conn, req *kmsg.CreatePartitionsRequest, resp *kmsg.CreatePartitionsResponse) {
	b := c.srv
	// The partitions a request adds are bounded as CreateTopics' are
	// (maxPartitionsPerRequest); a topic grows past that a request at a
	// time. Counted from the topics as this broker knows them; addPartitions
	// checks each topic again against its stored count.
	total := 0
	for _, rt := range req.Topics {
		if t := b.topics.Topic(rt.Topic); t != nil && rt.Count > t.Meta.Partitions {
			total += int(rt.Count - t.Meta.Partitions)
		}
	}
	if total > maxPartitionsPerRequest {
		for _, rt := range req.Topics {
			st := kmsg.NewCreatePartitionsResponseTopic()
			st.Topic = rt.Topic
			setErr(&st.ErrorCode, &st.ErrorMessage, kerr.PolicyViolation, errTooManyPartitions)
			resp.Topics = append(resp.Topics, st)
		}
		return
	}
	var grown []*partition.Topic
	defer func() { b.waitLeaders(ctx, req.TimeoutMillis, grown) }()
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		if !c.allowed(kmsg.ACLOperationAlter, kmsg.ACLResourceTypeTopic, rt.Topic) {
			st.ErrorCode = kerr.TopicAuthorizationFailed.Code
			resp.Topics = append(resp.Topics, st)
			continue
		}
		var assignment [][]int32
		for _, a := range rt.Assignment {
			assignment = append(assignment, append([]int32{}, a.Replicas...))
		}
		err := b.addPartitions(ctx, rt.Topic, rt.Count, assignment, req.ValidateOnly)
		var ke *kerr.Error
		var ae *errAssignment
		switch {
		case errors.As(err, &ae):
			setErr(&st.ErrorCode, &st.ErrorMessage, ae.err, ae.msg)
		case err == nil:
			if t := b.topics.Topic(rt.Topic); t != nil && !req.ValidateOnly {
				grown = append(grown, t)
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

// addPartitions raises topic name's partition count to count; assignment,
// if any, has the new partitions' replica lists.
func (b *server) addPartitions(ctx context.Context, name string, count int32, assignment [][]int32, validateOnly bool) error {
	return b.topics.UpdateTopic(ctx, name, validateOnly, func(mt *metadata.Topic) error {
		switch {
		case name == metadata.OffsetsTopic:
			return fmt.Errorf("%w: the partitions of the internal topic %s are the consumer groups' coordinator shards; their number is fixed", kerr.InvalidPartitions, name)
		case count <= mt.Partitions:
			return fmt.Errorf("%w: topic %s has %d partitions; the count can only grow", kerr.InvalidPartitions, name, mt.Partitions)
		case count > maxPartitions:
			return fmt.Errorf("%w: at most %d partitions", kerr.InvalidPartitions, maxPartitions)
		case count-mt.Partitions > maxPartitionsPerRequest:
			return fmt.Errorf("%w: %s", kerr.PolicyViolation, errTooManyPartitions)
		}
		if len(assignment) > 0 {
			if add := int(count - mt.Partitions); len(assignment) != add {
				return badAssignment("Attempted to add %d additional partition(s), but only %d assignment(s) were specified.", add, len(assignment))
			}
			v, _ := b.topics.View()
			if err := checkAssignment(v, assignment); err != nil {
				return err
			}
			replicas := make([][]int32, mt.Partitions, count)
			copy(replicas, mt.Replicas)
			mt.Replicas = append(replicas, assignment...)
		}
		if !validateOnly {
			b.log.Info("adding partitions", "topic", name, "partitions", count)
		}
		mt.Partitions = count
		return nil
	})
}
