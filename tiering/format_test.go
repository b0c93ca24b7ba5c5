package tiering

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-io/strata/internal/batch"
	"github.com/strata-io/strata/internal/batch/batchtest"
	"github.com/strata-io/strata/metadata"
)

// Tests of format.go: the WAL entry header, segment objects and archive
// block indexes, and the golden files of each.

func TestEntryHeaderRoundTrip(t *testing.T) {
	payload := []byte("batch bytes")
	for _, tc := range []struct {
		name  string
		topic byte
		part  int32
	}{
		{"zero", 0, 0},
		{"small", 1, 3},
		{"max partition", 0xff, math.MaxInt32},
		{"negative partition", 0x42, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := testKey(tc.topic, tc.part)
			rec := AppendEntryHeader([]byte(nil), key, 1<<40+int64(tc.part))
			if len(rec) != EntryHeaderSize {
				t.Fatalf("header is %d bytes, want %d", len(rec), EntryHeaderSize)
			}
			rec = append(rec, payload...)
			got, err := DecodeEntry(rec)
			if err != nil {
				t.Fatal(err)
			}
			if got.Key != key || got.Epoch != 1<<40+int64(tc.part) || !bytes.Equal(got.Data, payload) {
				t.Fatalf("DecodeEntry = %+v, want %v epoch %d %q", got, key, 1<<40+int64(tc.part), payload)
			}
		})
	}
}

func TestEntryHeaderAppends(t *testing.T) {
	prefix := []byte("prefix")
	rec := AppendEntryHeader(append([]byte(nil), prefix...), testKey(9, 9), 7)
	if !bytes.HasPrefix(rec, prefix) || len(rec) != len(prefix)+EntryHeaderSize {
		t.Fatalf("AppendEntryHeader did not append: %x", rec)
	}
}

func TestDecodeEntryShort(t *testing.T) {
	full := AppendEntryHeader(nil, testKey(1, 2), 3)
	for n := range EntryHeaderSize {
		if _, err := DecodeEntry(full[:n]); !errors.Is(err, ErrShortEntry) {
			t.Errorf("%d bytes: err = %v, want ErrShortEntry", n, err)
		}
	}
	e, err := DecodeEntry(full)
	if err != nil || e.Key != testKey(1, 2) || e.Epoch != 3 || len(e.Data) != 0 {
		t.Fatalf("header only: %+v %v", e, err)
	}
}

// wantRange is what a test added for one partition.
type wantRange struct {
	key     metadata.PartitionKey
	data    []byte
	base    int64
	last    int64
	maxTs   int64
	batches int32
}

// buildObject adds batchesPer batches of valueSize-byte records to each of
// partitions partitions, interleaved as the WAL interleaves them, and returns
// the object, its index and what was added (sorted by key).
func buildObject(t testing.TB, partitions, batchesPer, valueSize int, seed uint64) ([]byte, []IndexEntry, []wantRange) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	want := make(map[metadata.PartitionKey]*wantRange)
	next := make(map[metadata.PartitionKey]int64)
	var keys []metadata.PartitionKey
	for p := range partitions {
		k := testKey(byte(p%3), int32(p/3))
		keys = append(keys, k)
		next[k] = int64(rng.IntN(1000))
	}
	var b ObjectBuilder
	for range batchesPer {
		for _, k := range rng.Perm(len(keys)) {
			key := keys[k]
			recs := 1 + rng.IntN(4)
			ts := int64(1_700_000_000_000 + rng.IntN(1_000_000))
			raw := makeBatch(t, batchSpec{BaseOffset: next[key], Records: recs, Timestamp: ts, ValueSize: valueSize, Seed: seed})
			if err := b.Add(key, raw); err != nil {
				t.Fatalf("Add: %v", err)
			}
			w := want[key]
			if w == nil {
				w = &wantRange{key: key, base: next[key], maxTs: ts + int64(recs-1)}
				want[key] = w
			}
			w.data = append(w.data, raw...)
			w.last = next[key] + int64(recs-1)
			w.maxTs = max(w.maxTs, ts+int64(recs-1))
			w.batches++
			next[key] += int64(recs) + int64(rng.IntN(2)) // gaps are allowed
		}
	}
	obj, index := b.Finish()
	var ws []wantRange
	for _, w := range want {
		ws = append(ws, *w)
	}
	sortWant(ws)
	return obj, index, ws
}

