package tiering

// This file is the format of what tiering writes and must read back for
// years: the WAL entry header (EntryHeaderSize), segment objects
// (ObjectBuilder, DecodeObject) and archive objects (ArchiveBuilder, the
// block index, per-block zstd). Each layout is drawn in the doc comment of
// the name that writes it; the constants marked frozen are part of the
// format. The golden files under testdata/format hold bytes of each, and
// the fuzz targets of the decoders are in format_fuzz_test.go.
//
// Nothing here knows about the Reader's cache, the uploader or the
// compactor: they call in to encode, decode and check.

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/strata-io/strata/internal/batch"
	"github.com/strata-io/strata/metadata"
)

// Format constants. Frozen: objects and WAL segments written by one
// version are read by every later one; changing any of these needs a new
// format version.
const (
	indexEntrySize = 68         // a segment object's index entry
	footerSize     = 28         // the footer of segment and archive objects
	formatVersion  = 1          // segment objects
	archiveVersion = 2          // archive objects
	objectMagic    = "STRATSEG" // the last 8 bytes of every object
	blockEntrySize = 60         // an archive's block index entry
)

// Bounds and defaults that are not part of the format.
const (
	// DefaultBlockBytes is the raw size at which a block is cut.
	DefaultBlockBytes = 1 << 20
	// maxBlockRaw bounds a block's raw size a reader accepts.
	maxBlockRaw = 256 << 20
)

// castagnoli is the table of every CRC in the format: CRC-32C.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// # WAL entries

// EntryHeaderSize is the size of the header the broker puts before the
// batches of each WAL record, naming their partition and the leadership
// they were appended under (AppendEntryHeader, DecodeEntry):
//
//	offset  width  field
//	     0     16  topic id                 raw UUID bytes
//	    16      4  partition                int32, big endian
//	    20      8  epoch                    int64, big endian: the leader key's etcd
//	                                        creation revision (the fencing epoch)
//	    28      …  one or more whole v2 record batches, offsets assigned
//
// The header has no checksum of its own: the WAL's record frame has, and it
// covers the whole record, header and batches. Frozen: WAL segments written
// by one version are read by the next.
const EntryHeaderSize = 28

// AppendEntryHeader appends the WAL entry header for key and epoch to dst.
func AppendEntryHeader(dst []byte, key metadata.PartitionKey, epoch int64) []byte {
	dst = append(dst, key.Topic[:]...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(key.Partition))
	return binary.BigEndian.AppendUint64(dst, uint64(epoch))
}

// Entry is a decoded WAL record.
type Entry struct {
	Key   metadata.PartitionKey
	Epoch int64  // the leadership the batches were appended under
	Data  []byte // the batch bytes; they alias the record
}

// DecodeEntry splits a WAL record into its header and its batch bytes. It
// fails with ErrShortEntry if rec is shorter than the header; it does not
// look at the batch bytes.
func DecodeEntry(rec []byte) (Entry, error) {
	var e Entry
	if len(rec) < EntryHeaderSize {
		return e, fmt.Errorf("%w: %d bytes", ErrShortEntry, len(rec))
	}
	copy(e.Key.Topic[:], rec[:16])
	e.Key.Partition = int32(binary.BigEndian.Uint32(rec[16:]))
	e.Epoch = int64(binary.BigEndian.Uint64(rec[20:]))
	e.Data = rec[EntryHeaderSize:]
	return e, nil
}

// # Segment objects

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

// ManifestEntry is the manifest entry for this range of object.
func (e IndexEntry) ManifestEntry(object string) metadata.ManifestEntry {
	return metadata.ManifestEntry{
		Object:       object,
		Position:     e.Position,
		Size:         e.Size,
		BaseOffset:   e.BaseOffset,
		LastOffset:   e.LastOffset,
		MaxTimestamp: e.MaxTimestamp,
		Batches:      e.Batches,
		CRC:          e.CRC,
	}
}

