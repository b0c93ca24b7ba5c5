package wal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"

	"github.com/strata-io/strata/internal/vfs"
)

// readChunk bounds how much a Reader allocates ahead of the bytes it has
// actually read, so that a corrupt length on a short input stays cheap.
const readChunk = 64 << 10

// Reader reads the records of one segment: Next / Record / Err.
//
//	r := wal.NewReader(f, seq)
//	for r.Next() {
//		use(r.Record())
//	}
//	if err := r.Err(); err != nil { ... }
type Reader struct {
	r   *bufio.Reader
	seq uint64

	started bool
	off     int64 // offset of the current record's frame
	end     int64 // offset just past the last valid frame (or the header)
	rec     []byte
	buf     []byte
	err     error
	hdr     [headerSize]byte // fields rather than locals: io.ReadFull would move them to the heap
	fh      [frameHeaderSize]byte
}

// NewReader reads a segment's bytes (header included) from r. seq is the
// segment's sequence number, which the header must carry.
func NewReader(r io.Reader, seq uint64) *Reader {
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), seq: seq}
}

// Next advances to the next record; false at the end or on error.
func (r *Reader) Next() bool {
	if r.err != nil {
		return false
	}
	r.rec = nil
	if !r.started {
		r.started = true
		h := r.hdr[:]
		if n, err := io.ReadFull(r.r, h); err != nil {
			if isEOF(err) {
				err = fmt.Errorf("%w: %d of %d header bytes", ErrBadHeader, n, headerSize)
			}
			r.fail(0, err)
			return false
		}
		if err := checkHeader(h, r.seq); err != nil {
			r.fail(0, err)
			return false
		}
		r.end = headerSize
	}

	fh := r.fh[:]
	n, err := io.ReadFull(r.r, fh)
	switch {
	case err == io.EOF:
		r.err = io.EOF // clean end at a frame boundary
		return false
	case err != nil:
		if isEOF(err) {
			err = fmt.Errorf("%w: %d of %d frame header bytes", ErrTruncated, n, frameHeaderSize)
		}
		r.fail(r.end, err)
		return false
	}
	length := binary.BigEndian.Uint32(fh[0:4])
	if length > MaxRecordBytes {
		r.fail(r.end, fmt.Errorf("%w: %d bytes, limit %d", ErrBadLength, length, MaxRecordBytes))
		return false
	}
	if err := r.readPayload(int(length)); err != nil {
		r.fail(r.end, err)
		return false
	}
	crc := crc32.Update(lengthCRC(length), castagnoli, r.buf)
	if want := binary.BigEndian.Uint32(fh[4:8]); crc != want {
		r.fail(r.end, fmt.Errorf("%w: stored %#08x, computed %#08x", ErrChecksum, want, crc))
		return false
	}
	r.off = r.end
	r.end += frameHeaderSize + int64(length)
	r.rec = r.buf
	return true
}

// readPayload reads n bytes into r.buf, growing it no faster than the data
// arrives.
func (r *Reader) readPayload(n int) error {
	r.buf = r.buf[:0]
	for len(r.buf) < n {
		chunk := min(n-len(r.buf), max(len(r.buf), readChunk))
		r.buf = slices.Grow(r.buf, chunk)
		got, err := io.ReadFull(r.r, r.buf[len(r.buf):len(r.buf)+chunk])
		r.buf = r.buf[:len(r.buf)+got]
		if err != nil {
			if isEOF(err) {
				return fmt.Errorf("%w: %d of %d payload bytes", ErrTruncated, len(r.buf), n)
			}
			return err
		}
	}
	return nil
}

// fail records err at offset off: a *CorruptionError unless it is an I/O error
// of the underlying reader, which says nothing about the segment's bytes.
func (r *Reader) fail(off int64, err error) {
	for _, cause := range []error{ErrBadHeader, ErrTruncated, ErrChecksum, ErrBadLength} {
		if errors.Is(err, cause) {
			r.err = &CorruptionError{Segment: r.seq, Offset: off, Err: err}
			return
		}
	}
	r.err = fmt.Errorf("wal: read segment %d at offset %d: %w", r.seq, off, err)
}

// Record is the current record; valid until the next call to Next.
func (r *Reader) Record() []byte { return r.rec }

// Offset is the byte offset in the segment of the current record's frame.
func (r *Reader) Offset() int64 { return r.off }

// Err is nil at a clean end (the input ended exactly after a frame), or a
// *CorruptionError for invalid bytes: bad header, bad CRC, impossible length
// or a truncated frame. An error of the underlying io.Reader other than EOF is
// returned wrapped, not as corruption.
func (r *Reader) Err() error {
	if r.err == io.EOF {
		return nil
	}
	return r.err
}

// validEnd is the offset just past the last valid frame read so far (0 while
// the header is unread or invalid).
func (r *Reader) validEnd() int64 { return r.end }

func isEOF(err error) bool { return err == io.EOF || err == io.ErrUnexpectedEOF }

// ReadSegment is ReadSegmentFS on vfs.Default.
func ReadSegment(seg SegmentInfo, fn func(rec []byte) error) error {
	return ReadSegmentFS(vfs.Default, seg, fn)
}

// ReadSegmentFS calls fn with every record of a sealed segment file, read
// through fsys, in order, and stops at fn's first error. A record is valid
// only during its call.
func ReadSegmentFS(fsys vfs.FS, seg SegmentInfo, fn func(rec []byte) error) error {
	f, err := fsys.Open(seg.Path)
	if err != nil {
		return fmt.Errorf("wal: read segment %d: %w", seg.Seq, err)
	}
	defer f.Close()
	r := NewReader(f, seg.Seq) // it reads in chunks of its own
	for r.Next() {
		if err := fn(r.Record()); err != nil {
			return err
		}
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("wal: read segment %d: %w", seg.Seq, err)
	}
	return nil
}
