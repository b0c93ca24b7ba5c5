package broker

// Log compaction (cleanup.policy=compact): in the same pass, before merging,
// each broker rewrites the ranges of its compacted topics' partitions to keep
// the latest record of every key (tiering.Compactor.CleanLog).
//
// Object compaction: each broker merges, every --compaction-interval, the
// small ranges of the partitions it leads into objects of their own of up to
// the topic's segment.bytes, once they are --compaction-min-age old
// (tiering.PlanCompaction, tiering.Compactor). The manifest keeps one entry
// per merged object, so the etcd keys of a partition grow with its bytes
// over segment.bytes, not with the number of segments uploaded.

import (
	"context"
	"time"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/tiering"
)

// Defaults of object compaction.
const (
	DefaultCompactionInterval = 10 * time.Minute
	DefaultCompactionMinAge   = 10 * time.Minute
)

// compactionLoop compacts every interval until the broker stops.
func (b *Broker) compactionLoop() {
	comp := tiering.NewCompactor(b.bucket, b.reader, b.uploader, b.id)
	every(b.ctx, b.cfg.CompactionInterval, func(now time.Time) {
		b.compact(comp, now.Add(-b.cfg.CompactionMinAge).UnixMilli())
	})
}

// compact makes one pass over the partitions this broker leads, merging the
// ranges committed before notAfter.
func (b *Broker) compact(comp *tiering.Compactor, notAfter int64) {
	for _, t := range b.topics.all() {
		if t.meta.Name == metadata.OffsetsTopic {
			continue
		}
		for _, p := range t.parts {
			epoch, manifest := p.committedManifest()
			if epoch == 0 {
				continue
			}
			if t.cfg.compacts && !b.cleanLog(comp, t, p, epoch, manifest) {
				continue
			}
			if t.cfg.compacts {
				_, manifest = p.committedManifest()
			}
			for _, run := range tiering.PlanCompaction(manifest, t.cfg.segmentBytes, notAfter) {
				ctx, cancel := context.WithTimeout(b.ctx, 2*time.Minute)
				start := time.Now()
				entry, err := comp.Compact(ctx, p.key, epoch, run, t.cfg.archive)
				cancel()
				if err != nil {
					if b.ctx.Err() == nil {
						b.log.Warn("compact objects", "topic", t.meta.Name, "partition", p.key.Partition, "error", err)
					}
					break // the manifest may have changed: plan again next pass
				}
				p.replaced(epoch, run, entry)
				b.metrics.compactions.Inc()
				b.log.Info("compacted objects", "topic", t.meta.Name, "partition", p.key.Partition,
					"entries", len(run), "bytes", entry.Size, "object", entry.Object, "took", time.Since(start))
			}
		}
	}
}

// cleanLog applies log compaction to p and reports whether it went through.
func (b *Broker) cleanLog(comp *tiering.Compactor, t *topic, p *partition, epoch int64, manifest []metadata.ManifestEntry) bool {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Minute)
	defer cancel()
	policy := tiering.LogPolicy{Now: time.Now().UnixMilli(), DeleteRetentionMs: t.cfg.deleteRetentionMs, MinLagMs: t.cfg.minCompactionLag}
	old, cleaned, err := comp.CleanLog(ctx, p.key, epoch, manifest, policy, t.cfg.archive)
	for i := range cleaned {
		p.replaced(epoch, old[i:i+1], cleaned[i])
	}
	if len(cleaned) > 0 {
		b.metrics.logCleanings.Add(float64(len(cleaned)))
		b.log.Info("log compaction rewrote ranges", "topic", t.meta.Name, "partition", p.key.Partition, "ranges", len(cleaned))
	}
	if err != nil && b.ctx.Err() == nil {
		b.log.Warn("log compaction", "topic", t.meta.Name, "partition", p.key.Partition, "error", err)
	}
	return err == nil
}

// committedManifest returns the leadership's epoch (0: not led) and a copy
// of the manifest entries at or above the log start.
func (p *partition) committedManifest() (int64, []metadata.ManifestEntry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []metadata.ManifestEntry
	for _, e := range p.manifest {
		if e.LastOffset >= p.logStart {
			out = append(out, e)
		}
	}
	return p.epoch, out
}

// replaced installs a compaction committed under epoch: the entries of run
// become entry, and the tail window forgets the batches it covers (they are
// committed, so the window only cached them).
func (p *partition) replaced(epoch int64, run []metadata.ManifestEntry, entry metadata.ManifestEntry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if epoch != p.epoch {
		return
	}
	for i, e := range p.manifest {
		if e.BaseOffset != run[0].BaseOffset {
			continue
		}
		j := i
		for j < len(p.manifest) && p.manifest[j].LastOffset <= entry.LastOffset {
			j++
		}
		p.manifest = append(append(append([]metadata.ManifestEntry(nil), p.manifest[:i]...), entry), p.manifest[j:]...)
		break
	}
	// The tail window may still hold the replaced batches as they were
	// before log compaction: reads of those offsets go to the new entry.
	drop := 0
	for drop < len(p.mem) && p.mem[drop].last <= entry.LastOffset {
		p.memBytes -= len(p.mem[drop].data)
		drop++
	}
	if drop > 0 {
		p.mem = append([]memBatch(nil), p.mem[drop:]...)
	}
}
