package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/twmb/franz-go/pkg/kgo"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/strata-io/strata/internal/testenv"
	"github.com/strata-io/strata/loadgen"
)

// latencyOutEnv is where BenchmarkLatency keeps its results for
// tools/benchdoc; unset = a temporary directory.
const latencyOutEnv = "STRATA_BENCH_LATENCY_OUT"

const (
	latencyRate      = 5000 // records/s of the pubsub workloads
	latencyDuration  = "20s"
	latencyWarmup    = "5s"
	latencySeqN      = 300 // sequential produces
	latencyRawPuts   = 200 // raw PUTs per size
	latencyRawTxns   = 300 // raw etcd transactions
	latencyWindow    = 10 * time.Second
	latencySeqBudget = 50
	// latencyLinger is the producer linger of the extra acks=all run at
	// the default budget: at least the 200 ms seal interval over the five
	// produce requests an idempotent producer keeps in flight per broker.
	latencyLinger = "50ms"

	// The counters BenchmarkLatency reads.
	objectOpsMetric  = "strata_objectstore_operations_total"
	objectPutBytes   = "strata_objectstore_put_bytes_total"
	etcdTxnMetric    = "grpc_server_handled_total"
	etcdWritesMetric = "etcd_server_proposals_committed_total"
)

var (
	objectPutLabels = map[string]string{"op": "put", "result": "ok"}
	etcdTxnLabels   = map[string]string{"grpc_service": "etcdserverpb.KV", "grpc_method": "Txn"}
)

