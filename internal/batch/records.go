package batch

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
)

// minRecordBody is the smallest record after its length: attributes,
// timestamp delta, offset delta, key length, value length and header count,
// one byte each.
const minRecordBody = 6

// readMode says how much of each record a recordReader keeps.
type readMode uint8

const (
	readMeta  readMode = iota // offsets, timestamps, key and value presence; key and value skipped
	readKey                   // and the key's bytes
	readWhole                 // and the record's bytes, its length included
)

// recordReader decodes the records of one batch in order, from its
// decompressed stream, holding at most one record (and, in readMeta mode,
// not even that: keys and values are skipped as they stream past). Every
// length it reads is checked against what is left of the record and of the
// limit before it is used.
type recordReader struct {
	h     Header
	mode  readMode
	s     stream
	pos   int   // next byte of s.mem
	used  int64 // bytes read from s.br
	limit int   // for s.br: bytes the stream may decompress to
	i     int32 // records read
	buf   []byte
	rec   rawRecord
	err   error
}

// rawRecord is one decoded record. key and whole are valid until the next
// record.
type rawRecord struct {
	index     int32
	tsDelta   int64
	offDelta  int32
	keyLen    int32 // -1: no key
	valueLen  int32 // -1: a tombstone
	key       []byte
	whole     []byte
	logAppend bool
}

// newRecordReader opens the records of the whole batch raw.
func newRecordReader(raw []byte, mode readMode, limit int) (*recordReader, error) {
	h, err := Parse(raw)
	if err != nil {
		return nil, err
	}
	src := raw[HeaderSize:h.Size()]
	codec := h.Codec()
	if codec == 0 {
		limit = len(src) // nothing is inflated: the section is its own bound
	}
	switch {
	case h.NumRecords < 0:
		return nil, fmt.Errorf("%w: %d records", ErrCorrupt, h.NumRecords)
	case int64(h.NumRecords)*(minRecordBody+1) > int64(limit) && codec == 0:
		return nil, fmt.Errorf("%w: %d records cannot fit in %d bytes", ErrCorrupt, h.NumRecords, limit)
	case int64(h.NumRecords)*(minRecordBody+1) > int64(limit):
		return nil, fmt.Errorf("%w: %d records cannot fit in the %d bytes allowed", ErrTooLarge, h.NumRecords, limit)
	}
	s, err := openRecords(codec, src, limit)
	if err != nil {
		return nil, err
	}
	r := &recordReader{h: h, mode: mode, s: s, limit: limit}
	r.rec.logAppend = h.Attributes&attrTimestampType != 0
	return r, nil
}

// close returns the decompressor to its pool.
func (r *recordReader) close() { r.s.close() }

// offset and timestamp are the current record's, as Kafka reports them:
// LogAppendTime batches give every record the batch's max timestamp.
func (r *recordReader) offset() int64 { return r.h.BaseOffset + int64(r.rec.offDelta) }

func (r *recordReader) timestamp() int64 {
	if r.rec.logAppend {
		return r.h.MaxTimestamp
	}
	return r.h.BaseTimestamp + r.rec.tsDelta
}

// next decodes the next record. It returns false after the last one (having
// checked, as Kafka does, that nothing follows it) or on an error (r.err).
func (r *recordReader) next() bool {
	if r.err != nil || r.i >= r.h.NumRecords {
		return false
	}
	if err := r.decode(); err != nil {
		r.err = fmt.Errorf("record %d of %d: %w", r.i, r.h.NumRecords, err)
		return false
	}
	r.i++
	if r.i == r.h.NumRecords {
		if err := r.checkEnd(); err != nil {
			r.err = err
			return false
		}
	}
	return true
}

