package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestColdReplay, on a real etcd and MinIO: a consumer replaying a topic
// from offset 0 after a restart (nothing in memory) gets every record, in
// order, exactly once, from the disk tier of the range cache (the ranges a
// consumer waited for before the restart, and read-ahead ranges loaded
// twice) and from the object store through read-ahead. The memory tier holds half the topic, so that ranges move between tiers.
func TestColdReplay(t *testing.T) {
	const (
		topic      = "cold"
		partitions = 4
		perPart    = 2000
		chunk      = 100 // records per produce: one manifest entry or a few
	)
	s, _, _ := startExternal(t, "cold", "--cache-bytes", "4MiB", "--disk-cache-bytes", "64MiB", "--read-ahead-bytes", "512KiB", "--log-level", "info")
	ctx := testContext(t, 4*time.Minute)
	cl := s.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, -1, nil, topic); err != nil {
		t.Fatal(err)
	}
	value := func(p int32, i int) []byte {
		return fmt.Appendf(nil, "%d/%06d/%0900d", p, i, i) // ~1 KB, incompressible enough not to matter
	}
	for start := 0; start < perPart; start += chunk {
		var rs []*kgo.Record
		for p := range int32(partitions) {
			for i := start; i < start+chunk; i++ {
				rs = append(rs, &kgo.Record{Topic: topic, Partition: p, Value: value(p, i)})
			}
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()

	// consume reads from offset 0 until every partition has given upTo
	// records, checking each is the next one of its partition.
	consume := func(when string, upTo int) {
		t.Helper()
		c := s.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxPartitionBytes(256<<10))
		defer c.Close()
		next := make([]int, partitions)
		done := 0
		for done < partitions {
			fs := c.PollFetches(ctx)
			if err := ctx.Err(); err != nil {
				t.Fatalf("%s: %v; consumed %v of %d per partition", when, err, next, upTo)
			}
			fs.EachError(func(_ string, p int32, err error) { t.Fatalf("%s: partition %d: %v", when, p, err) })
			fs.EachRecord(func(r *kgo.Record) {
				i := next[r.Partition]
				if i >= upTo {
					return
				}
				if r.Offset != int64(i) || string(r.Value) != string(value(r.Partition, i)) {
					t.Fatalf("%s: partition %d: record at offset %d (%.12q), want offset %d (%.12q)",
						when, r.Partition, r.Offset, r.Value, i, value(r.Partition, i))
				}
				if next[r.Partition]++; next[r.Partition] == upTo {
					done++
				}
			})
		}
	}

	// The first half, read after a restart, goes to the disk tier.
	restart := func() {
		t.Helper()
		if code := s.Stop(); code != 0 {
			t.Fatalf("graceful stop: exit %d", code)
		}
		s.Restart()
	}
	restart()
	consume("first half", perPart/2)
	if n := metricValue(t, s, "strata_tiering_disk_cache_writes_total"); n == 0 {
		t.Errorf("no range written to the disk tier")
	}
	restart()
	consume("replay", perPart)

	disk := metricValue(t, s, `strata_tiering_cache_hits_total{tier="disk"}`)
	ahead := metricValue(t, s, "strata_tiering_readahead_gets_total")
	used := metricValue(t, s, "strata_tiering_readahead_used_total")
	t.Logf("after the replay: %v disk hits, %v read-ahead GETs, %v read-ahead ranges used", disk, ahead, used)
	if disk == 0 {
		t.Errorf("the replay read nothing from the disk tier")
	}
	if ahead == 0 || used == 0 {
		t.Errorf("the replay did not read ahead: %v read-ahead GETs, %v used", ahead, used)
	}
}
