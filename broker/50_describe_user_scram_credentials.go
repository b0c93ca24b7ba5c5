package broker

// DescribeUserScramCredentials: v0.
//
// Lists the SCRAM mechanisms and iteration counts of users' credentials
// (never salts or keys), from etcd, for every user when the request names
// none. A named user without credentials gets RESOURCE_NOT_FOUND, a user
// named twice DUPLICATE_RESOURCE. With the authorizer on it needs DESCRIBE
// on the cluster (CLUSTER_AUTHORIZATION_FAILED otherwise).

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleDescribeUserScramCredentials(ctx context.Context, c *conn, req *kmsg.DescribeUserSCRAMCredentialsRequest, resp *kmsg.DescribeUserSCRAMCredentialsResponse) {
	if !c.allowedOnCluster(kmsg.ACLOperationDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return
	}
	var names []string
	count := map[string]int{}
	for _, u := range req.Users {
		if count[u.Name]++; count[u.Name] == 1 {
			names = append(names, u.Name)
		}
	}
	creds, err := c.srv.store.ScramCredentials(ctx, names...)
	if err != nil {
		resp.ErrorCode = kerrCode(err)
		c.srv.log.Warn("describe SCRAM credentials: etcd", "error", err)
		return
	}
	if req.Users == nil {
		for name := range creds {
			names = append(names, name)
		}
		sort.Strings(names)
	}
	for _, name := range names {
		r := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		r.User = name
		switch {
		case count[name] > 1:
			r.ErrorCode = kerr.DuplicateResource.Code
		case len(creds[name]) == 0:
			r.ErrorCode = kerr.ResourceNotFound.Code
			msg := "attempt to describe a user credential that does not exist"
			r.ErrorMessage = &msg
		}
		if r.ErrorCode == 0 {
			for _, cr := range creds[name] {
				info := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
				info.Mechanism, info.Iterations = int8(cr.Mechanism), cr.Iterations
				r.CredentialInfos = append(r.CredentialInfos, info)
			}
		}
		resp.Results = append(resp.Results, r)
	}
}
