package metadata

// KIP-932 share groups in etcd.
//
//	shares/<topic-id>/<partition>/<group>   the share-partition state of one group on one partition:
//	                                        JSON of partition.ShareSnapshot, written by the partition's
//	                                        leader, every transaction guarded by its epoch
//	sharegroups/<group>/config              the group's configs (share.record.lock.duration.ms, …): JSON object
//
// <group> is path-escaped as in groups/. The share-partition states live by
// partition so that a new leader reads them with one range read.

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// shareStatesPerTxn bounds the share-partition states one etcd transaction
// writes (etcd's --max-txn-ops defaults to 128).
const shareStatesPerTxn = 64

func (k keys) shares() string { return k.prefix + "shares/" }
func (k keys) sharePartition(p PartitionKey) string {
	return k.shares() + p.Topic.String() + "/" + strconv.Itoa(int(p.Partition)) + "/"
}
func (k keys) shareState(p PartitionKey, group string) string {
	return k.sharePartition(p) + groupKey(group)
}
func (k keys) shareGroupConfig(group string) string {
	return k.prefix + "sharegroups/" + groupKey(group) + "/config"
}

// ShareStateWrite is one share-partition state to store: Value (nil:
// delete it) for Group on Partition, whose leader holds Epoch.
type ShareStateWrite struct {
	Partition PartitionKey
	Epoch     int64
	Group     string
	Value     []byte
}

// CommitShareStates stores the states, each guarded by its partition's
// epoch, in as few transactions as fit, and returns one error per write:
// nil, ErrFenced when its partition is no longer led under its epoch, or the
// transaction's error.
func (s *Store) CommitShareStates(ctx context.Context, writes []ShareStateWrite) []error {
	errs := make([]error, len(writes))
	for lo := 0; lo < len(writes); lo += shareStatesPerTxn {
		hi := min(lo+shareStatesPerTxn, len(writes))
		parts := make([]guarded, 0, hi-lo)
		for _, w := range writes[lo:hi] {
			key := s.keys.shareState(w.Partition, w.Group)
			op := clientv3.OpDelete(key)
			if w.Value != nil {
				op = clientv3.OpPut(key, string(w.Value))
			}
			parts = append(parts, guarded{leaderKey: s.keys.leader(w.Partition), epoch: w.Epoch, ops: []clientv3.Op{op}})
		}
		s.commitGuarded(ctx, "share states", parts,
			func(i int) string {
				return fmt.Sprintf("share state of %q on %v", writes[lo+i].Group, writes[lo+i].Partition)
			},
			func(i int, err error) { errs[lo+i] = err })
	}
	return errs
}

// ShareState reads group's stored state of a partition; nil when there is
// none.
func (s *Store) ShareState(ctx context.Context, p PartitionKey, group string) ([]byte, error) {
	resp, err := s.client.Get(ctx, s.keys.shareState(p, group))
	if err != nil {
		return nil, fmt.Errorf("metadata: read share state of %q: %w", group, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	return resp.Kvs[0].Value, nil
}

// StoredShareState is one stored share-partition state of a group.
type StoredShareState struct {
	Partition PartitionKey
	Value     []byte
}

// ShareStatesOfGroup reads every stored share-partition state of group (a
// range read over every share state: an admin operation).
func (s *Store) ShareStatesOfGroup(ctx context.Context, group string) ([]StoredShareState, error) {
	resp, err := s.client.Get(ctx, s.keys.shares(), clientv3.WithPrefix())
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

// PutShareState replaces a share-partition state without a leader's
// guard (the admin's AlterShareGroupOffsets and DeleteShareGroupOffsets,
// for a group without members); nil value deletes it.
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
