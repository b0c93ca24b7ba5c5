package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"runtime"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Encoders for tests: every way a Kafka client compresses a batch, each
// streaming, so that a test can write a batch that inflates to far more
// than it holds.

// encoding is one way of compressing a records section.
type encoding struct {
	name  string
	codec int8
	// open returns a writer compressing into dst; close finishes it.
	open func(dst *bytes.Buffer) io.WriteCloser
}

var encodings = []encoding{
	{"none", 0, func(dst *bytes.Buffer) io.WriteCloser { return nopCloser{dst} }},
	{"gzip", 1, func(dst *bytes.Buffer) io.WriteCloser { return gzip.NewWriter(dst) }},
	{"snappy", 2, func(dst *bytes.Buffer) io.WriteCloser { return &rawSnappyWriter{dst: dst} }},
	{"snappy-xerial", 2, func(dst *bytes.Buffer) io.WriteCloser { w := new(xerialWriter); w.Reset(dst); return w }},
	{"lz4", 3, func(dst *bytes.Buffer) io.WriteCloser { return lz4.NewWriter(dst) }},
	{"zstd", 4, func(dst *bytes.Buffer) io.WriteCloser { return newZstdWriter(dst, 1<<20) }},
	// A window over zstdStreamWindow (Kafka's Java client at levels 20-22)
	// is decoded whole, not streamed.
	{"zstd-16MiB-window", 4, func(dst *bytes.Buffer) io.WriteCloser { return newZstdWriter(dst, 16<<20) }},
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func newZstdWriter(dst *bytes.Buffer, window int) io.WriteCloser {
	w, err := zstd.NewWriter(dst, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(window), zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		panic(err)
	}
	return w
}

// rawSnappyWriter writes one raw snappy block, as franz-go and librdkafka
// do. It encodes as it goes, without holding what it was given: literals,
// and runs of zeros as copies of the byte before (64 bytes per 3-byte copy,
// snappy's largest ratio). Its block length prefix goes first, so it writes
// into a buffer of its own and prepends the length at Close.
type rawSnappyWriter struct {
	dst   *bytes.Buffer
	body  bytes.Buffer
	total uint64
	zeros int // a run of zeros not yet encoded
	last  bool
}

var zeroChunk = make([]byte, 64<<10)

func (w *rawSnappyWriter) Write(p []byte) (int, error) {
	if w.last && len(p) <= len(zeroChunk) && bytes.Equal(p, zeroChunk[:len(p)]) {
		w.zeros += len(p) // the fast way through a run of zeros
		w.total += uint64(len(p))
		return len(p), nil
	}
	for _, b := range p {
		if b == 0 && w.total > 0 && w.last {
			w.zeros++
			w.total++
			continue
		}
		w.flushZeros()
		w.body.Write([]byte{0 << 2, b}) // a literal of one byte
		w.total++
		w.last = b == 0
	}
	return len(p), nil
}

func (w *rawSnappyWriter) flushZeros() {
	for w.zeros > 0 {
		n := min(w.zeros, 64)
		w.body.Write([]byte{byte((n-1)<<2 | 2), 1, 0}) // copy n bytes from offset 1
		w.zeros -= n
	}
}

func (w *rawSnappyWriter) Close() error {
	w.flushZeros()
	w.dst.Write(binary.AppendUvarint(nil, w.total))
	w.dst.Write(w.body.Bytes())
	return nil
}

// writeZeroRecords writes records of zeros (a one-byte key "k", values of
// zeros) totalling exactly size bytes, the way a bomb is made of valid
// records. It returns how many records it wrote.
func writeZeroRecords(t testing.TB, w io.Writer, size int64) int32 {
	t.Helper()
	zeros := zeroChunk
	var n int32
	for size > 0 {
		rec := min(size, 1<<20)
		if size-rec < 32 && size-rec > 0 {
			rec = size - 32 // leave room for a last record
		}
		header, value := zeroRecord(t, n, int(rec))
		if _, err := w.Write(header); err != nil {
			t.Fatal(err)
		}
		for v := value; v > 0; {
			k := min(v, len(zeros))
			if _, err := w.Write(zeros[:k]); err != nil {
				t.Fatal(err)
			}
			v -= k
		}
		if _, err := w.Write([]byte{0}); err != nil { // no headers
			t.Fatal(err)
		}
		size -= rec
		n++
	}
	return n
}

// zeroRecord returns the bytes before the value of record i and the value's
// length, such that the whole record, with the header count after the
// value, is exactly size bytes.
func zeroRecord(t testing.TB, i int32, size int) ([]byte, int) {
	t.Helper()
	for keyLen := 1; keyLen <= 3; keyLen++ {
		for v := max(size-24, 0); v <= size; v++ {
			var body []byte
			body = append(body, 0)                        // attributes
			body = kbin.AppendVarlong(body, 0)            // timestamp delta
			body = kbin.AppendVarint(body, i)             // offset delta
			body = kbin.AppendVarint(body, int32(keyLen)) // key length
			body = append(body, bytes.Repeat([]byte{'k'}, keyLen)...)
			body = kbin.AppendVarint(body, int32(v))       // value length
			bodyLen := len(body) + v + 1                   // and a header count
			head := kbin.AppendVarint(nil, int32(bodyLen)) // record length
			if len(head)+bodyLen == size {
				return append(head, body...), v
			}
		}
	}
	t.Fatalf("no record of exactly %d bytes", size)
	return nil, 0
}

// withHeader wraps a records section in a batch header: base offset 100,
// base timestamp 1000, n records, the codec's attribute, and a valid CRC.
func withHeader(codec int8, n int32, records []byte) []byte {
	b := make([]byte, HeaderSize, HeaderSize+len(records))
	be := binary.BigEndian
	be.PutUint64(b[0:], 100)
	be.PutUint32(b[8:], uint32(HeaderSize-12+len(records)))
	be.PutUint32(b[12:], 0xffffffff)
	b[16] = 2
	be.PutUint16(b[21:], uint16(codec))
	be.PutUint32(b[23:], uint32(n-1))
	be.PutUint64(b[27:], 1000)
	be.PutUint64(b[35:], 1000)
	be.PutUint64(b[43:], 0xffffffffffffffff)
	be.PutUint16(b[51:], 0xffff)
	be.PutUint32(b[53:], 0xffffffff)
	be.PutUint32(b[57:], uint32(n))
	b = append(b, records...)
	be.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
	return b
}

// encode compresses records (whole) with e into a batch of n records.
func encode(t testing.TB, e encoding, n int32, records []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := e.open(&buf)
	if _, err := w.Write(records); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return withHeader(e.codec, n, buf.Bytes())
}

// bomb is a batch of valid records of zeros that decompress to exactly size
// bytes, compressed with e as a stream.
func bomb(t testing.TB, e encoding, size int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := e.open(&buf)
	n := writeZeroRecords(t, w, size)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return withHeader(e.codec, n, buf.Bytes())
}

// keyed returns records with the given keys (nil: no key) and values (nil:
// a tombstone), encoded as Kafka does.
func keyed(keys, values [][]byte) []byte {
	var out []byte
	for i := range keys {
		var body []byte
		body = append(body, 0)
		body = kbin.AppendVarlong(body, int64(i*10))
		body = kbin.AppendVarint(body, int32(i))
		body = appendBytes(body, keys[i])
		body = appendBytes(body, values[i])
		body = kbin.AppendVarint(body, 1) // one header
		body = appendBytes(body, []byte("h"))
		body = appendBytes(body, []byte("v"))
		out = kbin.AppendVarint(out, int32(len(body)))
		out = append(out, body...)
	}
	return out
}

func appendBytes(b, v []byte) []byte {
	if v == nil {
		return kbin.AppendVarint(b, -1)
	}
	return append(kbin.AppendVarint(b, int32(len(v))), v...)
}

func strs(ss ...string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		if s != "-" {
			out[i] = []byte(s)
		}
	}
	return out
}