// ObjectBuilder builds one segment object: many partitions, each a contiguous
// range of its batches, then an index and a footer. The zero value is ready to
// use. It copies what it is given, and Finish leaves it empty for reuse.
//
// One sealed WAL segment becomes one segment object (format version 1)
// holding the batches of many partitions. Each partition's batches form one
// contiguous range of whole, unmodified Kafka v2 batches in offset order, so
// a manifest entry is a single ranged GET and a fetch response can hand the
// bytes out as they are. An index with one fixed-size entry per partition
// and a fixed footer follow the ranges:
//
//	+----------------------+ 0
//	| range 0              |  whole v2 batches of one partition, offset order
//	+----------------------+
//	| range 1              |
//	+----------------------+
//	| …                    |
//	+----------------------+ index position
//	| index entry 0        |  68 bytes each, ordered by position;
//	| index entry 1        |  the builder orders partitions by (topic id, partition)
//	| …                    |
//	+----------------------+ index position + index length
//	| footer               |  28 bytes
//	+----------------------+ end of object
//
// Index entry (68 bytes, integers big endian):
//
//	offset  width  field
//	     0     16  topic id                 raw UUID bytes
//	    16      4  partition                int32
//	    20      8  position                 int64: byte offset of the range in the object
//	    28      8  size                     int64: byte length of the range, > 0
//	    36      8  base offset              int64: base offset of the range's first batch
//	    44      8  last offset              int64: last offset of the range's last batch
//	    52      8  max timestamp            int64: max of the batches' max timestamps
//	    60      4  batch count              int32, > 0
//	    64      4  range crc                uint32: CRC-32C (Castagnoli) of the range's bytes
//
// Footer (28 bytes, integers big endian; an archive's is the same with
// version 2):
//
//	offset  width  field
//	     0      8  index position           uint64
//	     8      4  index length             uint32: a multiple of 68
//	    12      4  index crc                uint32: CRC-32C (Castagnoli) of the index bytes
//	    16      4  format version           uint32, 1
//	    20      8  magic                    "STRATSEG"
//
// The footer carries no checksum of its own: the index must end exactly where
// the footer starts, and version and magic must match, so a damaged position
// or length is caught by that check and a damaged index by its CRC. The range
// CRC is copied into the partition's manifest entry (metadata.ManifestEntry.CRC)
// so that a reader checks a range without reading the index. Ranges lie inside
// [0, index position) and do not overlap (gaps are allowed); a reader never
// trusts an index that says otherwise.
type ObjectBuilder struct {
	parts map[metadata.PartitionKey]*rangeBuilder
	size  int64 // bytes of all ranges
}

type rangeBuilder struct {
	buf   []byte
	entry IndexEntry // all but Position, Size and CRC
}

// Add appends batch (one whole v2 batch, base offset assigned) for key.
// Batches of one partition must be added in offset order: a batch whose base
// offset is not above the partition's last offset so far fails with
// ErrInvalidBatch, as does anything that is not exactly one v2 batch. The
// batch's CRC is not checked here (the produce path did).
func (b *ObjectBuilder) Add(key metadata.PartitionKey, batchBytes []byte) error {
	h, err := parseWholeBatch(batchBytes)
	if err != nil {
		return err
	}
	if b.parts == nil {
		b.parts = make(map[metadata.PartitionKey]*rangeBuilder)
	}
	r := b.parts[key]
	if r == nil {
		r = &rangeBuilder{entry: IndexEntry{Key: key, BaseOffset: h.BaseOffset, MaxTimestamp: h.MaxTimestamp}}
		b.parts[key] = r
	} else if h.BaseOffset <= r.entry.LastOffset {
		return fmt.Errorf("%w: base offset %d after last offset %d", ErrInvalidBatch, h.BaseOffset, r.entry.LastOffset)
	}
	r.buf = append(r.buf, batchBytes...)
	r.entry.LastOffset = h.LastOffset()
	r.entry.MaxTimestamp = max(r.entry.MaxTimestamp, h.MaxTimestamp)
	r.entry.Batches++
	b.size += int64(len(batchBytes))
	return nil
}

