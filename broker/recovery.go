package broker

import (
	"fmt"
	"os"

	"github.com/strata-io/strata/internal/batch"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/wal"
)

// replay rebuilds the uncommitted tail of every led partition from the WAL
// segments found at start, so that acks=1 records survive a restart.
func (b *Broker) replay(segs []wal.SegmentInfo) error {
	for _, s := range segs {
		f, err := os.Open(s.Path)
		if err != nil {
			return fmt.Errorf("replay WAL segment %d: %w", s.Seq, err)
		}
		r := wal.NewReader(f, s.Seq)
		n := 0
		for r.Next() {
			key, data, err := tiering.DecodeEntry(r.Record())
			if err != nil {
				f.Close()
				return fmt.Errorf("replay WAL segment %d at %d: %w", s.Seq, r.Offset(), err)
			}
			p := b.topics.partition(key)
			if p == nil {
				continue
			}
			h, err := batch.Validate(data)
			if err != nil {
				f.Close()
				return fmt.Errorf("replay WAL segment %d at %d: %w", s.Seq, r.Offset(), err)
			}
			p.replayBatch(append([]byte(nil), data...), h)
			n++
		}
		f.Close()
		if err := r.Err(); err != nil {
			return fmt.Errorf("replay WAL segment %d: %w", s.Seq, err)
		}
		b.log.Info("recovered WAL segment", "segment", s.Seq, "batches", n)
	}
	return nil
}
