package broker

// AlterClientQuotas: v0-v1.
//
// Sets and removes client quotas of user and client-id entities in etcd
// (quota.ValidateOp: the known keys, positive values), all of a request's
// entries in one transaction per 128 entities; with ValidateOnly it only
// checks them. Every broker enforces a change within its watch of etcd,
// this broker before the response. An entity left with no quota is
// deleted. It needs ALTER_CONFIGS on the cluster
// (CLUSTER_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/quota"
)

func handleAlterClientQuotas(ctx context.Context, c *conn, req *kmsg.AlterClientQuotasRequest, resp *kmsg.AlterClientQuotasResponse) {
	allowed := c.allowedOnCluster(kmsg.ACLOperationAlterConfigs)
	var alters []metadata.QuotaAlteration
	var at []int
	for i, entry := range req.Entries {
		re := kmsg.NewAlterClientQuotasResponseEntry()
		for _, e := range entry.Entity {
			x := kmsg.NewAlterClientQuotasResponseEntryEntity()
			x.Type, x.Name = e.Type, e.Name
			re.Entity = append(re.Entity, x)
		}
		resp.Entries = append(resp.Entries, re)
		fail := func(e *kerr.Error, err error) {
			setErrOf(&resp.Entries[i].ErrorCode, &resp.Entries[i].ErrorMessage, e, err)
		}
		if !allowed {
			fail(kerr.ClusterAuthorizationFailed, nil)
			continue
		}
		ent, err := quota.EntityFromKmsg(entry.Entity)
		if err != nil {
			fail(kerr.InvalidRequest, err)
			continue
		}
		alt := metadata.QuotaAlteration{Entity: ent, Set: map[string]float64{}}
		for _, op := range entry.Ops {
			if err = quota.ValidateOp(op.Key, op.Value, op.Remove); err != nil {
				break
			}
			if op.Remove {
				alt.Remove = append(alt.Remove, op.Key)
			} else {
				alt.Set[op.Key] = op.Value
			}
		}
		if err != nil {
			fail(kerr.InvalidRequest, err)
			continue
		}
		alters = append(alters, alt)
		at = append(at, i)
	}
	if len(alters) == 0 || req.ValidateOnly {
		return
	}
	if err := c.srv.writeSecurity(ctx, "alter client quotas", func(ctx context.Context) error { return c.srv.store.AlterQuotas(ctx, alters) }); err != nil {
		for _, i := range at {
			resp.Entries[i].ErrorCode = asKerr(err).Code
		}
	}
}