// parseWholeBatch parses the header of exactly one v2 batch, failing with
// ErrInvalidBatch otherwise.
func parseWholeBatch(batchBytes []byte) (batch.Header, error) {
	h, err := batch.Parse(batchBytes)
	switch {
	case err != nil:
		return h, fmt.Errorf("%w: %w", ErrInvalidBatch, err)
	case h.Size() != len(batchBytes):
		return h, fmt.Errorf("%w: batch length %d, have %d bytes", ErrInvalidBatch, h.Size(), len(batchBytes))
	case h.Magic != 2:
		return h, fmt.Errorf("%w: magic %d", ErrInvalidBatch, h.Magic)
	case h.LastOffsetDelta < 0:
		return h, fmt.Errorf("%w: last offset delta %d", ErrInvalidBatch, h.LastOffsetDelta)
	}
	return h, nil
}

// Len is the number of partitions added since the last Finish.
func (b *ObjectBuilder) Len() int { return len(b.parts) }

// Finish returns the object's bytes and its index (one entry per partition,
// ordered by topic id and partition, which is also position order) and resets
// the builder. With nothing added it returns a valid object with an empty index.
func (b *ObjectBuilder) Finish() ([]byte, []IndexEntry) {
	ranges := make([]*rangeBuilder, 0, len(b.parts))
	for _, r := range b.parts {
		ranges = append(ranges, r)
	}
	slices.SortFunc(ranges, func(x, y *rangeBuilder) int { return compareKeys(x.entry.Key, y.entry.Key) })

	obj := make([]byte, 0, b.size+int64(len(ranges))*indexEntrySize+footerSize)
	index := make([]IndexEntry, len(ranges))
	for i, r := range ranges {
		e := r.entry
		e.Position = int64(len(obj))
		e.Size = int64(len(r.buf))
		e.CRC = crc32.Checksum(r.buf, castagnoli)
		obj = append(obj, r.buf...)
		index[i] = e
	}
	indexPos := len(obj)
	for _, e := range index {
		obj = appendIndexEntry(obj, e)
	}
	obj = appendFooter(obj, indexPos, crc32.Checksum(obj[indexPos:], castagnoli), formatVersion)

	*b = ObjectBuilder{}
	return obj, index
}

// appendFooter appends the footer of an object whose index starts at
// indexPos and runs to the end of obj.
func appendFooter(obj []byte, indexPos int, indexCRC uint32, version uint32) []byte {
	indexLen := len(obj) - indexPos
	obj = binary.BigEndian.AppendUint64(obj, uint64(indexPos))
	obj = binary.BigEndian.AppendUint32(obj, uint32(indexLen))
	obj = binary.BigEndian.AppendUint32(obj, indexCRC)
	obj = binary.BigEndian.AppendUint32(obj, version)
	return append(obj, objectMagic...)
}

func compareKeys(a, b metadata.PartitionKey) int {
	if c := bytes.Compare(a.Topic[:], b.Topic[:]); c != 0 {
		return c
	}
	return cmp.Compare(a.Partition, b.Partition)
}

func appendIndexEntry(dst []byte, e IndexEntry) []byte {
	dst = append(dst, e.Key.Topic[:]...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(e.Key.Partition))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.Position))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.Size))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.BaseOffset))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.LastOffset))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.MaxTimestamp))
	dst = binary.BigEndian.AppendUint32(dst, uint32(e.Batches))
	return binary.BigEndian.AppendUint32(dst, e.CRC)
}

