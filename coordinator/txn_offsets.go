package coordinator

import "context"

// ApplyTxnOffsets ends producerID's transaction in group: its pending
// transactional offsets (TxnOffsetCommit) become the group's committed
// offsets (commit) or are dropped. It returns NOT_COORDINATOR when this
// broker does not lead the group's shard.
//
// TODO(issue 19): pending transactional offsets.
func (c *Coordinator) ApplyTxnOffsets(ctx context.Context, group string, producerID int64, producerEpoch int16, commit bool) error {
	return nil
}
