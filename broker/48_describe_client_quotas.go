package broker

// DescribeClientQuotas: v0-v1.
//
// Lists the client quotas set in etcd (producer_byte_rate,
// consumer_byte_rate, request_percentage, controller_mutation_rate) of the
// user and client-id entities a filter matches, as Kafka matches them
// (quota.Match: exact, default and any; strict or not). An unknown entity
// type (Kafka's ip quotas included) answers UNSUPPORTED_VERSION as Kafka
// does, another bad filter INVALID_REQUEST. It needs DESCRIBE_CONFIGS on the
// cluster (CLUSTER_AUTHORIZATION_FAILED).

import (
	"context"
	"errors"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/quota"
)

func handleDescribeClientQuotas(ctx context.Context, c *conn, req *kmsg.DescribeClientQuotasRequest, resp *kmsg.DescribeClientQuotasResponse) {
	fail := func(e *kerr.Error, err error) { setErrOf(&resp.ErrorCode, &resp.ErrorMessage, e, err) }
	if !c.allowedOnCluster(kmsg.ACLOperationDescribeConfigs) {
		fail(kerr.ClusterAuthorizationFailed, nil)
		return
	}
	filters, err := quota.FiltersFromKmsg(req.Components)
	if err != nil {
		fail(kerr.InvalidRequest, err)
		return
	}
	entries, err := c.srv.store.Quotas(ctx)
	if err != nil {
		fail(asKerr(err), nil)
		return
	}
	matched, err := quota.Match(quotaConfig(entries), filters, req.Strict)
	switch {
	case errors.Is(err, quota.ErrUnknownEntityType):
		fail(kerr.UnsupportedVersion, err)
		return
	case err != nil:
		fail(kerr.InvalidRequest, err)
		return
	}
	for e, q := range matched {
		re := kmsg.NewDescribeClientQuotasResponseEntry()
		re.Entity, re.Values = e.DescribeKmsg(), q.DescribeKmsg()
		resp.Entries = append(resp.Entries, re)
	}
	sort.Slice(resp.Entries, func(i, j int) bool {
		return entityKey(resp.Entries[i].Entity) < entityKey(resp.Entries[j].Entity)
	})
}

// entityKey orders DescribeClientQuotas entries.
func entityKey(es []kmsg.DescribeClientQuotasResponseEntryEntity) string {
	k := ""
	for _, e := range es {
		k += e.Type + "="
		if e.Name != nil {
			k += *e.Name
		}
		k += "/"
	}
	return k
}
