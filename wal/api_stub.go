package wal

// API CONTRACT (stub written by the lead; the implementer replaces this file with
// the real implementation, keeping every exported name and signature below).

import (
	"context"
	"io"
	"log/slog"
	"time"
)

// Options configures a WAL.
type Options struct {
	Dir          string        // directory holding the segment files; created if missing
	SegmentBytes int64         // seal the open segment once it holds this many bytes (default 8 MiB)
	SealInterval time.Duration // seal the open segment once its oldest record is this old (default 200ms)
	MaxBytes     int64         // Write blocks while segments not yet Removed exceed this (default 1 GiB): backpressure
	Logger       *slog.Logger  // nil = discard
	// OnSync, if set, is called after every fsync with its duration and the bytes it covered (metrics).
	OnSync func(d time.Duration, bytes int)
}

// SegmentInfo describes a sealed segment file.
type SegmentInfo struct {
	Seq  uint64 // sequence number; grows across restarts, never reused
	Path string
	Size int64
}

// Recovery reports what Open found on disk.
type Recovery struct {
	// Segments that existed before Open, oldest first. All are sealed and will
	// NOT be delivered on Sealed(); the caller processes them (reads, uploads, Removes).
	Segments []SegmentInfo
	// Truncated is set when the last segment had a torn or corrupt tail that was cut.
	Truncated *CorruptionError
	CutBytes  int64  // bytes cut from the tail
	SavedTo   string // file holding a copy of the cut bytes
}

// WAL is the broker's one shared write-ahead log.
type WAL struct{}

// Pending is a record written to the WAL's buffer, not yet known durable.
type Pending struct{}

// Open recovers the directory (cutting a torn tail of the last segment, failing
// on corruption elsewhere with a *CorruptionError) and opens a new segment.
func Open(opts Options) (*WAL, *Recovery, error) { panic("stub") }

// Write appends one record made of the concatenation of parts to the open
// segment (in memory until the next group-commit flush) and returns at once.
// Records are durable in the order Write was called. Blocks only for
// backpressure (MaxBytes). Errors after Close or after a failed fsync.
func (w *WAL) Write(parts ...[]byte) (*Pending, error) { panic("stub") }

// Segment is the sequence number of the segment that holds the record.
func (p *Pending) Segment() uint64 { panic("stub") }

// Wait blocks until the record is fsynced (nil) or the WAL failed (error).
func (p *Pending) Wait(ctx context.Context) error { panic("stub") }

// Sealed delivers every segment sealed after Open, in order, exactly once.
// It is closed by Close after the last sealed segment is delivered.
func (w *WAL) Sealed() <-chan SegmentInfo { panic("stub") }

// Seal seals the open segment now if it holds any record, and waits until it
// is synced and queued on Sealed().
func (w *WAL) Seal(ctx context.Context) error { panic("stub") }

// Remove deletes a sealed segment once its contents are safe elsewhere.
func (w *WAL) Remove(seq uint64) error { panic("stub") }

// Close flushes, syncs and seals what is open, delivers it on Sealed(), closes
// the Sealed channel and stops. Safe to call twice.
func (w *WAL) Close() error { panic("stub") }

// CorruptionError says where a segment stopped being valid.
type CorruptionError struct {
	Segment uint64
	Offset  int64
	Err     error
}

func (e *CorruptionError) Error() string { panic("stub") }
func (e *CorruptionError) Unwrap() error { return e.Err }

// Reader reads the records of one segment: Next / Record / Err.
type Reader struct{}

// NewReader reads a segment's bytes (header included) from r.
func NewReader(r io.Reader, seq uint64) *Reader { panic("stub") }

// Next advances to the next record; false at the end or on error.
func (r *Reader) Next() bool { panic("stub") }

// Record is the current record; valid until the next call to Next.
func (r *Reader) Record() []byte { panic("stub") }

// Offset is the byte offset in the segment of the current record's frame.
func (r *Reader) Offset() int64 { panic("stub") }

// Err is nil at a clean end, or a *CorruptionError.
func (r *Reader) Err() error { panic("stub") }
