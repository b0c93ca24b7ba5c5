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

// GroupWrite is one change to a group: Delete removes the group's record,
// every committed offset and every pending transactional offset (and
// nothing else may be set with it); TxnOffsets or TxnEnd, when set, is the
// write's only change; otherwise Record, when non-nil, replaces the group's
// record, and Offsets puts (non-nil) or deletes (nil) committed offsets. A
// deleted committed offset takes the partition's pending transactional
// offsets (of every producer) with it, as Kafka's offset tombstone does.
type GroupWrite struct {
	Group      string
	Delete     bool
	Record     *GroupRecord
	Offsets    map[GroupPartition]*CommittedOffset
	TxnOffsets *TxnOffsets
	TxnEnd     *TxnEnd
}

// TxnOffsets puts pending transactional offsets of a producer in a group
// (TxnOffsetCommit): they stay apart from the committed offsets until the
// producer's transaction ends (TxnEnd).
type TxnOffsets struct {
	ProducerID int64
	Offsets    map[GroupPartition]CommittedOffset
}

// TxnEnd ends a producer's transaction in a group. Offsets are the
// producer's pending offsets, each of which is deleted; when Commit is set,
// each non-nil one becomes the partition's committed offset in the same
// etcd transaction (nil: a later commit of the partition superseded it, see
// PendingOffset). The coordinator fills Offsets from what it loaded and
// applied: etcd transactions cannot read what they write.
type TxnEnd struct {
	ProducerID int64
	Commit     bool
	Offsets    map[GroupPartition]*CommittedOffset
}

// PendingOffset is a pending transactional offset as loaded. Superseded
// is set when the partition's committed offset was written after it (by
// an OffsetCommit, or another producer's committed transaction): Kafka
// keeps the most recent commit, so committing the transaction leaves that
// partition's committed offset as it is.
type PendingOffset struct {
	Offset     CommittedOffset
	Superseded bool
}

// LoadedGroup is what etcd holds of one group.
type LoadedGroup struct {
	Record  *GroupRecord // nil: offsets only (simple-consumer commits)
	Offsets map[GroupPartition]CommittedOffset
	// TxnOffsets are the pending transactional offsets, by producer id.
	TxnOffsets map[int64]map[GroupPartition]PendingOffset
}

// groupKey escapes a group id for the key layout: a group id is any string,
// and must not contain the separator.
func groupKey(group string) string { return url.PathEscape(group) }

// GroupBatch is the writes of one coordinator shard, the partition Shard
// of OffsetsTopic, led under Epoch (its fencing epoch).
type GroupBatch struct {
	Shard  PartitionKey
	Epoch  int64
	Writes []GroupWrite
}

// encodedWrite is one GroupWrite as etcd operations; delete is set when
// they include a range delete.
type encodedWrite struct {
	ops    []clientv3.Op
	bytes  int
	delete bool
}

// txnPart is one batch's operations in one transaction.
type txnPart struct {
	batch int
	ops   []clientv3.Op
}