func decodeIndexEntry(b []byte) IndexEntry {
	var e IndexEntry
	copy(e.Key.Topic[:], b[0:16])
	e.Key.Partition = int32(binary.BigEndian.Uint32(b[16:]))
	e.Position = int64(binary.BigEndian.Uint64(b[20:]))
	e.Size = int64(binary.BigEndian.Uint64(b[28:]))
	e.BaseOffset = int64(binary.BigEndian.Uint64(b[36:]))
	e.LastOffset = int64(binary.BigEndian.Uint64(b[44:]))
	e.MaxTimestamp = int64(binary.BigEndian.Uint64(b[52:]))
	e.Batches = int32(binary.BigEndian.Uint32(b[60:]))
	e.CRC = binary.BigEndian.Uint32(b[64:])
	return e
}

// DecodeObject parses and verifies a whole object: the footer (magic, version,
// the index ending where the footer starts), the index CRC, that every range
// lies inside the object before the index without overlapping another, that
// no partition appears twice, and every range's bytes (its CRC, and that it is
// whole batches agreeing with the entry's offsets, timestamp and count). Every
// failure wraps ErrCorruptObject.
func DecodeObject(obj []byte) ([]IndexEntry, error) {
	if len(obj) < footerSize {
		return nil, fmt.Errorf("%w: %d bytes, shorter than the footer", ErrCorruptObject, len(obj))
	}
	footerPos := len(obj) - footerSize
	f := obj[footerPos:]
	if string(f[20:28]) != objectMagic {
		return nil, fmt.Errorf("%w: bad magic %q", ErrCorruptObject, f[20:28])
	}
	if v := binary.BigEndian.Uint32(f[16:]); v != formatVersion {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrCorruptObject, v)
	}
	indexPos := binary.BigEndian.Uint64(f[0:])
	indexLen := uint64(binary.BigEndian.Uint32(f[8:]))
	if indexPos > uint64(footerPos) || uint64(footerPos)-indexPos != indexLen {
		return nil, fmt.Errorf("%w: index at %d+%d does not end at the footer (%d)", ErrCorruptObject, indexPos, indexLen, footerPos)
	}
	if indexLen%indexEntrySize != 0 {
		return nil, fmt.Errorf("%w: index length %d not a multiple of %d", ErrCorruptObject, indexLen, indexEntrySize)
	}
	index := obj[indexPos:footerPos]
	if got, want := crc32.Checksum(index, castagnoli), binary.BigEndian.Uint32(f[12:]); got != want {
		return nil, fmt.Errorf("%w: index crc %08x, footer says %08x", ErrCorruptObject, got, want)
	}

	entries := make([]IndexEntry, 0, len(index)/indexEntrySize)
	seen := make(map[metadata.PartitionKey]struct{}, cap(entries))
	end := int64(0) // end of the previous range
	limit := int64(indexPos)
	for i := 0; i < len(index); i += indexEntrySize {
		e := decodeIndexEntry(index[i:])
		switch {
		case e.Position < end:
			return nil, fmt.Errorf("%w: range %d at %d overlaps the one before (ends at %d)", ErrCorruptObject, len(entries), e.Position, end)
		case e.Size <= 0 || e.Size > limit-e.Position:
			return nil, fmt.Errorf("%w: range %d at %d+%d outside [0, %d)", ErrCorruptObject, len(entries), e.Position, e.Size, limit)
		}
		if _, dup := seen[e.Key]; dup {
			return nil, fmt.Errorf("%w: partition %x/%d indexed twice", ErrCorruptObject, e.Key.Topic, e.Key.Partition)
		}
		seen[e.Key] = struct{}{}
		if err := checkRange(obj[e.Position:e.Position+e.Size], e); err != nil {
			return nil, fmt.Errorf("%w: range %d at %d+%d: %w", ErrCorruptObject, len(entries), e.Position, e.Size, err)
		}
		end = e.Position + e.Size
		entries = append(entries, e)
	}
	return entries, nil
}

var errRangeMismatch = errors.New("range disagrees with its entry")

