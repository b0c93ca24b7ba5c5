package broker

// Fetch: v4-v16 (topic ids from v13).
//
// Returns whole, unmodified record batches from the requested offset up to
// the high watermark — the last offset committed to the object store and etcd,
// so a consumer never sees a record that a failover could take back. The tail
// comes from the leader's memory, older offsets from the object store through
// the tiering reader's cache. At least one batch is returned per partition
// (KIP-74), then batches up to the partition and response byte limits. With
// less than MinBytes available the fetch waits up to MaxWaitMs and wakes when
// a commit lands. Fetch sessions (v7+) are not kept: the response session id
// is 0, which clients treat as "send full requests". isolation_level 1
// (read_committed) returns batches below the last stable offset only (none,
// not an error, when the fetch offset is at or above it; a long poll wakes
// at each commit, which is when the LSO moves) and the aborted transactions
// that overlap the batches returned (partition.ReadCommitted);
// last_stable_offset is the LSO at either level. Offsets outside [log start,
// high watermark] get OFFSET_OUT_OF_RANGE. Each topic needs READ
// (TOPIC_AUTHORIZATION_FAILED for its partitions; by topic id, an unknown id
// stays UNKNOWN_TOPIC_ID). Fetch only reads: it runs whole,
// long poll included, concurrently with the connection's later requests
// (conn.go).

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/metadata"
)

func handleFetch(ctx context.Context, c *conn, req *kmsg.FetchRequest, resp *kmsg.FetchResponse) {
	b := c.srv
	maxWait := time.Duration(req.MaxWaitMillis) * time.Millisecond
	deadline := time.Now().Add(maxWait)
	// Decided once: a long poll answers with the rights it started with.
	// Without an authorizer every topic may be read (denied stays nil).
	var denied []bool
	if b.authz != nil {
		denied = make([]bool, len(req.Topics))
		for i, rt := range req.Topics {
			name := rt.Topic
			if req.Version >= 13 {
				t := b.topics.Resolve(true, rt.Topic, rt.TopicID)
				if t == nil {
					continue // UNKNOWN_TOPIC_ID, whatever the rights
				}
				name = t.Meta.Name
			}
			denied[i] = !c.allowed(kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, name)
		}
	}
	for {
		signal := b.topics.CommitSignal()
		size := b.fetchOnce(ctx, req, resp, denied)
		remaining := time.Until(deadline)
		if size >= int(req.MinBytes) || remaining <= 0 || b.isClosing() {
			return
		}
		select {
		case <-signal:
		case <-time.After(remaining):
			return
		case <-ctx.Done():
			return
		case <-b.closingCh:
			return
		}
	}
}

// fetchOnce reads what req asks for into resp, replacing what an earlier
// round put there, and returns the bytes of records it holds. The topics
// denied[i] are answered TOPIC_AUTHORIZATION_FAILED (denied nil: none).
func (b *server) fetchOnce(ctx context.Context, req *kmsg.FetchRequest, resp *kmsg.FetchResponse, denied []bool) int {
	resp.Topics = nil
	maxBytes := int(req.MaxBytes)
	if maxBytes <= 0 {
		maxBytes = 50 << 20
	}
	// Partitions are read one after another; start the object-store reads
	// of all of them first, so that their GETs overlap.
	for i, rt := range req.Topics {
		if t := b.topics.Resolve(req.Version >= 13, rt.Topic, rt.TopicID); t != nil && (denied == nil || !denied[i]) {
			for _, rp := range rt.Partitions {
				if p := t.Partition(rp.Partition); p != nil {
					p.Prefetch(b.reader, rp.FetchOffset, int(min(rp.PartitionMaxBytes, int32(maxBytes))))
				}
			}
		}
	}
	total := 0
	for i, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		t := b.topics.Resolve(req.Version >= 13, rt.Topic, rt.TopicID)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.RecordBatches = []byte{} // librdkafka rejects a null record set
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			switch {
			case t == nil && req.Version >= 13:
				sp.ErrorCode = kerr.UnknownTopicID.Code
			case denied != nil && denied[i]:
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case t.Partition(rp.Partition) == nil:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				p := t.Partition(rp.Partition)
				if _, err := p.CheckLeaderEpoch(rp.CurrentLeaderEpoch); err != nil {
					sp.ErrorCode = kerrCode(err)
					break
				}
				logStart, lso, hwm := p.Bounds()
				sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = hwm, lso, logStart
				limit := int(rp.PartitionMaxBytes)
				if rest := maxBytes - total; rest < limit {
					limit = rest
				}
				if total > 0 && limit <= 0 {
					break
				}
				var batches [][]byte
				var err error
				if req.IsolationLevel == 1 {
					var aborted []metadata.AbortedTxn
					var stable int64
					if batches, stable, aborted, err = p.ReadCommitted(ctx, b.reader, rp.FetchOffset, limit); err == nil {
						sp.LastStableOffset = stable // as read: the batches stop below it
						// A commit between Bounds and the read moved
						// both: the high watermark is at least the LSO.
						sp.HighWatermark = max(sp.HighWatermark, stable)
						sp.AbortedTransactions = abortedTransactions(aborted)
					}
				} else {
					batches, err = p.Read(ctx, b.reader, rp.FetchOffset, limit)
				}
				if err != nil {
					sp.ErrorCode = kerrCode(err)
					if sp.ErrorCode == kerr.UnknownServerError.Code {
						if errors.Is(err, context.Canceled) {
							break
						}
						b.log.Error("fetch: read from object store", "topic", t.Meta.Name, "partition", rp.Partition, "offset", rp.FetchOffset, "error", err)
						sp.ErrorCode = kerr.KafkaStorageError.Code
					}
					break
				}
				if len(batches) == 1 {
					sp.RecordBatches = batches[0] // a slice of a cached range: no copy
				} else {
					for _, raw := range batches {
						sp.RecordBatches = append(sp.RecordBatches, raw...)
					}
				}
				total += len(sp.RecordBatches)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return total
}

// abortedTransactions is a read_committed fetch's aborted_transactions: an
// empty list (not null) when there are none, as Kafka answers.
func abortedTransactions(aborted []metadata.AbortedTxn) []kmsg.FetchResponseTopicPartitionAbortedTransaction {
	out := make([]kmsg.FetchResponseTopicPartitionAbortedTransaction, 0, len(aborted))
	for _, at := range aborted {
		a := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
		a.ProducerID, a.FirstOffset = at.ProducerID, at.FirstOffset
		out = append(out, a)
	}
	return out
}
