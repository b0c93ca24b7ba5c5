package broker

import (
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/metadata"
)

// Replica assignments. Strata keeps one copy of each partition, led by one
// broker; an operator's replica list for a partition (CreateTopics,
// CreatePartitions, AlterPartitionReassignments) is kept with the topic and
// its first broker is the partition's preferred leader, which the controller
// assigns the partition to while that broker is live (metadata.Balance).

// errAssignment is a bad replica assignment, with Kafka's error and message.
type errAssignment struct {
	err *kerr.Error
	msg string
}

func (e *errAssignment) Error() string { return e.msg }
func (e *errAssignment) Unwrap() error { return e.err }

func badAssignment(format string, args ...any) *errAssignment {
	return &errAssignment{kerr.InvalidReplicaAssignment, fmt.Sprintf(format, args...)}
}

// checkReplicas checks one partition's replica list as Kafka's controller
// does, with its messages: not empty, no broker twice, every broker
// registered (live: a broker's registration ends with its lease).
func checkReplicas(v *metadata.View, replicas []int32) *errAssignment {
	if len(replicas) == 0 {
		return badAssignment("The manual partition assignment includes an empty replica list.")
	}
	for i, b := range replicas {
		if slices.Contains(replicas[:i], b) {
			return badAssignment("The manual partition assignment includes the broker %d more than once.", b)
		}
		if _, ok := v.Brokers[b]; !ok {
			return badAssignment("The manual partition assignment includes broker %d, but no such broker is registered.", b)
		}
	}
	return nil
}

// checkAssignment checks the replica lists of consecutive partitions: each
// as checkReplicas does, and all of one length (Kafka: one replication
// factor per topic).
func checkAssignment(v *metadata.View, lists [][]int32) *errAssignment {
	for i, r := range lists {
		if err := checkReplicas(v, r); err != nil {
			return err
		}
		if i > 0 && len(r) != len(lists[0]) {
			return badAssignment("The manual partition assignment includes a partition with %d replica(s), but this is not consistent with previous partitions, which have %d replica(s).", len(r), len(lists[0]))
		}
	}
	return nil
}
