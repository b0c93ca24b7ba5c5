package tiering

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/objectstore"
)

// putObject stores an object of partitions ranges under name and returns
// their manifest entries and expected bytes.
func putObject(t *testing.T, b objectstore.Bucket, name string, partitions, valueSize int) ([]metadata.ManifestEntry, [][]byte) {
	t.Helper()
	obj, index, want := buildObject(t, partitions, 3, valueSize, 11)
	if err := b.Put(t.Context(), name, bytes.NewReader(obj), int64(len(obj))); err != nil {
		t.Fatal(err)
	}
	var entries []metadata.ManifestEntry
	var data [][]byte
	for i, e := range index {
		entries = append(entries, e.ManifestEntry(name))
		data = append(data, want[i].data)
	}
	return entries, data
}

func newFaultyMem(t *testing.T) *objectstore.Faulty {
	t.Helper()
	mem := objectstore.NewMem()
	t.Cleanup(func() { mem.Close() })
	return objectstore.NewFaulty(mem)
}

func TestReaderCache(t *testing.T) {
	b := newFaultyMem(t)
	entries, data := putObject(t, b, "segments/a.seg", 3, 100)
	reg := prometheus.NewPedanticRegistry()
	// Room for two of the three ranges.
	capacity := entries[0].Size + entries[1].Size + entries[2].Size - 1
	r := NewReader(b, capacity, reg)
	ctx := t.Context()

	read := func(i int) {
		t.Helper()
		got, err := r.Read(ctx, entries[i])
		if err != nil {
			t.Fatalf("read range %d: %v", i, err)
		}
		if !bytes.Equal(got, data[i]) {
			t.Fatalf("range %d: wrong bytes", i)
		}
	}
	gets := func() int { return b.Calls(objectstore.OpGetRange) }

	read(0)
	read(0)
	if gets() != 1 {
		t.Fatalf("%d GETs for two reads of one range, want 1", gets())
	}
	read(1)
	read(2) // evicts range 0, the least recently used
	read(1)
	if gets() != 3 {
		t.Fatalf("%d GETs, want 3", gets())
	}
	read(0)
	if gets() != 4 {
		t.Fatalf("%d GETs after reading an evicted range, want 4", gets())
	}
	if got := counterValue(t, r.m.hits); got != 2 {
		t.Errorf("hits = %v, want 2", got)
	}
	if got := counterValue(t, r.m.misses); got != 4 {
		t.Errorf("misses = %v, want 4", got)
	}
	wantBytes := 2*entries[0].Size + entries[1].Size + entries[2].Size
	if got := counterValue(t, r.m.getBytes); got != float64(wantBytes) {
		t.Errorf("GET bytes = %v, want %d", got, wantBytes)
	}
	r.mu.Lock()
	used := r.used
	r.mu.Unlock()
	if used > capacity {
		t.Fatalf("cache holds %d bytes, capacity %d", used, capacity)
	}
	// A second reader on the same registry shares the metrics.
	NewReader(b, 0, reg)
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
}

