package broker

// DescribeAcls: v0-v3.
//
// Lists the ACLs a filter matches (acl.Filter: ANY values, and the MATCH
// pattern type for the ACLs that apply to one resource), read from etcd so
// that a client sees its own CreateAcls and DeleteAcls at once. It needs
// DESCRIBE on the cluster (CLUSTER_AUTHORIZATION_FAILED), and answers
// SECURITY_DISABLED when the broker runs without --authorizer, as Kafka
// does without an authorizer.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/acl"
)

func handleDescribeAcls(ctx context.Context, c *conn, req *kmsg.DescribeACLsRequest, resp *kmsg.DescribeACLsResponse) {
	f := acl.Filter{
		ResourceType: req.ResourceType, ResourceName: req.ResourceName, PatternType: req.ResourcePatternType,
		Principal: req.Principal, Host: req.Host, Operation: req.Operation, Permission: req.PermissionType,
	}
	if resp.ErrorCode, resp.ErrorMessage = c.aclAPIError(kmsg.ACLOperationDescribe, f.Validate()); resp.ErrorCode != 0 {
		return
	}
	all, err := c.srv.store.ACLs(ctx)
	if err != nil {
		resp.ErrorCode = asKerr(err).Code
		return
	}
	type resource struct {
		rt   kmsg.ACLResourceType
		name string
		pt   kmsg.ACLResourcePatternType
	}
	index := map[resource]int{}
	for _, b := range acl.NewSet(all).Matching(f) {
		r := resource{b.ResourceType, b.ResourceName, b.PatternType}
		i, ok := index[r]
		if !ok {
			i = len(resp.Resources)
			index[r] = i
			rr := kmsg.NewDescribeACLsResponseResource()
			rr.ResourceType, rr.ResourceName, rr.ResourcePatternType = r.rt, r.name, r.pt
			resp.Resources = append(resp.Resources, rr)
		}
		ra := kmsg.NewDescribeACLsResponseResourceACL()
		ra.Principal, ra.Host, ra.Operation, ra.PermissionType = b.Principal, b.Host, b.Operation, b.Permission
		resp.Resources[i].ACLs = append(resp.Resources[i].ACLs, ra)
	}
}
