package metadata

import (
	"context"
	"encoding/json"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// applyKV applies a put of kv under key to m, or a delete if del: a put
// sets m[key] to what decode makes of kv, or leaves key absent and calls
// bad with decode's error.
func applyKV[K comparable, V any](m map[K]V, key K, del bool, kv *mvccpb.KeyValue, bad func(error), decode func(*mvccpb.KeyValue) (V, error)) {
	delete(m, key)
	if del {
		return
	}
	val, err := decode(kv)
	if err != nil {
		bad(err)
		return
	}
	m[key] = val
}

// decodeJSON decodes kv's value as JSON.
func decodeJSON[V any](kv *mvccpb.KeyValue) (V, error) {
	var v V
	err := json.Unmarshal(kv.Value, &v)
	return v, err
}

// getAll reads every key under prefix, in key order, and returns what
// decode makes of each, or decode's first error; what names the keys in
// the error of a failed read.
func getAll[T any](ctx context.Context, s *Store, prefix, what string, decode func(*mvccpb.KeyValue) (T, error)) ([]T, error) {
	resp, err := s.client.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("metadata: read %s: %w", what, err)
	}
	out := make([]T, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		v, err := decode(kv)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
