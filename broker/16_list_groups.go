package broker

// ListGroups: v0-v5 (state filter from v4, type filter from v5).
//
// Lists the groups this broker coordinates, as Kafka does: an admin client
// asks every broker. Classic groups, and share groups (type "share",
// protocol type "share", state Empty or Stable) with members on this
// coordinator. While a shard is still
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
	wants := func(typ string) bool {
		return len(req.TypesFilter) == 0 || slices.ContainsFunc(req.TypesFilter, func(t string) bool { return strings.EqualFold(t, typ) })
	}
	defer listShareGroups(c, req, resp, wants("share")) // KIP-932 (h-share: share_list.go)
	if !wants("classic") {
		return
	}
	groups, loading := c.srv.groups.ListGroups()
	if loading {
		resp.ErrorCode = kerr.CoordinatorLoadInProgress.Code
	}
	all := c.allowedOnCluster(kmsg.ACLOperationDescribe)
	for _, g := range groups {
		if !all && !c.allowed(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, g.ID) {
			continue
		}
		state := g.State.String()
		if len(req.StatesFilter) > 0 && !slices.ContainsFunc(req.StatesFilter, func(f string) bool { return strings.EqualFold(f, state) }) {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = g.ID, g.ProtocolType, state, "classic"
		resp.Groups = append(resp.Groups, lg)
	}
	sort.Slice(resp.Groups, func(i, j int) bool { return resp.Groups[i].Group < resp.Groups[j].Group })
}
