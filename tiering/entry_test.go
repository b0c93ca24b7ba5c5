package tiering

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

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
