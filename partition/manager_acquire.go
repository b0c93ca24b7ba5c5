package partition

import (
	"context"
	"errors"
	"log/slog"
	"slices"

	"github.com/sourcegraph/conc/pool"

	"github.com/strata-io/strata/metadata"
)

// acquisition is a partition a reconcile pass takes the leadership of:
// with resume, the epoch of an undecided ended leadership of this broker,
// it first tries to resume that one; if another broker has led the
// partition since, the ended leadership is decided (its records are set
// aside) and a new one starts only if the partition is assigned here.
type acquisition struct {
	p        *Partition
	resume   int64
	assigned bool
}

// acquireAll takes the leadership of each partition of acqs and loads its
// committed state, in batches (metadata.Store.AcquireLeaderships: two etcd
// transactions for up to metadata.BatchSize partitions), up to
// acquireBatchesInFlight at once. A partition with an attempt already in
// flight is skipped (the next pass looks again): a second lead would reset
// the tail that the first one's produces have written since.
func (m *Manager) acquireAll(acqs []acquisition) {
	mine := make([]acquisition, 0, len(acqs))
	for _, a := range acqs {
		if !a.p.acquiring.CompareAndSwap(false, true) {
			continue
		}
		if _, ok := a.p.Led(); ok {
			a.p.acquiring.Store(false)
			continue
		}
		mine = append(mine, a)
	}
	if len(mine) == 0 {
		return
	}
	calls := pool.New().WithMaxGoroutines(acquireBatchesInFlight)
	for b := range slices.Chunk(mine, metadata.BatchSize(m.maxTxnOps)) {
		calls.Go(func() { m.acquireBatch(b) })
	}
	calls.Wait()
}

// acquireBatch takes the partitions of one batch; their acquiring flags
// are set, and cleared when it returns.
func (m *Manager) acquireBatch(batch []acquisition) {
	defer func() {
		for _, a := range batch {
			a.p.acquiring.Store(false)
		}
	}()
	ctx, cancel := context.WithTimeout(m.ctx, acquireTimeout)
	defer cancel()
	reqs := make([]metadata.Acquisition, len(batch))
	for i, a := range batch {
		reqs[i] = metadata.Acquisition{Key: a.p.key, Resume: a.resume}
	}
	res := m.store.AcquireLeaderships(ctx, m.id, reqs, m.maxTxnOps)
	var again []*Partition // could not resume, assigned here: a new tenure
	led := false
	for i, a := range batch {
		err := res[i].Err
		if a.resume != 0 && (errors.Is(err, metadata.ErrNotResumable) || errors.Is(err, metadata.ErrNotLeader)) {
			a.p.decide(a.resume)
			m.log.Warn("another broker has led the partition since this broker's leadership ended: its records not committed are set aside in the quarantine",
				"topic", a.p.topic, "partition", a.p.key.Partition, "epoch", a.resume)
			if a.assigned {
				again = append(again, a.p)
			}
			continue
		}
		led = m.took(ctx, a.p, res[i]) || led
	}
	if len(again) > 0 {
		reqs = reqs[:0]
		for _, p := range again {
			reqs = append(reqs, metadata.Acquisition{Key: p.key})
		}
		res = m.store.AcquireLeaderships(ctx, m.id, reqs, m.maxTxnOps)
		for i, p := range again {
			led = m.took(ctx, p, res[i]) || led
		}
	}
	if led {
		m.view.touch()
	}
}

// took installs the outcome of an acquisition of p; false if it failed.
// A failure leaves p to the next pass (the key may be this broker's: the
// next attempt finds it so).
func (m *Manager) took(ctx context.Context, p *Partition, r metadata.Acquired) bool {
	if r.Err != nil {
		if !errors.Is(r.Err, metadata.ErrNotLeader) && m.ctx.Err() == nil {
			m.log.Warn("acquire leadership", "topic", p.topic, "partition", p.key.Partition, "error", r.Err)
		}
		return false
	}
	l, st := r.Leadership, r.State
	m.uploader.SetState(p.key, st)
	p.lead(l, st, r.Manifest)
	m.metrics.leaderships.Inc()
	// The coordinator shards (partitions of __consumer_offsets) are many
	// and led together: their lines would bury the others.
	level := slog.LevelInfo
	if p.topic == metadata.OffsetsTopic {
		level = slog.LevelDebug
	}
	m.log.Log(ctx, level, "leading partition", "topic", p.topic, "partition", p.key.Partition,
		"leader_epoch", l.LeaderEpoch, "epoch", l.Epoch, "hwm", st.HighWatermark, "resumed", l.Resumed)
	return true
}