// TestDecodeEveryCodec: every codec and framing decodes offsets, timestamps,
// keys and tombstones, through RecordTimes, NullKeys and Filter.
func TestDecodeEveryCodec(t *testing.T) {
	keys, values := strs("a", "-", "b", "-", "c"), strs("1", "2", "-", "4", "5")
	records := keyed(keys, values)
	for _, e := range encodings {
		t.Run(e.name, func(t *testing.T) {
			raw := encode(t, e, 5, records)
			if _, err := Validate(raw); err != nil {
				t.Fatal(err)
			}
			var got []string
			if err := RecordTimes(raw, func(o, ts int64) bool { got = append(got, fmt.Sprint(o, "@", ts)); return true }); err != nil {
				t.Fatal(err)
			}
			if want := "[100@1000 101@1010 102@1020 103@1030 104@1040]"; fmt.Sprint(got) != want {
				t.Fatalf("RecordTimes %v, want %v", got, want)
			}
			idx, total, err := NullKeys(raw, 10)
			if err != nil || total != 2 || fmt.Sprint(idx) != "[1 3]" {
				t.Fatalf("NullKeys %v %d %v, want [1 3] 2", idx, total, err)
			}
			if idx, total, err := NullKeys(raw, 1); err != nil || total != 2 || fmt.Sprint(idx) != "[1]" {
				t.Fatalf("NullKeys at most 1: %v %d %v", idx, total, err)
			}
			var seen []string
			out, dropped, err := Filter(raw, func(r Record) bool {
				seen = append(seen, fmt.Sprintf("%d:%s:%v", r.Offset, r.Key, r.Key == nil))
				return r.Offset != 102
			})
			if err != nil || !dropped {
				t.Fatalf("Filter: %v %v", dropped, err)
			}
			if want := "[100:a:false 101::true 102:b:false 103::true 104:c:false]"; fmt.Sprint(seen) != want {
				t.Fatalf("Filter saw %v, want %v", seen, want)
			}
			var offsets []int64
			if err := RecordTimes(out, func(o, _ int64) bool { offsets = append(offsets, o); return true }); err != nil {
				t.Fatalf("filtered batch: %v", err)
			}
			if fmt.Sprint(offsets) != "[100 101 103 104]" {
				t.Fatalf("filtered offsets %v", offsets)
			}
			// What a client reads: franz-go's own decompressor gives the
			// kept records back byte for byte.
			h, err := Parse(out)
			if err != nil || h.Size() != len(out) || crc32.Checksum(out[21:], castagnoli) != h.CRC {
				t.Fatalf("filtered batch: %v, size %d of %d, crc ok %v", err, h.Size(), len(out), crc32.Checksum(out[21:], castagnoli) == h.CRC)
			}
			plain, err := kgo.DefaultDecompressor().Decompress(out[HeaderSize:], kgo.CompressionCodecType(h.Codec()))
			if err != nil {
				t.Fatalf("franz-go cannot decompress the filtered batch: %v", err)
			}
			if want := keyed(strs("a", "-", "-", "c"), strs("1", "2", "4", "5")); !bytes.Equal(withoutOffsets(plain), withoutOffsets(want)) {
				t.Fatalf("filtered records %x, want %x", plain, want)
			}
		})
	}
}

