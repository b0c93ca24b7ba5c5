package broker

// Metadata: v0-v12.
//
// Returns this cluster's live brokers (from their etcd registrations), the
// controller (this broker, for now), and the requested topics with their
// partitions, leaders and leader epochs. Strata does not replicate between
// brokers, so each partition's replica and ISR lists hold only its leader.
// Unknown topics are created when auto-creation is on and the request allows
// it (v4+; always for v0-v3), as Kafka's auto.create.topics.enable. A
// partition whose leadership is not yet acquired reports LEADER_NOT_AVAILABLE.
// Topic ids are returned from v10; requests by topic id (v10+) are resolved.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/metadata"
)

func init() { register(3, 0, 12, async(handleMetadata)) }

func handleMetadata(ctx context.Context, c *conn, req *kmsg.MetadataRequest) kmsg.Response {
	b := c.b
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	resp.ClusterID = &b.clusterID
	resp.ControllerID = b.id
	resp.Brokers = b.metadataBrokers(ctx)

	allowCreate := b.cfg.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	var topics []*topic
	if req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0) {
		if err := b.topics.load(ctx); err != nil {
			b.log.Warn("metadata: refresh topics", "error", err)
		}
		topics = b.topics.all()
		for _, t := range topics {
			resp.Topics = append(resp.Topics, metadataTopic(t))
		}
		return resp
	}
	for _, rt := range req.Topics {
		var t *topic
		var err error
		switch {
		case rt.Topic != nil:
			t, err = b.topics.lookup(ctx, *rt.Topic)
			if errors.Is(err, metadata.ErrUnknownTopic) && allowCreate {
				t, err = b.createTopic(ctx, *rt.Topic, b.cfg.DefaultPartitions, nil)
				if errors.Is(err, metadata.ErrTopicExists) {
					t, err = b.topics.lookup(ctx, *rt.Topic)
				}
			}
		default:
			t = b.topics.getID(metadata.TopicID(rt.TopicID))
			if t == nil {
				err = kerr.UnknownTopicID
			}
		}
		if err != nil {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic, mt.TopicID = rt.Topic, rt.TopicID
			switch {
			case errors.Is(err, metadata.ErrUnknownTopic):
				mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case errors.Is(err, errInvalidTopic):
				mt.ErrorCode = kerr.InvalidTopicException.Code
			default:
				mt.ErrorCode = kerrCode(err)
				if mt.ErrorCode == kerr.UnknownServerError.Code {
					b.log.Warn("metadata: topic lookup", "error", err)
				}
			}
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		resp.Topics = append(resp.Topics, metadataTopic(t))
	}
	return resp
}

func (b *Broker) metadataBrokers(ctx context.Context) []kmsg.MetadataResponseBroker {
	live, err := b.store.Brokers(ctx)
	if err != nil || len(live) == 0 {
		// etcd unreachable or registration not visible: still describe ourselves.
		live = []metadata.Broker{{ID: b.id, Addr: b.advAddr, Rack: b.cfg.Rack}}
	}
	out := make([]kmsg.MetadataResponseBroker, 0, len(live))
	for _, lb := range live {
		host, port := splitHostPort(lb.Addr)
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port = lb.ID, host, port
		if lb.Rack != "" {
			rack := lb.Rack
			mb.Rack = &rack
		}
		out = append(out, mb)
	}
	return out
}

func metadataTopic(t *topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.meta.Name
	mt.Topic = &name
	mt.TopicID = t.meta.ID
	for _, p := range t.parts {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p.key.Partition
		epoch, led := p.leaderEpoch()
		if led {
			mp.Leader = p.leaderID()
			mp.LeaderEpoch = int32(epoch)
			mp.Replicas = []int32{mp.Leader}
			mp.ISR = []int32{mp.Leader}
		} else {
			mp.Leader, mp.LeaderEpoch = -1, -1
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
			mp.Replicas, mp.ISR = []int32{}, []int32{}
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}
