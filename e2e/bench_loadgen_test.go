package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/sourcegraph/conc/pool"

	"github.com/strata-io/strata/internal/testenv"
	"github.com/strata-io/strata/loadgen"
)

// loadgenOutEnv is where BenchmarkLoadgen keeps its results for
// tools/benchdoc; unset = a temporary directory.
const loadgenOutEnv = "STRATA_BENCH_LOADGEN_OUT"

// BenchmarkLoadgen runs the standard workloads of loadgen/workloads with
// `strata loadgen run`, against franz-go's kfake (started by the load
// generator in its own process: the reference) and against one Strata
// broker on a real MinIO and etcd with its default seal settings, and
// measures the machine's raw ceilings: sequential fsync'd writes to the
// disk the broker writes to, minio-go PUTs of 8 MiB objects and ranged GETs
// from the same MinIO.
//
// Each run's result.json goes to $STRATA_BENCH_LOADGEN_OUT/WORKLOAD/SYSTEM/
// and the ceilings to ceilings.json there, for benchdoc to turn into
// docs/benchmarks.md. Each sub-benchmark reports MB/s (produced, or read in
// the catch-up of a catch-up workload) so that benchratio prints Strata's
// ratio to kfake, and its p99 latencies.
func BenchmarkLoadgen(b *testing.B) {
	out := os.Getenv(loadgenOutEnv)
	if out == "" {
		out = b.TempDir()
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		b.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(b), "loadgen", "workloads", "*.yaml"))
	if err != nil || len(files) == 0 {
		b.Fatalf("standard workloads: %v (found %d)", err, len(files))
	}
	order := []string{"produce-acks1", "produce-acks-all", "pubsub-acks1", "pubsub-acks-all", "catchup-acks1", "catchup-acks-all"}
	slices.SortFunc(files, func(a, c string) int { return slices.Index(order, stem(a)) - slices.Index(order, stem(c)) })

	etcd := testenv.StartEtcd(b)
	store := testenv.StartMinIO(b)
	s := StartStrata(b, Options{EtcdEndpoints: etcd.Endpoint, ObjectStore: store.S3URL("loadgen"),
		Args: []string{"--seal-interval", "200ms", "--log-level", "info"}}) // the serve default, not the harness's 50ms

	run := func(b *testing.B, file, system, bootstrap string) {
		name := stem(file)
		dir := filepath.Join(out, name, system)
		args := []string{"loadgen", "run", "--workload", file, "--bootstrap", bootstrap, "--topic", name,
			"--label", system, "--out", dir, "--quiet"}
		var res *loadgen.Result
		for range b.N {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			output, err := exec.CommandContext(ctx, strataBin, args...).CombinedOutput()
			cancel()
			if err != nil {
				b.Fatalf("strata %s: %v\n%s", strings.Join(args, " "), err, output)
			}
			if res, err = loadgen.ReadResult(dir); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(0, "ns/op")
		mbps := res.Produce.MBPerSec
		if res.Workload.Scenario == loadgen.ScenarioCatchUp {
			mbps = res.Consume.MBPerSec
		}
		b.ReportMetric(mbps, "MB/s")
		b.ReportMetric(res.Produce.Latency.P99, "ack-p99-ms")
		if res.Consume != nil {
			b.ReportMetric(res.Consume.Latency.P99, "e2e-p99-ms")
		}
	}
	for _, f := range files {
		b.Run("ref=kfake/"+stem(f), func(b *testing.B) { run(b, f, "kfake", loadgen.KfakeBootstrap) })
		b.Run("strata/"+stem(f), func(b *testing.B) { run(b, f, "strata", s.Addr) })
	}
	if code := s.Stop(); code != 0 { // the ceilings get the machine to themselves
		b.Fatalf("strata %s: exit code %d after SIGTERM", s.Addr, code)
	}

	var ceilings []loadgen.Ceiling
	report := func(b *testing.B, c ...loadgen.Ceiling) {
		b.ReportMetric(0, "ns/op")
		for _, x := range c {
			b.ReportMetric(x.Value, x.Unit)
		}
		ceilings = append(ceilings, c...)
	}
	b.Run("ceiling=disk/fsync-1MiB", func(b *testing.B) {
		mbps := diskCeiling(b, s.DataDir(), 1<<20, 256<<20, 10*time.Second).mbps()
		report(b, loadgen.Ceiling{Name: "disk-fsync-1MiB", What: "sequential 1 MiB writes, each followed by fsync, to the broker's disk", Value: mbps, Unit: "MB/s"})
	})
	b.Run("ceiling=disk/fsync-4KiB", func(b *testing.B) {
		d := diskCeiling(b, s.DataDir(), 4<<10, 4<<20, 5*time.Second)
		report(b,
			loadgen.Ceiling{Name: "disk-fsync-4KiB-per-s", What: "4 KiB writes, each followed by fsync, to the broker's disk", Value: d.perSec(), Unit: "fsync/s"},
			loadgen.Ceiling{Name: "disk-fsync-4KiB-p50", What: "the same, median time of a write and its fsync", Value: d.p50(), Unit: "ms"})
	})
	cl := minioClient(b, store)
	const bucket, object = "ceilings", 8 << 20
	b.Run("ceiling=minio/put-8MiB", func(b *testing.B) {
		d := putCeiling(b, cl, bucket, object, 24)
		report(b,
			loadgen.Ceiling{Name: "put-8MiB", What: "minio-go PUTs of 8 MiB objects, one at a time, to the same MinIO", Value: d.mbps(), Unit: "MB/s"},
			loadgen.Ceiling{Name: "put-8MiB-p50", What: "the same, median time of a PUT", Value: d.p50(), Unit: "ms"})
	})
	b.Run("ceiling=minio/get-1MiB-x16", func(b *testing.B) {
		mbps := getCeiling(b, cl, bucket, object, 1<<20, 16)
		report(b, loadgen.Ceiling{Name: "get-1MiB-x16", What: "minio-go ranged GETs of 1 MiB from those objects, 16 at a time, each read whole", Value: mbps, Unit: "MB/s"})
	})
	doc := loadgen.Ceilings{Measured: time.Now().UTC().Truncate(time.Second), CPUs: runtime.NumCPU(), Ceilings: ceilings}
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "ceilings.json"), append(data, '\n'), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("results in %s", out)
}

