package tiering

import (
	"errors"
	"testing"

	"github.com/strata-io/strata/internal/vfs"
	"github.com/strata-io/strata/internal/vfs/errorfs"
	"github.com/strata-io/strata/objectstore"
)

// The tests in this file fail the disk tier's file operations through the
// errorfs injector and check its promise: a range file is served only if
// whole and checked; a failed operation costs at most a GET, never a wrong
// byte, and leaves no file behind that a later read or restart could serve.

// openDiskReader opens a reader with no memory tier and a disk tier in dir
// whose file operations go through fsys. It is closed when the test ends.
func openDiskReader(t *testing.T, b objectstore.Bucket, fsys vfs.FS, dir string) *Reader {
	t.Helper()
	r := openTestReader(t, b, ReaderOptions{})
	d, err := openDiskCacheFS(fsys, dir, 1<<20, r.m, r.log)
	if err != nil {
		t.Fatal(err)
	}
	r.disk = d // before any read: nothing else uses r.disk yet
	return r
}

func ruleOps(k ...errorfs.Kind) []errorfs.Kind { return k }

// TestDiskTierWriteFaults: writing a range file fails at each step. The
// range is served from the bucket, no file is left, and the next read of the
// range goes to the bucket again and then writes it whole.
func TestDiskTierWriteFaults(t *testing.T) {
	const tmp = diskTmpPrefix + "*"
	tests := []struct {
		name string
		rule errorfs.Rule
	}{
		{"create", errorfs.Rule{Ops: ruleOps(errorfs.OpCreate)}},
		{"write of the header", errorfs.Rule{Ops: ruleOps(errorfs.OpWrite), Nth: 1}},
		{"write of the range", errorfs.Rule{Ops: ruleOps(errorfs.OpWrite), Nth: 2}},
		{"short write of the range", errorfs.Rule{Ops: ruleOps(errorfs.OpWrite), Nth: 2, Fault: errorfs.ShortWrite}},
		{"close", errorfs.Rule{Ops: ruleOps(errorfs.OpClose), Path: tmp}},
		{"rename into place", errorfs.Rule{Ops: ruleOps(errorfs.OpRename)}},
		{"rename, and the removal of the temporary file", errorfs.Rule{Ops: ruleOps(errorfs.OpRename, errorfs.OpRemove), Path: tmp}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newFaultyMem(t)
			entries, data := putObject(t, b, "segments/a.seg", 1, 100)
			dir := t.TempDir()
			fsys := errorfs.Wrap(vfs.Default, tt.rule)
			r := openDiskReader(t, b, fsys, dir)
			gets := func() int { return b.Calls(objectstore.OpGetRange) }

			mustRead(t, r, entries[0], data[0])
			r.settle()
			if len(fsys.Injected()) == 0 {
				t.Fatal("no fault injected")
			}
			if got := counterValue(t, r.m.diskWriteErrors); got != 1 {
				t.Errorf("disk write errors = %v, want 1", got)
			}
			if ranges, _ := rangeFiles(t, dir); len(ranges) != 0 {
				t.Fatalf("range files %v after a failed write", ranges)
			}

			fsys.Inject() // the disk is well again
			mustRead(t, r, entries[0], data[0])
			if gets() != 2 {
				t.Fatalf("%d GETs, want 2: the failed write cached nothing", gets())
			}
			r.settle()
			mustRead(t, r, entries[0], data[0])
			if gets() != 2 {
				t.Fatalf("%d GETs, want 2: the range is on disk now", gets())
			}
			if ranges, _ := rangeFiles(t, dir); len(ranges) != 1 {
				t.Fatalf("range files %v after a good write, want one", ranges)
			}

			// A temporary file the failure could not remove is never served
			// and goes at the next open.
			r.Close()
			r2 := openDiskReader(t, b, vfs.Default, dir)
			if _, other := rangeFiles(t, dir); len(other) != 0 {
				t.Fatalf("files left after a restart: %v", other)
			}
			mustRead(t, r2, entries[0], data[0])
			if gets() != 2 {
				t.Fatalf("%d GETs after a restart, want 2", gets())
			}
		})
	}
}

