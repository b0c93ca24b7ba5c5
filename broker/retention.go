package broker

// Retention: each broker applies retention.ms and retention.bytes to the
// partitions it leads, every --retention-check-interval, as Kafka applies
// them to its segments: the oldest manifest entries go while their newest
// record is older than retention.ms, and while the partition stays at or
// above retention.bytes without them. The log start offset moves past the
// last entry dropped (ListOffsets earliest; Fetch below it gets
// OFFSET_OUT_OF_RANGE), in the same epoch-guarded etcd transaction that
// deletes the entries. DeleteRecords moves the log start on request.
// Objects that no entry references any longer are deleted by the
// controller's garbage collection (collectGarbage) after --gc-grace.

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/tiering"
)

// Defaults of the background work's intervals. The first is Kafka's
// log.retention.check.interval.ms; Kafka has no garbage collection.
const (
	DefaultRetentionCheckInterval = 5 * time.Minute
	DefaultGCInterval             = 5 * time.Minute
	DefaultGCGrace                = time.Hour
)

// retentionLoop applies retention every interval until the broker stops.
func (b *Broker) retentionLoop() {
	every(b.ctx, b.cfg.RetentionCheckInterval, func(now time.Time) { b.applyRetention(now.UnixMilli()) })
}

// every calls fn each interval until ctx ends: the background work's loop.
func every(ctx context.Context, interval time.Duration, fn func(now time.Time)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			fn(now)
		}
	}
}

// applyRetention makes one pass over the partitions this broker leads.
func (b *Broker) applyRetention(now int64) {
	for _, t := range b.topics.all() {
		if !t.cfg.deletes || t.meta.Name == metadata.OffsetsTopic {
			continue
		}
		for _, p := range t.parts {
			epoch, logStart, drop := p.expired(now, t.cfg.retentionMs, t.cfg.retentionBytes)
			if len(drop) == 0 {
				continue
			}
			ctx, cancel := context.WithTimeout(b.ctx, acquireTimeout)
			st, err := b.truncate(ctx, p, epoch, logStart, drop)
			cancel()
			if err != nil {
				if b.ctx.Err() == nil {
					b.log.Warn("apply retention", "topic", t.meta.Name, "partition", p.key.Partition, "error", err)
				}
				continue
			}
			b.log.Info("retention deleted segments", "topic", t.meta.Name, "partition", p.key.Partition,
				"entries", len(drop), "log_start", st.LogStartOffset)
		}
	}
}

// collectGarbage deletes the objects no manifest entry references for
// --gc-grace, every --gc-interval, until ctx ends: the controller runs it
// during its term, so one broker collects at a time.
func (b *Broker) collectGarbage(ctx context.Context) {
	gc := tiering.NewCollector(b.bucket, b.store, b.cfg.GCGrace, b.log.With("component", "gc"), b.cfg.Registerer)
	every(ctx, b.cfg.GCInterval, func(now time.Time) {
		if _, err := gc.Collect(ctx, now); err != nil && ctx.Err() == nil {
			b.log.Warn("garbage collection pass failed; its grace periods start again", "error", err)
		}
	})
}

// truncate moves p's log start up to logStart and drops the manifest
// entries in drop, in etcd and then in memory.
func (b *Broker) truncate(ctx context.Context, p *partition, epoch, logStart int64, drop []int64) (metadata.PartitionState, error) {
	st, err := b.uploader.Truncate(ctx, p.key, epoch, logStart, drop)
	switch {
	case errors.Is(err, tiering.ErrOutOfRange):
		return st, kerr.OffsetOutOfRange
	case errors.Is(err, metadata.ErrFenced):
		return st, kerr.NotLeaderForPartition
	case err != nil:
		return st, err
	}
	p.truncated(epoch, st.LogStartOffset)
	return st, nil
}

// expired returns what retention drops of the partition: the base offsets
// of the manifest entries to delete and the log start after them (none
// when nothing expired or the partition is not led).
func (p *partition) expired(now, retentionMs, retentionBytes int64) (epoch, logStart int64, drop []int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.epoch == 0 {
		return 0, 0, nil
	}
	es := p.manifest
	i := 0
	for i < len(es) && es[i].LastOffset < p.logStart { // below the log start already (DeleteRecords)
		i++
	}
	for retentionMs >= 0 && i < len(es) && es[i].MaxTimestamp < now-retentionMs {
		i++
	}
	if retentionBytes >= 0 {
		var size int64
		for _, e := range es[i:] {
			size += e.Size
		}
		for i < len(es) && size-es[i].Size >= retentionBytes {
			size -= es[i].Size
			i++
		}
	}
	if i == 0 {
		return 0, 0, nil
	}
	for _, e := range es[:i] {
		drop = append(drop, e.BaseOffset)
	}
	return p.epoch, max(p.logStart, es[i-1].LastOffset+1), drop
}

// below returns the base offsets of the manifest entries wholly below
// offset, and the leadership's epoch (0: not led).
func (p *partition) below(offset int64) (epoch int64, drop []int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.manifest {
		if e.LastOffset >= offset {
			break
		}
		drop = append(drop, e.BaseOffset)
	}
	return p.epoch, drop
}

// truncated installs a log start committed under epoch: the manifest
// entries wholly below it are gone.
func (p *partition) truncated(epoch, logStart int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if epoch != p.epoch || logStart <= p.logStart {
		return
	}
	p.logStart = logStart
	i := 0
	for i < len(p.manifest) && p.manifest[i].LastOffset < logStart {
		i++
	}
	p.manifest = append([]metadata.ManifestEntry(nil), p.manifest[i:]...)
	p.notify()
}