// decode reads one record into r.rec.
func (r *recordReader) decode() error {
	var prefix [5]byte
	length, n, err := r.lengthPrefix(&prefix)
	if err != nil {
		return err
	}
	if length < minRecordBody {
		return fmt.Errorf("%w: record length %d", ErrCorrupt, length)
	}
	r.rec.index = r.i
	r.rec.key, r.rec.whole = nil, nil
	var f fields
	switch {
	case r.s.br == nil:
		if int(length) > len(r.s.mem)-r.pos {
			return fmt.Errorf("%w: record length %d, %d bytes left", ErrCorrupt, length, len(r.s.mem)-r.pos)
		}
		start := r.pos - n
		f = fields{mem: r.s.mem[r.pos : r.pos+int(length)], left: int(length)}
		r.pos += int(length)
		r.rec.whole = r.s.mem[start:r.pos]
	case int64(length) > int64(r.limit)-r.used:
		return fmt.Errorf("%w: record length %d, %d bytes left of the %d allowed", ErrTooLarge, length, int64(r.limit)-r.used, r.limit)
	case r.mode == readWhole:
		r.buf = append(r.buf[:0], prefix[:n]...)
		if r.buf, err = readN(r.s.br, int(length), r.buf); err != nil {
			return streamError(r.s.name, err)
		}
		r.used += int64(length)
		r.rec.whole = r.buf
		f = fields{mem: r.buf[n:], left: int(length)}
	default:
		f = fields{br: r.s.br, name: r.s.name, left: int(length)}
		r.used += int64(length) // all of it is read, or decoding stops
	}
	return r.fields(&f)
}

// lengthPrefix reads a record's length varint, keeping its bytes in prefix.
func (r *recordReader) lengthPrefix(prefix *[5]byte) (int32, int, error) {
	var ux uint64
	for n := 0; n < 5; n++ {
		var b byte
		if r.s.br == nil {
			if r.pos == len(r.s.mem) {
				return 0, 0, fmt.Errorf("%w: the records end early", ErrCorrupt)
			}
			b = r.s.mem[r.pos]
			r.pos++
		} else {
			var err error
			if b, err = r.s.br.ReadByte(); err != nil {
				return 0, 0, streamError(r.s.name, err)
			}
			r.used++
		}
		prefix[n] = b
		ux |= uint64(b&0x7f) << (7 * n)
		if b < 0x80 {
			if ux > 0xffffffff {
				return 0, 0, fmt.Errorf("%w: record length varint overflows", ErrCorrupt)
			}
			return zigzag32(ux), n + 1, nil
		}
	}
	return 0, 0, fmt.Errorf("%w: record length varint too long", ErrCorrupt)
}

// fields reads a record's fields after its length.
func (r *recordReader) fields(f *fields) error {
	if _, err := f.byte(); err != nil { // attributes, unused in v2
		return err
	}
	var err error
	if r.rec.tsDelta, err = f.varlong(); err != nil {
		return err
	}
	if r.rec.offDelta, err = f.varint(); err != nil {
		return err
	}
	if r.rec.keyLen, err = f.length("key", -1); err != nil {
		return err
	}
	if r.rec.keyLen >= 0 {
		switch {
		case f.br == nil:
			r.rec.key, err = f.take(int(r.rec.keyLen))
		case r.mode == readKey:
			r.buf, err = f.read(int(r.rec.keyLen), r.buf)
			r.rec.key = r.buf
		default:
			err = f.skip(int(r.rec.keyLen))
		}
		if err != nil {
			return err
		}
	}
	if r.rec.valueLen, err = f.length("value", -1); err != nil {
		return err
	}
	if err := f.skip(int(max(r.rec.valueLen, 0))); err != nil {
		return err
	}
	headers, err := f.varint()
	if err != nil {
		return err
	}
	if headers < 0 || int(headers) > f.left/2 { // a header is at least two length bytes
		return fmt.Errorf("%w: %d headers in %d bytes", ErrCorrupt, headers, f.left)
	}
	for range headers {
		n, err := f.length("header key", 0)
		if err == nil {
			err = f.skip(int(n))
		}
		if err == nil {
			n, err = f.length("header value", -1)
		}
		if err == nil {
			err = f.skip(int(max(n, 0)))
		}
		if err != nil {
			return err
		}
	}
	if f.left != 0 {
		return fmt.Errorf("%w: %d bytes after the record's fields", ErrCorrupt, f.left)
	}
	return nil
}

// checkEnd checks that nothing follows the last record (reading a stream to
// its end also checks the codec's trailer: gzip's CRC, lz4's and zstd's
// checksums).
func (r *recordReader) checkEnd() error {
	if r.s.br == nil {
		if r.pos != len(r.s.mem) {
			return fmt.Errorf("%w: %d bytes after the last record", ErrCorrupt, len(r.s.mem)-r.pos)
		}
		return nil
	}
	_, err := r.s.br.ReadByte()
	switch {
	case err == io.EOF:
		return nil
	case err == nil:
		return fmt.Errorf("%w: bytes after the last record", ErrCorrupt)
	}
	return fmt.Errorf("after the last record: %w", streamError(r.s.name, err))
}

