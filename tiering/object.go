package tiering

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"

	"github.com/strata-io/strata/internal/batch"
	"github.com/strata-io/strata/metadata"
)

// Segment object format constants. Frozen: see the package documentation.
const (
	indexEntrySize = 68
	footerSize     = 28
	formatVersion  = 1
	objectMagic    = "STRATSEG"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

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
