package wal

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/strata-io/strata/internal/vfs"
)

// Defaults for the zero values of Options: the one place these values are
// declared (the broker and cmd/strata's flags read them from here).
const (
	DefaultSegmentBytes = 8 << 20
	DefaultSealInterval = 200 * time.Millisecond
	DefaultMaxBytes     = 1 << 30
)

// Options configures a WAL. Zero fields take the Default* values above
// (EnsureDefaults); Validate rejects what no default can mend.
type Options struct {
	Dir          string        // directory holding the segment files; created if missing
	SegmentBytes int64         // seal the open segment once it holds this many bytes (default DefaultSegmentBytes)
	SealInterval time.Duration // seal the open segment once its oldest record is this old (default DefaultSealInterval)
	MaxBytes     int64         // WaitRoom waits while segments not yet Removed exceed this (default DefaultMaxBytes): backpressure
	Logger       *slog.Logger  // nil = discard
	// OnSync, if set, is called after every fsync with its duration and the bytes it covered (metrics).
	OnSync func(d time.Duration, bytes int)
	// FS is the file system every file operation goes through (nil = vfs.Default).
	// Tests wrap it to inject faults.
	FS vfs.FS
}

// EnsureDefaults sets every zero field to its default and returns o.
func (o *Options) EnsureDefaults() *Options {
	if o.SegmentBytes == 0 {
		o.SegmentBytes = DefaultSegmentBytes
	}
	if o.SealInterval == 0 {
		o.SealInterval = DefaultSealInterval
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.FS = vfs.OrDefault(o.FS)
	return o
}

// Validate reports the first option Open cannot use, wrapping ErrInvalidOptions.
func (o *Options) Validate() error {
	switch {
	case o.Dir == "":
		return fmt.Errorf("%w: Dir is empty", ErrInvalidOptions)
	case o.SegmentBytes < 0:
		return fmt.Errorf("%w: SegmentBytes %d is negative", ErrInvalidOptions, o.SegmentBytes)
	case o.SealInterval < 0:
		return fmt.Errorf("%w: SealInterval %v is negative", ErrInvalidOptions, o.SealInterval)
	case o.MaxBytes < 0:
		return fmt.Errorf("%w: MaxBytes %d is negative", ErrInvalidOptions, o.MaxBytes)
	}
	return nil
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
	// Segments that held no record are deleted instead.
	Segments []SegmentInfo
	// Truncated is set when the last segment had a torn or corrupt tail that was cut.
	Truncated *CorruptionError
	CutBytes  int64  // bytes cut from the tail
	SavedTo   string // file holding a copy of the cut bytes ("" when CutBytes is 0)
}

// WAL is the broker's one shared write-ahead log. Its methods are safe for
// concurrent use.
type WAL struct {
	opts Options
	log  *slog.Logger
	fs   vfs.FS

	kick      chan struct{} // capacity 1: records or a seal request for the flusher
	sealable  chan struct{} // capacity 1: SealEarly may have something to seal (Sealable)
	closeCh   chan struct{} // closed by Close
	runDone   chan struct{} // closed when the flusher has stopped
	closeOnce sync.Once

	mu          sync.Mutex
	room        chan struct{} // closed and replaced when liveBytes drops, on failure and on Close
	closed      bool
	failed      error        // wraps ErrFailed once a write, fsync or create failed
	buf         []byte       // frames of segment curSeq not yet taken by the flusher
	pend        *Pending     // the batch that buf's records belong to; nil while buf is empty
	rolled      []batch      // full segments whose tail the flusher has not taken yet
	free        [][]byte     // buffers the flusher is done with, for reuse
	curSeq      uint64       // segment that Writes append to
	curBytes    int64        // its size: header, flushed and buffered frames
	curRecords  int          // its records
	curFirst    time.Time    // when its first record was written
	sealWant    bool         // Seal asked to seal curSeq
	lastRolled  uint64       // last segment closed to Writes (0: none since Open)
	lastQueued  uint64       // last segment queued for Sealed (0: none since Open)
	delivered   uint64       // last segment received from Sealed (0: none since Open)
	sealWaiters []sealWaiter // Seal calls waiting for their segment to be queued
	liveBytes   int64        // bytes of segments not Removed, the open one included
	sealedSizes map[uint64]int64
	blocked     int // WaitRoom calls waiting (observed by tests and Stats)

	// Owned by the flusher goroutine.
	f       vfs.File // the open segment; nil once creating the next one failed
	batches []batch

	// Delivery of sealed segments: the flusher appends, deliver sends, so a
	// slow consumer of Sealed never stalls the flusher.
	qmu         sync.Mutex
	qcond       sync.Cond
	queue       []SegmentInfo
	qdone       bool
	out         chan SegmentInfo
	deliverDone chan struct{}
}

// batch is what the flusher writes with one write and one fsync: records of
// one segment, and whether that segment is then sealed.
type batch struct {
	seq  uint64
	buf  []byte
	pend *Pending // nil when buf is empty
	seal bool
	size int64 // the segment's final size, when seal
}

type sealWaiter struct {
	seq uint64 // returns once this segment is queued
	ch  chan error
}

// Pending is a record written to the WAL's buffer, not yet known durable.
// Records flushed together share one Pending.
type Pending struct {
	seq  uint64
	done chan struct{}
	err  error // set before done is closed
}

// Open recovers the directory (cutting a torn tail of the last segment, failing
// on corruption elsewhere with a *CorruptionError) and opens a new segment.
//
// An I/O error while recovering or creating the new segment fails Open; it is
// never taken for corruption, so nothing is cut because of it.
func Open(opts Options) (*WAL, *Recovery, error) {
	if err := opts.Validate(); err != nil {
		return nil, nil, err
	}
	opts.EnsureDefaults()
	fsys := opts.FS
	if err := fsys.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("wal: create %s: %w", opts.Dir, err)
	}
	rec, err := recoverDir(fsys, opts.Dir, opts.Logger)
	if err != nil {
		return nil, nil, err
	}
	removeAll := func(paths []string, what string) {
		for _, path := range paths {
			if err := fsys.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				opts.Logger.Warn("wal: remove "+what, slog.String("path", path), slog.Any("err", err))
			}
		}
	}
	removeAll(rec.tmp, "leftover temporary file")
	f, err := createSegment(fsys, opts.Dir, rec.next)
	if err != nil {
		return nil, nil, fmt.Errorf("wal: %w", err)
	}
	// Only now that a higher number is on disk may the empty segments go.
	removeAll(rec.empty, "empty segment")

	w := &WAL{
		opts:        opts,
		log:         opts.Logger,
		fs:          fsys,
		f:           f,
		kick:        make(chan struct{}, 1),
		sealable:    make(chan struct{}, 1),
		closeCh:     make(chan struct{}),
		runDone:     make(chan struct{}),
		buf:         make([]byte, 0, 64<<10),
		curSeq:      rec.next,
		curBytes:    headerSize,
		liveBytes:   headerSize,
		sealedSizes: make(map[uint64]int64, len(rec.report.Segments)),
		out:         make(chan SegmentInfo),
		deliverDone: make(chan struct{}),
	}
	w.room = make(chan struct{})
	w.qcond.L = &w.qmu
	for _, s := range rec.report.Segments {
		w.sealedSizes[s.Seq] = s.Size
		w.liveBytes += s.Size
	}
	go w.run()
	go w.deliver()
	w.log.Info("wal: opened",
		slog.String("dir", opts.Dir),
		slog.Int("recovered_segments", len(rec.report.Segments)),
		slog.Uint64("segment", rec.next))
	return w, &rec.report, nil
}

