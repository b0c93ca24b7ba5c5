package broker

// OffsetForLeaderEpoch: v0-v4.
//
// Answers, from the leader epoch history that is committed in etcd with the
// partition's state, the largest leader epoch at most the requested one and
// the offset where the epoch after it began; for the current epoch, the
// high watermark. A consumer uses it after a leader change (KIP-320) to check
// that the records it has read were not truncated; since Strata hands over a
// partition at its committed high watermark, they never are, and the answer
// is at or past the consumer's position. Epochs older than the history kept
// (128 epochs) answer with the requested epoch and the oldest known start,
// as Kafka does. The current leader epoch is checked as Fetch does (v2+).
// Each topic needs DESCRIBE (TOPIC_AUTHORIZATION_FAILED for its partitions).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleOffsetForLeaderEpoch(_ context.Context, c *conn, req *kmsg.OffsetForLeaderEpochRequest, resp *kmsg.OffsetForLeaderEpochResponse) {
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		ta := c.topicAccess(kmsg.ACLOperationDescribe, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			if p, e := ta.partition(rp.Partition); e != nil {
				sp.ErrorCode = e.Code
			} else if _, err := p.CheckLeaderEpoch(rp.CurrentLeaderEpoch); err != nil {
				sp.ErrorCode = kerrCode(err)
			} else {
				sp.LeaderEpoch, sp.EndOffset = p.EpochEnd(rp.LeaderEpoch)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
}
