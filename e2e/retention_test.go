package e2e

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/internal/testenv"
	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/tiering"
)

// TestRetention, on a real etcd and MinIO: retention.ms drops the segments
// whose newest record is older than it, retention.bytes the oldest segments
// while the rest stays at or above it, and DeleteRecords moves the log start
// to the offset asked for. In each case ListOffsets earliest answers the new
// log start, a Fetch below it gets OFFSET_OUT_OF_RANGE, a consumer from the
// beginning starts there, and all of it holds after a restart. Garbage
// collection then deletes the objects of the dropped entries, and only them.
func TestRetention(t *testing.T) {
	s, etcd, minio := startExternal(t, "retention", "--retention-check-interval", "200ms", "--gc-interval", "200ms", "--session-ttl", "2s", "--gc-grace", "4s")
	ctx := testContext(t, 3*time.Minute)
	cl := s.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	adm := kadm.NewClient(cl)
	create := func(topic string, configs map[string]*string) {
		t.Helper()
		if _, err := adm.CreateTopic(ctx, 1, 1, configs, topic); err != nil {
			t.Fatal(err)
		}
	}
	// produce writes one batch of n records and waits until it is
	// committed (acks=all), so that every call is a manifest entry of its own.
	value := bytes.Repeat([]byte("v"), 1024)
	produce := func(topic string, n int, ts time.Time) {
		t.Helper()
		rs := make([]*kgo.Record, n)
		for i := range rs {
			// A key of its own: compacted topics refuse records without
			// one, and none is compacted away.
			rs[i] = &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "%s-%d-%d", topic, ts.UnixNano(), i), Value: value, Timestamp: ts}
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	earliest := func(topic string) int64 {
		t.Helper()
		offs, err := adm.ListStartOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		o, _ := offs.Lookup(topic, 0)
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		return o.Offset
	}
	// awaitLogStart waits until retention has moved the log start to want.
	awaitLogStart := func(topic string, want int64) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for got := earliest(topic); got != want; got = earliest(topic) {
			if got > want || time.Now().After(deadline) {
				t.Fatalf("%s: log start %d, want %d", topic, got, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// retention.ms: an hour; the first batch is two hours old.
	create("ret-time", map[string]*string{"retention.ms": kadm.StringPtr("3600000")})
	produce("ret-time", 5, time.Now().Add(-2*time.Hour))
	produce("ret-time", 5, time.Now())
	// retention.bytes: 25000 keeps 3 of 5 batches of ~10.4 KB (5S-2S >= 25000 > 2S).
	create("ret-size", map[string]*string{"retention.bytes": kadm.StringPtr("25000")})
	for range 5 {
		produce("ret-size", 10, time.Now())
	}
	// DeleteRecords to the middle of the second of three batches.
	create("ret-delete", nil)
	for range 3 {
		produce("ret-delete", 10, time.Now())
	}
	// retention.ms -1 and the compact policy keep everything.
	create("ret-keep", map[string]*string{"retention.ms": kadm.StringPtr("-1")})
	create("ret-compact", map[string]*string{"cleanup.policy": kadm.StringPtr("compact"), "retention.bytes": kadm.StringPtr("0")})
	produce("ret-keep", 5, time.Now().Add(-100*24*time.Hour))
	produce("ret-compact", 5, time.Now().Add(-100*24*time.Hour))

	objects := segmentObjects(t, minio, "retention")
	deleted, err := adm.DeleteRecords(ctx, kadm.Offsets{"ret-delete": {0: {Topic: "ret-delete", Partition: 0, At: 15}}})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := deleted.Lookup("ret-delete", 0); d.Err != nil || d.LowWatermark != 15 {
		t.Fatalf("DeleteRecords to 15: low watermark %d, %v", d.LowWatermark, d.Err)
	}
	past, err := adm.DeleteRecords(ctx, kadm.Offsets{"ret-delete": {0: {Topic: "ret-delete", Partition: 0, At: 31}}})
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := past.Lookup("ret-delete", 0); d.Err != kerr.OffsetOutOfRange {
		t.Fatalf("DeleteRecords past the high watermark: %v, want OFFSET_OUT_OF_RANGE", d.Err)
	}

	want := map[string]int64{"ret-time": 5, "ret-size": 20, "ret-delete": 15, "ret-keep": 0, "ret-compact": 0}
	check := func(when string) {
		t.Helper()
		for topic, logStart := range want {
			awaitLogStart(topic, logStart)
			k := dialKafka(t, s)
			if logStart > 0 {
				if fp := k.fetch(topic, 0, logStart-1, 0); fp.ErrorCode != kerr.OffsetOutOfRange.Code {
					t.Errorf("%s: %s: Fetch at %d, below the log start: error %d, want OFFSET_OUT_OF_RANGE", when, topic, logStart-1, fp.ErrorCode)
				}
			}
			if first := firstConsumed(t, s, topic); first != logStart {
				t.Errorf("%s: %s: a consumer from the beginning starts at %d, want %d", when, topic, first, logStart)
			}
		}
	}
	check("after retention")
	// Retention keeps applying: at 0 bytes the rest goes too. An empty log
	// keeps its offsets: the next record is at the old high watermark.
	setBytes := func(v string) {
		t.Helper()
		if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.bytes", Value: kadm.StringPtr(v)}}, "ret-size"); err != nil {
			t.Fatal(err)
		}
	}
	setBytes("0")
	awaitLogStart("ret-size", 50)
	setBytes("-1")
	r, err := cl.ProduceSync(ctx, &kgo.Record{Topic: "ret-size", Value: value}).First()
	if err != nil || r.Offset != 50 {
		t.Fatalf("produce to the emptied log: offset %d, %v; want 50", r.Offset, err)
	}
	want["ret-size"] = 50
	if code := s.Stop(); code != 0 {
		t.Fatalf("graceful stop: exit %d", code)
	}
	s.Restart()
	check("after a restart")

	// Garbage collection: the objects of the entries dropped (7: one of
	// ret-time, the first 5 of ret-size, one of ret-delete; each object
	// holds one batch) go once --gc-grace has passed, and every object a
	// manifest references stays.
	store := metadataStore(t, etcd.Endpoint)
	refs := awaitCollected(t, store, minio, "retention")
	dropped := 0
	for name := range objects {
		if _, ok := refs[name]; !ok {
			dropped++
		}
	}
	if dropped != 7 {
		t.Fatalf("%d of the %d objects before retention are no longer referenced, want 7", dropped, len(objects))
	}
}

// awaitCollected waits until garbage collection has deleted every object of
// the bucket that no manifest references, checks that every referenced
// object is there, and returns the referenced ones.
func awaitCollected(t *testing.T, store *metadata.Store, minio *testenv.MinIO, bucket string) map[string]struct{} {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		refs, _, err := store.ReferencedObjects(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		listed := segmentObjects(t, minio, bucket)
		for name := range refs {
			if !listed[name] {
				t.Fatalf("object %s is referenced by a manifest entry but not in the bucket", name)
			}
		}
		if len(listed) == len(refs) {
			return refs
		}
		if time.Now().After(deadline) {
			t.Fatalf("within 60s the bucket still holds %d objects no manifest references", len(listed)-len(refs))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// segmentObjects lists the segment objects in a bucket of minio.
func segmentObjects(t *testing.T, minio *testenv.MinIO, bucket string) map[string]bool {
	t.Helper()
	b, err := objectstore.Open(t.Context(), minio.S3URL(bucket))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	out := map[string]bool{}
	if err := b.Iter(t.Context(), tiering.SegmentPrefix, func(name string) error { out[name] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// metadataStore is a Store on the cluster's etcd, for reading what the
// brokers wrote.
func metadataStore(t testing.TB, endpoint string) *metadata.Store {
	t.Helper()
	client, err := metadata.Connect(t.Context(), []string{endpoint}, 10*time.Second, metadata.ClientAuth{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	store, err := metadata.New(t.Context(), client, metadata.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// firstConsumed is the offset of the first record a new consumer of topic
// partition 0 reads from the beginning.
func firstConsumed(t *testing.T, s *Strata, topic string) int64 {
	t.Helper()
	cl := s.Client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("%s: nothing consumed from the beginning: %v", topic, err)
		}
		var first int64 = -1
		fs.EachRecord(func(r *kgo.Record) {
			if first < 0 {
				first = r.Offset
			}
		})
		if first >= 0 {
			return first
		}
		for _, e := range fs.Errors() {
			t.Logf("%s: fetch: %v", topic, fmt.Sprint(e.Err))
		}
	}
}
