package broker

// JoinGroup: v0-v9.
//
// The classic group protocol's join (group.go has the state machine). From
// v4 a member without an id gets MEMBER_ID_REQUIRED and a new id to join
// with (KIP-394), unless it is static (group.instance.id, v5+): a static
// member that comes back with its instance id takes its old place, fencing
// the old member id (FENCED_INSTANCE_ID), without a rebalance when nothing
// changed (KIP-345, with SkipAssignment for the leader from v9). The
// response waits until the rebalance completes: every member rejoined, or
// the longest rebalance timeout passed. Session timeouts must be within
// Kafka's default group.min/max.session.timeout.ms (6 s to 30 min).
// Deviation: no group.initial.rebalance.delay.ms; the first members of a
// new group may see one more rebalance than on Kafka.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(11, 0, 9, async(handleJoinGroup)) }

func handleJoinGroup(ctx context.Context, c *conn, req *kmsg.JoinGroupRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.MemberID, resp.Generation = req.MemberID, -1
	// Checked before the group is created, so that a bad join leaves nothing.
	switch st := req.SessionTimeoutMillis; {
	case req.Group == "":
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	case st < groupMinSessionTimeoutMs || st > groupMaxSessionTimeoutMs:
		resp.ErrorCode = kerr.InvalidSessionTimeout.Code
		return resp
	case req.ProtocolType == "" || len(req.Protocols) == 0:
		resp.ErrorCode = kerr.InconsistentGroupProtocol.Code
		return resp
	}
	var now kmsg.Response
	var wait chan kmsg.Response
	err := c.b.groups.withGroup(req.Group, true, func(_ *shard, g *group) { now, wait = g.join(c, req) })
	if err != nil {
		resp.ErrorCode = kerrCode(err)
		return resp
	}
	return await(ctx, now, wait)
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
