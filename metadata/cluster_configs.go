package metadata

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Cluster-wide dynamic broker configs (Kafka's DYNAMIC_DEFAULT_BROKER_CONFIG,
// the broker resource ""): one key, cluster/configs/broker, holding a JSON
// object of Kafka config names to values. It lives under cluster/ so that
// every broker's View carries it (View.BrokerConfigs) and applies a change
// as soon as its watch sees it. The broker validates names and values;
// the store keeps whatever it is given.

// brokerConfigsAttempts is how often UpdateBrokerConfigs retries a
// concurrent change before it gives up with ErrConflict.
const brokerConfigsAttempts = 16

func (k keys) brokerConfigs() string { return k.cluster() + "configs/broker" }

// BrokerConfigs reads the cluster-wide dynamic broker configs (empty, not
// nil, when none is set).
func (s *Store) BrokerConfigs(ctx context.Context) (map[string]string, error) {
	cfgs, _, err := s.readBrokerConfigs(ctx)
	return cfgs, err
}

func (s *Store) readBrokerConfigs(ctx context.Context) (map[string]string, int64, error) {
	resp, err := s.client.Get(ctx, s.keys.brokerConfigs())
	if err != nil {
		return nil, 0, fmt.Errorf("metadata: read broker configs: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return map[string]string{}, 0, nil
	}
	cfgs, err := decodeBrokerConfigs(resp.Kvs[0])
	return cfgs, resp.Kvs[0].ModRevision, err
}

func decodeBrokerConfigs(kv *mvccpb.KeyValue) (map[string]string, error) {
	cfgs := map[string]string{}
	if err := json.Unmarshal(kv.Value, &cfgs); err != nil {
		return nil, fmt.Errorf("metadata: broker configs at %s: %w", kv.Key, err)
	}
	return cfgs, nil
}

// UpdateBrokerConfigs applies change to the cluster-wide dynamic broker
// configs with a compare-and-swap, retrying when another writer got there
// first (ErrConflict after brokerConfigsAttempts). change gets a copy it
// may modify and returns the new set; its error is returned as is and
// nothing is written. An empty set deletes the key. It returns the etcd
// revision of the write: a View of that revision or later has it.
func (s *Store) UpdateBrokerConfigs(ctx context.Context, change func(map[string]string) (map[string]string, error)) (int64, error) {
	key := s.keys.brokerConfigs()
	for range brokerConfigsAttempts {
		cur, rev, err := s.readBrokerConfigs(ctx)
		if err != nil {
			return 0, err
		}
		next, err := change(maps.Clone(cur))
		if err != nil {
			return 0, err
		}
		op := clientv3.OpDelete(key)
		if len(next) > 0 {
			val, err := json.Marshal(next)
			if err != nil {
				return 0, fmt.Errorf("metadata: write broker configs: %w", err)
			}
			op = clientv3.OpPut(key, string(val))
		}
		resp, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(op).
			Commit()
		if err != nil {
			return 0, fmt.Errorf("metadata: write broker configs: %w", err)
		}
		if resp.Succeeded {
			return resp.Header.Revision, nil
		}
	}
	return 0, fmt.Errorf("%w: broker configs still changing after %d attempts", ErrConflict, brokerConfigsAttempts)
}

// applyBrokerConfigs applies an event on the broker configs key to v.
func (s *Store) applyBrokerConfigs(v *View, ev *clientv3.Event) {
	v.BrokerConfigs = map[string]string{}
	if ev.Type == mvccpb.DELETE {
		return
	}
	cfgs, err := decodeBrokerConfigs(ev.Kv)
	if err != nil {
		s.log.Warn("metadata: undecodable value in cluster view", "key", string(ev.Kv.Key), "error", err)
		return
	}
	v.BrokerConfigs = cfgs
}
