package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"slices"
	"testing"
	"testing/iotest"
)

func TestReader(t *testing.T) {
	const seq = 5
	recs := [][]byte{[]byte("a"), {}, []byte("hello")}
	valid, bounds := encodeSegment(seq, recs)
	with := func(f func(b []byte) []byte) []byte { return f(slices.Clone(valid)) }
	errRead := errors.New("disk on fire")

	tests := []struct {
		name    string
		in      io.Reader
		records int   // records read before the end
		wantErr error // nil, or the cause of a *CorruptionError, or errRead
		offset  int64 // of the corruption
	}{
		{name: "valid", in: bytes.NewReader(valid), records: 3},
		{name: "header only", in: bytes.NewReader(appendHeader(nil, seq))},
		{name: "empty input", in: bytes.NewReader(nil), wantErr: ErrBadHeader},
		{name: "short header", in: bytes.NewReader(valid[:headerSize-1]), wantErr: ErrBadHeader},
		{name: "bad magic", in: bytes.NewReader(with(func(b []byte) []byte { b[0] = 'X'; return b })), wantErr: ErrBadHeader},
		{name: "header checksum", in: bytes.NewReader(with(func(b []byte) []byte { b[17] ^= 1; return b })), wantErr: ErrBadHeader},
		{name: "other segment", in: bytes.NewReader(must(encodeSegment(seq+1, recs))), wantErr: ErrBadHeader},
		{name: "future version", in: bytes.NewReader(with(func(b []byte) []byte {
			binary.BigEndian.PutUint16(b[4:6], formatVersion+1)
			binary.BigEndian.PutUint32(b[16:20], crc32.Checksum(b[:16], castagnoli))
			return b
		})), wantErr: ErrBadHeader},
		{name: "truncated frame header", in: bytes.NewReader(valid[:bounds[1]+3]), records: 1, wantErr: ErrTruncated, offset: bounds[1]},
		{name: "truncated payload", in: bytes.NewReader(valid[:len(valid)-1]), records: 2, wantErr: ErrTruncated, offset: bounds[2]},
		{name: "payload checksum", in: bytes.NewReader(with(func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b })), records: 2, wantErr: ErrChecksum, offset: bounds[2]},
		{name: "stored checksum", in: bytes.NewReader(with(func(b []byte) []byte { b[bounds[1]+5] ^= 1; return b })), records: 1, wantErr: ErrChecksum, offset: bounds[1]},
		{name: "impossible length", in: bytes.NewReader(binary.BigEndian.AppendUint64(slices.Clone(valid), 0xffffffff_00000000)), records: 3, wantErr: ErrBadLength, offset: bounds[3]},
		{name: "length past the end", in: bytes.NewReader(binary.BigEndian.AppendUint64(slices.Clone(valid), 0x07000000_00000000)), records: 3, wantErr: ErrTruncated, offset: bounds[3]},
		{name: "zero-filled tail", in: bytes.NewReader(append(slices.Clone(valid), make([]byte, 8)...)), records: 3, wantErr: ErrChecksum, offset: bounds[3]},
		{name: "read error", in: io.MultiReader(bytes.NewReader(valid[:bounds[1]]), iotest.ErrReader(errRead)), records: 1, wantErr: errRead},
		{name: "one byte at a time", in: iotest.OneByteReader(bytes.NewReader(valid)), records: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(tt.in, seq)
			n := 0
			for r.Next() {
				if !bytes.Equal(r.Record(), recs[n]) || r.Offset() != bounds[n] {
					t.Fatalf("record %d: %q at %d, want %q at %d", n, r.Record(), r.Offset(), recs[n], bounds[n])
				}
				n++
			}
			if n != tt.records {
				t.Fatalf("%d records, want %d", n, tt.records)
			}
			if r.Next() {
				t.Fatal("Next true after the end")
			}
			err := r.Err()
			var ce *CorruptionError
			switch {
			case tt.wantErr == nil:
				if err != nil {
					t.Fatalf("Err: %v", err)
				}
			case tt.wantErr == errRead:
				if !errors.Is(err, errRead) || errors.As(err, &ce) {
					t.Fatalf("Err: %v; want the read error, not corruption", err)
				}
			default:
				if !errors.As(err, &ce) || !errors.Is(err, tt.wantErr) || ce.Segment != seq || ce.Offset != tt.offset {
					t.Fatalf("Err: %v; want corruption of segment %d at %d: %v", err, seq, tt.offset, tt.wantErr)
				}
			}
		})
	}
}

