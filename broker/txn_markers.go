package broker

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/wal"
)

// markerRoomWait bounds the wait for WAL room of a marker whose context
// has no deadline: the dispatcher tries again later.
const markerRoomWait = 30 * time.Second

// writeTxnMarker appends mk's COMMIT or ABORT control batch to the
// partition key if this broker leads it and the marker ends or fences
// something there, and returns once the marker is committed (nil), or
// NOT_LEADER_OR_FOLLOWER (or another error) if it was not.
//
// It runs as a produce does: it waits for WAL room (holding no lock),
// appends the batch through the partition (partition.AppendMarker: the
// producer's transaction ends, its epoch rises to the marker's) and the
// WAL, waits for the WAL's fsync and then for the commit. A marker that
// neither ends a transaction nor raises the producer's epoch on the
// partition (partition.MarkerNeeded) is not written: nil at once (a marker
// delivered again is harmless). Errors: NOT_LEADER_OR_FOLLOWER,
// UNKNOWN_TOPIC_OR_PARTITION, INVALID_PRODUCER_EPOCH (a marker older than
// the producer's epoch on the partition), REQUEST_TIMED_OUT (ctx ended),
// KAFKA_STORAGE_ERROR.
func (b *server) writeTxnMarker(ctx context.Context, key metadata.PartitionKey, mk metadata.TxnMarker) error {
	t := b.topics.TopicByID(key.Topic)
	if t == nil {
		return kerr.UnknownTopicOrPartition
	}
	p := t.Partition(key.Partition)
	if p == nil {
		return kerr.UnknownTopicOrPartition
	}
	if _, led := p.Led(); !led {
		return kerr.NotLeaderForPartition
	}
	if !p.MarkerNeeded(mk) {
		return nil // nothing to end or fence; AppendMarker checks again
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(markerRoomWait)
	}
	if err := b.waitWALRoom(ctx, deadline); err != nil {
		return err
	}
	var pending *wal.Pending
	res, appended, err := p.AppendMarker(mk, time.Now().UnixMilli(), b.walWrite(p, &pending))
	if err != nil {
		return b.appendError(err)
	}
	if !appended {
		return nil
	}
	switch err := pending.Wait(ctx); {
	case err == nil:
	case ctx.Err() != nil:
		return kerr.RequestTimedOut
	default:
		return b.walFailed(err)
	}
	return p.WaitCommitted(ctx, res.Epoch, res.Last)
}
