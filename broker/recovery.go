package broker

import (
	"fmt"

	"github.com/strata-io/strata/internal/batch"
	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/wal"
)

// replay rebuilds the uncommitted tail of every led partition from the WAL
// segments found at start, so that acks=1 records survive a restart. Only
// batches of the partition's current Kafka leader epoch count (its
// leadership, or the ended tenure it resumed): others belong to a tenure
// that ended, which the uploader skips if that tenure committed them and
// sets aside otherwise. It returns how many batches it passed over so.
func (b *Broker) replay(segs []wal.SegmentInfo) (skipped int, err error) {
	for _, s := range segs {
		n := 0
		err := wal.ReadSegment(s, func(rec []byte) error {
			e, err := tiering.DecodeEntry(rec)
			if err != nil {
				return fmt.Errorf("replay WAL segment %d: %w", s.Seq, err)
			}
			p := b.topics.partition(e.Key)
			if p == nil {
				return nil // a deleted topic
			}
			epoch, leaderEpoch, _ := p.current()
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
		b.log.Info("recovered WAL segment", "segment", s.Seq, "batches", n)
	}
	return skipped, nil
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
