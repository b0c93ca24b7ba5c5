// Package batch reads and rewrites the fixed 61-byte header of a Kafka record
// batch (message format v2), and decodes the records inside it where the
// broker must: log compaction (Filter), lookups by timestamp (RecordTimes),
// the key check of compacted topics at produce time (NullKeys), and the
// recompression of a batch into its topic's compression.type (Recompress).
//
// The produce and fetch paths treat a batch as bytes: they validate the header
// and the CRC, rewrite the base offset (and, for LogAppendTime topics, the
// timestamps and the CRC), and never decode or re-encode the records, but
// for those cases.
//
//	offset  width  field
//	     0      8  base offset            int64, big endian
//	     8      4  batch length           int32: bytes after this field
//	    12      4  partition leader epoch int32
//	    16      1  magic                  int8, always 2
//	    17      4  crc                    uint32 CRC-32C of bytes [21, end)
//	    21      2  attributes             int16: bits 0-2 codec, 3 timestamp type,
//	                                      4 transactional, 5 control
//	    23      4  last offset delta      int32
//	    27      8  base timestamp         int64
//	    35      8  max timestamp          int64
//	    43      8  producer id            int64
//	    51      2  producer epoch         int16
//	    53      4  base sequence          int32
//	    57      4  record count           int32
//	    61      …  records, compressed with the codec as one stream
//
// Each record (varints are zigzag-encoded, as in Kafka):
//
//	length           varint   bytes after this field
//	attributes       int8     unused
//	timestamp delta  varlong  from the base timestamp
//	offset delta     varint   from the base offset
//	key length       varint   -1: no key
//	key              bytes
//	value length     varint   -1: null value (a tombstone)
//	value            bytes
//	header count     varint
//	headers          key length varint (>= 0), key, value length varint (>= -1), value
//
// # Decoding records within bounds
//
// A batch is a claim from a client: a few hundred kilobytes of gzip can
// inflate to gigabytes, and any length inside can lie. Records are therefore
// decoded one at a time from a streaming decompressor (gzip, snappy raw or
// xerial-framed, lz4 frames, zstd), so that what is held is about one record
// (keys and values are skipped as they stream past when only offsets,
// timestamps or key presence are wanted), and:
//   - a batch's records may decompress to at most MaxDecompressedBytes
//     (64 MiB); past it decoding stops with ErrTooLarge;
//   - the record count is checked against what the limit can hold, and every
//     length (record, key, value, header count, header key and value) against
//     what is left of its record and of the limit, before it is used; buffers
//     grow with the bytes that arrive, never from a length read;
//   - malformed records, truncated streams, codec errors and bytes after the
//     last record are ErrCorrupt, as Kafka rejects them.
//
// What each codec holds beyond one record is described in codec.go; each
// case is bounded by the limit. Filter, which rewrites a batch, decodes it
// twice rather than hold the records it keeps: it holds one record, a bit
// per record, and the compressed output.
package batch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// HeaderSize is the size of a v2 record batch header.
const HeaderSize = 61

// MaxDecompressedBytes is the most that the records of one batch may
// decompress to when the broker decodes them (uncompressed batches are their
// own bound). It is 64 times Kafka's default max.message.bytes (1 MiB):
// Kafka clients compress real data 2 to 10 times, so a batch the default
// limit accepts stays far below it, while ratios in the hundreds come from
// degenerate input (a run of zeros deflates about 1000 times). As records
// stream, memory does not grow with it; it bounds the work one batch can
// cost and what Filter holds.
const MaxDecompressedBytes = 64 << 20

// Attribute bits.
const (
	attrTimestampType = 1 << 3
	attrTransactional = 1 << 4
	attrControl       = 1 << 5
)

