package broker

// DescribeTransactions: v0.
//
// Each transactional id is described by this broker if it coordinates it
// (NOT_COORDINATOR otherwise, COORDINATOR_LOAD_IN_PROGRESS while its shard
// loads, TRANSACTIONAL_ID_NOT_FOUND when it has no record) and the
// principal may DESCRIBE it (TRANSACTIONAL_ID_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleDescribeTransactions(_ context.Context, c *conn, req *kmsg.DescribeTransactionsRequest, resp *kmsg.DescribeTransactionsResponse) {
	for _, id := range req.TransactionalIDs {
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID, st.ProducerID, st.ProducerEpoch, st.StartTimestamp = id, -1, -1, -1
		if !c.allowed(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, id) {
			st.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		m, err := c.srv.txns.Describe(id)
		if err != nil {
			st.ErrorCode = txnErrorCode(err, false)
			resp.TransactionStates = append(resp.TransactionStates, st)
			continue
		}
		st.State, st.TimeoutMillis, st.StartTimestamp = string(m.State), m.TimeoutMs, m.StartTime
		st.ProducerID, st.ProducerEpoch = m.ProducerID, m.ProducerEpoch
		index := map[string]int{}
		for _, p := range m.Partitions {
			// Kafka lists only the topics the principal may DESCRIBE.
			if !c.allowed(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, p.Topic) {
				continue
			}
			i, ok := index[p.Topic]
			if !ok {
				i = len(st.Topics)
				index[p.Topic] = i
				t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
				t.Topic = p.Topic
				st.Topics = append(st.Topics, t)
			}
			st.Topics[i].Partitions = append(st.Topics[i].Partitions, p.Partition)
		}
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
}
