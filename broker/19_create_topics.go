package broker

// CreateTopics: v0-v7.
//
// Validates names as Kafka does (INVALID_TOPIC_EXCEPTION), partition counts
// (INVALID_PARTITIONS; -1 means --default-partitions), and configs against the
// topic configs Strata knows (INVALID_CONFIG with the reason). The replication
// factor is accepted when -1 or positive and reported as 1: durability comes
// from the object store, not from broker replicas. A replica assignment
// must name registered brokers, each list once per broker and all of one
// length (INVALID_REPLICA_ASSIGNMENT with Kafka's messages); its first
// broker is the partition's preferred leader (assignments.go). ValidateOnly checks without
// creating. v5+ returns the topic's configs and partition count, v7 its id.
// A request that would create more than 10,000 partitions over all its
// topics creates none: every topic gets POLICY_VIOLATION, as Kafka's
// controller answers. Each topic needs CREATE on the cluster or on the topic
// (TOPIC_AUTHORIZATION_FAILED); its configs, partition count and
// replication factor are returned only with DESCRIBE_CONFIGS on it (else
// its config error code is TOPIC_AUTHORIZATION_FAILED), as in Kafka.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/partition"
)

// errInvalidTopic wraps an illegal topic name.
var errInvalidTopic = errors.New("invalid topic name")

const (
	// maxPartitionsPerRequest bounds the partitions one CreateTopics or
	// CreatePartitions request adds over all its topics, as Kafka's
	// controller does (MAX_PARTITIONS_PER_BATCH): a request above it adds
	// nothing and gets POLICY_VIOLATION. A topic grows past it a request
	// at a time.
	maxPartitionsPerRequest = 10_000
	// maxPartitions bounds one topic's partitions; Kafka has no such
	// bound, but every broker holds a few KiB per partition of the cluster
	// (docs/limits.md).
	maxPartitions = 1_000_000
)

// errTooManyPartitions is Kafka's message for a request above
// maxPartitionsPerRequest.
const errTooManyPartitions = "Excessively large number of partitions per request."