func TestReaderNoCache(t *testing.T) {
	b := newFaultyMem(t)
	entries, _ := putObject(t, b, "segments/a.seg", 1, 10)
	r := NewReader(b, 0, nil)
	for range 3 {
		if _, err := r.Read(t.Context(), entries[0]); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.Calls(objectstore.OpGetRange); n != 3 {
		t.Fatalf("%d GETs without a cache, want 3", n)
	}
}

// TestReaderSingleflight: concurrent reads of one range share one GET.
func TestReaderSingleflight(t *testing.T) {
	b := newFaultyMem(t)
	entries, data := putObject(t, b, "segments/a.seg", 1, 1000)
	release := make(chan struct{})
	entered := make(chan struct{}, 100)
	b.SetHook(func(op, name string) error {
		if op == objectstore.OpGetRange {
			entered <- struct{}{}
			<-release
		}
		return nil
	})
	r := NewReader(b, 1<<20, nil)

	const readers = 8
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for range readers {
		wg.Go(func() {
			got, err := r.Read(t.Context(), entries[0])
			if err == nil && !bytes.Equal(got, data[0]) {
				err = errors.New("wrong bytes")
			}
			errs <- err
		})
	}
	<-entered // one GET is in flight; the others join it or hit the cache
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := b.Calls(objectstore.OpGetRange); n != 1 {
		t.Fatalf("%d GETs for %d concurrent reads, want 1", n, readers)
	}
}

// TestReaderWaiterCancel: a reader waiting for another's GET can give up, and
// a reader whose GET was cancelled does not fail the ones waiting for it.
func TestReaderWaiterCancel(t *testing.T) {
	b := newFaultyMem(t)
	entries, data := putObject(t, b, "segments/a.seg", 1, 10)
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	var first sync.Once
	b.SetHook(func(op, name string) error {
		if op == objectstore.OpGetRange {
			blocked := false
			first.Do(func() { blocked = true })
			if blocked {
				entered <- struct{}{}
				<-release
				return context.Canceled // as if the first reader's context ended
			}
		}
		return nil
	})
	r := NewReader(b, 1<<20, nil)

	leaderDone := make(chan error, 1)
	go func() {
		_, err := r.Read(t.Context(), entries[0])
		leaderDone <- err
	}()
	<-entered

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := r.Read(ctx, entries[0]); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: err = %v", err)
	}

	waiter := readAsync(t, r, entries[0], data[0])
	close(release)
	if err := <-leaderDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("leader: err = %v, want its cancellation", err)
	}
	if err := <-waiter; err != nil {
		t.Fatalf("waiter after the leader was cancelled: %v", err)
	}
}

func TestReaderCorruption(t *testing.T) {
	b := newFaultyMem(t)
	entries, _ := putObject(t, b, "segments/good.seg", 2, 50)

	// A copy of the object with one byte of the second range flipped.
	rc, err := b.Get(t.Context(), "segments/good.seg")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	buf.ReadFrom(rc)
	rc.Close()
	obj := buf.Bytes()
	obj[entries[1].Position+entries[1].Size/2] ^= 0x10
	if err := b.Put(t.Context(), "segments/bad.seg", bytes.NewReader(obj), int64(len(obj))); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		edit func(e *metadata.ManifestEntry)
	}{
		{"flipped byte", func(e *metadata.ManifestEntry) { *e = entries[1]; e.Object = "segments/bad.seg" }},
		{"wrong crc", func(e *metadata.ManifestEntry) { e.CRC ^= 1 }},
		{"wrong batch count", func(e *metadata.ManifestEntry) { e.Batches++ }},
		{"wrong base offset", func(e *metadata.ManifestEntry) { e.BaseOffset-- }},
		{"wrong last offset", func(e *metadata.ManifestEntry) { e.LastOffset++ }},
		{"past the end", func(e *metadata.ManifestEntry) { e.Position = 1 << 20 }},
		{"zero size", func(e *metadata.ManifestEntry) { e.Size = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := entries[0]
			tc.edit(&e)
			r := NewReader(b, 1<<20, nil)
			_, err := r.Read(t.Context(), e)
			if !errors.Is(err, ErrCorruptObject) || !strings.Contains(err.Error(), e.Object) {
				t.Fatalf("err = %v, want ErrCorruptObject naming %s", err, e.Object)
			}
			// Not cached: the next read checks again.
			if _, err := r.Read(t.Context(), e); !errors.Is(err, ErrCorruptObject) {
				t.Fatalf("second read: err = %v", err)
			}
		})
	}

	// The good range of the damaged object still reads.
	e := entries[0]
	e.Object = "segments/bad.seg"
	if _, err := NewReader(b, 0, nil).Read(t.Context(), e); err != nil {
		t.Fatalf("undamaged range: %v", err)
	}

	missing := entries[0]
	missing.Object = "segments/missing.seg"
	if _, err := NewReader(b, 0, nil).Read(t.Context(), missing); !objectstore.IsNotFound(err) {
		t.Fatalf("missing object: err = %v, want not found", err)
	}
}