// WaitRoom is the WAL's backpressure: it returns once the segments not yet
// Removed, the open one included, hold at most MaxBytes, or with ctx's
// error if ctx ends first, or with the error Write would return after Close
// or a failure. Call it before taking the locks under which Write is
// called: Write itself never waits, so MaxBytes is exceeded at most by the
// records of the writers that WaitRoom let through at the same time.
func (w *WAL) WaitRoom(ctx context.Context) error {
	w.mu.Lock()
	for w.liveBytes > w.opts.MaxBytes && w.writeErrLocked() == nil {
		ch := w.room
		w.blocked++
		w.mu.Unlock()
		var err error
		select {
		case <-ch:
		case <-ctx.Done():
			err = ctx.Err()
		}
		w.mu.Lock()
		w.blocked--
		if err != nil {
			w.mu.Unlock()
			return err
		}
	}
	defer w.mu.Unlock()
	return w.writeErrLocked()
}

// Stats is a snapshot of the WAL's use of its bound.
type Stats struct {
	LiveBytes int64 // bytes of segments not yet Removed, the open one included
	MaxBytes  int64 // Options.MaxBytes
	Waiting   int   // WaitRoom calls waiting for room
}

// Stats returns the WAL's current use of its bound.
func (w *WAL) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return Stats{LiveBytes: w.liveBytes, MaxBytes: w.opts.MaxBytes, Waiting: w.blocked}
}

