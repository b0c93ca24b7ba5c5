package broker

// DeleteGroups: v0-v2.
//
// Deletes a group without members and every offset it committed, from
// etcd and from the coordinator. A group with members gets NON_EMPTY_GROUP,
// one the coordinator does not have GROUP_ID_NOT_FOUND.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/metadata"
)

func init() { register(42, 0, 2, async(handleDeleteGroups)) }

func handleDeleteGroups(ctx context.Context, c *conn, req *kmsg.DeleteGroupsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, id := range req.Groups {
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = id
		var s *shard
		var code *kerr.Error
		err := c.b.groups.withGroup(id, false, func(sh *shard, g *group) {
			s = sh
			switch {
			case g == nil || g.state == groupDead:
				code = kerr.GroupIDNotFound
			case g.state != groupEmpty:
				code = kerr.NonEmptyGroup
			}
		})
		if err == nil && code == nil {
			err = s.commit(ctx, metadata.GroupWrite{Group: id, Delete: true}, func() {
				// A member that joined meanwhile keeps the group; its next
				// generation writes the group again.
				if g := s.groups[id]; g != nil && g.state == groupEmpty {
					g.stop(kerr.GroupIDNotFound)
					delete(s.groups, id)
				}
			})
			if err == nil {
				c.b.log.Info("deleted consumer group", "group", id)
			}
		}
		if err != nil {
			code = asKerr(err)
		}
		if code != nil {
			dg.ErrorCode = code.Code
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}
