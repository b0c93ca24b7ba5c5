package tiering

import (
	"bytes"
	"errors"
	"testing"

	"github.com/strata-io/strata/internal/batch/batchtest"
	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/objectstore"
)

// putArchive builds an archive of n batches of 4 records with opts and PUTs
// it as name; it returns the entry and the batches.
func putArchive(t *testing.T, b objectstore.Bucket, name string, n int, text bool, opts ArchiveOptions) (metadata.ManifestEntry, [][]byte) {
	values := batchtest.Random
	if text {
		values = batchtest.Text
	}
	t.Helper()
	ab := NewArchiveBuilder(opts)
	var batches [][]byte
	for i := range n {
		raw := makeBatch(t, batchSpec{BaseOffset: int64(10 + 4*i), Records: 4, Timestamp: int64(1000 + 10*i), ValueSize: 100, Seed: 3, Values: values})
		if err := ab.Add(raw); err != nil {
			t.Fatal(err)
		}
		batches = append(batches, raw)
	}
	obj, e, err := ab.Finish()
	if err != nil {
		t.Fatal(err)
	}
	e.Object = name
	if err := b.Put(t.Context(), name, bytes.NewReader(obj), int64(len(obj))); err != nil {
		t.Fatal(err)
	}
	return e, batches
}

// TestArchiveRoundTrip: an archive's blocks hold every batch in order, cut
// at the block size, each compressed with zstd when asked, and the entry
// sums them up.
func TestArchiveRoundTrip(t *testing.T) {
	for _, codec := range []Codec{CodecNone, CodecZstd} {
		t.Run(codec.String(), func(t *testing.T) {
			b := newFaultyMem(t)
			e, batches := putArchive(t, b, "segments/arch", 40, true, ArchiveOptions{Codec: codec, BlockBytes: 2000})
			raw := bytes.Join(batches, nil)
			r := NewReader(b, 1<<20, nil)
			blocks, err := r.Blocks(t.Context(), e)
			if err != nil {
				t.Fatal(err)
			}
			per := 2000/len(batches[0]) + 1 // batches to reach the block size
			if want := (len(batches) + per - 1) / per; len(blocks) != want {
				t.Fatalf("%d blocks, want %d", len(blocks), want)
			}
			for _, blk := range blocks {
				if blk.Codec != codec {
					t.Fatalf("block %+v stored with %v, want %v", blk, blk.Codec, codec)
				}
			}
			if e.BaseOffset != 10 || e.LastOffset != 10+4*40-1 || e.Batches != 40 || e.MaxTimestamp != 1000+10*39+3 {
				t.Fatalf("entry %+v", e)
			}
			switch {
			case codec == CodecNone && e.Size != int64(len(raw)):
				t.Fatalf("stored as is in %d bytes, batches are %d", e.Size, len(raw))
			case codec == CodecZstd && e.Size*2 > int64(len(raw)):
				t.Fatalf("zstd stored %d bytes of text batches of %d: less than 2:1", e.Size, len(raw))
			}
			got, err := r.Read(t.Context(), e)
			if err != nil || !bytes.Equal(got, raw) {
				t.Fatalf("read back %d bytes (%v), want the %d bytes added", len(got), err, len(raw))
			}
		})
	}
}

// TestArchiveIncompressible: a block zstd cannot shrink is stored as is.
func TestArchiveIncompressible(t *testing.T) {
	b := newFaultyMem(t)
	ab := NewArchiveBuilder(ArchiveOptions{Codec: CodecZstd})
	raw := makeBatch(t, batchSpec{Records: 1, ValueSize: 64 << 10})
	if err := ab.Add(raw); err != nil {
		t.Fatal(err)
	}
	obj, e, err := ab.Finish()
	if err != nil {
		t.Fatal(err)
	}
	e.Object = "segments/rand"
	if err := b.Put(t.Context(), e.Object, bytes.NewReader(obj), int64(len(obj))); err != nil {
		t.Fatal(err)
	}
	blocks, err := NewReader(b, 0, nil).Blocks(t.Context(), e)
	if err != nil || len(blocks) != 1 || blocks[0].Codec != CodecNone || blocks[0].Size != int64(len(raw)) {
		t.Fatalf("blocks %+v, %v: want one stored as is", blocks, err)
	}
	mustRead(t, NewReader(b, 0, nil), e, raw)
}

