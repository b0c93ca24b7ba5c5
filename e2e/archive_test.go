package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/tiering"
)

// eventValue is a record like a service's JSON log line, for data that
// compresses as real data does.
func eventValue(rng *rand.Rand, i int) []byte {
	methods := []string{"GET", "GET", "GET", "POST", "PUT", "DELETE"}
	paths := []string{"/api/v1/orders", "/api/v1/users", "/healthz", "/api/v1/cart/items", "/static/app.js"}
	return fmt.Appendf(nil, `{"seq":%d,"ts":"2026-12-01T10:%02d:%02d.%03dZ","level":"info","service":"checkout","method":%q,"path":%q,"status":%d,"duration_ms":%d,"user":"u-%06d","request_id":"%016x","bytes":%d}`,
		i, i/60000%60, i/1000%60, i%1000, methods[rng.IntN(len(methods))], paths[rng.IntN(len(paths))],
		[]int{200, 200, 200, 201, 404, 500}[rng.IntN(6)], rng.IntN(900), rng.IntN(50000), rng.Uint64(), rng.IntN(1<<16))
}

// awaitArchived waits until partition 0 of topic is one archive entry
// followed by nothing mergeable, and returns the manifest.
func awaitArchived(t *testing.T, store *metadata.Store, topic string, segmentBytes int64) []metadata.ManifestEntry {
	t.Helper()
	mt, err := store.Topic(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		m, err := store.Manifest(t.Context(), metadata.PartitionKey{Topic: mt.ID, Partition: 0})
		if err != nil {
			t.Fatal(err)
		}
		if len(m) > 0 && m[0].IndexSize > 0 && len(tiering.PlanCompaction(m, segmentBytes, time.Now().UnixMilli())) == 0 {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no archive within 90s: manifest %+v", m)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestArchiveListOffsetsAndFetch, on a real etcd and MinIO: once a topic's
// ranges are compacted into a zstd archive of several blocks, ListOffsets by
// timestamp finds the first record at or after each timestamp, fetches from
// any offset return the records as produced, and both hold after a restart
// with empty caches.
func TestArchiveListOffsetsAndFetch(t *testing.T) {
	const topic, n = "archived", 6000
	s, etcd, _ := startExternal(t, "archive", "--compaction-interval", "300ms", "--compaction-min-age", "0s", "--disk-cache-bytes", "0")
	ctx := testContext(t, 3*time.Minute)
	cl := s.Client(kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(5*time.Millisecond))
	if _, err := cl.Request(ctx, createTopicsRequest(topic, 1, map[string]string{
		"segment.bytes": "67108864", "strata.archive.compression": "zstd"})); err != nil {
		t.Fatal(err)
	}
	base := time.UnixMilli(1_760_000_000_000)
	rng := rand.New(rand.NewPCG(1, 2))
	values := make([][]byte, n)
	for start := 0; start < n; start += 500 { // many uploads, then one archive
		var rs []*kgo.Record
		for i := start; i < start+500; i++ {
			values[i] = eventValue(rng, i)
			rs = append(rs, &kgo.Record{Value: values[i], Timestamp: base.Add(time.Duration(i*10) * time.Millisecond)})
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(250 * time.Millisecond) // past --seal-interval: another segment
	}
	manifest := awaitArchived(t, metadataStore(t, etcd.Endpoint), topic, 64<<20)
	raw := 0
	for _, v := range values {
		raw += len(v)
	}
	t.Logf("%d records, %d bytes of values; manifest: first entry %d stored bytes for offsets %d-%d, %d entries",
		n, raw, manifest[0].Size, manifest[0].BaseOffset, manifest[0].LastOffset, len(manifest))
	if manifest[0].LastOffset < n/2 {
		t.Fatalf("the archive holds offsets %d-%d, want most of the %d records", manifest[0].BaseOffset, manifest[0].LastOffset, n)
	}

	probes := []int64{0, 1, 999, 1000, 2345, 3001, int64(manifest[0].LastOffset), n - 1}
	check := func(t *testing.T, cl *kgo.Client) {
		for _, want := range probes {
			for _, delta := range []int64{0, -3} { // exact, and between records
				ts := base.UnixMilli() + want*10 + delta
				p := listOffsetAt(t, ctx, cl, topic, ts)
				if p.ErrorCode != 0 || p.Offset != want || p.Timestamp != base.UnixMilli()+want*10 {
					t.Errorf("timestamp %d: offset %d at %d (error %d), want %d at %d", ts, p.Offset, p.Timestamp, p.ErrorCode, want, base.UnixMilli()+want*10)
				}
			}
			// A fetch from the offset returns it and the records after it.
			c := s.Client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().At(want)}}), kgo.FetchMaxBytes(64<<10))
			next := want
			for next < min(want+300, n) && ctx.Err() == nil {
				c.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
					if r.Offset != next || !bytes.Equal(r.Value, values[r.Offset]) {
						t.Errorf("fetch from %d: record at %d (%q), want offset %d with its value", want, r.Offset, r.Value, next)
					}
					next = r.Offset + 1
				})
			}
			c.Close()
		}
	}
	t.Run("archived", func(t *testing.T) { check(t, cl) })
	if code := s.Stop(); code != 0 {
		t.Fatalf("graceful stop exited %d", code)
	}
	s.Restart()
	t.Run("after a restart", func(t *testing.T) { check(t, s.Client()) })
}

