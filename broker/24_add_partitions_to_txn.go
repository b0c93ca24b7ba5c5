package broker

// AddPartitionsToTxn: v0-v3, the client's form (one transaction per
// request). v4+, the brokers' batched form that Kafka's partition leaders
// use to verify transactions and, under transaction version 2, add
// partitions to them (KIP-890), is not advertised: Strata's leaders verify
// and add through etcd (Txns.VerifyTxn, Txns.AddImplicit). Clients
// of transaction version 2 do not send it.
//
// The transactional id needs WRITE (TRANSACTIONAL_ID_AUTHORIZATION_FAILED
// for every partition) and each topic WRITE (TOPIC_AUTHORIZATION_FAILED).
// As in Kafka, one partition that fails those checks or does not exist
// (UNKNOWN_TOPIC_OR_PARTITION) fails the whole request: the others get
// OPERATION_NOT_ATTEMPTED. Otherwise every partition gets the
// coordinator's answer (coordinator.Txns.AddPartitions), PRODUCER_FENCED
// as INVALID_PRODUCER_EPOCH before v2.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/metadata"
)

func handleAddPartitionsToTxn(ctx context.Context, c *conn, req *kmsg.AddPartitionsToTxnRequest, resp *kmsg.AddPartitionsToTxnResponse) {
	codes := make([][]int16, len(req.Topics))
	all := func(code int16) {
		for i, rt := range req.Topics {
			codes[i] = make([]int16, len(rt.Partitions))
			for j := range codes[i] {
				codes[i][j] = code
			}
		}
	}
	defer func() {
		for i, rt := range req.Topics {
			st := kmsg.NewAddPartitionsToTxnResponseTopic()
			st.Topic = rt.Topic
			for j, p := range rt.Partitions {
				sp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				sp.Partition, sp.ErrorCode = p, codes[i][j]
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
	}()
	if e := c.txnIDError(req.TransactionalID); e != nil {
		all(e.Code)
		return
	}
	var parts []metadata.TxnPartition
	failed := false
	for i, rt := range req.Topics {
		codes[i] = make([]int16, len(rt.Partitions))
		allowed := c.allowed(kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic, rt.Topic)
		var id metadata.TopicID
		var n int32
		if allowed {
			if t, _ := c.srv.topics.Lookup(ctx, rt.Topic); t != nil && t.Meta.Name != metadata.OffsetsTopic {
				id, n = t.Meta.ID, int32(len(t.Parts))
			}
		}
		for j, p := range rt.Partitions {
			switch {
			case !allowed:
				codes[i][j], failed = kerr.TopicAuthorizationFailed.Code, true
			case p < 0 || p >= n:
				codes[i][j], failed = kerr.UnknownTopicOrPartition.Code, true
			default:
				codes[i][j] = -1 // OPERATION_NOT_ATTEMPTED if another fails
				parts = append(parts, metadata.TxnPartition{Topic: rt.Topic, TopicID: id, Partition: p})
			}
		}
	}
	var code int16
	if failed {
		code = kerr.OperationNotAttempted.Code
	} else {
		err := c.srv.txns.AddPartitions(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, parts)
		code = txnErrorCode(err, req.Version < 2)
	}
	for i := range codes {
		for j := range codes[i] {
			if codes[i][j] == -1 {
				codes[i][j] = code
			}
		}
	}
}

// txnIDError is the error of a client's transactional request
// (AddPartitionsToTxn, AddOffsetsToTxn, EndTxn) before its transaction is
// looked at: INVALID_REQUEST for an empty transactional id, then
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED without WRITE on it; nil when
// neither.
func (c *conn) txnIDError(id string) *kerr.Error {
	switch {
	case id == "":
		return kerr.InvalidRequest
	case !c.allowed(kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, id):
		return kerr.TransactionalIDAuthorizationFailed
	}
	return nil
}

// txnErrorCode is the code of a transaction coordinator's answer; old
// clients (before KIP-588's versions) get PRODUCER_FENCED as
// INVALID_PRODUCER_EPOCH, which they understand, as Kafka does it.
func txnErrorCode(err error, old bool) int16 {
	if err == nil {
		return 0
	}
	if old && err == kerr.ProducerFenced {
		return kerr.InvalidProducerEpoch.Code
	}
	if ke, ok := err.(*kerr.Error); ok {
		return ke.Code
	}
	return kerr.UnknownServerError.Code
}