// checkRange verifies that b, the bytes of e's range, match e's CRC and are
// whole batches with e's offsets, max timestamp and count. The caller wraps
// the error with ErrCorruptObject and where the range came from.
func checkRange(b []byte, e IndexEntry) error {
	if int64(len(b)) != e.Size {
		return fmt.Errorf("%w: %d bytes, want %d", errRangeMismatch, len(b), e.Size)
	}
	if got := crc32.Checksum(b, castagnoli); got != e.CRC {
		return fmt.Errorf("crc %08x, want %08x", got, e.CRC)
	}
	var (
		n      int32
		last   int64
		maxTs  int64
		prevOK bool
	)
	err := batch.Iter(b, func(h batch.Header, _ []byte) error {
		if h.Magic != 2 {
			return fmt.Errorf("batch %d: %w %d", n, batch.ErrMagic, h.Magic)
		}
		if n == 0 && h.BaseOffset != e.BaseOffset {
			return fmt.Errorf("%w: first base offset %d, want %d", errRangeMismatch, h.BaseOffset, e.BaseOffset)
		}
		if prevOK && h.BaseOffset <= last {
			return fmt.Errorf("%w: batch %d base offset %d not after %d", errRangeMismatch, n, h.BaseOffset, last)
		}
		last, prevOK = h.LastOffset(), true
		if n == 0 || h.MaxTimestamp > maxTs {
			maxTs = h.MaxTimestamp
		}
		n++
		return nil
	})
	if err != nil {
		return err
	}
	switch {
	case n != e.Batches:
		return fmt.Errorf("%w: %d batches, want %d", errRangeMismatch, n, e.Batches)
	case last != e.LastOffset:
		return fmt.Errorf("%w: last offset %d, want %d", errRangeMismatch, last, e.LastOffset)
	case maxTs != e.MaxTimestamp:
		return fmt.Errorf("%w: max timestamp %d, want %d", errRangeMismatch, maxTs, e.MaxTimestamp)
	}
	return nil
}

// # Archive objects

// Codec is how an archive block is stored.
type Codec uint32

// Codecs. Frozen: they are written into archive objects.
const (
	CodecNone Codec = 0
	CodecZstd Codec = 1
)

// ParseCodec parses a codec's name: "none" (or "") or "zstd".
func ParseCodec(s string) (Codec, error) {
	switch s {
	case "", "none":
		return CodecNone, nil
	case "zstd":
		return CodecZstd, nil
	}
	return 0, fmt.Errorf("tiering: unknown archive compression %q (want none or zstd)", s)
}

func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", uint32(c))
}

// Block is one piece of a manifest entry that can be read on its own: a
// block of an archive object, or the whole range of an entry in a segment
// object (stored as is).
type Block struct {
	Object       string
	Position     int64 // of the stored bytes in Object
	Size         int64 // stored bytes
	RawSize      int64 // bytes of its batches
	BaseOffset   int64
	LastOffset   int64
	MaxTimestamp int64
	Batches      int32
	Codec        Codec
	CRC          uint32 // CRC-32C of the raw batches
}

// want is what the block's raw bytes must agree with.
func (b Block) want() IndexEntry {
	return IndexEntry{
		Size: b.RawSize, BaseOffset: b.BaseOffset, LastOffset: b.LastOffset,
		MaxTimestamp: b.MaxTimestamp, Batches: b.Batches, CRC: b.CRC,
	}
}

// plainBlock is the single block of an entry in a segment object.
func plainBlock(e metadata.ManifestEntry) Block {
	return Block{
		Object: e.Object, Position: e.Position, Size: e.Size, RawSize: e.Size,
		BaseOffset: e.BaseOffset, LastOffset: e.LastOffset, MaxTimestamp: e.MaxTimestamp,
		Batches: e.Batches, CRC: e.CRC,
	}
}