func sortWant(ws []wantRange) {
	for i := 1; i < len(ws); i++ {
		for j := i; j > 0 && compareKeys(ws[j].key, ws[j-1].key) < 0; j-- {
			ws[j], ws[j-1] = ws[j-1], ws[j]
		}
	}
}

func TestObjectRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		partitions, batches, valueSize int
	}{
		{0, 0, 0},
		{1, 1, 0},
		{1, 1, 1},
		{1, 1, indexEntrySize - 1},
		{1, 1, indexEntrySize},
		{1, 1, indexEntrySize + 1},
		{1, 1, footerSize},
		{1, 100, 10},
		{2, 1, 0},
		{3, 7, 100},
		{10, 3, 4095},
		{10, 3, 4096},
		{10, 3, 4097},
		{64, 2, 1},
		{200, 1, 0},
	} {
		t.Run(fmt.Sprintf("p%d-b%d-v%d", tc.partitions, tc.batches, tc.valueSize), func(t *testing.T) {
			obj, index, want := buildObject(t, tc.partitions, tc.batches, tc.valueSize, uint64(tc.valueSize))
			checkIndex(t, obj, index, want)
			got, err := DecodeObject(obj)
			if err != nil {
				t.Fatalf("DecodeObject: %v", err)
			}
			if len(got) != len(index) {
				t.Fatalf("decoded %d entries, built %d", len(got), len(index))
			}
			for i := range got {
				if got[i] != index[i] {
					t.Errorf("entry %d: decoded %+v, built %+v", i, got[i], index[i])
				}
			}
		})
	}
}

// checkIndex compares a built object and index with what was added.
func checkIndex(t *testing.T, obj []byte, index []IndexEntry, want []wantRange) {
	t.Helper()
	if len(index) != len(want) {
		t.Fatalf("%d index entries, want %d", len(index), len(want))
	}
	size := footerSize + len(index)*indexEntrySize
	pos := int64(0)
	for i, e := range index {
		w := want[i]
		if e.Key != w.key || e.Position != pos || e.Size != int64(len(w.data)) || e.BaseOffset != w.base ||
			e.LastOffset != w.last || e.MaxTimestamp != w.maxTs || e.Batches != w.batches ||
			e.CRC != crc32.Checksum(w.data, castagnoli) {
			t.Fatalf("entry %d = %+v, want %+v at %d", i, e, w, pos)
		}
		if !bytes.Equal(obj[e.Position:e.Position+e.Size], w.data) {
			t.Fatalf("entry %d: range bytes differ from the batches added", i)
		}
		pos += e.Size
		size += len(w.data)
	}
	if len(obj) != size {
		t.Fatalf("object is %d bytes, want %d", len(obj), size)
	}
}

func TestObjectBuilderReuse(t *testing.T) {
	var b ObjectBuilder
	k := testKey(1, 0)
	if err := b.Add(k, makeBatch(t, batchSpec{BaseOffset: 10, Records: 2})); err != nil {
		t.Fatal(err)
	}
	if _, index := b.Finish(); len(index) != 1 {
		t.Fatalf("first object: %d entries", len(index))
	}
	// Finish reset the builder: the same offsets are accepted again, and an
	// empty builder makes an empty, valid object.
	if err := b.Add(k, makeBatch(t, batchSpec{BaseOffset: 10, Records: 2})); err != nil {
		t.Fatalf("after Finish: %v", err)
	}
	b.Finish()
	obj, index := b.Finish()
	if len(index) != 0 || len(obj) != footerSize {
		t.Fatalf("empty object: %d bytes, %d entries", len(obj), len(index))
	}
	if got, err := DecodeObject(obj); err != nil || len(got) != 0 {
		t.Fatalf("DecodeObject(empty) = %v, %v", got, err)
	}
}