var (
	// ErrShort means the bytes end before the batch does.
	ErrShort = errors.New("batch: truncated")
	// ErrMagic means the batch is not message format v2.
	ErrMagic = errors.New("batch: unsupported magic")
	// ErrCRC means the batch's CRC-32C does not match its bytes.
	ErrCRC = errors.New("batch: crc mismatch")
	// ErrInvalid means a header field is impossible (negative length, record count
	// that disagrees with the offset delta, …).
	ErrInvalid = errors.New("batch: invalid header")
	// ErrCorrupt means the records do not decode: a codec error, a truncated
	// stream, a length that does not fit its record, fewer records than the
	// header counts or bytes after the last one.
	ErrCorrupt = errors.New("batch: corrupt records")
	// ErrTooLarge means the records decompress to more than the limit
	// (MaxDecompressedBytes), or claim to.
	ErrTooLarge = errors.New("batch: records decompress past the limit")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is a decoded batch header.
type Header struct {
	BaseOffset           int64
	Length               int32 // bytes after the length field
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Size is the whole batch's size in bytes.
func (h *Header) Size() int { return int(h.Length) + 12 }

// LastOffset is the offset of the batch's last record.
func (h *Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Codec is the compression codec: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd.
func (h *Header) Codec() int8 { return int8(h.Attributes & 0x7) }

// Transactional reports whether the batch belongs to a transaction.
func (h *Header) Transactional() bool { return h.Attributes&attrTransactional != 0 }

// Control reports whether the batch is a control batch.
func (h *Header) Control() bool { return h.Attributes&attrControl != 0 }

// LastSequence is the sequence number of the batch's last record.
func (h *Header) LastSequence() int32 {
	// Sequences wrap at MaxInt32 as in Kafka.
	return int32((int64(h.BaseSequence) + int64(h.LastOffsetDelta)) % (1 << 31))
}

// Idempotent reports whether the batch carries a producer id.
func (h *Header) Idempotent() bool { return h.ProducerID >= 0 }

// Parse decodes the header at the start of b. It checks only that the header is
// present and that the batch's length fits in b; Validate checks the rest.
func Parse(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderSize {
		return h, ErrShort
	}
	h.BaseOffset = int64(binary.BigEndian.Uint64(b[0:]))
	h.Length = int32(binary.BigEndian.Uint32(b[8:]))
	h.PartitionLeaderEpoch = int32(binary.BigEndian.Uint32(b[12:]))
	h.Magic = int8(b[16])
	h.CRC = binary.BigEndian.Uint32(b[17:])
	h.Attributes = int16(binary.BigEndian.Uint16(b[21:]))
	h.LastOffsetDelta = int32(binary.BigEndian.Uint32(b[23:]))
	h.BaseTimestamp = int64(binary.BigEndian.Uint64(b[27:]))
	h.MaxTimestamp = int64(binary.BigEndian.Uint64(b[35:]))
	h.ProducerID = int64(binary.BigEndian.Uint64(b[43:]))
	h.ProducerEpoch = int16(binary.BigEndian.Uint16(b[51:]))
	h.BaseSequence = int32(binary.BigEndian.Uint32(b[53:]))
	h.NumRecords = int32(binary.BigEndian.Uint32(b[57:]))
	if h.Length < HeaderSize-12 {
		return h, fmt.Errorf("%w: length %d", ErrInvalid, h.Length)
	}
	if len(b) < h.Size() {
		return h, ErrShort
	}
	return h, nil
}

// Validate checks a whole batch as the produce path must: magic 2, the CRC, and
// a record count that agrees with the offset delta. b must be exactly one batch.
func Validate(b []byte) (Header, error) {
	h, err := Parse(b)
	if err != nil {
		return h, err
	}
	if h.Size() != len(b) {
		return h, fmt.Errorf("%w: length %d, have %d bytes", ErrInvalid, h.Length, len(b))
	}
	if h.Magic != 2 {
		return h, fmt.Errorf("%w %d", ErrMagic, h.Magic)
	}
	if crc32.Checksum(b[21:], castagnoli) != h.CRC {
		return h, ErrCRC
	}
	if h.NumRecords <= 0 || h.LastOffsetDelta != h.NumRecords-1 {
		return h, fmt.Errorf("%w: %d records, last offset delta %d", ErrInvalid, h.NumRecords, h.LastOffsetDelta)
	}
	return h, nil
}

// SetBaseOffset rewrites the batch's base offset. The CRC does not cover it.
func SetBaseOffset(b []byte, offset int64) {
	binary.BigEndian.PutUint64(b[0:], uint64(offset))
}

// SetPartitionLeaderEpoch stamps the leader epoch under which the batch was
// appended, as a Kafka leader does; consumers send it back in
// OffsetForLeaderEpoch to detect truncation. The CRC does not cover it.
func SetPartitionLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[12:], uint32(epoch))
}

// SetLogAppendTime marks the batch's timestamps as LogAppendTime at ts and
// recomputes the CRC, as a broker does for topics with
// message.timestamp.type=LogAppendTime.
func SetLogAppendTime(b []byte, ts int64) {
	attrs := binary.BigEndian.Uint16(b[21:]) | attrTimestampType
	binary.BigEndian.PutUint16(b[21:], attrs)
	binary.BigEndian.PutUint64(b[27:], uint64(ts))
	binary.BigEndian.PutUint64(b[35:], uint64(ts))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
}

// Iter walks the concatenated batches in b, calling fn with each batch's header
// and bytes. It stops at the first batch that does not fit and returns ErrShort
// (or fn's error).
func Iter(b []byte, fn func(h Header, raw []byte) error) error {
	for len(b) > 0 {
		h, err := Parse(b)
		if err != nil {
			return err
		}
		if err := fn(h, b[:h.Size()]); err != nil {
			return err
		}
		b = b[h.Size():]
	}
	return nil
}

// RecordTimes calls fn with the offset and timestamp of each record of a
// whole batch, in order, until fn returns false. Only the timestamp and
// offset deltas are kept; keys and values stream past. For LogAppendTime
// batches every record has the batch's max timestamp, as in Kafka. Records
// that do not decode give ErrCorrupt, records that decompress past
// MaxDecompressedBytes ErrTooLarge.
func RecordTimes(raw []byte, fn func(offset, timestamp int64) bool) error {
	return recordTimes(raw, MaxDecompressedBytes, fn)
}

func recordTimes(raw []byte, limit int, fn func(offset, timestamp int64) bool) error {
	r, err := newRecordReader(raw, readMeta, limit)
	if err != nil {
		return err
	}
	defer r.close()
	for r.next() {
		if !fn(r.offset(), r.timestamp()) {
			return nil
		}
	}
	return r.err
}

// NullKeys decodes every record of a whole batch, as the produce path does
// for compacted topics, and returns the indexes in the batch of the records
// that have no key (at most max of them, the first ones) and how many there
// are in all. It fails as RecordTimes does, and also with ErrCorrupt if
// anything follows the last record or the codec's checksum does not match.
func NullKeys(raw []byte, max int) (indexes []int32, total int, err error) {
	return nullKeys(raw, MaxDecompressedBytes, max)
}

func nullKeys(raw []byte, limit, max int) ([]int32, int, error) {
	r, err := newRecordReader(raw, readMeta, limit)
	if err != nil {
		return nil, 0, err
	}
	defer r.close()
	var indexes []int32
	total := 0
	for r.next() {
		if r.rec.keyLen < 0 {
			if total < max {
				indexes = append(indexes, r.rec.index)
			}
			total++
		}
	}
	if r.err != nil {
		return nil, 0, r.err
	}
	return indexes, total, nil
}
