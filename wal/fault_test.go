package wal

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/vfs/errorfs"
)

// The tests in this file fail one file operation at a time, through the
// errorfs injector, and check what the package doc promises: a failed write,
// fsync or segment creation fails the WAL (records not yet durable get
// ErrFailed, so does every later Write) while everything acknowledged before
// is recovered by the next Open; a failed Remove keeps the segment; an I/O
// error during Open fails Open and never cuts anything.

// isPath matches operations on exactly path.
func isPath(path string) func(errorfs.Op) bool {
	return func(op errorfs.Op) bool { return op.Path == path }
}

// mustFail checks that err is the WAL's failure caused by the injected fault.
func mustFail(t testing.TB, what string, err error) {
	t.Helper()
	if !errors.Is(err, ErrFailed) || !errors.Is(err, errorfs.ErrInjected) {
		t.Fatalf("%s: %v, want ErrFailed wrapping the injected fault", what, err)
	}
}

// checkFailed checks that a failed WAL refuses everything and delivers no more.
func checkFailed(t testing.TB, w *WAL) {
	t.Helper()
	if _, err := w.Write([]byte("after")); !errors.Is(err, ErrFailed) {
		t.Fatalf("Write after failure: %v, want ErrFailed", err)
	}
	if err := w.WaitRoom(testCtx(t)); !errors.Is(err, ErrFailed) {
		t.Fatalf("WaitRoom after failure: %v, want ErrFailed", err)
	}
	if err := w.Seal(testCtx(t)); !errors.Is(err, ErrFailed) {
		t.Fatalf("Seal after failure: %v, want ErrFailed", err)
	}
	mustFail(t, "Close after failure", w.Close())
}

// recoverAll reopens dir on the real file system and returns every record
// on disk and the Recovery.
func recoverAll(t testing.TB, dir string) ([]record, *Recovery) {
	t.Helper()
	w, rec, c := openTest(t, Options{Dir: dir, SealInterval: time.Hour})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.closed(t)
	return readAll(t, rec.Segments), rec
}

// TestFlushFaults: the write or the fsync of a group commit fails.
func TestFlushFaults(t *testing.T) {
	// Armed once Open is done, with no seal to come: the Nth matching call is
	// the Nth flush of records.
	tests := []struct {
		name string
		rule errorfs.Rule
	}{
		{"write fails", errorfs.Rule{Ops: ops(errorfs.OpWrite), Nth: 3}},
		{"short write", errorfs.Rule{Ops: ops(errorfs.OpWrite), Nth: 3, Fault: errorfs.ShortWrite}},
		{"fsync fails", errorfs.Rule{Ops: ops(errorfs.OpSync), Nth: 3}},
		{"first write fails", errorfs.Rule{Ops: ops(errorfs.OpWrite), Nth: 1}},
		{"first fsync fails", errorfs.Rule{Ops: ops(errorfs.OpSync), Nth: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			fsys := faultFS()
			w, _, c := openTest(t, Options{Dir: dir, SealInterval: time.Hour, FS: fsys})
			fsys.Inject(tt.rule)
			var want []record
			for i := range tt.rule.Nth - 1 {
				p := []byte(fmt.Sprintf("durable %d", i))
				pend := mustWrite(t, w, p)
				mustWait(t, pend)
				want = append(want, record{data: p, seg: pend.Segment()})
			}
			pend := mustWrite(t, w, []byte("lost"))
			mustFail(t, "Wait", pend.Wait(testCtx(t)))
			checkFailed(t, w)
			if segs := c.closed(t); len(segs) != 0 {
				t.Fatalf("delivered %+v: a segment whose tail failed must not be delivered", segs)
			}
			if n := len(fsys.Injected()); n != 1 {
				t.Fatalf("%d faults injected, want 1", n)
			}

			// What was acknowledged is recovered; the failed record may or
			// may not have reached the disk, but nothing torn is returned.
			got, _ := recoverAll(t, dir)
			if len(got) < len(want) {
				t.Fatalf("recovered %d records, want at least %d", len(got), len(want))
			}
			equalRecords(t, got[:len(want)], want)
		})
	}
}