// TestDiskTierBadReads: a range file is written damaged, read back damaged,
// or cannot be read. The read is served from the bucket, the file is
// discarded, and the range is written again whole.
func TestDiskTierBadReads(t *testing.T) {
	tests := []struct {
		name  string
		write []errorfs.Rule // armed while the range is first written
		read  []errorfs.Rule // armed for the second read
	}{
		{name: "a bit flipped on its way to disk", write: []errorfs.Rule{{Ops: ruleOps(errorfs.OpWrite), Nth: 2, Fault: errorfs.Corrupt}}},
		{name: "a bit flipped in the header on its way to disk", write: []errorfs.Rule{{Ops: ruleOps(errorfs.OpWrite), Nth: 1, Fault: errorfs.Corrupt}}},
		{name: "a bit flipped on its way back", read: []errorfs.Rule{{Ops: ruleOps(errorfs.OpRead), Nth: 1, Fault: errorfs.Corrupt}}},
		{name: "open fails", read: []errorfs.Rule{{Ops: ruleOps(errorfs.OpOpen)}}},
		{name: "read fails", read: []errorfs.Rule{{Ops: ruleOps(errorfs.OpRead)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newFaultyMem(t)
			entries, data := putObject(t, b, "segments/a.seg", 1, 100)
			dir := t.TempDir()
			fsys := errorfs.Wrap(vfs.Default, tt.write...)
			r := openDiskReader(t, b, fsys, dir)
			gets := func() int { return b.Calls(objectstore.OpGetRange) }

			mustRead(t, r, entries[0], data[0])
			r.settle()
			if ranges, _ := rangeFiles(t, dir); len(ranges) != 1 {
				t.Fatalf("%d range files, want 1", len(ranges))
			}
			fsys.Inject(tt.read...)
			mustRead(t, r, entries[0], data[0]) // never the damaged bytes
			if len(fsys.Injected()) == 0 {
				t.Fatal("no fault injected")
			}
			if gets() != 2 {
				t.Fatalf("%d GETs, want 2: the bad file must not be served", gets())
			}
			if got := counterValue(t, r.m.diskDiscarded); got != 1 {
				t.Errorf("discarded files = %v, want 1", got)
			}
			r.settle()
			fsys.Inject()
			mustRead(t, r, entries[0], data[0])
			if gets() != 2 {
				t.Fatalf("%d GETs, want 2: the range was written again", gets())
			}
			if ranges, other := rangeFiles(t, dir); len(ranges) != 1 || len(other) != 0 {
				t.Fatalf("files: ranges %v, others %v; want one range file", ranges, other)
			}
		})
	}
}

// TestDiskTierOpenFaults: opening the tier fails to list or create its
// directory (the reader does not open), or cannot read a file a previous
// run left (that file is dropped, its range read from the bucket).
func TestDiskTierOpenFaults(t *testing.T) {
	b := newFaultyMem(t)
	entries, data := putObject(t, b, "segments/a.seg", 2, 100)
	dir := t.TempDir()
	r := openDiskReader(t, b, vfs.Default, dir)
	for i := range entries {
		mustRead(t, r, entries[i], data[i])
	}
	r.settle()
	r.Close()

	for _, rule := range []errorfs.Rule{{Ops: ruleOps(errorfs.OpMkdirAll)}, {Ops: ruleOps(errorfs.OpReadDir)}} {
		m := newReaderMetrics(nil)
		if d, err := openDiskCacheFS(errorfs.Wrap(vfs.Default, rule), dir, 1<<20, m, r.log); !errors.Is(err, errorfs.ErrInjected) {
			if d != nil {
				d.close()
			}
			t.Errorf("%v fails: open returned %v, want the injected fault", rule.Ops, err)
		}
	}

	for _, rule := range []errorfs.Rule{
		{Ops: ruleOps(errorfs.OpOpen), Nth: 1},
		{Ops: ruleOps(errorfs.OpRead), Nth: 1},
		{Ops: ruleOps(errorfs.OpStat), Nth: 1},
	} {
		before := b.Calls(objectstore.OpGetRange)
		r := openDiskReader(t, b, errorfs.Wrap(vfs.Default, rule), dir)
		if ranges, _ := rangeFiles(t, dir); len(ranges) != 1 {
			t.Fatalf("%v fails at open: %d range files left, want 1", rule.Ops, len(ranges))
		}
		for i := range entries {
			mustRead(t, r, entries[i], data[i])
		}
		if n := b.Calls(objectstore.OpGetRange) - before; n != 1 {
			t.Fatalf("%v fails at open: %d GETs, want 1", rule.Ops, n)
		}
		r.settle()
		r.Close()
	}
}
