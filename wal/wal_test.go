package wal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/vfs/errorfs"
)

func TestRoundTripManySegments(t *testing.T) {
	const segBytes = 4096
	w, rec, c := openTest(t, Options{Dir: t.TempDir(), SegmentBytes: segBytes, SealInterval: time.Hour})
	if len(rec.Segments) != 0 || rec.Truncated != nil {
		t.Fatalf("fresh dir: Recovery %+v", rec)
	}

	var want []record
	var last *Pending
	for i, p := range payloads(1, 3000, 600) {
		// Some records in two parts, to check that parts are concatenated.
		var pend *Pending
		if i%3 == 0 && len(p) > 1 {
			pend = mustWrite(t, w, p[:len(p)/2], p[len(p)/2:])
		} else {
			pend = mustWrite(t, w, p)
		}
		want = append(want, record{data: p, seg: pend.Segment()})
		last = pend
	}
	mustWait(t, last)
	segs := c.closeWAL(t, w)
	if len(segs) < 10 {
		t.Fatalf("%d segments, want many", len(segs))
	}
	for i, s := range segs {
		if i > 0 && s.Seq != segs[i-1].Seq+1 {
			t.Fatalf("segment %d follows %d", s.Seq, segs[i-1].Seq)
		}
		if i < len(segs)-1 && s.Size < segBytes {
			t.Errorf("segment %d sealed at %d bytes, below SegmentBytes %d", s.Seq, s.Size, segBytes)
		}
	}
	equalRecords(t, readAll(t, segs), want)
}

func TestSealBySize(t *testing.T) {
	// Each record is waited for, so the flusher sees the segment grow one
	// record at a time and seals it at the first record that reaches the size.
	const segBytes, payload = 1000, 100
	const frame = frameHeaderSize + payload
	w, _, c := openTest(t, Options{Dir: t.TempDir(), SegmentBytes: segBytes, SealInterval: time.Hour})
	var want []record
	for i := range 35 {
		p := make([]byte, payload)
		binary.BigEndian.PutUint32(p, uint32(i))
		pend := mustWrite(t, w, p)
		mustWait(t, pend)
		want = append(want, record{data: p, seg: pend.Segment()})
	}
	full := c.wait(t, 3)
	wantSize := int64(headerSize + (segBytes-headerSize+frame-1)/frame*frame)
	for _, s := range full[:3] {
		if s.Size != wantSize {
			t.Errorf("segment %d: %d bytes, want %d", s.Seq, s.Size, wantSize)
		}
	}
	segs := c.closeWAL(t, w)
	if len(segs) != 4 {
		t.Fatalf("%d segments, want 3 full ones and the rest sealed by Close", len(segs))
	}
	equalRecords(t, readAll(t, segs), want)
}

func TestSealByInterval(t *testing.T) {
	const interval = 20 * time.Millisecond
	w, _, c := openTest(t, Options{Dir: t.TempDir(), SealInterval: interval})

	p1 := mustWrite(t, w, []byte("one"))
	first := c.wait(t, 1) // neither Seal nor Close: only the interval seals it
	p2 := mustWrite(t, w, []byte("two"))
	c.wait(t, 2)
	if first[0].Seq != p1.Segment() || p2.Segment() != p1.Segment()+1 {
		t.Fatalf("segments: first %d, records in %d and %d", first[0].Seq, p1.Segment(), p2.Segment())
	}
	mustWait(t, p1)
	mustWait(t, p2)

	// Many intervals with no record: nothing more may be sealed.
	time.Sleep(10 * interval)
	segs := c.closeWAL(t, w)
	if len(segs) != 2 {
		t.Fatalf("%d segments sealed, want 2 (an empty segment must never be sealed)", len(segs))
	}
	equalRecords(t, readAll(t, segs), []record{{data: []byte("one"), seg: p1.Segment()}, {data: []byte("two"), seg: p2.Segment()}})
}

