package coordinator

// The writer of KIP-848 consumer-group records.
//
// A consumer group is one etcd key, rewritten whole when the group
// changes, so only the latest record of each group matters: records queued
// while a write is in flight replace each other, and the next round writes
// each group's latest once, the groups of one shard in one transaction
// guarded by the shard's epoch (metadata.Store.PutConsumerGroups). A
// heartbeat that changed its group is answered once the record holding the
// change, or a later one, is in etcd. One goroutine per coordinator writes,
// started by the first record and ended with the coordinator's context.
//
// consumerWriter.mu is a leaf: it is taken under a shard's lock to queue,
// and never held while a shard's lock is taken or etcd is waited on.

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/metadata"
)

// consumerRetry is the pause before a record whose write failed (etcd
// unavailable) is written again.
const consumerRetry = 200 * time.Millisecond

type consumerWriter struct {
	start sync.Once
	kick  chan struct{}
	// put writes one shard's records: metadata.Store.PutConsumerGroups,
	// unless a unit test set another.
	put func(ctx context.Context, shard metadata.PartitionKey, epoch int64, puts []metadata.ConsumerGroupPut) error

	mu      sync.Mutex
	pending map[*Shard]map[string]*consumerPut
}

// consumerPut is a group's latest record to write (nil: delete it) and
// the heartbeats waiting for it.
type consumerPut struct {
	rec     *metadata.ConsumerGroupRecord
	waiters []*ConsumerWrite
}

// ConsumerWrite is a consumer group's record being written.
type ConsumerWrite struct{ done chan error }

// Wait waits for the record to be in etcd: nil, or the Kafka error to
// answer (NOT_COORDINATOR once the shard is lost, COORDINATOR_NOT_AVAILABLE
// when etcd did not answer, REQUEST_TIMED_OUT when ctx ended first).
func (w *ConsumerWrite) Wait(ctx context.Context) error {
	if w == nil {
		return nil
	}
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		return kerr.RequestTimedOut
	}
}

// putConsumerGroup queues a group's record (nil: delete it). It never
// blocks; s.mu is held.
func (s *Shard) putConsumerGroup(group string, rec *metadata.ConsumerGroupRecord) *ConsumerWrite {
	c := s.c
	cw := &c.consumerWrites
	cw.start.Do(func() {
		cw.kick = make(chan struct{}, 1)
		go c.runConsumerWrites()
	})
	w := &ConsumerWrite{done: make(chan error, 1)}
	cw.mu.Lock()
	if cw.pending == nil {
		cw.pending = map[*Shard]map[string]*consumerPut{}
	}
	groups := cw.pending[s]
	if groups == nil {
		groups = map[string]*consumerPut{}
		cw.pending[s] = groups
	}
	p := groups[group]
	if p == nil {
		p = &consumerPut{}
		groups[group] = p
	}
	p.rec = rec
	p.waiters = append(p.waiters, w)
	cw.mu.Unlock()
	select {
	case cw.kick <- struct{}{}:
	default:
	}
	return w
}

// runConsumerWrites writes queued records until the coordinator's context
// ends; then every waiter gets NOT_COORDINATOR.
func (c *Coordinator) runConsumerWrites() {
	cw := &c.consumerWrites
	for {
		select {
		case <-cw.kick:
		case <-c.ctx.Done():
			cw.mu.Lock()
			pending := cw.pending
			cw.pending = nil
			cw.mu.Unlock()
			for _, groups := range pending {
				for _, p := range groups {
					answer(p.waiters, kerr.NotCoordinator)
				}
			}
			return
		}
		for {
			cw.mu.Lock()
			pending := cw.pending
			cw.pending = nil
			cw.mu.Unlock()
			if len(pending) == 0 {
				break
			}
			retry := false
			for s, groups := range pending {
				if !c.writeConsumerGroups(s, groups) {
					retry = true
				}
			}
			if retry {
				select {
				case <-time.After(consumerRetry):
				case <-c.ctx.Done():
				}
			}
		}
	}
}

// writeConsumerGroups writes one shard's records and answers their
// waiters; false when etcd failed and the records were queued again
// (unless newer ones came meanwhile).
func (c *Coordinator) writeConsumerGroups(s *Shard, groups map[string]*consumerPut) bool {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		for _, p := range groups {
			answer(p.waiters, kerr.NotCoordinator)
		}
		return true
	}
	puts := make([]metadata.ConsumerGroupPut, 0, len(groups))
	for id, p := range groups {
		puts = append(puts, metadata.ConsumerGroupPut{Group: id, Record: p.rec})
	}
	ctx, cancel := context.WithTimeout(c.ctx, commitTimeout)
	start := time.Now()
	put := c.consumerWrites.put
	if put == nil {
		put = c.store.PutConsumerGroups
	}
	err := put(ctx, s.key, s.epoch, puts)
	cancel()
	c.metrics.groupCommits.Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
		for _, p := range groups {
			answer(p.waiters, nil)
		}
		return true
	case errors.Is(err, metadata.ErrFenced) || c.ctx.Err() != nil:
		c.log.Warn("consumer-group shard fenced: another broker coordinates it now", "shard", s.key.Partition, "epoch", s.epoch)
		c.shards.dropShard(s)
		for _, p := range groups {
			answer(p.waiters, kerr.NotCoordinator)
		}
		return true
	}
	c.log.Warn("write consumer groups; retrying", "shard", s.key.Partition, "groups", len(groups), "error", err)
	cw := &c.consumerWrites
	cw.mu.Lock()
	if cw.pending == nil {
		cw.pending = map[*Shard]map[string]*consumerPut{}
	}
	if cw.pending[s] == nil {
		cw.pending[s] = map[string]*consumerPut{}
	}
	for id, p := range groups {
		if cw.pending[s][id] == nil {
			cw.pending[s][id] = &consumerPut{rec: p.rec}
		}
	}
	cw.mu.Unlock()
	for _, p := range groups {
		answer(p.waiters, kerr.CoordinatorNotAvailable)
	}
	return false
}

func answer(waiters []*ConsumerWrite, err error) {
	for _, w := range waiters {
		w.done <- err
	}
}

// loadConsumerGroups reads the shard's consumer-group records and installs
// them on its groups (created as needed); s.mu is not held.
func (s *Shard) loadConsumerGroups(ctx context.Context) (map[string]*metadata.ConsumerGroupRecord, error) {
	return s.c.store.LoadConsumerGroups(ctx, s.key.Partition)
}

// installConsumerGroups installs loaded records; s.mu is held.
func (s *Shard) installConsumerGroups(recs map[string]*metadata.ConsumerGroupRecord) {
	for id, r := range recs {
		g := s.group(id, true)
		g.dropClassicMembers() // the consumer record wins (consumer_migrate.go)
		g.consumer = restoreConsumerGroup(g, r)
	}
}
