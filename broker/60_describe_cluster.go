package broker

// DescribeCluster: v0-v1.
//
// The cluster id kept in etcd, the controller and the live brokers
// registered under their etcd leases, from the broker's watched view.

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
	for _, mb := range b.metadataBrokers(v) {
		rb := kmsg.NewDescribeClusterResponseBroker()
		rb.NodeID, rb.Host, rb.Port, rb.Rack = mb.NodeID, mb.Host, mb.Port, mb.Rack
		resp.Brokers = append(resp.Brokers, rb)
	}
}