// broadcastRoomLocked wakes every WaitRoom call to look again.
func (w *WAL) broadcastRoomLocked() {
	close(w.room)
	w.room = make(chan struct{})
}

// Write appends one record made of the concatenation of parts to the open
// segment (in memory until the next group-commit flush) and returns at once:
// it never waits, not even for room (see WaitRoom). Records are durable in
// the order Write was called. Errors after Close or after a failed fsync.
//
// Write makes no system call and copies the parts once; the returned Pending
// is shared by every record of the same flush.
func (w *WAL) Write(parts ...[]byte) (*Pending, error) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n > MaxRecordBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrRecordTooLarge, n, MaxRecordBytes)
	}
	// The CRC is computed outside the lock.
	h := frameHeader(n, parts)
	frame := int64(frameHeaderSize + n)

	w.mu.Lock()
	if err := w.writeErrLocked(); err != nil {
		w.mu.Unlock()
		return nil, err
	}
	if w.curRecords > 0 && w.curBytes >= w.opts.SegmentBytes {
		// Full: this record starts the next segment. The flusher seals the
		// full one and creates the next before it writes this record.
		w.rollLocked()
	}
	wake := len(w.buf) == 0 // otherwise the flusher has been woken for this batch already
	if w.pend == nil {
		w.pend = &Pending{seq: w.curSeq, done: make(chan struct{})}
	}
	first := w.curRecords == 0
	if first {
		w.curFirst = time.Now()
	}
	w.buf = append(w.buf, h[:]...)
	for _, p := range parts {
		w.buf = append(w.buf, p...)
	}
	w.curRecords++
	w.curBytes += frame
	w.liveBytes += frame
	p := w.pend
	w.mu.Unlock()

	if wake {
		w.wake()
	}
	if first {
		w.pokeSealable()
	}
	return p, nil
}

// Sealable receives (it has a buffer of one) when SealEarly may have
// become able to seal: a Write put the first record into the open segment,
// or a sealed segment was received from Sealed while the open one holds
// records.
func (w *WAL) Sealable() <-chan struct{} { return w.sealable }

func (w *WAL) pokeSealable() {
	select {
	case w.sealable <- struct{}{}:
	default:
	}
}

// SealEarly asks the flusher to seal the open segment now, before it is
// full or SealInterval old, if it holds a record and every segment sealed
// before it has been received from Sealed (so that whoever uploads them is
// free). It never waits: it returns the sequence number of the segment that
// will be sealed, or 0 if it asked for nothing.
func (w *WAL) SealEarly() uint64 {
	w.mu.Lock()
	if w.writeErrLocked() != nil || w.curRecords == 0 || w.lastRolled != w.delivered {
		w.mu.Unlock()
		return 0
	}
	w.sealWant = true
	seq := w.curSeq
	w.mu.Unlock()
	w.wake()
	return seq
}

func (w *WAL) writeErrLocked() error {
	if w.closed {
		return ErrClosed
	}
	return w.failed
}

func (w *WAL) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Segment is the sequence number of the segment that holds the record.
func (p *Pending) Segment() uint64 { return p.seq }

// Wait blocks until the record is fsynced (nil) or the WAL failed (error).
// It returns ctx.Err() if ctx ends first; the record may still become durable.
func (p *Pending) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// complete reports the outcome of p's records; p may be nil (no records).
func (p *Pending) complete(err error) {
	if p == nil {
		return
	}
	p.err = err
	close(p.done)
}

// Sealed delivers every segment sealed after Open, in order, exactly once.
// It is closed by Close after the last sealed segment is delivered.
func (w *WAL) Sealed() <-chan SegmentInfo { return w.out }

