package batch

import (
	"encoding/binary"
	"errors"
	"testing"
)

func TestControlBatch(t *testing.T) {
	for _, commit := range []bool{false, true} {
		raw := AppendControlBatch([]byte("prefix"), 42, 7, commit, 3, 1234)[len("prefix"):]
		if len(raw) != ControlBatchSize {
			t.Fatalf("size %d, want %d", len(raw), ControlBatchSize)
		}
		h, err := Validate(raw)
		if err != nil {
			t.Fatal(err)
		}
		if !h.Control() || !h.Transactional() || h.Codec() != 0 || h.ProducerID != 42 || h.ProducerEpoch != 7 ||
			h.BaseSequence != -1 || h.NumRecords != 1 || h.MaxTimestamp != 1234 || h.PartitionLeaderEpoch != -1 {
			t.Fatalf("header %+v", h)
		}
		typ, err := ControlType(raw)
		want := ControlAbort
		if commit {
			want = ControlCommit
		}
		if err != nil || typ != want {
			t.Fatalf("ControlType = %d, %v; want %d", typ, err, want)
		}
		// The value is version 0 and the coordinator epoch.
		r, err := newRecordReader(raw, readWhole, MaxDecompressedBytes)
		if err != nil || !r.next() {
			t.Fatal("record does not decode", err, r.err)
		}
		whole := r.rec.whole
		value := whole[len(whole)-7 : len(whole)-1]
		if binary.BigEndian.Uint16(value) != 0 || binary.BigEndian.Uint32(value[2:]) != 3 {
			t.Fatalf("value %x", value)
		}
		if r.next() || r.err != nil {
			t.Fatal("more than one record", r.err)
		}
	}
}

func TestControlTypeRejects(t *testing.T) {
	data := withHeader(0, 1, keyed(strs("k"), strs("v")))
	if _, err := ControlType(data); !errors.Is(err, ErrInvalid) {
		t.Fatalf("data batch: %v, want ErrInvalid", err)
	}
	short := withHeader(0, 1, keyed(strs("ab"), strs("v")))
	binary.BigEndian.PutUint16(short[21:], attrControl|attrTransactional)
	if _, err := ControlType(short); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("2-byte key: %v, want ErrCorrupt", err)
	}
	if _, err := ControlType(short[:HeaderSize-1]); !errors.Is(err, ErrShort) {
		t.Fatalf("truncated: %v, want ErrShort", err)
	}
}

// FuzzControlType: the control record parser on any records section of a
// control batch with any codec and record count never panics, fails only
// with the package's errors (IsCorrupt), and reads back the type of every
// marker AppendControlBatch builds.
func FuzzControlType(f *testing.F) {
	f.Add(uint8(0), int32(1), AppendControlBatch(nil, 1, 0, true, 5, 0)[HeaderSize:])
	f.Add(uint8(0), int32(1), AppendControlBatch(nil, 1, 0, false, 5, 0)[HeaderSize:])
	f.Add(uint8(0), int32(2), keyed(strs("ab"), strs("v")))
	f.Add(uint8(1), int32(1), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, codec uint8, n int32, section []byte) {
		raw := withHeader(int8(codec&7), n, section)
		binary.BigEndian.PutUint16(raw[21:], uint16(codec&7)|attrControl|attrTransactional)
		if _, err := controlType(raw, 16<<10); err != nil && !IsCorrupt(err) {
			t.Fatalf("error %v is not the package's", err)
		}
		if len(section) >= 4 {
			commit := section[0]&1 == 1
			pid := int64(binary.BigEndian.Uint32(section))
			m := AppendControlBatch(nil, pid, int16(section[1]), commit, int32(section[2]), int64(section[3]))
			typ, err := ControlType(m)
			if err != nil || (typ == ControlCommit) != commit {
				t.Fatalf("marker reads back %d, %v", typ, err)
			}
		}
	})
}
