package tiering

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sourcegraph/conc"

	"github.com/strata-io/strata/internal/vfs"
)

// The disk tier keeps each range in a file of its own, named
// <hash>-<seq>.rng where hash is the first 32 hex digits of the SHA-256 of
// the range's key and seq makes every write's name unique (so that removing
// an evicted file can never remove a newer copy of the same range):
//
//	offset  width  field
//	     0      8  magic                    "STRATRNG"
//	     8      4  format version           uint32, 1
//	    12      8  position                 int64: the range's byte offset in its object
//	    20      8  size                     int64: the range's byte length
//	    28      2  object name length       uint16
//	    30      n  object name
//	  30+n      4  header crc               uint32: CRC-32C (Castagnoli) of bytes [0, 30+n)
//	  34+n   size  the range's bytes as stored in the object
//
// Integers are big endian. Every constant above is frozen for version 1.
//
// A file is written under a temporary name (.tmp-…) and renamed into place
// once whole, so a crash leaves either no file or a temporary one, which the
// next open removes. The file is not fsynced: a range served from disk is
// decoded and checked again (CRC-32C and batch structure against its
// manifest entry or block, a block index against its CRC) every time, so
// bytes that never reached the disk after a crash, or that the disk damaged,
// are caught there, the file is removed and the range is read from the
// bucket. A file operation that fails (create, write, close, rename) leaves
// at most a temporary file, never indexed and removed at the next open: the
// range is simply not cached.
const (
	diskMagic      = "STRATRNG"
	diskVersion    = 1
	diskFixedBytes = 34 // header without the object name
	diskSuffix     = ".rng"
	diskTmpPrefix  = ".tmp-"
	// diskQueueBytes bounds the bytes of ranges waiting to be written; a
	// range that does not fit is not written (a cache may forget).
	diskQueueBytes = 64 << 20
	// diskHistoryKeys bounds the history of ranges read ahead once and not
	// admitted (a few hundred bytes each in memory).
	diskHistoryKeys = 1 << 15
)

var (
	errDiskHeader = errors.New("bad range file header")
	errDiskKey    = errors.New("range file holds another range")
)

// diskCache is the Reader's second tier: checked ranges kept in files under
// one directory, at most capacity bytes of ranges (headers not counted),
// least recently used evicted first. After a restart the files are ordered
// by when they were written. Safe for concurrent use.
//
// Admission resists scans: a range that read-ahead loaded from the bucket
// before any read asked for it is written only on its second load from the
// bucket (offer), so that a consumer replaying a topic once neither pays
// for writing all of it to disk nor evicts the ranges that are read again;
// a range a read waited for (where a consumer starts or jumps, or catches
// up with read-ahead) is written on its first. The history of ranges loaded once is bounded by a number of keys
// (diskHistoryKeys), not by the bytes of their ranges, so that a replay of
// more than the tier holds, read again, is admitted; the least recent key
// is forgotten first.
type diskCache struct {
	fs       vfs.FS
	dir      string
	capacity int64
	m        *readerMetrics
	log      *slog.Logger

	mu      sync.Mutex
	used    int64
	seq     uint64
	lru     *list.List // of *diskEntry, most recent first
	entries map[rangeKey]*list.Element
	queued  int64 // bytes in writes
	writes  chan diskWrite
	pending sync.WaitGroup // writes queued or running

	history     *list.List // of rangeKey: loaded once by read-ahead, not admitted; most recent first
	historyKeys map[rangeKey]*list.Element

	cancel context.CancelFunc
	wg     conc.WaitGroup
}

type diskEntry struct {
	key  rangeKey
	path string
}

type diskWrite struct {
	key  rangeKey
	data []byte
}

