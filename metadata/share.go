package metadata

// KIP-932 share groups in etcd.
//
//	shares/<topic-id>/<partition>/<group>   the share-partition state of one group on one partition:
//	                                        JSON of partition.ShareSnapshot, written by the partition's
//	                                        leader, every transaction guarded by its epoch and by the
//	                                        key's mod revision the leader last saw (an admin may
//	                                        replace or delete the key: the leader then reads it again)
//	sharegroups/<group>/config              the group's configs (share.record.lock.duration.ms, …): JSON object
//
// <group> is path-escaped as in groups/. The share-partition states live by
// partition so that a new leader reads them with one range read.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// shareStatesPerTxn bounds the share-partition states one etcd transaction
// writes: each takes two compares and two reads in the failure branch, and
// etcd's --max-txn-ops (128 by default) bounds each.
const shareStatesPerTxn = 64

// ErrShareStateChanged: a share-partition state was written by someone
// else (an admin's AlterShareGroupOffsets, DeleteShareGroupOffsets or
// DeleteGroups) since the leader read or wrote it; the leader's copy is
// stale and must be read again.
var ErrShareStateChanged = errors.New("metadata: share state changed since it was read")

func (k keys) shares() string { return k.prefix + "shares/" }
func (k keys) shareTopic(id TopicID) string {
	return k.shares() + id.String() + "/"
}
func (k keys) sharePartition(p PartitionKey) string {
	return k.shareTopic(p.Topic) + strconv.Itoa(int(p.Partition)) + "/"
}
func (k keys) shareState(p PartitionKey, group string) string {
	return k.sharePartition(p) + groupKey(group)
}
func (k keys) shareGroupConfig(group string) string {
	return k.prefix + "sharegroups/" + groupKey(group) + "/config"
}

// ShareStateWrite is one share-partition state to store: Value (nil:
// delete it) for Group on Partition, whose leader holds Epoch. Revision is
// the state key's etcd mod revision the leader last read or wrote (0: the
// key did not exist): the write happens only if the key is still at it, so
// that the leader never overwrites an admin's change with its stale copy.
type ShareStateWrite struct {
	Partition PartitionKey
	Epoch     int64
	Group     string
	Value     []byte
	Revision  int64
}

// ShareStateResult is the outcome of one ShareStateWrite: the key's new
// mod revision (0 when deleted), or an error.
type ShareStateResult struct {
	Revision int64
	Err      error
}

// CommitShareStates stores the states, each guarded by its partition's
// epoch and by its key's mod revision, in as few transactions as fit, and
// returns one result per write: its new revision, or ErrFenced when its
// partition is no longer led under its epoch, ErrShareStateChanged when the
// key moved from its Revision, or the transaction's error.
func (s *Store) CommitShareStates(ctx context.Context, writes []ShareStateWrite) []ShareStateResult {
	out := make([]ShareStateResult, len(writes))
	for lo := 0; lo < len(writes); lo += shareStatesPerTxn {
		hi := min(lo+shareStatesPerTxn, len(writes))
		s.commitShareStates(ctx, writes[lo:hi], out[lo:hi])
	}
	return out
}

// commitShareStates commits writes in one transaction. When a compare
// fails, the failure branch has read every leader key and state key at the
// transaction's revision: the writes whose epoch or revision moved fail
// for good, and the rest go again.
func (s *Store) commitShareStates(ctx context.Context, writes []ShareStateWrite, out []ShareStateResult) {
	live := make([]int, len(writes))
	for i := range live {
		live[i] = i
	}
	for len(live) > 0 {
		cmps := make([]clientv3.Cmp, 0, 2*len(live))
		thens := make([]clientv3.Op, 0, len(live))
		elses := make([]clientv3.Op, 0, 2*len(live))
		for _, i := range live {
			w := writes[i]
			key, leader := s.keys.shareState(w.Partition, w.Group), s.keys.leader(w.Partition)
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(leader), "=", w.Epoch),
				clientv3.Compare(clientv3.ModRevision(key), "=", w.Revision))
			op := clientv3.OpDelete(key)
			if w.Value != nil {
				op = clientv3.OpPut(key, string(w.Value))
			}
			thens = append(thens, op)
			elses = append(elses, clientv3.OpGet(leader, clientv3.WithKeysOnly()), clientv3.OpGet(key, clientv3.WithKeysOnly()))
		}
		resp, err := s.client.Txn(ctx).If(cmps...).Then(thens...).Else(elses...).Commit()
		if err != nil {
			for _, i := range live {
				out[i].Err = fmt.Errorf("metadata: commit share state of %q on %v: %w", writes[i].Group, writes[i].Partition, err)
			}
			return
		}
		if resp.Succeeded {
			for _, i := range live {
				if writes[i].Value != nil {
					out[i].Revision = resp.Header.Revision
				}
			}
			return
		}
		still := live[:0:0]
		for n, i := range live {
			var epoch, rev int64
			if kvs := resp.Responses[2*n].GetResponseRange().Kvs; len(kvs) > 0 {
				epoch = kvs[0].CreateRevision
			}
			if kvs := resp.Responses[2*n+1].GetResponseRange().Kvs; len(kvs) > 0 {
				rev = kvs[0].ModRevision
			}
			switch {
			case epoch != writes[i].Epoch:
				out[i].Err = ErrFenced
			case rev != writes[i].Revision:
				out[i].Err = ErrShareStateChanged
			default:
				still = append(still, i)
			}
		}
		if len(still) == len(live) {
			// Cannot happen: compares and reads see the same revision.
			for _, i := range live {
				out[i].Err = errors.New("metadata: share states transaction failed with every compare holding")
			}
			return
		}
		live = still
	}
}