// fields reads one record's fields, from memory (br nil) or from the
// stream of the codec named name, never past the record's length.
type fields struct {
	mem  []byte
	br   *bufio.Reader
	name string
	left int
}

var errRecordShort = fmt.Errorf("%w: a field runs past the record's length", ErrCorrupt)

func (f *fields) byte() (byte, error) {
	if f.left == 0 {
		return 0, errRecordShort
	}
	f.left--
	if f.br == nil {
		b := f.mem[0]
		f.mem = f.mem[1:]
		return b, nil
	}
	b, err := f.br.ReadByte()
	if err != nil {
		return 0, streamError(f.name, err)
	}
	return b, nil
}

func (f *fields) uvarint(maxBytes int) (uint64, error) {
	var ux uint64
	for n := 0; n < maxBytes; n++ {
		b, err := f.byte()
		if err != nil {
			return 0, err
		}
		ux |= uint64(b&0x7f) << (7 * n)
		if b < 0x80 {
			return ux, nil
		}
	}
	return 0, fmt.Errorf("%w: varint longer than %d bytes", ErrCorrupt, maxBytes)
}

// varint reads a zigzag varint of at most 5 bytes that fits 32 bits.
func (f *fields) varint() (int32, error) {
	ux, err := f.uvarint(5)
	if err != nil {
		return 0, err
	}
	if ux > 0xffffffff {
		return 0, fmt.Errorf("%w: varint overflows 32 bits", ErrCorrupt)
	}
	return zigzag32(ux), nil
}

// varlong reads a zigzag varint of at most 10 bytes.
func (f *fields) varlong() (int64, error) {
	ux, err := f.uvarint(10)
	if err != nil {
		return 0, err
	}
	return int64(ux>>1) ^ -int64(ux&1), nil
}

// length reads the length of a field (key, value, header key or value),
// at least least and at most what is left of the record.
func (f *fields) length(what string, least int32) (int32, error) {
	n, err := f.varint()
	if err != nil {
		return 0, err
	}
	if n < least || int(n) > f.left {
		return 0, fmt.Errorf("%w: %s length %d, %d bytes left in the record", ErrCorrupt, what, n, f.left)
	}
	return n, nil
}

func (f *fields) skip(n int) error {
	if n > f.left {
		return errRecordShort
	}
	f.left -= n
	if f.br == nil {
		f.mem = f.mem[n:]
		return nil
	}
	if _, err := f.br.Discard(n); err != nil {
		return streamError(f.name, err)
	}
	return nil
}

// take returns the next n bytes of a record in memory.
func (f *fields) take(n int) ([]byte, error) {
	if n > f.left {
		return nil, errRecordShort
	}
	b := f.mem[:n:n]
	f.mem, f.left = f.mem[n:], f.left-n
	return b, nil
}

// read reads the next n bytes of a streamed record into buf's storage.
func (f *fields) read(n int, buf []byte) ([]byte, error) {
	if n > f.left {
		return nil, errRecordShort
	}
	f.left -= n
	buf, err := readN(f.br, n, buf[:0])
	if err != nil {
		return nil, streamError(f.name, err)
	}
	return buf, nil
}

// readN appends the next n bytes of br to buf, growing buf as they arrive.
func readN(br *bufio.Reader, n int, buf []byte) ([]byte, error) {
	for n > 0 {
		chunk := min(n, readChunk)
		buf = slices.Grow(buf, chunk)
		m, err := io.ReadFull(br, buf[len(buf):len(buf)+chunk])
		buf = buf[:len(buf)+m]
		n -= m
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

func zigzag32(ux uint64) int32 {
	u := uint32(ux)
	return int32(u>>1) ^ -int32(u&1)
}

// IsCorrupt reports whether err is about the bytes of a batch rather than
// about reading them: a header that does not parse, a bad CRC or magic, or
// records that are malformed or decompress past the limit
// (MaxDecompressedBytes). Such a batch gives the same error every time.
func IsCorrupt(err error) bool {
	for _, e := range []error{ErrShort, ErrMagic, ErrCRC, ErrInvalid, ErrCorrupt, ErrTooLarge} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