// openDiskCacheFS opens the tier in dir, creating it, removing temporary and
// unreadable files and indexing the rest, then starts its writer. Every file
// operation goes through fsys (nil = vfs.Default).
func openDiskCacheFS(fsys vfs.FS, dir string, capacity int64, m *readerMetrics, log *slog.Logger) (*diskCache, error) {
	fsys = vfs.OrDefault(fsys)
	if err := fsys.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tiering: disk cache: %w", err)
	}
	d := &diskCache{
		fs:       fsys,
		dir:      dir,
		capacity: capacity,
		m:        m,
		log:      log,
		lru:      list.New(),
		entries:  make(map[rangeKey]*list.Element),
		writes:   make(chan diskWrite, 1024),

		history:     list.New(),
		historyKeys: make(map[rangeKey]*list.Element),
	}
	if err := d.load(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.cancel = cancel
	d.wg.Go(func() { d.writeLoop(ctx) })
	return d, nil
}

// load indexes the files a previous run left, oldest write last.
func (d *diskCache) load() error {
	des, err := d.fs.ReadDir(d.dir)
	if err != nil {
		return fmt.Errorf("tiering: disk cache: %w", err)
	}
	type found struct {
		diskEntry
		mtime time.Time
	}
	var files []found
	removed := 0
	remove := func(path string) {
		if err := d.fs.Remove(path); err == nil || errors.Is(err, fs.ErrNotExist) {
			removed++
		}
	}
	for _, de := range des {
		path := filepath.Join(d.dir, de.Name())
		if !de.Type().IsRegular() || !strings.HasSuffix(de.Name(), diskSuffix) {
			if de.Type().IsRegular() {
				remove(path) // a torn write, or not ours
			}
			continue
		}
		key, mtime, err := d.readDiskHeader(path)
		if err != nil {
			// Unreadable now, or bad: either way not a file to serve.
			remove(path)
			continue
		}
		files = append(files, found{diskEntry{key, path}, mtime})
	}
	slices.SortFunc(files, func(a, b found) int { return a.mtime.Compare(b.mtime) })
	for _, f := range files {
		if _, dup := d.entries[f.key]; dup || f.key.size > d.capacity {
			remove(f.path)
			continue
		}
		d.entries[f.key] = d.lru.PushFront(&diskEntry{f.key, f.path})
		d.used += f.key.size
		d.seq++
	}
	victims := d.evictLocked()
	for _, p := range victims {
		remove(p)
	}
	d.m.diskBytes.Set(float64(d.used))
	if len(files) > 0 || removed > 0 {
		d.log.Info("disk cache opened", "dir", d.dir, "ranges", len(d.entries), "bytes", d.used, "removed_files", removed)
	}
	return nil
}

// readDiskHeader checks a range file's header and length and returns its
// key and modification time.
func (d *diskCache) readDiskHeader(path string) (rangeKey, time.Time, error) {
	f, err := d.fs.Open(path)
	if err != nil {
		return rangeKey{}, time.Time{}, err
	}
	defer f.Close()
	buf := make([]byte, diskFixedBytes+1024)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return rangeKey{}, time.Time{}, err
	}
	key, hlen, err := decodeDiskHeader(buf[:n])
	if err != nil {
		return rangeKey{}, time.Time{}, err
	}
	info, err := f.Stat()
	if err != nil {
		return rangeKey{}, time.Time{}, err
	}
	if info.Size() != int64(hlen)+key.size {
		return rangeKey{}, time.Time{}, fmt.Errorf("%w: %d bytes, want %d", errDiskHeader, info.Size(), int64(hlen)+key.size)
	}
	if !strings.HasPrefix(filepath.Base(path), diskHash(key)+"-") {
		return rangeKey{}, time.Time{}, errDiskKey
	}
	return key, info.ModTime(), nil
}

func appendDiskHeader(dst []byte, key rangeKey) []byte {
	start := len(dst)
	dst = append(dst, diskMagic...)
	dst = binary.BigEndian.AppendUint32(dst, diskVersion)
	dst = binary.BigEndian.AppendUint64(dst, uint64(key.position))
	dst = binary.BigEndian.AppendUint64(dst, uint64(key.size))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(key.object)))
	dst = append(dst, key.object...)
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

