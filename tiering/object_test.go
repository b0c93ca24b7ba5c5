package tiering

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"testing"

	"github.com/strata-io/strata/metadata"
)

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
			raw := makeBatch(t, batchSpec{base: next[key], records: recs, timestamp: ts, valueSize: valueSize, seed: seed})
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
	if err := b.Add(k, makeBatch(t, batchSpec{base: 10, records: 2})); err != nil {
		t.Fatal(err)
	}
	if _, index := b.Finish(); len(index) != 1 {
		t.Fatalf("first object: %d entries", len(index))
	}
	// Finish reset the builder: the same offsets are accepted again, and an
	// empty builder makes an empty, valid object.
	if err := b.Add(k, makeBatch(t, batchSpec{base: 10, records: 2})); err != nil {
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
	good := makeBatch(t, batchSpec{base: 100, records: 3})
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
		{"two batches", nil, append(bytes.Clone(good), makeBatch(t, batchSpec{base: 103, records: 1})...)},
		{"trailing byte", nil, append(bytes.Clone(good), 0)},
		{"magic 1", nil, badMagic},
		{"same offset", good, good},
		{"overlapping", good, makeBatch(t, batchSpec{base: 102, records: 1})},
		{"backwards", good, makeBatch(t, batchSpec{base: 50, records: 1})},
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
			if err := b.Add(testKey(2, 1), makeBatch(t, batchSpec{base: 0, records: 1})); err != nil {
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
