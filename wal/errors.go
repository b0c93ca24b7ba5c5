package wal

import (
	"errors"
	"fmt"
)

var (
	// ErrClosed is returned by Write and Seal after Close.
	ErrClosed = errors.New("wal: closed")
	// ErrFailed wraps the write, fsync or file-creation error that stopped the
	// WAL. The WAL never retries a failed fsync (the kernel may have dropped the
	// dirty pages): every record not yet durable fails, and so does every later
	// Write. Reopening recovers what reached the disk.
	ErrFailed = errors.New("wal: failed")
	// ErrRecordTooLarge is returned by Write for a record over MaxRecordBytes.
	ErrRecordTooLarge = errors.New("wal: record too large")
	// ErrInvalidOptions is returned by Open for options it cannot use.
	ErrInvalidOptions = errors.New("wal: invalid options")
	// ErrUnknownSegment is returned by Remove for a sequence number that is not
	// a sealed segment on disk (the open segment, an unknown or removed one).
	ErrUnknownSegment = errors.New("wal: no such sealed segment")

	// Causes carried by a *CorruptionError.

	// ErrBadHeader: missing or invalid segment header (magic, version, checksum,
	// sequence number).
	ErrBadHeader = errors.New("wal: bad segment header")
	// ErrChecksum: a frame's CRC-32C does not match its length and payload.
	ErrChecksum = errors.New("wal: record checksum mismatch")
	// ErrBadLength: a frame's length is over MaxRecordBytes.
	ErrBadLength = errors.New("wal: impossible record length")
	// ErrTruncated: the segment ends inside a frame.
	ErrTruncated = errors.New("wal: truncated record")
)

// CorruptionError says where a segment stopped being valid.
type CorruptionError struct {
	Segment uint64
	Offset  int64 // byte offset in the segment file of the first invalid byte's frame (0 for the header)
	Err     error // ErrBadHeader, ErrChecksum, ErrBadLength or ErrTruncated, possibly wrapped
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("wal: segment %d corrupt at offset %d: %v", e.Segment, e.Offset, e.Err)
}

func (e *CorruptionError) Unwrap() error { return e.Err }