func handleCreateTopics(ctx context.Context, c *conn, req *kmsg.CreateTopicsRequest, resp *kmsg.CreateTopicsResponse) {
	b := c.srv
	seen := map[string]int{}
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	// Kafka's bound on one request, counted before anything else is
	// checked, as Kafka does: the request fails whole.
	total := 0
	for _, rt := range req.Topics {
		switch {
		case len(rt.ReplicaAssignment) > 0:
			total += len(rt.ReplicaAssignment)
		case rt.NumPartitions == -1:
			total += int(b.cfg.DefaultPartitions)
		case rt.NumPartitions > 0:
			total += int(rt.NumPartitions)
		}
	}
	if total > maxPartitionsPerRequest {
		for _, rt := range req.Topics {
			st := kmsg.NewCreateTopicsResponseTopic()
			st.Topic, st.NumPartitions, st.ReplicationFactor = rt.Topic, -1, -1
			setErr(&st.ErrorCode, &st.ErrorMessage, kerr.PolicyViolation, errTooManyPartitions)
			resp.Topics = append(resp.Topics, st)
		}
		return
	}
	clusterCreate := c.allowedOnCluster(kmsg.ACLOperationCreate)
	var created []*partition.Topic
	defer func() { b.waitLeaders(ctx, req.TimeoutMillis, created) }()
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		fail := func(e *kerr.Error, msg string) {
			st.ErrorCode = e.Code
			if msg != "" {
				st.ErrorMessage = &msg
			}
		}
		partitions := rt.NumPartitions
		if partitions == -1 {
			partitions = b.cfg.DefaultPartitions
		}
		var replicas [][]int32
		var assignErr *errAssignment
		if len(rt.ReplicaAssignment) > 0 {
			replicas, assignErr = b.requestedReplicas(rt)
			partitions = int32(len(replicas))
		}
		configs := map[string]string{}
		var cfgErr error
		for _, kc := range rt.Configs {
			if err := partition.ValidateTopicConfig(kc.Name, kc.Value); err != nil {
				cfgErr = err
				break
			}
			configs[kc.Name] = *kc.Value
		}
		switch {
		case seen[rt.Topic] > 1:
			fail(kerr.InvalidRequest, "topic "+rt.Topic+" appears more than once in the request")
		case !clusterCreate && !c.allowed(kmsg.ACLOperationCreate, kmsg.ACLResourceTypeTopic, rt.Topic):
			fail(kerr.TopicAuthorizationFailed, "Authorization failed.")
		case validTopicName(rt.Topic) != "":
			fail(kerr.InvalidTopicException, validTopicName(rt.Topic))
		case assignErr != nil:
			fail(assignErr.err, assignErr.msg)
		case partitions <= 0 || partitions > maxPartitions:
			fail(kerr.InvalidPartitions, fmt.Sprintf("partitions must be between 1 and %d, got %d", maxPartitions, rt.NumPartitions))
		case rt.ReplicationFactor == 0 || rt.ReplicationFactor < -1:
			fail(kerr.InvalidReplicationFactor, fmt.Sprintf("replication factor must be -1 or positive, got %d", rt.ReplicationFactor))
		case cfgErr != nil:
			fail(kerr.InvalidConfig, cfgErr.Error())
		case req.ValidateOnly:
			if t, _ := b.topics.Lookup(ctx, rt.Topic); t != nil {
				fail(kerr.TopicAlreadyExists, "topic "+rt.Topic+" already exists")
			}
		default:
			t, err := b.createTopic(ctx, rt.Topic, partitions, configs, replicas)
			switch {
			case errors.Is(err, metadata.ErrTopicExists):
				fail(kerr.TopicAlreadyExists, "topic "+rt.Topic+" already exists")
			case err != nil:
				b.log.Error("create topic", "topic", rt.Topic, "error", err)
				fail(kerr.UnknownServerError, err.Error())
			default:
				st.TopicID = t.Meta.ID
				created = append(created, t)
			}
		}
		switch {
		case st.ErrorCode != 0:
		case !c.allowed(kmsg.ACLOperationDescribeConfigs, kmsg.ACLResourceTypeTopic, rt.Topic):
			st.ConfigErrorCode = kerr.TopicAuthorizationFailed.Code
		default:
			st.NumPartitions, st.ReplicationFactor = partitions, 1
			for _, name := range partition.TopicConfigNames() {
				rc := kmsg.NewCreateTopicsResponseTopicConfig()
				rc.Name = name
				v, set := configs[name]
				if !set {
					var src kmsg.ConfigSource
					v, src = b.topicConfigDefault(name)
					rc.Source = int8(src)
				} else {
					rc.Source = int8(kmsg.ConfigSourceDynamicTopicConfig)
				}
				rc.Value = &v
				st.Configs = append(st.Configs, rc)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
}

// createTopic stores a new topic in etcd and installs it in the topic
// cache; waitLeaders then waits for its leaders. replicas, if any, are the
// partitions' replica lists (their preferred leaders first).
func (b *server) createTopic(ctx context.Context, name string, partitions int32, configs map[string]string, replicas [][]int32) (*partition.Topic, error) {
	if msg := validTopicName(name); msg != "" {
		return nil, fmt.Errorf("%w: %s", errInvalidTopic, msg)
	}
	mt := metadata.Topic{Name: name, ID: metadata.NewTopicID(), Partitions: partitions, Configs: configs, Replicas: replicas}
	if err := b.store.CreateTopic(ctx, mt); err != nil {
		return nil, err
	}
	b.log.Info("created topic", "topic", name, "partitions", partitions, "id", mt.ID.String())
	stored, err := b.store.Topic(ctx, name)
	if err != nil {
		return nil, err
	}
	return b.topics.Install(stored), nil
}

// waitLeaders waits a little (partition.Manager.WaitLeaders' bound, and at
// most timeoutMillis if positive: the request's timeout) for the
// controller to assign the partitions of topics just created or grown and
// their leaders to take them, so that clients can use them at once. The
// topics share one deadline: a request naming many topics waits no longer
// than one naming one.
func (b *server) waitLeaders(ctx context.Context, timeoutMillis int32, topics []*partition.Topic) {
	if len(topics) == 0 {
		return
	}
	if timeoutMillis > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(timeoutMillis)*time.Millisecond)
		defer cancel()
	}
	b.topics.WaitLeaders(ctx, topics...)
}

// requestedReplicas is a CreateTopics topic's replica assignment as replica
// lists by partition, checked as Kafka does.
func (b *server) requestedReplicas(rt kmsg.CreateTopicsRequestTopic) ([][]int32, *errAssignment) {
	if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
		return nil, &errAssignment{kerr.InvalidRequest, "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time."}
	}
	if len(rt.ReplicaAssignment) > maxPartitions {
		return nil, &errAssignment{kerr.InvalidPartitions, fmt.Sprintf("partitions must be between 1 and %d, got %d", maxPartitions, len(rt.ReplicaAssignment))}
	}
	replicas := make([][]int32, len(rt.ReplicaAssignment))
	for _, ra := range rt.ReplicaAssignment {
		if ra.Partition < 0 || int(ra.Partition) >= len(replicas) || replicas[ra.Partition] != nil {
			return nil, badAssignment("Partitions should be a consecutive 0-based integer sequence")
		}
		replicas[ra.Partition] = append([]int32{}, ra.Replicas...)
	}
	v, _ := b.topics.View()
	if err := checkAssignment(v, replicas); err != nil {
		return nil, err
	}
	return replicas, nil
}