// BenchmarkLatency measures latency at a fixed rate and what it costs in
// PUTs (issue 21): the pubsub workloads of loadgen/workloads (1 KiB
// records, 16 partitions, acks=all and acks=1, one consumer group of two)
// at 5,000 records/s, against franz-go's kfake (the reference, in the load
// generator's process) and against one broker on a real MinIO and etcd at
// the default --max-put-rate (5) and at 50, with the default 200ms
// --seal-interval. For each broker run it reads, from the broker's /metrics
// and etcd's, the PUTs per second, etcd transactions per second (client
// Txn RPCs, grpc_server_handled_total of etcdserverpb.KV/Txn) and etcd
// writes per second (etcd_server_proposals_committed_total) over the
// busiest 10 s, and the mean size of the broker's PUTs; right after the
// run, with the broker idle, it times raw minio-go PUTs of that size to the
// same MinIO, one at a time: the ack and end-to-end p50/p99/p99.9 are
// reported as ratios to the raw PUT's p50 and p99 and to kfake's.
//
// At --max-put-rate 50 it also times sequential ProduceSync calls (acks=all,
// one 1 KiB record at a time) against raw PUTs of the size those make plus
// one raw etcd transaction (compare a key's revision, put), sequential, on
// the same etcd.
//
// Issue 21's targets are computed from the figures (loadgen.Verdicts) and
// logged as met or not met: a report, not an assertion. Results go to
// $STRATA_BENCH_LATENCY_OUT (latency.json and each run's result.json) for
// tools/benchdoc.
func BenchmarkLatency(b *testing.B) {
	out := os.Getenv(latencyOutEnv)
	if out == "" {
		out = b.TempDir()
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(testenv.RepoRoot(b), "loadgen", "workloads")
	workloads := []string{"pubsub-acks-all", "pubsub-acks1"}

	etcd := testenv.StartEtcd(b)
	store := testenv.StartMinIO(b)
	cl := minioClient(b, store)
	doc := loadgen.LatencyBench{Measured: time.Now().UTC().Truncate(time.Second), CPUs: runtime.NumCPU(), Rate: latencyRate,
		EtcdTxnMetric:   `client transactions: etcd's grpc_server_handled_total{grpc_service="etcdserverpb.KV",grpc_method="Txn"}`,
		EtcdWriteMetric: "raft proposals committed (every write, leases included): etcd_server_proposals_committed_total"}
	kfake := map[string]loadgen.LatencyRun{}

	for _, w := range workloads {
		b.Run("ref=kfake/"+w, func(b *testing.B) {
			var r loadgen.LatencyRun
			for range b.N {
				r = latencyRun(b, filepath.Join(dir, w+".yaml"), out, "kfake", 0, "", loadgen.KfakeBootstrap, nil, nil)
			}
			kfake[w] = r
			doc.Runs = append(doc.Runs, r)
			reportPercentiles(b, r)
		})
	}
	bucketN := 0
	for _, rate := range []int{5, 50} {
		s := StartStrata(b, Options{EtcdEndpoints: etcd.Endpoint, ObjectStore: store.S3URL(fmt.Sprintf("latency-%d", rate)),
			Args: []string{"--seal-interval", "200ms", "--log-level", "info", "--max-put-rate", strconv.Itoa(rate)}})
		type run struct{ workload, linger string }
		runs := []run{{workloads[0], ""}, {workloads[1], ""}}
		if rate == 5 {
			// The default budget again with a producer that lingers long
			// enough to keep sending while its requests wait for a seal.
			runs = append(runs, run{"pubsub-acks-all", latencyLinger})
		}
		for _, x := range runs {
			w := x.workload
			name := fmt.Sprintf("strata/max-put-rate=%d/%s", rate, w)
			if x.linger != "" {
				name += "/linger=" + x.linger
			}
			b.Run(name, func(b *testing.B) {
				var r loadgen.LatencyRun
				for range b.N {
					r = latencyRun(b, filepath.Join(dir, w+".yaml"), out, "strata", rate, x.linger, s.Addr, s, etcd)
					bucketN++
					r.RawPut = rawPuts(b, cl, fmt.Sprintf("raw-put-%d", bucketN), int(r.MeanObjectBytes), latencyRawPuts)
				}
				doc.Runs = append(doc.Runs, r)
				reportPercentiles(b, r)
				b.ReportMetric(r.PutsPerSec, "PUT/s")
				b.ReportMetric(r.EtcdTxnPerSec, "etcd-txn/s")
				b.ReportMetric(r.RawPut.P99, "raw-put-p99-ms")
				b.ReportMetric(r.Ack.P99/r.RawPut.P99, "ack-p99/put-p99")
				b.ReportMetric(r.E2E.P99/r.RawPut.P99, "e2e-p99/put-p99")
				if k, ok := kfake[w]; ok && k.Ack.P99 > 0 && k.E2E.P99 > 0 {
					b.ReportMetric(r.Ack.P99/k.Ack.P99, "ack-p99/kfake")
					b.ReportMetric(r.E2E.P99/k.E2E.P99, "e2e-p99/kfake")
				}
				b.Logf("%s at --max-put-rate %d (client %q), %d rec/s: ack p50/p99/p99.9 %.1f/%.1f/%.1f ms, end-to-end %.1f/%.1f/%.1f ms; "+
					"%.1f PUT/s of %.0f B mean (raw PUT p50 %.1f p99 %.1f ms), %.1f etcd txn/s, %.1f etcd writes/s",
					w, rate, r.Client, latencyRate, r.Ack.P50, r.Ack.P99, r.Ack.P999, r.E2E.P50, r.E2E.P99, r.E2E.P999,
					r.PutsPerSec, r.MeanObjectBytes, r.RawPut.P50, r.RawPut.P99, r.EtcdTxnPerSec, r.EtcdWritesPerSec)
			})
		}
		if rate == latencySeqBudget {
			b.Run(fmt.Sprintf("strata/max-put-rate=%d/sequential", rate), func(b *testing.B) {
				var q loadgen.SequentialRun
				for range b.N {
					q = sequentialRun(b, s, rate)
					bucketN++
					q.RawPut = rawPuts(b, cl, fmt.Sprintf("raw-put-%d", bucketN), int(q.MeanObjectBytes), latencyRawPuts)
					q.RawTxn = rawTxns(b, etcd.Endpoint, latencyRawTxns)
				}
				doc.Sequential = append(doc.Sequential, q)
				b.ReportMetric(0, "ns/op")
				b.ReportMetric(q.Mean, "mean-ms")
				b.ReportMetric(q.P99, "p99-ms")
				b.ReportMetric(q.PutsPerSec, "PUT/s")
				b.ReportMetric(q.Mean/(q.RawPut.Mean+q.RawTxn.Mean), "mean/(put+txn)")
				b.ReportMetric(q.P99/(q.RawPut.P99+q.RawTxn.P99), "p99/(put+txn)")
				b.Logf("%d sequential acks=all produces at --max-put-rate %d: mean %.1f p50 %.1f p99 %.1f ms, %.1f PUT/s of %.0f B mean; "+
					"raw PUT mean %.1f p50 %.1f p99 %.1f ms; raw etcd txn mean %.1f p50 %.1f p99 %.1f ms",
					q.Records, rate, q.Mean, q.P50, q.P99, q.PutsPerSec, q.MeanObjectBytes,
					q.RawPut.Mean, q.RawPut.P50, q.RawPut.P99, q.RawTxn.Mean, q.RawTxn.P50, q.RawTxn.P99)
			})
		}
		if code := s.Stop(); code != 0 {
			b.Fatalf("strata %s: exit code %d after SIGTERM", s.Addr, code)
		}
	}

	// The targets in a sub-benchmark of their own: the testing package
	// prints the log of a benchmark only with its result line.
	b.Run("targets", func(b *testing.B) {
		doc.Targets = loadgen.Verdicts(doc.Runs, doc.Sequential)
		met := 0
		for _, v := range doc.Targets {
			b.Logf("%s: %.1f %s, bound %.1f %s (%s): %s", v.What, v.Figure, v.Unit, v.Bound, v.Unit, v.Formula, v.MetString())
			if v.Met {
				met++
			}
		}
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(float64(met), "met")
		b.ReportMetric(float64(len(doc.Targets)-met), "not-met")
		if err := doc.WriteFile(filepath.Join(out, loadgen.LatencyFile)); err != nil {
			b.Fatal(err)
		}
		b.Logf("results in %s", out)
	})
}

// reportPercentiles reports a run's ack and end-to-end percentiles.
func reportPercentiles(b *testing.B, r loadgen.LatencyRun) {
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(r.Ack.P50, "ack-p50-ms")
	b.ReportMetric(r.Ack.P99, "ack-p99-ms")
	b.ReportMetric(r.Ack.P999, "ack-p99.9-ms")
	b.ReportMetric(r.E2E.P50, "e2e-p50-ms")
	b.ReportMetric(r.E2E.P99, "e2e-p99-ms")
	b.ReportMetric(r.E2E.P999, "e2e-p99.9-ms")
}

// counterSample is the broker's and etcd's counters at one time.
type counterSample struct {
	at                          time.Time
	puts, putBytes, txns, props float64
}

// sampleCounters reads the broker's PUT counters and, if etcd is not nil,
// etcd's transaction and write counters.
func sampleCounters(b *testing.B, s *Strata, etcd *testenv.Etcd) counterSample {
	c := counterSample{at: time.Now()}
	var page, url string
	must := func(name string, labels map[string]string) float64 {
		v, ok := sumMetric(page, name, labels)
		if !ok {
			b.Fatalf("%s: no %s %v", url, name, labels)
		}
		return v
	}
	url = "http://" + s.HTTPAddr + "/metrics"
	page = scrape(b, url)
	c.puts, _ = sumMetric(page, objectOpsMetric, objectPutLabels) // no series before the first PUT
	c.putBytes = must(objectPutBytes, nil)
	if etcd == nil {
		return c
	}
	url = etcd.Endpoint + "/metrics"
	page = scrape(b, url)
	c.txns = must(etcdTxnMetric, etcdTxnLabels)
	c.props = must(etcdWritesMetric, nil)
	return c
}

// latencyRun runs workload at latencyRate with `strata loadgen run` against
// bootstrap, labelled system (and the budget), with the producer's linger
// set to linger if it is not empty; with a broker s, it samples its
// counters and etcd's every 500 ms meanwhile.
func latencyRun(b *testing.B, workload, out, system string, rate int, linger, bootstrap string, s *Strata, etcd *testenv.Etcd) loadgen.LatencyRun {
	name := stem(workload)
	label := system
	if rate > 0 {
		label = fmt.Sprintf("%s max-put-rate=%d", system, rate)
	}
	client, topic := "", fmt.Sprintf("%s-%d", name, rate)
	if linger != "" {
		label += " linger=" + linger
		client = "linger " + linger
		topic += "-linger-" + linger
	}
	rel := filepath.Join(name, strings.ReplaceAll(label, " ", "-"))
	dir := filepath.Join(out, rel)
	if err := os.RemoveAll(dir); err != nil {
		b.Fatal(err)
	}
	args := []string{"loadgen", "run", "--workload", workload, "--bootstrap", bootstrap, "--topic", topic,
		"--rate", strconv.Itoa(latencyRate), "--duration", latencyDuration, "--warmup", latencyWarmup,
		"--label", label, "--out", dir, "--quiet"}
	if linger != "" {
		args = append(args, "--linger", linger)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var output bytes.Buffer
	cmd := exec.CommandContext(ctx, strataBin, args...)
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var samples []counterSample
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for running := true; running; {
		if s != nil {
			samples = append(samples, sampleCounters(b, s, etcd))
		}
		select {
		case <-tick.C:
		case err := <-done:
			if err != nil {
				b.Fatalf("strata %s: %v\n%s", strings.Join(args, " "), err, output.String())
			}
			running = false
		}
	}
	res, err := loadgen.ReadResult(dir)
	if err != nil {
		b.Fatal(err)
	}
	if res.Consume == nil || !res.Consume.Drained || res.Produce.Errors > 0 {
		b.Fatalf("%s against %s: consumers drained %v, %d produce errors (%s)", name, label,
			res.Consume != nil && res.Consume.Drained, res.Produce.Errors, res.Produce.FirstError)
	}
	r := loadgen.LatencyRun{Workload: name, Acks: res.Workload.Acks, System: system, MaxPutRate: rate, Client: client, Dir: rel,
		Ack: loadgen.PercentilesOf(res.Produce.Latency), E2E: loadgen.PercentilesOf(res.Consume.Latency)}
	if s == nil {
		return r
	}
	// The busiest window of PUTs, and etcd's rates over the same window:
	// set-up and draining PUT little, so the busiest is the steady state
	// (and the worst case for a budget).
	best := -1.0
	for i, a := range samples {
		for _, c := range samples[i+1:] {
			if d := c.at.Sub(a.at); d >= latencyWindow {
				if p := (c.puts - a.puts) / d.Seconds(); p > best {
					best = p
					r.PutsPerSec, r.EtcdTxnPerSec, r.EtcdWritesPerSec = p, (c.txns-a.txns)/d.Seconds(), (c.props-a.props)/d.Seconds()
				}
				break
			}
		}
	}
	if best < 0 {
		b.Fatalf("%s against %s: the run lasted less than %v of samples", name, label, latencyWindow)
	}
	first, last := samples[0], samples[len(samples)-1]
	if n := last.puts - first.puts; n > 0 {
		r.MeanObjectBytes = (last.putBytes - first.putBytes) / n
	} else {
		b.Fatalf("%s against %s: no PUTs during the run", name, label)
	}
	return r
}

// sequentialRun times latencySeqN sequential acks=all ProduceSync calls of
// one 1 KiB record each to a new one-partition topic on s.
func sequentialRun(b *testing.B, s *Strata, rate int) loadgen.SequentialRun {
	const topic, size = "sequential", 1024
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.Addr), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation(),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	value := make([]byte, size)
	rand.Read(value)
	for range 10 { // the topic, the leader, the connection, the producer id
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
			b.Fatal(err)
		}
	}
	c0 := sampleCounters(b, s, nil)
	took := make([]time.Duration, 0, latencySeqN)
	for range latencySeqN {
		t0 := time.Now()
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t0))
	}
	c1 := sampleCounters(b, s, nil)
	t := loadgen.RawTimesOf(took, size)
	q := loadgen.SequentialRun{MaxPutRate: rate, Records: latencySeqN, RecordBytes: size, Mean: t.Mean, P50: t.P50, P99: t.P99,
		Curve: t.Curve, PutsPerSec: (c1.puts - c0.puts) / c1.at.Sub(c0.at).Seconds()}
	if n := c1.puts - c0.puts; n > 0 {
		q.MeanObjectBytes = (c1.putBytes - c0.putBytes) / n
	} else {
		b.Fatal("no PUTs during the sequential produces")
	}
	return q
}

