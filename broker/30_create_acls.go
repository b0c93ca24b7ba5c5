package broker

// CreateAcls: v0-v3.
//
// Stores ACL bindings in etcd, each checked as Kafka checks it
// (acl.Binding.Validate: INVALID_REQUEST with the reason); creating one that
// exists changes nothing. Every broker's authorizer sees them within its
// watch of etcd, this broker's before the response. It needs ALTER on the
// cluster (CLUSTER_AUTHORIZATION_FAILED), and answers SECURITY_DISABLED
// without --authorizer.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/acl"
)

func handleCreateAcls(ctx context.Context, c *conn, req *kmsg.CreateACLsRequest, resp *kmsg.CreateACLsResponse) {
	var valid []acl.Binding
	var at []int
	for i, cr := range req.Creations {
		r := kmsg.NewCreateACLsResponseResult()
		b := acl.Binding{
			ResourceType: cr.ResourceType, ResourceName: cr.ResourceName, PatternType: cr.ResourcePatternType,
			Principal: cr.Principal, Host: cr.Host, Operation: cr.Operation, Permission: cr.PermissionType,
		}
		if r.ErrorCode, r.ErrorMessage = c.aclAPIError(kmsg.ACLOperationAlter, b.Validate()); r.ErrorCode == 0 {
			valid = append(valid, b)
			at = append(at, i)
		}
		resp.Results = append(resp.Results, r)
	}
	if len(valid) == 0 {
		return
	}
	if err := c.srv.writeSecurity(ctx, "create ACLs", func(ctx context.Context) error { return c.srv.store.CreateACLs(ctx, valid) }); err != nil {
		for _, i := range at {
			resp.Results[i].ErrorCode = asKerr(err).Code
		}
	}
}
