package coordinator

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
)

// ApplyTxnOffsets ends producerID's transaction in group: its pending
// transactional offsets (TxnOffsetCommit) become the group's committed
// offsets (commit) or are dropped. It returns NOT_COORDINATOR when this
// broker does not lead the group's shard.
//
// The end goes through the shard's ordered writer, made once the writes
// queued before it are applied, and ApplyTxnOffsets returns once it is
// committed: nil, NOT_COORDINATOR (the shard is not led here, or was lost
// meanwhile), COORDINATOR_LOAD_IN_PROGRESS while the shard loads,
// COORDINATOR_NOT_AVAILABLE when etcd did not answer, REQUEST_TIMED_OUT
// when ctx ended first (the outcome is then unknown; ending again is
// harmless). A producer with no pending offsets in the group, or a group
// that does not exist, is a success with nothing written: a marker
// delivered twice ends nothing the second time. producerEpoch is not
// checked: a marker ends the producer's transaction whatever its epoch, as
// in Kafka.
func (c *Coordinator) ApplyTxnOffsets(ctx context.Context, group string, producerID int64, producerEpoch int16, commit bool) error {
	s, err := c.shardFor(group)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return kerr.NotCoordinator
	}
	w := s.queueTxnEnd(group, producerID, commit)
	s.mu.Unlock()
	return w.Wait(ctx)
}