// rawPuts times n minio-go PUTs of size random bytes each, one at a time,
// into a new bucket.
func rawPuts(b *testing.B, cl *minio.Client, bucket string, size, n int) loadgen.RawTimes {
	ctx := context.Background()
	if err := cl.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, max(size, 1))
	rand.Read(data)
	each := make([]time.Duration, 0, n)
	for i := range n {
		t0 := time.Now()
		if _, err := cl.PutObject(ctx, bucket, fmt.Sprintf("obj-%04d", i), bytes.NewReader(data), int64(len(data)),
			minio.PutObjectOptions{ContentType: "application/octet-stream"}); err != nil {
			b.Fatal(err)
		}
		each = append(each, time.Since(t0))
	}
	return loadgen.RawTimesOf(each, int64(len(data)))
}

// rawTxns times n one-key etcd transactions, one at a time: if the key's
// revision is the one last written, put a new value (a metadata commit's
// shape: one compare, one put).
func rawTxns(b *testing.B, endpoint string, n int) loadgen.RawTimes {
	cl, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const key = "/bench/raw-txn"
	var rev int64
	each := make([]time.Duration, 0, n)
	for i := range n + 10 { // the first 10 warm the connection
		t0 := time.Now()
		resp, err := cl.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(clientv3.OpPut(key, strconv.Itoa(i))).Commit()
		if err != nil {
			b.Fatal(err)
		}
		if !resp.Succeeded {
			b.Fatalf("raw etcd txn %d: the key moved under it", i)
		}
		if i >= 10 {
			each = append(each, time.Since(t0))
		}
		rev = resp.Header.Revision
	}
	return loadgen.RawTimesOf(each, 0)
}

// scrape reads a Prometheus text page.
func scrape(b *testing.B, url string) string {
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("%s: %s", url, resp.Status)
	}
	return string(body)
}

// sumMetric sums the series of name on page whose labels include labels,
// and says whether there was any (a labelled counter has no series until
// its first increment).
func sumMetric(page, name string, labels map[string]string) (float64, bool) {
	sum, found := 0.0, false
	for _, line := range strings.Split(page, "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		var lbls string
		if rest[0] == '{' {
			end := strings.IndexByte(rest, '}')
			if end < 0 {
				continue
			}
			lbls, rest = rest[1:end], rest[end+1:]
		}
		match := true
		for k, v := range labels {
			if !strings.Contains(","+lbls+",", ","+k+`="`+v+`",`) {
				match = false
			}
		}
		if !match {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		sum, found = sum+v, true
	}
	return sum, found
}
