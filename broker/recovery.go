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
// records of the partition's current leadership, or of the ended tenure it
// resumed, count: others belong to a tenure that ended, and the uploader
// drops them too. It returns how many records it passed over so.
func (b *Broker) replay(segs []wal.SegmentInfo) (dropped int, err error) {
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
			if epoch, resumed := p.walEpochs(); epoch == 0 || e.Epoch != epoch && (resumed == 0 || e.Epoch != resumed) {
				dropped++
				return nil
			}
			// The WAL frame's CRC covered these bytes; only headers are read.
			err = batch.Iter(e.Data, func(h batch.Header, raw []byte) error {
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
			return dropped, err
		}
		b.log.Info("recovered WAL segment", "segment", s.Seq, "batches", n)
	}
	return dropped, nil
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
