package e2e

// Decompression bombs and Kafka's record validation of compacted topics,
// against a real broker (single node: embedded etcd, filesystem object
// store). A batch is a client's claim: a few hundred KB of gzip can inflate
// to gigabytes. The broker decodes records only where it must (lookups by
// timestamp, log compaction, the key check of compacted topics), always as
// a stream within batch.MaxDecompressedBytes, so no request makes it hold or
// inflate an unbounded amount:
//   - a bomb produced to an ordinary topic is taken as bytes (the produce
//     path does not decode records), served by Fetch as it is, and answers
//     ListOffsets by timestamp with CORRUPT_MESSAGE;
//   - a batch for a compacted topic is decoded at produce time: records
//     without a key get INVALID_RECORD with Kafka's per-record errors and
//     message (Produce v8+), and so does a bomb;
//   - log compaction keeps a batch it cannot decode as it is and cleans the
//     rest.
// Throughout, the broker's Go heap in use stays under bombHeapBound and the
// broker keeps serving ordinary clients.

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/internal/batch"
)

const (
	// bombSize is what the bombs inflate to: eight times the limit.
	bombSize = 512 << 20
	// bombHeapBound is the most Go heap the broker may have in use while
	// and after it meets a bomb: a broker that inflated one would need
	// twice as much.
	bombHeapBound = 256 << 20
)

// TestFaultsBombOrdinaryTopic: a gzip batch of about 520 KB inflating to 512
// MiB, produced to an ordinary topic, is stored as bytes; ListOffsets by
// timestamp on its partition answers CORRUPT_MESSAGE and Fetch serves it
// unchanged, with the heap bounded throughout; then ordinary clients
// produce and consume, on the bomb's topic and another.
func TestFaultsBombOrdinaryTopic(t *testing.T) {
	const topic = "bomb-plain"
	s, k := startBadInputTopic(t, topic, 2, nil)
	now := time.Now().UnixMilli()
	bomb := bombBatch(t, bombSize, now, []byte("k"))
	t.Logf("a %d KB gzip batch of %d records inflating to %d MiB", len(bomb)>>10, bombRecords(t, bomb), bombSize>>20)

	heap := watchHeap(t, s)
	// The produce path takes the batch as bytes: accepted.
	sp := producePartition(t, k.produce(-1, topic, map[int32][]byte{0: bomb}), topic, 0)
	wantCode(t, "Produce of a bomb to an ordinary topic", sp.ErrorCode, nil)

	// ListOffsets by timestamp must look inside: the last record's
	// timestamp is past the limit (the first record's is not, and is
	// answered). CORRUPT_MESSAGE, as Kafka answers a read that meets a
	// corrupt batch, and again.
	if rp, _ := k.listOffsetsAt(topic, 0, now, -1); rp.ErrorCode != 0 || rp.Offset != 0 || rp.Timestamp != now {
		t.Errorf("ListOffsets by the bomb's first timestamp: %s, offset %d at %d", codeName(rp.ErrorCode), rp.Offset, rp.Timestamp)
	}
	alloc := heap.allocated(t, func() {
		for range 2 {
			rp, _ := k.listOffsetsAt(topic, 0, now+int64(bombRecords(t, bomb))-1, -1)
			wantCode(t, "ListOffsets by timestamp over a bomb", rp.ErrorCode, kerr.CorruptMessage)
		}
	})
	t.Logf("the broker allocated %d MiB answering two ListOffsets over a bomb", int(alloc)>>20)
	if alloc > bombHeapBound {
		t.Errorf("the broker allocated %d MiB answering ListOffsets over a bomb: it inflated it", int(alloc)>>20)
	}
	// The other partition answers normally (nothing there yet).
	if rp, _ := k.listOffsetsAt(topic, 1, now, -1); rp.ErrorCode != 0 || rp.Offset != -1 {
		t.Errorf("ListOffsets by timestamp on an empty partition: %s, offset %d", codeName(rp.ErrorCode), rp.Offset)
	}
	// Fetch serves batches as they are stored and decodes nothing: no
	// error, and the bomb's bytes unchanged (the client decides whether
	// to inflate them).
	fp := k.fetch(topic, 0, 0, 500)
	wantCode(t, "Fetch of a bomb", fp.ErrorCode, nil)
	if got := fp.RecordBatches; len(got) < len(bomb) || !bytes.Equal(got[batch.HeaderSize:len(bomb)], bomb[batch.HeaderSize:]) {
		t.Errorf("Fetch returned %d bytes, not the %d-byte batch produced", len(got), len(bomb))
	}
	heap.check(t, "while meeting a bomb")

	// Ordinary clients carry on: on the bomb's topic (the other partition)
	// and on another topic.
	bombProduceConsume(t, s, topic, 1, nil)
	assertStillServes(t, s)
	heap.check(t, "after")
}

