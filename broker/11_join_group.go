package broker

// JoinGroup: v0-v9.
//
// The classic group protocol's join (package coordinator has the state
// machine). From v4 a member without an id gets MEMBER_ID_REQUIRED and a new
// id to join with (KIP-394), unless it is static (group.instance.id, v5+): a static
// member that comes back with its instance id takes its old place, fencing
// the old member id (FENCED_INSTANCE_ID), without a rebalance when nothing
// changed (KIP-345, with SkipAssignment for the leader from v9). The
// response waits until the rebalance completes: every member rejoined, or
// the longest rebalance timeout passed. Session timeouts must be within
// Kafka's default group.min/max.session.timeout.ms (6 s to 30 min).
// It needs READ on the group (GROUP_AUTHORIZATION_FAILED, checked before
// anything else, so the group is not created). Deviation: no
// group.initial.rebalance.delay.ms; the first members of a new group may
// see one more rebalance than on Kafka. A JoinGroup to a KIP-848 consumer
// group with members joins it as a classic member
// (coordinator/consumer_migrate.go): answered at once, with the member's
// epoch as generation; its SyncGroup gets an assignment the server computed.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/coordinator"
)

// handleJoinGroup changes the group in its ordered part; the wait part
// waits for the rebalance.
func handleJoinGroup(c *conn, kreq kmsg.Request) func(context.Context) kmsg.Response {
	req := kreq.(*kmsg.JoinGroupRequest)
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.MemberID, resp.Generation = req.MemberID, -1
	answer := func(code *kerr.Error) func(context.Context) kmsg.Response {
		resp.ErrorCode = code.Code
		return func(context.Context) kmsg.Response { return resp }
	}
	// Checked before the group is created, so that a bad join leaves nothing.
	if e := c.memberError(req.Group); e != nil {
		if e == kerr.GroupAuthorizationFailed {
			resp.MemberID = "" // as Kafka answers
		}
		return answer(e)
	}
	switch st := req.SessionTimeoutMillis; {
	case st < coordinator.MinSessionTimeoutMs || st > coordinator.MaxSessionTimeoutMs:
		return answer(kerr.InvalidSessionTimeout)
	case req.ProtocolType == "" || len(req.Protocols) == 0:
		return answer(kerr.InconsistentGroupProtocol)
	}
	var now kmsg.Response
	var wait chan kmsg.Response
	err := c.srv.groups.WithGroup(req.Group, true, func(_ *coordinator.Shard, g *coordinator.Group) {
		now, wait = g.Join(coordinator.Client{ID: c.clientID, Host: c.nc.RemoteAddr().String()}, req)
	})
	if err != nil {
		return answer(asKerr(err))
	}
	return func(ctx context.Context) kmsg.Response { return await(ctx, now, wait) }
}

// memberError is the error of a group member's request (JoinGroup,
// SyncGroup, Heartbeat, LeaveGroup) before its group is looked at:
// GROUP_AUTHORIZATION_FAILED without READ on the group, then
// INVALID_GROUP_ID for an empty group id; nil when neither.
func (c *conn) memberError(group string) *kerr.Error {
	switch {
	case !c.allowed(kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, group):
		return kerr.GroupAuthorizationFailed
	case group == "":
		return kerr.InvalidGroupID
	}
	return nil
}

// await returns now, or what wait gets (nil, no response, if the
// connection ends first).
func await(ctx context.Context, now kmsg.Response, wait chan kmsg.Response) kmsg.Response {
	if now != nil {
		return now
	}
	select {
	case r := <-wait:
		return r
	case <-ctx.Done():
		return nil
	}
}
