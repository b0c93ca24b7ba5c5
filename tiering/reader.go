package tiering

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/sourcegraph/conc"
	"github.com/sourcegraph/conc/pool"

	"github.com/strata-io/strata/internal/vfs"
	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/objectstore"
)

// Defaults of ReaderOptions: the one place these values are declared.
//
// The three sizes are what a broker runs with (broker.DefaultConfig, the
// --cache-bytes, --disk-cache-bytes and --read-ahead-bytes flags). They are
// not applied to zero fields, since a zero size turns its tier off.
const (
	DefaultCacheBytes     = 256 << 20 // memory tier
	DefaultDiskCacheBytes = 1 << 30   // disk tier
	DefaultReadAheadBytes = 8 << 20   // prefetch per partition past a cold read

	DefaultReadAheadGETs = 16 // prefetch GETs in flight, all partitions together
	DefaultConcurrency   = 4  // GETs in flight for one ReadFrom call
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
	// ReadFrom call reads are prefetched into the cache (0 = none).
	ReadAheadBytes int64
	// ReadAheadGETs bounds the prefetch GETs in flight (0 = DefaultReadAheadGETs).
	ReadAheadGETs int
	// Concurrency bounds the reads one ReadFrom call has in flight
	// (0 = DefaultConcurrency).
	Concurrency int
	// FS is the disk tier's file system (nil = vfs.Default; tests inject faults).
	FS         vfs.FS
	Logger     *slog.Logger          // nil = discard
	Registerer prometheus.Registerer // nil = no metrics
}

// EnsureDefaults sets the fields whose zero value means "the default"
// (ReadAheadGETs, Concurrency, Logger) and returns o.
func (o *ReaderOptions) EnsureDefaults() *ReaderOptions {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ReadAheadGETs <= 0 {
		o.ReadAheadGETs = DefaultReadAheadGETs
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	return o
}

// Reader reads manifest entries from the bucket, block by block, through a
// bounded cache of two tiers. Safe for concurrent use. The ranges it loads
// and caches are a segment object's range (one block), an archive's block,
// or an archive's block index.
//
// Invariants:
//   - Only checked ranges are cached, decoded (a block: CRC-32C of its raw
//     batches, whole v2 batches agreeing with its offsets, max timestamp and
//     batch count; an index: its CRC-32C and that its blocks tile the
//     entry), keyed by where they are stored: (object, position, size). The
//     memory tier holds them decoded, the disk tier as stored; a range read
//     from disk is decoded and checked again before it is served.
//   - The memory tier holds at most CacheBytes, the disk tier at most
//     DiskBytes; each evicts its least recently used ranges, except that the
//     memory tier passes over a range read ahead and not read yet once
//     (moving it to the front), so that read-ahead is not evicted before
//     the read it was made for while ranges already read remain. A range larger
//     than a tier's budget is returned but not kept there. A range read
//     from the bucket is also written to the disk tier, in the background:
//     at once if a read waited for it, on its second load if read-ahead
//     loaded it before any read asked for it (see diskCache: a sequential
//     replay that read-ahead keeps ahead of writes almost nothing, and
//     evicts nothing read again).
//   - At most one load (disk or GET) of a range is in flight: other reads of
//     it, prefetches included, wait for that load.
//   - Read-ahead is bounded twice: each ReadFrom call queues at most
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

	prefetches chan span       // nil: no read-ahead
	pending    sync.WaitGroup  // prefetches queued or running
	ctx        context.Context // cancelled by Close
	cancel     context.CancelFunc
	wg         conc.WaitGroup
	closeOnce  sync.Once
}

type rangeKey struct {
	object         string
	position, size int64
}

// key is where b is stored: the cache key of its bytes.
func (b Block) key() rangeKey { return rangeKey{b.Object, b.Position, b.Size} }

type cacheEntry struct {
	key        rangeKey
	data       []byte
	prefetched bool // loaded by read-ahead and not read since
	spared     bool // passed over once by eviction while prefetched
}

