package metadata

// KIP-848 consumer groups in etcd.
//
// A consumer group (the protocol of ConsumerGroupHeartbeat) keeps its whole
// membership in one key beside its offsets:
//
//	groups/<shard>/<group>/consumer   ConsumerGroupRecord, JSON
//
// It is rewritten whole when the group changes (a member joins, leaves or
// is fenced, a subscription changes, a member's epoch or assignment moves
// on), never for a heartbeat that changes nothing. A group of a few hundred
// members and partitions makes a record of a few tens of KiB, well within
// etcd's request limit. The key is under the group's stem, so DeleteGroups'
// range delete of the group removes it with the offsets.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// consumerGroupsPerTxn bounds the records one guarded transaction puts
// (etcd's default --max-txn-ops is 128).
const consumerGroupsPerTxn = 100

// ConsumerGroupRecord is a KIP-848 consumer group as etcd keeps it: enough
// for a new coordinator to resume every member at its epoch with its
// assignment, without reassigning anything.
type ConsumerGroupRecord struct {
	Epoch           int32  `json:"epoch"`
	AssignmentEpoch int32  `json:"assignmentEpoch"`
	Assignor        string `json:"assignor,omitempty"`
	// SubscriptionHash names the subscribed topics, their ids and
	// partition counts, as of the target assignment: a new coordinator
	// knows from it whether they changed meanwhile.
	SubscriptionHash string                `json:"subscriptionHash,omitempty"`
	Members          []ConsumerGroupMember `json:"members,omitempty"`
}

// ConsumerAssignment is a set of partitions by topic id, each list sorted.
type ConsumerAssignment map[TopicID][]int32

// ConsumerGroupMember is one member of a ConsumerGroupRecord.
type ConsumerGroupMember struct {
	ID                 string   `json:"id"`
	InstanceID         *string  `json:"instanceId,omitempty"`
	RackID             *string  `json:"rackId,omitempty"`
	ClientID           string   `json:"clientId"`
	ClientHost         string   `json:"clientHost"`
	RebalanceTimeoutMs int32    `json:"rebalanceTimeoutMs"`
	Assignor           string   `json:"assignor,omitempty"`
	SubscribedTopics   []string `json:"topics,omitempty"`
	SubscribedRegex    string   `json:"regex,omitempty"`
	// Epoch is the member epoch (-2: a static member that left and may
	// come back), PreviousEpoch the one before it, State the
	// reconciliation state (coordinator's numbering).
	Epoch         int32 `json:"epoch"`
	PreviousEpoch int32 `json:"previousEpoch"`
	State         int8  `json:"state"`
	// Assigned are the partitions the member owns, Revoking those it was
	// told to give up and has not yet, Target what the assignor gave it.
	Assigned ConsumerAssignment `json:"assigned,omitempty"`
	Revoking ConsumerAssignment `json:"revoking,omitempty"`
	Target   ConsumerAssignment `json:"target,omitempty"`
	// Classic is set for a member of the classic protocol
	// (consumer_groups_classic.go), nil for one of the consumer protocol.
	Classic *ClassicMember `json:"classic,omitempty"`
}

// ConsumerGroupPut is one consumer group's record to write, nil to delete
// it (the group is classic again, or gone).
type ConsumerGroupPut struct {
	Group  string
	Record *ConsumerGroupRecord
}

func (k keys) consumerGroup(shard int32, group string) string {
	return k.group(shard, group) + "/consumer"
}

// PutConsumerGroups writes consumer-group records of one coordinator shard,
// led under epoch, in as few transactions as etcd's limits allow, each
// guarded by the shard's epoch: ErrFenced when another broker leads it
// now, or the transport's error (the outcome is then unknown; writing the
// same records again is safe). Transactions before a failed one are kept.
func (s *Store) PutConsumerGroups(ctx context.Context, shard PartitionKey, epoch int64, puts []ConsumerGroupPut) error {
	if epoch <= 0 {
		return ErrFenced
	}
	leaderKey := s.keys.leader(shard)
	for len(puts) > 0 {
		n := min(len(puts), consumerGroupsPerTxn)
		ops := make([]clientv3.Op, 0, n)
		for _, p := range puts[:n] {
			k := s.keys.consumerGroup(shard.Partition, p.Group)
			if p.Record == nil {
				ops = append(ops, clientv3.OpDelete(k))
				continue
			}
			val, err := json.Marshal(p.Record)
			if err != nil {
				return fmt.Errorf("metadata: encode consumer group %q: %w", p.Group, err)
			}
			ops = append(ops, clientv3.OpPut(k, string(val)))
		}
		resp, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(leaderKey), "=", epoch)).
			Then(ops...).Commit()
		if err != nil {
			return fmt.Errorf("metadata: commit consumer groups of shard %d: %w", shard.Partition, err)
		}
		if !resp.Succeeded {
			return ErrFenced
		}
		puts = puts[n:]
	}
	return nil
}

// LoadConsumerGroups reads the consumer-group records of a coordinator
// shard, by group id.
func (s *Store) LoadConsumerGroups(ctx context.Context, shard int32) (map[string]*ConsumerGroupRecord, error) {
	prefix := s.keys.groupShard(shard)
	resp, err := s.client.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("metadata: load consumer groups of shard %d: %w", shard, err)
	}
	out := map[string]*ConsumerGroupRecord{}
	for _, kv := range resp.Kvs {
		rel := strings.TrimPrefix(string(kv.Key), prefix)
		esc, rest, _ := strings.Cut(rel, "/")
		if rest != "consumer" {
			continue
		}
		group, err := url.PathUnescape(esc)
		if err != nil {
			return nil, fmt.Errorf("metadata: group key %s: %w", kv.Key, err)
		}
		r := new(ConsumerGroupRecord)
		if err := json.Unmarshal(kv.Value, r); err != nil {
			return nil, fmt.Errorf("metadata: consumer group record at %s: %w", kv.Key, err)
		}
		out[group] = r
	}
	return out, nil
}
