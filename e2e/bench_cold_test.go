package e2e

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/sourcegraph/conc/pool"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/internal/bytesize"
	"github.com/strata-io/strata/internal/testenv"
	"github.com/strata-io/strata/tiering"
)

// coldBytesEnv sets BenchmarkColdReplay's data size (a size such as 256MiB).
const coldBytesEnv = "STRATA_BENCH_COLD_BYTES"

// BenchmarkColdReplay measures a consumer replaying a topic from the
// beginning with nothing cached: STRATA_BENCH_COLD_BYTES (default 1GiB) of
// 1 KiB uncompressed records over 16 partitions, produced to one broker on a
// real MinIO and etcd; the broker is stopped, its disk cache removed, and
// started again before each replay, so every range comes from MinIO. franz-go
// consumes from offset 0 with its defaults until it has every record.
//
// The reference, ref=minio-go, GETs the same ranges (every manifest range of
// every segment object, read from the objects' indexes) straight from the
// same MinIO with minio-go, tiering.DefaultReadAheadGETs at a time: what the
// object store serves to a client that knows exactly what to read. Both
// report MB/s of those ranges' bytes, so `make bench` prints the replay as a
// ratio to raw GET throughput.
func BenchmarkColdReplay(b *testing.B) {
	const (
		partitions = 16
		topic      = "cold"
		recordSize = 1024
	)
	total := benchSize(b, coldBytesEnv, 1<<30)
	records := int(total / recordSize)

	etcd := testenv.StartEtcd(b)
	store := testenv.StartMinIO(b)
	s := StartStrata(b, Options{EtcdEndpoints: etcd.Endpoint, ObjectStore: store.S3URL(topic),
		Args: []string{"--seal-interval", "200ms", "--log-level", "info"}})
	ctx := context.Background()
	if _, err := kadm.NewClient(s.Client()).CreateTopic(ctx, partitions, -1, nil, topic); err != nil {
		b.Fatal(err)
	}

	// Produce: windows of a random buffer, so that nothing compresses.
	noise := make([]byte, 1<<20+recordSize)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	pr, err := kgo.NewClient(kgo.SeedBrokers(s.Addr), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.MaxBufferedRecords(1<<16))
	if err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	var failed produceFailure
	wg.Add(records)
	for i := range records {
		off := (i * 4099) % (1 << 20)
		pr.Produce(ctx, &kgo.Record{Value: noise[off : off+recordSize]}, failed.promise(wg.Done))
	}
	wg.Wait()
	pr.Close()
	if err := failed.err(); err != nil {
		b.Fatal(err)
	}
	// A graceful stop uploads and commits everything the WAL holds.
	if code := s.Stop(); code != 0 {
		b.Fatalf("strata %s: exit code %d after SIGTERM", s.Addr, code)
	}

	ranges := segmentRanges(b, store, topic)
	var rangeBytes int64
	for _, r := range ranges {
		rangeBytes += r.size
	}
	b.Logf("%d records, %d segment ranges, %d bytes of ranges", records, len(ranges), rangeBytes)

	// replay consumes the topic from offset 0 to its end, timing from the
	// first fetch.
	replay := func(b *testing.B) {
		b.StopTimer()
		cl, err := kgo.NewClient(kgo.SeedBrokers(s.Addr), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		// Metadata first, so that the timing starts at the first fetch.
		if _, err := kadm.NewClient(cl).ListTopics(ctx, topic); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		rctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
		defer cancel()
		got := 0
		for got < records {
			fs := cl.PollFetches(rctx)
			if err := rctx.Err(); err != nil {
				b.Fatalf("replay: %v after %d of %d records", err, got, records)
			}
			fs.EachError(func(t string, p int32, err error) { b.Fatalf("replay: %s/%d: %v", t, p, err) })
			got += fs.NumRecords()
		}
		b.StopTimer()
		if got != records {
			b.Fatalf("replay: %d records, want %d", got, records)
		}
	}

	b.Run(fmt.Sprintf("ref=minio-go/partitions=%d", partitions), func(b *testing.B) {
		cl := minioClient(b, store)
		b.SetBytes(rangeBytes)
		b.ResetTimer()
		for range b.N {
			p := pool.New().WithErrors().WithMaxGoroutines(tiering.DefaultReadAheadGETs)
			for _, r := range ranges {
				p.Go(func() error {
					opts := minio.GetObjectOptions{}
					if err := opts.SetRange(r.pos, r.pos+r.size-1); err != nil {
						return err
					}
					obj, err := cl.GetObject(ctx, topic, r.object, opts)
					if err != nil {
						return err
					}
					defer obj.Close()
					buf := make([]byte, r.size)
					_, err = io.ReadFull(obj, buf)
					return err
				})
			}
			if err := p.Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run(fmt.Sprintf("strata/partitions=%d", partitions), func(b *testing.B) {
		b.SetBytes(rangeBytes)
		for i := range b.N {
			b.StopTimer()
			if i > 0 {
				if code := s.Stop(); code != 0 {
					b.Fatalf("strata %s: exit code %d after SIGTERM", s.Addr, code)
				}
			}
			if err := os.RemoveAll(filepath.Join(s.DataDir(), "cache")); err != nil {
				b.Fatal(err)
			}
			s.Restart()
			replay(b)
			logReaderMetrics(b, s)
		}
	})
	// The same replay with the broker's cache warm (256MiB of memory, then
	// disk): what the broker and the client do without the object store. The
	// disk tier admits a range that read-ahead loaded on its second load, so
	// an untimed replay first loads the ranges the cold replay left out of
	// memory again, and the disk tier keeps them.
	b.Run(fmt.Sprintf("strata-warm/partitions=%d", partitions), func(b *testing.B) {
		b.SetBytes(rangeBytes)
		replay(b)
		b.ResetTimer()
		for range b.N {
			replay(b)
		}
		logReaderMetrics(b, s)
	})
	s.Stop()
}

// segmentRange is one manifest range of a segment object.
type segmentRange struct {
	object    string
	pos, size int64
}

// segmentRanges reads the index of every segment object in bucket (its
// footer, then its index; the format is in tiering's package doc).
func segmentRanges(b *testing.B, m *testenv.MinIO, bucket string) []segmentRange {
	b.Helper()
	cl := minioClient(b, m)
	ctx := context.Background()
	get := func(name string, off, n int64) []byte {
		opts := minio.GetObjectOptions{}
		if err := opts.SetRange(off, off+n-1); err != nil {
			b.Fatal(err)
		}
		obj, err := cl.GetObject(ctx, bucket, name, opts)
		if err != nil {
			b.Fatal(err)
		}
		defer obj.Close()
		buf := make([]byte, n)
		if _, err := io.ReadFull(obj, buf); err != nil {
			b.Fatalf("read %s at %d+%d: %v", name, off, n, err)
		}
		return buf
	}
	const footer, entry = 28, 68
	var out []segmentRange
	for info := range cl.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: tiering.SegmentPrefix, Recursive: true}) {
		if info.Err != nil {
			b.Fatal(info.Err)
		}
		f := get(info.Key, info.Size-footer, footer)
		if string(f[20:]) != "STRATSEG" {
			b.Fatalf("%s: not a segment object", info.Key)
		}
		index := get(info.Key, int64(binary.BigEndian.Uint64(f)), int64(binary.BigEndian.Uint32(f[8:])))
		for e := index; len(e) >= entry; e = e[entry:] {
			out = append(out, segmentRange{info.Key, int64(binary.BigEndian.Uint64(e[20:])), int64(binary.BigEndian.Uint64(e[28:]))})
		}
	}
	return out
}

func minioClient(b *testing.B, m *testenv.MinIO) *minio.Client {
	b.Helper()
	cl, err := minio.New(m.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(testenv.MinIOUser, testenv.MinIOPassword, ""),
		Region: "us-east-1",
	})
	if err != nil {
		b.Fatal(err)
	}
	return cl
}

// benchSize is the size the environment variable env sets, or def.
func benchSize(b *testing.B, env string, def int64) int64 {
	v := os.Getenv(env)
	if v == "" {
		return def
	}
	n, err := bytesize.Parse(v)
	if err == nil && n <= 0 {
		err = errors.New("want a size above 0")
	}
	if err != nil {
		b.Fatalf("%s=%q: %v", env, v, err)
	}
	return int64(n)
}

// logReaderMetrics logs what the broker's range reader did.
func logReaderMetrics(b *testing.B, s *Strata) {
	var parts []string
	for _, m := range []string{
		"strata_tiering_cache_misses_total", `strata_tiering_cache_hits_total{tier="memory"}`, `strata_tiering_cache_hits_total{tier="disk"}`,
		"strata_tiering_readahead_gets_total", "strata_tiering_readahead_used_total", "strata_tiering_readahead_wasted_total",
		"strata_tiering_readahead_skipped_total", "strata_tiering_disk_cache_writes_total", "strata_tiering_disk_cache_skipped_writes_total",
		`strata_objectstore_operation_duration_seconds_sum{op="get_range"}`, `strata_objectstore_operation_duration_seconds_count{op="get_range"}`,
		"process_cpu_seconds_total",
	} {
		parts = append(parts, fmt.Sprintf("%s=%v", strings.TrimPrefix(m, "strata_tiering_"), metricValue(b, s, m)))
	}
	b.Logf("reader: %s", strings.Join(parts, " "))
}