// TestBombAroundTheLimit: for every codec that inflates, a batch of valid
// records that decompresses to exactly MaxDecompressedBytes decodes, and one
// a byte larger fails with ErrTooLarge, having allocated far less than it
// inflated (records stream; only a raw snappy block and a big-window zstd
// frame are held whole, and they too stop at the limit).
func TestBombAroundTheLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("inflates 64 MiB per case; -short")
	}
	for _, e := range encodings[1:] {
		t.Run(e.name, func(t *testing.T) {
			atLimit := bomb(t, e, MaxDecompressedBytes)
			t.Logf("%d bytes inflate to %d", len(atLimit), MaxDecompressedBytes)
			n := 0
			alloc := allocated(func() {
				if err := RecordTimes(atLimit, func(int64, int64) bool { n++; return true }); err != nil {
					t.Fatalf("at the limit: %v", err)
				}
			})
			if h, _ := Parse(atLimit); n != int(h.NumRecords) {
				t.Fatalf("%d records of %d", n, h.NumRecords)
			}
			held := e.name == "snappy" || e.name == "zstd-16MiB-window"
			if !held && alloc > 24<<20 {
				t.Errorf("decoding %d MiB allocated %d MiB: not streamed", MaxDecompressedBytes>>20, alloc>>20)
			}
			var out []byte
			alloc = allocated(func() {
				var err error
				if out, _, err = Filter(atLimit, func(r Record) bool { return r.Offset != 100 }); err != nil {
					t.Fatalf("Filter at the limit: %v", err)
				}
			})
			if !held && alloc > 48<<20+uint64(len(out)) {
				t.Errorf("filtering %d MiB allocated %d MiB for %d bytes of output", MaxDecompressedBytes>>20, alloc>>20, len(out))
			}
			kept := 0
			if err := RecordTimes(out, func(int64, int64) bool { kept++; return true }); err != nil || kept != n-1 {
				t.Fatalf("filtered batch: %d records of %d, %v", kept, n-1, err)
			}
			over := bomb(t, e, MaxDecompressedBytes+1)
			alloc = allocated(func() {
				err := RecordTimes(over, func(int64, int64) bool { return true })
				if !errors.Is(err, ErrTooLarge) || !IsCorrupt(err) {
					t.Fatalf("one byte over the limit: %v, want ErrTooLarge", err)
				}
				if _, _, err := NullKeys(over, 10); !errors.Is(err, ErrTooLarge) {
					t.Fatalf("NullKeys one byte over the limit: %v", err)
				}
			})
			if !held && alloc > 24<<20 {
				t.Errorf("rejecting a bomb allocated %d MiB", alloc>>20)
			}
		})
	}
}

