package tiering

import (
	"bytes"
	"errors"
	"testing"

	"github.com/strata-io/strata/internal/batch/batchtest"
)

// Fuzz targets of the format's decoders. Run as tests they check their
// seeds; go test -fuzz=FuzzDecodeObject (one at a time) searches further.

// FuzzDecodeObject: any bytes are refused with an error wrapping
// ErrCorruptObject, or decode to ranges inside the object before its footer,
// in position order without overlap, each passing its check.
func FuzzDecodeObject(f *testing.F) {
	for i, shape := range [][3]int{{0, 0, 0}, {1, 1, 0}, {2, 3, 5}, {5, 2, 30}} {
		obj, _, _ := buildObject(f, shape[0], shape[1], shape[2], uint64(i))
		f.Add(obj)
		f.Add(obj[:len(obj)/2])
		f.Add(obj[:len(obj)-1])
		f.Add(obj[1:])
		for _, bit := range []int{0, 8*len(obj)/3 + 1, 8*len(obj) - 9, 8*len(obj) - footerSize*8 + 3} {
			bad := bytes.Clone(obj)
			bad[bit/8] ^= 1 << (bit % 8)
			f.Add(bad)
		}
	}
	f.Add([]byte(nil))
	f.Add([]byte(objectMagic))
	f.Fuzz(func(t *testing.T, obj []byte) {
		entries, err := DecodeObject(obj)
		if err != nil {
			if !errors.Is(err, ErrCorruptObject) {
				t.Fatalf("error does not wrap ErrCorruptObject: %v", err)
			}
			return
		}
		end := int64(0)
		for _, e := range entries {
			if e.Position < end || e.Size <= 0 || e.Position+e.Size > int64(len(obj)-footerSize) {
				t.Fatalf("accepted bad range %+v in %d bytes", e, len(obj))
			}
			if err := checkRange(obj[e.Position:e.Position+e.Size], e); err != nil {
				t.Fatalf("accepted range that fails its check: %v", err)
			}
			end = e.Position + e.Size
		}
	})
}

// FuzzDecodeBlockIndex: any bytes are refused or decode to blocks that tile
// the entry's range in offset order, and decoding a block never panics.
func FuzzDecodeBlockIndex(f *testing.F) {
	ab := NewArchiveBuilder(ArchiveOptions{Codec: CodecZstd, BlockBytes: 1})
	for i := range 2 {
		raw := makeBatch(f, batchSpec{BaseOffset: int64(3 * i), Records: 3, Timestamp: 9, ValueSize: 40, Values: batchtest.Text})
		if err := ab.Add(raw); err != nil {
			f.Fatal(err)
		}
	}
	obj, e, err := ab.Finish()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(obj[e.Size:e.Size+e.IndexSize], obj[:e.Size])
	f.Fuzz(func(t *testing.T, index, stored []byte) {
		x := e
		x.Size = int64(len(stored))
		blocks, err := decodeBlockIndex(x, index)
		if err != nil {
			return
		}
		pos := int64(0)
		for _, b := range blocks {
			if b.Position != pos || b.Size <= 0 {
				t.Fatalf("block %+v does not follow %d", b, pos)
			}
			pos += b.Size
			_, _ = decodeBlock(b, stored[b.Position:b.Position+b.Size])
		}
		if pos != x.Size {
			t.Fatalf("blocks end at %d of %d", pos, x.Size)
		}
	})
}

// FuzzDecodeEntry: a record shorter than the header is refused with
// ErrShortEntry; any other splits into a header that encodes back to the
// record's first EntryHeaderSize bytes, and the rest.
func FuzzDecodeEntry(f *testing.F) {
	f.Add([]byte(nil))
	f.Add([]byte("short"))
	f.Add(AppendEntryHeader(nil, testKey(1, 2), 3))
	f.Add(append(AppendEntryHeader(nil, testKey(0xff, -1), -1), "batch bytes"...))
	f.Fuzz(func(t *testing.T, rec []byte) {
		e, err := DecodeEntry(rec)
		if len(rec) < EntryHeaderSize {
			if !errors.Is(err, ErrShortEntry) {
				t.Fatalf("%d bytes: err = %v, want ErrShortEntry", len(rec), err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendEntryHeader(nil, e.Key, e.Epoch); !bytes.Equal(got, rec[:EntryHeaderSize]) {
			t.Fatalf("header %x encodes back to %x", rec[:EntryHeaderSize], got)
		}
		if !bytes.Equal(e.Data, rec[EntryHeaderSize:]) {
			t.Fatalf("data %x, want %x", e.Data, rec[EntryHeaderSize:])
		}
	})
}

// FuzzDecodeBlock: any stored bytes of an archive block, read as stored or
// as a zstd frame, are refused or decode to batches that agree with the
// block (its size, CRC-32C, offsets, max timestamp and count).
func FuzzDecodeBlock(f *testing.F) {
	var blocks []Block
	var objs [][]byte
	for _, codec := range []Codec{CodecNone, CodecZstd} {
		ab := NewArchiveBuilder(ArchiveOptions{Codec: codec})
		for i := range 3 {
			if err := ab.Add(makeBatch(f, batchSpec{BaseOffset: int64(4 * i), Records: 4, Timestamp: 20, ValueSize: 50, Values: batchtest.Text})); err != nil {
				f.Fatal(err)
			}
		}
		obj, e, err := ab.Finish()
		if err != nil {
			f.Fatal(err)
		}
		bs, err := decodeBlockIndex(e, obj[e.Size:e.Size+e.IndexSize])
		if err != nil || len(bs) != 1 || bs[0].Codec != codec {
			f.Fatalf("archive with %v: blocks %+v, %v", codec, bs, err)
		}
		blocks = append(blocks, bs[0])
		objs = append(objs, obj)
	}
	for i, b := range blocks {
		stored := objs[i][b.Position : b.Position+b.Size]
		f.Add(stored, b.Codec == CodecZstd)
		f.Add(stored[:len(stored)-1], b.Codec == CodecZstd)
		f.Add(stored, b.Codec != CodecZstd)
	}
	f.Add([]byte(nil), true)
	f.Fuzz(func(t *testing.T, stored []byte, compressed bool) {
		b := blocks[0] // the raw batches' block; its codec set as the input says
		b.Codec = CodecNone
		if compressed {
			b.Codec = CodecZstd
		}
		raw, err := decodeBlock(b, stored)
		if err != nil {
			return
		}
		if err := checkRange(raw, b.want()); err != nil {
			t.Fatalf("accepted a block that fails its check: %v", err)
		}
	})
}