func TestGroupCommit(t *testing.T) {
	const writers, perWriter = 32, 40
	var syncs, synced atomic.Int64
	// A disk, even on tmpfs: every fsync of a segment takes a while.
	fsys := faultFS(errorfs.Rule{Ops: ops(errorfs.OpSync), Fault: errorfs.Slow, Delay: 500 * time.Microsecond})
	w, _, c := openTest(t, Options{
		Dir:          t.TempDir(),
		SealInterval: time.Hour,
		OnSync: func(d time.Duration, n int) {
			syncs.Add(1)
			synced.Add(int64(n))
		},
		FS: fsys,
	})

	// Writes are serialized through order so that the expected order is the
	// order in which Write was called.
	var (
		mu    sync.Mutex
		order []record
		wg    sync.WaitGroup
	)
	for g := range writers {
		wg.Go(func() {
			for i := range perWriter {
				p := []byte(fmt.Sprintf("writer %02d record %03d", g, i))
				mu.Lock()
				pend, err := w.Write(p)
				if err == nil {
					order = append(order, record{data: p, seg: pend.Segment()})
				}
				mu.Unlock()
				if err != nil {
					t.Errorf("Write: %v", err)
					return
				}
				if err := pend.Wait(testCtx(t)); err != nil {
					t.Errorf("Wait: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	n := int64(writers * perWriter)
	if got := syncs.Load(); got >= n {
		t.Errorf("%d fsyncs for %d records: no group commit", got, n)
	} else {
		t.Logf("%d fsyncs for %d records", got, n)
	}
	var frames int64
	for _, r := range order {
		frames += int64(frameHeaderSize + len(r.data))
	}
	if got := synced.Load(); got != frames {
		t.Errorf("OnSync reported %d bytes, records take %d", got, frames)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	equalRecords(t, readAll(t, c.closed(t)), order)
}

func TestSealAndClose(t *testing.T) {
	dir := t.TempDir()
	w, _, c := openTest(t, Options{Dir: dir, SealInterval: time.Hour})
	ctx := testCtx(t)

	if err := w.Seal(ctx); err != nil {
		t.Fatalf("Seal of an empty segment: %v", err)
	}
	p1 := mustWrite(t, w, []byte("a"))
	if err := w.Seal(ctx); err != nil {
		t.Fatalf("Seal: %v", err)
	}
	// Seal returned: the record is durable and its segment is queued.
	if err := p1.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	segs := c.wait(t, 1)
	if segs[0].Seq != p1.Segment() {
		t.Fatalf("sealed %d, record in %d", segs[0].Seq, p1.Segment())
	}
	if err := w.Seal(ctx); err != nil {
		t.Fatalf("Seal of an empty segment: %v", err)
	}

	p2 := mustWrite(t, w, []byte("b"))
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := p2.Wait(ctx); err != nil {
		t.Fatalf("Wait after Close: %v", err)
	}
	segs = c.closed(t)
	if len(segs) != 2 || segs[1].Seq != p2.Segment() {
		t.Fatalf("delivered %+v; want the sealed segment and the one Close sealed (%d)", segs, p2.Segment())
	}
	if _, ok := <-w.Sealed(); ok {
		t.Fatal("Sealed still open after Close")
	}
	equalRecords(t, readAll(t, segs), []record{{data: []byte("a"), seg: p1.Segment()}, {data: []byte("b"), seg: p2.Segment()}})

	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := w.Write([]byte("c")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close: %v, want ErrClosed", err)
	}
	if err := w.Seal(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Seal after Close: %v, want ErrClosed", err)
	}
	// Remove works after Close: the uploader finishes after the WAL stops.
	for _, s := range segs {
		if err := w.Remove(s.Seq); err != nil {
			t.Fatalf("Remove(%d) after Close: %v", s.Seq, err)
		}
	}
}

func TestCloseOfEmptyWALDeliversNothing(t *testing.T) {
	w, _, c := openTest(t, Options{Dir: t.TempDir()})
	if segs := c.closeWAL(t, w); len(segs) != 0 {
		t.Fatalf("delivered %+v from an empty WAL", segs)
	}
}

func TestRemove(t *testing.T) {
	dir := t.TempDir()
	w, _, c := openTest(t, Options{Dir: dir, SealInterval: time.Hour})
	p := mustWrite(t, w, []byte("x"))
	if err := w.Seal(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	s := c.wait(t, 1)[0]

	tests := []struct {
		name string
		seq  uint64
		want error
	}{
		{"open segment", p.Segment() + 1, ErrUnknownSegment},
		{"unknown segment", 999, ErrUnknownSegment},
		{"sealed segment", s.Seq, nil},
		{"removed twice", s.Seq, ErrUnknownSegment},
	}
	for _, tt := range tests {
		if err := w.Remove(tt.seq); !errors.Is(err, tt.want) {
			t.Errorf("%s: Remove(%d) = %v, want %v", tt.name, tt.seq, err, tt.want)
		}
	}
	if _, err := os.Stat(s.Path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("removed segment still on disk: %v", err)
	}
}

// waitBlocked waits until n WaitRoom calls are blocked on MaxBytes.
func waitBlocked(t *testing.T, w *WAL, n int) {
	t.Helper()
	deadline := time.Now().Add(hangGuard)
	for {
		w.mu.Lock()
		b := w.blocked
		w.mu.Unlock()
		if b == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d WaitRoom calls blocked, want %d", b, n)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

func TestBackpressure(t *testing.T) {
	const maxBytes = 2048
	payload := make([]byte, 1000)

	// fill writes until the WAL holds more than maxBytes and seals it.
	fill := func(t *testing.T, w *WAL, c *collector) SegmentInfo {
		t.Helper()
		for range 3 { // 20 + 3*1008 > 2048, the third admitted at 2036
			mustWait(t, mustWrite(t, w, payload))
		}
		if err := w.Seal(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		return c.wait(t, 1)[0]
	}

	t.Run("Remove unblocks", func(t *testing.T) {
		w, _, c := openTest(t, Options{Dir: t.TempDir(), SealInterval: time.Hour, MaxBytes: maxBytes})
		seg := fill(t, w, c)

		done := make(chan error, 1)
		go func() {
			err := w.WaitRoom(context.Background())
			if err == nil {
				var p *Pending
				if p, err = w.Write(payload); err == nil {
					err = p.Wait(context.Background())
				}
			}
			done <- err
		}()
		waitBlocked(t, w, 1)
		if st := w.Stats(); st.Waiting != 1 || st.LiveBytes <= st.MaxBytes {
			t.Fatalf("Stats while waiting = %+v, want 1 waiting over MaxBytes", st)
		}
		select {
		case err := <-done:
			t.Fatalf("WaitRoom returned (%v) while over MaxBytes", err)
		default:
		}
		if err := w.Remove(seg.Seq); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Write after Remove: %v", err)
		}
	})

	t.Run("context ends the wait, Write never waits", func(t *testing.T) {
		w, _, c := openTest(t, Options{Dir: t.TempDir(), SealInterval: time.Hour, MaxBytes: maxBytes})
		fill(t, w, c)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.WaitRoom(ctx) }()
		waitBlocked(t, w, 1)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("WaitRoom after cancel: %v, want context.Canceled", err)
		}
		// A Write admitted earlier goes through over the bound.
		mustWait(t, mustWrite(t, w, payload))
	})

	t.Run("Close unblocks", func(t *testing.T) {
		w, _, c := openTest(t, Options{Dir: t.TempDir(), SealInterval: time.Hour, MaxBytes: maxBytes})
		fill(t, w, c)
		done := make(chan error, 1)
		go func() { done <- w.WaitRoom(context.Background()) }()
		waitBlocked(t, w, 1)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; !errors.Is(err, ErrClosed) {
			t.Fatalf("blocked WaitRoom after Close: %v, want ErrClosed", err)
		}
	})

	t.Run("recovered segments count", func(t *testing.T) {
		dir := t.TempDir()
		w, _, c := openTest(t, Options{Dir: dir, SealInterval: time.Hour})
		for range 3 {
			mustWrite(t, w, payload)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		c.closed(t)

		w, rec, _ := openTest(t, Options{Dir: dir, SealInterval: time.Hour, MaxBytes: maxBytes})
		done := make(chan error, 1)
		go func() { done <- w.WaitRoom(context.Background()) }()
		waitBlocked(t, w, 1)
		if err := w.Remove(rec.Segments[0].Seq); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Dir: dir, SealInterval: time.Hour}
	var (
		want    []record
		maxSeen uint64
	)
	session := func(n int, seed uint64) ([]SegmentInfo, *Recovery) {
		t.Helper()
		w, rec, c := openTest(t, opts)
		for i, p := range payloads(seed, n, 300) {
			pend := mustWrite(t, w, p)
			if pend.Segment() <= maxSeen {
				t.Fatalf("segment %d reused (seen up to %d)", pend.Segment(), maxSeen)
			}
			want = append(want, record{data: p, seg: pend.Segment()})
			if i == n/2 {
				if err := w.Seal(testCtx(t)); err != nil {
					t.Fatal(err)
				}
			}
		}
		segs := c.closeWAL(t, w)
		maxSeen = segs[len(segs)-1].Seq
		return segs, rec
	}

	segs1, _ := session(50, 1)
	segs2, rec := session(50, 2)
	if rec.Truncated != nil || !slices.Equal(rec.Segments, segs1) {
		t.Fatalf("Recovery %+v, want the segments of the first session %+v", rec, segs1)
	}
	equalRecords(t, readAll(t, append(slices.Clone(segs1), segs2...)), want)

	// With every segment removed, numbers still grow: the last sealing left the
	// next (empty) segment on disk.
	w, rec, c := openTest(t, opts)
	if !slices.Equal(rec.Segments, append(slices.Clone(segs1), segs2...)) {
		t.Fatalf("Recovery %+v", rec)
	}
	for _, s := range rec.Segments {
		if err := w.Remove(s.Seq); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.closed(t)
	want = nil
	segs3, rec := session(10, 3)
	if len(rec.Segments) != 0 {
		t.Fatalf("Recovery %+v after removing everything", rec)
	}
	if segs3[0].Seq <= segs2[len(segs2)-1].Seq {
		t.Fatalf("segment %d reused after %d", segs3[0].Seq, segs2[len(segs2)-1].Seq)
	}
	equalRecords(t, readAll(t, segs3), want)
	// Only real segments and the empty next one are left.
	wantFiles := []string{segmentName(segs3[0].Seq), segmentName(segs3[1].Seq), segmentName(segs3[1].Seq + 1)}
	if got := listDir(t, dir); !slices.Equal(got, wantFiles) {
		t.Fatalf("files %v, want %v", got, wantFiles)
	}
}

func TestWriteLimits(t *testing.T) {
	w, _, _ := openTest(t, Options{Dir: t.TempDir()})
	half := make([]byte, MaxRecordBytes/2+1)
	if _, err := w.Write(half, half); !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("Write over MaxRecordBytes: %v", err)
	}
	p := mustWrite(t, w) // an empty record is a record
	mustWait(t, p)

	for _, o := range []Options{{}, {Dir: "x", SegmentBytes: -1}, {Dir: "x", SealInterval: -1}, {Dir: "x", MaxBytes: -1}} {
		if _, _, err := Open(o); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("Open(%+v): %v, want ErrInvalidOptions", o, err)
		}
	}
}

func BenchmarkWriteWait(b *testing.B) {
	dir := b.TempDir()
	var syncs atomic.Int64
	w, _, err := Open(Options{Dir: dir, OnSync: func(time.Duration, int) { syncs.Add(1) }})
	if err != nil {
		b.Fatal(err)
	}
	removed := make(chan struct{})
	go func() { // the uploader's part: drop sealed segments
		defer close(removed)
		for s := range w.Sealed() {
			if err := w.Remove(s.Seq); err != nil {
				b.Error(err)
			}
		}
	}()
	record := make([]byte, 1024)
	b.SetBytes(int64(len(record)))
	b.SetParallelism(32) // many producers per core, as a broker has
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			p, err := w.Write(record)
			if err != nil {
				b.Error(err)
				return
			}
			if err := p.Wait(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/float64(max(syncs.Load(), 1)), "records/fsync")
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	<-removed
}

// TestSlowConsumer: nobody receives from Sealed for a while; sealing, Seal and
// Wait carry on (the queue is internal), and delivery is in order afterwards.
func TestSlowConsumer(t *testing.T) {
	w, _, err := Open(Options{Dir: t.TempDir(), SealInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	var want []record
	for i := range 5 {
		p := []byte{byte(i)}
		pend := mustWrite(t, w, p)
		if err := w.Seal(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		mustWait(t, pend)
		want = append(want, record{data: p, seg: pend.Segment()})
	}
	c := collect(w) // the consumer shows up late
	segs := c.closeWAL(t, w)
	if len(segs) != 5 {
		t.Fatalf("%d segments delivered, want 5", len(segs))
	}
	equalRecords(t, readAll(t, segs), want)
}

// TestSealEarly: SealEarly seals the open segment only when it holds a
// record and every segment sealed before it was received from Sealed;
// Sealable tells when that may have become so.
func TestSealEarly(t *testing.T) {
	w, _, err := Open(Options{Dir: t.TempDir(), SealInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	receive := func() SegmentInfo {
		t.Helper()
		select {
		case info := <-w.Sealed():
			return info
		case <-ctx.Done():
			t.Fatal("no segment sealed")
		}
		return SegmentInfo{}
	}
	poked := func() bool {
		select {
		case <-w.Sealable():
			return true
		default:
			return false
		}
	}
	if seq := w.SealEarly(); seq != 0 {
		t.Fatalf("SealEarly of an empty segment asked to seal %d", seq)
	}
	if poked() {
		t.Fatal("Sealable with nothing written")
	}
	p1 := mustWrite(t, w, []byte("a"))
	if !poked() {
		t.Fatal("the first record of the open segment did not make it Sealable")
	}
	mustWrite(t, w, []byte("b"))
	if poked() {
		t.Fatal("Sealable again for the second record of the same segment")
	}
	if seq := w.SealEarly(); seq != p1.Segment() {
		t.Fatalf("SealEarly = %d, want the open segment %d", seq, p1.Segment())
	}
	// Seal waits until the early seal is queued on Sealed.
	if err := w.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	p3 := mustWrite(t, w, []byte("c"))
	if p3.Segment() == p1.Segment() {
		t.Fatalf("record written after the seal went to the sealed segment %d", p1.Segment())
	}
	if !poked() {
		t.Fatal("the first record of the next segment did not make it Sealable")
	}
	if seq := w.SealEarly(); seq != 0 {
		t.Fatalf("SealEarly = %d while sealed segment %d was not received yet", seq, p1.Segment())
	}
	segs := []SegmentInfo{receive()}
	// Receiving the sealed segment makes the open one, which holds a record, Sealable.
	select {
	case <-w.Sealable():
	case <-ctx.Done():
		t.Fatal("receiving a sealed segment while the open one holds records did not make it Sealable")
	}
	if seq := w.SealEarly(); seq != p3.Segment() {
		t.Fatalf("SealEarly = %d, want %d", seq, p3.Segment())
	}
	segs = append(segs, receive())
	if segs[0].Seq != p1.Segment() || segs[1].Seq != p3.Segment() {
		t.Fatalf("sealed %+v, want segments %d and %d", segs, p1.Segment(), p3.Segment())
	}
	equalRecords(t, readAll(t, segs), []record{
		{data: []byte("a"), seg: p1.Segment()}, {data: []byte("b"), seg: p1.Segment()}, {data: []byte("c"), seg: p3.Segment()},
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range w.Sealed() {
		}
	}()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	<-done
	if seq := w.SealEarly(); seq != 0 {
		t.Fatalf("SealEarly after Close = %d", seq)
	}
}
