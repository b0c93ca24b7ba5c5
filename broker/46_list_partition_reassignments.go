package broker

// ListPartitionReassignments: v0.
//
// Lists the reassignments under way (AlterPartitionReassignments): those
// whose new preferred leader does not lead yet, of the named partitions or
// of every topic (null topics). Replicas is the new replica list, adding
// and removing the brokers it adds to and removes from the list before;
// nothing is copied between brokers (Strata keeps one copy in the object
// store). Unknown topics and partitions are left out, as in Kafka. Needs
// DESCRIBE on the cluster (CLUSTER_AUTHORIZATION_FAILED).

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleListPartitionReassignments(_ context.Context, c *conn, req *kmsg.ListPartitionReassignmentsRequest, resp *kmsg.ListPartitionReassignmentsResponse) {
	if !c.allowedOnCluster(kmsg.ACLOperationDescribe) {
		setErr(&resp.ErrorCode, &resp.ErrorMessage, kerr.ClusterAuthorizationFailed, "Authorization failed.")
		return
	}
	v, _ := c.srv.topics.View()
	wanted := map[string][]int32{} // nil: every partition
	if req.Topics == nil {
		for name := range v.Topics {
			wanted[name] = nil
		}
	}
	for _, rt := range req.Topics {
		wanted[rt.Topic] = append(wanted[rt.Topic], rt.Partitions...)
	}
	names := make([]string, 0, len(wanted))
	for name := range wanted {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		t, ok := v.Topics[name]
		if !ok || len(t.Reassigning) == 0 {
			continue
		}
		parts := wanted[name]
		if parts == nil {
			for p := range t.Reassigning {
				parts = append(parts, p)
			}
			slices.Sort(parts)
		}
		st := kmsg.NewListPartitionReassignmentsResponseTopic()
		st.Topic = name
		for _, p := range parts {
			before, ok := t.Reassigning[p]
			if !ok || reassignmentDone(v, &t, p) {
				continue
			}
			sp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
			sp.Partition = p
			sp.Replicas = slices.Clone(t.Replicas[p])
			for _, r := range sp.Replicas {
				if !slices.Contains(before, r) {
					sp.AddingReplicas = append(sp.AddingReplicas, r)
				}
			}
			for _, r := range before {
				if !slices.Contains(sp.Replicas, r) {
					sp.RemovingReplicas = append(sp.RemovingReplicas, r)
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		if len(st.Partitions) > 0 {
			resp.Topics = append(resp.Topics, st)
		}
	}
}
