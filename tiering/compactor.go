package tiering

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/strata-io/strata/internal/batch"
	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/objectstore"
)

// Object compaction.
//
// The uploader writes one object per sealed WAL segment, holding a small
// range of each of many partitions. Kept as they are, a year of data is
// millions of small objects and as many manifest keys. A partition's leader
// therefore merges runs of its consecutive small ranges into one object of
// its own (an archive object, see format.go), up to the topic's
// segment.bytes, and swaps the run's manifest entries for one entry in a
// single etcd transaction guarded by its epoch (Uploader.Replace). The
// batches are copied byte for byte (compressed in blocks when the topic asks
// for it), so offsets, timestamps and CRCs do not change; readers in flight keep reading the old
// objects, which garbage collection deletes once nothing references them and
// its grace period has passed. A crash between the PUT and the swap leaves
// an orphan object for garbage collection and the manifest as it was.

// maxRunEntries bounds the entries one compaction merges (one etcd
// transaction replaces them).
const maxRunEntries = 100

// PlanCompaction returns the runs of manifest entries worth merging: at
// least two consecutive entries, each smaller than half of target bytes
// and committed before notAfter (unix ms; an entry without a commit time
// counts as old), together at most target bytes. entries are in offset
// order.
func PlanCompaction(entries []metadata.ManifestEntry, target, notAfter int64) [][]metadata.ManifestEntry {
	var runs [][]metadata.ManifestEntry
	var run []metadata.ManifestEntry
	var size int64
	flush := func() {
		if len(run) >= 2 {
			runs = append(runs, run)
		}
		run, size = nil, 0
	}
	for _, e := range entries {
		small := e.Size < target/2 && e.Committed <= notAfter
		if !small {
			flush()
			continue
		}
		if size+e.Size > target || len(run) == maxRunEntries {
			flush()
		}
		run = append(run, e)
		size += e.Size
	}
	flush()
	return runs
}

// Compactor merges runs of a partition's entries into objects of their own.
type Compactor struct {
	bucket   objectstore.Bucket
	reader   *Reader
	uploader *Uploader
	brokerID int32
}

// NewCompactor returns a Compactor that reads through reader, writes to
// bucket and swaps manifest entries through uploader.
func NewCompactor(bucket objectstore.Bucket, reader *Reader, uploader *Uploader, brokerID int32) *Compactor {
	return &Compactor{bucket: bucket, reader: reader, uploader: uploader, brokerID: brokerID}
}

// Compact merges run (consecutive entries of key, in offset order) into one
// new archive object written as opts says, and swaps the run's manifest
// entries for its entry, under epoch. It returns the new entry. On error
// the manifest is as it was (an object may have been written: an orphan for
// garbage collection).
func (c *Compactor) Compact(ctx context.Context, key metadata.PartitionKey, epoch int64, run []metadata.ManifestEntry, opts ArchiveOptions) (metadata.ManifestEntry, error) {
	b := NewArchiveBuilder(opts)
	var committed int64
	for _, e := range run {
		if err := c.eachBatch(ctx, e, b.Add); err != nil {
			return metadata.ManifestEntry{}, fmt.Errorf("tiering: compact %s: %w", key, err)
		}
		committed = max(committed, e.Committed)
	}
	return c.store(ctx, key, epoch, b, committed, run)
}

// eachBatch calls fn with each of e's batches in order, reading one block
// at a time.
func (c *Compactor) eachBatch(ctx context.Context, e metadata.ManifestEntry, fn func(raw []byte) error) error {
	blocks, err := c.reader.Blocks(ctx, e)
	if err != nil {
		return fmt.Errorf("read %s: %w", e.Object, err)
	}
	for _, blk := range blocks {
		data, err := c.reader.ReadBlock(ctx, blk)
		if err != nil {
			return fmt.Errorf("read %s: %w", e.Object, err)
		}
		if err := batch.Iter(data, func(_ batch.Header, raw []byte) error { return fn(raw) }); err != nil {
			return err
		}
	}
	return nil
}