func TestObjectBuilderRejects(t *testing.T) {
	good := makeBatch(t, batchSpec{BaseOffset: 100, Records: 3})
	badMagic := bytes.Clone(good)
	badMagic[16] = 1
	for _, tc := range []struct {
		name  string
		first []byte // added before, must succeed
		batch []byte
	}{
		{"empty", nil, nil},
		{"short header", nil, good[:40]},
		{"truncated", nil, good[:len(good)-1]},
		{"two batches", nil, append(bytes.Clone(good), makeBatch(t, batchSpec{BaseOffset: 103, Records: 1})...)},
		{"trailing byte", nil, append(bytes.Clone(good), 0)},
		{"magic 1", nil, badMagic},
		{"same offset", good, good},
		{"overlapping", good, makeBatch(t, batchSpec{BaseOffset: 102, Records: 1})},
		{"backwards", good, makeBatch(t, batchSpec{BaseOffset: 50, Records: 1})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b ObjectBuilder
			k := testKey(1, 1)
			if tc.first != nil {
				if err := b.Add(k, tc.first); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Add(k, tc.batch); !errors.Is(err, ErrInvalidBatch) {
				t.Fatalf("Add = %v, want ErrInvalidBatch", err)
			}
			// Another partition is independent.
			if err := b.Add(testKey(2, 1), makeBatch(t, batchSpec{BaseOffset: 0, Records: 1})); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestDecodeObjectTruncatedAndFlipped: every truncation and every single-bit
// flip of a small object is detected.
func TestDecodeObjectTruncatedAndFlipped(t *testing.T) {
	obj, _, _ := buildObject(t, 3, 2, 3, 7)
	for n := range len(obj) {
		if _, err := DecodeObject(obj[:n]); !errors.Is(err, ErrCorruptObject) {
			t.Fatalf("truncated to %d of %d bytes: err = %v", n, len(obj), err)
		}
	}
	for i := range len(obj) * 8 {
		bad := bytes.Clone(obj)
		bad[i/8] ^= 1 << (i % 8)
		if _, err := DecodeObject(bad); !errors.Is(err, ErrCorruptObject) {
			t.Fatalf("bit %d of byte %d flipped: err = %v", i%8, i/8, err)
		}
	}
}

// rewriteIndex re-encodes obj's index after edit changes it, with a valid
// index CRC and footer, so that only the semantic checks can catch it.
func rewriteIndex(t *testing.T, obj []byte, edit func([]IndexEntry) []IndexEntry) []byte {
	t.Helper()
	entries, err := DecodeObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	indexPos := int(binary.BigEndian.Uint64(obj[len(obj)-footerSize:]))
	out := bytes.Clone(obj[:indexPos])
	for _, e := range edit(entries) {
		out = appendIndexEntry(out, e)
	}
	indexLen, indexCRC := len(out)-indexPos, crc32.Checksum(out[indexPos:], castagnoli)
	out = binary.BigEndian.AppendUint64(out, uint64(indexPos))
	out = binary.BigEndian.AppendUint32(out, uint32(indexLen))
	out = binary.BigEndian.AppendUint32(out, indexCRC)
	out = binary.BigEndian.AppendUint32(out, formatVersion)
	return append(out, objectMagic...)
}

func TestDecodeObjectRejectsBadIndex(t *testing.T) {
	obj, _, _ := buildObject(t, 3, 2, 10, 3)
	recrc := func(e *IndexEntry) {
		e.CRC = crc32.Checksum(obj[e.Position:e.Position+e.Size], castagnoli)
	}
	for _, tc := range []struct {
		name string
		edit func([]IndexEntry) []IndexEntry
	}{
		{"overlap", func(es []IndexEntry) []IndexEntry { es[1].Position--; es[1].Size++; recrc(&es[1]); return es }},
		{"out of order", func(es []IndexEntry) []IndexEntry { es[0], es[1] = es[1], es[0]; return es }},
		{"past the index", func(es []IndexEntry) []IndexEntry { es[2].Size++; return es }},
		{"negative position", func(es []IndexEntry) []IndexEntry { es[0].Position = -1; return es }},
		{"huge size", func(es []IndexEntry) []IndexEntry { es[2].Size = 1 << 62; return es }},
		{"zero size", func(es []IndexEntry) []IndexEntry { es[2].Size = 0; return es }},
		{"duplicate partition", func(es []IndexEntry) []IndexEntry { es[1].Key = es[0].Key; return es }},
		{"range crc", func(es []IndexEntry) []IndexEntry { es[1].CRC++; return es }},
		{"base offset", func(es []IndexEntry) []IndexEntry { es[1].BaseOffset++; return es }},
		{"last offset", func(es []IndexEntry) []IndexEntry { es[1].LastOffset--; return es }},
		{"max timestamp", func(es []IndexEntry) []IndexEntry { es[1].MaxTimestamp++; return es }},
		{"batch count", func(es []IndexEntry) []IndexEntry { es[1].Batches++; return es }},
		{"split batch", func(es []IndexEntry) []IndexEntry { es[1].Size--; recrc(&es[1]); return es }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := rewriteIndex(t, obj, tc.edit)
			if _, err := DecodeObject(bad); !errors.Is(err, ErrCorruptObject) {
				t.Fatalf("err = %v, want ErrCorruptObject", err)
			}
		})
	}
	// A gap between ranges is allowed (the format does not require tiling).
	gap := rewriteIndex(t, obj, func(es []IndexEntry) []IndexEntry { return es[1:] })
	if _, err := DecodeObject(gap); err != nil {
		t.Fatalf("gap before the first range: %v", err)
	}
}

func TestDecodeObjectRejectsBadFooter(t *testing.T) {
	obj, _, _ := buildObject(t, 2, 2, 1, 5)
	f := len(obj) - footerSize
	for _, tc := range []struct {
		name string
		edit func(b []byte)
	}{
		{"magic", func(b []byte) { b[f+27] = 'X' }},
		{"version 2", func(b []byte) { binary.BigEndian.PutUint32(b[f+16:], 2) }},
		{"index position past end", func(b []byte) { binary.BigEndian.PutUint64(b[f:], 1<<63) }},
		{"index length odd", func(b []byte) {
			binary.BigEndian.PutUint64(b[f:], binary.BigEndian.Uint64(b[f:])+1)
			binary.BigEndian.PutUint32(b[f+8:], binary.BigEndian.Uint32(b[f+8:])-1)
		}},
		{"index crc", func(b []byte) { b[f+12] ^= 0xff }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := bytes.Clone(obj)
			tc.edit(bad)
			if _, err := DecodeObject(bad); !errors.Is(err, ErrCorruptObject) {
				t.Fatalf("err = %v, want ErrCorruptObject", err)
			}
		})
	}
}

// TestDecodeBlockIndexRejects: an index whose blocks leave a gap, overlap,
// go backwards or disagree with the entry is refused.
func TestDecodeBlockIndexRejects(t *testing.T) {
	ab := NewArchiveBuilder(ArchiveOptions{BlockBytes: 1})
	for i := range 3 {
		if err := ab.Add(makeBatch(t, batchSpec{BaseOffset: int64(2 * i), Records: 2, Timestamp: 5, ValueSize: 10})); err != nil {
			t.Fatal(err)
		}
	}
	obj, e, err := ab.Finish()
	if err != nil {
		t.Fatal(err)
	}
	index := obj[e.Size : e.Size+e.IndexSize]
	if _, err := decodeBlockIndex(e, index); err != nil {
		t.Fatalf("a good index: %v", err)
	}
	edit := func(block, field int, v uint64) []byte {
		out := bytes.Clone(index)
		binary.BigEndian.PutUint64(out[block*blockEntrySize+field:], v)
		return out
	}
	for _, tc := range []struct {
		name  string
		index []byte
		e     metadata.ManifestEntry
	}{
		{"empty", nil, e},
		{"torn", index[:len(index)-1], e},
		{"gap", edit(1, 0, uint64(e.Size/3+1)), e},
		{"past the end", edit(2, 8, uint64(e.Size)), e},
		{"offsets backwards", edit(2, 24, 1), e},
		{"entry's last offset", index, func() metadata.ManifestEntry { x := e; x.LastOffset++; return x }()},
		{"entry's batches", index, func() metadata.ManifestEntry { x := e; x.Batches = 2; return x }()},
		{"entry's size", index, func() metadata.ManifestEntry { x := e; x.Size++; return x }()},
	} {
		if _, err := decodeBlockIndex(tc.e, tc.index); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func TestParseCodec(t *testing.T) {
	for in, want := range map[string]Codec{"": CodecNone, "none": CodecNone, "zstd": CodecZstd} {
		if got, err := ParseCodec(in); err != nil || got != want {
			t.Errorf("ParseCodec(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseCodec("lz4"); err == nil {
		t.Error("ParseCodec(lz4) accepted")
	}
}

// The golden files hold one WAL entry header, one segment object and two
// archives as the encoders wrote them before the format moved into one file.
// Each test decodes its file, encodes what it decoded again, and wants the
// same bytes back: a change to any frozen width, offset, byte order,
// checksum or constant fails here. Never rewrite them: a new format version
// adds files of its own (-update-golden writes every file anew; git diff must
// then show only the new ones).
var updateGolden = flag.Bool("update-golden", false, "write the golden files under testdata/format")

// goldenArchives are the archive golden files and the options they were
// built with.
var goldenArchives = []struct {
	file string
	opts ArchiveOptions
}{
	{"archive-none.hex", ArchiveOptions{Codec: CodecNone, BlockBytes: 700}},
	{"archive-zstd.hex", ArchiveOptions{Codec: CodecZstd, BlockBytes: 700}},
}

func TestGoldenEntryHeader(t *testing.T) {
	if *updateGolden {
		writeGolden(t, "entry.hex", AppendEntryHeader(nil, testKey(7, 0x01020304), 0x1122334455667788))
	}
	golden := readGolden(t, "entry.hex")
	e, err := DecodeEntry(golden)
	if err != nil {
		t.Fatal(err)
	}
	if e.Key.Partition != 0x01020304 || e.Epoch != 0x1122334455667788 || len(e.Data) != 0 {
		t.Fatalf("DecodeEntry = %+v", e)
	}
	if got := AppendEntryHeader(nil, e.Key, e.Epoch); !bytes.Equal(got, golden) {
		t.Fatalf("AppendEntryHeader = %x, golden %x", got, golden)
	}
}

func TestGoldenSegmentObject(t *testing.T) {
	if *updateGolden {
		obj, _, _ := buildObject(t, 4, 3, 8, 11)
		writeGolden(t, "object.hex", obj)
	}
	golden := readGolden(t, "object.hex")
	index, err := DecodeObject(golden)
	if err != nil {
		t.Fatal(err)
	}
	if len(index) != 4 {
		t.Fatalf("%d partitions, want 4", len(index))
	}
	var b ObjectBuilder
	for _, e := range index {
		rng := golden[e.Position : e.Position+e.Size]
		if err := batch.Iter(rng, func(_ batch.Header, raw []byte) error { return b.Add(e.Key, raw) }); err != nil {
			t.Fatal(err)
		}
	}
	obj, again := b.Finish()
	if !bytes.Equal(obj, golden) {
		t.Fatalf("the object built again differs from the golden one:\n got %x\nwant %x", obj, golden)
	}
	for i := range index {
		if again[i] != index[i] {
			t.Fatalf("index entry %d built again: %+v, decoded %+v", i, again[i], index[i])
		}
	}
}

func TestGoldenArchive(t *testing.T) {
	for _, g := range goldenArchives {
		t.Run(g.file, func(t *testing.T) {
			if *updateGolden {
				ab := NewArchiveBuilder(g.opts)
				for i := range 6 {
					raw := makeBatch(t, batchSpec{BaseOffset: int64(100 + 5*i), Records: 3, Timestamp: int64(5000 - 7*i), ValueSize: 90, Seed: 5, Values: batchtest.Text})
					if err := ab.Add(raw); err != nil {
						t.Fatal(err)
					}
				}
				obj, _, err := ab.Finish()
				if err != nil {
					t.Fatal(err)
				}
				writeGolden(t, g.file, obj)
			}
			golden := readGolden(t, g.file)
			e := goldenArchiveEntry(t, golden)
			blocks, err := decodeBlockIndex(e, golden[e.Size:e.Size+e.IndexSize])
			if err != nil {
				t.Fatal(err)
			}
			if len(blocks) < 2 {
				t.Fatalf("%d blocks, want several", len(blocks))
			}
			ab := NewArchiveBuilder(g.opts)
			for _, blk := range blocks {
				if blk.Codec != g.opts.Codec {
					t.Fatalf("block %+v stored with %v, want %v", blk, blk.Codec, g.opts.Codec)
				}
				raw, err := decodeBlock(blk, golden[blk.Position:blk.Position+blk.Size])
				if err != nil {
					t.Fatal(err)
				}
				if err := batch.Iter(raw, func(_ batch.Header, b []byte) error { return ab.Add(b) }); err != nil {
					t.Fatal(err)
				}
			}
			obj, again, err := ab.Finish()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(obj, golden) {
				t.Fatalf("the archive built again differs from the golden one:\n got %x\nwant %x", obj, golden)
			}
			if !entriesEqual(again, e) {
				t.Fatalf("entry built again %+v, from the golden footer and index %+v", again, e)
			}
		})
	}
}

// goldenArchiveEntry reads the manifest entry of an archive from its footer
// and block index, by the layout's offsets alone.
func goldenArchiveEntry(t *testing.T, obj []byte) metadata.ManifestEntry {
	t.Helper()
	f := obj[len(obj)-28:]
	if string(f[20:]) != "STRATSEG" || binary.BigEndian.Uint32(f[16:]) != 2 {
		t.Fatalf("footer %x: not an archive", f)
	}
	e := metadata.ManifestEntry{
		Size:      int64(binary.BigEndian.Uint64(f[0:])),
		IndexSize: int64(binary.BigEndian.Uint32(f[8:])),
		CRC:       binary.BigEndian.Uint32(f[12:]),
	}
	if e.Size+e.IndexSize != int64(len(obj)-28) || e.IndexSize%60 != 0 {
		t.Fatalf("footer %x: index at %d+%d in %d bytes", f, e.Size, e.IndexSize, len(obj))
	}
	for i := e.Size; i < e.Size+e.IndexSize; i += 60 {
		x := obj[i:]
		if i == e.Size {
			e.BaseOffset = int64(binary.BigEndian.Uint64(x[24:]))
			e.MaxTimestamp = int64(binary.BigEndian.Uint64(x[40:]))
		}
		e.LastOffset = int64(binary.BigEndian.Uint64(x[32:]))
		e.MaxTimestamp = max(e.MaxTimestamp, int64(binary.BigEndian.Uint64(x[40:])))
		e.Batches += int32(binary.BigEndian.Uint32(x[48:]))
	}
	return e
}

func readGolden(t *testing.T, name string) []byte {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("testdata", "format", name))
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.Join(strings.Fields(string(text)), ""))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

// writeGolden writes b as hex, 32 bytes a line.
func writeGolden(t *testing.T, name string, b []byte) {
	t.Helper()
	var sb strings.Builder
	for len(b) > 0 {
		n := min(32, len(b))
		sb.WriteString(hex.EncodeToString(b[:n]))
		sb.WriteByte('\n')
		b = b[n:]
	}
	dir := filepath.Join("testdata", "format")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(sb.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