// TestCompactionRestart, on a real etcd and MinIO: a broker SIGKILLed again
// and again while it compacts comes back to a consistent manifest (entries
// in offset order, none overlapping, every object present), the checker
// finds nothing lost or duplicated, and what the kills left half done is
// collected.
func TestCompactionRestart(t *testing.T) {
	const topic, partitions = "compact-restart", 2
	s, etcd, minio := startExternal(t, "restart", "--compaction-interval", "100ms", "--compaction-min-age", "0s",
		"--gc-interval", "300ms", "--session-ttl", "2s", "--gc-grace", "4s")
	ctx := testContext(t, 4*time.Minute)
	ensureTopic(t, s, topic, partitions, map[string]string{"segment.bytes": "262144", "strata.archive.compression": "zstd"})
	store := metadataStore(t, etcd.Endpoint)
	mt, err := store.Topic(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	w := startWorkload(t, []string{topic}, partitions, 2*time.Millisecond, s.Client)
	rng := rand.New(rand.NewPCG(7, 7))
	for kill := range 4 {
		deadline := time.Now().Add(60 * time.Second)
		for metricValue(t, s, "strata_compactions_total") < 1 {
			if time.Now().After(deadline) {
				t.Fatalf("kill %d: no compaction within 60s", kill)
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond) // somewhere in the next compactions
		s.Kill()
		s.Restart()
	}
	if err := w.pause(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	v, err := w.check(ctx, s.Client)
	if err != nil {
		t.Fatal(err)
	}
	if !v.ok() || v.Read == 0 {
		t.Fatalf("%v", &v)
	}
	orphans := len(segmentObjects(t, minio, "restart"))
	refs, _, err := store.ReferencedObjects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	orphans -= len(refs)
	archives := 0
	for p := range int32(partitions) {
		m, err := store.Manifest(ctx, metadata.PartitionKey{Topic: mt.ID, Partition: p})
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range m {
			if i > 0 && e.BaseOffset <= m[i-1].LastOffset {
				t.Fatalf("partition %d: entry %d at %d-%d overlaps the one before (%d-%d)", p, i, e.BaseOffset, e.LastOffset, m[i-1].BaseOffset, m[i-1].LastOffset)
			}
			if e.IndexSize > 0 {
				archives++
			}
		}
	}
	if archives == 0 {
		t.Fatal("no archive entries: compaction never swapped one in")
	}
	awaitCollected(t, store, minio, "restart")
	acked, _ := w.totals()
	t.Logf("%d records acknowledged, %d read; %d archive entries; %d unreferenced objects right after the kills, all collected", acked, v.Read, archives, orphans)
}
