package batch

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// Log compaction is the one place that rewrites a batch's records.

// Record is what Filter shows of one record.
type Record struct {
	Offset    int64
	Timestamp int64
	Key       []byte // nil for a record without a key
	Tombstone bool   // the value is null
}

// Filter returns a whole batch holding the records of raw for which keep
// is true, in order, each record's bytes unchanged, and whether any was
// dropped. The base offset, last offset delta, timestamps, producer fields
// and codec stay; the record count, length and CRC are recomputed. With
// nothing kept it returns nil. Control batches are returned as they are.
// Record.Key is valid only during the call to keep.
//
// Records are decoded within MaxDecompressedBytes (see the package doc), in
// two passes: the first asks keep about each record, holding one key at a
// time and one bit per record; only if it dropped some but not all does the
// second decode the batch again and stream the kept records into the
// codec's compressor. Filter therefore holds one record and the compressed
// output, never the kept records uncompressed. A compressed snappy batch is
// rewritten with Java's xerial framing. A batch that does not decode gives
// ErrCorrupt or ErrTooLarge and no output.
func Filter(raw []byte, keep func(Record) bool) ([]byte, bool, error) {
	return filter(raw, MaxDecompressedBytes, keep)
}

func filter(raw []byte, limit int, keep func(Record) bool) ([]byte, bool, error) {
	h, err := Parse(raw)
	if err != nil {
		return nil, false, err
	}
	if h.Attributes&attrControl != 0 {
		return raw[:h.Size()], false, nil
	}
	drop, kept, err := decide(raw, limit, keep)
	if err != nil {
		return nil, false, err
	}
	switch kept {
	case h.NumRecords:
		return raw[:h.Size()], false, nil
	case 0:
		return nil, true, nil
	}
	out, err := rewrite(raw, h, limit, drop, kept)
	if err != nil {
		return nil, false, err
	}
	return out, true, nil
}

// decide calls keep with each record of raw and returns a bit per record,
// set for those dropped, and how many were kept.
func decide(raw []byte, limit int, keep func(Record) bool) ([]uint64, int32, error) {
	r, err := newRecordReader(raw, readKey, limit)
	if err != nil {
		return nil, 0, err
	}
	defer r.close()
	var drop []uint64 // grows with the records read, not with their count claimed
	kept := int32(0)
	for r.next() {
		rec := Record{Offset: r.offset(), Timestamp: r.timestamp(), Tombstone: r.rec.valueLen < 0}
		if r.rec.keyLen >= 0 {
			rec.Key = r.rec.key
		}
		i := r.rec.index
		if int(i/64) == len(drop) {
			drop = append(drop, 0)
		}
		if keep(rec) {
			kept++
		} else {
			drop[i/64] |= 1 << (i % 64)
		}
	}
	return drop, kept, r.err
}

// rewrite builds the batch of raw's records not dropped, n of them.
func rewrite(raw []byte, h Header, limit int, drop []uint64, n int32) ([]byte, error) {
	r, err := newRecordReader(raw, readWhole, limit)
	if err != nil {
		return nil, err
	}
	defer r.close()
	out := bytes.NewBuffer(make([]byte, 0, h.Size()))
	out.Write(raw[:HeaderSize])
	var w io.WriteCloser = nopWriteCloser{out}
	codec := h.Codec()
	if codec != 0 {
		c, release, err := newCompressor(codec, out)
		if err != nil {
			return nil, err
		}
		defer release()
		w = c
	}
	for r.next() {
		if i := r.rec.index; drop[i/64]&(1<<(i%64)) != 0 {
			continue
		}
		if _, err := w.Write(r.rec.whole); err != nil {
			return nil, fmt.Errorf("%w: recompress with %s: %v", ErrInvalid, codecName(codec), err)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("%w: recompress with %s: %v", ErrInvalid, codecName(codec), err)
	}
	b := out.Bytes()
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[57:], uint32(n))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return b, nil
}

type nopWriteCloser struct{ *bytes.Buffer }

func (nopWriteCloser) Close() error { return nil }