// Seal seals the open segment now if it holds any record, and waits until it
// is synced and queued on Sealed().
func (w *WAL) Seal(ctx context.Context) error {
	w.mu.Lock()
	if err := w.writeErrLocked(); err != nil {
		w.mu.Unlock()
		return err
	}
	var target uint64
	switch {
	case w.curRecords > 0:
		target = w.curSeq
		w.sealWant = true
	case w.lastRolled > w.lastQueued:
		// The segment of the latest records is being sealed already.
		target = w.lastRolled
	default:
		w.mu.Unlock()
		return nil
	}
	ch := make(chan error, 1)
	w.sealWaiters = append(w.sealWaiters, sealWaiter{seq: target, ch: ch})
	w.mu.Unlock()
	w.wake()

	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// notifySealWaitersLocked answers the Seal calls waiting for segments up to seq.
func (w *WAL) notifySealWaitersLocked(seq uint64, err error) {
	kept := w.sealWaiters[:0]
	for _, sw := range w.sealWaiters {
		if sw.seq <= seq {
			sw.ch <- err
		} else {
			kept = append(kept, sw)
		}
	}
	clear(w.sealWaiters[len(kept):])
	w.sealWaiters = kept
}

// Remove deletes a sealed segment once its contents are safe elsewhere. It
// works after Close too. Removing releases the segment's bytes for MaxBytes.
func (w *WAL) Remove(seq uint64) error {
	w.mu.Lock()
	size, ok := w.sealedSizes[seq]
	delete(w.sealedSizes, seq)
	w.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: segment %d", ErrUnknownSegment, seq)
	}
	// The directory is not fsynced: a removal lost in a crash only brings
	// back a segment whose contents are already safe elsewhere.
	if err := w.fs.Remove(segmentPath(w.opts.Dir, seq)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		w.mu.Lock()
		w.sealedSizes[seq] = size
		w.mu.Unlock()
		return fmt.Errorf("wal: remove segment %d: %w", seq, err)
	}
	w.mu.Lock()
	w.liveBytes -= size
	w.broadcastRoomLocked()
	w.mu.Unlock()
	return nil
}

// Close flushes, syncs and seals what is open, delivers it on Sealed(), closes
// the Sealed channel and stops. Safe to call twice.
//
// Close returns once every sealed segment has been received from Sealed: keep
// receiving until the channel is closed. It returns the error that failed the
// WAL, if any.
func (w *WAL) Close() error {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.broadcastRoomLocked()
		w.mu.Unlock()
		close(w.closeCh)
		<-w.runDone
		<-w.deliverDone
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed
}

// run is the flusher: it writes and fsyncs what Writes buffered, seals
// segments, and on Close does a last round and stops.
func (w *WAL) run() {
	defer close(w.runDone)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-w.kick:
		case <-timer.C:
		case <-w.closeCh:
			w.step(true)
			w.shutdown()
			return
		}
		w.step(false)

		w.mu.Lock()
		armed := w.curRecords > 0 && w.failed == nil
		deadline := w.curFirst.Add(w.opts.SealInterval)
		w.mu.Unlock()
		if armed {
			timer.Reset(time.Until(deadline))
		} else {
			timer.Stop()
		}
	}
}

// rollLocked closes the open segment to Writes: its buffered tail becomes a
// batch that the flusher writes and then seals. Later Writes go to the next
// segment, which the flusher creates before writing them.
func (w *WAL) rollLocked() {
	w.rolled = append(w.rolled, batch{seq: w.curSeq, buf: w.buf, pend: w.pend, seal: true, size: w.curBytes})
	w.buf, w.pend = w.takeFreeLocked(), nil
	w.lastRolled, w.sealWant = w.curSeq, false
	w.curSeq++
	w.curBytes, w.curRecords, w.curFirst = headerSize, 0, time.Time{}
	w.liveBytes += headerSize
}

func (w *WAL) takeFreeLocked() []byte {
	n := len(w.free)
	if n == 0 {
		return nil
	}
	b := w.free[n-1]
	w.free[n-1] = nil
	w.free = w.free[:n-1]
	return b
}

// step takes what is buffered, seals the open segment if it is due (or
// closing), and writes, fsyncs and seals batch by batch.
func (w *WAL) step(closing bool) {
	w.mu.Lock()
	if w.failed == nil && w.curRecords > 0 && (closing || w.sealWant ||
		w.curBytes >= w.opts.SegmentBytes || time.Since(w.curFirst) >= w.opts.SealInterval) {
		w.rollLocked()
	}
	batches := append(w.batches[:0], w.rolled...)
	clear(w.rolled)
	w.rolled = w.rolled[:0]
	if len(w.buf) > 0 {
		batches = append(batches, batch{seq: w.curSeq, buf: w.buf, pend: w.pend})
		w.buf, w.pend = w.takeFreeLocked(), nil
	}
	w.mu.Unlock()

	for i, b := range batches {
		if err := w.flushBatch(b); err != nil {
			for _, rest := range batches[i+1:] {
				rest.pend.complete(err)
			}
			break
		}
	}

	// Keep a couple of buffers for Writes; drop oversized ones (a huge record
	// or a stalled disk) rather than pin their memory.
	limit := max(2*w.opts.SegmentBytes, 1<<20)
	w.mu.Lock()
	for _, b := range batches {
		if b.buf != nil && len(w.free) < 2 && int64(cap(b.buf)) <= limit {
			w.free = append(w.free, b.buf[:0])
		}
	}
	w.mu.Unlock()
	clear(batches)
	w.batches = batches[:0]
}

