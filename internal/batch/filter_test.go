package batch

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// buildKeyed makes a v2 batch at base offset 100 of records with the given
// keys ("" for none) and values (nil for a tombstone), compressed with
// codec (nil for none).
func buildKeyed(t *testing.T, codec *kgo.CompressionCodec, keys []string, values [][]byte) []byte {
	t.Helper()
	var recs []kmsg.Record
	for i := range keys {
		r := kmsg.Record{TimestampDelta64: int64(i), OffsetDelta: int32(i), Value: values[i]}
		if keys[i] != "" {
			r.Key = []byte(keys[i])
		}
		recs = append(recs, r)
	}
	return buildRecords(t, codec, 100, 5000, recs)
}

// TestFilter: every codec; the records kept come back byte for byte at
// their offsets, with their keys and tombstones; the header is valid and
// keeps its base offset, last offset delta, timestamps and producer fields.
func TestFilter(t *testing.T) {
	keys := []string{"a", "b", "a", "", "c", "b"}
	values := [][]byte{[]byte("a1"), []byte("b1"), []byte("a2"), []byte("nokey"), nil, []byte("b2")}
	codecs := map[string]*kgo.CompressionCodec{"none": nil}
	for name, c := range map[string]kgo.CompressionCodec{"gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(), "lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression()} {
		codecs[name] = &c
	}
	for name, codec := range codecs {
		t.Run(name, func(t *testing.T) {
			raw := buildKeyed(t, codec, keys, values)
			var seen []string
			out, dropped, err := Filter(raw, func(r Record) bool {
				seen = append(seen, fmt.Sprintf("%d:%s:%v", r.Offset, r.Key, r.Tombstone))
				return r.Offset != 100 && r.Offset != 101 // drop a1 and b1
			})
			if err != nil || !dropped {
				t.Fatalf("Filter: dropped %v, %v", dropped, err)
			}
			if want := "[100:a:false 101:b:false 102:a:false 103::false 104:c:true 105:b:false]"; fmt.Sprint(seen) != want {
				t.Fatalf("records seen %v, want %v", seen, want)
			}
			h, err := Parse(out)
			if err != nil || h.Size() != len(out) || crc32.Checksum(out[21:], castagnoli) != h.CRC {
				t.Fatalf("filtered batch: %v, size %d of %d, crc %v", err, h.Size(), len(out), crc32.Checksum(out[21:], castagnoli) == h.CRC)
			}
			orig, _ := Parse(raw)
			if h.NumRecords != 4 || h.BaseOffset != 100 || h.LastOffsetDelta != orig.LastOffsetDelta ||
				h.BaseTimestamp != orig.BaseTimestamp || h.MaxTimestamp != orig.MaxTimestamp ||
				h.ProducerID != 7 || h.BaseSequence != 3 || h.Codec() != orig.Codec() {
				t.Fatalf("header %+v from %+v", h, orig)
			}
			var offsets []int64
			if err := RecordTimes(out, func(o, _ int64) bool { offsets = append(offsets, o); return true }); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(offsets) != "[102 103 104 105]" {
				t.Fatalf("offsets kept %v", offsets)
			}
			if same, dropped, err := Filter(raw, func(Record) bool { return true }); err != nil || dropped || !bytes.Equal(same, raw) {
				t.Fatalf("keeping everything: %v %v, changed %v", err, dropped, !bytes.Equal(same, raw))
			}
			if none, dropped, err := Filter(raw, func(Record) bool { return false }); err != nil || !dropped || none != nil {
				t.Fatalf("keeping nothing: %v %v %v", none, dropped, err)
			}
		})
	}
}
