package broker

// DeleteAcls: v0-v3.
//
// Deletes from etcd the ACLs each filter matches (acl.Filter, as
// DescribeAcls) and lists them per filter. Every broker's authorizer sees
// the change within its watch of etcd, this broker's before the response.
// It needs ALTER on the cluster (CLUSTER_AUTHORIZATION_FAILED), and answers
// SECURITY_DISABLED without --authorizer.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/acl"
)

func handleDeleteAcls(ctx context.Context, c *conn, req *kmsg.DeleteACLsRequest, resp *kmsg.DeleteACLsResponse) {
	deleted := false
	for _, rf := range req.Filters {
		r := kmsg.NewDeleteACLsResponseResult()
		f := acl.Filter{
			ResourceType: rf.ResourceType, ResourceName: rf.ResourceName, PatternType: rf.ResourcePatternType,
			Principal: rf.Principal, Host: rf.Host, Operation: rf.Operation, Permission: rf.PermissionType,
		}
		if r.ErrorCode, r.ErrorMessage = c.aclAPIError(kmsg.ACLOperationAlter, f.Validate()); r.ErrorCode == 0 {
			gone, err := c.srv.store.DeleteACLs(ctx, f.Matches)
			if err != nil {
				r.ErrorCode = asKerr(err).Code
				c.srv.log.Warn("delete ACLs: etcd", "error", err)
			}
			deleted = deleted || len(gone) > 0
			for _, b := range gone {
				m := kmsg.NewDeleteACLsResponseResultMatchingACL()
				m.ResourceType, m.ResourceName, m.ResourcePatternType = b.ResourceType, b.ResourceName, b.PatternType
				m.Principal, m.Host, m.Operation, m.PermissionType = b.Principal, b.Host, b.Operation, b.Permission
				r.MatchingACLs = append(r.MatchingACLs, m)
			}
		}
		resp.Results = append(resp.Results, r)
	}
	if deleted {
		if err := c.srv.awaitSecurity(ctx); err != nil {
			c.srv.log.Warn("delete ACLs: waiting for the change to reach this broker", "error", err)
		}
	}
}
