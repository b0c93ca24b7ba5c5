package broker

// ShareAcknowledge: v0-v1 (KIP-932).
//
// Acknowledges records a member acquired with ShareFetch: ACCEPT (done),
// RELEASE (available again, or archived at share.delivery.count.limit),
// REJECT (archived, never delivered again), GAP (no record there:
// archived). All of a partition's batches apply or none
// (INVALID_RECORD_STATE when a record is not acquired by the member,
// INVALID_REQUEST when malformed). Each partition is answered once its
// state is stored in etcd, so an answered acknowledgement survives the
// leader's death. It uses the member's share session on this broker (the
// next epoch; epoch 0 gets INVALID_SHARE_SESSION_EPOCH) and epoch -1
// closes the session, releasing the member's other records of its
// partitions. A member id that is not a member of the group gets
// UNKNOWN_MEMBER_ID on the group's coordinator (shareRequest). Needs READ
// on the group and the topics.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/coordinator"
	"github.com/strata-io/strata/partition"
)

func handleShareAcknowledge(ctx context.Context, c *conn, req *kmsg.ShareAcknowledgeRequest, resp *kmsg.ShareAcknowledgeResponse) {
	sh, group, member, lock, code := shareRequest(c, req.GroupID, req.MemberID)
	if code != 0 {
		resp.ErrorCode = code
		return
	}
	resp.AcquisitionLockTimeoutMillis = lock
	session, _, err := sh.OpenSession(group, member, req.ShareSessionEpoch, false, nil, nil)
	if err != nil {
		resp.ErrorCode = kerrCode(err)
		return
	}
	var acks []shareAcks
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			a := shareAcks{tp: coordinator.ShareTP{Topic: rt.TopicID, Partition: rp.Partition}}
			for _, b := range rp.AcknowledgementBatches {
				a.batches = append(a.batches, partition.ShareAckBatch{First: b.FirstOffset, Last: b.LastOffset, Types: b.AcknowledgeTypes})
			}
			acks = append(acks, a)
		}
	}
	codes := applyShareAcks(ctx, c, sh, group, member, acks)(ctx)
	for _, rt := range req.Topics {
		t := kmsg.NewShareAcknowledgeResponseTopic()
		t.TopicID = rt.TopicID
		for _, rp := range rt.Partitions {
			p := kmsg.NewShareAcknowledgeResponseTopicPartition()
			p.Partition = rp.Partition
			p.ErrorCode = codes[coordinator.ShareTP{Topic: rt.TopicID, Partition: rp.Partition}]
			p.CurrentLeader.LeaderID, p.CurrentLeader.LeaderEpoch = -1, -1
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	if req.ShareSessionEpoch == -1 {
		c.shares.closed(group, member, session)
		sh.ReleaseSession(group, member, session, func(tp coordinator.ShareTP) *partition.Partition {
			p, _ := sharePartition(c, tp)
			return p
		})
	}
}
