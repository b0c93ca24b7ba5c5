package broker

// DescribeTopicPartitions: v0 (KIP-966).
//
// Metadata of topics' partitions, paginated: the named topics (every topic
// the principal may DESCRIBE, for none named), in name order, their
// partitions in order, from the cursor (topic, first partition), at most
// ResponsePartitionLimit partitions (capped at 2000, Kafka's
// max.request.partition.size.limit default). When partitions are left,
// NextCursor names the first of them. As in Metadata, each partition's
// replica and ISR lists hold only its leader (Strata keeps one copy);
// eligible-leader lists are empty and a partition not yet led is
// LEADER_NOT_AVAILABLE with leader -1. A named topic that does not exist
// is UNKNOWN_TOPIC_OR_PARTITION, one the principal may not DESCRIBE
// TOPIC_AUTHORIZATION_FAILED; a cursor naming a topic not in the request
// is INVALID_REQUEST for every topic, as in Kafka.

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/metadata"
)

// maxDescribePartitions is Kafka's max.request.partition.size.limit default.
const maxDescribePartitions = 2000

func handleDescribeTopicPartitions(_ context.Context, c *conn, req *kmsg.DescribeTopicPartitionsRequest, resp *kmsg.DescribeTopicPartitionsResponse) {
	b := c.srv
	v, _ := b.topics.View()
	describe := func(name string) bool { return c.allowed(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, name) }
	failed := func(name string, e *kerr.Error) kmsg.DescribeTopicPartitionsResponseTopic {
		rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
		rt.Topic, rt.ErrorCode = &name, e.Code
		return rt
	}

	var names []string
	if len(req.Topics) == 0 {
		for name := range v.Topics {
			if describe(name) {
				names = append(names, name)
			}
		}
	} else {
		for _, rt := range req.Topics {
			if !slices.Contains(names, rt.Topic) {
				names = append(names, rt.Topic)
			}
		}
	}
	slices.Sort(names)
	if req.Cursor != nil && len(req.Topics) > 0 && !slices.Contains(names, req.Cursor.Topic) {
		for _, name := range names {
			resp.Topics = append(resp.Topics, failed(name, kerr.InvalidRequest))
		}
		return
	}

	limit := int(req.ResponsePartitionLimit)
	if limit <= 0 || limit > maxDescribePartitions {
		limit = maxDescribePartitions
	}
	for _, name := range names {
		start := int32(0)
		if req.Cursor != nil {
			if name < req.Cursor.Topic {
				continue
			}
			if name == req.Cursor.Topic {
				start = max(req.Cursor.Partition, 0)
			}
		}
		t, known := v.Topics[name]
		switch {
		case !describe(name):
			resp.Topics = append(resp.Topics, failed(name, kerr.TopicAuthorizationFailed))
			continue
		case !known:
			resp.Topics = append(resp.Topics, failed(name, kerr.UnknownTopicOrPartition))
			continue
		}
		if limit == 0 {
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: start}
			break
		}
		rt := kmsg.NewDescribeTopicPartitionsResponseTopic()
		rt.Topic, rt.TopicID = &name, t.ID
		rt.IsInternal = name == metadata.OffsetsTopic
		rt.AuthorizedOperations = c.authorizedOps(kmsg.ACLResourceTypeTopic, name)
		p := start
		for ; p < t.Partitions && limit > 0; p++ {
			rt.Partitions = append(rt.Partitions, describedPartition(v, t.ID, p))
			limit--
		}
		resp.Topics = append(resp.Topics, rt)
		if p < t.Partitions {
			resp.NextCursor = &kmsg.DescribeTopicPartitionsResponseNextCursor{Topic: name, Partition: p}
			break
		}
	}
}

// describedPartition is partition p of topic id as the view has it.
func describedPartition(v *metadata.View, id metadata.TopicID, p int32) kmsg.DescribeTopicPartitionsResponseTopicPartition {
	dp := kmsg.NewDescribeTopicPartitionsResponseTopicPartition()
	dp.Partition = p
	dp.EligibleLeaderReplicas, dp.LastKnownELR, dp.OfflineReplicas = []int32{}, []int32{}, []int32{}
	l, ok := v.Leaders[metadata.PartitionKey{Topic: id, Partition: p}]
	if _, live := v.Brokers[l.Broker]; ok && live {
		dp.LeaderID, dp.LeaderEpoch = l.Broker, l.LeaderEpoch
		dp.Replicas, dp.ISR = []int32{l.Broker}, []int32{l.Broker}
	} else {
		dp.ErrorCode = kerr.LeaderNotAvailable.Code
		dp.LeaderID, dp.LeaderEpoch = -1, -1
		dp.Replicas, dp.ISR = []int32{}, []int32{}
	}
	return dp
}
