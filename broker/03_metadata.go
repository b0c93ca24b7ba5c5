package broker

// Metadata: v0-v12.
//
// Returns this cluster's live brokers, the controller and the requested
// topics with their partitions, leaders and leader epochs, all from the
// broker's watched view of etcd (so every broker gives the same answer, a
// few milliseconds apart). Strata does not replicate between
// brokers, so each partition's replica and ISR lists hold only its leader.
// Unknown topics are created when auto-creation is on and the request allows
// it (v4+; always for v0-v3), as Kafka's auto.create.topics.enable. A
// partition whose leadership is not yet acquired, or not yet loaded by this
// broker, reports LEADER_NOT_AVAILABLE.
// Topic ids are returned from v10; requests by topic id (v10+) are resolved.
// Topics the principal may not DESCRIBE are left out of an all-topics
// answer and answer TOPIC_AUTHORIZATION_FAILED when named (with no id when
// named, no name when asked by id); auto-creation needs CREATE on the
// cluster or the topic (else TOPIC_AUTHORIZATION_FAILED). Authorized
// operations (v8+) are filled in when asked, the cluster's only with
// DESCRIBE on it (else 0), as in Kafka.

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/partition"
)

func handleMetadata(ctx context.Context, c *conn, req *kmsg.MetadataRequest, resp *kmsg.MetadataResponse) {
	b := c.srv
	v, _ := b.topics.View()
	resp.ClusterID = &b.clusterID
	resp.ControllerID = b.controllerID(v)
	resp.Brokers = b.metadataBrokers(v, c.listener)

	if req.IncludeClusterAuthorizedOperations && req.Version <= 10 {
		resp.AuthorizedOperations = c.clusterAuthorizedOps()
	}
	// withOps adds the topic's authorized operations when the request asks.
	withOps := func(mt kmsg.MetadataResponseTopic) kmsg.MetadataResponseTopic {
		if req.IncludeTopicAuthorizedOperations && mt.Topic != nil {
			mt.AuthorizedOperations = c.authorizedOps(kmsg.ACLResourceTypeTopic, *mt.Topic)
		}
		return mt
	}
	describe := func(name string) bool { return c.allowed(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, name) }
	denied := func(name *string, id [16]byte, internal bool) kmsg.MetadataResponseTopic {
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic, mt.TopicID, mt.IsInternal = name, id, internal
		mt.ErrorCode = kerr.TopicAuthorizationFailed.Code
		return mt
	}

	allowCreate := b.cfg.AutoCreateTopics && (req.Version < 4 || req.AllowAutoTopicCreation)
	if req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0) {
		for _, t := range b.topics.Topics() {
			if describe(t.Meta.Name) {
				resp.Topics = append(resp.Topics, withOps(b.metadataTopic(v, t)))
			}
		}
		return
	}
	for _, rt := range req.Topics {
		var t *partition.Topic
		var err error
		switch {
		case rt.Topic != nil:
			name := *rt.Topic
			if !describe(name) {
				// Existence is not revealed, nor the id.
				resp.Topics = append(resp.Topics, denied(rt.Topic, [16]byte{}, false))
				continue
			}
			t, err = b.topics.Lookup(ctx, name)
			if errors.Is(err, metadata.ErrUnknownTopic) && allowCreate {
				if !c.allowedOnCluster(kmsg.ACLOperationCreate) && !c.allowed(kmsg.ACLOperationCreate, kmsg.ACLResourceTypeTopic, name) {
					resp.Topics = append(resp.Topics, denied(rt.Topic, [16]byte{}, name == metadata.OffsetsTopic))
					continue
				}
				t, err = b.createTopic(ctx, name, b.cfg.DefaultPartitions, nil, nil)
				if err == nil {
					b.waitLeaders(ctx, 0, []*partition.Topic{t})
				}
				if errors.Is(err, metadata.ErrTopicExists) {
					t, err = b.topics.Lookup(ctx, name)
				}
			}
		default:
			t = b.topics.TopicByID(metadata.TopicID(rt.TopicID))
			if t == nil {
				err = kerr.UnknownTopicID
			} else if !describe(t.Meta.Name) {
				// Ids are not secret; the name is not given.
				resp.Topics = append(resp.Topics, denied(nil, rt.TopicID, false))
				continue
			}
		}
		if err == nil {
			// A topic just created has leaders in a newer view.
			v, _ = b.topics.View()
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
			resp.Topics = append(resp.Topics, withOps(mt))
			continue
		}
		resp.Topics = append(resp.Topics, withOps(b.metadataTopic(v, t)))
	}
}

// controllerID is the elected controller, or this broker while none is:
// Strata serves admin requests on every broker, and clients need some id.
func (b *server) controllerID(v *metadata.View) int32 {
	if v.Controller < 0 {
		return b.id
	}
	return v.Controller
}

// metadataBrokers lists the live brokers with the addresses they advertise
// on listener ln, as Kafka does: a broker without that listener is left out.
func (b *server) metadataBrokers(v *metadata.View, ln *listener) []kmsg.MetadataResponseBroker {
	live := slices.SortedFunc(maps.Values(v.Brokers), func(x, y metadata.Broker) int { return cmp.Compare(x.ID, y.ID) })
	if _, ok := v.Brokers[b.id]; !ok {
		// Registration not visible yet (or lost): still describe ourselves.
		live = append(live, b.registration())
	}
	out := make([]kmsg.MetadataResponseBroker, 0, len(live))
	for _, lb := range live {
		addr, ok := b.brokerAddr(v, lb.ID, ln)
		if !ok {
			continue
		}
		host, port := splitHostPort(addr)
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

// brokerAddr is the address broker id advertises on listener ln.
func (b *server) brokerAddr(v *metadata.View, id int32, ln *listener) (string, bool) {
	if id == b.id {
		return ln.advertised, true
	}
	lb, live := v.Brokers[id]
	if !live {
		return "", false
	}
	return lb.ListenerAddr(ln.Name)
}

func (b *server) metadataTopic(v *metadata.View, t *partition.Topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Meta.Name
	mt.Topic = &name
	mt.TopicID = t.Meta.ID
	mt.IsInternal = name == metadata.OffsetsTopic
	// Allocated once per topic, not per partition (a topic may have
	// thousands): each partition's replica and ISR lists are the same
	// one-element slice of leaders, only read when the answer is encoded.
	mt.Partitions = make([]kmsg.MetadataResponseTopicPartition, len(t.Parts))
	leaders := make([]int32, len(t.Parts))
	for i, p := range t.Parts {
		mp := &mt.Partitions[i]
		mp.Default()
		mp.Partition = p.Key().Partition
		if l, ok := b.topics.Leader(v, p); ok {
			mp.Leader = l.Broker
			mp.LeaderEpoch = l.LeaderEpoch
			leaders[i] = l.Broker
			mp.Replicas = leaders[i : i+1 : i+1]
			mp.ISR = mp.Replicas
		} else {
			mp.Leader, mp.LeaderEpoch = -1, -1
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
			mp.Replicas, mp.ISR = []int32{}, []int32{}
		}
	}
	return mt
}
