package broker

import (
	"context"

	"github.com/strata-io/strata/metadata"
)

// writeTxnMarker appends mk's COMMIT or ABORT control batch to the
// partition key if this broker leads it and mk's producer has an ongoing
// transaction there, and returns once the marker is committed (nil), or
// NOT_LEADER_OR_FOLLOWER (or another error) if it was not.
//
// TODO(issue 19): control batches.
func (b *server) writeTxnMarker(ctx context.Context, key metadata.PartitionKey, mk metadata.TxnMarker) error {
	return nil
}
