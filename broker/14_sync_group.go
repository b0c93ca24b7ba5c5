package broker

// SyncGroup: v0-v5.
//
// The leader's SyncGroup brings every member's assignment and makes the
// group Stable; the other members' wait for it (or get REBALANCE_IN_PROGRESS
// if the group rebalances again first). The assignment is opaque: range,
// round-robin, sticky and cooperative-sticky all run in the clients. The
// completed generation is written to etcd so that a new coordinator resumes
// it. It needs READ on the group (GROUP_AUTHORIZATION_FAILED, and the group
// is not touched).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/coordinator"
)

// handleSyncGroup changes the group in its ordered part; the wait part
// waits for the leader's assignment.
func handleSyncGroup(c *conn, kreq kmsg.Request) func(context.Context) kmsg.Response {
	req := kreq.(*kmsg.SyncGroupRequest)
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	if e := c.memberError(req.Group); e != nil {
		resp.ErrorCode = e.Code
		return func(context.Context) kmsg.Response { return resp }
	}
	var now kmsg.Response
	var wait chan kmsg.Response
	err := c.srv.groups.WithGroup(req.Group, false, func(_ *coordinator.Shard, g *coordinator.Group) {
		if g == nil {
			resp.ErrorCode = kerr.UnknownMemberID.Code
			now = resp
			return
		}
		now, wait = g.Sync(req)
	})
	if err != nil {
		resp.ErrorCode = kerrCode(err)
		now, wait = resp, nil
	}
	return func(ctx context.Context) kmsg.Response { return await(ctx, now, wait) }
}
