package broker

// EndTxn: v0-v5.
//
// v5 is transaction version 2 (KIP-890 part 2) when the broker finalizes
// it: every end bumps the producer epoch (a new producer id when the epoch
// is exhausted) and the response carries the id and epoch the producer
// goes on with; a retry with the epoch before is recognized (see
// coordinator.stepEnd). The coordinator writes the transaction's PrepareCommit or PrepareAbort
// and its markers to etcd before the answer (coordinator.Txns.EndTxn); the
// markers are written to the partitions and groups afterwards, and the
// transactional id gets CONCURRENT_TRANSACTIONS until they are. The
// transactional id needs WRITE (TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
// PRODUCER_FENCED is INVALID_PRODUCER_EPOCH before v2.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleEndTxn(ctx context.Context, c *conn, req *kmsg.EndTxnRequest, resp *kmsg.EndTxnResponse) {
	if e := c.txnIDError(req.TransactionalID); e != nil {
		resp.ErrorCode = e.Code
		return
	}
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	pid, epoch, err := c.srv.txns.EndTxn(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit, c.srv.txnVersion(req.Version, 5))
	resp.ErrorCode = txnErrorCode(err, req.Version < 2)
	if err == nil {
		resp.ProducerID, resp.ProducerEpoch = pid, epoch
	}
}
