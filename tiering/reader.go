package tiering

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/objectstore"
)

// Reader reads manifest ranges from the bucket through a bounded cache.
// Safe for concurrent use.
//
// The cache holds checked ranges keyed by (object, position, size) and evicts
// the least recently used once it holds more than its byte budget; a range
// larger than the whole budget is returned but not kept. Reads of a range
// that is already being fetched wait for that GET instead of issuing another.
type Reader struct {
	bucket objectstore.Bucket
	m      *readerMetrics

	mu       sync.Mutex
	capacity int64
	used     int64
	lru      *list.List // of *cacheEntry, most recent first
	entries  map[rangeKey]*list.Element
	inflight map[rangeKey]*fetch
}

type rangeKey struct {
	object         string
	position, size int64
}

type cacheEntry struct {
	key  rangeKey
	data []byte
}

// fetch is one GET in flight; done closes when data or err is set.
type fetch struct {
	done chan struct{}
	data []byte
	err  error
}

// NewReader returns a reader with a cache of at most cacheBytes (0 = no cache).
func NewReader(b objectstore.Bucket, cacheBytes int64, reg prometheus.Registerer) *Reader {
	return &Reader{
		bucket:   b,
		m:        newReaderMetrics(reg),
		capacity: cacheBytes,
		lru:      list.New(),
		entries:  make(map[rangeKey]*list.Element),
		inflight: make(map[rangeKey]*fetch),
	}
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
			r.mu.Unlock()
			r.m.hits.Inc()
			return el.Value.(*cacheEntry).data, nil
		}
		if f, ok := r.inflight[key]; ok {
			r.mu.Unlock()
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-f.done:
			}
			// The fetching reader's context may have ended while ours has not:
			// try again rather than fail with someone else's cancellation.
			if f.err != nil && isContextErr(f.err) {
				continue
			}
			if f.err == nil {
				r.m.hits.Inc()
			}
			return f.data, f.err
		}
		f := &fetch{done: make(chan struct{})}
		r.inflight[key] = f
		r.mu.Unlock()
		r.m.misses.Inc()

		f.data, f.err = r.fetch(ctx, e)

		r.mu.Lock()
		delete(r.inflight, key)
		if f.err == nil {
			r.add(key, f.data)
		}
		r.mu.Unlock()
		close(f.done)
		return f.data, f.err
	}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
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
	ie := IndexEntry{
		Position: e.Position, Size: e.Size, BaseOffset: e.BaseOffset, LastOffset: e.LastOffset,
		MaxTimestamp: e.MaxTimestamp, Batches: e.Batches, CRC: e.CRC,
	}
	if err := checkRange(data, ie); err != nil {
		return nil, fmt.Errorf("%w: object %s: range %d+%d: %w", ErrCorruptObject, e.Object, e.Position, e.Size, err)
	}
	return data, nil
}

// add caches data under key, evicting the least recently used ranges to stay
// within capacity. r.mu is held.
func (r *Reader) add(key rangeKey, data []byte) {
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
	}
	r.entries[key] = r.lru.PushFront(&cacheEntry{key: key, data: data})
	r.used += size
}
