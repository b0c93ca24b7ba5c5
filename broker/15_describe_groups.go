package broker

// DescribeGroups: v0-v5.
//
// Each group's state, protocol and members (with their metadata for the
// chosen protocol and their assignment), from the coordinator. A group the
// coordinator does not have is "Dead" with no members, as in Kafka; a group
// this broker does not coordinate gets NOT_COORDINATOR. A KIP-848 consumer
// group gets GROUP_ID_NOT_FOUND, as in Kafka (ConsumerGroupDescribe
// describes it). A KIP-932 share group id is "Dead" with no members and no
// error, as Kafka answers it up to v5 ("not a classic group" becomes
// GROUP_ID_NOT_FOUND only in v6; ShareGroupDescribe describes it). Each
// group needs
// DESCRIBE (GROUP_AUTHORIZATION_FAILED, with no state); its authorized
// operations are reported when asked (v3+). It answers once the group
// writes queued by the connection's earlier requests have landed (conn.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/coordinator"
)

func handleDescribeGroups(_ context.Context, c *conn, req *kmsg.DescribeGroupsRequest, resp *kmsg.DescribeGroupsResponse) {
	for _, id := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group = id
		if !c.allowed(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, id) {
			dg.ErrorCode = kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		dg.State = coordinator.StateDead.String()
		if req.IncludeAuthorizedOperations {
			dg.AuthorizedOperations = c.authorizedOps(kmsg.ACLResourceTypeGroup, id)
		}
		err := c.srv.groups.WithGroup(id, false, func(_ *coordinator.Shard, g *coordinator.Group) {
			if g == nil {
				return // also a share group id (KIP-932): Dead, as above
			}
			if g.IsConsumer() { // KIP-848: Kafka describes only classic groups here
				dg.ErrorCode, dg.State = kerr.GroupIDNotFound.Code, ""
				dg.ErrorMessage = kmsg.StringPtr("Group " + id + " is not a classic group.")
				return
			}
			g.Describe(&dg)
		})
		if err != nil {
			dg.ErrorCode, dg.State = kerrCode(err), ""
		}
		resp.Groups = append(resp.Groups, dg)
	}
}
