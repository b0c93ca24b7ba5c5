package broker

import (
	"context"

	"github.com/strata-io/strata/metadata"
)

// WriteTxnMarker is writeTxnMarker, for the tests of package broker_test
// (the marker dispatcher that calls it is the coordinator's).
func (b *Broker) WriteTxnMarker(ctx context.Context, key metadata.PartitionKey, mk metadata.TxnMarker) error {
	return b.srv.writeTxnMarker(ctx, key, mk)
}
