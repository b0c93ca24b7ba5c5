package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/loadgen"
)

// writeLatency writes BenchmarkLatency's output for two workloads, each
// against kfake and a broker at two budgets.
func writeLatency(t *testing.T, dir string) {
	t.Helper()
	l := loadgen.LatencyBench{Measured: time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC), CPUs: 2, Rate: 5000,
		EtcdTxnMetric: "txn metric", EtcdWriteMetric: "write metric"}
	put := loadgen.RawTimes{N: 10, Bytes: 1 << 20, Mean: 11, P50: 10, P99: 20}
	for _, w := range []struct{ name, acks string }{{"pubsub-acks-all", "all"}, {"pubsub-acks1", "1"}} {
		for _, sys := range []struct {
			system string
			rate   int
			p50    float64
		}{{"kfake", 0, 5}, {"strata", 5, 100}, {"strata", 50, 20}} {
			label := sys.system
			if sys.rate > 0 {
				label += "-" + strings.Repeat("x", sys.rate%7) // distinct dirs
			}
			rel := filepath.Join(w.name, label)
			if err := os.MkdirAll(filepath.Join(dir, rel), 0o755); err != nil {
				t.Fatal(err)
			}
			res := result(label, w.name, w.acks, loadgen.ScenarioTail, 2, 5, sys.p50)
			if err := res.WriteFile(filepath.Join(dir, rel, "result.json")); err != nil {
				t.Fatal(err)
			}
			r := loadgen.LatencyRun{Workload: w.name, Acks: w.acks, System: sys.system, MaxPutRate: sys.rate, Dir: rel,
				Ack: loadgen.PercentilesOf(res.Produce.Latency), E2E: loadgen.PercentilesOf(res.Consume.Latency)}
			if sys.system == "strata" {
				r.PutsPerSec, r.EtcdTxnPerSec, r.EtcdWritesPerSec = float64(sys.rate), float64(sys.rate), 2*float64(sys.rate)
				r.MeanObjectBytes, r.RawPut = 1<<20, put
			}
			l.Runs = append(l.Runs, r)
		}
	}
	// The acks=all workload again at the default budget with another linger.
	rel := filepath.Join("pubsub-acks-all", "strata-linger")
	if err := os.MkdirAll(filepath.Join(dir, rel), 0o755); err != nil {
		t.Fatal(err)
	}
	res := result("strata-linger", "pubsub-acks-all", "all", loadgen.ScenarioTail, 2, 5, 50)
	if err := res.WriteFile(filepath.Join(dir, rel, "result.json")); err != nil {
		t.Fatal(err)
	}
	l.Runs = append(l.Runs, loadgen.LatencyRun{Workload: "pubsub-acks-all", Acks: "all", System: "strata", MaxPutRate: 5, Client: "linger 50ms", Dir: rel,
		Ack: loadgen.PercentilesOf(res.Produce.Latency), E2E: loadgen.PercentilesOf(res.Consume.Latency), PutsPerSec: 5, MeanObjectBytes: 1 << 20, RawPut: put})
	curve := func(p50 float64) []loadgen.CurvePoint {
		return []loadgen.CurvePoint{{Percentile: 0, Ms: p50 / 2}, {Percentile: 50, Ms: p50}, {Percentile: 99, Ms: 3 * p50}, {Percentile: 100, Ms: 4 * p50}}
	}
	put.Curve = curve(10)
	l.Sequential = []loadgen.SequentialRun{{MaxPutRate: 50, Records: 300, RecordBytes: 1024, Mean: 30, P50: 28, P99: 70, Curve: curve(28), PutsPerSec: 33,
		MeanObjectBytes: 1100, RawPut: put, RawTxn: loadgen.RawTimes{N: 10, Mean: 2, P50: 2, P99: 4, Curve: curve(2)}}}
	l.Targets = loadgen.Verdicts(l.Runs, l.Sequential)
	if err := l.WriteFile(filepath.Join(dir, loadgen.LatencyFile)); err != nil {
		t.Fatal(err)
	}
}

