package tiering

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/strata-io/strata/metadata"
)

// Archive objects.
//
// Compaction writes each partition's merged ranges into an archive object
// (format version 2) of its own: whole v2 batches cut into blocks of about
// blockBytes, each stored as it is or as one zstd frame, then a block index
// and the same 28-byte footer as a segment object's:
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
// Blocks follow each other from position 0 without gaps. The manifest entry
// of an archive covers the blocks (Position 0, Size the index position) and
// names the index: IndexSize its length, CRC the index's CRC-32C; its
// offsets, max timestamp and batch count are the blocks' together. A reader
// GETs the index once, then only the blocks a fetch needs, and decodes each
// block on its own: a ranged read never decompresses the whole object. A
// block whose zstd frame would not be smaller than its batches is stored as
// it is.
//
// Every constant above is frozen for format version 2.
const (
	blockEntrySize = 60
	archiveVersion = 2
	// DefaultBlockBytes is the raw size at which a block is cut.
	DefaultBlockBytes = 1 << 20
	// maxBlockRaw bounds a block's raw size a reader accepts.
	maxBlockRaw = 256 << 20
)

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

func (b Block) key() rangeKey { return rangeKey{b.Object, b.Position, b.Size} }

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
