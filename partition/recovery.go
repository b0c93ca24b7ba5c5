package partition

import (
	"context"
	"fmt"
	"time"

	"github.com/strata-io/strata/internal/batch"
	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/wal"
)

// Replay rebuilds the uncommitted tail of every led partition from the WAL
// segments found at start, so that acks=1 records survive a restart. Only
// batches of the partition's current Kafka leader epoch count (its
// leadership, or the ended tenure it resumed): others belong to a tenure
// that ended, which the uploader skips if that tenure committed them and
// sets aside otherwise. It returns how many batches it passed over so.
func (m *Manager) Replay(segs []wal.SegmentInfo) (skipped int, err error) {
	for _, s := range segs {
		n := 0
		err := wal.ReadSegment(s, func(rec []byte) error {
			e, err := tiering.DecodeEntry(rec)
			if err != nil {
				return fmt.Errorf("replay WAL segment %d: %w", s.Seq, err)
			}
			p := m.Partition(e.Key)
			if p == nil {
				return nil // a deleted topic
			}
			epoch, leaderEpoch, _ := p.Current()
			// The WAL frame's CRC covered these bytes; only headers are read.
			err = batch.Iter(e.Data, func(h batch.Header, raw []byte) error {
				if epoch == 0 || h.PartitionLeaderEpoch != leaderEpoch {
					skipped++ // the uploader commits or sets it aside
					return nil
				}
				p.replayBatch(append([]byte(nil), raw...), h)
				n++
				return nil
			})
			if err != nil {
				return fmt.Errorf("replay WAL segment %d: %w", s.Seq, err)
			}
			return nil
		})
		if err != nil {
			return skipped, err
		}
		m.log.Info("recovered WAL segment", "segment", s.Seq, "batches", n)
	}
	return skipped, nil
}

// SetUndecided marks, for a start whose etcd lease had ended with every
// leadership, each known partition the WAL segments found at start hold
// records of as undecided: until reconcile has tried to resume its last
// tenure (ReconcileAtStart), the uploader holds those records back. They are
// committed under the resumed tenure if no other broker led the partition
// since, and set aside otherwise.
func (m *Manager) SetUndecided(segs []wal.SegmentInfo) error {
	last, err := lastEpochs(segs)
	if err != nil {
		return err
	}
	for key, epoch := range last {
		if p := m.Partition(key); p != nil {
			p.setUndecided(epoch)
		}
	}
	return nil
}

// lastEpochs returns, for every partition in the WAL segments found at
// start, the largest fencing epoch its records were appended under: the
// tenure a broker back after its lease ended may resume.
func lastEpochs(segs []wal.SegmentInfo) (map[metadata.PartitionKey]int64, error) {
	last := make(map[metadata.PartitionKey]int64)
	for _, s := range segs {
		err := wal.ReadSegment(s, func(rec []byte) error {
			e, err := tiering.DecodeEntry(rec)
			if err != nil {
				return fmt.Errorf("read WAL segment %d: %w", s.Seq, err)
			}
			last[e.Key] = max(last[e.Key], e.Epoch)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return last, nil
}

// ReconcileAtStart reconciles, starting from view v, until no partition is
// undecided: Replay needs to know which partitions resumed their tenure
// before it puts their WAL records back. It returns the view read last.
func (m *Manager) ReconcileAtStart(ctx context.Context, v *metadata.View) (*metadata.View, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		m.reconcile(v)
		var err error
		if v, err = m.store.ReadView(ctx); err != nil {
			return nil, err
		}
		m.SetView(v)
		undecided := 0
		for _, p := range m.Partitions() {
			if _, _, u := p.Current(); u != 0 {
				undecided++
			}
		}
		if undecided == 0 {
			return v, nil
		}
		m.log.Info("waiting to resume the leaderships the WAL holds records of", "partitions", undecided)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("could not resume or set aside the WAL records of %d partitions: %w", undecided, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
