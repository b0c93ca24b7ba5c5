package tiering

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/objectstore"
)

// openTestReader opens a reader closed when the test ends.
func openTestReader(t *testing.T, b objectstore.Bucket, opts ReaderOptions) *Reader {
	t.Helper()
	r, err := OpenReader(b, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func mustRead(t *testing.T, r *Reader, e metadata.ManifestEntry, want []byte) {
	t.Helper()
	got, err := r.Read(t.Context(), e)
	if err != nil {
		t.Fatalf("read %s at %d: %v", e.Object, e.Position, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %s at %d: wrong bytes", e.Object, e.Position)
	}
}

// rangeFiles lists the disk tier's range files and everything else in dir.
func rangeFiles(t *testing.T, dir string) (ranges, other []string) {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		if strings.HasSuffix(de.Name(), diskSuffix) && !strings.HasPrefix(de.Name(), diskTmpPrefix) {
			ranges = append(ranges, filepath.Join(dir, de.Name()))
		} else {
			other = append(other, de.Name())
		}
	}
	return ranges, other
}

// TestDiskTier: with no memory tier, ranges read from the bucket are kept on
// disk within the budget, the least recently used evicted, and served from
// disk without a GET.
func TestDiskTier(t *testing.T) {
	b := newFaultyMem(t)
	entries, data := putObject(t, b, "segments/a.seg", 3, 100)
	dir := t.TempDir()
	budget := entries[0].Size + entries[1].Size + entries[2].Size - 1 // two of three
	r := openTestReader(t, b, ReaderOptions{DiskDir: dir, DiskBytes: budget})
	gets := func() int { return b.Calls(objectstore.OpGetRange) }

	mustRead(t, r, entries[0], data[0])
	mustRead(t, r, entries[1], data[1])
	r.settle()
	mustRead(t, r, entries[0], data[0]) // from disk: range 1 is now the least recent
	if gets() != 2 {
		t.Fatalf("%d GETs, want 2", gets())
	}
	mustRead(t, r, entries[2], data[2]) // evicts range 1
	r.settle()
	if files, _ := rangeFiles(t, dir); len(files) != 2 {
		t.Fatalf("%d range files, want 2", len(files))
	}
	r.disk.mu.Lock()
	used := r.disk.used
	r.disk.mu.Unlock()
	if used > budget {
		t.Fatalf("disk tier holds %d bytes, budget %d", used, budget)
	}
	mustRead(t, r, entries[0], data[0])
	mustRead(t, r, entries[2], data[2])
	if gets() != 3 {
		t.Fatalf("%d GETs after reading ranges kept on disk, want 3", gets())
	}
	mustRead(t, r, entries[1], data[1])
	if gets() != 4 {
		t.Fatalf("%d GETs after reading an evicted range, want 4", gets())
	}
	if got := counterValue(t, r.m.diskHits); got != 3 {
		t.Errorf("disk hits = %v, want 3", got)
	}
	if got := counterValue(t, r.m.diskEvictions); got < 1 {
		t.Errorf("disk evictions = %v, want at least 1", got)
	}
}

// TestDiskTierMemoryFirst: with both tiers, a range in memory is served from
// memory, and one evicted from memory from disk.
func TestDiskTierMemoryFirst(t *testing.T) {
	b := newFaultyMem(t)
	entries, data := putObject(t, b, "segments/a.seg", 2, 100)
	r := openTestReader(t, b, ReaderOptions{CacheBytes: max(entries[0].Size, entries[1].Size), DiskDir: t.TempDir(), DiskBytes: 1 << 20})
	mustRead(t, r, entries[0], data[0])
	mustRead(t, r, entries[0], data[0])
	mustRead(t, r, entries[1], data[1]) // evicts range 0 from memory
	r.settle()
	mustRead(t, r, entries[0], data[0])
	if n := b.Calls(objectstore.OpGetRange); n != 2 {
		t.Fatalf("%d GETs, want 2", n)
	}
	if got := counterValue(t, r.m.hits); got != 1 {
		t.Errorf("memory hits = %v, want 1", got)
	}
	if got := counterValue(t, r.m.diskHits); got != 1 {
		t.Errorf("disk hits = %v, want 1", got)
	}
}

// TestDiskTierRestart: a reader opened on the directory of a closed one
// serves its ranges from disk; torn, truncated, damaged and foreign files
// are never served: removed at open, or when read and found bad (the range
// then comes from the bucket).
func TestDiskTierRestart(t *testing.T) {
	b := newFaultyMem(t)
	entries, data := putObject(t, b, "segments/a.seg", 4, 200)
	dir := t.TempDir()
	r := openTestReader(t, b, ReaderOptions{DiskDir: dir, DiskBytes: 1 << 20})
	for i := range entries {
		mustRead(t, r, entries[i], data[i])
	}
	r.settle()
	r.Close()
	files, _ := rangeFiles(t, dir)
	if len(files) != len(entries) {
		t.Fatalf("%d range files, want %d", len(files), len(entries))
	}
	fileOf := func(e metadata.ManifestEntry) string {
		t.Helper()
		for _, f := range files {
			if strings.HasPrefix(filepath.Base(f), diskHash(rangeKey{e.Object, e.Position, e.Size})+"-") {
				return f
			}
		}
		t.Fatalf("no file for range at %d", e.Position)
		return ""
	}
	// Range 1: truncated (a torn write renamed by a broken file system).
	raw, err := os.ReadFile(fileOf(entries[1]))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fileOf(entries[1]), raw[:len(raw)-7], 0o644); err != nil {
		t.Fatal(err)
	}
	// Range 2: one byte of data flipped (lost or damaged on disk).
	raw, _ = os.ReadFile(fileOf(entries[2]))
	raw[len(raw)-3] ^= 0x40
	if err := os.WriteFile(fileOf(entries[2]), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	// A temporary file left by a crash mid-write, and a file of no range.
	tmp := filepath.Join(dir, diskTmpPrefix+"0123-9"+diskSuffix)
	if err := os.WriteFile(tmp, raw[:10], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "junk"+diskSuffix), []byte("not a range"), 0o644); err != nil {
		t.Fatal(err)
	}

	before := b.Calls(objectstore.OpGetRange)
	r2 := openTestReader(t, b, ReaderOptions{DiskDir: dir, DiskBytes: 1 << 20})
	if left, other := rangeFiles(t, dir); len(left) != len(entries)-1 || len(other) != 0 {
		t.Fatalf("after open: %d range files (want %d) and %v (want none)", len(left), len(entries)-1, other)
	}
	for i := range entries {
		mustRead(t, r2, entries[i], data[i])
	}
	// Ranges 0 and 3 from disk; 1 (removed at open) and 2 (failed its check) from the bucket.
	if n := b.Calls(objectstore.OpGetRange) - before; n != 2 {
		t.Fatalf("%d GETs after the restart, want 2", n)
	}
	if got := counterValue(t, r2.m.diskHits); got != 2 {
		t.Errorf("disk hits = %v, want 2", got)
	}
	if got := counterValue(t, r2.m.diskDiscarded); got != 1 {
		t.Errorf("discarded files = %v, want 1", got)
	}
	// The bad ranges were written again, whole.
	r2.settle()
	r2.Close()
	r3 := openTestReader(t, b, ReaderOptions{DiskDir: dir, DiskBytes: 1 << 20})
	before = b.Calls(objectstore.OpGetRange)
	for i := range entries {
		mustRead(t, r3, entries[i], data[i])
	}
	if n := b.Calls(objectstore.OpGetRange) - before; n != 0 {
		t.Fatalf("%d GETs after a second restart, want 0", n)
	}

	// A smaller budget at open evicts down to it.
	r3.Close()
	r4 := openTestReader(t, b, ReaderOptions{DiskDir: dir, DiskBytes: entries[0].Size})
	if left, _ := rangeFiles(t, dir); len(left) > 1 {
		t.Fatalf("%d range files within a budget of one range", len(left))
	}
	_ = r4
}

func TestDiskHeaderRoundTrip(t *testing.T) {
	key := rangeKey{"segments/x-b1-7.seg", 12345, 678}
	h := appendDiskHeader(nil, key)
	got, n, err := decodeDiskHeader(h)
	if err != nil || got != key || n != len(h) {
		t.Fatalf("decode: %+v, %d, %v", got, n, err)
	}
	for i := range h {
		bad := bytes.Clone(h)
		bad[i] ^= 1
		if _, _, err := decodeDiskHeader(bad); err == nil {
			t.Errorf("header with byte %d flipped decoded", i)
		}
	}
}

// sequence puts n objects of one range each and returns their entries in
// order, as a partition's manifest.
func sequence(t *testing.T, b objectstore.Bucket, n int) ([]metadata.ManifestEntry, [][]byte) {
	t.Helper()
	var entries []metadata.ManifestEntry
	var data [][]byte
	for i := range n {
		e, d := putObject(t, b, "segments/"+string(rune('a'+i))+".seg", 1, 100)
		entries = append(entries, e...)
		data = append(data, d...)
	}
	return entries, data
}

// TestReadAheadSequential: a consumer reading one entry at a time finds
// every entry after the first already loaded by read-ahead; each range is
// fetched once, and read-ahead never runs more than ReadAheadBytes past the
// read.
func TestReadAheadSequential(t *testing.T) {
	b := newFaultyMem(t)
	entries, data := sequence(t, b, 12)
	ahead := int64(0)
	for _, e := range entries[1:4] {
		ahead = max(ahead, e.Size)
	}
	ahead *= 3 // at least three entries
	r := openTestReader(t, b, ReaderOptions{CacheBytes: 1 << 20, ReadAheadBytes: ahead})
	gets := func() int { return b.Calls(objectstore.OpGetRange) }

	for i := range entries {
		got, err := r.ReadFrom(t.Context(), entries[i:], entries[i].BaseOffset, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || !bytes.Equal(got[0], data[i]) {
			t.Fatalf("entry %d: %d ranges or wrong bytes", i, len(got))
		}
		r.settle()
		// Fetched: everything up to i plus what fits in ahead after it.
		want, size := i+1, int64(0)
		for j := i + 1; j < len(entries); j++ {
			if j > i+1 && size+entries[j].Size > ahead {
				break
			}
			size += entries[j].Size
			want = j + 1
		}
		if gets() != want {
			t.Fatalf("after reading entry %d: %d GETs, want %d", i, gets(), want)
		}
	}
	if got := counterValue(t, r.m.readAheadUsed); got != float64(len(entries)-1) {
		t.Errorf("read-ahead used %v times, want %d", got, len(entries)-1)
	}
	if got := counterValue(t, r.m.readAheadGETs); got != float64(len(entries)-1) {
		t.Errorf("read-ahead GETs = %v, want %d", got, len(entries)-1)
	}
	if got := counterValue(t, r.m.misses); got != float64(len(entries)) {
		t.Errorf("misses = %v, want %d", got, len(entries))
	}
}

// TestReadAheadBounded: no more than ReadAheadGETs prefetch GETs run at once,
// and a read of a range being prefetched waits for that GET.
func TestReadAheadBounded(t *testing.T) {
	b := newFaultyMem(t)
	entries, data := sequence(t, b, 10)
	const limit = 2
	var gets inFlight
	entered := make(chan struct{}, len(entries))
	release := make(chan struct{})
	b.SetHook(func(op, name string) error {
		if op != objectstore.OpGetRange || name == entries[0].Object {
			return nil
		}
		gets.enter()
		entered <- struct{}{}
		<-release
		gets.leave()
		return nil
	})
	r := openTestReader(t, b, ReaderOptions{CacheBytes: 1 << 20, ReadAheadBytes: 1 << 20, ReadAheadGETs: limit})
	if _, err := r.ReadFrom(t.Context(), entries, entries[0].BaseOffset, 1); err != nil {
		t.Fatal(err)
	}
	// Both prefetchers are busy, with entries 1 and 2 (the queue is in
	// order): a read of entry 1 joins that GET.
	<-entered
	<-entered
	next := readAsync(t, r, entries[1], data[1])
	// Let the prefetches through one at a time.
	for range len(entries) - 3 {
		release <- struct{}{}
		<-entered
	}
	release <- struct{}{}
	release <- struct{}{}
	if err := <-next; err != nil {
		t.Fatal(err)
	}
	r.settle()
	if m := gets.most.Load(); m > limit {
		t.Fatalf("%d prefetch GETs at once, limit %d", m, limit)
	}
	if n := b.Calls(objectstore.OpGetRange); n != len(entries) {
		t.Fatalf("%d GETs, want one per entry (%d)", n, len(entries))
	}
}

// TestReadFromConcurrent: a read spanning several entries has up to
// Concurrency GETs in flight at once (the hook lets no GET finish until that
// many have started) and answers in the entries' order.
func TestReadFromConcurrent(t *testing.T) {
	b := newFaultyMem(t)
	entries, data := sequence(t, b, 8)
	const concurrency = 4
	var gets inFlight
	all := make(chan struct{})
	var once sync.Once
	b.SetHook(func(op, name string) error {
		n := gets.enter()
		defer gets.leave()
		if n == concurrency {
			once.Do(func() { close(all) })
		}
		<-all
		return nil
	})
	r := openTestReader(t, b, ReaderOptions{CacheBytes: 1 << 20, Concurrency: concurrency})
	total := int64(0)
	for _, e := range entries {
		total += e.Size
	}
	got, err := r.ReadFrom(t.Context(), entries, entries[0].BaseOffset, total)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(entries) {
		t.Fatalf("%d ranges, want %d", len(got), len(entries))
	}
	for i := range got {
		if !bytes.Equal(got[i], data[i]) {
			t.Fatalf("range %d: wrong bytes (out of order?)", i)
		}
	}
	if m := gets.most.Load(); m != concurrency {
		t.Fatalf("%d GETs at once, want %d", m, concurrency)
	}

	// maxBytes decides how many entries are read: enough to reach it.
	r2 := openTestReader(t, b, ReaderOptions{})
	got, err = r2.ReadFrom(t.Context(), entries, entries[0].BaseOffset, entries[0].Size+1)
	if err != nil || len(got) != 2 {
		t.Fatalf("ReadFrom for one entry and a byte: %d ranges, %v; want 2", len(got), err)
	}
}

// TestReadFromFailure: a failed read after the first returns the ranges
// before it; a failed first read returns its error.
func TestReadFromFailure(t *testing.T) {
	b := newFaultyMem(t)
	entries, data := sequence(t, b, 4)
	b.SetHook(func(op, name string) error {
		if op == objectstore.OpGetRange && name == entries[2].Object {
			return objectstore.ErrInjected
		}
		return nil
	})
	r := openTestReader(t, b, ReaderOptions{CacheBytes: 1 << 20})
	got, err := r.ReadFrom(t.Context(), entries, entries[0].BaseOffset, 1<<20)
	if err != nil || len(got) != 2 || !bytes.Equal(got[1], data[1]) {
		t.Fatalf("ReadFrom over a failing third entry: %d ranges, %v; want the first 2", len(got), err)
	}
	if _, err := r.ReadFrom(t.Context(), entries[2:], entries[2].BaseOffset, 1<<20); !errors.Is(err, objectstore.ErrInjected) {
		t.Fatalf("ReadFrom from the failing entry: err = %v", err)
	}
}

// TestDiskTierAdmission: a range that read-ahead loads from the bucket is
// written to the disk tier on its second load, not its first, and served
// from disk after that; a range that a read waited for is written on its
// first load.
func TestDiskTierAdmission(t *testing.T) {
	b := newFaultyMem(t)
	entries, data := sequence(t, b, 4)
	dir := t.TempDir()
	// No memory tier: every load goes to the disk tier or the bucket.
	r := openTestReader(t, b, ReaderOptions{DiskDir: dir, DiskBytes: 1 << 20, ReadAheadBytes: 1 << 20})
	gets := func() int { return b.Calls(objectstore.OpGetRange) }
	ahead := entries[1:]

	r.Prefetch(ahead, ahead[0].BaseOffset, 1<<20)
	r.settle()
	if files, _ := rangeFiles(t, dir); gets() != 3 || len(files) != 0 {
		t.Fatalf("after reading ahead once: %d GETs, %d range files; want 3 and none", gets(), len(files))
	}
	r.Prefetch(ahead, ahead[0].BaseOffset, 1<<20)
	r.settle()
	if files, _ := rangeFiles(t, dir); gets() != 6 || len(files) != 3 {
		t.Fatalf("after reading ahead twice: %d GETs, %d range files; want 6 and 3", gets(), len(files))
	}
	for i, e := range ahead {
		mustRead(t, r, e, data[i+1])
	}
	if gets() != 6 {
		t.Fatalf("%d GETs after reading the admitted ranges, want 6 (from disk)", gets())
	}
	if got := counterValue(t, r.m.diskHits); got != 3 {
		t.Errorf("disk hits = %v, want 3", got)
	}

	mustRead(t, r, entries[0], data[0]) // a demand miss
	r.settle()
	if files, _ := rangeFiles(t, dir); gets() != 7 || len(files) != 4 {
		t.Fatalf("after a read that waited: %d GETs, %d range files; want 7 and 4", gets(), len(files))
	}
}

// TestDiskTierAdmissionJoined: a range that read-ahead is loading when a
// read asks for it is one the read waits for: written to the disk tier on
// that first load, and not kept in memory as unread read-ahead.
func TestDiskTierAdmissionJoined(t *testing.T) {
	b := newFaultyMem(t)
	entries, data := sequence(t, b, 1)
	entered, release := make(chan struct{}), make(chan struct{})
	b.SetHook(func(op, _ string) error {
		if op == objectstore.OpGetRange {
			entered <- struct{}{}
			<-release
		}
		return nil
	})
	dir := t.TempDir()
	r := openTestReader(t, b, ReaderOptions{CacheBytes: 1 << 20, DiskDir: dir, DiskBytes: 1 << 20, ReadAheadBytes: 1 << 20})
	r.Prefetch(entries, entries[0].BaseOffset, 1)
	<-entered // the prefetcher's GET
	done := readAsync(t, r, entries[0], data[0])
	for joined := false; !joined; { // until the read waits for that GET
		r.mu.Lock()
		f := r.inflight[rangeKey{entries[0].Object, entries[0].Position, entries[0].Size}]
		joined = f != nil && f.waited
		r.mu.Unlock()
		runtime.Gosched()
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r.settle()
	if files, _ := rangeFiles(t, dir); b.Calls(objectstore.OpGetRange) != 1 || len(files) != 1 {
		t.Fatalf("%d GETs, %d range files; want 1 and 1", b.Calls(objectstore.OpGetRange), len(files))
	}
	// Not kept as unread read-ahead: evicting it wastes nothing.
	r.mu.Lock()
	el := r.entries[rangeKey{entries[0].Object, entries[0].Position, entries[0].Size}]
	r.mu.Unlock()
	if el == nil || el.Value.(*cacheEntry).prefetched {
		t.Errorf("the range is not in memory, or is kept as unread read-ahead")
	}
}

// TestDiskTierAdmissionHistory: the history of ranges read ahead once is
// bounded (diskHistoryKeys keys), forgetting the least recent: a range
// loaded again after that many others is taken for a first load.
func TestDiskTierAdmissionHistory(t *testing.T) {
	b := newFaultyMem(t)
	dir := t.TempDir()
	r := openTestReader(t, b, ReaderOptions{DiskDir: dir, DiskBytes: 1 << 20})
	d := r.disk
	key := func(i int) rangeKey { return rangeKey{"segments/x.seg", int64(i), 1} }
	for i := range diskHistoryKeys + 10 {
		d.offer(key(i), []byte{1}, true)
	}
	d.mu.Lock()
	n, m := d.history.Len(), len(d.historyKeys)
	d.mu.Unlock()
	if n != diskHistoryKeys || m != diskHistoryKeys {
		t.Fatalf("history of %d keys (%d in its map), want at most %d", n, m, diskHistoryKeys)
	}
	r.settle()
	if files, _ := rangeFiles(t, dir); len(files) != 0 {
		t.Fatalf("%d range files after first loads only, want none", len(files))
	}
	d.offer(key(0), []byte{1}, true)                 // forgotten: a first load again
	d.offer(key(diskHistoryKeys+9), []byte{1}, true) // the most recent: a second load
	r.settle()
	files, _ := rangeFiles(t, dir)
	if len(files) != 1 || !strings.HasPrefix(filepath.Base(files[0]), diskHash(key(diskHistoryKeys+9))+"-") {
		t.Fatalf("range files %v, want only the second load's", files)
	}
}

// TestReadAheadSpared: the memory tier evicts ranges already read before a
// range read ahead and not read yet, which is then served without a GET.
func TestReadAheadSpared(t *testing.T) {
	b := newFaultyMem(t)
	entries, data := sequence(t, b, 4)
	r := openTestReader(t, b, ReaderOptions{CacheBytes: entries[0].Size + entries[1].Size + entries[2].Size, ReadAheadBytes: 1 << 20})
	gets := func() int { return b.Calls(objectstore.OpGetRange) }
	r.Prefetch(entries[:1], entries[0].BaseOffset, 1) // read ahead, not read
	r.settle()
	mustRead(t, r, entries[1], data[1])
	mustRead(t, r, entries[2], data[2])
	mustRead(t, r, entries[3], data[3]) // evicts: range 0 is the least recent
	if gets() != 4 {
		t.Fatalf("%d GETs, want 4", gets())
	}
	mustRead(t, r, entries[0], data[0])
	if gets() != 4 {
		t.Fatalf("%d GETs: the range read ahead was evicted before the ranges read", gets())
	}
	if got := counterValue(t, r.m.readAheadUsed); got != 1 {
		t.Errorf("read-ahead used = %v, want 1", got)
	}
	if got := counterValue(t, r.m.readAheadWasted); got != 0 {
		t.Errorf("read-ahead wasted = %v, want 0", got)
	}
}
