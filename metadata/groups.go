package metadata

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// OffsetsTopic is the internal topic whose partitions are the consumer-group
// coordinator shards. It holds no records: a shard is led like any partition
// (leader key, fencing epoch, hand-off, failover), and the groups it
// coordinates live under groups/<shard>/ in etcd.
const OffsetsTopic = "__consumer_offsets"

// CommittedOffset is one committed offset of a group on one partition.
type CommittedOffset struct {
	Offset      int64   `json:"offset"`
	LeaderEpoch int32   `json:"leaderEpoch"`
	Metadata    *string `json:"metadata,omitempty"`
	CommitTime  int64   `json:"time"` // unix ms
}

// GroupPartition names a partition by topic name, as offsets do in Kafka.
type GroupPartition struct {
	Topic     string
	Partition int32
}

// GroupRecord is a group's membership as of its last completed generation
// (or its emptiness), so that a new coordinator resumes the group without a
// rebalance.
type GroupRecord struct {
	ProtocolType string        `json:"protocolType"`
	Protocol     string        `json:"protocol,omitempty"`
	Generation   int32         `json:"generation"`
	Leader       string        `json:"leader,omitempty"`
	Members      []GroupMember `json:"members,omitempty"`
}

// GroupMember is one member of a GroupRecord.
type GroupMember struct {
	ID               string          `json:"id"`
	InstanceID       *string         `json:"instanceId,omitempty"`
	ClientID         string          `json:"clientId"`
	ClientHost       string          `json:"clientHost"`
	SessionTimeoutMs int32           `json:"sessionTimeoutMs"`
	RebalanceTimeout int32           `json:"rebalanceTimeoutMs"`
	Protocols        []GroupProtocol `json:"protocols"`
	Assignment       []byte          `json:"assignment,omitempty"`
}

// GroupProtocol is one protocol a member supports, with its metadata.
type GroupProtocol struct {
	Name     string `json:"name"`
	Metadata []byte `json:"metadata,omitempty"`
}

// GroupWrite is one change to a group: Delete removes the group's record and
// every offset (and nothing else may be set with it); otherwise Record, when
// non-nil, replaces the group's record, and Offsets puts (non-nil) or deletes
// (nil) committed offsets.
type GroupWrite struct {
	Group   string
	Delete  bool
	Record  *GroupRecord
	Offsets map[GroupPartition]*CommittedOffset
}

// LoadedGroup is what etcd holds of one group.
type LoadedGroup struct {
	Record  *GroupRecord // nil: offsets only (simple-consumer commits)
	Offsets map[GroupPartition]CommittedOffset
}

// groupKey escapes a group id for the key layout: a group id is any string,
// and must not contain the separator.
func groupKey(group string) string { return url.PathEscape(group) }

// CommitGroups applies writes to the groups of the coordinator shard led
// under epoch (the shard partition's fencing epoch), in order, each
// transaction guarded by Compare(CreateRevision(leader key) == epoch), in as
// few transactions as etcd's limits allow. One write is never split unless
// it alone is over the limits. ErrFenced when the shard is led under another
// epoch; a transport error leaves the outcome unknown, and the caller may
// retry. On any error the transactions before it are kept.
func (s *Store) CommitGroups(ctx context.Context, shard PartitionKey, epoch int64, writes []GroupWrite) error {
	if epoch <= 0 {
		return ErrFenced
	}
	var txns [][]clientv3.Op
	var cur []clientv3.Op
	size := 0
	touched := map[string]bool{} // etcd rejects a transaction that writes a key twice
	flush := func() {
		if len(cur) > 0 {
			txns = append(txns, cur)
		}
		cur, size, touched = nil, 0, map[string]bool{}
	}
	for _, w := range writes {
		ops, bytes, err := s.groupOps(shard.Partition, w)
		if err != nil {
			return err
		}
		clash := false
		for _, op := range ops {
			clash = clash || touched[string(op.KeyBytes())]
		}
		if w.Delete || clash || len(cur)+len(ops) > maxTxnOps || size+bytes > maxTxnBytes {
			flush()
		}
		for _, op := range ops {
			touched[string(op.KeyBytes())] = true
		}
		for len(ops) > maxTxnOps {
			txns = append(txns, ops[:maxTxnOps])
			ops = ops[maxTxnOps:]
		}
		cur = append(cur, ops...)
		size += bytes
		if w.Delete {
			flush() // a range delete overlaps every later write of the group
		}
	}
	flush()
	guard := clientv3.Compare(clientv3.CreateRevision(s.keys.leader(shard)), "=", epoch)
	for _, ops := range txns {
		resp, err := s.client.Txn(ctx).If(guard).Then(ops...).Commit()
		if err != nil {
			return fmt.Errorf("metadata: commit groups of shard %d: %w", shard.Partition, err)
		}
		if !resp.Succeeded {
			return ErrFenced
		}
	}
	return nil
}

