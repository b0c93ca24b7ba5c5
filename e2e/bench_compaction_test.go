package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/internal/testenv"
	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/tiering"
)

// compactBytesEnv sets BenchmarkCompaction's data size (a size such as 256MiB).
const compactBytesEnv = "STRATA_BENCH_COMPACT_BYTES"

// BenchmarkCompaction counts what a topic costs in the bucket and in etcd
// before and after object compaction: STRATA_BENCH_COMPACT_BYTES (default
// 256MiB) of JSON event records (eventValue) over 4 partitions, produced to
// one broker on a real MinIO and etcd that seals its WAL every 1 MiB (as a
// broker taking a few MB/s does at --seal-interval 200ms), with
// segment.bytes at 32 MiB. Then the broker restarts with compaction and
// garbage collection every few hundred milliseconds and the counts are
// taken again once nothing is left to merge or collect.
//
// Each figure is per GiB of record values, with its reference in the same
// run: the counts before compaction, and the values' own size for the bytes
// stored. archive=none keeps batches as produced; archive=zstd compresses
// the archive's blocks (strata.archive.compression=zstd).
func BenchmarkCompaction(b *testing.B) {
	const (
		partitions   = 4
		segmentBytes = 32 << 20
	)
	total := benchSize(b, compactBytesEnv, 256<<20)
	etcd := testenv.StartEtcd(b)
	store := testenv.StartMinIO(b)
	ms := metadataStore(b, etcd.Endpoint)
	for _, codec := range []string{"none", "zstd"} {
		b.Run("archive="+codec, func(b *testing.B) {
			for i := range b.N {
				topic := fmt.Sprintf("compact-%s-%d", codec, i)
				s := StartStrata(b, Options{EtcdEndpoints: etcd.Endpoint, ObjectStore: store.S3URL(topic),
					Args: []string{"--seal-bytes", "1MiB", "--compaction-interval", "24h"}})
				ctx := context.Background()
				if _, err := s.Client().Request(ctx, createTopicsRequest(topic, partitions, map[string]string{
					"segment.bytes": fmt.Sprint(segmentBytes), "strata.archive.compression": codec})); err != nil {
					b.Fatal(err)
				}
				values := produceEvents(b, s, topic, total)
				if code := s.Stop(); code != 0 { // uploads what the WAL holds
					b.Fatalf("strata: exit code %d after SIGTERM", code)
				}
				before := countStored(b, ms, store, topic, partitions)

				b.ResetTimer()
				s.opts.Args = append(s.opts.Args, "--compaction-interval", "200ms", "--compaction-min-age", "0s",
					"--gc-interval", "500ms", "--session-ttl", "2s", "--gc-grace", "4s")
				s.Restart()
				var after stored
				for deadline := time.Now().Add(20 * time.Minute); ; {
					after = countStored(b, ms, store, topic, partitions)
					if after.mergeable == 0 && after.objects == after.referenced {
						break
					}
					if time.Now().After(deadline) {
						b.Fatalf("after 20 minutes: %+v", after)
					}
					time.Sleep(500 * time.Millisecond)
				}
				b.StopTimer()
				s.Stop()
				gib := float64(values) / (1 << 30)
				b.Logf("%d bytes of values; before %+v; after %+v", values, before, after)
				b.ReportMetric(float64(before.objects)/gib, "objects/GiB-before")
				b.ReportMetric(float64(after.objects)/gib, "objects/GiB-after")
				b.ReportMetric(float64(before.keys)/gib, "keys/GiB-before")
				b.ReportMetric(float64(after.keys)/gib, "keys/GiB-after")
				b.ReportMetric(float64(after.objects)/float64(before.objects), "objects-after/before")
				b.ReportMetric(float64(after.keys)/float64(before.keys), "keys-after/before")
				b.ReportMetric(float64(after.bytes)/float64(values), "stored/values")
			}
		})
	}
}

// stored is what one topic costs.
type stored struct {
	objects, referenced int   // segment objects in its bucket, and those its manifests name
	keys                int   // manifest entries (one etcd key each)
	bytes               int64 // bytes of the objects
	mergeable           int   // runs compaction would still merge
}

func countStored(b *testing.B, ms *metadata.Store, m *testenv.MinIO, topic string, partitions int32) stored {
	b.Helper()
	ctx := context.Background()
	mt, err := ms.Topic(ctx, topic)
	if err != nil {
		b.Fatal(err)
	}
	var st stored
	refs := map[string]bool{}
	for p := range partitions {
		entries, err := ms.Manifest(ctx, metadata.PartitionKey{Topic: mt.ID, Partition: p})
		if err != nil {
			b.Fatal(err)
		}
		st.keys += len(entries)
		st.mergeable += len(tiering.PlanCompaction(entries, 32<<20, time.Now().UnixMilli()))
		for _, e := range entries {
			refs[e.Object] = true
		}
	}
	st.referenced = len(refs)
	for info := range minioClient(b, m).ListObjects(ctx, topic, minio.ListObjectsOptions{Prefix: tiering.SegmentPrefix, Recursive: true}) {
		if info.Err != nil {
			b.Fatal(info.Err)
		}
		st.objects++
		st.bytes += info.Size
	}
	return st
}

// produceEvents produces eventValue records round robin to topic until
// their values add up to total bytes, and returns the bytes produced.
func produceEvents(b *testing.B, s *Strata, topic string, total int64) int64 {
	b.Helper()
	ctx := context.Background()
	pr, err := kgo.NewClient(kgo.SeedBrokers(s.Addr), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.MaxBufferedRecords(1<<14))
	if err != nil {
		b.Fatal(err)
	}
	defer pr.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	var (
		wg     sync.WaitGroup
		failed produceFailure
		sum    int64
	)
	for i := 0; sum < total; i++ {
		v := eventValue(rng, i)
		sum += int64(len(v))
		wg.Add(1)
		pr.Produce(ctx, &kgo.Record{Value: v}, failed.promise(wg.Done))
	}
	wg.Wait()
	if err := failed.err(); err != nil {
		b.Fatal(err)
	}
	return sum
}
