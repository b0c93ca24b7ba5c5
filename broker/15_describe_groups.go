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
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(15, 0, 5, afterGroupWrites(handleDescribeGroups)) }

func handleDescribeGroups(_ context.Context, c *conn, req *kmsg.DescribeGroupsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group, dg.State = id, groupDead.String()
		err := c.b.groups.withGroup(id, false, func(_ *shard, g *group) {
			if g == nil {
				return
			}
			dg.State, dg.ProtocolType, dg.Protocol = g.state.String(), g.protocolType, g.protocol
			for _, m := range g.members {
				dm := kmsg.NewDescribeGroupsResponseGroupMember()
				dm.MemberID, dm.InstanceID, dm.ClientID, dm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
				for _, p := range m.protocols {
					if p.Name == g.protocol {
						dm.ProtocolMetadata = p.Metadata
					}
				}
				dm.MemberAssignment = m.assignment
				dg.Members = append(dg.Members, dm)
			}
			sort.Slice(dg.Members, func(i, j int) bool { return dg.Members[i].MemberID < dg.Members[j].MemberID })
		})
		if err != nil {
			dg.ErrorCode, dg.State = kerrCode(err), ""
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}
