package broker

// ListGroups: v0-v5 (state filter from v4, type filter from v5).
//
// Lists the groups this broker coordinates, as Kafka does: an admin client
// asks every broker. A group is "classic", "consumer" (KIP-848; its
// state is Empty, Assigning, Reconciling or Stable) or "share" (KIP-932;
// Empty or Stable). While a shard is still
// loading, the groups of the others are listed with
// COORDINATOR_LOAD_IN_PROGRESS. With DESCRIBE on the cluster every group is
// listed, otherwise only those the principal may DESCRIBE, as in Kafka. It
// answers once the group writes queued by the connection's earlier
// requests (a DeleteGroups) have landed (conn.go).

import (
	"context"
	"slices"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleListGroups(_ context.Context, c *conn, req *kmsg.ListGroupsRequest, resp *kmsg.ListGroupsResponse) {
	groups, loading := c.srv.groups.ListGroups()
	if loading {
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
	}
	all := c.allowedOnCluster(kmsg.ACLOperationDescribe)
	for _, g := range groups {
		if !all && !c.allowed(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, g.ID) {
			continue
		}
		if len(req.TypesFilter) > 0 && !slices.ContainsFunc(req.TypesFilter, func(t string) bool { return strings.EqualFold(t, g.Type) }) {
			continue // KIP-848: classic or consumer
		}
		state := g.StateName
		if len(req.StatesFilter) > 0 && !slices.ContainsFunc(req.StatesFilter, func(f string) bool { return strings.EqualFold(f, state) }) {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = g.ID, g.ProtocolType, state, g.Type
		resp.Groups = append(resp.Groups, lg)
	}
	sort.Slice(resp.Groups, func(i, j int) bool { return resp.Groups[i].Group < resp.Groups[j].Group })
}
