package metadata

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// validTopic checks what the key layout needs; Kafka's naming rules are the
// broker's to enforce.
func validTopic(t Topic) error {
	switch {
	case t.Name == "" || strings.Contains(t.Name, "/"):
		return fmt.Errorf("%w: topic name %q", ErrInvalid, t.Name)
	case t.ID == TopicID{}:
		return fmt.Errorf("%w: topic %q has a zero id", ErrInvalid, t.Name)
	case t.Partitions < 1:
		return fmt.Errorf("%w: topic %q has %d partitions", ErrInvalid, t.Name, t.Partitions)
	}
	return nil
}

// encodeTopic checks t and returns its key and stored value, for a write
// that verb names in errors.
func (s *Store) encodeTopic(t Topic, verb string) (key, val string, err error) {
	if err := validTopic(t); err != nil {
		return "", "", err
	}
	b, err := json.Marshal(t)
	if err != nil {
		return "", "", fmt.Errorf("metadata: %s topic %q: %w", verb, t.Name, err)
	}
	return s.keys.topic(t.Name), string(b), nil
}

// CreateTopic stores t (ErrTopicExists if the name is taken).
func (s *Store) CreateTopic(ctx context.Context, t Topic) error {
	key, val, err := s.encodeTopic(t, "create")
	if err != nil {
		return err
	}
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, val)).
		Commit()
	if err != nil {
		return fmt.Errorf("metadata: create topic %q: %w", t.Name, err)
	}
	if !resp.Succeeded {
		return fmt.Errorf("%w: %q", ErrTopicExists, t.Name)
	}
	return nil
}

// Topic reads one topic (ErrUnknownTopic).
func (s *Store) Topic(ctx context.Context, name string) (Topic, error) {
	resp, err := s.client.Get(ctx, s.keys.topic(name))
	if err != nil {
		return Topic{}, fmt.Errorf("metadata: read topic %q: %w", name, err)
	}
	if len(resp.Kvs) == 0 {
		return Topic{}, fmt.Errorf("%w: %q", ErrUnknownTopic, name)
	}
	return decodeTopic(resp.Kvs[0])
}

func decodeTopic(kv *mvccpb.KeyValue) (Topic, error) {
	var t Topic
	if err := json.Unmarshal(kv.Value, &t); err != nil {
		return Topic{}, fmt.Errorf("metadata: topic at %s: %w", kv.Key, err)
	}
	t.Version = kv.ModRevision
	return t, nil
}

// UpdateTopic replaces a topic's partitions and configs if its Version still matches
// (ErrUnknownTopic if gone; ErrConflict otherwise).
//
// t must come from Topic or Topics (its Version and ID as read); the
// topic's name and id never change.
func (s *Store) UpdateTopic(ctx context.Context, t Topic) error {
	key, val, err := s.encodeTopic(t, "update")
	if err != nil {
		return err
	}
	resp, err := s.client.Txn(ctx).
		If(
			// ModRevision 0 would match an absent key: require that it exists.
			clientv3.Compare(clientv3.CreateRevision(key), ">", 0),
			clientv3.Compare(clientv3.ModRevision(key), "=", t.Version),
		).
		Then(clientv3.OpPut(key, val)).
		Else(clientv3.OpGet(key, clientv3.WithKeysOnly())).
		Commit()
	if err != nil {
		return fmt.Errorf("metadata: update topic %q: %w", t.Name, err)
	}
	if resp.Succeeded {
		return nil
	}
	if len(resp.Responses[0].GetResponseRange().Kvs) == 0 {
		return fmt.Errorf("%w: %q", ErrUnknownTopic, t.Name)
	}
	return fmt.Errorf("%w: topic %q changed since version %d", ErrConflict, t.Name, t.Version)
}

// DeleteTopic removes the topic and every key of its partitions (assignment,
// leaders, epoch histories, states, manifests).
//
// Deleting a leader key ends that leadership: the leader's next commit for
// the partition fails with ErrFenced.
func (s *Store) DeleteTopic(ctx context.Context, name string) error {
	key := s.keys.topic(name)
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("metadata: delete topic %q: %w", name, err)
	}
	kvs := resp.Kvs
	for {
		if len(kvs) == 0 {
			return fmt.Errorf("%w: %q", ErrUnknownTopic, name)
		}
		t, err := decodeTopic(kvs[0])
		if err != nil {
			return err
		}
		// The id never changes while the key lives, so comparing the key's
		// creation (not its version) lets a concurrent config update pass
		// and catches only a delete-and-recreate under the same name.
		tr, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(key), "=", kvs[0].CreateRevision)).
			Then(
				clientv3.OpDelete(key),
				clientv3.OpDelete(s.keys.assignment(t.ID)),
				clientv3.OpDelete(s.keys.topicLeaders(t.ID), clientv3.WithPrefix()),
				clientv3.OpDelete(s.keys.topicPartitions(t.ID), clientv3.WithPrefix()),
			).
			Else(clientv3.OpGet(key)).
			Commit()
		if err != nil {
			return fmt.Errorf("metadata: delete topic %q: %w", name, err)
		}
		if tr.Succeeded {
			s.log.Debug("metadata: topic deleted", "topic", name, "id", t.ID)
			return nil
		}
		kvs = tr.Responses[0].GetResponseRange().Kvs
	}
}
