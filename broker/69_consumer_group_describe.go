package broker

// ConsumerGroupDescribe: v0-v1 (KIP-848).
//
// Describes consumer groups (the protocol of ConsumerGroupHeartbeat): the
// group's state (Empty, Assigning, Reconciling, Stable), epoch, assignment
// epoch and assignor, and each member with its epoch, subscription, the
// partitions it owns and its target assignment (topic ids and names). A
// classic group, or one that does not exist, gets GROUP_ID_NOT_FOUND, as
// in Kafka. The group needs DESCRIBE (GROUP_AUTHORIZATION_FAILED); the
// request goes to the group's coordinator (NOT_COORDINATOR otherwise).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/coordinator"
	"github.com/strata-io/strata/metadata"
)

func handleConsumerGroupDescribe(_ context.Context, c *conn, req *kmsg.ConsumerGroupDescribeRequest, resp *kmsg.ConsumerGroupDescribeResponse) {
	name := func(id metadata.TopicID) string {
		if t := c.srv.topics.TopicByID(id); t != nil {
			return t.Meta.Name
		}
		return ""
	}
	for _, id := range req.Groups {
		dg := kmsg.NewConsumerGroupDescribeResponseGroup()
		dg.Group = id
		if !c.allowed(kmsg.ACLOperationDescribe, kmsg.ACLResourceTypeGroup, id) {
			dg.ErrorCode = kerr.GroupAuthorizationFailed.Code
			resp.Groups = append(resp.Groups, dg)
			continue
		}
		if req.IncludeAuthorizedOperations {
			dg.AuthorizedOperations = c.authorizedOps(kmsg.ACLResourceTypeGroup, id)
		}
		found := false
		err := c.srv.groups.WithGroup(id, false, func(_ *coordinator.Shard, g *coordinator.Group) {
			found = g != nil && g.DescribeConsumer(&dg, name)
		})
		switch {
		case err != nil:
			dg.ErrorCode = kerrCode(err)
		case !found:
			dg.ErrorCode = kerr.GroupIDNotFound.Code
			dg.ErrorMessage = kmsg.StringPtr("Group " + id + " is not a consumer group.")
		}
		resp.Groups = append(resp.Groups, dg)
	}
}
