package broker

// ElectLeaders: v0-v2.
//
// PREFERRED elections move each named partition (every partition, for null
// topics) to its preferred leader, the first broker of the replica list an
// operator set (CreateTopics or CreatePartitions with an assignment,
// AlterPartitionReassignments). The controller already assigns a partition
// to its live preferred leader; the election waits, up to the request's
// timeout, until the graceful hand-off has made that broker the leader
// (REQUEST_TIMED_OUT if it has not). A partition led by its preferred
// leader, or with no replica list (its one replica is its leader), is
// ELECTION_NOT_NEEDED, and left out of an answer for every partition, as in
// Kafka; one whose preferred leader is not live is
// PREFERRED_LEADER_NOT_AVAILABLE; an unknown one UNKNOWN_TOPIC_OR_PARTITION.
// UNCLEAN elections have nothing to do: a partition with a live broker is
// always led (ELECTION_NOT_NEEDED), else ELIGIBLE_LEADERS_NOT_AVAILABLE.
// Needs ALTER on the cluster (CLUSTER_AUTHORIZATION_FAILED).

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/metadata"
)

// electionPreferred and electionUnclean are ElectLeaders' election types.
const (
	electionPreferred = 0
	electionUnclean   = 1
)

func handleElectLeaders(ctx context.Context, c *conn, req *kmsg.ElectLeadersRequest, resp *kmsg.ElectLeadersResponse) {
	b := c.srv
	v, _ := b.topics.View()
	all := req.Topics == nil
	type want struct {
		topic string
		parts []int32
	}
	var wants []want
	if all {
		names := make([]string, 0, len(v.Topics))
		for name := range v.Topics {
			names = append(names, name)
		}
		slices.Sort(names)
		for _, name := range names {
			w := want{topic: name}
			for p := range v.Topics[name].Partitions {
				w.parts = append(w.parts, p)
			}
			wants = append(wants, w)
		}
	} else {
		for _, rt := range req.Topics {
			wants = append(wants, want{rt.Topic, rt.Partitions})
		}
	}
	denied := !c.allowedOnCluster(kmsg.ACLOperationAlter)
	if denied {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
	}
	timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
	if timeout <= 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// waiting are the partitions on their way to their preferred leader:
	// resp.Topics[topic].Partitions[part].
	type waiting struct {
		topic, part int
		key         metadata.PartitionKey
		to          int32
	}
	var waits []waiting
	for _, w := range wants {
		st := kmsg.NewElectLeadersResponseTopic()
		st.Topic = w.topic
		// The topic as etcd has it now: a reassignment made just before
		// may not be in this broker's view yet.
		t, err := b.store.Topic(ctx, w.topic)
		known := err == nil
		if err != nil && !errors.Is(err, metadata.ErrUnknownTopic) {
			b.log.Error("elect leaders: read topic", "topic", w.topic, "error", err)
		}
		for _, p := range w.parts {
			sp := kmsg.NewElectLeadersResponseTopicPartition()
			sp.Partition = p
			key := metadata.PartitionKey{Topic: t.ID, Partition: p}
			l, led := v.Leaders[key]
			_, leaderLive := v.Brokers[l.Broker]
			led = led && leaderLive
			pref := t.Preferred(p)
			_, prefLive := v.Brokers[pref]
			switch {
			case denied:
				setErr(&sp.ErrorCode, &sp.ErrorMessage, kerr.ClusterAuthorizationFailed, "Authorization failed.")
			case !known || p < 0 || p >= t.Partitions:
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case req.ElectionType == electionUnclean && led:
				sp.ErrorCode = kerr.ElectionNotNeeded.Code
			case req.ElectionType == electionUnclean:
				sp.ErrorCode = kerr.EligibleLeadersNotAvailable.Code
			case req.ElectionType != electionPreferred:
				setErr(&sp.ErrorCode, &sp.ErrorMessage, kerr.InvalidRequest, fmt.Sprintf("unknown election type %d", req.ElectionType))
			case pref < 0 || (led && l.Broker == pref):
				if all {
					continue
				}
				sp.ErrorCode = kerr.ElectionNotNeeded.Code
			case !prefLive:
				setErr(&sp.ErrorCode, &sp.ErrorMessage, kerr.PreferredLeaderNotAvailable,
					fmt.Sprintf("Failed to elect leader for partition %s-%d under strategy PreferredElection: broker %d is not alive", w.topic, p, pref))
			default:
				// The controller assigns it there; wait for the hand-off.
				waits = append(waits, waiting{len(resp.Topics), len(st.Partitions), key, pref})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		if len(st.Partitions) > 0 || !all {
			resp.Topics = append(resp.Topics, st)
		}
	}
	for _, w := range waits {
		if !b.awaitLeader(ctx, w.key, w.to) {
			st := &resp.Topics[w.topic]
			sp := &st.Partitions[w.part]
			setErr(&sp.ErrorCode, &sp.ErrorMessage, kerr.RequestTimedOut,
				fmt.Sprintf("broker %d did not take the leadership of partition %s-%d within %v", w.to, st.Topic, sp.Partition, timeout))
		}
	}
}

// awaitLeader waits until broker leads key in the view; false if ctx ended first.
func (b *server) awaitLeader(ctx context.Context, key metadata.PartitionKey, broker int32) bool {
	for {
		v, changed := b.topics.View()
		if l, ok := v.Leaders[key]; ok && l.Broker == broker {
			return true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}
