package broker

// AlterPartitionReassignments: v0-v1.
//
// A reassignment sets a partition's replica list (assignments.go): its first
// broker becomes the preferred leader, and the controller moves the
// partition there by graceful hand-off while that broker is live. Strata
// keeps one copy of each partition, so no data is copied: the reassignment
// is over once the new preferred leader leads (ListPartitionReassignments
// lists it until then). The answer does not wait for the move. The replicas
// must name registered brokers, once each (INVALID_REPLICA_ASSIGNMENT with
// Kafka's messages); null replicas cancel the partition's reassignment,
// restoring its replica list from before (NO_REASSIGNMENT_IN_PROGRESS if
// none is under way). allow_replication_factor_change (v1) is accepted
// either way: a replica list's length has no effect on Strata. Needs ALTER
// on the cluster (CLUSTER_AUTHORIZATION_FAILED for the whole request).

import (
	"context"
	"errors"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/metadata"
)

func handleAlterPartitionReassignments(ctx context.Context, c *conn, req *kmsg.AlterPartitionAssignmentsRequest, resp *kmsg.AlterPartitionAssignmentsResponse) {
	b := c.srv
	resp.AllowReplicationFactorChange = req.AllowReplicationFactorChange
	if !c.allowedOnCluster(kmsg.ACLOperationAlter) {
		setErr(&resp.ErrorCode, &resp.ErrorMessage, kerr.ClusterAuthorizationFailed, "Authorization failed.")
		return
	}
	for _, rt := range req.Topics {
		st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		st.Topic = rt.Topic
		// One update of the topic for all its partitions; each partition
		// gets its own error.
		errs := make([]*errAssignment, len(rt.Partitions))
		err := b.topics.UpdateTopic(ctx, rt.Topic, false, func(mt *metadata.Topic) error {
			v, _ := b.topics.View()
			clear(errs)
			reassign(v, mt, rt.Partitions, errs)
			return nil
		})
		for i, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			sp.Partition = rp.Partition
			switch {
			case errors.Is(err, metadata.ErrUnknownTopic):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case err != nil:
				b.log.Error("alter partition reassignments", "topic", rt.Topic, "error", err)
				setErr(&sp.ErrorCode, &sp.ErrorMessage, kerr.UnknownServerError, err.Error())
			case errs[i] != nil:
				setErr(&sp.ErrorCode, &sp.ErrorMessage, errs[i].err, errs[i].msg)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
}

// reassign applies a topic's requested reassignments to mt, setting
// errs[i] for each partition it refuses, and forgets the reassignments
// that have completed (their preferred leader leads in v).
func reassign(v *metadata.View, mt *metadata.Topic, parts []kmsg.AlterPartitionAssignmentsRequestTopicPartition, errs []*errAssignment) {
	replicas := make([][]int32, mt.Partitions)
	for i := range replicas {
		if i < len(mt.Replicas) {
			replicas[i] = slices.Clone(mt.Replicas[i])
		}
	}
	reassigning := map[int32][]int32{}
	for p, before := range mt.Reassigning {
		if !reassignmentDone(v, mt, p) {
			reassigning[p] = before
		}
	}
	for i, rp := range parts {
		switch {
		case rp.Partition < 0 || rp.Partition >= mt.Partitions:
			errs[i] = &errAssignment{kerr.UnknownTopicOrPartition, "This server does not host this topic-partition."}
		case rp.Replicas == nil:
			before, ok := reassigning[rp.Partition]
			if !ok {
				errs[i] = &errAssignment{kerr.NoReassignmentInProgress, "No reassignment is in progress for topic " + mt.Name + " partition " + itoa(int64(rp.Partition))}
				break
			}
			replicas[rp.Partition] = before
			delete(reassigning, rp.Partition)
		default:
			if err := checkReplicas(v, rp.Replicas); err != nil {
				errs[i] = err
				break
			}
			if _, ok := reassigning[rp.Partition]; !ok {
				before := replicas[rp.Partition]
				if before == nil {
					before = []int32{} // no list before: restore none on cancel
				}
				reassigning[rp.Partition] = before
			}
			replicas[rp.Partition] = slices.Clone(rp.Replicas)
		}
	}
	mt.Replicas = replicas
	if len(reassigning) == 0 {
		reassigning = nil
	}
	mt.Reassigning = reassigning
}

// reassignmentDone reports whether partition p of t is led by its preferred leader.
func reassignmentDone(v *metadata.View, t *metadata.Topic, p int32) bool {
	l, ok := v.Leaders[metadata.PartitionKey{Topic: t.ID, Partition: p}]
	return ok && l.Broker == t.Preferred(p)
}