// allocated returns the bytes fn allocated.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestSizesAroundTheLimit: with a small limit, sizes swept across it for
// every codec: at or under it decodes, over it is ErrTooLarge; Filter too.
func TestSizesAroundTheLimit(t *testing.T) {
	const limit = 64 << 10
	for _, e := range encodings[1:] {
		for _, size := range []int64{limit - 4097, limit - 1, limit, limit + 1, limit + 4097, 4 * limit} {
			t.Run(fmt.Sprintf("%s/%d", e.name, size), func(t *testing.T) {
				raw := bomb(t, e, size)
				err := recordTimes(raw, limit, func(int64, int64) bool { return true })
				_, _, ferr := filter(raw, limit, func(r Record) bool { return r.Offset%2 == 0 })
				_, _, nerr := nullKeys(raw, limit, 1)
				for _, err := range []error{err, ferr, nerr} {
					switch {
					case size <= limit && err != nil:
						t.Fatalf("%d bytes under a limit of %d: %v", size, limit, err)
					case size > limit && !errors.Is(err, ErrTooLarge):
						t.Fatalf("%d bytes over a limit of %d: %v, want ErrTooLarge", size, limit, err)
					}
				}
			})
		}
	}
}

// TestUnboundedBomb: a gzip batch of a few hundred KB that inflates to 512
// MiB stops at the limit with ErrTooLarge, allocating a few MiB.
func TestUnboundedBomb(t *testing.T) {
	if testing.Short() {
		t.Skip("inflates 64 MiB; -short")
	}
	raw := bomb(t, encodings[1], 512<<20)
	t.Logf("%d KB of gzip", len(raw)>>10)
	alloc := allocated(func() {
		if err := RecordTimes(raw, func(int64, int64) bool { return true }); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("RecordTimes: %v", err)
		}
		if _, _, err := Filter(raw, func(r Record) bool { return r.Offset%2 == 0 }); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Filter: %v", err)
		}
		if _, _, err := NullKeys(raw, 10); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("NullKeys: %v", err)
		}
	})
	if alloc > 16<<20 {
		t.Fatalf("allocated %d MiB", alloc>>20)
	}
}

