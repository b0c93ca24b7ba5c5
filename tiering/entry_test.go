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
			rec := AppendEntryHeader([]byte(nil), key)
			if len(rec) != EntryHeaderSize {
				t.Fatalf("header is %d bytes, want %d", len(rec), EntryHeaderSize)
			}
			rec = append(rec, payload...)
			got, b, err := DecodeEntry(rec)
			if err != nil {
				t.Fatal(err)
			}
			if got != key || !bytes.Equal(b, payload) {
				t.Fatalf("DecodeEntry = %v %q, want %v %q", got, b, key, payload)
			}
		})
	}
}

func TestEntryHeaderAppends(t *testing.T) {
	prefix := []byte("prefix")
	rec := AppendEntryHeader(append([]byte(nil), prefix...), testKey(9, 9))
	if !bytes.HasPrefix(rec, prefix) || len(rec) != len(prefix)+EntryHeaderSize {
		t.Fatalf("AppendEntryHeader did not append: %x", rec)
	}
}

func TestDecodeEntryShort(t *testing.T) {
	full := AppendEntryHeader(nil, testKey(1, 2))
	for n := range EntryHeaderSize {
		if _, _, err := DecodeEntry(full[:n]); !errors.Is(err, ErrShortEntry) {
			t.Errorf("%d bytes: err = %v, want ErrShortEntry", n, err)
		}
	}
	key, b, err := DecodeEntry(full)
	if err != nil || key != testKey(1, 2) || len(b) != 0 {
		t.Fatalf("header only: %v %x %v", key, b, err)
	}
}
