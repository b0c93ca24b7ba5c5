package batch

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Log compaction is the one place that looks inside a batch's records.

// Record is what Filter shows of one record.
type Record struct {
	Offset    int64
	Timestamp int64
	Key       []byte // nil for a record without a key
	Tombstone bool   // the value is null
}

// compressors re-compress filtered batches with the codec they came with.
var compressors = func() map[int8]kgo.Compressor {
	out := map[int8]kgo.Compressor{}
	for codec, c := range map[int8]kgo.CompressionCodec{1: kgo.GzipCompression(), 2: kgo.SnappyCompression(), 3: kgo.Lz4Compression(), 4: kgo.ZstdCompression()} {
		comp, err := kgo.DefaultCompressor(c)
		if err != nil {
			panic(err)
		}
		out[codec] = comp
	}
	return out
}()

// Filter returns a whole batch holding the records of raw for which keep
// is true, in order, each record's bytes unchanged, and whether any was
// dropped. The base offset, last offset delta, timestamps, producer fields
// and codec stay; the record count, length and CRC are recomputed. With
// nothing kept it returns nil. Control batches are returned as they are.
func Filter(raw []byte, keep func(Record) bool) ([]byte, bool, error) {
	h, err := Parse(raw)
	if err != nil {
		return nil, false, err
	}
	if h.Attributes&attrControl != 0 {
		return raw[:h.Size()], false, nil
	}
	codec := h.Codec()
	records := raw[HeaderSize:h.Size()]
	if codec != 0 {
		if records, err = decompressor.Decompress(records, kgo.CompressionCodecType(codec)); err != nil {
			return nil, false, fmt.Errorf("%w: decompress: %v", ErrInvalid, err)
		}
	}
	logAppendTime := h.Attributes&attrTimestampType != 0
	var kept []byte
	n := int32(0)
	r := kbin.Reader{Src: records}
	for i := int32(0); i < h.NumRecords; i++ {
		start := len(records) - len(r.Src)
		length := r.Varint()
		if !r.Ok() || length < 0 || int(length) > len(r.Src) {
			return nil, false, fmt.Errorf("%w: record %d length", ErrInvalid, i)
		}
		body := r.Span(int(length))
		whole := records[start : len(records)-len(r.Src)]
		rec := kbin.Reader{Src: body}
		rec.Int8() // attributes
		tsDelta := rec.Varlong()
		offDelta := rec.Varint()
		keyLen := rec.Varint()
		var key []byte
		if keyLen >= 0 {
			key = rec.Span(int(keyLen))
		}
		valueLen := rec.Varint()
		if !rec.Ok() {
			return nil, false, fmt.Errorf("%w: record %d", ErrInvalid, i)
		}
		ts := h.BaseTimestamp + tsDelta
		if logAppendTime {
			ts = h.MaxTimestamp
		}
		if keep(Record{Offset: h.BaseOffset + int64(offDelta), Timestamp: ts, Key: key, Tombstone: valueLen < 0}) {
			kept = append(kept, whole...)
			n++
		}
	}
	if n == h.NumRecords {
		return raw[:h.Size()], false, nil
	}
	if n == 0 {
		return nil, true, nil
	}
	body := kept
	if codec != 0 {
		var buf bytes.Buffer
		var used kgo.CompressionCodecType
		body, used = compressors[codec].Compress(&buf, kept)
		if int8(used) != codec {
			return nil, false, fmt.Errorf("%w: recompress with codec %d", ErrInvalid, codec)
		}
		body = bytes.Clone(body)
	}
	out := make([]byte, HeaderSize, HeaderSize+len(body))
	copy(out, raw[:HeaderSize])
	out = append(out, body...)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	binary.BigEndian.PutUint32(out[57:], uint32(n))
	binary.BigEndian.PutUint32(out[17:], crc32.Checksum(out[21:], castagnoli))
	return out, true, nil
}
