package tiering

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sourcegraph/conc"
	"github.com/sourcegraph/conc/pool"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/objectstore"
)

// Defaults of ReaderOptions.
const (
	DefaultReadAheadGETs = 16 // prefetch GETs in flight, all partitions together
	DefaultConcurrency   = 4  // GETs in flight for one ReadRanges call
	readAheadQueue       = 1024
)

// ReaderOptions configure a Reader made by OpenReader.
type ReaderOptions struct {
	// CacheBytes bounds the memory tier (0 = no memory tier).
	CacheBytes int64
	// DiskDir and DiskBytes: the disk tier, ranges kept as files in DiskDir,
	// at most DiskBytes of them (0 = no disk tier). The directory belongs to
	// the Reader: files it does not recognise are removed.
	DiskDir   string
	DiskBytes int64
	// ReadAheadBytes is how many bytes of entries past the ones a
	// ReadRanges call reads are prefetched into the cache (0 = none).
	ReadAheadBytes int64
	// ReadAheadGETs bounds the prefetch GETs in flight (0 = DefaultReadAheadGETs).
	ReadAheadGETs int
	// Concurrency bounds the reads one ReadRanges call has in flight
	// (0 = DefaultConcurrency).
	Concurrency int
	Logger      *slog.Logger          // nil = discard
	Registerer  prometheus.Registerer // nil = no metrics
}

// Reader reads manifest ranges from the bucket through a bounded cache of
// two tiers. Safe for concurrent use.
//
// Invariants:
//   - Only checked ranges are cached (CRC-32C against the manifest entry,
//     whole v2 batches agreeing with its offsets, max timestamp and batch
//     count), keyed by (object, position, size). A range read from disk is
//     checked again before it is served.
//   - The memory tier holds at most CacheBytes, the disk tier at most
//     DiskBytes; each evicts its least recently used ranges. A range larger
//     than a tier's budget is returned but not kept there. Every range read
//     from the bucket is also written to the disk tier, in the background.
//   - At most one load (disk or GET) of a range is in flight: other reads of
//     it, prefetches included, wait for that load.
//   - Read-ahead is bounded twice: each ReadRanges call queues at most
//     ReadAheadBytes past what it reads (per partition, since a call reads one
//     partition's entries), and at most ReadAheadGETs prefetches run at once;
//     what does not fit in the queue is not prefetched.
//   - Close stops the prefetchers and the disk writer and waits for them.
type Reader struct {
	bucket objectstore.Bucket
	m      *readerMetrics
	log    *slog.Logger
	disk   *diskCache // nil: no disk tier

	readAhead   int64
	concurrency int

	mu       sync.Mutex
	capacity int64
	used     int64
	lru      *list.List // of *cacheEntry, most recent first
	entries  map[rangeKey]*list.Element
	inflight map[rangeKey]*fetch
	queued   map[rangeKey]bool // waiting in prefetches

	prefetches chan metadata.ManifestEntry // nil: no read-ahead
	pending    sync.WaitGroup              // prefetches queued or running
	ctx        context.Context             // cancelled by Close
	cancel     context.CancelFunc
	wg         conc.WaitGroup
	closeOnce  sync.Once
}

type rangeKey struct {
	object         string
	position, size int64
}

type cacheEntry struct {
	key        rangeKey
	data       []byte
	prefetched bool // loaded by read-ahead and not read since
}

// fetch is one load in flight; done closes when data or err is set.
type fetch struct {
	done chan struct{}
	data []byte
	err  error
}

// NewReader returns a reader with a memory cache of at most cacheBytes
// (0 = no cache), no disk tier and no read-ahead. It starts no goroutines;
// Close is optional.
func NewReader(b objectstore.Bucket, cacheBytes int64, reg prometheus.Registerer) *Reader {
	r, _ := OpenReader(b, ReaderOptions{CacheBytes: cacheBytes, Registerer: reg})
	return r
}

