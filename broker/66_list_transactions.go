package broker

// ListTransactions: v0-v2.
//
// The transactions of the coordinator shards this broker leads that the
// principal may DESCRIBE (the others are left out, as Kafka does), filtered
// by state, producer id, duration (v1: running for longer than
// DurationFilterMillis) and transactional id pattern (v2: an RE2 regular
// expression the whole id matches, INVALID_REGULAR_EXPRESSION when it does
// not compile).
// Unknown states are listed back in UnknownStateFilters and match nothing.
// COORDINATOR_LOAD_IN_PROGRESS says some shards are still loading.

import (
	"context"
	"regexp"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/coordinator"
	"github.com/strata-io/strata/metadata"
)

func handleListTransactions(_ context.Context, c *conn, req *kmsg.ListTransactionsRequest, resp *kmsg.ListTransactionsResponse) {
	f := coordinator.TxnFilter{ProducerIDs: req.ProducerIDFilters, MinDurationMs: -1}
	if req.Version >= 1 {
		f.MinDurationMs = req.DurationFilterMillis
	}
	if req.Version >= 2 && req.TransactionalIDPattern != nil && *req.TransactionalIDPattern != "" {
		re, err := regexp.Compile("^(?:" + *req.TransactionalIDPattern + ")$")
		if err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return
		}
		f.Match = re.MatchString
	}
	known := map[string]bool{}
	for _, st := range metadata.TxnStates {
		known[string(st)] = true
	}
	for _, s := range req.StateFilters {
		if known[s] {
			f.States = append(f.States, metadata.TxnState(s))
		} else {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, s)
		}
	}
	if len(req.StateFilters) > 0 && len(f.States) == 0 {
		return // only unknown states: nothing matches
	}
	txns, loading := c.srv.txns.List(f)
	if loading {
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
	}
	for _, t := range txns {
		if !c.allowed(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, t.ID) {
			continue
		}
		st := kmsg.NewListTransactionsResponseTransactionState()
		st.TransactionalID, st.ProducerID, st.TransactionState = t.ID, t.ProducerID, string(t.State)
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
}
