package broker

// FindCoordinator: v0-v4 (batched coordinator keys from v4).
//
// A group's coordinator is the leader of its shard: the partition of the
// internal topic __consumer_offsets that the group id hashes onto (as
// Kafka hashes it). The answer comes from the broker's watched view; a shard
// without a leader gets COORDINATOR_NOT_AVAILABLE, and the client retries.
// A transactional id (key type 1) hashes onto the same shards, and their
// leader is its transaction coordinator (coordinator.Txns); other key
// types get INVALID_REQUEST.
// Each key needs DESCRIBE on its group (GROUP_AUTHORIZATION_FAILED) or
// transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/metadata"
)

func handleFindCoordinator(_ context.Context, c *conn, req *kmsg.FindCoordinatorRequest, resp *kmsg.FindCoordinatorResponse) {
	keys := req.CoordinatorKeys
	if req.Version < 4 {
		keys = []string{req.CoordinatorKey}
	}
	v, _ := c.srv.topics.View()
	for _, key := range keys {
		rc := kmsg.NewFindCoordinatorResponseCoordinator()
		rc.Key, rc.NodeID, rc.Port = key, -1, -1
		var code *kerr.Error
		switch {
		case req.CoordinatorType == 0 && !c.allowed(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, key):
			code = kerr.GroupAuthorizationFailed
		case req.CoordinatorType == 1 && !c.allowed(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTransactionalId, key):
			code = kerr.TransactionalIDAuthorizationFailed
		default:
			code = c.srv.coordinatorOf(v, c.listener, req.CoordinatorType, key, &rc)
		}
		if code != nil {
			msg := code.Message
			rc.ErrorCode, rc.ErrorMessage = code.Code, &msg
		}
		resp.Coordinators = append(resp.Coordinators, rc)
	}
	if req.Version < 4 {
		rc := resp.Coordinators[0]
		resp.ErrorCode, resp.ErrorMessage, resp.NodeID, resp.Host, resp.Port = rc.ErrorCode, rc.ErrorMessage, rc.NodeID, rc.Host, rc.Port
		resp.Coordinators = nil
	}
}

// coordinatorOf fills rc with the broker that coordinates key.
func (b *server) coordinatorOf(v *metadata.View, ln *listener, keyType int8, key string, rc *kmsg.FindCoordinatorResponseCoordinator) *kerr.Error {
	if keyType != 0 && keyType != 1 {
		return kerr.InvalidRequest
	}
	p := b.groups.Locate(key)
	if p == nil {
		return kerr.CoordinatorNotAvailable
	}
	l, ok := b.topics.Leader(v, p)
	if !ok {
		return kerr.CoordinatorNotAvailable
	}
	addr, ok := b.brokerAddr(v, l.Broker, ln)
	if !ok {
		return kerr.CoordinatorNotAvailable
	}
	rc.NodeID = l.Broker
	rc.Host, rc.Port = splitHostPort(addr)
	return nil
}
