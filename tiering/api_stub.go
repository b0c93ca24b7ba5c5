package tiering

// API CONTRACT (stub written by the lead; the implementer replaces this file with
// the real implementation, keeping every exported name and signature below).

import (
	"context"
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/wal"
)

// ErrCorruptObject: a segment object or range failed its checks.
var ErrCorruptObject = errors.New("tiering: corrupt segment object")

// EntryHeaderSize is the size of the header the broker puts before each batch
// in a WAL record: topic id (16 bytes) and partition (int32 big endian).
const EntryHeaderSize = 20

// AppendEntryHeader appends the WAL entry header for key to dst.
func AppendEntryHeader(dst []byte, key metadata.PartitionKey) []byte { panic("stub") }

// DecodeEntry splits a WAL record into its partition and its batch bytes.
func DecodeEntry(rec []byte) (metadata.PartitionKey, []byte, error) { panic("stub") }

// IndexEntry is one partition's range in a segment object.
type IndexEntry struct {
	Key          metadata.PartitionKey
	Position     int64
	Size         int64
	BaseOffset   int64
	LastOffset   int64
	MaxTimestamp int64
	Batches      int32
	CRC          uint32 // CRC-32C of the range's bytes
}

// ObjectBuilder builds one segment object: many partitions, each a contiguous
// range of its batches, then an index and a footer.
type ObjectBuilder struct{}

// Add appends batch (one whole v2 batch, base offset assigned) for key.
// Batches of one partition must be added in offset order.
func (b *ObjectBuilder) Add(key metadata.PartitionKey, batch []byte) error { panic("stub") }

// Finish returns the object's bytes and its index (one entry per partition).
func (b *ObjectBuilder) Finish() ([]byte, []IndexEntry) { panic("stub") }

// DecodeObject parses and verifies a whole object's footer and index.
func DecodeObject(obj []byte) ([]IndexEntry, error) { panic("stub") }

// Leaders tells the uploader which partitions this broker leads, under which epoch.
type Leaders interface {
	Epoch(key metadata.PartitionKey) (epoch int64, ok bool)
}

// Result is one partition's outcome of uploading one WAL segment.
type Result struct {
	Key   metadata.PartitionKey
	Entry metadata.ManifestEntry
	State metadata.PartitionState // the state committed (HighWatermark = Entry.LastOffset+1)
	Err   error                   // nil, metadata.ErrFenced, or another error
}

// UploaderOptions configures an Uploader.
type UploaderOptions struct {
	Bucket     objectstore.Bucket
	Store      *metadata.Store
	WAL        *wal.WAL
	Leaders    Leaders
	BrokerID   int32
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// OnCommit is called once per WAL segment after its commit, in segment order.
	OnCommit func(seq uint64, results []Result)
}

// Uploader turns sealed WAL segments into objects and manifest commits.
type Uploader struct{}

// NewUploader returns an uploader; call Run.
func NewUploader(opts UploaderOptions) *Uploader { panic("stub") }

// SetState seeds the committed state of a partition this broker just started to
// lead. Batches of recovered segments below State.HighWatermark are skipped.
func (u *Uploader) SetState(key metadata.PartitionKey, st metadata.PartitionState) { panic("stub") }

// Forget drops a partition (deleted topic, lost leadership).
func (u *Uploader) Forget(key metadata.PartitionKey) { panic("stub") }

// Run uploads the recovered segments, then every segment from the WAL's Sealed
// channel, until that channel is closed (returns nil) or ctx ends. Failed PUTs
// and transport errors are retried with backoff; Removes each WAL segment once
// committed.
func (u *Uploader) Run(ctx context.Context, recovered []wal.SegmentInfo) error { panic("stub") }

// Reader reads manifest ranges from the bucket through a bounded cache.
type Reader struct{}

// NewReader returns a reader with a cache of at most cacheBytes.
func NewReader(b objectstore.Bucket, cacheBytes int64, reg prometheus.Registerer) *Reader {
	panic("stub")
}

// Read returns the bytes of e's range (whole batches), checked.
func (r *Reader) Read(ctx context.Context, e metadata.ManifestEntry) ([]byte, error) { panic("stub") }
