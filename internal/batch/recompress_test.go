package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand"
	"runtime/debug"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testCodecs are the codecs a producer sends, by number (nil: none).
func testCodecs() map[int8]*kgo.CompressionCodec {
	out := map[int8]*kgo.CompressionCodec{CodecNone: nil}
	for n, c := range map[int8]kgo.CompressionCodec{CodecGzip: kgo.GzipCompression(), CodecSnappy: kgo.SnappyCompression(), CodecLZ4: kgo.Lz4Compression(), CodecZstd: kgo.ZstdCompression()} {
		out[n] = &c
	}
	return out
}

// recordBytes is each record of a batch, byte for byte.
func recordBytes(t testing.TB, raw []byte) [][]byte {
	t.Helper()
	r, err := newRecordReader(raw, readWhole, MaxDecompressedBytes)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	var out [][]byte
	for r.next() {
		out = append(out, bytes.Clone(r.rec.whole))
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	return out
}

// sampleRecords are n records with keys, values of some text, headers and
// rising timestamps, from a fixed seed.
func sampleRecords(n, valueSize int) []kmsg.Record {
	rng := rand.New(rand.NewSource(1))
	words := []string{"order", "id", "customer", "amount", "EUR", "status", "shipped", "pending", "warehouse", "berlin", "paris", "sku"}
	recs := make([]kmsg.Record, n)
	for i := range recs {
		var v []byte
		for len(v) < valueSize {
			v = fmt.Appendf(v, `"%s":%d,`, words[rng.Intn(len(words))], rng.Intn(100000))
		}
		recs[i] = kmsg.Record{
			TimestampDelta64: int64(i * 3), OffsetDelta: int32(i),
			Key: fmt.Appendf(nil, "key-%d", rng.Intn(1000)), Value: v[:valueSize],
			Headers: []kmsg.Header{{Key: "trace", Value: fmt.Appendf(nil, "%x", rng.Int63())}},
		}
	}
	return recs
}

// TestRecompress: from every codec to every codec, the records come back
// byte for byte, and the header keeps everything but its codec, length and
// CRC; the batch validates.
func TestRecompress(t *testing.T) {
	recs := sampleRecords(50, 100)
	recs[7].Key, recs[9].Value = nil, nil // no key, a tombstone
	for from, fc := range testCodecs() {
		raw := buildRecords(t, fc, 1000, 1_700_000_000_000, recs)
		raw[22] |= attrTransactional // an attribute that must survive (the attributes' low byte)
		putCRC(raw)
		want := recordBytes(t, raw)
		in, _ := Parse(raw)
		for to := range testCodecs() {
			for _, level := range []int{DefaultLevel, 1, 9} {
				t.Run(fmt.Sprintf("%s-to-%s-level-%d", codecName(from), codecName(to), level), func(t *testing.T) {
					out, err := Recompress(raw, to, level, 1<<20)
					if err != nil {
						t.Fatal(err)
					}
					h, err := Validate(out)
					if err != nil {
						t.Fatalf("recompressed batch does not validate: %v", err)
					}
					if h.Size() != len(out) || h.Codec() != to {
						t.Fatalf("size %d of %d, codec %d, want %d", h.Size(), len(out), h.Codec(), to)
					}
					if from == to && &out[0] != &raw[0] {
						t.Error("a batch already in the codec was copied")
					}
					got, keep := h, in
					got.Length, got.CRC, got.Attributes = 0, 0, got.Attributes&^7
					keep.Length, keep.CRC, keep.Attributes = 0, 0, keep.Attributes&^7
					if got != keep {
						t.Errorf("header changed:\n got %+v\nwant %+v", got, keep)
					}
					if !h.Transactional() {
						t.Error("transactional bit lost")
					}
					gotRecs := recordBytes(t, out)
					if len(gotRecs) != len(want) {
						t.Fatalf("%d records, want %d", len(gotRecs), len(want))
					}
					for i := range want {
						if !bytes.Equal(gotRecs[i], want[i]) {
							t.Fatalf("record %d differs", i)
						}
					}
				})
			}
		}
	}
}

// putCRC recomputes a test batch's CRC after an edit.
func putCRC(raw []byte) {
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], castagnoli))
}