// ArchiveOptions say how compaction writes archive objects.
type ArchiveOptions struct {
	Codec      Codec
	BlockBytes int // raw bytes at which a block is cut (0 = DefaultBlockBytes)
}

// ArchiveBuilder builds one archive object of one partition. Use
// NewArchiveBuilder; Add batches in offset order, then Finish.
//
// Compaction writes each partition's merged ranges into an archive object
// (format version 2) of its own: whole v2 batches cut into blocks of about
// ArchiveOptions.BlockBytes, each stored as it is or as one zstd frame, then
// a block index and the same 28-byte footer as a segment object's (see
// ObjectBuilder), with version 2 and the index length a multiple of 60:
//
//	+----------------------+ 0
//	| block 0              |  whole v2 batches, raw or one zstd frame
//	+----------------------+
//	| …                    |
//	+----------------------+ index position (= the manifest entry's Size)
//	| block index entry 0  |  60 bytes each, in offset order
//	| …                    |
//	+----------------------+ index position + index length
//	| footer               |  as a segment object's, format version 2
//	+----------------------+
//
// Block index entry (60 bytes, integers big endian):
//
//	offset  width  field
//	     0      8  position                 int64: byte offset of the stored block
//	     8      8  stored size              int64: byte length in the object, > 0
//	    16      8  raw size                 int64: byte length of its batches, > 0
//	    24      8  base offset              int64: of the block's first batch
//	    32      8  last offset              int64: of its last batch
//	    40      8  max timestamp            int64
//	    48      4  batch count              int32, > 0
//	    52      4  codec                    uint32: 0 stored as is, 1 zstd
//	    56      4  crc                      uint32: CRC-32C of the raw batches
//
// A block's CRC covers its raw batches, after decompression, not the stored
// zstd frame; the footer's index CRC covers the block index bytes. Blocks
// follow each other from position 0 without gaps. The manifest entry of an
// archive covers the blocks (Position 0, Size the index position) and names
// the index: IndexSize its length, CRC the index's CRC-32C (the footer's);
// its offsets, max timestamp and batch count are the blocks' together. A
// reader GETs the index once, then only the blocks a fetch needs, and
// decodes each block on its own: a ranged read never decompresses the whole
// object. A block whose zstd frame would not be smaller than its batches is
// stored as it is.
type ArchiveBuilder struct {
	opts   ArchiveOptions
	obj    []byte
	blocks []Block
	cur    []byte // raw batches of the block being filled
	head   Block  // the block being filled: all but position, sizes and CRC
	last   int64  // last offset added, -1 before the first
}

// NewArchiveBuilder returns a builder writing blocks as opts says.
func NewArchiveBuilder(opts ArchiveOptions) *ArchiveBuilder {
	if opts.BlockBytes <= 0 {
		opts.BlockBytes = DefaultBlockBytes
	}
	return &ArchiveBuilder{opts: opts, last: -1}
}

// Add appends one whole v2 batch (base offset assigned). A batch whose base
// offset is not above the last one's last offset, or anything that is not
// exactly one v2 batch, fails with ErrInvalidBatch.
func (b *ArchiveBuilder) Add(batchBytes []byte) error {
	h, err := parseWholeBatch(batchBytes)
	if err != nil {
		return err
	}
	if b.last >= 0 && h.BaseOffset <= b.last {
		return fmt.Errorf("%w: base offset %d after last offset %d", ErrInvalidBatch, h.BaseOffset, b.last)
	}
	if len(b.cur) == 0 {
		b.head = Block{BaseOffset: h.BaseOffset, MaxTimestamp: h.MaxTimestamp}
	}
	b.cur = append(b.cur, batchBytes...)
	b.head.LastOffset = h.LastOffset()
	b.head.MaxTimestamp = max(b.head.MaxTimestamp, h.MaxTimestamp)
	b.head.Batches++
	b.last = h.LastOffset()
	if len(b.cur) >= b.opts.BlockBytes {
		b.cut()
	}
	return nil
}