// TestFaultsBombCompactedTopic: Kafka's record validation of compacted
// topics. Records without a key get INVALID_RECORD with a per-record error
// for each (batch index and Kafka's message) and the partition's message on
// Produce v8+, and the code alone below; franz-go's producer sees the
// error; a bomb gets INVALID_RECORD with the heap bounded; keyed records,
// compressed or not, are appended.
func TestFaultsBombCompactedTopic(t *testing.T) {
	const topic = "bomb-compacted"
	s, k := startBadInputTopic(t, topic, 2, map[string]string{"cleanup.policy": "compact"})
	heap := watchHeap(t, s)
	now := time.Now().UnixMilli()
	wantMessage := "Compacted topic cannot accept message without key in topic partition " + topic + "-0."

	// Records 1 and 3 of 4 have no key, uncompressed and gzip.
	keys := [][]byte{[]byte("a"), nil, []byte("b"), nil}
	for _, codec := range []kgo.CompressionCodec{kgo.NoCompression(), kgo.GzipCompression()} {
		nullKeys := bombKeyedBatch(t, codec, now, keys)
		sp := producePartition(t, k.produce(-1, topic, map[int32][]byte{0: nullKeys}), topic, 0)
		wantCode(t, "Produce of records without a key to a compacted topic", sp.ErrorCode, kerr.InvalidRecord)
		var got []int32
		for _, r := range sp.ErrorRecords {
			got = append(got, r.RelativeOffset)
			if r.ErrorMessage == nil || *r.ErrorMessage != wantMessage {
				t.Errorf("record error %d: message %v, want %q", r.RelativeOffset, r.ErrorMessage, wantMessage)
			}
		}
		if len(got) != 2 || got[0] != 1 || got[1] != 3 {
			t.Errorf("record errors at batch indexes %v, want [1 3]", got)
		}
		if sp.ErrorMessage == nil || !strings.Contains(*sp.ErrorMessage, "due to 2 record errors") ||
			!strings.Contains(*sp.ErrorMessage, "RecordError(batchIndex=1, message='"+wantMessage+"')") {
			t.Errorf("partition error message %v", sp.ErrorMessage)
		}
	}
	// Produce v7 has no per-record errors: the code alone.
	req := bombProduceRequest(topic, 0, bombKeyedBatch(t, kgo.NoCompression(), now, keys))
	resp := k.request(req, 7).(*kmsg.ProduceResponse)
	wantCode(t, "Produce v7 of records without a key", resp.Topics[0].Partitions[0].ErrorCode, kerr.InvalidRecord)

	// franz-go's producer sees INVALID_RECORD (not retriable).
	cl := newClient(t, s, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	defer cl.Close()
	ctx := testContext(t, 60*time.Second)
	err := cl.ProduceSync(ctx, &kgo.Record{Partition: 0, Value: []byte("no key")}).FirstErr()
	if !errors.Is(err, kerr.InvalidRecord) {
		t.Errorf("franz-go producing a record without a key to a compacted topic: %v, want INVALID_RECORD", err)
	}

	// A bomb: its records are decoded to check their keys, and stop at the
	// limit.
	bomb := bombBatch(t, bombSize, now, []byte("k"))
	var sp kmsg.ProduceResponseTopicPartition
	alloc := heap.allocated(t, func() {
		sp = producePartition(t, k.produce(-1, topic, map[int32][]byte{0: bomb}), topic, 0)
	})
	wantCode(t, "Produce of a bomb to a compacted topic", sp.ErrorCode, kerr.InvalidRecord)
	if alloc > bombHeapBound {
		t.Errorf("the broker allocated %d MiB checking a bomb's keys: it inflated it", int(alloc)>>20)
	}
	if sp.ErrorMessage == nil || !strings.Contains(*sp.ErrorMessage, "decompress past the limit") {
		t.Errorf("bomb's error message %v", sp.ErrorMessage)
	}
	heap.check(t, "after a bomb to a compacted topic")

	// Keyed records go in, raw (gzip) and from franz-go, and come back.
	sp = producePartition(t, k.produce(-1, topic, map[int32][]byte{0: bombKeyedBatch(t, kgo.GzipCompression(), now, [][]byte{[]byte("a"), []byte("b")})}), topic, 0)
	wantCode(t, "Produce of keyed records to a compacted topic", sp.ErrorCode, nil)
	if sp.BaseOffset != 0 {
		t.Errorf("keyed records appended at %d, want 0 (nothing else was)", sp.BaseOffset)
	}
	bombProduceConsume(t, s, topic, 1, []byte("key"))
	heap.check(t, "after")
}

// TestFaultsBombLogCompaction: log compaction keeps a batch it cannot
// decode (a bomb, produced while the topic was not compacted) as it is,
// logs it, and still cleans the records around it.
func TestFaultsBombLogCompaction(t *testing.T) {
	const topic = "bomb-clean"
	s := StartStrata(t, Options{Args: []string{"--auto-create-topics=false",
		"--compaction-interval", "1s", "--compaction-min-age", "0s"}})
	k := dialKafka(t, s)
	wantCode(t, "CreateTopics "+topic, createTopicRaw(t, k, topic, 1, map[string]string{"min.compaction.lag.ms": "0"}), nil)
	heap := watchHeap(t, s)
	now := time.Now().UnixMilli()
	// k1 and k2 (offsets 0 and 1), the bomb, then k1 again and k3: k1's
	// first record is the one to clean.
	produce := func(what string, b []byte) int64 {
		t.Helper()
		sp := producePartition(t, k.produce(-1, topic, map[int32][]byte{0: b}), topic, 0)
		wantCode(t, "Produce "+what, sp.ErrorCode, nil)
		return sp.BaseOffset
	}
	produce("k1 and k2", bombKeyedBatch(t, kgo.NoCompression(), now, [][]byte{[]byte("k1"), []byte("k2")}))
	// Just over the limit, so that each compaction pass costs little.
	bomb := bombBatch(t, batch.MaxDecompressedBytes+1, now, []byte("z"))
	bombAt := produce("a bomb", bomb)
	last := produce("k1 again", bombKeyedBatch(t, kgo.NoCompression(), now, [][]byte{[]byte("k1"), []byte("k3")}))

	adm := kadm.NewClient(s.Client())
	ctx := testContext(t, 2*time.Minute)
	alter := []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")}}
	if res, err := adm.AlterTopicConfigs(ctx, alter, topic); err != nil || res[0].Err != nil {
		t.Fatalf("AlterConfigs cleanup.policy=compact: %v %v", err, res)
	}

	// Eventually k1's first record is gone; the bomb and the rest stay.
	for {
		offsets, stored := bombStoredOffsets(t, k, topic, last+2, bombAt)
		if !offsets[0] {
			if !offsets[1] || !offsets[last] || !offsets[last+1] {
				t.Fatalf("log compaction dropped more than k1's first record: offsets left %v", offsets)
			}
			if !bytes.Equal(stored[bombAt][batch.HeaderSize:], bomb[batch.HeaderSize:]) {
				t.Fatal("the bomb's batch changed")
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("log compaction never cleaned around the bomb: offsets %v\n%s", offsets, s.Output())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(s.Output(), "log compaction keeps a batch it cannot decode as it is") {
		t.Error("the broker did not log the batch it kept")
	}
	heap.check(t, "after log compaction met a bomb")
	assertStillServes(t, s)
}

// bombBatch is a gzip batch of valid records (each with key, and a value of
// 1 MiB of zeros; the last shorter) inflating to exactly size bytes, record
// i at timestamp ts+i. It is built as a stream: the test never holds what it
// inflates to.
func bombBatch(t *testing.T, size int, ts int64, key []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, 64<<10)
	n := int32(0)
	for left := size; left > 0; n++ {
		rec := min(left, 1<<20)
		if left-rec > 0 && left-rec < 64 {
			rec = left - 64 // room for a last record
		}
		head, value := bombRecordHead(t, n, key, rec)
		zw.Write(head)
		for v := value; v > 0; v -= min(v, len(zeros)) {
			zw.Write(zeros[:min(v, len(zeros))])
		}
		zw.Write([]byte{0}) // no headers
		left -= rec
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return bombHeader(int16(kgo.CodecGzip), n, ts, ts+int64(n-1), buf.Bytes())
}

// bombRecordHead returns the bytes of record i before its value, and the
// value's length, such that the record is exactly size bytes.
func bombRecordHead(t *testing.T, i int32, key []byte, size int) ([]byte, int) {
	t.Helper()
	for v := max(size-32, 0); v <= size; v++ {
		body := []byte{0}                         // attributes
		body = kbin.AppendVarlong(body, int64(i)) // timestamp delta
		body = kbin.AppendVarint(body, i)         // offset delta
		body = kbin.AppendVarint(body, int32(len(key)))
		body = append(body, key...)
		body = kbin.AppendVarint(body, int32(v))
		bodyLen := len(body) + v + 1 // and the header count
		head := kbin.AppendVarint(nil, int32(bodyLen))
		if len(head)+bodyLen == size {
			return append(head, body...), v
		}
	}
	t.Fatalf("no record of exactly %d bytes", size)
	return nil, 0
}

// bombHeader wraps records in a v2 batch header as a client sends it.
func bombHeader(attrs int16, n int32, ts, maxTs int64, records []byte) []byte {
	b := make([]byte, batch.HeaderSize, batch.HeaderSize+len(records))
	be := binary.BigEndian
	be.PutUint32(b[8:], uint32(batch.HeaderSize-12+len(records)))
	be.PutUint32(b[12:], 0xffffffff)
	b[16] = 2
	be.PutUint16(b[21:], uint16(attrs))
	be.PutUint32(b[23:], uint32(n-1))
	be.PutUint64(b[27:], uint64(ts))
	be.PutUint64(b[35:], uint64(maxTs))
	be.PutUint64(b[43:], 0xffffffffffffffff) // no producer id
	be.PutUint16(b[51:], 0xffff)
	be.PutUint32(b[53:], 0xffffffff)
	be.PutUint32(b[57:], uint32(n))
	b = append(b, records...)
	be.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}

// bombKeyedBatch is a batch of records with keys (nil: no key) and a small
// value each, compressed with codec.
func bombKeyedBatch(t *testing.T, codec kgo.CompressionCodec, ts int64, keys [][]byte) []byte {
	t.Helper()
	var records []byte
	for i, key := range keys {
		r := kmsg.Record{OffsetDelta: int32(i), Key: key, Value: []byte("value")}
		body := r.AppendTo(nil)[1:] // without the zero length AppendTo starts with
		records = kbin.AppendVarint(records, int32(len(body)))
		records = append(records, body...)
	}
	c, err := kgo.DefaultCompressor(codec)
	if err != nil {
		t.Fatal(err)
	}
	attrs := int16(0)
	if c != nil {
		out, used := c.Compress(new(bytes.Buffer), records)
		records, attrs = bytes.Clone(out), int16(used)
	}
	return bombHeader(attrs, int32(len(keys)), ts, ts, records)
}

func bombRecords(t *testing.T, raw []byte) int32 {
	t.Helper()
	h, err := batch.Validate(raw)
	if err != nil {
		t.Fatal(err)
	}
	return h.NumRecords
}

func bombProduceRequest(topic string, p int32, records []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = p, records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// bombProduceConsume produces a few records with franz-go to partition p of
// topic (with key, if not nil) and reads them back.
func bombProduceConsume(t *testing.T, s *Strata, topic string, p int32, key []byte) {
	t.Helper()
	ctx := testContext(t, 60*time.Second)
	prod := newClient(t, s, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	defer prod.Close()
	var rs []*kgo.Record
	for _, v := range []string{"one", "two", "three"} {
		rs = append(rs, &kgo.Record{Partition: p, Key: key, Value: []byte(v)})
	}
	res := prod.ProduceSync(ctx, rs...)
	if err := res.FirstErr(); err != nil {
		t.Fatalf("franz-go produce to %s/%d: %v", topic, p, err)
	}
	first := res[0].Record.Offset
	cons := newClient(t, s, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().At(first)}}))
	defer cons.Close()
	var got []string
	for len(got) < 3 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("franz-go consume from %s/%d: %v after %v", topic, p, ctx.Err(), got)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if strings.Join(got, ",") != "one,two,three" {
		t.Fatalf("consumed %v", got)
	}
}

// bombStoredOffsets fetches topic's partition 0 from offset 0 to end with
// raw Fetches and returns the offsets of the records stored, and each
// batch by its base offset. The batch at bomb is not decoded: all of its
// offsets count.
func bombStoredOffsets(t *testing.T, k *kafkaConn, topic string, end, bomb int64) (map[int64]bool, map[int64][]byte) {
	t.Helper()
	offsets, batches := map[int64]bool{}, map[int64][]byte{}
	for next := int64(0); next < end; {
		data := k.fetchBatches(topic, 0, next)
		if len(data) == 0 {
			t.Fatalf("Fetch at %d of %d returned nothing", next, end)
		}
		err := batch.Iter(data, func(h batch.Header, raw []byte) error {
			batches[h.BaseOffset] = bytes.Clone(raw)
			next = h.LastOffset() + 1
			if h.BaseOffset == bomb {
				for o := h.BaseOffset; o <= h.LastOffset(); o++ {
					offsets[o] = true
				}
				return nil
			}
			_, _, err := batch.Filter(raw, func(r batch.Record) bool { offsets[r.Offset] = true; return true })
			return err
		})
		if err != nil && !errors.Is(err, batch.ErrShort) { // a fetch may end inside a batch
			t.Fatal(err)
		}
	}
	return offsets, batches
}

// heapWatch samples the broker's heap in use from /metrics until the test
// ends and remembers the most it saw. Samples can miss a short peak, so
// allocated also reads the total the broker ever allocated: a broker that
// inflated a bomb would have allocated at least what it inflated to.
type heapWatch struct {
	s    *Strata
	mu   sync.Mutex
	peak float64
}

func watchHeap(t *testing.T, s *Strata) *heapWatch {
	t.Helper()
	w := &heapWatch{s: s}
	if _, err := w.sample(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			_, _ = w.sample() // the broker may be stopping with the test
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return w
}

func (w *heapWatch) sample() (float64, error) {
	v, err := bombMetric(w.s, "go_memstats_heap_inuse_bytes")
	if err != nil {
		return 0, err
	}
	w.mu.Lock()
	w.peak = max(w.peak, v)
	w.mu.Unlock()
	return v, nil
}

// check fails the test if the broker's heap in use was ever seen over
// bombHeapBound, or is now.
func (w *heapWatch) check(t *testing.T, when string) {
	t.Helper()
	now, err := w.sample()
	if err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	peak := w.peak
	w.mu.Unlock()
	t.Logf("%s: the broker's heap in use is %d MiB, peaked at %d MiB", when, int(now)>>20, int(peak)>>20)
	if peak > bombHeapBound {
		t.Errorf("%s: the broker's heap in use reached %d MiB, over %d MiB", when, int(peak)>>20, bombHeapBound>>20)
	}
}

// allocated runs fn and returns how many bytes the broker allocated
// meanwhile.
func (w *heapWatch) allocated(t *testing.T, fn func()) float64 {
	t.Helper()
	before := metricValue(t, w.s, "go_memstats_alloc_bytes_total")
	fn()
	return metricValue(t, w.s, "go_memstats_alloc_bytes_total") - before
}

// bombMetric reads an unlabelled metric from the broker's /metrics.
func bombMetric(s *Strata, name string) (float64, error) {
	resp, err := http.Get("http://" + s.HTTPAddr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	return 0, fmt.Errorf("no metric %s on /metrics", name)
}