// decodeDiskHeader returns the key and the header's length.
func decodeDiskHeader(b []byte) (rangeKey, int, error) {
	if len(b) < diskFixedBytes || string(b[:8]) != diskMagic || binary.BigEndian.Uint32(b[8:]) != diskVersion {
		return rangeKey{}, 0, errDiskHeader
	}
	n := int(binary.BigEndian.Uint16(b[28:]))
	hlen := diskFixedBytes + n
	if len(b) < hlen || binary.BigEndian.Uint32(b[30+n:]) != crc32.Checksum(b[:30+n], castagnoli) {
		return rangeKey{}, 0, errDiskHeader
	}
	key := rangeKey{
		object:   string(b[30 : 30+n]),
		position: int64(binary.BigEndian.Uint64(b[12:])),
		size:     int64(binary.BigEndian.Uint64(b[20:])),
	}
	if key.size <= 0 || key.position < 0 {
		return rangeKey{}, 0, errDiskHeader
	}
	return key, hlen, nil
}

func diskHash(key rangeKey) string {
	h := sha256.New()
	h.Write([]byte(key.object))
	h.Write(binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, uint64(key.position)), uint64(key.size)))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// get returns s's bytes from disk, decoded and checked, or false. A file
// that fails its checks is removed.
func (d *diskCache) get(s span) ([]byte, bool) {
	key := s.key
	d.mu.Lock()
	el, ok := d.entries[key]
	if !ok {
		d.mu.Unlock()
		return nil, false
	}
	d.lru.MoveToFront(el)
	path := el.Value.(*diskEntry).path
	d.mu.Unlock()

	raw, err := vfs.ReadFile(d.fs, path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) { // evicted meanwhile: a plain miss
			d.discard(key, path, err)
		}
		return nil, false
	}
	got, hlen, err := decodeDiskHeader(raw)
	switch {
	case err != nil:
	case got != key:
		err = errDiskKey
	case int64(len(raw)-hlen) != key.size:
		err = fmt.Errorf("%w: %d bytes of range, want %d", errDiskHeader, len(raw)-hlen, key.size)
	}
	var data []byte
	if err == nil {
		data, err = s.decode(raw[hlen:])
	}
	if err != nil {
		d.discard(key, path, err)
		return nil, false
	}
	return data, true
}

// discard forgets and removes a file that could not be served.
func (d *diskCache) discard(key rangeKey, path string, why error) {
	d.log.Warn("disk cache: discarding a range file that failed its checks", "file", path, "error", why)
	d.m.diskDiscarded.Inc()
	d.mu.Lock()
	if el, ok := d.entries[key]; ok && el.Value.(*diskEntry).path == path {
		d.lru.Remove(el)
		delete(d.entries, key)
		d.used -= key.size
		d.m.diskBytes.Set(float64(d.used))
	}
	d.remember(key) // it was admitted once: admit it again on its next load
	d.mu.Unlock()
	_ = d.fs.Remove(path)
}

// offer is put for a range just loaded from the bucket, applying the
// admission policy (see diskCache): a range a read waited for is put at
// once, one loaded ahead of reads (readAhead) only if the history holds its
// key (it was loaded before); otherwise its key is remembered.
func (d *diskCache) offer(key rangeKey, data []byte, readAhead bool) {
	if readAhead {
		d.mu.Lock()
		el, seen := d.historyKeys[key]
		if seen {
			d.forget(el)
		} else {
			d.remember(key)
		}
		d.mu.Unlock()
		if !seen {
			return
		}
	}
	d.put(key, data)
}