// OpenReader returns a reader configured by opts, opening the disk tier
// (indexing the ranges a previous run left there, removing torn or foreign
// files) and starting the prefetchers. The caller must Close it.
func OpenReader(b objectstore.Bucket, opts ReaderOptions) (*Reader, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ReadAheadGETs <= 0 {
		opts.ReadAheadGETs = DefaultReadAheadGETs
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	r := &Reader{
		bucket:      b,
		m:           newReaderMetrics(opts.Registerer),
		log:         opts.Logger,
		readAhead:   opts.ReadAheadBytes,
		concurrency: opts.Concurrency,
		capacity:    opts.CacheBytes,
		lru:         list.New(),
		entries:     make(map[rangeKey]*list.Element),
		inflight:    make(map[rangeKey]*fetch),
		queued:      make(map[rangeKey]bool),
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	if opts.DiskBytes > 0 && opts.DiskDir != "" {
		d, err := openDiskCache(opts.DiskDir, opts.DiskBytes, r.m, r.log)
		if err != nil {
			r.cancel()
			return nil, err
		}
		r.disk = d
	}
	if r.readAhead > 0 {
		r.prefetches = make(chan metadata.ManifestEntry, readAheadQueue)
		for range opts.ReadAheadGETs {
			r.wg.Go(r.prefetchLoop)
		}
	}
	return r, nil
}

// Close stops read-ahead and the disk tier's writer and waits for them;
// reads in flight fail or finish. Safe to call more than once.
func (r *Reader) Close() error {
	r.closeOnce.Do(func() {
		r.cancel()
		r.wg.Wait()
		for r.prefetches != nil && len(r.prefetches) > 0 {
			<-r.prefetches
			r.pending.Done()
		}
		if r.disk != nil {
			r.disk.close()
		}
	})
	return nil
}

// Read returns the bytes of e's range (whole batches), checked: the CRC-32C
// against e.CRC, and that the bytes are whole v2 batches agreeing with e's
// offsets, max timestamp and batch count; otherwise it fails with an error
// wrapping ErrCorruptObject and naming the object. A missing object fails
// with an error for which objectstore.IsNotFound is true.
//
// The returned slice may be shared with the cache and other readers: it must
// not be modified.
func (r *Reader) Read(ctx context.Context, e metadata.ManifestEntry) ([]byte, error) {
	key := rangeKey{e.Object, e.Position, e.Size}
	for {
		r.mu.Lock()
		if el, ok := r.entries[key]; ok {
			r.lru.MoveToFront(el)
			ce := el.Value.(*cacheEntry)
			used := ce.prefetched
			ce.prefetched = false
			r.mu.Unlock()
			r.m.hits.Inc()
			if used {
				r.m.readAheadUsed.Inc()
			}
			return ce.data, nil
		}
		if f, ok := r.inflight[key]; ok {
			r.mu.Unlock()
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-f.done:
			}
			// The loading reader's context may have ended while ours has not:
			// try again rather than fail with someone else's cancellation.
			if f.err != nil && isContextErr(f.err) {
				continue
			}
			if f.err == nil {
				r.m.hits.Inc()
			}
			return f.data, f.err
		}
		f := r.startLoad(key)
		r.mu.Unlock()
		r.load(ctx, key, e, f, false)
		return f.data, f.err
	}
}

// startLoad registers a load of key. r.mu is held.
func (r *Reader) startLoad(key rangeKey) *fetch {
	f := &fetch{done: make(chan struct{})}
	r.inflight[key] = f
	return f
}

// load reads e's range from the disk tier or else the bucket, keeps it in
// the memory tier, and completes f.
func (r *Reader) load(ctx context.Context, key rangeKey, e metadata.ManifestEntry, f *fetch, prefetch bool) {
	fromDisk := false
	if r.disk != nil {
		f.data, fromDisk = r.disk.get(e)
	}
	switch {
	case fromDisk:
		r.m.diskHits.Inc()
	default:
		r.m.misses.Inc()
		f.data, f.err = r.fetch(ctx, e)
		if prefetch && f.err == nil {
			r.m.readAheadGETs.Inc()
			r.m.readAheadBytes.Add(float64(len(f.data)))
		}
	}
	r.mu.Lock()
	delete(r.inflight, key)
	if f.err == nil {
		r.add(key, f.data, prefetch)
	}
	r.mu.Unlock()
	close(f.done)
	if f.err == nil && !fromDisk && r.disk != nil {
		r.disk.put(key, f.data)
	}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func indexEntry(e metadata.ManifestEntry) IndexEntry {
	return IndexEntry{
		Position: e.Position, Size: e.Size, BaseOffset: e.BaseOffset, LastOffset: e.LastOffset,
		MaxTimestamp: e.MaxTimestamp, Batches: e.Batches, CRC: e.CRC,
	}
}

// fetch GETs and checks one range.
func (r *Reader) fetch(ctx context.Context, e metadata.ManifestEntry) ([]byte, error) {
	if e.Size <= 0 || e.Position < 0 {
		return nil, fmt.Errorf("%w: object %s: bad range %d+%d", ErrCorruptObject, e.Object, e.Position, e.Size)
	}
	rc, err := r.bucket.GetRange(ctx, e.Object, e.Position, e.Size)
	if err != nil {
		return nil, fmt.Errorf("tiering: get %s at %d+%d: %w", e.Object, e.Position, e.Size, err)
	}
	defer rc.Close()
	data := make([]byte, e.Size)
	n, err := io.ReadFull(rc, data)
	r.m.getBytes.Add(float64(n))
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return nil, fmt.Errorf("%w: object %s: range %d+%d ends after %d bytes", ErrCorruptObject, e.Object, e.Position, e.Size, n)
	case err != nil:
		return nil, fmt.Errorf("tiering: get %s at %d+%d: %w", e.Object, e.Position, e.Size, err)
	}
	if err := checkRange(data, indexEntry(e)); err != nil {
		return nil, fmt.Errorf("%w: object %s: range %d+%d: %w", ErrCorruptObject, e.Object, e.Position, e.Size, err)
	}
	return data, nil
}

// add caches data under key, evicting the least recently used ranges to stay
// within capacity. r.mu is held.
func (r *Reader) add(key rangeKey, data []byte, prefetched bool) {
	size := int64(len(data))
	if size > r.capacity {
		return
	}
	if _, ok := r.entries[key]; ok {
		return
	}
	for r.used+size > r.capacity {
		el := r.lru.Back()
		ce := el.Value.(*cacheEntry)
		r.lru.Remove(el)
		delete(r.entries, ce.key)
		r.used -= int64(len(ce.data))
		if ce.prefetched {
			r.m.readAheadWasted.Inc()
		}
	}
	r.entries[key] = r.lru.PushFront(&cacheEntry{key: key, data: data, prefetched: prefetched})
	r.used += size
	r.m.memBytes.Set(float64(r.used))
}

// ReadRanges reads a partition's entries in order, as a consumer does: the
// first entries whose sizes add up to at least maxBytes (at least one), up
// to the Reader's Concurrency at a time, and returns their ranges in the
// entries' order. It queues read-ahead of the entries after those, up to
// ReadAheadBytes of them, so that the next call finds them cached.
//
// When a read fails, the ranges before it are returned without an error (a
// later call retries the rest); when the first fails, its error is returned
// as Read returns it. The returned slices must not be modified.
func (r *Reader) ReadRanges(ctx context.Context, entries []metadata.ManifestEntry, maxBytes int64) ([][]byte, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	n, size := 0, int64(0)
	for n < len(entries) && (n == 0 || size < maxBytes) {
		size += entries[n].Size
		n++
	}
	r.queue(entries[n:], r.readAhead) // read-ahead
	out := make([][]byte, n)
	errs := make([]error, n)
	if n == 1 {
		out[0], errs[0] = r.Read(ctx, entries[0])
	} else {
		p := pool.New().WithMaxGoroutines(min(r.concurrency, n))
		for i := range n {
			p.Go(func() { out[i], errs[i] = r.Read(ctx, entries[i]) })
		}
		p.Wait()
	}
	for i, err := range errs {
		if err != nil {
			if i == 0 {
				return nil, err
			}
			return out[:i], nil
		}
	}
	return out, nil
}

// Prefetch queues, for the prefetchers, the first entries whose sizes add up
// to maxBytes (at least one): a caller about to read several partitions one
// after another lets their GETs run at once. It does nothing without
// read-ahead, and never blocks.
func (r *Reader) Prefetch(entries []metadata.ManifestEntry, maxBytes int64) {
	r.queue(entries, maxBytes)
}

// queue queues the first entries, up to maxBytes of them (at least one),
// that are neither cached in memory, loading, nor queued already.
func (r *Reader) queue(entries []metadata.ManifestEntry, maxBytes int64) {
	if r.prefetches == nil || len(entries) == 0 {
		return
	}
	size := int64(0)
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, e := range entries {
		if i > 0 && size+e.Size > maxBytes {
			return
		}
		size += e.Size
		key := rangeKey{e.Object, e.Position, e.Size}
		if _, ok := r.entries[key]; ok {
			continue
		}
		if _, ok := r.inflight[key]; ok || r.queued[key] {
			continue
		}
		select {
		case r.prefetches <- e:
			r.queued[key] = true
			r.pending.Add(1)
		default:
			r.m.readAheadSkipped.Inc()
			return
		}
	}
}

// prefetchLoop is one prefetcher: it loads queued entries into the cache
// until Close.
func (r *Reader) prefetchLoop() {
	for {
		select {
		case <-r.ctx.Done():
			return
		case e := <-r.prefetches:
			key := rangeKey{e.Object, e.Position, e.Size}
			r.mu.Lock()
			delete(r.queued, key)
			_, cached := r.entries[key]
			_, loading := r.inflight[key]
			if cached || loading {
				r.mu.Unlock()
				r.pending.Done()
				continue
			}
			f := r.startLoad(key)
			r.mu.Unlock()
			r.load(r.ctx, key, e, f, true)
			if f.err != nil && !isContextErr(f.err) {
				r.log.Debug("read-ahead", "object", e.Object, "error", f.err)
			}
			r.pending.Done()
		}
	}
}

// settle waits until no prefetch is queued or running and the disk tier
// has written what it was given (for tests: no reads may run meanwhile).
func (r *Reader) settle() {
	r.pending.Wait()
	if r.disk != nil {
		r.disk.pending.Wait()
	}
}
