package broker

// DescribeGroups: v0-v5.
//
// Each group's state, protocol and members (with their metadata for the
// chosen protocol and their assignment), from the coordinator. A group the
// coordinator does not have is "Dead" with no members, as in Kafka; a group
// this broker does not coordinate gets NOT_COORDINATOR. Authorized
// operations are not reported (no ACLs). It answers once the group writes
// queued by the connection's earlier requests have landed (conn.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/coordinator"
)

func handleDescribeGroups(_ context.Context, c *conn, req *kmsg.DescribeGroupsRequest, resp *kmsg.DescribeGroupsResponse) {
	for _, id := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group, dg.State = id, coordinator.StateDead.String()
		err := c.srv.groups.WithGroup(id, false, func(_ *coordinator.Shard, g *coordinator.Group) {
			if g == nil {
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
