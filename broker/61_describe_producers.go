package broker

// DescribeProducers: v0.
//
// For each requested partition that this broker leads: its producers'
// ids, epochs and last sequences (-1: none since the last epoch change),
// the timestamp of the last batch and the coordinator epoch of the last
// marker appended by this leader (-1 when not known: neither is in the
// committed state a new leader starts from), and the first offset of each
// one's ongoing transaction (-1: none). A partition led elsewhere is
// NOT_LEADER_OR_FOLLOWER, an unknown one UNKNOWN_TOPIC_OR_PARTITION. Each
// topic needs READ (TOPIC_AUTHORIZATION_FAILED for its partitions), as in
// Kafka.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleDescribeProducers(_ context.Context, c *conn, req *kmsg.DescribeProducersRequest, resp *kmsg.DescribeProducersResponse) {
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		ta := c.topicAccess(kmsg.ACLOperationRead, rt.Topic)
		for _, part := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = part
			switch p, e := ta.partition(part); {
			case e != nil:
				sp.ErrorCode = e.Code
			default:
				producers, err := p.Producers()
				if err != nil {
					sp.ErrorCode = kerrCode(err)
					break
				}
				for _, pi := range producers {
					ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
					ap.ProducerID, ap.ProducerEpoch = pi.ProducerID, int32(pi.Epoch)
					ap.LastSequence, ap.LastTimestamp = pi.LastSequence, pi.LastTimestamp
					ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = pi.CoordinatorEpoch, pi.TxnStartOffset
					sp.ActiveProducers = append(sp.ActiveProducers, ap)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
}
