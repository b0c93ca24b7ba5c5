package broker

// ShareGroupDescribe: v0-v1 (KIP-932).
//
// Each share group's state (Empty or Stable), epochs, assignor ("simple")
// and members with their assignments, from the group's coordinator: a
// group this broker does not coordinate gets NOT_COORDINATOR, one it does
// not have GROUP_ID_NOT_FOUND (state "Dead"), as in Kafka. Needs DESCRIBE on
// each group (GROUP_AUTHORIZATION_FAILED); authorized operations when asked.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/coordinator"
)

func handleShareGroupDescribe(_ context.Context, c *conn, req *kmsg.ShareGroupDescribeRequest, resp *kmsg.ShareGroupDescribeResponse) {
	co := c.srv.groups
	for _, id := range req.GroupIDs {
		g := kmsg.NewShareGroupDescribeResponseGroup()
		g.GroupID = id
		switch {
		case !c.allowed(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, id):
			g.ErrorCode = kerr.GroupAuthorizationFailed.Code
		case co == nil:
			g.ErrorCode = kerr.CoordinatorNotAvailable.Code
		default:
			st, err := co.DescribeShareGroup(id)
			switch {
			case err != nil:
				g.ErrorCode = kerrCode(err)
			case st == nil:
				g.ErrorCode, g.GroupState = kerr.GroupIDNotFound.Code, "Dead"
			default:
				g.GroupState, g.GroupEpoch, g.AssignmentEpoch = st.State, st.Epoch, st.Epoch
				g.Assignor, g.Members = coordinator.ShareAssignor, st.Members
				if req.IncludeAuthorizedOperations {
					g.AuthorizedOperations = c.authorizedOps(kmsg.ACLResourceTypeGroup, id)
				}
			}
		}
		resp.Groups = append(resp.Groups, g)
	}
}