// TestReaderBoundedAllocation: a length near the cap on a short input does not
// allocate the whole length.
func TestReaderBoundedAllocation(t *testing.T) {
	in := binary.BigEndian.AppendUint64(appendHeader(nil, 1), uint64(MaxRecordBytes)<<32)
	in = append(in, make([]byte, 1000)...)
	r := NewReader(bytes.NewReader(in), 1)
	for r.Next() {
	}
	if c := cap(r.buf); c > 2*readChunk {
		t.Fatalf("reader grew its buffer to %d bytes for 1000 bytes of input", c)
	}
}

const fuzzSeq = 42

func FuzzReader(f *testing.F) {
	valid, bounds := encodeSegment(fuzzSeq, payloads(3, 20, 100))
	f.Add(valid)
	f.Add(appendHeader(nil, fuzzSeq))
	f.Add([]byte{})
	f.Add(must(encodeSegment(fuzzSeq, [][]byte{{}, {0}, make([]byte, 300)})))
	for _, n := range []int64{5, headerSize, headerSize + 3, bounds[3] + 7, int64(len(valid)) - 1} {
		f.Add(slices.Clone(valid[:n]))
	}
	for _, pos := range []int64{2, 12, 18, bounds[1], bounds[2] + 2, bounds[5] + 6, bounds[9] + 11} {
		b := slices.Clone(valid)
		b[pos] ^= 0x04
		f.Add(b)
	}
	f.Add(binary.BigEndian.AppendUint64(slices.Clone(valid), 0xffffffff_00000000))
	f.Add(append(slices.Clone(valid), make([]byte, 16)...))

	table := crc32.MakeTable(crc32.Castagnoli)
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data), fuzzSeq)
		end := int64(headerSize)
		reencoded := appendHeader(nil, fuzzSeq)
		for r.Next() {
			rec, off := r.Record(), r.Offset()
			if off != end {
				t.Fatalf("record at %d, previous ended at %d", off, end)
			}
			// Check the frame independently of the reader.
			frame := data[off : off+frameHeaderSize+int64(len(rec))]
			if binary.BigEndian.Uint32(frame[0:4]) != uint32(len(rec)) || !bytes.Equal(frame[frameHeaderSize:], rec) {
				t.Fatalf("record at %d does not match its frame", off)
			}
			crc := crc32.Update(crc32.Checksum(frame[0:4], table), table, rec)
			if crc != binary.BigEndian.Uint32(frame[4:8]) {
				t.Fatalf("record at %d returned with a bad CRC", off)
			}
			end = off + int64(len(frame))
			reencoded = appendFrame(reencoded, rec)
		}
		err := r.Err()
		if err == nil {
			if !bytes.Equal(reencoded, data) {
				t.Fatalf("clean end but the records do not make up the input")
			}
			return
		}
		var ce *CorruptionError
		if !errors.As(err, &ce) || ce.Segment != fuzzSeq {
			t.Fatalf("Err: %v, want a *CorruptionError", err)
		}
		if errors.Is(err, ErrBadHeader) {
			if ce.Offset != 0 || end != headerSize {
				t.Fatalf("bad header reported at %d after records", ce.Offset)
			}
			return
		}
		if ce.Offset != end || !bytes.Equal(reencoded, data[:end]) {
			t.Fatalf("corruption at %d, valid prefix ends at %d", ce.Offset, end)
		}
	})
}

func TestLengthCRC(t *testing.T) {
	for _, n := range []uint32{0, 1, 0xff, 0x100, 0x12345678, MaxRecordBytes, 0xffffffff} {
		if got, want := lengthCRC(n), crc32.Checksum(binary.BigEndian.AppendUint32(nil, n), crc32.MakeTable(crc32.Castagnoli)); got != want {
			t.Errorf("lengthCRC(%#x) = %#08x, want %#08x", n, got, want)
		}
	}
}