// fetch is one load in flight; done closes when data or err is set.
type fetch struct {
	done   chan struct{}
	data   []byte
	err    error
	waited bool // a read waits for it (r.mu)
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
	opts.EnsureDefaults()
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
		d, err := openDiskCacheFS(vfs.OrDefault(opts.FS), opts.DiskDir, opts.DiskBytes, r.m, r.log)
		if err != nil {
			r.cancel()
			return nil, err
		}
		r.disk = d
	}
	if r.readAhead > 0 {
		r.prefetches = make(chan span, readAheadQueue)
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
		for len(r.prefetches) > 0 {
			<-r.prefetches
			r.pending.Done()
		}
		if r.disk != nil {
			r.disk.close()
		}
	})
	return nil
}

// span is one range the Reader loads and caches: the range of an entry in
// a segment object, an archive's block index, or one of its blocks. decode
// turns the stored bytes into the bytes served, checking them.
type span struct {
	key    rangeKey
	decode func(stored []byte) ([]byte, error)
}

func blockSpan(b Block) span {
	return span{b.key(), func(stored []byte) ([]byte, error) { return decodeBlock(b, stored) }}
}

func indexSpan(e metadata.ManifestEntry) span {
	return span{rangeKey{e.Object, e.Position + e.Size, e.IndexSize}, func(stored []byte) ([]byte, error) {
		if err := checkBlockIndex(e, stored); err != nil {
			return nil, err
		}
		return stored, nil
	}}
}

// Blocks returns the pieces of e that can be read on their own, in offset
// order: for an archive object its blocks (reading its block index, which
// is cached like a range), otherwise e's whole range as one block.
func (r *Reader) Blocks(ctx context.Context, e metadata.ManifestEntry) ([]Block, error) {
	if e.IndexSize == 0 {
		return []Block{plainBlock(e)}, nil
	}
	index, err := r.read(ctx, indexSpan(e))
	if err != nil {
		return nil, err
	}
	return decodeBlockIndex(e, index)
}

// cachedBlocks is Blocks without a GET: false when e's block index is not
// in the memory tier.
func (r *Reader) cachedBlocks(e metadata.ManifestEntry) ([]Block, bool) {
	if e.IndexSize == 0 {
		return []Block{plainBlock(e)}, true
	}
	r.mu.Lock()
	el, ok := r.entries[indexSpan(e).key]
	r.mu.Unlock()
	if !ok {
		return nil, false
	}
	blocks, err := decodeBlockIndex(e, el.Value.(*cacheEntry).data)
	return blocks, err == nil
}

// ReadBlock returns b's batches, decoded and checked: the CRC-32C, and that
// they are whole v2 batches agreeing with b's offsets, max timestamp and
// batch count; otherwise it fails with an error wrapping ErrCorruptObject
// and naming the object. A missing object fails with an error for which
// objectstore.IsNotFound is true.
//
// The returned slice may be shared with the cache and other readers: it must
// not be modified.
func (r *Reader) ReadBlock(ctx context.Context, b Block) ([]byte, error) {
	return r.read(ctx, blockSpan(b))
}

// Read returns all of e's batches, checked as ReadBlock checks them; for an
// archive, its blocks' batches one after another in a new slice.
func (r *Reader) Read(ctx context.Context, e metadata.ManifestEntry) ([]byte, error) {
	blocks, err := r.Blocks(ctx, e)
	if err != nil {
		return nil, err
	}
	if len(blocks) == 1 {
		return r.ReadBlock(ctx, blocks[0])
	}
	var out []byte
	for _, b := range blocks {
		data, err := r.ReadBlock(ctx, b)
		if err != nil {
			return nil, err
		}
		out = append(out, data...)
	}
	return out, nil
}