// TestArchiveRangedRead: reading from an offset in the middle GETs the block
// index and the one block holding it, never the whole object; the index is
// cached, and read-ahead takes the blocks after it.
func TestArchiveRangedRead(t *testing.T) {
	b := newFaultyMem(t)
	e, batches := putArchive(t, b, "segments/arch", 40, true, ArchiveOptions{Codec: CodecZstd, BlockBytes: 2000})
	r := openTestReader(t, b, ReaderOptions{CacheBytes: 1 << 20})
	offset := int64(10 + 4*25 + 1) // inside batch 25
	got, err := r.ReadFrom(t.Context(), []metadata.ManifestEntry{e}, offset, 1)
	if err != nil || len(got) != 1 {
		t.Fatalf("ReadFrom: %d blocks, %v", len(got), err)
	}
	if !bytes.Contains(got[0], batches[25]) {
		t.Fatal("the block read does not hold the batch of the offset asked for")
	}
	if n := b.Calls(objectstore.OpGetRange); n != 2 {
		t.Fatalf("%d GETs, want 2 (the index and one block)", n)
	}
	if _, err := r.ReadFrom(t.Context(), []metadata.ManifestEntry{e}, e.BaseOffset, 1); err != nil {
		t.Fatal(err)
	}
	if n := b.Calls(objectstore.OpGetRange); n != 3 {
		t.Fatalf("%d GETs after reading the first block, want 3 (the index is cached)", n)
	}

	blocks, err := r.Blocks(t.Context(), e)
	if err != nil {
		t.Fatal(err)
	}
	ra := openTestReader(t, b, ReaderOptions{CacheBytes: 1 << 20, ReadAheadBytes: blocks[1].RawSize + blocks[2].RawSize})
	before := b.Calls(objectstore.OpGetRange)
	if _, err := ra.ReadFrom(t.Context(), []metadata.ManifestEntry{e}, e.BaseOffset, 1); err != nil {
		t.Fatal(err)
	}
	ra.settle()
	// The index, the first block, and read-ahead of the next two.
	if n := b.Calls(objectstore.OpGetRange) - before; n != 4 {
		t.Fatalf("%d GETs with read-ahead, want 4", n)
	}
}

// TestArchiveDiskTier: blocks kept on disk are stored compressed and served
// decoded without a GET.
func TestArchiveDiskTier(t *testing.T) {
	b := newFaultyMem(t)
	e, batches := putArchive(t, b, "segments/arch", 40, true, ArchiveOptions{Codec: CodecZstd, BlockBytes: 2000})
	dir := t.TempDir()
	r := openTestReader(t, b, ReaderOptions{DiskDir: dir, DiskBytes: 1 << 20})
	mustRead(t, r, e, bytes.Join(batches, nil))
	r.settle()
	gets := b.Calls(objectstore.OpGetRange)
	mustRead(t, r, e, bytes.Join(batches, nil))
	if n := b.Calls(objectstore.OpGetRange); n != gets {
		t.Fatalf("%d GETs on the second read, want none", n-gets)
	}
	r.disk.mu.Lock()
	used := r.disk.used
	r.disk.mu.Unlock()
	if used != e.Size+e.IndexSize {
		t.Fatalf("disk tier holds %d bytes, want the %d stored bytes of blocks and index", used, e.Size+e.IndexSize)
	}
}

// TestArchiveCorruption: a damaged block or index is an ErrCorruptObject,
// never served.
func TestArchiveCorruption(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   func(e metadata.ManifestEntry) int64
	}{
		{"block", func(metadata.ManifestEntry) int64 { return 20 }},
		{"index", func(e metadata.ManifestEntry) int64 { return e.Size + 30 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := objectstore.NewMem()
			t.Cleanup(func() { mem.Close() })
			e, _ := putArchive(t, mem, "segments/arch", 40, true, ArchiveOptions{Codec: CodecZstd, BlockBytes: 2000})
			obj := getAll(t, mem, e.Object)
			obj[tc.at(e)] ^= 0x40
			if err := mem.Put(t.Context(), e.Object, bytes.NewReader(obj), int64(len(obj))); err != nil {
				t.Fatal(err)
			}
			if _, err := NewReader(mem, 1<<20, nil).Read(t.Context(), e); !errors.Is(err, ErrCorruptObject) {
				t.Fatalf("read of a damaged %s: %v, want ErrCorruptObject", tc.name, err)
			}
		})
	}
}

func getAll(t *testing.T, b objectstore.Bucket, name string) []byte {
	t.Helper()
	size, err := b.Size(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := b.GetRange(t.Context(), name, 0, size)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(rc); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