// remember adds key to the history as its most recent, forgetting the
// least recent keys beyond its bounds. d.mu is held.
func (d *diskCache) remember(key rangeKey) {
	if el, ok := d.historyKeys[key]; ok {
		d.history.MoveToFront(el)
		return
	}
	d.historyKeys[key] = d.history.PushFront(key)
	for d.history.Len() > diskHistoryKeys {
		d.forget(d.history.Back())
	}
}

// forget removes one key from the history. d.mu is held.
func (d *diskCache) forget(el *list.Element) {
	delete(d.historyKeys, d.history.Remove(el).(rangeKey))
}

// put queues a checked range to be written, unless it is on disk already,
// cannot fit, or the queue is full.
func (d *diskCache) put(key rangeKey, data []byte) {
	size := int64(len(data))
	d.mu.Lock()
	_, have := d.entries[key]
	full := d.queued+size > diskQueueBytes
	if !have && !full && size <= d.capacity {
		select {
		case d.writes <- diskWrite{key, data}:
			d.queued += size
			d.pending.Add(1)
		default:
			full = true
		}
	}
	d.mu.Unlock()
	if full {
		d.m.diskSkipped.Inc()
	}
}

func (d *diskCache) writeLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case w := <-d.writes:
			d.write(w)
			d.pending.Done()
		}
	}
}

// write stores one range: a temporary file, renamed into place when whole,
// then indexed, evicting the least recently used files beyond capacity.
func (d *diskCache) write(w diskWrite) {
	size := int64(len(w.data))
	d.mu.Lock()
	d.queued -= size
	_, have := d.entries[w.key]
	d.seq++
	name := diskHash(w.key) + "-" + strconv.FormatUint(d.seq, 10) + diskSuffix
	d.mu.Unlock()
	if have {
		return
	}
	path := filepath.Join(d.dir, name)
	tmp := filepath.Join(d.dir, diskTmpPrefix+name)
	if err := writeRangeFile(d.fs, tmp, w.key, w.data); err != nil {
		_ = d.fs.Remove(tmp)
		d.m.diskWriteErrors.Inc()
		d.log.Warn("disk cache: write a range file", "file", tmp, "error", err)
		return
	}
	if err := d.fs.Rename(tmp, path); err != nil {
		_ = d.fs.Remove(tmp)
		d.m.diskWriteErrors.Inc()
		d.log.Warn("disk cache: rename a range file", "file", tmp, "error", err)
		return
	}
	d.mu.Lock()
	if _, ok := d.entries[w.key]; ok {
		d.mu.Unlock()
		_ = d.fs.Remove(path)
		return
	}
	d.entries[w.key] = d.lru.PushFront(&diskEntry{w.key, path})
	d.used += size
	victims := d.evictLocked()
	d.m.diskBytes.Set(float64(d.used))
	d.mu.Unlock()
	d.m.diskWrites.Inc()
	d.m.diskWriteBytes.Add(float64(size))
	for _, p := range victims {
		_ = d.fs.Remove(p)
	}
}

func writeRangeFile(fsys vfs.FS, path string, key rangeKey, data []byte) error {
	f, err := fsys.CreateNew(path, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(appendDiskHeader(make([]byte, 0, diskFixedBytes+len(key.object)), key))
	if err == nil {
		_, err = f.Write(data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// evictLocked drops the least recently used entries beyond capacity and
// returns their files, for the caller to remove without d.mu held.
func (d *diskCache) evictLocked() []string {
	var victims []string
	for d.used > d.capacity {
		el := d.lru.Back()
		de := el.Value.(*diskEntry)
		d.lru.Remove(el)
		delete(d.entries, de.key)
		d.used -= de.key.size
		victims = append(victims, de.path)
		d.m.diskEvictions.Inc()
	}
	return victims
}

// close stops the writer and writes what is still queued (at most
// diskQueueBytes), so that a restart finds it.
func (d *diskCache) close() {
	d.cancel()
	d.wg.Wait()
	for len(d.writes) > 0 {
		d.write(<-d.writes)
		d.pending.Done()
	}
}