func stem(file string) string { return strings.TrimSuffix(filepath.Base(file), filepath.Ext(file)) }

// timings are the durations of n operations of size bytes each.
type timings struct {
	size  int64
	each  []time.Duration
	total time.Duration
}

func (t timings) mbps() float64 {
	return float64(t.size) * float64(len(t.each)) / t.total.Seconds() / 1e6
}
func (t timings) perSec() float64 { return float64(len(t.each)) / t.total.Seconds() }
func (t timings) p50() float64 {
	s := slices.Clone(t.each)
	slices.Sort(s)
	return float64(s[len(s)/2].Microseconds()) / 1000
}

// diskCeiling writes up to total bytes to a new file in dir, chunk bytes at
// a time, each followed by fsync, for at most limit.
func diskCeiling(b *testing.B, dir string, chunk, total int, limit time.Duration) timings {
	f, err := os.CreateTemp(dir, "ceiling-*")
	if err != nil {
		b.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, chunk)
	rand.Read(buf)
	t := timings{size: int64(chunk)}
	start := time.Now()
	for written := 0; written < total && time.Since(start) < limit; written += chunk {
		t0 := time.Now()
		if _, err := f.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		t.each = append(t.each, time.Since(t0))
	}
	t.total = time.Since(start)
	return t
}

// putCeiling PUTs n random objects of size bytes into a new bucket, one at
// a time.
func putCeiling(b *testing.B, cl *minio.Client, bucket string, size, n int) timings {
	ctx := context.Background()
	if err := cl.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, size)
	rand.Read(data)
	t := timings{size: int64(size)}
	start := time.Now()
	for i := range n {
		t0 := time.Now()
		if _, err := cl.PutObject(ctx, bucket, fmt.Sprintf("obj-%03d", i), bytes.NewReader(data), int64(size),
			minio.PutObjectOptions{ContentType: "application/octet-stream"}); err != nil {
			b.Fatal(err)
		}
		t.each = append(t.each, time.Since(t0))
	}
	t.total = time.Since(start)
	return t
}

// getCeiling GETs every object in bucket (of size bytes each) in ranges of
// rng bytes, par at a time, and returns MB/s.
func getCeiling(b *testing.B, cl *minio.Client, bucket string, size, rng, par int) float64 {
	ctx := context.Background()
	var keys []string
	for info := range cl.ListObjects(ctx, bucket, minio.ListObjectsOptions{}) {
		if info.Err != nil {
			b.Fatal(info.Err)
		}
		keys = append(keys, info.Key)
	}
	start := time.Now()
	p := pool.New().WithErrors().WithMaxGoroutines(par)
	for _, k := range keys {
		for off := 0; off < size; off += rng {
			p.Go(func() error {
				opts := minio.GetObjectOptions{}
				if err := opts.SetRange(int64(off), int64(off+rng-1)); err != nil {
					return err
				}
				obj, err := cl.GetObject(ctx, bucket, k, opts)
				if err != nil {
					return err
				}
				defer obj.Close()
				n, err := io.Copy(io.Discard, obj)
				if err == nil && n != int64(rng) {
					err = fmt.Errorf("%s at %d: %d bytes, want %d", k, off, n, rng)
				}
				return err
			})
		}
	}
	if err := p.Wait(); err != nil {
		b.Fatal(err)
	}
	return float64(len(keys)*size) / time.Since(start).Seconds() / 1e6
}
