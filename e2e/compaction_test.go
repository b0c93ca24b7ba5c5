package e2e

import (
	"strconv"
	"testing"
	"time"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/tiering"
)

// TestObjectCompaction, on a real etcd and MinIO: while a producer and a
// consumer run, each partition's small ranges are merged into archive
// objects of their own of up to segment.bytes, zstd-compressed in blocks; the cluster harness's checker finds
// nothing lost, duplicated, reordered or changed under the consumer; the
// manifest ends with nothing left to merge; and garbage collection deletes
// the small objects nothing references any more.
func TestObjectCompaction(t *testing.T) {
	const topic, partitions, segmentBytes = "compact-objects", 4, 64 << 10
	s, etcd, minio := startExternal(t, "compaction", "--compaction-interval", "300ms", "--compaction-min-age", "0s",
		"--gc-interval", "300ms", "--session-ttl", "2s", "--gc-grace", "4s")
	ctx := testContext(t, 3*time.Minute)
	ensureTopic(t, s, topic, partitions, map[string]string{"segment.bytes": strconv.Itoa(segmentBytes), "strata.archive.compression": "zstd"})
	store := metadataStore(t, etcd.Endpoint)
	mt, err := store.Topic(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	w := startWorkload(t, []string{topic}, partitions, 10*time.Millisecond, s.Client)
	check := func(when string) {
		t.Helper()
		if err := w.pause(60 * time.Second); err != nil {
			t.Fatal(err)
		}
		defer w.resume()
		v, err := w.check(ctx, s.Client)
		if err != nil {
			t.Fatal(err)
		}
		acked, _ := w.totals()
		t.Logf("%s: %d records read, %d acknowledged", when, v.Read, acked)
		if !v.ok() || v.Read == 0 {
			t.Fatalf("%s: %v", when, &v)
		}
	}
	compactions := func() float64 { return metricValue(t, s, "strata_compactions_total") }
	deadline := time.Now().Add(60 * time.Second)
	for compactions() < 2*partitions {
		if time.Now().After(deadline) {
			t.Fatalf("%v compactions within 60s of producing", compactions())
		}
		time.Sleep(200 * time.Millisecond)
	}
	check("while compacting")
	time.Sleep(2 * time.Second) // more records, more compactions
	check("after more compactions")
	if err := w.pause(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	// Producing stopped: the compactor catches up and leaves nothing to merge.
	entries, archives := 0, 0
	deadline = time.Now().Add(60 * time.Second)
	for p := int32(0); p < partitions; p++ {
		key := metadata.PartitionKey{Topic: mt.ID, Partition: p}
		for {
			m, err := store.Manifest(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if runs := tiering.PlanCompaction(m, segmentBytes, time.Now().UnixMilli()); len(runs) == 0 {
				entries += len(m)
				for _, e := range m {
					if e.IndexSize > 0 {
						archives++
					}
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("partition %d: %d manifest entries, still mergeable 60s after producing stopped", p, len(m))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if archives < partitions {
		t.Fatalf("%d archive entries among %d, want at least one per partition", archives, entries)
	}
	refs := awaitCollected(t, store, minio, "compaction")
	t.Logf("after compaction: %d manifest entries (%d archives) in %d objects; %v compactions", entries, archives, len(refs), compactions())
	w.resume()
	check("at the end")
}
