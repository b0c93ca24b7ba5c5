package batch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// build makes a v2 batch of records with the given timestamp deltas,
// compressed with codec (nil for none).
func build(t testing.TB, codec *kgo.CompressionCodec, baseTs int64, deltas []int64) []byte {
	t.Helper()
	var records []kmsg.Record
	for i, d := range deltas {
		records = append(records, kmsg.Record{TimestampDelta64: d, OffsetDelta: int32(i), Value: bytes.Repeat([]byte{byte(i)}, 20)})
	}
	return buildRecords(t, codec, 0, baseTs, records)
}

// buildRecords makes a v2 batch of records at base, compressed with codec
// (nil for none), with producer id 7, epoch 1 and base sequence 3.
func buildRecords(t testing.TB, codec *kgo.CompressionCodec, base, baseTs int64, recs []kmsg.Record) []byte {
	t.Helper()
	var records []byte
	maxTs := baseTs
	for _, r := range recs {
		body := r.AppendTo(nil)[1:] // drop the zero length varint
		records = kbin.AppendVarint(records, int32(len(body)))
		records = append(records, body...)
		maxTs = max(maxTs, baseTs+r.TimestampDelta64)
	}
	var attrs int16
	if codec != nil {
		c, err := kgo.DefaultCompressor(*codec)
		if err != nil {
			t.Fatal(err)
		}
		out, ct := c.Compress(new(bytes.Buffer), records)
		records = append([]byte(nil), out...)
		attrs = int16(ct)
	}
	b := kmsg.RecordBatch{
		FirstOffset: base, Magic: 2, Attributes: attrs, LastOffsetDelta: int32(len(recs) - 1),
		FirstTimestamp: baseTs, MaxTimestamp: maxTs, ProducerID: 7, ProducerEpoch: 1, FirstSequence: 3,
		NumRecords: int32(len(recs)), Records: records,
	}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], castagnoli))
	return raw
}

func TestValidate(t *testing.T) {
	good := build(t, nil, 1000, []int64{0, 1, 2})
	cases := []struct {
		name   string
		mutate func([]byte) []byte
		want   error
	}{
		{"valid", func(b []byte) []byte { return b }, nil},
		{"bad crc", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, ErrCRC},
		{"magic 1", func(b []byte) []byte { b[16] = 1; return b }, ErrMagic},
		{"short header", func(b []byte) []byte { return b[:HeaderSize-1] }, ErrShort},
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }, ErrShort},
		{"trailing bytes", func(b []byte) []byte { return append(b, 0) }, ErrInvalid},
		{"length too small", func(b []byte) []byte { binary.BigEndian.PutUint32(b[8:], 10); return b }, ErrInvalid},
		{"record count disagrees", func(b []byte) []byte {
			binary.BigEndian.PutUint32(b[57:], 7)
			binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], castagnoli))
			return b
		}, ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, err := Validate(c.mutate(append([]byte(nil), good...)))
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			if err == nil && (h.NumRecords != 3 || h.LastOffset() != 2 || h.MaxTimestamp != 1002) {
				t.Fatalf("header %+v", h)
			}
		})
	}
}

func TestRecordTimes(t *testing.T) {
	deltas := []int64{0, 5, 3, 40, 41}
	codecs := map[string]*kgo.CompressionCodec{"none": nil}
	for name, c := range map[string]kgo.CompressionCodec{
		"gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	} {
		codecs[name] = &c
	}
	for name, codec := range codecs {
		t.Run(name, func(t *testing.T) {
			raw := build(t, codec, 1000, deltas)
			if _, err := Validate(raw); err != nil {
				t.Fatal(err)
			}
			SetBaseOffset(raw, 100)
			var got []int64
			err := RecordTimes(raw, func(o, ts int64) bool {
				if o != 100+int64(len(got)) {
					t.Errorf("record %d has offset %d", len(got), o)
				}
				got = append(got, ts-1000)
				return true
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(deltas) {
				t.Fatalf("got %d records, want %d", len(got), len(deltas))
			}
			for i := range deltas {
				if got[i] != deltas[i] {
					t.Errorf("record %d: delta %d, want %d", i, got[i], deltas[i])
				}
			}
		})
	}
}

func TestSetLogAppendTime(t *testing.T) {
	raw := build(t, nil, 1000, []int64{0, 7})
	SetLogAppendTime(raw, 5555)
	h, err := Validate(raw)
	if err != nil {
		t.Fatalf("CRC not recomputed: %v", err)
	}
	if h.BaseTimestamp != 5555 || h.MaxTimestamp != 5555 {
		t.Fatalf("timestamps %d/%d", h.BaseTimestamp, h.MaxTimestamp)
	}
	_ = RecordTimes(raw, func(_, ts int64) bool {
		if ts != 5555 {
			t.Errorf("record timestamp %d, want the log append time", ts)
		}
		return true
	})
}

func TestSetPartitionLeaderEpoch(t *testing.T) {
	raw := build(t, nil, 1000, []int64{0, 7})
	SetPartitionLeaderEpoch(raw, 7)
	h, err := Validate(raw)
	if err != nil {
		t.Fatalf("batch no longer valid: %v", err)
	}
	if h.PartitionLeaderEpoch != 7 {
		t.Fatalf("partition leader epoch %d, want 7", h.PartitionLeaderEpoch)
	}
}

func TestIter(t *testing.T) {
	a, b := build(t, nil, 1, []int64{0}), build(t, nil, 2, []int64{0, 1})
	SetBaseOffset(b, 1)
	var bases []int64
	if err := Iter(append(append([]byte(nil), a...), b...), func(h Header, raw []byte) error {
		bases = append(bases, h.BaseOffset)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(bases) != 2 || bases[0] != 0 || bases[1] != 1 {
		t.Fatalf("bases %v", bases)
	}
	if err := Iter(append(append([]byte(nil), a...), b[:20]...), func(Header, []byte) error { return nil }); !errors.Is(err, ErrShort) {
		t.Fatalf("torn second batch: %v", err)
	}
}

// FuzzBatch: header parsing and record walking never panic on any input.
func FuzzBatch(f *testing.F) {
	f.Add(build(f, nil, 1000, []int64{0, 1, 2}))
	gz := kgo.GzipCompression()
	f.Add(build(f, &gz, 1000, []int64{0, 9}))
	f.Add([]byte{})
	f.Add(make([]byte, HeaderSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Validate(b)
		if err == nil && h.Size() != len(b) {
			t.Fatalf("valid batch of size %d in %d bytes", h.Size(), len(b))
		}
		if _, err := Parse(b); err == nil {
			_ = RecordTimes(b, func(int64, int64) bool { return true })
		}
		_ = Iter(b, func(Header, []byte) error { return nil })
	})
}
