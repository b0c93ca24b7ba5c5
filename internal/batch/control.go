package batch

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Control record types: the type field of a control record's key. A
// transaction's marker is an ABORT or COMMIT control batch.
const (
	ControlAbort  int16 = 0
	ControlCommit int16 = 1
)

// ControlType returns the type of the control batch raw (a whole batch):
// its first record's key is int16 version, int16 type, as Kafka's
// ControlRecordType reads it. A batch that is not a control batch is
// ErrInvalid; a record that does not decode, or whose key is shorter than
// four bytes or has a negative version, is ErrCorrupt. Records decode
// within MaxDecompressedBytes, like RecordTimes.
func ControlType(raw []byte) (int16, error) {
	return controlType(raw, MaxDecompressedBytes)
}

func controlType(raw []byte, limit int) (int16, error) {
	h, err := Parse(raw)
	if err != nil {
		return 0, err
	}
	if !h.Control() {
		return 0, fmt.Errorf("%w: not a control batch", ErrInvalid)
	}
	r, err := newRecordReader(raw[:h.Size()], readKey, limit)
	if err != nil {
		return 0, err
	}
	defer r.close()
	if !r.next() {
		if r.err != nil {
			return 0, r.err
		}
		return 0, fmt.Errorf("%w: control batch without records", ErrCorrupt)
	}
	key := r.rec.key
	if len(key) < 4 {
		return 0, fmt.Errorf("%w: control record key of %d bytes", ErrCorrupt, len(key))
	}
	if v := int16(binary.BigEndian.Uint16(key)); v < 0 {
		return 0, fmt.Errorf("%w: control record key version %d", ErrCorrupt, v)
	}
	return int16(binary.BigEndian.Uint16(key[2:])), nil
}

// controlRecordSize is the size of a transaction marker's record after its
// length varint: attributes, timestamp delta, offset delta, key length,
// the 4-byte key, value length, the 6-byte value and header count.
const controlRecordSize = 1 + 1 + 1 + 1 + 4 + 1 + 6 + 1

// ControlBatchSize is the size of the batch AppendControlBatch appends.
const ControlBatchSize = HeaderSize + 1 + controlRecordSize

// AppendControlBatch appends to dst a transaction marker as Kafka writes
// one: an uncompressed batch (magic 2, attributes transactional|control)
// of producerID and producerEpoch, base sequence -1, base offset 0 and
// partition leader epoch -1 (the append sets both), whose one record has
// the key (version 0, ControlCommit or ControlAbort) and the value
// (version 0, coordinatorEpoch), at timestamp (unix ms).
func AppendControlBatch(dst []byte, producerID int64, producerEpoch int16, commit bool, coordinatorEpoch int32, timestamp int64) []byte {
	start := len(dst)
	var hdr [HeaderSize]byte
	binary.BigEndian.PutUint32(hdr[8:], uint32(ControlBatchSize-12))
	binary.BigEndian.PutUint32(hdr[12:], 0xffffffff) // leader epoch -1
	hdr[16] = 2
	binary.BigEndian.PutUint16(hdr[21:], attrTransactional|attrControl)
	binary.BigEndian.PutUint64(hdr[27:], uint64(timestamp))
	binary.BigEndian.PutUint64(hdr[35:], uint64(timestamp))
	binary.BigEndian.PutUint64(hdr[43:], uint64(producerID))
	binary.BigEndian.PutUint16(hdr[51:], uint16(producerEpoch))
	binary.BigEndian.PutUint32(hdr[53:], 0xffffffff) // base sequence -1
	binary.BigEndian.PutUint32(hdr[57:], 1)
	dst = append(dst, hdr[:]...)
	typ := ControlAbort
	if commit {
		typ = ControlCommit
	}
	dst = binary.AppendVarint(dst, controlRecordSize)
	dst = append(dst, 0)              // attributes
	dst = binary.AppendVarint(dst, 0) // timestamp delta
	dst = binary.AppendVarint(dst, 0) // offset delta
	dst = binary.AppendVarint(dst, 4)
	dst = binary.BigEndian.AppendUint16(dst, 0) // key version
	dst = binary.BigEndian.AppendUint16(dst, uint16(typ))
	dst = binary.AppendVarint(dst, 6)
	dst = binary.BigEndian.AppendUint16(dst, 0) // value version
	dst = binary.BigEndian.AppendUint32(dst, uint32(coordinatorEpoch))
	dst = binary.AppendVarint(dst, 0) // headers
	b := dst[start:]
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return dst
}