// flushBatch writes and fsyncs b, completes its Pending, and seals its segment
// if b ends it. An error has failed the WAL; it is the error it now reports.
func (w *WAL) flushBatch(b batch) error {
	if len(b.buf) > 0 {
		if err := w.flush(b.seq, b.buf); err != nil {
			err = w.fail(err)
			b.pend.complete(err)
			return err
		}
		b.pend.complete(nil)
	}
	if b.seal {
		if err := w.seal(SegmentInfo{Seq: b.seq, Path: segmentPath(w.opts.Dir, b.seq), Size: b.size}); err != nil {
			return w.fail(err)
		}
	}
	return nil
}

// flush writes buf to the open segment and fsyncs it.
func (w *WAL) flush(seq uint64, buf []byte) error {
	if _, err := w.f.Write(buf); err != nil {
		return fmt.Errorf("write segment %d: %w", seq, err)
	}
	start := time.Now()
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("fsync segment %d: %w", seq, err)
	}
	if w.opts.OnSync != nil {
		w.opts.OnSync(time.Since(start), len(buf))
	}
	return nil
}

// seal closes the synced segment, creates the next one, then queues the
// sealed one for Sealed. The next segment exists before the sealed one can be
// Removed, so the highest sequence number in use is always on disk.
func (w *WAL) seal(info SegmentInfo) error {
	if err := w.f.Close(); err != nil {
		// Everything in it is fsynced already.
		w.log.Warn("wal: close sealed segment", slog.Uint64("segment", info.Seq), slog.Any("err", err))
	}
	w.f = nil
	f, createErr := createSegment(w.fs, w.opts.Dir, info.Seq+1)
	if createErr == nil {
		w.f = f
	}

	w.mu.Lock()
	w.sealedSizes[info.Seq] = info.Size
	w.mu.Unlock()
	w.qmu.Lock()
	w.queue = append(w.queue, info)
	w.qcond.Signal()
	w.qmu.Unlock()
	w.mu.Lock()
	w.lastQueued = info.Seq
	w.notifySealWaitersLocked(info.Seq, nil)
	w.mu.Unlock()
	w.log.Debug("wal: sealed segment", slog.Uint64("segment", info.Seq), slog.Int64("bytes", info.Size))
	// If the next segment could not be created, the sealed one is durable and
	// delivered all the same; nothing more can be written.
	return createErr
}

// fail stops the WAL after an I/O error: the records still buffered and every
// later Write fail. It returns the error that the WAL now reports.
func (w *WAL) fail(cause error) error {
	w.mu.Lock()
	if w.failed == nil {
		w.failed = fmt.Errorf("%w: %w", ErrFailed, cause)
		w.log.Error("wal: failed; records not yet durable are lost to the caller", slog.Any("err", cause))
	}
	err := w.failed
	pends := []*Pending{w.pend}
	for _, b := range w.rolled {
		pends = append(pends, b.pend)
	}
	w.buf, w.pend, w.rolled = w.buf[:0], nil, nil
	w.notifySealWaitersLocked(math.MaxUint64, err)
	w.broadcastRoomLocked()
	w.mu.Unlock()
	for _, p := range pends {
		p.complete(err)
	}
	return err
}

// shutdown runs after the flusher's last round: it closes the open segment
// (kept on disk even when empty, it holds the highest sequence number) and lets
// deliver close Sealed once the queue is drained.
func (w *WAL) shutdown() {
	if w.f != nil {
		if err := w.f.Close(); err != nil {
			w.log.Warn("wal: close open segment", slog.Any("err", err))
		}
		w.f = nil
	}
	w.mu.Lock()
	w.notifySealWaitersLocked(math.MaxUint64, ErrClosed)
	w.mu.Unlock()
	w.qmu.Lock()
	w.qdone = true
	w.qcond.Signal()
	w.qmu.Unlock()
}

// deliver hands queued sealed segments to the consumer of Sealed, in order.
func (w *WAL) deliver() {
	defer close(w.deliverDone)
	defer close(w.out)
	for {
		w.qmu.Lock()
		for len(w.queue) == 0 && !w.qdone {
			w.qcond.Wait()
		}
		if len(w.queue) == 0 {
			w.qmu.Unlock()
			return
		}
		info := w.queue[0]
		w.queue = w.queue[1:]
		w.qmu.Unlock()
		w.out <- info
		w.mu.Lock()
		w.delivered = info.Seq
		records := w.curRecords > 0
		w.mu.Unlock()
		if records {
			w.pokeSealable()
		}
	}
}
