package broker

// ShareGroupHeartbeat: v0-v1 (KIP-932).
//
// A share group's membership, on the group's coordinator
// (coordinator/share_groups.go): epoch 0 joins (the member id is the
// client's own UUID), -1 leaves, any other is a heartbeat at the member's
// epoch or the one before it (FENCED_MEMBER_EPOCH otherwise). The answer
// carries the member's assignment when the request is full (it names the
// subscribed topics) or the assignment changed. Every subscribed partition
// is assigned to at least one member, several members when there are more
// members than partitions. A group id that is a classic group gets
// GROUP_ID_NOT_FOUND, as in Kafka. Needs READ on the group and DESCRIBE on
// every subscribed topic. Deviation: the membership is kept in the
// coordinator's memory only; a new coordinator answers GROUP_ID_NOT_FOUND
// and members join again with their ids (no record or acknowledgement is
// lost: those live with the partition leaders).

import (
	"context"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/coordinator"
)

func handleShareGroupHeartbeat(_ context.Context, c *conn, req *kmsg.ShareGroupHeartbeatRequest, resp *kmsg.ShareGroupHeartbeatResponse) {
	co := c.srv.groups
	switch {
	case co == nil:
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return
	case strings.TrimSpace(req.GroupID) == "":
		resp.ErrorCode = kerr.InvalidRequest.Code
		return
	case !c.allowed(kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.GroupID):
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return
	case req.MemberID == "" || len(req.MemberID) > 36, req.MemberEpoch < -1,
		req.RackID != nil && strings.TrimSpace(*req.RackID) == "",
		req.MemberEpoch == 0 && len(req.SubscribedTopicNames) == 0:
		resp.ErrorCode = kerr.InvalidRequest.Code
		return
	}
	for _, t := range req.SubscribedTopicNames {
		if !c.allowed(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeTopic, t) {
			resp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			return
		}
	}
	err := co.ShareGroupHeartbeat(coordinator.ShareHeartbeat{
		Group: req.GroupID, Member: req.MemberID, Epoch: req.MemberEpoch, Rack: req.RackID,
		Topics: req.SubscribedTopicNames, ClientID: c.clientID, ClientHost: c.nc.RemoteAddr().String(),
	}, resp)
	if err != nil {
		resp.ErrorCode = kerrCode(err)
	}
}