// groupOps encodes one write as etcd operations, with their size in bytes.
func (s *Store) groupOps(shard int32, w GroupWrite) ([]clientv3.Op, int, error) {
	var ops []clientv3.Op
	bytes := 0
	if w.Delete && (w.Record != nil || len(w.Offsets) > 0) {
		return nil, 0, fmt.Errorf("%w: group %q: a delete carries no other change", ErrInvalid, w.Group)
	}
	if w.Delete {
		prefix := s.keys.group(shard, w.Group) + "/"
		ops = append(ops, clientv3.OpDelete(prefix, clientv3.WithPrefix()))
		bytes += len(prefix)
	}
	if w.Record != nil {
		val, err := json.Marshal(w.Record)
		if err != nil {
			return nil, 0, fmt.Errorf("metadata: encode group %q: %w", w.Group, err)
		}
		k := s.keys.groupRecord(shard, w.Group)
		ops = append(ops, clientv3.OpPut(k, string(val)))
		bytes += len(k) + len(val)
	}
	for gp, o := range w.Offsets {
		if strings.Contains(gp.Topic, "/") || gp.Topic == "" {
			return nil, 0, fmt.Errorf("%w: topic name %q", ErrInvalid, gp.Topic)
		}
		k := s.keys.groupOffset(shard, w.Group, gp)
		if o == nil {
			ops = append(ops, clientv3.OpDelete(k))
			bytes += len(k)
			continue
		}
		val, err := json.Marshal(o)
		if err != nil {
			return nil, 0, fmt.Errorf("metadata: encode offset of group %q: %w", w.Group, err)
		}
		ops = append(ops, clientv3.OpPut(k, string(val)))
		bytes += len(k) + len(val)
	}
	return ops, bytes, nil
}

// LoadGroups reads every group of a coordinator shard.
func (s *Store) LoadGroups(ctx context.Context, shard int32) (map[string]*LoadedGroup, error) {
	prefix := s.keys.groupShard(shard)
	resp, err := s.client.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("metadata: load groups of shard %d: %w", shard, err)
	}
	out := map[string]*LoadedGroup{}
	for _, kv := range resp.Kvs {
		rel := strings.TrimPrefix(string(kv.Key), prefix)
		esc, rest, _ := strings.Cut(rel, "/")
		group, err := url.PathUnescape(esc)
		if err != nil {
			return nil, fmt.Errorf("metadata: group key %s: %w", kv.Key, err)
		}
		g := out[group]
		if g == nil {
			g = &LoadedGroup{Offsets: map[GroupPartition]CommittedOffset{}}
			out[group] = g
		}
		switch kind, tp, _ := strings.Cut(rest, "/"); kind {
		case "record":
			g.Record = new(GroupRecord)
			if err := json.Unmarshal(kv.Value, g.Record); err != nil {
				return nil, fmt.Errorf("metadata: group record at %s: %w", kv.Key, err)
			}
		case "offsets":
			topic, p, _ := strings.Cut(tp, "/")
			n, err := strconv.ParseInt(p, 10, 32)
			var o CommittedOffset
			if err == nil {
				err = json.Unmarshal(kv.Value, &o)
			}
			if err != nil {
				return nil, fmt.Errorf("metadata: committed offset at %s: %w", kv.Key, err)
			}
			g.Offsets[GroupPartition{Topic: topic, Partition: int32(n)}] = o
		}
	}
	return out, nil
}
