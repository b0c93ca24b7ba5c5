package broker

// DescribeCluster: v0-v1.
//
// The cluster id kept in etcd, the controller (this broker, for now) and the
// live brokers registered under their etcd leases.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(60, 0, 1, async(handleDescribeCluster)) }

func handleDescribeCluster(ctx context.Context, c *conn, req *kmsg.DescribeClusterRequest) kmsg.Response {
	b := c.b
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.ClusterID = b.clusterID
	resp.ControllerID = b.id
	resp.EndpointType = 1 // brokers
	for _, mb := range b.metadataBrokers(ctx) {
		rb := kmsg.NewDescribeClusterResponseBroker()
		rb.NodeID, rb.Host, rb.Port, rb.Rack = mb.NodeID, mb.Host, mb.Port, mb.Rack
		resp.Brokers = append(resp.Brokers, rb)
	}
	return resp
}