// TestRecompressLevels: levels change the output, not the records.
func TestRecompressLevels(t *testing.T) {
	raw := buildRecords(t, nil, 0, 0, sampleRecords(200, 200))
	for _, c := range []struct {
		codec      int8
		fast, best int
	}{{CodecGzip, 1, 9}, {CodecZstd, 1, 22}, {CodecZstd, -5, 19}, {CodecLZ4, 9, 17}, {CodecLZ4, 9, 1}} {
		fast, err := Recompress(raw, c.codec, c.fast, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		best, err := Recompress(raw, c.codec, c.best, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes at level %d, %d at %d (from %d)", codecName(c.codec), len(fast), c.fast, len(best), c.best, len(raw))
		if len(best) >= len(fast) {
			t.Errorf("%s level %d (%d bytes) not smaller than level %d (%d bytes)", codecName(c.codec), c.best, len(best), c.fast, len(fast))
		}
		if !equalRecords(t, fast, best) {
			t.Errorf("%s: records differ between levels", codecName(c.codec))
		}
	}
}

func equalRecords(t *testing.T, a, b []byte) bool {
	ra, rb := recordBytes(t, a), recordBytes(t, b)
	if len(ra) != len(rb) {
		return false
	}
	for i := range ra {
		if !bytes.Equal(ra[i], rb[i]) {
			return false
		}
	}
	return true
}

// TestRecompressRejects: control batches stay; bombs, corrupt records and
// unknown codecs give errors and no output.
func TestRecompressRejects(t *testing.T) {
	ctrl := AppendControlBatch(nil, 5, 1, true, 0, 1000)
	if out, err := Recompress(ctrl, CodecZstd, DefaultLevel, 1<<20); err != nil || !bytes.Equal(out, ctrl) {
		t.Errorf("control batch: %v, changed %v", err, !bytes.Equal(out, ctrl))
	}
	for _, e := range encodings {
		if e.codec == CodecNone {
			continue
		}
		b := bomb(t, e, 1<<20)
		if _, err := recompress(b, CodecNone, DefaultLevel, 2<<20, 1<<20-1); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s bomb: %v, want ErrTooLarge", e.name, err)
		}
		if e.name == "zstd-16MiB-window" {
			continue // its window alone is past a 1 MiB limit
		}
		if _, err := recompress(b, CodecNone, DefaultLevel, 2<<20, 1<<20); err != nil {
			t.Errorf("%s at the limit: %v", e.name, err)
		}
	}
	raw := buildRecords(t, nil, 0, 0, sampleRecords(3, 10))
	bad := bytes.Clone(raw)
	bad[HeaderSize] = 0x7f // the first record's length runs past the batch
	putCRC(bad)
	if _, err := Recompress(bad, CodecGzip, DefaultLevel, 1<<20); !errors.Is(err, ErrCorrupt) {
		t.Errorf("corrupt records: %v, want ErrCorrupt", err)
	}
	if _, err := Recompress(raw, 5, DefaultLevel, 1<<20); !errors.Is(err, ErrInvalid) {
		t.Errorf("codec 5: %v, want ErrInvalid", err)
	}
	// The output is bounded as it grows: 1.3 MB of records stored
	// uncompressed stops soon after maxSize, not at the end.
	big := sampleRecords(2000, 600)
	// No collection between the warm-up and the measurement: one would
	// empty the decoders' pools, and a decoder's own buffers (lz4's 4 MiB)
	// would count as the output's.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	for from, fc := range testCodecs() {
		if from == CodecNone {
			continue
		}
		b := buildRecords(t, fc, 0, 0, big)
		Recompress(b, CodecNone, DefaultLevel, 64<<10) // warm the pools
		var out []byte
		var err error
		alloc := allocated(func() { out, err = Recompress(b, CodecNone, DefaultLevel, 64<<10) })
		if !errors.Is(err, ErrOutputTooLarge) || out != nil {
			t.Errorf("%s: %d bytes, %v, want ErrOutputTooLarge", codecName(from), len(out), err)
		}
		if alloc > 512<<10 && from != CodecSnappy { // franz-go's snappy is a raw block, decoded whole by design (codec.go)
			t.Errorf("%s: allocated %d KiB for a 64 KiB bound", codecName(from), alloc>>10)
		}
	}
	if _, err := Recompress(raw, CodecGzip, DefaultLevel, HeaderSize+10); !errors.Is(err, ErrOutputTooLarge) {
		t.Errorf("gzip output over its bound: %v, want ErrOutputTooLarge", err)
	}
}

