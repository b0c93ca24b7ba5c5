package broker

// Heartbeat: v0-v4.
//
// Keeps a member's session alive. A member of an old generation gets
// ILLEGAL_GENERATION, an unknown one UNKNOWN_MEMBER_ID, a stale static
// instance FENCED_INSTANCE_ID; during a rebalance every member gets
// REBALANCE_IN_PROGRESS, which is how it learns to rejoin. It needs READ on
// the group (GROUP_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/coordinator"
)

func handleHeartbeat(_ context.Context, c *conn, req *kmsg.HeartbeatRequest, resp *kmsg.HeartbeatResponse) {
	if e := c.memberError(req.Group); e != nil {
		resp.ErrorCode = e.Code
		return
	}
	err := c.srv.groups.WithGroup(req.Group, false, func(_ *coordinator.Shard, g *coordinator.Group) {
		if g == nil {
			resp.ErrorCode = kerr.UnknownMemberID.Code
			return
		}
		if err := g.Heartbeat(req); err != nil {
			resp.ErrorCode = err.Code
		}
	})
	if err != nil {
		resp.ErrorCode = kerrCode(err)
	}
}
