package broker

// DeleteGroups: v0-v2.
//
// Deletes a group without members and every offset it committed, from
// etcd and from the coordinator. A group with members gets NON_EMPTY_GROUP,
// one the coordinator does not have GROUP_ID_NOT_FOUND. Each group needs
// DELETE (GROUP_AUTHORIZATION_FAILED). A KIP-932 share group without
// members is deleted with its share-partition states and its configs
// (deleteShareGroup, 92_delete_share_group_offsets.go).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/coordinator"
	"github.com/strata-io/strata/metadata"
)

// handleDeleteGroups checks each group and queues its deletion in the
// ordered part; the wait part waits for the deletions to land.
func handleDeleteGroups(c *conn, kreq kmsg.Request) func(context.Context) kmsg.Response {
	req := kreq.(*kmsg.DeleteGroupsRequest)
	codes := make([]*kerr.Error, len(req.Groups))
	waits := make([]func(context.Context) error, len(req.Groups))
	for i, id := range req.Groups {
		if !c.allowed(kmsg.ACLOperationDelete, kmsg.ACLResourceTypeGroup, id) {
			codes[i] = kerr.GroupAuthorizationFailed
			continue
		}
		var s *coordinator.Shard
		share := false // KIP-932: no classic or consumer group; maybe a share group
		err := c.srv.groups.WithGroup(id, false, func(sh *coordinator.Shard, g *coordinator.Group) {
			s = sh
			switch {
			case g == nil || g.State() == coordinator.StateDead:
				share = true
			case g.State() != coordinator.StateEmpty:
				codes[i] = kerr.NonEmptyGroup
			}
		})
		if err != nil {
			codes[i] = asKerr(err)
		}
		if codes[i] == nil && share { // KIP-932 (h-share): a share group, or none
			waits[i] = c.deleteShareGroup(id)
			continue
		}
		if codes[i] != nil {
			continue
		}
		// A member that joined meanwhile keeps the group; its next
		// generation writes the group again.
		waits[i] = c.queueGroupWrite(s, metadata.GroupWrite{Group: id, Delete: true})
	}
	return func(ctx context.Context) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
		for i, id := range req.Groups {
			if waits[i] != nil {
				if err := waits[i](ctx); err != nil {
					codes[i] = asKerr(err)
				} else {
					c.srv.log.Info("deleted group", "group", id)
				}
			}
			dg := kmsg.NewDeleteGroupsResponseGroup()
			dg.Group = id
			if codes[i] != nil {
				dg.ErrorCode = codes[i].Code
			}
			resp.Groups = append(resp.Groups, dg)
		}
		return resp
	}
}
