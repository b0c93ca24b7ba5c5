package broker

// DescribeCluster: v0-v1.
//
// The cluster id kept in etcd, the controller and the live brokers
// registered under their etcd leases, from the broker's watched view. As in
// Kafka, any principal may ask; the cluster's authorized operations, when
// asked for, are those of a principal with DESCRIBE on the cluster, 0
// otherwise.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleDescribeCluster(ctx context.Context, c *conn, req *kmsg.DescribeClusterRequest, resp *kmsg.DescribeClusterResponse) {
	b := c.srv
	v, _ := b.topics.View()
	resp.ClusterID = b.clusterID
	resp.ControllerID = b.controllerID(v)
	resp.EndpointType = 1 // brokers
	if req.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = c.clusterAuthorizedOps()
	}
	for _, mb := range b.metadataBrokers(v, c.listener) {
		rb := kmsg.NewDescribeClusterResponseBroker()
		rb.NodeID, rb.Host, rb.Port, rb.Rack = mb.NodeID, mb.Host, mb.Port, mb.Rack
		resp.Brokers = append(resp.Brokers, rb)
	}
}
