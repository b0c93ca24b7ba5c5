package broker

// ListOffsets: v1-v6.
//
// Timestamp -2 (earliest) answers the log start offset, -1 (latest) the high
// watermark, or with isolation_level 1 (read_committed) the last stable
// offset. A timestamp at or above 0 answers the first committed record
// whose timestamp is at least that timestamp, and its timestamp (-1, -1
// when there is none, or, for read_committed, when that record is at or
// above the last stable offset), as Kafka's time index does: manifest
// entries and batch headers carry max timestamps, so archived segments are
// searched without reading them all, and only the batch holding the answer
// is decoded.
//
// That batch's records are decoded as a stream, within
// batch.MaxDecompressedBytes (a batch is a client's claim: a few hundred KB
// of gzip can inflate to gigabytes). A batch that does not decode, or
// decompresses past the limit, answers its partition CORRUPT_MESSAGE, as
// Kafka answers a read that meets a CorruptRecordException; the broker and
// the other partitions carry on. Errors reading the log remain
// KAFKA_STORAGE_ERROR.
//
// Each topic needs DESCRIBE (TOPIC_AUTHORIZATION_FAILED for its
// partitions, before its existence is looked at).
//
// ListOffsets only reads, and may read the object store: it runs whole
// concurrently with the connection's later requests (conn.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/internal/batch"
)

func handleListOffsets(ctx context.Context, c *conn, req *kmsg.ListOffsetsRequest, resp *kmsg.ListOffsetsResponse) {
	b := c.srv
	resp.Topics = make([]kmsg.ListOffsetsResponseTopic, 0, len(req.Topics))
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.ListOffsetsResponseTopicPartition, 0, len(rt.Partitions))
		ta := c.topicAccess(kmsg.ACLOperationDescribe, rt.Topic)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Offset, sp.Timestamp = -1, -1
			switch p, e := ta.partition(rp.Partition); {
			case e != nil:
				sp.ErrorCode = e.Code
			default:
				leaderEpoch, err := p.CheckLeaderEpoch(rp.CurrentLeaderEpoch)
				if err != nil {
					sp.ErrorCode = kerrCode(err)
					break
				}
				sp.LeaderEpoch = leaderEpoch
				logStart, hwm := p.Offsets()
				switch rp.Timestamp {
				case -2:
					sp.Offset = logStart
				case -1:
					sp.Offset = hwm
					if req.IsolationLevel == 1 {
						sp.Offset = p.LastStableOffset()
					}
				default:
					if rp.Timestamp < 0 {
						sp.ErrorCode = kerr.InvalidRequest.Code // -3 (max timestamp) needs v7
						break
					}
					off, ts, err := p.OffsetForTime(ctx, b.reader, rp.Timestamp)
					switch {
					case err == nil && req.IsolationLevel == 1 && off >= p.LastStableOffset():
						// Not stable yet: none, as Kafka answers.
					case err == nil:
						sp.Offset, sp.Timestamp = off, ts
					case batch.IsCorrupt(err):
						b.log.Warn("list offsets by time: a batch does not decode", "topic", rt.Topic, "partition", rp.Partition,
							"timestamp", rp.Timestamp, "error", err)
						sp.ErrorCode = kerr.CorruptMessage.Code
					default:
						b.log.Error("list offsets by time", "topic", rt.Topic, "partition", rp.Partition, "error", err)
						sp.ErrorCode = kerr.KafkaStorageError.Code
					}
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
}
