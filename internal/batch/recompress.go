package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// ErrOutputTooLarge means a recompressed batch grew past the size allowed.
var ErrOutputTooLarge = errors.New("batch: recompressed batch larger than allowed")

// The codecs of a batch's attributes (bits 0-2).
const (
	CodecNone   int8 = 0
	CodecGzip   int8 = 1
	CodecSnappy int8 = 2
	CodecLZ4    int8 = 3
	CodecZstd   int8 = 4
)

// Recompress returns the whole batch raw with its records compressed with
// codec (CodecNone: uncompressed) at level (a Kafka compression.<codec>.level,
// or DefaultLevel), at most maxSize bytes (ErrOutputTooLarge past it, found
// as the output grows, so that what is held stays near maxSize), as Kafka's broker rewrites a batch whose codec differs
// from its topic's compression.type. Each record's bytes stay as they are;
// so do the base offset, last offset delta, timestamps, producer id, epoch,
// base sequence, record count and the other attributes. The codec bits, the
// length and the CRC are set anew. A batch already in codec, and a control
// batch, is returned as it is (raw[:size], not a copy).
//
// Records are decoded within MaxDecompressedBytes (see the package doc) and
// streamed one at a time into the compressor, so Recompress holds one
// record and the output. A batch that does not decode gives ErrCorrupt or
// ErrTooLarge and no output.
func Recompress(raw []byte, codec int8, level, maxSize int) ([]byte, error) {
	return recompress(raw, codec, level, maxSize, MaxDecompressedBytes)
}

func recompress(raw []byte, codec int8, level, maxSize, limit int) ([]byte, error) {
	h, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	if h.Codec() == codec || h.Control() {
		return raw[:h.Size()], nil
	}
	if codec < CodecNone || codec > CodecZstd {
		return nil, fmt.Errorf("%w: unknown compression codec %d", ErrInvalid, codec)
	}
	if h.NumRecords == 0 {
		return nil, fmt.Errorf("%w: no records", ErrInvalid) // Validate refuses such a batch too
	}
	r, err := newRecordReader(raw, readWhole, limit)
	if err != nil {
		return nil, err
	}
	defer r.close()
	out := bytes.NewBuffer(make([]byte, 0, min(h.Size(), maxSize)))
	out.Write(raw[:HeaderSize])
	var w io.WriteCloser = nopWriteCloser{out}
	if codec != CodecNone {
		c, release, err := newCompressorLevel(codec, level, out)
		if err != nil {
			return nil, err
		}
		defer release()
		w = c
	}
	for r.next() {
		if _, err := w.Write(r.rec.whole); err != nil {
			return nil, fmt.Errorf("%w: compress with %s: %v", ErrInvalid, codecName(codec), err)
		}
		if out.Len() > maxSize { // the compressor holds at most a block more
			return nil, fmt.Errorf("%w: more than %d bytes", ErrOutputTooLarge, maxSize)
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("%w: compress with %s: %v", ErrInvalid, codecName(codec), err)
	}
	b := out.Bytes()
	if len(b) > maxSize {
		return nil, fmt.Errorf("%w: %d bytes, more than %d", ErrOutputTooLarge, len(b), maxSize)
	}
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint16(b[21:], uint16(h.Attributes&^7|int16(codec)))
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return b, nil
}
