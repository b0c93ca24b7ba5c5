package metadata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// ErrNotController: this broker's term as controller has ended.
var ErrNotController = errors.New("metadata: no longer the controller")

// Controller is this broker's term as the cluster's controller, the one
// broker that assigns partitions to brokers. Terms are an etcd election
// under cluster/controller/ on the broker's lease: the oldest key wins, and
// every write the controller makes compares its key's creation revision, so
// a controller that lost its term (its lease ended) writes nothing.
type Controller struct {
	s *Store
	e *concurrency.Election
	// key and rev identify the term: e forgets its key on Resign.
	key  string
	rev  int64
	done <-chan struct{}
}

// Campaign blocks until this broker is the controller, ctx ends, or the
// session ends.
func (s *Store) Campaign(ctx context.Context, brokerID int32) (*Controller, error) {
	sess := s.sess()
	e := concurrency.NewElection(sess, s.keys.controller())
	// Election.Campaign does not watch the session: stop waiting when it ends.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-sess.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := e.Campaign(ctx, strconv.Itoa(int(brokerID))); err != nil {
		select {
		case <-sess.Done():
			return nil, fmt.Errorf("metadata: campaign for controller: session ended: %w", err)
		default:
		}
		return nil, fmt.Errorf("metadata: campaign for controller: %w", err)
	}
	s.log.Debug("metadata: elected controller", "broker", brokerID, "rev", e.Rev())
	return &Controller{s: s, e: e, key: e.Key(), rev: e.Rev(), done: sess.Done()}, nil
}

// Done is closed when the term may have ended: the session it was won on ended.
func (c *Controller) Done() <-chan struct{} { return c.done }

// Resign ends the term so that another broker is elected at once.
func (c *Controller) Resign(ctx context.Context) error { return c.e.Resign(ctx) }

// assignmentValue is the JSON value of a topic's assignment key.
type assignmentValue struct {
	// Brokers[i] is the broker that should lead partition i (-1: none).
	Brokers []int32 `json:"brokers"`
}

// maxAssignmentsPerTxn keeps a transaction within etcd's default --max-txn-ops.
const maxAssignmentsPerTxn = 100

// SetAssignments writes the assignments of the given topics (partition i of
// a topic to broker a[id][i]; -1 for none), while the term holds. A topic
// whose assignment is nil has its key deleted. ErrNotController once the
// term has ended; the writes before are kept.
func (c *Controller) SetAssignments(ctx context.Context, a map[TopicID][]int32) error {
	guard := clientv3.Compare(clientv3.CreateRevision(c.key), "=", c.rev)
	ops := make([]clientv3.Op, 0, len(a))
	for id, brokers := range a {
		key := c.s.keys.assignment(id)
		if brokers == nil {
			ops = append(ops, clientv3.OpDelete(key))
			continue
		}
		val, _ := json.Marshal(assignmentValue{Brokers: brokers})
		ops = append(ops, clientv3.OpPut(key, string(val)))
	}
	for len(ops) > 0 {
		n := min(len(ops), maxAssignmentsPerTxn)
		resp, err := c.s.client.Txn(ctx).If(guard).Then(ops[:n]...).Commit()
		if err != nil {
			return fmt.Errorf("metadata: write assignments: %w", err)
		}
		if !resp.Succeeded {
			return ErrNotController
		}
		ops = ops[n:]
	}
	return nil
}
