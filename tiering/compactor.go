package tiering

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"

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
//
// Transactions survive it unchanged: the control batches and the records
// of aborted transactions are copied like any other batch, and the merged
// entry's Aborted list is the run's lists one after the other (markers in
// offset order), so read_committed fetches of the merged range learn of
// the same aborted transactions as before. A run is bounded in aborted
// transactions too (maxRunAborted), so that its entry stays a small etcd
// value.

// maxRunEntries bounds the entries one compaction merges (one etcd
// transaction replaces them).
const maxRunEntries = 100

// maxRunAborted bounds the aborted transactions the entry of one merged run
// lists: each is about 100 bytes of JSON in the entry's etcd value, which
// must stay well under etcd's request limit (1.5 MiB by default).
const maxRunAborted = 4096

// PlanCompaction returns the runs of manifest entries worth merging: at
// least two consecutive entries, each smaller than half of target bytes
// and committed before notAfter (unix ms; an entry without a commit time
// counts as old), together at most target bytes and listing at most
// maxRunAborted aborted transactions. entries are in offset order.
func PlanCompaction(entries []metadata.ManifestEntry, target, notAfter int64) [][]metadata.ManifestEntry {
	var runs [][]metadata.ManifestEntry
	var run []metadata.ManifestEntry
	var size int64
	var aborted int
	flush := func() {
		if len(run) >= 2 {
			runs = append(runs, run)
		}
		run, size, aborted = nil, 0, 0
	}
	for _, e := range entries {
		small := e.Size < target/2 && e.Committed <= notAfter && len(e.Aborted) <= maxRunAborted/2
		if !small {
			flush()
			continue
		}
		if size+e.Size > target || len(run) == maxRunEntries || aborted+len(e.Aborted) > maxRunAborted {
			flush()
		}
		run = append(run, e)
		size += e.Size
		aborted += len(e.Aborted)
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
// entries for its entry, under epoch. It returns the new entry, whose
// Aborted list is the run's lists in order. On error the manifest is as it
// was (an object may have been written: an orphan for garbage collection).
func (c *Compactor) Compact(ctx context.Context, key metadata.PartitionKey, epoch int64, run []metadata.ManifestEntry, opts ArchiveOptions) (metadata.ManifestEntry, error) {
	b := NewArchiveBuilder(opts)
	var committed int64
	for _, e := range run {
		if err := c.eachBatch(ctx, e, func(_ batch.Header, raw []byte) error { return b.Add(raw) }); err != nil {
			return metadata.ManifestEntry{}, fmt.Errorf("tiering: compact %s: %w", key, err)
		}
		committed = max(committed, e.Committed)
	}
	return c.store(ctx, key, epoch, b, committed, run)
}

// eachBatch calls fn with each of e's batches and its header in order,
// reading one block at a time.
func (c *Compactor) eachBatch(ctx context.Context, e metadata.ManifestEntry, fn func(h batch.Header, raw []byte) error) error {
	blocks, err := c.reader.Blocks(ctx, e)
	if err != nil {
		return fmt.Errorf("read %s: %w", e.Object, err)
	}
	for _, blk := range blocks {
		data, err := c.reader.ReadBlock(ctx, blk)
		if err != nil {
			return fmt.Errorf("read %s: %w", e.Object, err)
		}
		if err := batch.Iter(data, fn); err != nil {
			return err
		}
	}
	return nil
}

// store PUTs what b holds as a new object of key and swaps it in for run;
// the new entry lists the aborted transactions of run's entries, in order.
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
	for _, e := range run {
		entry.Aborted = append(entry.Aborted, e.Aborted...)
	}
	if err := c.uploader.Replace(ctx, key, epoch, run, entry); err != nil {
		return metadata.ManifestEntry{}, fmt.Errorf("tiering: compact %s: swap manifest entries: %w", key, err)
	}
	return entry, nil
}

// LogPolicy is a compacted topic's cleaning rules (cleanup.policy=compact),
// Kafka's: keep the latest record of every key; drop a tombstone (a null
// value) once its range was committed delete.retention.ms ago; clean only
// ranges committed min.compaction.lag.ms ago, and only ranges wholly below
// the partition's last stable offset.
type LogPolicy struct {
	Now               int64 // unix ms
	DeleteRetentionMs int64
	MinLagMs          int64
	// LastStable is the partition's last stable offset, read before the
	// manifest entries given to CleanLog were taken from the partition.
	// Only entries wholly below it are cleaned; 0 cleans nothing.
	LastStable int64
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
//
// Transactions stay as read_committed saw them:
//
//   - Only the entries wholly below policy.LastStable are cleaned or tell
//     which record of a key is the latest: above it a transaction may be
//     open, and its records may still abort. Because the last stable offset
//     was read before entries were taken, every transaction with a record
//     below it had ended below the high watermark then, so its marker, and
//     for an abort the AbortedTxn, is in entries.
//   - Control batches (the COMMIT and ABORT markers) are kept whole: their
//     records have keys, but those are no keys of the topic.
//   - The records of aborted transactions, those of a transactional batch
//     of producer P whose offsets lie in an AbortedTxn of P listed by any of
//     entries, are dropped, but for an entry's last record (which read_committed
//     still skips: its abort stays listed). They never count as the latest
//     record of their key, so an aborted record never reappears and never
//     hides the committed record before it. Records of committed
//     transactions are records like any other.
//   - Every rewritten entry keeps its Aborted list. Kafka drops a marker
//     once delete.retention.ms has passed and its transaction's records are
//     all gone; CleanLog keeps every marker and every AbortedTxn for as long
//     as its entry lives (until retention drops it). A marker costs a few
//     dozen bytes of the log and of the entry's etcd value, keeping it can
//     never make read_committed wrong, and dropping it would need a proof
//     that no record of its transaction is left in any entry.
//   - An ABORT marker in an entry wholly below the last stable offset that
//     no entry's Aborted list names means the lists cannot be trusted to
//     name every aborted record: CleanLog then cleans nothing and returns
//     an error, rather than keep aborted records as if they were committed.
func (c *Compactor) CleanLog(ctx context.Context, key metadata.PartitionKey, epoch int64, entries []metadata.ManifestEntry, policy LogPolicy, opts ArchiveOptions) (old, cleaned []metadata.ManifestEntry, err error) {
	stable := entries
	for i, e := range entries {
		if e.LastOffset >= policy.LastStable {
			stable = entries[:i]
			break
		}
	}
	aborted := newAbortedIndex(entries)
	latest := map[string]int64{}
	for _, e := range stable {
		err := c.eachBatch(ctx, e, func(h batch.Header, raw []byte) error {
			switch {
			case h.Control():
				return checkListed(h, raw, aborted)
			case aborted.holds(h):
				return nil // never the latest record of its keys
			}
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
	for _, e := range stable {
		if e.Committed > policy.Now-policy.MinLagMs {
			break // this one and the later ones are too recent
		}
		expired := e.Committed <= policy.Now-policy.DeleteRetentionMs
		keep := func(h batch.Header, r batch.Record) bool {
			switch {
			case r.Offset == e.LastOffset:
				return true
			case aborted.holds(h):
				return false
			case r.Key == nil:
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
// swaps it in for e, if keep drops anything. Control batches are kept whole
// without asking keep. The new entry keeps e's Aborted list.
func (c *Compactor) rewrite(ctx context.Context, key metadata.PartitionKey, epoch int64, e metadata.ManifestEntry, keep func(batch.Header, batch.Record) bool, opts ArchiveOptions) (metadata.ManifestEntry, bool, error) {
	b := NewArchiveBuilder(opts)
	dropped := false
	err := c.eachBatch(ctx, e, func(h batch.Header, raw []byte) error {
		if h.Control() {
			return b.Add(raw)
		}
		out, d, err := batch.Filter(raw, func(r batch.Record) bool { return keep(h, r) })
		if batch.IsCorrupt(err) {
			return b.Add(raw) // kept as it is (the first pass logged it, unless it is aborted)
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

// abortedIndex is the aborted transactions of a partition's entries, by
// producer, each producer's in offset order (a producer's transactions on
// a partition follow one another and never overlap).
type abortedIndex map[int64][]metadata.AbortedTxn

func newAbortedIndex(entries []metadata.ManifestEntry) abortedIndex {
	idx := abortedIndex{}
	for _, e := range entries {
		for _, a := range e.Aborted {
			idx[a.ProducerID] = append(idx[a.ProducerID], a)
		}
	}
	for _, txns := range idx {
		slices.SortFunc(txns, func(a, b metadata.AbortedTxn) int { return cmp.Compare(a.LastOffset, b.LastOffset) })
	}
	return idx
}

// find returns the aborted transaction of producer pid whose range
// [FirstOffset, LastOffset] holds offset.
func (idx abortedIndex) find(pid, offset int64) (metadata.AbortedTxn, bool) {
	txns := idx[pid]
	i, _ := slices.BinarySearchFunc(txns, offset, func(a metadata.AbortedTxn, off int64) int { return cmp.Compare(a.LastOffset, off) })
	if i == len(txns) || txns[i].FirstOffset > offset {
		return metadata.AbortedTxn{}, false
	}
	return txns[i], true
}

// holds reports whether the batch h heads holds records of an aborted
// transaction.
func (idx abortedIndex) holds(h batch.Header) bool {
	if !h.Transactional() || h.Control() {
		return false
	}
	_, ok := idx.find(h.ProducerID, h.BaseOffset)
	return ok
}

// checkListed returns an error if the control batch raw, headed by h, is
// an ABORT marker that idx does not list. A control batch whose record does
// not decode is no marker the uploader listed either, and passes.
func checkListed(h batch.Header, raw []byte, idx abortedIndex) error {
	if typ, err := batch.ControlType(raw); err != nil || typ != batch.ControlAbort {
		return nil
	}
	if a, ok := idx.find(h.ProducerID, h.BaseOffset); !ok || a.LastOffset != h.BaseOffset {
		return fmt.Errorf("ABORT marker of producer %d at offset %d is in no entry's aborted transactions; cleaning nothing", h.ProducerID, h.BaseOffset)
	}
	return nil
}
