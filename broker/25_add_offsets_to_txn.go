package broker

// AddOffsetsToTxn: v0-v4.
//
// The group joins the producer's transaction, so that its TxnOffsetCommit
// offsets are made visible or dropped when the transaction ends. Clients
// of transaction version 2 do not send it: their TxnOffsetCommit v5 adds
// the group. The
// transactional id needs WRITE (TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
// and the group READ (GROUP_AUTHORIZATION_FAILED); PRODUCER_FENCED is
// INVALID_PRODUCER_EPOCH before v2.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleAddOffsetsToTxn(ctx context.Context, c *conn, req *kmsg.AddOffsetsToTxnRequest, resp *kmsg.AddOffsetsToTxnResponse) {
	switch e := c.txnIDError(req.TransactionalID); {
	case e != nil:
		resp.ErrorCode = e.Code
	case !c.allowed(kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group):
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
	default:
		err := c.srv.txns.AddGroup(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group)
		resp.ErrorCode = txnErrorCode(err, req.Version < 2)
	}
}