// store PUTs what b holds as a new object of key and swaps it in for run.
func (c *Compactor) store(ctx context.Context, key metadata.PartitionKey, epoch int64, b *ArchiveBuilder, committed int64, run []metadata.ManifestEntry) (metadata.ManifestEntry, error) {
	obj, entry, err := b.Finish()
	if err != nil {
		return metadata.ManifestEntry{}, fmt.Errorf("tiering: compact %s: %w", key, err)
	}
	name := fmt.Sprintf("%s%08x-b%d-c%s-%d-%020d.seg", SegmentPrefix, rand.Uint32(), c.brokerID, key.Topic, key.Partition, entry.BaseOffset)
	if err := c.bucket.Put(ctx, name, bytes.NewReader(obj), int64(len(obj))); err != nil {
		return metadata.ManifestEntry{}, fmt.Errorf("tiering: compact %s: put %s: %w", key, name, err)
	}
	entry.Object = name
	entry.Committed = committed
	if err := c.uploader.Replace(ctx, key, epoch, run, entry); err != nil {
		return metadata.ManifestEntry{}, fmt.Errorf("tiering: compact %s: swap manifest entries: %w", key, err)
	}
	return entry, nil
}

// LogPolicy is a compacted topic's cleaning rules (cleanup.policy=compact),
// Kafka's: keep the latest record of every key; drop a tombstone (a null
// value) once its range was committed delete.retention.ms ago; clean only
// ranges committed min.compaction.lag.ms ago.
type LogPolicy struct {
	Now               int64 // unix ms
	DeleteRetentionMs int64
	MinLagMs          int64
}

// CleanLog applies policy to a partition's manifest entries (all of them,
// in offset order, at or above the log start): every cleanable entry with
// records to drop is rewritten into a new object and swapped in, one entry
// at a time. Records keep their offsets and bytes; records without a key
// stay; the last record of each entry stays, so that an entry ends where it
// did and a consumer always finds a batch to move past. A batch whose records
// do not decode (batch.IsCorrupt: malformed, or decompressing past
// batch.MaxDecompressedBytes) is logged and kept whole, so that one bad
// batch never stops a partition's cleaning. It returns the entries
// rewritten, old and new, until the first error.
func (c *Compactor) CleanLog(ctx context.Context, key metadata.PartitionKey, epoch int64, entries []metadata.ManifestEntry, policy LogPolicy, opts ArchiveOptions) (old, cleaned []metadata.ManifestEntry, err error) {
	latest := map[string]int64{}
	for _, e := range entries {
		err := c.eachBatch(ctx, e, func(raw []byte) error {
			_, _, err := batch.Filter(raw, func(r batch.Record) bool {
				if r.Key != nil {
					latest[string(r.Key)] = r.Offset
				}
				return true
			})
			if batch.IsCorrupt(err) {
				// Its keys stay unknown: the pass below keeps it whole, and
				// keeps older records of its keys that a record in it may
				// have superseded.
				h, _ := batch.Parse(raw)
				c.uploader.log.Warn("log compaction keeps a batch it cannot decode as it is", "partition", key.String(),
					"object", e.Object, "offset", h.BaseOffset, "bytes", len(raw), "error", err)
				return nil
			}
			return err
		})
		if err != nil {
			return nil, nil, fmt.Errorf("tiering: clean %s: %w", key, err)
		}
	}
	for _, e := range entries {
		if e.Committed > policy.Now-policy.MinLagMs {
			break // this one and the later ones are too recent
		}
		expired := e.Committed <= policy.Now-policy.DeleteRetentionMs
		keep := func(r batch.Record) bool {
			switch {
			case r.Key == nil || r.Offset == e.LastOffset:
				return true
			case latest[string(r.Key)] != r.Offset:
				return false
			default:
				return !r.Tombstone || !expired
			}
		}
		ne, changed, err := c.rewrite(ctx, key, epoch, e, keep, opts)
		if err != nil {
			return old, cleaned, err
		}
		if changed {
			old, cleaned = append(old, e), append(cleaned, ne)
		}
	}
	return old, cleaned, nil
}

// rewrite writes e's batches filtered by keep into a new archive object and
// swaps it in for e, if keep drops anything.
func (c *Compactor) rewrite(ctx context.Context, key metadata.PartitionKey, epoch int64, e metadata.ManifestEntry, keep func(batch.Record) bool, opts ArchiveOptions) (metadata.ManifestEntry, bool, error) {
	b := NewArchiveBuilder(opts)
	dropped := false
	err := c.eachBatch(ctx, e, func(raw []byte) error {
		out, d, err := batch.Filter(raw, keep)
		if batch.IsCorrupt(err) {
			return b.Add(raw) // kept as it is (the first pass logged it)
		}
		dropped = dropped || d
		if err != nil || out == nil {
			return err
		}
		return b.Add(out)
	})
	if err != nil {
		return e, false, fmt.Errorf("tiering: clean %s: %w", key, err)
	}
	if !dropped {
		return e, false, nil
	}
	ne, err := c.store(ctx, key, epoch, b, e.Committed, []metadata.ManifestEntry{e})
	return ne, err == nil, err
}