// TestLyingLengths: every length read from the records is checked before it
// is used; a record that claims 2 GiB gets an error, not an allocation.
func TestLyingLengths(t *testing.T) {
	good := keyed(strs("a"), strs("v"))
	body := good[1:] // after the one-byte record length
	rec := func(fields ...[]byte) []byte {
		b := bytes.Join(fields, nil)
		return append(kbin.AppendVarint(nil, int32(len(b))), b...)
	}
	vi := func(n int32) []byte { return kbin.AppendVarint(nil, n) }
	head := []byte{0, 0, 0} // attributes, timestamp delta, offset delta
	cases := []struct {
		name    string
		records []byte
		n       int32
		want    error // for an uncompressed batch; compressed may differ, see below
	}{
		{"valid", good, 1, nil},
		{"record claims 2 GiB", append(vi(1<<31-1), body...), 1, ErrCorrupt},
		{"record claims 60 MiB", append(vi(60<<20), body...), 1, ErrCorrupt},
		{"negative record length", append(vi(-5), body...), 1, ErrCorrupt},
		{"record length varint too long", append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, body...), 1, ErrCorrupt},
		{"record length varint overflows", append([]byte{0xff, 0xff, 0xff, 0xff, 0x7f}, body...), 1, ErrCorrupt},
		{"key claims 2 GiB", rec(head, vi(1<<31-1), []byte("a"), vi(1), []byte("v"), vi(0)), 1, ErrCorrupt},
		{"key length -2", rec(head, vi(-2), vi(1), []byte("v"), vi(0)), 1, ErrCorrupt},
		{"value claims 2 GiB", rec(head, vi(1), []byte("a"), vi(1<<31-1), []byte("v"), vi(0)), 1, ErrCorrupt},
		{"value past the record", rec(head, vi(1), []byte("a"), vi(5), []byte("v"), vi(0)), 1, ErrCorrupt},
		{"header count 2^31-1", rec(head, vi(1), []byte("a"), vi(1), []byte("v"), vi(1<<31-1)), 1, ErrCorrupt},
		{"negative header count", rec(head, vi(1), []byte("a"), vi(1), []byte("v"), vi(-1)), 1, ErrCorrupt},
		{"header key claims 2 GiB", rec(head, vi(-1), vi(-1), vi(1), vi(1<<31-1), vi(-1)), 1, ErrCorrupt},
		{"negative header key length", rec(head, vi(-1), vi(-1), vi(1), vi(-1), vi(-1)), 1, ErrCorrupt},
		{"bytes after the fields", rec(head, vi(-1), vi(-1), vi(0), []byte{0}), 1, ErrCorrupt},
		{"record too short for its fields", rec(head, vi(-1)), 1, ErrCorrupt},
		{"fewer records than counted", good, 2, ErrCorrupt},
		{"bytes after the last record", append(append([]byte(nil), good...), 0), 1, ErrCorrupt},
		{"record count 2^31-1", good, 1<<31 - 1, ErrCorrupt},
		{"negative record count", good, -1, ErrCorrupt},
	}
	for _, e := range encodings {
		for _, c := range cases {
			t.Run(e.name+"/"+c.name, func(t *testing.T) {
				raw := encode(t, e, c.n, c.records)
				want := c.want
				streamed := e.name != "none" && e.name != "snappy" // a raw snappy block is decoded whole
				switch {
				case e.codec != 0 && c.name == "record count 2^31-1",
					streamed && c.name == "record claims 2 GiB":
					want = ErrTooLarge // more than the limit allows, whatever follows
				}
				alloc := allocated(func() {
					err := RecordTimes(raw, func(int64, int64) bool { return true })
					_, _, ferr := Filter(raw, func(Record) bool { return false })
					_, _, nerr := NullKeys(raw, 1)
					for _, err := range []error{err, ferr, nerr} {
						if want == nil && err != nil || want != nil && !errors.Is(err, want) {
							t.Fatalf("got %v, want %v", err, want)
						}
						if err != nil && !IsCorrupt(err) {
							t.Fatalf("%v is not IsCorrupt", err)
						}
					}
				})
				// An lz4 frame may ask for 4 MiB blocks (the format's
				// largest); nothing else needs more than a few KiB.
				if alloc > 6<<20 {
					t.Fatalf("a lying length cost %d KiB", alloc>>10)
				}
			})
		}
	}
}

// TestTruncatedStreams: a records section cut anywhere does not decode.
func TestTruncatedStreams(t *testing.T) {
	var keys, values [][]byte
	for i := range 200 {
		keys = append(keys, []byte(fmt.Sprintf("key-%d", i)))
		values = append(values, bytes.Repeat([]byte{byte(i)}, 100+i))
	}
	records := keyed(keys, values)
	for _, e := range encodings {
		t.Run(e.name, func(t *testing.T) {
			whole := encode(t, e, 200, records)[HeaderSize:]
			for _, cut := range []int{0, 1, len(whole) / 4, len(whole) / 2, len(whole) - 8, len(whole) - 1} {
				raw := withHeader(e.codec, 200, whole[:cut])
				err := RecordTimes(raw, func(int64, int64) bool { return true })
				if !errors.Is(err, ErrCorrupt) {
					t.Errorf("cut at %d of %d: %v, want ErrCorrupt", cut, len(whole), err)
				}
			}
		})
	}
}

// TestCorruptCodecBytes: flipped bytes inside a compressed stream give
// ErrCorrupt (or, if the codec cannot tell, records that still decode), never
// a panic or another error.
func TestCorruptCodecBytes(t *testing.T) {
	records := keyed(strs("a", "b", "c"), strs("1", "2", "3"))
	for _, e := range encodings[1:] {
		t.Run(e.name, func(t *testing.T) {
			whole := encode(t, e, 3, records)
			for i := HeaderSize; i < len(whole); i++ {
				raw := bytes.Clone(whole)
				raw[i] ^= 0xa5
				if err := RecordTimes(raw, func(int64, int64) bool { return true }); err != nil && !IsCorrupt(err) {
					t.Fatalf("byte %d flipped: %v", i, err)
				}
			}
		})
	}
}

// withoutOffsets returns the records of a section with their timestamp and
// offset deltas zeroed, so that records re-numbered by a test compare with
// those Filter kept at their offsets.
func withoutOffsets(records []byte) []byte {
	var out []byte
	r := kbin.Reader{Src: records}
	for len(r.Src) > 0 {
		body := kbin.Reader{Src: r.Span(int(r.Varint()))}
		attrs := body.Int8()
		body.Varlong()
		body.Varint()
		out = append(out, byte(attrs))
		out = append(out, body.Src...)
	}
	return out
}
