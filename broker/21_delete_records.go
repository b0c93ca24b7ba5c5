package broker

// DeleteRecords: v0-v2.
//
// Moves each partition's log start offset up to the offset given (-1: the
// high watermark), as Kafka does: ListOffsets earliest answers it from then
// on and a Fetch below it gets OFFSET_OUT_OF_RANGE. The manifest entries
// wholly below it are deleted in the same epoch-guarded etcd transaction, as
// retention deletes them (tiering.Schedules.Truncate); their objects are
// left for garbage collection. An offset above the high watermark gets
// OFFSET_OUT_OF_RANGE; one below the log start changes nothing and returns
// the current low watermark. Only the leader
// answers (NOT_LEADER_OR_FOLLOWER elsewhere). Each topic needs DELETE
// (TOPIC_AUTHORIZATION_FAILED for its partitions).

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/partition"
)

func handleDeleteRecords(ctx context.Context, c *conn, req *kmsg.DeleteRecordsRequest, resp *kmsg.DeleteRecordsResponse) {
	b := c.srv
	if req.TimeoutMillis > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(req.TimeoutMillis)*time.Millisecond)
		defer cancel()
	}
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		ta := c.topicAccess(kmsg.ACLOperationDelete, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition, sp.LowWatermark = rp.Partition, -1
			p, e := ta.partition(rp.Partition)
			switch {
			case e != nil:
				sp.ErrorCode = e.Code
			case ta.t.Meta.Name == metadata.OffsetsTopic:
				sp.ErrorCode = kerr.InvalidTopicException.Code
			default:
				low, err := b.deleteRecords(ctx, p, rp.Offset)
				sp.LowWatermark, sp.ErrorCode = low, kerrCode(err)
				if sp.ErrorCode == kerr.UnknownServerError.Code {
					b.log.Error("delete records", "topic", rt.Topic, "partition", rp.Partition, "error", err)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
}

// deleteRecords moves p's log start up to offset (-1: the high watermark)
// and returns the log start then.
func (b *server) deleteRecords(ctx context.Context, p *partition.Partition, offset int64) (int64, error) {
	if _, err := p.CheckLeaderEpoch(-1); err != nil {
		return -1, err
	}
	logStart, hwm := p.Offsets()
	switch {
	case offset == -1:
		offset = hwm
	case offset < 0 || offset > hwm:
		return -1, kerr.OffsetOutOfRange
	case offset <= logStart:
		return logStart, nil
	}
	epoch, drop := p.Below(offset)
	if epoch == 0 {
		return -1, kerr.NotLeaderForPartition
	}
	st, err := b.truncate(ctx, p, epoch, offset, drop)
	if err != nil {
		return -1, err
	}
	b.log.Info("deleted records", "topic", p.Topic(), "partition", p.Key().Partition, "log_start", st.LogStartOffset)
	return st.LogStartOffset, nil
}
