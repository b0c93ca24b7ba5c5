package broker

import (
	"slices"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// listShareGroups adds the share groups this broker coordinates to a
// ListGroups response (when want), with the same filters and rights as
// classic groups.
func listShareGroups(c *conn, req *kmsg.ListGroupsRequest, resp *kmsg.ListGroupsResponse, want bool) {
	co := shareCoordinator(c)
	if !want || co == nil {
		return
	}
	all := c.allowedOnCluster(kmsg.ACLOperationDescribe)
	for _, g := range co.ListShareGroups() {
		if !all && !c.allowed(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, g.ID) {
			continue
		}
		if len(req.StatesFilter) > 0 && !slices.ContainsFunc(req.StatesFilter, func(f string) bool { return strings.EqualFold(f, g.State) }) {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = g.ID, "share", g.State, "share"
		resp.Groups = append(resp.Groups, lg)
	}
	sort.Slice(resp.Groups, func(i, j int) bool { return resp.Groups[i].Group < resp.Groups[j].Group })
}