// CommitGroups applies the writes of many coordinator shards in as few
// transactions as etcd's limits allow, each transaction guarded by
// Compare(CreateRevision(leader key) == epoch) for every shard it writes,
// and returns one error per batch: nil, ErrFenced when the shard is led
// under another epoch, or a transport error, which leaves the outcome
// unknown (retrying is safe: the writes put the same values). A shard's
// writes apply in order, and once one of its transactions fails, none of its
// later ones is tried; the transactions before are kept. One write is never
// split unless it alone is over the limits. Shards are independent: a
// fenced one does not hold back the others.
func (s *Store) CommitGroups(ctx context.Context, batches []GroupBatch) []error {
	errs := make([]error, len(batches))
	encoded := make([][]encodedWrite, len(batches))
	for i, b := range batches {
		if b.Epoch <= 0 {
			errs[i] = ErrFenced // CreateRevision == 0 holds for an absent key
			continue
		}
		for _, w := range b.Writes {
			ops, bytes, ranged, err := s.groupOps(b.Shard.Partition, w)
			if err != nil {
				errs[i] = err
				break
			}
			encoded[i] = append(encoded[i], encodedWrite{ops: ops, bytes: bytes, delete: ranged})
		}
	}

	var txns [][]txnPart
	var cur []txnPart
	nops, size := 0, 0
	touched := map[string]bool{} // etcd rejects a transaction that writes a key twice
	flush := func() {
		if len(cur) > 0 {
			txns = append(txns, cur)
		}
		cur, nops, size, touched = nil, 0, 0, map[string]bool{}
	}
	add := func(batch int, ops []clientv3.Op, bytes int) {
		if len(cur) == 0 || cur[len(cur)-1].batch != batch {
			cur = append(cur, txnPart{batch: batch})
		}
		last := &cur[len(cur)-1]
		last.ops = append(last.ops, ops...)
		for _, op := range ops {
			touched[string(op.KeyBytes())] = true
		}
		nops, size = nops+len(ops), size+bytes
	}
	for i := range batches {
		if errs[i] != nil {
			continue
		}
		for _, w := range encoded[i] {
			clash := false
			for _, op := range w.ops {
				clash = clash || touched[string(op.KeyBytes())]
			}
			// Compares count against the limit like operations: one per part.
			if w.delete || clash || nops+len(w.ops) > maxTxnOps || len(cur) >= maxTxnOps || size+w.bytes > maxTxnBytes {
				flush()
			}
			ops := w.ops
			for len(ops) > maxTxnOps {
				add(i, ops[:maxTxnOps], 0)
				flush()
				ops = ops[maxTxnOps:]
			}
			add(i, ops, w.bytes)
			if w.delete {
				flush() // a range delete may overlap every later write of the group
			}
		}
	}
	flush()
	for _, parts := range txns {
		s.commitGroupTxn(ctx, batches, parts, errs)
	}
	return errs
}

// commitGroupTxn commits one transaction's parts, skipping those of batches
// that failed already, and sets errs (commitGuarded: the parts of shards
// whose epoch is gone are fenced, the rest go again).
func (s *Store) commitGroupTxn(ctx context.Context, batches []GroupBatch, parts []txnPart, errs []error) {
	var live []txnPart
	var guards []guarded
	for _, p := range parts {
		if errs[p.batch] == nil {
			b := &batches[p.batch]
			live = append(live, p)
			guards = append(guards, guarded{leaderKey: s.keys.leader(b.Shard), epoch: b.Epoch, ops: p.ops})
		}
	}
	s.commitGuarded(ctx, "group", guards,
		func(i int) string { return fmt.Sprintf("groups of shard %d", batches[live[i].batch].Shard.Partition) },
		func(i int, err error) { errs[live[i].batch] = err })
}

// groupOps encodes one write as etcd operations, with their size in bytes
// and whether one of them is a range delete.
func (s *Store) groupOps(shard int32, w GroupWrite) (ops []clientv3.Op, bytes int, ranged bool, err error) {
	others := w.Record != nil || len(w.Offsets) > 0
	switch {
	case w.Delete && (others || w.TxnOffsets != nil || w.TxnEnd != nil):
		return nil, 0, false, fmt.Errorf("%w: group %q: a delete carries no other change", ErrInvalid, w.Group)
	case w.TxnOffsets != nil && (others || w.TxnEnd != nil), w.TxnEnd != nil && others:
		return nil, 0, false, fmt.Errorf("%w: group %q: transactional offsets carry no other change", ErrInvalid, w.Group)
	}
	if w.Delete {
		prefix := s.keys.group(shard, w.Group) + "/"
		ops = append(ops, clientv3.OpDelete(prefix, clientv3.WithPrefix()))
		return ops, len(prefix), true, nil
	}
	put := func(k string, v any) error {
		val, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("metadata: encode group %q: %w", w.Group, err)
		}
		ops = append(ops, clientv3.OpPut(k, string(val)))
		bytes += len(k) + len(val)
		return nil
	}
	if w.Record != nil {
		if err := put(s.keys.groupRecord(shard, w.Group), w.Record); err != nil {
			return nil, 0, false, err
		}
	}
	for gp, o := range w.Offsets {
		if err := checkGroupTopic(gp); err != nil {
			return nil, 0, false, err
		}
		k := s.keys.groupOffset(shard, w.Group, gp)
		if o == nil {
			pending := s.keys.groupTxnOffsets(shard, w.Group, gp)
			ops = append(ops, clientv3.OpDelete(k), clientv3.OpDelete(pending, clientv3.WithPrefix()))
			bytes += len(k) + len(pending)
			ranged = true
			continue
		}
		if err := put(k, o); err != nil {
			return nil, 0, false, err
		}
	}
	if t := w.TxnOffsets; t != nil {
		for gp, o := range t.Offsets {
			if err := checkGroupTopic(gp); err != nil {
				return nil, 0, false, err
			}
			if err := put(s.keys.groupTxnOffset(shard, w.Group, gp, t.ProducerID), o); err != nil {
				return nil, 0, false, err
			}
		}
	}
	if t := w.TxnEnd; t != nil {
		for gp, o := range t.Offsets {
			if err := checkGroupTopic(gp); err != nil {
				return nil, 0, false, err
			}
			k := s.keys.groupTxnOffset(shard, w.Group, gp, t.ProducerID)
			ops = append(ops, clientv3.OpDelete(k))
			bytes += len(k)
			if t.Commit && o != nil {
				if err := put(s.keys.groupOffset(shard, w.Group, gp), o); err != nil {
					return nil, 0, false, err
				}
			}
		}
	}
	return ops, bytes, ranged, nil
}