// BenchmarkRecompress is the CPU cost of compression.type on produce: a
// 16 KiB batch of 100 records (what a producer with linger sends) from each
// producer codec to zstd, beside BenchmarkAppendPath, what the produce path
// does with a batch it takes as bytes.
func BenchmarkRecompress(b *testing.B) {
	recs := sampleRecords(100, 140)
	plain := buildRecords(b, nil, 0, 0, recs)
	for _, c := range []struct {
		name     string
		from, to int8
	}{
		{"none-to-zstd", CodecNone, CodecZstd},
		{"gzip-to-zstd", CodecGzip, CodecZstd},
		{"lz4-to-zstd", CodecLZ4, CodecZstd},
		{"snappy-to-zstd", CodecSnappy, CodecZstd},
		{"zstd-to-lz4", CodecZstd, CodecLZ4},
		{"zstd-to-gzip", CodecZstd, CodecGzip},
		{"zstd-to-none", CodecZstd, CodecNone},
	} {
		raw := buildRecords(b, testCodecs()[c.from], 0, 0, recs)
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(plain) - HeaderSize))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Recompress(raw, c.to, DefaultLevel, 1<<20); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppendPath is the batch work of a produce that keeps the batch
// as it is: validating it (header and CRC-32C over the whole batch).
func BenchmarkAppendPath(b *testing.B) {
	for _, c := range []struct {
		name  string
		codec int8
	}{{"none", CodecNone}, {"zstd", CodecZstd}} {
		raw := buildRecords(b, testCodecs()[c.codec], 0, 0, sampleRecords(100, 140))
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(buildRecords(b, nil, 0, 0, sampleRecords(100, 140))) - HeaderSize))
			for b.Loop() {
				if _, err := Validate(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzRecompress: on any records section with any codec and record count,
// recompressing into any codec never panics; it fails with one of the
// package's errors exactly when the records do not decode (as RecordTimes
// says), and otherwise gives a batch in the codec asked for, valid when the
// input was, within
// its size bound, holding the same records byte for byte.
func FuzzRecompress(f *testing.F) {
	const limit = 16 << 10
	records := keyed(strs("a", "-", "b", "c"), strs("1", "2", "-", "4"))
	for _, e := range encodings {
		f.Add(uint8(e.codec), int32(4), encode(f, e, 4, records)[HeaderSize:], uint8(4-e.codec), int16(3))
		if e.codec != 0 {
			f.Add(uint8(e.codec), int32(1), bomb(f, e, limit+1)[HeaderSize:], uint8(0), int16(-1))
		}
	}
	f.Fuzz(func(t *testing.T, codec uint8, n int32, section []byte, to uint8, level int16) {
		raw := withHeader(int8(codec&7), n, section)
		target := int8(to % 5)
		errTimes := recordTimes(raw, limit, func(int64, int64) bool { return true })
		out, err := recompress(raw, target, int(level), 1<<20, limit)
		h, _ := Parse(raw)
		if h.Codec() == target {
			if err != nil || !bytes.Equal(out, raw) {
				t.Fatalf("same codec: %v", err)
			}
			return
		}
		if h.NumRecords == 0 {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("no records: %v, want ErrInvalid", err)
			}
			return
		}
		if (err != nil) != (errTimes != nil) {
			t.Fatalf("recompress: %v; the records decode: %v", err, errTimes)
		}
		if err != nil {
			if !IsCorrupt(err) {
				t.Fatalf("error outside the package's: %v", err)
			}
			return
		}
		_, inErr := Validate(raw) // Produce validates a batch before it recompresses it
		oh, err := Validate(out)
		if inErr != nil && errors.Is(err, ErrInvalid) {
			oh, err = Parse(out) // as invalid a header as it came
		}
		if err != nil || oh.Codec() != target || oh.NumRecords != h.NumRecords || oh.BaseSequence != h.BaseSequence {
			t.Fatalf("output: %+v, %v", oh, err)
		}
		a, errA := collect(raw, limit)
		b, errB := collect(out, limit)
		if errA != nil || errB != nil || len(a) != len(b) {
			t.Fatalf("records: %d (%v) and %d (%v)", len(a), errA, len(b), errB)
		}
		for i := range a {
			if !bytes.Equal(a[i], b[i]) {
				t.Fatalf("record %d differs", i)
			}
		}
	})
}

// collect is each record of raw, decoded within limit.
func collect(raw []byte, limit int) ([][]byte, error) {
	r, err := newRecordReader(raw, readWhole, limit)
	if err != nil {
		return nil, err
	}
	defer r.close()
	var out [][]byte
	for r.next() {
		out = append(out, bytes.Clone(r.rec.whole))
	}
	return out, r.err
}