func TestRunLatency(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	writeLatency(t, in)
	doc := filepath.Join(dir, "docs", "benchmarks.md")
	img := filepath.Join(dir, "docs", "img", "latency")
	if err := os.MkdirAll(img, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(img, "stale.svg"), []byte("<svg/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	loadgenPart := beginMarker + "\nloadgen text\n" + endMarker + "\n"
	before := "# Benchmarks\n\n" + latencyBegin + "\nold\n" + latencyEnd + "\n\n## After\n\n" + loadgenPart
	if err := os.WriteFile(doc, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := runLatency(in, doc, img); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	got := string(data)
	if !strings.HasPrefix(got, "# Benchmarks\n\n"+latencyBegin) || !strings.Contains(got, latencyEnd+"\n\n## After\n\n"+loadgenPart) {
		t.Errorf("the text around the latency section changed:\n%s", got)
	}
	if strings.Contains(got, "\nold\n") {
		t.Error("the old latency section is still there")
	}
	for _, want := range []string{
		"### Figures of 2026-12-05, 2 CPUs",
		"#### pubsub-acks-all at 5,000 records/s",
		"like for like?",
		// acks=all at 5: ack p99 = 4 × 100 = 400 > 200 + 2×20 + 30 = 270.
		"| pubsub-acks-all at --max-put-rate 5: ack p99 | 400 ms | 270 ms |",
		"**not met**",
		// at 50: 4 × 20 = 80 ≤ 20 + 40 + 30 = 90.
		"| pubsub-acks-all at --max-put-rate 50: ack p99 | 80.0 ms | 90.0 ms |",
		"**met**",
		// Sequential p99 70 ≤ 4 × 10 + 20 = 60? No.
		"| sequential acks=all produce at --max-put-rate 50: p99 | 70.0 ms | 60.0 ms |",
		// Ratios: ack p99 400 / raw PUT p50 10, / p99 20, / kfake 20.
		"| pubsub-acks-all | strata, --max-put-rate 5 | ack p99 | 400 | 40.0 | 20.0 | 20.0 |",
		"| mean ms | 30.0 | 11.0 | 2.00 | 2.31 |",
		"txn metric", "write metric",
		"https://docs.warpstream.com/warpstream/configuration/low-latency-clusters",
		"https://buf.build/docs/bufstream/cost",
		"https://aiven.io/blog/benchmarking-diskless-inkless-topics-part-1",
		"| Strata, --max-put-rate 50 |",
		// The linger variant: its own target, row and peer row, and why it is there.
		"| pubsub-acks-all at --max-put-rate 5, client linger 50ms: ack p99 | 200 ms | 270 ms | 200 ms + 2 × raw PUT p99 (20.0 ms) + 30 ms | **met** |",
		"| pubsub-acks-all | strata, --max-put-rate 5, client linger 50ms | ack p99 | 200 | 20.0 | 10.0 |",
		"| Strata, --max-put-rate 5, client linger 50ms |",
		"A run marked *client …*",
		"![pubsub-acks1: latency by percentile](img/latency/pubsub-acks1-percentiles.svg)",
		"![sequential acks=all produces by percentile](img/latency/sequential-percentiles.svg)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the section lacks %q:\n%s", want, got)
		}
	}
	if _, err := os.Stat(filepath.Join(img, "stale.svg")); !os.IsNotExist(err) {
		t.Errorf("stale chart still there (%v)", err)
	}
	for _, w := range []string{"pubsub-acks-all", "pubsub-acks1"} {
		for _, c := range latencyCharts {
			b, err := os.ReadFile(filepath.Join(img, w+"-"+c.file))
			if err != nil {
				t.Fatal(err)
			}
			// Every run of the workload is a series of the chart.
			for _, label := range []string{"kfake", "strata-xxxxx", "strata-x"} {
				if !strings.Contains(string(b), label+" ") {
					t.Errorf("%s-%s has no series of %s", w, c.file, label)
				}
			}
		}
	}
}

func TestSequentialChart(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	writeLatency(t, in)
	img := filepath.Join(dir, "img")
	if err := runLatency(in, filepath.Join(dir, "b.md"), img); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(img, "sequential-percentiles.svg"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Sequential acks=all produces at --max-put-rate 50", "ProduceSync", "raw PUT", "raw etcd txn"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the sequential chart lacks %q", want)
		}
	}
	c := sequentialChart(loadgen.SequentialRun{MaxPutRate: 50, Curve: []loadgen.CurvePoint{{Percentile: 50, Ms: 7}}})
	if len(c.Series) != 3 || len(c.Series[0].Points) != 1 || c.Series[0].Points[0] != (loadgen.Point{X: 50, Y: 7}) {
		t.Errorf("sequentialChart series = %+v", c.Series)
	}
}

func TestRunLatencyNoResults(t *testing.T) {
	if err := runLatency(t.TempDir(), filepath.Join(t.TempDir(), "b.md"), t.TempDir()); err == nil {
		t.Error("runLatency of an empty directory succeeded")
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 5000: "5,000", 1234567: "1,234,567", -5000: "-5,000"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
