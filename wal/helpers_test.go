package wal

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/strata-io/strata/internal/vfs"
	"github.com/strata-io/strata/internal/vfs/errorfs"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// hangGuard bounds waits that would otherwise hang a broken build. It is not a
// performance assertion: nothing here is expected to take more than a blink.
const hangGuard = 30 * time.Second

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	t.Cleanup(cancel)
	return ctx
}

// collector receives from Sealed for the whole life of a WAL, as the uploader
// does (Close waits until every sealed segment is received).
type collector struct {
	mu   sync.Mutex
	segs []SegmentInfo
	more chan struct{} // capacity 1: a segment arrived
	done chan struct{} // Sealed was closed
}

func collect(w *WAL) *collector {
	c := &collector{more: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for info := range w.Sealed() {
			c.mu.Lock()
			c.segs = append(c.segs, info)
			c.mu.Unlock()
			select {
			case c.more <- struct{}{}:
			default:
			}
		}
	}()
	return c
}

func (c *collector) snapshot() []SegmentInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.segs)
}

// wait returns the segments received once there are at least n.
func (c *collector) wait(t testing.TB, n int) []SegmentInfo {
	t.Helper()
	timeout := time.After(hangGuard)
	for {
		if segs := c.snapshot(); len(segs) >= n {
			return segs
		}
		select {
		case <-c.more:
		case <-c.done:
			if segs := c.snapshot(); len(segs) < n {
				t.Fatalf("Sealed closed after %d segments, want %d", len(segs), n)
			}
		case <-timeout:
			t.Fatalf("waited too long for %d sealed segments", n)
		}
	}
}

// closed waits until Sealed is closed and returns everything delivered.
func (c *collector) closed(t testing.TB) []SegmentInfo {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(hangGuard):
		t.Fatal("Sealed was not closed")
	}
	return c.snapshot()
}

// closeWAL closes w, failing the test on an error, and returns every
// segment c was delivered (closed).
func (c *collector) closeWAL(t testing.TB, w *WAL) []SegmentInfo {
	t.Helper()
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return c.closed(t)
}

// openTest opens a WAL with a collector and closes it at cleanup.
func openTest(t testing.TB, opts Options) (*WAL, *Recovery, *collector) {
	t.Helper()
	w, rec, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	c := collect(w)
	t.Cleanup(func() {
		_ = w.Close()
		<-c.done
	})
	return w, rec, c
}

// record is what a test wrote and where the WAL said it went.
type record struct {
	data []byte
	seg  uint64
}

// readAll reads segments in order and returns their records.
func readAll(t testing.TB, segs []SegmentInfo) []record {
	t.Helper()
	var out []record
	for _, s := range segs {
		data, err := os.ReadFile(s.Path)
		if err != nil {
			t.Fatalf("read segment %d: %v", s.Seq, err)
		}
		if int64(len(data)) != s.Size {
			t.Fatalf("segment %d: %d bytes on disk, SegmentInfo.Size %d", s.Seq, len(data), s.Size)
		}
		r := NewReader(bytes.NewReader(data), s.Seq)
		for r.Next() {
			out = append(out, record{data: slices.Clone(r.Record()), seg: s.Seq})
		}
		if err := r.Err(); err != nil {
			t.Fatalf("read segment %d: %v", s.Seq, err)
		}
	}
	return out
}

func equalRecords(t testing.TB, got, want []record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i].data, want[i].data) {
			t.Fatalf("record %d: got %q, want %q", i, abbrev(got[i].data), abbrev(want[i].data))
		}
		if want[i].seg != 0 && got[i].seg != want[i].seg {
			t.Fatalf("record %d: in segment %d, Pending.Segment said %d", i, got[i].seg, want[i].seg)
		}
	}
}

func abbrev(b []byte) string {
	if len(b) > 40 {
		return fmt.Sprintf("%q... (%d bytes)", b[:40], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// payloads returns n records with sizes in [0, maxSize], from a fixed seed.
func payloads(seed uint64, n, maxSize int) [][]byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	out := make([][]byte, n)
	for i := range out {
		b := make([]byte, rng.IntN(maxSize+1))
		for j := range b {
			b[j] = byte(rng.UintN(256))
		}
		out[i] = b
	}
	return out
}

// encodeSegment returns the bytes of a valid segment holding records, and the
// offset of every frame followed by the end offset.
func encodeSegment(seq uint64, records [][]byte) ([]byte, []int64) {
	b := appendHeader(nil, seq)
	offs := make([]int64, 0, len(records)+1)
	for _, r := range records {
		offs = append(offs, int64(len(b)))
		b = appendFrame(b, r)
	}
	return b, append(offs, int64(len(b)))
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func listDir(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func mustWrite(t testing.TB, w *WAL, parts ...[]byte) *Pending {
	t.Helper()
	p, err := w.Write(parts...)
	if err != nil {
		t.Fatalf("Write: %v", err)
	}
	return p
}

func mustWait(t testing.TB, p *Pending) {
	t.Helper()
	if err := p.Wait(testCtx(t)); err != nil {
		t.Fatalf("Wait: %v", err)
	}
}

// faultFS wraps the real file system with an injector that starts with no
// rule: tests arm it with Inject once the set-up they do not want to fail is
// done.
func faultFS(rules ...errorfs.Rule) *errorfs.FS { return errorfs.Wrap(vfs.Default, rules...) }

// ops is a shorthand for a rule's kinds.
func ops(k ...errorfs.Kind) []errorfs.Kind { return k }