// TestSealFaults: sealing segment 1 (the fsync of its tail, closing it, and
// each step of creating segment 2) fails.
func TestSealFaults(t *testing.T) {
	tests := []struct {
		name string
		rule func(dir string) errorfs.Rule
		// failed: the WAL fails. Otherwise it carries on as if nothing happened.
		failed bool
		// durable: the sealed segment's records were acknowledged and the
		// segment delivered before the WAL failed.
		durable bool
	}{
		{"fsync of the tail", func(string) errorfs.Rule { return errorfs.Rule{Ops: ops(errorfs.OpSync), Nth: 1} }, true, false},
		{"close of the sealed segment", func(string) errorfs.Rule { return errorfs.Rule{Ops: ops(errorfs.OpClose)} }, false, true},
		{"lstat of the next segment", func(string) errorfs.Rule { return errorfs.Rule{Ops: ops(errorfs.OpLstat)} }, true, true},
		{"create of the next segment", func(string) errorfs.Rule { return errorfs.Rule{Ops: ops(errorfs.OpCreate)} }, true, true},
		{"write of the next segment's header", func(dir string) errorfs.Rule {
			return errorfs.Rule{Ops: ops(errorfs.OpWrite), Match: isPath(segmentPath(dir, 2) + tmpSuffix)}
		}, true, true},
		{"short write of the next segment's header", func(dir string) errorfs.Rule {
			return errorfs.Rule{Ops: ops(errorfs.OpWrite), Match: isPath(segmentPath(dir, 2) + tmpSuffix), Fault: errorfs.ShortWrite}
		}, true, true},
		{"fsync of the next segment's header", func(dir string) errorfs.Rule {
			return errorfs.Rule{Ops: ops(errorfs.OpSync), Match: isPath(segmentPath(dir, 2) + tmpSuffix)}
		}, true, true},
		{"rename of the next segment", func(string) errorfs.Rule { return errorfs.Rule{Ops: ops(errorfs.OpRename)} }, true, true},
		{"directory fsync", func(string) errorfs.Rule { return errorfs.Rule{Ops: ops(errorfs.OpSyncDir)} }, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			fsys := faultFS()
			w, _, c := openTest(t, Options{Dir: dir, SealInterval: time.Hour, FS: fsys})
			var want []record
			for i := range 3 {
				p := []byte(fmt.Sprintf("record %d", i))
				pend := mustWrite(t, w, p)
				mustWait(t, pend)
				want = append(want, record{data: p, seg: pend.Segment()})
			}
			last := mustWrite(t, w, []byte("sealed with the segment"))
			fsys.Inject(tt.rule(dir))
			sealErr := w.Seal(testCtx(t))
			waitErr := last.Wait(testCtx(t))
			if len(fsys.Injected()) == 0 {
				t.Fatal("no fault injected")
			}
			if tt.durable {
				// The segment is whole and fsynced: acknowledged and delivered.
				if sealErr != nil || waitErr != nil {
					t.Fatalf("Seal: %v, Wait: %v; want both nil", sealErr, waitErr)
				}
				want = append(want, record{data: []byte("sealed with the segment"), seg: 1})
				if segs := c.wait(t, 1); segs[0].Seq != 1 {
					t.Fatalf("delivered %+v, want segment 1", segs)
				}
			} else {
				mustFail(t, "Seal", sealErr)
				mustFail(t, "Wait", waitErr)
			}
			if tt.failed {
				checkFailed(t, w)
			} else {
				fsys.Inject()
				p := mustWrite(t, w, []byte("after"))
				mustWait(t, p)
				want = append(want, record{data: []byte("after"), seg: p.Segment()})
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
			}
			segs := c.closed(t)
			if !tt.durable && len(segs) != 0 {
				t.Fatalf("delivered %+v: a segment whose tail failed must not be delivered", segs)
			}

			got, rec := recoverAll(t, dir)
			if len(got) < len(want) {
				t.Fatalf("recovered %d records, want at least %d", len(got), len(want))
			}
			equalRecords(t, got[:len(want)], want)
			if rec.Truncated != nil && tt.durable {
				t.Fatalf("Recovery cut %v from a segment that was whole", rec.Truncated)
			}
			for _, name := range listDir(t, dir) {
				if strings.HasSuffix(name, tmpSuffix) {
					t.Fatalf("temporary file %s left after a clean Open", name)
				}
			}
		})
	}
}

