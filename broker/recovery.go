package broker

import (
	"fmt"

	"github.com/strata-io/strata/internal/batch"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/wal"
)

// replay rebuilds the uncommitted tail of every led partition from the WAL
// segments found at start, so that acks=1 records survive a restart. Only
// records of the partition's current leadership count: others belong to a
// tenure that ended, and the uploader drops them too.
func (b *Broker) replay(segs []wal.SegmentInfo) error {
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
			if epoch, ok := p.led(); !ok || epoch != e.Epoch {
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
			return err
		}
		b.log.Info("recovered WAL segment", "segment", s.Seq, "batches", n)
	}
	return nil
}