// cut stores the block being filled.
func (b *ArchiveBuilder) cut() {
	blk := b.head
	blk.Position = int64(len(b.obj))
	blk.RawSize = int64(len(b.cur))
	blk.CRC = crc32.Checksum(b.cur, castagnoli)
	stored := b.cur
	if b.opts.Codec == CodecZstd {
		if z := zstdEncoder().EncodeAll(b.cur, nil); len(z) < len(b.cur) {
			stored, blk.Codec = z, CodecZstd
		}
	}
	b.obj = append(b.obj, stored...)
	blk.Size = int64(len(stored))
	b.blocks = append(b.blocks, blk)
	b.cur = b.cur[:0]
}

// Finish returns the object and its manifest entry (without Object and
// Committed, which the caller sets) and the blocks. With nothing added it
// fails with ErrInvalidBatch: an archive holds at least one batch.
func (b *ArchiveBuilder) Finish() ([]byte, metadata.ManifestEntry, error) {
	if len(b.cur) > 0 {
		b.cut()
	}
	if len(b.blocks) == 0 {
		return nil, metadata.ManifestEntry{}, fmt.Errorf("%w: an empty archive", ErrInvalidBatch)
	}
	indexPos := len(b.obj)
	obj := b.obj
	e := metadata.ManifestEntry{Size: int64(indexPos), BaseOffset: b.blocks[0].BaseOffset, MaxTimestamp: b.blocks[0].MaxTimestamp}
	for _, blk := range b.blocks {
		obj = appendBlockEntry(obj, blk)
		e.LastOffset = blk.LastOffset
		e.MaxTimestamp = max(e.MaxTimestamp, blk.MaxTimestamp)
		e.Batches += blk.Batches
	}
	index := obj[indexPos:]
	e.IndexSize = int64(len(index))
	e.CRC = crc32.Checksum(index, castagnoli)
	obj = appendFooter(obj, indexPos, e.CRC, archiveVersion)
	*b = ArchiveBuilder{opts: b.opts, last: -1}
	return obj, e, nil
}

func appendBlockEntry(dst []byte, b Block) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(b.Position))
	dst = binary.BigEndian.AppendUint64(dst, uint64(b.Size))
	dst = binary.BigEndian.AppendUint64(dst, uint64(b.RawSize))
	dst = binary.BigEndian.AppendUint64(dst, uint64(b.BaseOffset))
	dst = binary.BigEndian.AppendUint64(dst, uint64(b.LastOffset))
	dst = binary.BigEndian.AppendUint64(dst, uint64(b.MaxTimestamp))
	dst = binary.BigEndian.AppendUint32(dst, uint32(b.Batches))
	dst = binary.BigEndian.AppendUint32(dst, uint32(b.Codec))
	return binary.BigEndian.AppendUint32(dst, b.CRC)
}

// checkBlockIndex checks index, the stored block index of archive entry e:
// its CRC-32C against e's, then what decodeBlockIndex checks.
func checkBlockIndex(e metadata.ManifestEntry, index []byte) error {
	if got := crc32.Checksum(index, castagnoli); got != e.CRC {
		return fmt.Errorf("block index crc %08x, want %08x", got, e.CRC)
	}
	_, err := decodeBlockIndex(e, index)
	return err
}