// TestRemoveFault: removing an uploaded segment fails; the error is
// returned, the segment stays on disk and counted, and Remove can be retried.
func TestRemoveFault(t *testing.T) {
	dir := t.TempDir()
	fsys := faultFS()
	w, _, c := openTest(t, Options{Dir: dir, SealInterval: time.Hour, FS: fsys})
	p := mustWrite(t, w, []byte("uploaded"))
	if err := w.Seal(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	mustWait(t, p)
	seg := c.wait(t, 1)[0]
	before := w.Stats().LiveBytes

	fsys.Inject(errorfs.Rule{Ops: ops(errorfs.OpRemove)})
	err := w.Remove(seg.Seq)
	if !errors.Is(err, errorfs.ErrInjected) || errors.Is(err, ErrFailed) {
		t.Fatalf("Remove: %v, want the injected fault (and the WAL not failed)", err)
	}
	if got := w.Stats().LiveBytes; got != before {
		t.Fatalf("LiveBytes %d after a failed Remove, want %d", got, before)
	}
	equalRecords(t, readAll(t, []SegmentInfo{seg}), []record{{data: []byte("uploaded")}})
	mustWait(t, mustWrite(t, w, []byte("the WAL carries on")))

	fsys.Inject()
	if err := w.Remove(seg.Seq); err != nil {
		t.Fatalf("Remove after the fault cleared: %v", err)
	}
	if _, err := os.Stat(seg.Path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("segment still on disk after Remove: %v", err)
	}
}

// writeSession writes records into three segments (two sealed by Seal, the
// last by Close) and returns what it wrote.
func writeSession(t *testing.T, dir string) []record {
	t.Helper()
	w, _, c := openTest(t, Options{Dir: dir, SealInterval: time.Hour})
	var want []record
	for i, p := range payloads(21, 12, 200) {
		pend := mustWrite(t, w, p)
		want = append(want, record{data: p, seg: pend.Segment()})
		if i%5 == 4 {
			if err := w.Seal(testCtx(t)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.closed(t)
	return want
}

// snapshotDir returns the names and sizes of the files in dir.
func snapshotDir(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, name := range listDir(t, dir) {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = st.Size()
	}
	return out
}

// TestOpenFaults: each file operation of a clean Open (no torn tail) fails
// in turn. Open reports the fault, cuts nothing, and a later Open recovers
// every record.
func TestOpenFaults(t *testing.T) {
	lastSeg := func(dir string) string { return segmentPath(dir, 3) }
	tests := []struct {
		name string
		rule func(dir string) errorfs.Rule
	}{
		{"mkdir-all", func(string) errorfs.Rule { return errorfs.Rule{Ops: ops(errorfs.OpMkdirAll)} }},
		{"read-dir", func(string) errorfs.Rule { return errorfs.Rule{Ops: ops(errorfs.OpReadDir)} }},
		{"open a segment", func(string) errorfs.Rule { return errorfs.Rule{Ops: ops(errorfs.OpOpen), Nth: 2} }},
		{"stat a segment", func(string) errorfs.Rule { return errorfs.Rule{Ops: ops(errorfs.OpStat)} }},
		{"first read", func(string) errorfs.Rule { return errorfs.Rule{Ops: ops(errorfs.OpRead), Nth: 1} }},
		{"read of the last segment", func(dir string) errorfs.Rule {
			// Not a torn tail: the bytes may be fine, so nothing may be cut.
			return errorfs.Rule{Ops: ops(errorfs.OpRead), Match: isPath(lastSeg(dir))}
		}},
		{"reads with a probability", func(string) errorfs.Rule {
			return errorfs.Rule{Ops: ops(errorfs.OpRead), Prob: 0.5, Seed: 3}
		}},
		{"lstat of the new segment", func(string) errorfs.Rule { return errorfs.Rule{Ops: ops(errorfs.OpLstat)} }},
		{"create of the new segment", func(string) errorfs.Rule { return errorfs.Rule{Ops: ops(errorfs.OpCreate)} }},
		{"write of its header", func(string) errorfs.Rule { return errorfs.Rule{Ops: ops(errorfs.OpWrite)} }},
		{"short write of its header", func(string) errorfs.Rule {
			return errorfs.Rule{Ops: ops(errorfs.OpWrite), Fault: errorfs.ShortWrite}
		}},
		{"fsync of its header", func(string) errorfs.Rule { return errorfs.Rule{Ops: ops(errorfs.OpSync)} }},
		{"rename into place", func(string) errorfs.Rule { return errorfs.Rule{Ops: ops(errorfs.OpRename)} }},
		{"directory fsync", func(string) errorfs.Rule { return errorfs.Rule{Ops: ops(errorfs.OpSyncDir)} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			want := writeSession(t, dir)
			if seq := want[len(want)-1].seg; seq != 3 {
				t.Fatalf("the session ended in segment %d, the test expects 3", seq)
			}
			before := snapshotDir(t, dir)

			openFailing(t, dir, faultFS(tt.rule(dir)))
			// Every segment is as it was: nothing cut, nothing saved aside.
			// Only the new segment's files may have been left.
			after := snapshotDir(t, dir)
			for name, size := range before {
				if after[name] != size {
					t.Fatalf("%s: %d bytes after the failed Open, %d before", name, after[name], size)
				}
			}
			for name := range after {
				if strings.Contains(name, corruptInfix) {
					t.Fatalf("%s saved aside by a failed Open", name)
				}
			}

			got, rec := recoverAll(t, dir)
			if rec.Truncated != nil {
				t.Fatalf("Recovery cut %v", rec.Truncated)
			}
			equalRecords(t, got, want)
		})
	}
}

// TestTornTailFaults: Open cuts a torn tail of the last segment, and each
// step of the cut fails in turn. Open reports the fault and the segment's
// valid records are never lost: a later Open cuts the tail and returns them.
func TestTornTailFaults(t *testing.T) {
	recs := payloads(31, 6, 100)
	seg, bounds := encodeSegment(2, recs)
	validEnd := bounds[len(bounds)-2]
	torn := seg[:validEnd+5] // the last frame cut short
	saved := func(op errorfs.Op) bool { return strings.Contains(op.Path, corruptInfix) }
	tests := []struct {
		name string
		rule func(dir string) errorfs.Rule
	}{
		{"open for the cut", func(string) errorfs.Rule { return errorfs.Rule{Ops: ops(errorfs.OpOpenReadWrite)} }},
		{"create the copy of the tail", func(string) errorfs.Rule { return errorfs.Rule{Ops: ops(errorfs.OpCreate), Match: saved} }},
		{"read the tail to copy it", func(dir string) errorfs.Rule {
			// The scan reads the segment first; fail the reads of the cut only.
			cutting := false
			return errorfs.Rule{Ops: ops(errorfs.OpOpenReadWrite, errorfs.OpRead), Match: func(op errorfs.Op) bool {
				cutting = cutting || op.Kind == errorfs.OpOpenReadWrite
				return cutting && op.Kind == errorfs.OpRead
			}}
		}},
		{"write the copy", func(string) errorfs.Rule { return errorfs.Rule{Ops: ops(errorfs.OpWrite), Match: saved} }},
		{"fsync the copy", func(string) errorfs.Rule { return errorfs.Rule{Ops: ops(errorfs.OpSync), Match: saved} }},
		{"close the copy", func(string) errorfs.Rule { return errorfs.Rule{Ops: ops(errorfs.OpClose), Match: saved} }},
		{"directory fsync after the copy", func(string) errorfs.Rule { return errorfs.Rule{Ops: ops(errorfs.OpSyncDir), Nth: 1} }},
		{"truncate", func(string) errorfs.Rule { return errorfs.Rule{Ops: ops(errorfs.OpTruncate)} }},
		{"fsync of the cut segment", func(dir string) errorfs.Rule {
			return errorfs.Rule{Ops: ops(errorfs.OpSync), Match: isPath(segmentPath(dir, 2))}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, segmentName(2))
			writeFile(t, path, torn)
			openFailing(t, dir, faultFS(tt.rule(dir)))
			// Either untouched or cut exactly at the end of the last valid frame.
			if got, err := os.ReadFile(path); err != nil || (len(got) != len(torn) && int64(len(got)) != validEnd) {
				t.Fatalf("segment 2 after the failed cut: %d bytes, %v", len(got), err)
			}

			got, rec := recoverAll(t, dir)
			equalRecords(t, got, recordsOf(recs[:len(recs)-1]))
			if rec.SavedTo != "" {
				copied, err := os.ReadFile(rec.SavedTo)
				if err != nil || !slices.Equal(copied, torn[validEnd:]) {
					t.Fatalf("saved tail %q, %v; want the cut bytes", copied, err)
				}
			}
		})
	}
}

// openFailing opens dir through fsys and expects the injected fault, as an
// I/O error: never as corruption.
func openFailing(t *testing.T, dir string, fsys *errorfs.FS) {
	t.Helper()
	w, _, err := Open(Options{Dir: dir, FS: fsys})
	if err == nil {
		w.Close()
		t.Fatalf("Open succeeded despite the fault (%d injected)", len(fsys.Injected()))
	}
	var ce *CorruptionError
	if !errors.Is(err, errorfs.ErrInjected) || errors.As(err, &ce) {
		t.Fatalf("Open: %v, want the injected fault, not corruption", err)
	}
}

func recordsOf(payloads [][]byte) []record {
	out := make([]record, len(payloads))
	for i, p := range payloads {
		out[i] = record{data: p}
	}
	return out
}

// TestReadSegmentFault: a read error is returned as an I/O error, not as
// corruption.
func TestReadSegmentFault(t *testing.T) {
	dir := t.TempDir()
	data, _ := encodeSegment(1, payloads(41, 3, 50))
	seg := SegmentInfo{Seq: 1, Path: filepath.Join(dir, segmentName(1)), Size: int64(len(data))}
	writeFile(t, seg.Path, data)
	for _, rule := range []errorfs.Rule{
		{Ops: ops(errorfs.OpOpen)},
		{Ops: ops(errorfs.OpRead)},
	} {
		err := ReadSegmentFS(faultFS(rule), seg, func([]byte) error { return nil })
		var ce *CorruptionError
		if !errors.Is(err, errorfs.ErrInjected) || errors.As(err, &ce) {
			t.Errorf("%v fails: ReadSegment returned %v, want the injected fault, not corruption", rule.Ops, err)
		}
	}
}