// read returns s's bytes from the memory tier, a load in flight, the disk
// tier or the bucket.
func (r *Reader) read(ctx context.Context, s span) ([]byte, error) {
	for {
		r.mu.Lock()
		if el, ok := r.entries[s.key]; ok {
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
		if f, ok := r.inflight[s.key]; ok {
			f.waited = true
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
		f := r.startLoad(s.key)
		r.mu.Unlock()
		r.load(ctx, s, f, false)
		return f.data, f.err
	}
}

// startLoad registers a load of key. r.mu is held.
func (r *Reader) startLoad(key rangeKey) *fetch {
	f := &fetch{done: make(chan struct{})}
	r.inflight[key] = f
	return f
}

// load reads s from the disk tier or else the bucket, keeps it in the
// memory tier, and completes f.
func (r *Reader) load(ctx context.Context, s span, f *fetch, prefetch bool) {
	fromDisk := false
	if r.disk != nil {
		f.data, fromDisk = r.disk.get(s)
	}
	var stored []byte
	switch {
	case fromDisk:
		r.m.diskHits.Inc()
	default:
		r.m.misses.Inc()
		stored, f.data, f.err = r.fetch(ctx, s)
		if prefetch && f.err == nil {
			r.m.readAheadGETs.Inc()
			r.m.readAheadBytes.Add(float64(len(stored)))
		}
	}
	r.mu.Lock()
	delete(r.inflight, s.key)
	// A read that joined a prefetch waited for it: not read-ahead any more.
	readAhead := prefetch && !f.waited
	if f.err == nil {
		r.add(s.key, f.data, readAhead)
	}
	r.mu.Unlock()
	close(f.done)
	if f.err == nil && !fromDisk && r.disk != nil {
		r.disk.offer(s.key, stored, readAhead)
	}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// fetch GETs s's stored bytes and decodes them.
func (r *Reader) fetch(ctx context.Context, s span) (stored, data []byte, err error) {
	k := s.key
	if k.size <= 0 || k.position < 0 {
		return nil, nil, fmt.Errorf("%w: object %s: bad range %d+%d", ErrCorruptObject, k.object, k.position, k.size)
	}
	rc, err := r.bucket.GetRange(ctx, k.object, k.position, k.size)
	if err != nil {
		return nil, nil, fmt.Errorf("tiering: get %s at %d+%d: %w", k.object, k.position, k.size, err)
	}
	defer rc.Close()
	stored = make([]byte, k.size)
	n, err := io.ReadFull(rc, stored)
	r.m.getBytes.Add(float64(n))
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return nil, nil, fmt.Errorf("%w: object %s: range %d+%d ends after %d bytes", ErrCorruptObject, k.object, k.position, k.size, n)
	case err != nil:
		return nil, nil, fmt.Errorf("tiering: get %s at %d+%d: %w", k.object, k.position, k.size, err)
	}
	if data, err = s.decode(stored); err != nil {
		return nil, nil, fmt.Errorf("%w: object %s: range %d+%d: %w", ErrCorruptObject, k.object, k.position, k.size, err)
	}
	return stored, data, nil
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
		if ce.prefetched && !ce.spared {
			// Read ahead for a reader on its way to it, and not read yet:
			// evicting it would cost that reader a GET it waits for. Pass
			// over it once, before the ranges that were read.
			ce.spared = true
			r.lru.MoveToFront(el)
			continue
		}
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

// ReadFrom reads a partition's batches as a consumer does: from the block
// of entries (in offset order) that holds offset on, the first blocks whose
// raw sizes add up to at least maxBytes (at least one), up to the Reader's
// Concurrency at a time. It returns their batches in offset order, one slice
// per block (the first may begin with batches before offset), and queues
// read-ahead of up to ReadAheadBytes of the blocks after those, so that the
// next call finds them cached.
//
// When a read fails, the blocks before it are returned without an error (a
// later call retries the rest); when the first fails, its error is returned
// as ReadBlock returns it. The returned slices must not be modified.
func (r *Reader) ReadFrom(ctx context.Context, entries []metadata.ManifestEntry, offset, maxBytes int64) ([][]byte, error) {
	var (
		want []Block
		size int64
		next []Block // the rest of entries[i-1]'s blocks
		i    int
	)
	for len(want) == 0 || size < maxBytes {
		if len(next) == 0 {
			if i == len(entries) {
				break
			}
			blocks, err := r.Blocks(ctx, entries[i])
			if err != nil {
				if len(want) == 0 {
					return nil, err
				}
				break
			}
			i++
			next = blocks[sort.Search(len(blocks), func(k int) bool { return blocks[k].LastOffset >= offset }):]
			continue
		}
		want = append(want, next[0])
		size += next[0].RawSize
		next = next[1:]
	}
	r.queueFrom(next, entries[i:], r.readAhead)
	out := make([][]byte, len(want))
	errs := make([]error, len(want))
	if len(want) == 1 {
		out[0], errs[0] = r.ReadBlock(ctx, want[0])
	} else {
		p := pool.New().WithMaxGoroutines(min(r.concurrency, len(want)))
		for k := range want {
			p.Go(func() { out[k], errs[k] = r.ReadBlock(ctx, want[k]) })
		}
		p.Wait()
	}
	for k, err := range errs {
		if err != nil {
			if k == 0 {
				return nil, err
			}
			return out[:k], nil
		}
	}
	return out, nil
}

// Prefetch queues, for the prefetchers, the first blocks from offset on of
// entries (in offset order) whose raw sizes add up to maxBytes (at least
// one), or the block index of the first archive on the way that is not
// cached: a caller about to read several partitions one after another lets
// their GETs run at once. It does nothing without read-ahead, and never
// blocks.
func (r *Reader) Prefetch(entries []metadata.ManifestEntry, offset, maxBytes int64) {
	if r.prefetches == nil || len(entries) == 0 {
		return
	}
	blocks, ok := r.cachedBlocks(entries[0])
	if !ok {
		r.queueFrom(nil, entries, maxBytes)
		return
	}
	blocks = blocks[sort.Search(len(blocks), func(k int) bool { return blocks[k].LastOffset >= offset }):]
	r.queueFrom(blocks, entries[1:], maxBytes)
}

// queueFrom queues blocks and then the blocks of entries, up to maxBytes of
// raw sizes (at least one), stopping at the first archive whose block index
// is not cached: its index is queued instead.
func (r *Reader) queueFrom(blocks []Block, entries []metadata.ManifestEntry, maxBytes int64) {
	if r.prefetches == nil {
		return
	}
	var spans []span
	size := int64(0)
	for {
		for _, b := range blocks {
			if len(spans) > 0 && size+b.RawSize > maxBytes {
				r.queue(spans)
				return
			}
			spans = append(spans, blockSpan(b))
			size += b.RawSize
		}
		if len(entries) == 0 {
			break
		}
		var ok bool
		if blocks, ok = r.cachedBlocks(entries[0]); !ok {
			spans = append(spans, indexSpan(entries[0]))
			break
		}
		entries = entries[1:]
	}
	r.queue(spans)
}

// queue queues the spans that are neither cached in memory, loading, nor
// queued already, until the queue is full.
func (r *Reader) queue(spans []span) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range spans {
		if _, ok := r.entries[s.key]; ok {
			continue
		}
		if _, ok := r.inflight[s.key]; ok || r.queued[s.key] {
			continue
		}
		select {
		case r.prefetches <- s:
			r.queued[s.key] = true
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
		case s := <-r.prefetches:
			r.mu.Lock()
			delete(r.queued, s.key)
			_, cached := r.entries[s.key]
			_, loading := r.inflight[s.key]
			if cached || loading {
				r.mu.Unlock()
				r.pending.Done()
				continue
			}
			f := r.startLoad(s.key)
			r.mu.Unlock()
			r.load(r.ctx, s, f, true)
			if f.err != nil && !isContextErr(f.err) {
				r.log.Debug("read-ahead", "object", s.key.object, "error", f.err)
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
