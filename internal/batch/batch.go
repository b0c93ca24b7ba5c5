// Package batch reads and rewrites the fixed 61-byte header of a Kafka record
// batch (message format v2) without touching the records inside it.
//
// The broker treats a batch as bytes: it validates the header and the CRC,
// rewrites the base offset (and, for LogAppendTime topics, the timestamps and
// the CRC), and never decodes or re-encodes the records.
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
//	    61      …  records
package batch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kgo"
)

// HeaderSize is the size of a v2 record batch header.
const HeaderSize = 61

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

// decompressor handles every Kafka codec, including the xerial framing Java
// clients use for snappy.
var decompressor = kgo.DefaultDecompressor()

// RecordTimes calls fn with the offset and timestamp of each record of a
// whole batch, in order, until fn returns false. Only the timestamp and
// offset deltas are read; compressed batches are decompressed. For
// LogAppendTime batches every record has the batch's max timestamp, as in
// Kafka.
func RecordTimes(raw []byte, fn func(offset, timestamp int64) bool) error {
	h, err := Parse(raw)
	if err != nil {
		return err
	}
	records := raw[HeaderSize:h.Size()]
	if h.Codec() != 0 {
		if records, err = decompressor.Decompress(records, kgo.CompressionCodecType(h.Codec())); err != nil {
			return fmt.Errorf("%w: decompress: %v", ErrInvalid, err)
		}
	}
	logAppendTime := h.Attributes&attrTimestampType != 0
	r := kbin.Reader{Src: records}
	for i := int32(0); i < h.NumRecords; i++ {
		length := r.Varint()
		if !r.Ok() || length < 0 || int(length) > len(r.Src) {
			return fmt.Errorf("%w: record %d length", ErrInvalid, i)
		}
		rec := kbin.Reader{Src: r.Span(int(length))}
		rec.Int8() // attributes
		tsDelta := rec.Varlong()
		offDelta := rec.Varint()
		if !rec.Ok() {
			return fmt.Errorf("%w: record %d header", ErrInvalid, i)
		}
		ts := h.BaseTimestamp + tsDelta
		if logAppendTime {
			ts = h.MaxTimestamp
		}
		if !fn(h.BaseOffset+int64(offDelta), ts) {
			return nil
		}
	}
	return nil
}