// checkGroupTopic rejects a topic name the key layout cannot hold.
func checkGroupTopic(gp GroupPartition) error {
	if strings.Contains(gp.Topic, "/") || gp.Topic == "" {
		return fmt.Errorf("%w: topic name %q", ErrInvalid, gp.Topic)
	}
	return nil
}

// LoadGroups reads every group of a coordinator shard, with its pending
// transactional offsets.
func (s *Store) LoadGroups(ctx context.Context, shard int32) (map[string]*LoadedGroup, error) {
	prefix := s.keys.groupShard(shard)
	resp, err := s.client.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("metadata: load groups of shard %d: %w", shard, err)
	}
	out := map[string]*LoadedGroup{}
	// The revisions the committed and pending offsets were written at:
	// a pending offset older than the partition's committed one is
	// superseded.
	type revKey struct {
		group string
		gp    GroupPartition
	}
	committedRev := map[revKey]int64{}
	type pendingRev struct {
		revKey
		producer int64
		rev      int64
	}
	var pending []pendingRev
	for _, kv := range resp.Kvs {
		rel := strings.TrimPrefix(string(kv.Key), prefix)
		esc, rest, _ := strings.Cut(rel, "/")
		group, err := url.PathUnescape(esc)
		if err != nil {
			return nil, fmt.Errorf("metadata: group key %s: %w", kv.Key, err)
		}
		g := out[group]
		if g == nil {
			g = &LoadedGroup{Offsets: map[GroupPartition]CommittedOffset{}, TxnOffsets: map[int64]map[GroupPartition]PendingOffset{}}
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
			gp := GroupPartition{Topic: topic, Partition: int32(n)}
			g.Offsets[gp] = o
			committedRev[revKey{group, gp}] = kv.ModRevision
		case "txnoffsets":
			topic, rest, _ := strings.Cut(tp, "/")
			p, pid, _ := strings.Cut(rest, "/")
			n, err := strconv.ParseInt(p, 10, 32)
			var producer int64
			if err == nil {
				producer, err = strconv.ParseInt(pid, 10, 64)
			}
			var o CommittedOffset
			if err == nil {
				err = json.Unmarshal(kv.Value, &o)
			}
			if err != nil {
				return nil, fmt.Errorf("metadata: pending transactional offset at %s: %w", kv.Key, err)
			}
			gp := GroupPartition{Topic: topic, Partition: int32(n)}
			if g.TxnOffsets[producer] == nil {
				g.TxnOffsets[producer] = map[GroupPartition]PendingOffset{}
			}
			g.TxnOffsets[producer][gp] = PendingOffset{Offset: o}
			pending = append(pending, pendingRev{revKey{group, gp}, producer, kv.ModRevision})
		}
	}
	for _, p := range pending {
		if committedRev[p.revKey] > p.rev {
			po := out[p.group].TxnOffsets[p.producer][p.gp]
			po.Superseded = true
			out[p.group].TxnOffsets[p.producer][p.gp] = po
		}
	}
	return out, nil
}