// decodeBlockIndex parses the block index of archive entry e (its CRC
// checked by the caller) and checks that the blocks tile [0, e.Size) in
// offset order and add up to e's offsets, max timestamp and batch count.
func decodeBlockIndex(e metadata.ManifestEntry, index []byte) ([]Block, error) {
	if len(index) == 0 || len(index)%blockEntrySize != 0 {
		return nil, fmt.Errorf("block index of %d bytes", len(index))
	}
	blocks := make([]Block, len(index)/blockEntrySize)
	var (
		pos   int64
		n     int32
		maxTs int64
	)
	for i := range blocks {
		x := index[i*blockEntrySize:]
		b := Block{
			Object:       e.Object,
			Position:     int64(binary.BigEndian.Uint64(x[0:])),
			Size:         int64(binary.BigEndian.Uint64(x[8:])),
			RawSize:      int64(binary.BigEndian.Uint64(x[16:])),
			BaseOffset:   int64(binary.BigEndian.Uint64(x[24:])),
			LastOffset:   int64(binary.BigEndian.Uint64(x[32:])),
			MaxTimestamp: int64(binary.BigEndian.Uint64(x[40:])),
			Batches:      int32(binary.BigEndian.Uint32(x[48:])),
			Codec:        Codec(binary.BigEndian.Uint32(x[52:])),
			CRC:          binary.BigEndian.Uint32(x[56:]),
		}
		switch {
		case b.Position != pos || b.Size <= 0 || b.Size > e.Size-pos:
			return nil, fmt.Errorf("block %d at %d+%d does not follow the one before (ends at %d) inside %d bytes", i, b.Position, b.Size, pos, e.Size)
		case b.RawSize <= 0 || b.RawSize > maxBlockRaw || b.Batches <= 0 || b.LastOffset < b.BaseOffset:
			return nil, fmt.Errorf("block %d: raw size %d, %d batches, offsets %d-%d", i, b.RawSize, b.Batches, b.BaseOffset, b.LastOffset)
		case b.Codec != CodecNone && b.Codec != CodecZstd:
			return nil, fmt.Errorf("block %d: unknown codec %d", i, b.Codec)
		case b.Codec == CodecNone && b.Size != b.RawSize:
			return nil, fmt.Errorf("block %d: stored as is in %d bytes, raw %d", i, b.Size, b.RawSize)
		case i == 0 && b.BaseOffset != e.BaseOffset:
			return nil, fmt.Errorf("first block at offset %d, entry at %d", b.BaseOffset, e.BaseOffset)
		case i > 0 && b.BaseOffset <= blocks[i-1].LastOffset:
			return nil, fmt.Errorf("block %d at offset %d, not after %d", i, b.BaseOffset, blocks[i-1].LastOffset)
		}
		if i == 0 || b.MaxTimestamp > maxTs {
			maxTs = b.MaxTimestamp
		}
		pos += b.Size
		n += b.Batches
		blocks[i] = b
	}
	last := blocks[len(blocks)-1]
	switch {
	case pos != e.Size:
		return nil, fmt.Errorf("blocks end at %d, entry has %d bytes", pos, e.Size)
	case last.LastOffset != e.LastOffset || n != e.Batches || maxTs != e.MaxTimestamp:
		return nil, fmt.Errorf("blocks hold offsets %d-%d, %d batches, max timestamp %d; entry says %d-%d, %d, %d",
			e.BaseOffset, last.LastOffset, n, maxTs, e.BaseOffset, e.LastOffset, e.Batches, e.MaxTimestamp)
	}
	return blocks, nil
}

// decodeBlock turns a block's stored bytes into its batches and checks them
// against the block.
func decodeBlock(b Block, stored []byte) ([]byte, error) {
	raw := stored
	if b.Codec == CodecZstd {
		var err error
		if raw, err = zstdDecoder().DecodeAll(stored, make([]byte, 0, b.RawSize)); err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
	}
	if err := checkRange(raw, b.want()); err != nil {
		return nil, err
	}
	return raw, nil
}

// One zstd encoder and one decoder for the process; both are safe for
// concurrent EncodeAll and DecodeAll.
var (
	zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
		enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(2))
		if err != nil {
			panic(err) // only for invalid options
		}
		return enc
	})
	zstdDecoder = sync.OnceValue(func() *zstd.Decoder {
		dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxBlockRaw))
		if err != nil {
			panic(err)
		}
		return dec
	})
)
