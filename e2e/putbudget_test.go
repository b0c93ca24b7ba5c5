package e2e

// The PUT budget (--max-put-rate) through the binary, with a real etcd and
// MinIO: within the budget, a waiting acks=all produce or a consumer at the
// high watermark gets its WAL segment sealed at once rather than after
// --seal-interval; the PUTs stay within the budget; an idle broker PUTs
// nothing; nothing acknowledged is lost.

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/internal/testenv"
	"github.com/strata-io/strata/loadgen"
)

const (
	putsMetric       = "strata_tiering_segments_uploaded_total"
	earlySealsMetric = "strata_tiering_early_seals_total"
)

// TestPutBudgetSealsOnDemand: with --max-put-rate 50 and a --seal-interval
// of 5s, sequential acks=all produces are each answered after an early
// seal, so 20 of them take far less than the 20 seal intervals they would
// wait without it; the PUTs made meanwhile are within the budget; an idle
// broker makes none; and every acknowledged record survives the loss of
// the broker and its disk.
func TestPutBudgetSealsOnDemand(t *testing.T) {
	const (
		rate         = 50
		sealInterval = 5 * time.Second
		topic        = "put-budget"
		n            = 20
	)
	s := StartStrata(t, externalDeps(t, "strata", "--max-put-rate=50", "--seal-interval="+sealInterval.String()))
	ensureTopic(t, s, topic, 1, nil)
	cl := newClient(t, s, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	defer cl.Close()
	ctx := testContext(t, 2*n*sealInterval)
	// One produce to learn the leader and warm the connection.
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: numbered("seq", 0)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	acked := []ackedRecord{{Partition: 0, Offset: 0, Value: string(numbered("seq", 0))}}

	puts0, early0 := metricValue(t, s, putsMetric), metricValue(t, s, earlySealsMetric)
	start := time.Now()
	took := make([]time.Duration, 0, n)
	for i := 1; i <= n; i++ {
		t0 := time.Now()
		r := &kgo.Record{Value: numbered("seq", i)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		took = append(took, time.Since(t0))
		acked = append(acked, ackedRecord{Partition: r.Partition, Offset: r.Offset, Value: string(r.Value)})
	}
	elapsed := time.Since(start)
	puts, early := metricValue(t, s, putsMetric)-puts0, metricValue(t, s, earlySealsMetric)-early0
	slices.Sort(took)
	t.Logf("%d sequential acks=all produces in %v: p50 %v, max %v; %v PUTs (%v early seals)",
		n, elapsed, took[n/2], took[n-1], puts, early)

	// Without early seals each produce would wait for its segment's
	// --seal-interval: n of them could not finish within n intervals.
	if elapsed >= n*sealInterval {
		t.Errorf("%d sequential acks=all produces took %v, as long as %d seal intervals: no seal on demand", n, elapsed, n)
	}
	// Each produce waited for a segment of its own.
	if puts < n || early < 1 {
		t.Errorf("%v PUTs and %v early seals for %d sequential acks=all produces, want at least %d and 1", puts, early, n, n)
	}
	// The budget bounds early seals (one token to start with); the WAL's
	// own seals (at most one per interval begun) come on top.
	if limit := float64(rate)*elapsed.Seconds() + 1 + elapsed.Seconds()/sealInterval.Seconds() + 1; puts > limit {
		t.Errorf("%v PUTs in %v with --max-put-rate %d: above the budget (%v)", puts, elapsed, rate, limit)
	}

	// Idle, the broker seals and PUTs nothing, however much budget it has.
	idle := metricValue(t, s, putsMetric)
	time.Sleep(500 * time.Millisecond) // 25 tokens' worth of budget
	if got := metricValue(t, s, putsMetric); got != idle {
		t.Errorf("an idle broker made %v PUTs", got-idle)
	}

	s.Kill()
	checkAllBackWithoutDisk(t, s, topic, 1, acked, "seq")
}

// TestPutBudgetConsumerAtHighWatermark: an acks=1 record is visible to a
// consumer waiting at the high watermark after an early seal, not after
// --seal-interval: 10 rounds of produce-then-consume take less than the 10
// seal intervals they would wait without it.
func TestPutBudgetConsumerAtHighWatermark(t *testing.T) {
	const (
		sealInterval = 5 * time.Second
		topic        = "put-budget-fetch"
		n            = 10
	)
	s := StartStrata(t, Options{Args: []string{"--max-put-rate=50", "--seal-interval=" + sealInterval.String()}})
	ensureTopic(t, s, topic, 1, nil)
	prod := newClient(t, s, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	defer prod.Close()
	cons := newClient(t, s, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(sealInterval))
	defer cons.Close()
	ctx := testContext(t, 2*n*sealInterval)
	start := time.Now()
	for i := range n {
		want := string(numbered("fetch", i))
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(want)}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		got := pollOne(ctx, t, cons)
		if got != want {
			t.Fatalf("consumed %q, want %q", got, want)
		}
	}
	elapsed := time.Since(start)
	t.Logf("%d rounds of acks=1 produce then consume in %v", n, elapsed)
	if elapsed >= n*sealInterval {
		t.Errorf("%d produce-then-consume rounds took %v, as long as %d seal intervals: no seal on demand for a consumer at the high watermark", n, elapsed, n)
	}
}

// pollOne polls until one record arrives and returns its value.
func pollOne(ctx context.Context, t *testing.T, cl *kgo.Client) string {
	t.Helper()
	for {
		fs := cl.PollRecords(ctx, 1)
		if err := ctx.Err(); err != nil {
			t.Fatalf("no record consumed: %v", err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s/%d: %v", topic, p, err) })
		if recs := fs.Records(); len(recs) > 0 {
			return string(recs[0].Value)
		}
	}
}

// BenchmarkPutBudget measures what the PUT budget buys, one broker on a
// real MinIO and etcd with the default --seal-interval (200ms), at
// --max-put-rate 0 (no early seals: the reference, as before the budget),
// 5 (the default) and 50: sequential acks=all ProduceSync calls (mean, p50,
// p99) and the pubsub-acks-all workload at 5,000 records/s (ack and
// end-to-end p50/p99), each with the PUTs per second the broker made, and
// the latencies as ratios to the reference's.
func BenchmarkPutBudget(b *testing.B) {
	workload := filepath.Join(testenv.RepoRoot(b), "loadgen", "workloads", "pubsub-acks-all.yaml")
	var ref *budgetFigures
	for _, rate := range []int{0, 5, 50} {
		name := "max-put-rate=" + strconv.Itoa(rate)
		if rate == 0 {
			name = "ref=" + name
		}
		b.Run(name, func(b *testing.B) {
			var f budgetFigures
			for range b.N {
				f = measurePutBudget(b, rate, workload)
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(f.seqP99, "seq-p99-ms")
			b.ReportMetric(f.seqPuts, "seq-PUT/s")
			b.ReportMetric(f.ackP99, "ack-p99-ms")
			b.ReportMetric(f.e2eP99, "e2e-p99-ms")
			b.ReportMetric(f.loadPuts, "load-PUT/s")
			if ref == nil {
				ref = &f
			}
			b.ReportMetric(f.seqP99/ref.seqP99, "seq-p99/ref")
			b.ReportMetric(f.ackP99/ref.ackP99, "ack-p99/ref")
			b.ReportMetric(f.seqMean/(f.seqPut+f.seqCommit), "seq-mean/(PUT+commit)")
			b.Logf("--max-put-rate %d: sequential acks=all mean %.1f p50 %.1f p99 %.1f ms at %.1f PUT/s (mean PUT %.1f ms, commit %.1f ms); "+
				"pubsub-acks-all 5,000 rec/s ack p50 %.1f p99 %.1f ms, end-to-end p50 %.1f p99 %.1f ms at %.1f PUT/s",
				rate, f.seqMean, f.seqP50, f.seqP99, f.seqPuts, f.seqPut, f.seqCommit, f.ackP50, f.ackP99, f.e2eP50, f.e2eP99, f.loadPuts)
		})
	}
}

// budgetFigures are what BenchmarkPutBudget measures of one budget:
// latencies in ms, PUTs per second.
type budgetFigures struct {
	seqMean, seqP50, seqP99, seqPuts float64 // sequential acks=all produces
	seqPut, seqCommit                float64 // their mean PUT and commit times
	ackP50, ackP99, e2eP50, e2eP99   float64 // pubsub-acks-all at 5,000 records/s
	loadPuts                         float64
}

// measurePutBudget starts a broker with --max-put-rate rate and measures
// it as BenchmarkPutBudget says.
func measurePutBudget(b *testing.B, rate int, workload string) (f budgetFigures) {
	etcd := testenv.StartEtcd(b)
	store := testenv.StartMinIO(b)
	s := StartStrata(b, Options{EtcdEndpoints: etcd.Endpoint, ObjectStore: store.S3URL("budget"),
		Args: []string{"--seal-interval", "200ms", "--log-level", "info", "--max-put-rate", strconv.Itoa(rate)}})
	defer s.Stop()

	const topic, n = "sequential", 100
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.Addr), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("warm-up")}).FirstErr(); err != nil {
		b.Fatal(err)
	}
	puts0, start := metricValue(b, s, putsMetric), time.Now()
	stages0 := stageTimes(b, s)
	took := make([]float64, 0, n)
	for i := range n {
		t0 := time.Now()
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: numbered("seq", i)}).FirstErr(); err != nil {
			b.Fatal(err)
		}
		took = append(took, float64(time.Since(t0).Microseconds())/1000)
	}
	elapsed := time.Since(start)
	f.seqPuts = (metricValue(b, s, putsMetric) - puts0) / elapsed.Seconds()
	f.seqMean = elapsed.Seconds() * 1000 / n
	f.seqPut, f.seqCommit = stageTimes(b, s).since(stages0)
	slices.Sort(took)
	f.seqP50, f.seqP99 = took[n/2], took[n*99/100]

	dir := b.TempDir()
	args := []string{"loadgen", "run", "--workload", workload, "--bootstrap", s.Addr, "--topic", "pubsub",
		"--rate", "5000", "--duration", "15s", "--warmup", "3s", "--out", dir, "--quiet"}
	// The PUT count every 500ms while the workload runs: its PUTs per
	// second are those of the busiest 10s (set-up and draining PUT little).
	type sample struct {
		at   time.Time
		puts float64
	}
	var samples []sample
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, strataBin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for running := true; running; {
		samples = append(samples, sample{time.Now(), metricValue(b, s, putsMetric)})
		select {
		case <-tick.C:
		case err := <-done:
			if err != nil {
				b.Fatalf("strata %s: %v\n%s", strings.Join(args, " "), err, out.String())
			}
			running = false
		}
	}
	for i, a := range samples {
		for _, c := range samples[i+1:] {
			if d := c.at.Sub(a.at); d >= 10*time.Second {
				f.loadPuts = max(f.loadPuts, (c.puts-a.puts)/d.Seconds())
				break
			}
		}
	}
	res, err := loadgen.ReadResult(dir)
	if err != nil {
		b.Fatal(err)
	}
	f.ackP50, f.ackP99 = res.Produce.Latency.P50, res.Produce.Latency.P99
	if res.Consume != nil {
		f.e2eP50, f.e2eP99 = res.Consume.Latency.P50, res.Consume.Latency.P99
	}
	return f
}

// stages are the broker's PUT and commit duration histograms' sums (s)
// and counts.
type stages struct{ putSum, putN, commitSum, commitN float64 }

func stageTimes(b *testing.B, s *Strata) stages {
	const put, commit = "strata_tiering_put_duration_seconds", "strata_tiering_commit_duration_seconds"
	return stages{metricValue(b, s, put+"_sum"), metricValue(b, s, put+"_count"),
		metricValue(b, s, commit+"_sum"), metricValue(b, s, commit+"_count")}
}

// since is the mean PUT and commit time in ms between then and st (0
// where there was none).
func (st stages) since(then stages) (put, commit float64) {
	if n := st.putN - then.putN; n > 0 {
		put = (st.putSum - then.putSum) * 1000 / n
	}
	if n := st.commitN - then.commitN; n > 0 {
		commit = (st.commitSum - then.commitSum) * 1000 / n
	}
	return put, commit
}
