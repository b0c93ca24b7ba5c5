package broker

// LeaveGroup: v0-v5 (batched members, by member or instance id, from v3).
//
// Each member that leaves is removed at once and the group rebalances, so
// that the others take its partitions without waiting for its session
// timeout. Each member of a batch gets its own error code (UNKNOWN_MEMBER_ID,
// FENCED_INSTANCE_ID). It needs READ on the group (GROUP_AUTHORIZATION_FAILED
// for the whole request, and no member leaves).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/coordinator"
)

func handleLeaveGroup(_ context.Context, c *conn, req *kmsg.LeaveGroupRequest, resp *kmsg.LeaveGroupResponse) {
	members := req.Members
	if req.Version < 3 {
		members = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	if e := c.memberError(req.Group); e != nil {
		resp.ErrorCode = e.Code
		return
	}
	err := c.srv.groups.WithGroup(req.Group, false, func(_ *coordinator.Shard, g *coordinator.Group) {
		for _, rm := range members {
			lm := kmsg.NewLeaveGroupResponseMember()
			lm.MemberID, lm.InstanceID = rm.MemberID, rm.InstanceID
			if g == nil {
				lm.ErrorCode = kerr.UnknownMemberID.Code
			} else if err := g.Leave(rm.MemberID, rm.InstanceID); err != nil {
				lm.ErrorCode = err.Code
			} else {
				c.srv.log.Info("consumer group member left", "group", req.Group, "member", rm.MemberID)
			}
			resp.Members = append(resp.Members, lm)
		}
	})
	switch {
	case err != nil:
		resp.ErrorCode, resp.Members = kerrCode(err), nil
	case req.Version < 3:
		resp.ErrorCode, resp.Members = resp.Members[0].ErrorCode, nil
	}
}