// ShareState reads group's stored state of a partition and its key's mod
// revision; nil and 0 when there is none.
func (s *Store) ShareState(ctx context.Context, p PartitionKey, group string) ([]byte, int64, error) {
	resp, err := s.client.Get(ctx, s.keys.shareState(p, group))
	if err != nil {
		return nil, 0, fmt.Errorf("metadata: read share state of %q: %w", group, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, nil
	}
	return resp.Kvs[0].Value, resp.Kvs[0].ModRevision, nil
}

// StoredShareState is one stored share-partition state of a group.
type StoredShareState struct {
	Partition PartitionKey
	Value     []byte
}

// ShareStatesOfGroup reads every stored share-partition state of group (a
// range read over every share state: an admin operation).
func (s *Store) ShareStatesOfGroup(ctx context.Context, group string) ([]StoredShareState, error) {
	return s.shareStatesUnder(ctx, s.keys.shares(), group)
}

// ShareStatesOfTopic reads the stored share-partition states of group on
// one topic's partitions.
func (s *Store) ShareStatesOfTopic(ctx context.Context, group string, topic TopicID) ([]StoredShareState, error) {
	return s.shareStatesUnder(ctx, s.keys.shareTopic(topic), group)
}

func (s *Store) shareStatesUnder(ctx context.Context, prefix, group string) ([]StoredShareState, error) {
	resp, err := s.client.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("metadata: read share states: %w", err)
	}
	want := groupKey(group)
	var out []StoredShareState
	for _, kv := range resp.Kvs {
		rest := strings.TrimPrefix(string(kv.Key), s.keys.shares())
		f := strings.SplitN(rest, "/", 3)
		if len(f) != 3 || f[2] != want {
			continue
		}
		var id TopicID
		if err := id.UnmarshalText([]byte(f[0])); err != nil {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 32)
		if err != nil {
			continue
		}
		out = append(out, StoredShareState{Partition: PartitionKey{Topic: id, Partition: int32(n)}, Value: kv.Value})
	}
	return out, nil
}

// DeleteShareStates deletes group's states of the partitions (an admin's
// DeleteShareGroupOffsets or DeleteGroups, for a group without members),
// in transactions of at most maxTxnOps deletions. A leader that still
// holds one of them in memory fails its next write (ErrShareStateChanged)
// and reads it again.
func (s *Store) DeleteShareStates(ctx context.Context, group string, parts []PartitionKey) error {
	for len(parts) > 0 {
		n := min(len(parts), maxTxnOps)
		ops := make([]clientv3.Op, 0, n)
		for _, p := range parts[:n] {
			ops = append(ops, clientv3.OpDelete(s.keys.shareState(p, group)))
		}
		if _, err := s.client.Txn(ctx).Then(ops...).Commit(); err != nil {
			return fmt.Errorf("metadata: delete share states of %q: %w", group, err)
		}
		parts = parts[n:]
	}
	return nil
}

// DeleteShareGroupConfig deletes a group's configs (DeleteGroups).
func (s *Store) DeleteShareGroupConfig(ctx context.Context, group string) error {
	if _, err := s.client.Delete(ctx, s.keys.shareGroupConfig(group)); err != nil {
		return fmt.Errorf("metadata: delete configs of group %q: %w", group, err)
	}
	return nil
}

// PutShareState replaces a share-partition state without a leader's
// guard (the admin's AlterShareGroupOffsets, for a group without members);
// nil value deletes it. A leader that still holds the state in memory
// fails its next write (ErrShareStateChanged) and reads it again.
func (s *Store) PutShareState(ctx context.Context, p PartitionKey, group string, value []byte) error {
	key := s.keys.shareState(p, group)
	var err error
	if value == nil {
		_, err = s.client.Delete(ctx, key)
	} else {
		_, err = s.client.Put(ctx, key, string(value))
	}
	if err != nil {
		return fmt.Errorf("metadata: write share state of %q: %w", group, err)
	}
	return nil
}

// ShareGroupConfig reads a group's configs (none: an empty map).
func (s *Store) ShareGroupConfig(ctx context.Context, group string) (map[string]string, error) {
	resp, err := s.client.Get(ctx, s.keys.shareGroupConfig(group))
	if err != nil {
		return nil, fmt.Errorf("metadata: read configs of group %q: %w", group, err)
	}
	out := map[string]string{}
	if len(resp.Kvs) > 0 {
		if err := json.Unmarshal(resp.Kvs[0].Value, &out); err != nil {
			return nil, fmt.Errorf("metadata: decode configs of group %q: %w", group, err)
		}
	}
	return out, nil
}

// UpdateShareGroupConfig changes a group's configs with change,
// compare-and-swap, retried on a concurrent change.
func (s *Store) UpdateShareGroupConfig(ctx context.Context, group string, change func(map[string]string) (map[string]string, error)) error {
	key := s.keys.shareGroupConfig(group)
	for {
		resp, err := s.client.Get(ctx, key)
		if err != nil {
			return fmt.Errorf("metadata: read configs of group %q: %w", group, err)
		}
		cur := map[string]string{}
		var rev int64
		if len(resp.Kvs) > 0 {
			rev = resp.Kvs[0].ModRevision
			if err := json.Unmarshal(resp.Kvs[0].Value, &cur); err != nil {
				return fmt.Errorf("metadata: decode configs of group %q: %w", group, err)
			}
		}
		next, err := change(cur)
		if err != nil {
			return err
		}
		val, err := json.Marshal(next)
		if err != nil {
			return err
		}
		txn, err := s.client.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).Then(clientv3.OpPut(key, string(val))).Commit()
		if err != nil {
			return fmt.Errorf("metadata: write configs of group %q: %w", group, err)
		}
		if txn.Succeeded {
			return nil
		}
	}
}
