package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/strata-io/strata/loadgen"
)

// Markers around the latency section.
const (
	latencyBegin = "<!-- latency:begin -->"
	latencyEnd   = "<!-- latency:end -->"
)

// peer is a published figure of another Kafka-compatible system on object
// storage, with its source.
type peer struct {
	system, setup   string
	produce, e2e    string
	storage, source string
	// like says how far the figure compares with Strata's here.
	like string
}

// peers are the published figures that issue 21 compares with. They are
// quoted, not measured here.
var peers = []peer{
	{"WarpStream (default: 250 ms batch timeout, 25 ms linger)", "its documented default setup",
		"p50 250 ms, p99 500 ms", "p50 500 ms, p99 900 ms", "S3 Standard",
		"https://docs.warpstream.com/warpstream/configuration/low-latency-clusters",
		"No: cloud S3 Standard, not a local MinIO; the load is not stated. Like Strata's acks=all, a produce is acknowledged once its data is in the object store and its metadata committed."},
	{"Bufstream", "OpenMessaging Benchmark, 1 GiB/s in and out, 288 partitions, 6 × m6in.xlarge brokers over 3 AZs, 3 etcd nodes",
		"—", "p50 260 ms, p99 500 ms (published as its latency, not split into produce and end to end)", "one S3 Standard bucket",
		"https://buf.build/docs/bufstream/cost",
		"No: cloud S3 Standard and 200 times the throughput on six 4-vCPU brokers; same record size (1 KiB)."},
	{"Kafka diskless topics (KIP-1150, Aiven's Inkless)", "OpenMessaging Benchmark, 1 GiB/s in, 3 GiB/s out, 6 × m8g.4xlarge over 3 AZs",
		"—", "p99 ~1.6 s", "S3",
		"https://aiven.io/blog/benchmarking-diskless-inkless-topics-part-1",
		"No: cloud S3, 200 times the throughput in and 600 times out, on six 16-vCPU brokers."},
}

// runLatency writes the latency section of docFile and its charts in
// imgDir from BenchmarkLatency's results in in.
func runLatency(in, docFile, imgDir string) error {
	l, err := loadgen.ReadLatencyBench(in)
	if err != nil {
		return err
	}
	if len(l.Runs) == 0 {
		return fmt.Errorf("%s: no runs", filepath.Join(in, loadgen.LatencyFile))
	}
	results := map[string][]*loadgen.Result{} // workload → its runs' results, in run order
	var names []string
	for _, r := range l.Runs {
		res, err := loadgen.ReadResult(filepath.Join(in, r.Dir))
		if err != nil {
			return err
		}
		if _, ok := results[r.Workload]; !ok {
			names = append(names, r.Workload)
		}
		results[r.Workload] = append(results[r.Workload], res)
	}
	if err := writeLatencyCharts(imgDir, names, results, l.Sequential); err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(docFile), imgDir)
	if err != nil {
		return err
	}
	old, err := os.ReadFile(docFile)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	out, err := spliceBetween(string(old), latencySection(l, names, filepath.ToSlash(rel)), latencyBegin, latencyEnd)
	if err != nil {
		return err
	}
	return os.WriteFile(docFile, []byte(out), 0o644)
}

// latencyCharts are the charts of loadgen.Charts that the section shows.
var latencyCharts = []struct{ file, alt string }{
	{"percentiles.svg", "latency by percentile"},
	{"latency.svg", "latency over time"},
}

// writeLatencyCharts replaces the SVG files of imgDir with each workload's
// charts, all its runs side by side, and the sequential produces' chart.
func writeLatencyCharts(imgDir string, names []string, results map[string][]*loadgen.Result, seq []loadgen.SequentialRun) error {
	if err := clearCharts(imgDir); err != nil {
		return err
	}
	for i, q := range seq {
		if err := os.WriteFile(filepath.Join(imgDir, sequentialChartFile(i)), []byte(sequentialChart(q).SVG()), 0o644); err != nil {
			return err
		}
	}
	for _, name := range names {
		for _, c := range loadgen.Charts(results[name]) {
			if !slices.ContainsFunc(latencyCharts, func(x struct{ file, alt string }) bool { return x.file == c.File }) {
				continue
			}
			c.Chart.Title = name + ": " + c.Chart.Title
			if err := os.WriteFile(filepath.Join(imgDir, name+"-"+c.File), []byte(c.Chart.SVG()), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// sequentialChartFile is the file of the i-th sequential run's chart.
func sequentialChartFile(i int) string {
	if i == 0 {
		return "sequential-percentiles.svg"
	}
	return fmt.Sprintf("sequential-%d-percentiles.svg", i+1)
}

// sequentialChart is the sequential produces' times by percentile, with
// the raw PUTs' and etcd transactions' they compare with.
func sequentialChart(q loadgen.SequentialRun) loadgen.Chart {
	c := loadgen.Chart{Title: fmt.Sprintf("Sequential acks=all produces at --max-put-rate %d, by percentile", q.MaxPutRate),
		XLabel: "percentile", YLabel: "ms", XScale: loadgen.Nines, YScale: loadgen.Log}
	for i, s := range []struct {
		name  string
		curve []loadgen.CurvePoint
	}{{"ProduceSync", q.Curve}, {"raw PUT", q.RawPut.Curve}, {"raw etcd txn", q.RawTxn.Curve}} {
		var pts []loadgen.Point
		for _, p := range s.curve {
			pts = append(pts, loadgen.Point{X: p.Percentile, Y: p.Ms})
		}
		c.Series = append(c.Series, loadgen.Series{Name: s.name, Points: pts, Color: i, Dashed: i > 0})
	}
	return c
}

// runLabel names a run in the tables.
func runLabel(r loadgen.LatencyRun) string {
	l := r.System
	if r.System == "strata" {
		l = fmt.Sprintf("strata, --max-put-rate %d", r.MaxPutRate)
	}
	if r.Client != "" {
		l += ", client " + r.Client
	}
	return l
}

// ratio is a/b to two digits, or — without a reference.
func ratio(a, b float64) string {
	if b <= 0 {
		return "—"
	}
	return fmtFloat(a / b)
}

func latencySection(l *loadgen.LatencyBench, names []string, img string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n<!-- Written by `make bench` (tools/benchdoc) from BenchmarkLatency's results; edits here are overwritten. -->\n\n", latencyBegin)
	fmt.Fprintf(&b, "### Figures of %s, %d CPUs\n\n", l.Measured.Format("2006-01-02"), l.CPUs)
	fmt.Fprintf(&b, "The pubsub workloads at %s records/s (1 KiB records, 16 partitions, one consumer group of two), "+
		"against kfake and against one broker on MinIO and etcd at two PUT budgets; latencies in ms. "+
		"PUTs and etcd rates are the broker's over the busiest 10 s of the run; etcd transactions are %s; "+
		"etcd writes are %s. Raw PUTs are minio-go PUTs of the run's mean object size to the same MinIO, "+
		"one at a time, right after the run.\n\n", thousands(l.Rate), l.EtcdTxnMetric, l.EtcdWriteMetric)

	if slices.ContainsFunc(l.Runs, func(r loadgen.LatencyRun) bool { return r.Client != "" }) {
		b.WriteString("A run marked *client …* is its workload with that producer setting changed. " +
			"An idempotent producer (franz-go, the Java client, librdkafka) keeps at most five produce requests in flight per broker. " +
			"At the workload's 10 ms linger it has sent five within about 50 ms of a seal; they all wait for the next seal, " +
			"and the records produced after them wait in the client until it, then for the seal after that: up to two seal intervals. " +
			"A linger of at least the seal interval over five keeps a request going out while the others wait " +
			"(docs/configuration.md, \"Clients\").\n\n")
	}

	if len(l.Targets) > 0 {
		b.WriteString("Issue 21's targets, computed from this run (a report, not a test):\n\n")
		b.WriteString("| target | figure | bound | how the bound is computed | |\n|---|---|---|---|---|\n")
		for _, v := range l.Targets {
			fmt.Fprintf(&b, "| %s | %s %s | %s %s | %s | **%s** |\n", v.What, fmtFloat(v.Figure), v.Unit, fmtFloat(v.Bound), v.Unit, v.Formula, v.MetString())
		}
		b.WriteString("\n")
	}

	b.WriteString("| workload | system | ack p50 | ack p99 | ack p99.9 | e2e p50 | e2e p99 | e2e p99.9 | PUT/s | etcd txn/s | etcd writes/s | mean object | raw PUT p50 | raw PUT p99 |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range l.Runs {
		put, txn, writes, obj, p50, p99 := "—", "—", "—", "—", "—", "—"
		if r.System == "strata" {
			put, txn, writes = fmtFloat(r.PutsPerSec), fmtFloat(r.EtcdTxnPerSec), fmtFloat(r.EtcdWritesPerSec)
			obj = fmt.Sprintf("%s KiB", fmtFloat(r.MeanObjectBytes/1024))
			p50, p99 = fmtFloat(r.RawPut.P50), fmtFloat(r.RawPut.P99)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Workload, runLabel(r),
			fmtFloat(r.Ack.P50), fmtFloat(r.Ack.P99), fmtFloat(r.Ack.P999), fmtFloat(r.E2E.P50), fmtFloat(r.E2E.P99), fmtFloat(r.E2E.P999),
			put, txn, writes, obj, p50, p99)
	}

	b.WriteString("\nThe broker's latencies as ratios: to the raw PUT's p50 and p99 of the same run, and to kfake's same percentile.\n\n")
	b.WriteString("| workload | system | figure | ms | × raw PUT p50 | × raw PUT p99 | × kfake |\n|---|---|---|---|---|---|---|\n")
	kfake := map[string]loadgen.LatencyRun{}
	for _, r := range l.Runs {
		if r.System == "kfake" {
			kfake[r.Workload] = r
		}
	}
	for _, r := range l.Runs {
		if r.System != "strata" {
			continue
		}
		k := kfake[r.Workload]
		for _, f := range []struct {
			name   string
			v, ref float64
		}{
			{"ack p50", r.Ack.P50, k.Ack.P50}, {"ack p99", r.Ack.P99, k.Ack.P99}, {"ack p99.9", r.Ack.P999, k.Ack.P999},
			{"e2e p50", r.E2E.P50, k.E2E.P50}, {"e2e p99", r.E2E.P99, k.E2E.P99}, {"e2e p99.9", r.E2E.P999, k.E2E.P999},
		} {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", r.Workload, runLabel(r), f.name, fmtFloat(f.v),
				ratio(f.v, r.RawPut.P50), ratio(f.v, r.RawPut.P99), ratio(f.v, f.ref))
		}
	}

	for i, q := range l.Sequential {
		fmt.Fprintf(&b, "\nSequential `ProduceSync` at --max-put-rate %d: %d records of %d B, acks=all, one at a time, to one partition; "+
			"against minio-go PUTs of the mean object size they made (%s KiB) and one-key etcd transactions (compare a revision, put), "+
			"one at a time, on the same MinIO and etcd.\n\n", q.MaxPutRate, q.Records, q.RecordBytes, fmtFloat(q.MeanObjectBytes/1024))
		b.WriteString("| figure | produce | raw PUT | raw etcd txn | × (PUT + txn) |\n|---|---|---|---|---|\n")
		fmt.Fprintf(&b, "| mean ms | %s | %s | %s | %s |\n", fmtFloat(q.Mean), fmtFloat(q.RawPut.Mean), fmtFloat(q.RawTxn.Mean), ratio(q.Mean, q.RawPut.Mean+q.RawTxn.Mean))
		fmt.Fprintf(&b, "| p50 ms | %s | %s | %s | %s |\n", fmtFloat(q.P50), fmtFloat(q.RawPut.P50), fmtFloat(q.RawTxn.P50), ratio(q.P50, q.RawPut.P50+q.RawTxn.P50))
		fmt.Fprintf(&b, "| p99 ms | %s | %s | %s | %s |\n", fmtFloat(q.P99), fmtFloat(q.RawPut.P99), fmtFloat(q.RawTxn.P99), ratio(q.P99, q.RawPut.P99+q.RawTxn.P99))
		fmt.Fprintf(&b, "| PUT/s | %s | | | |\n", fmtFloat(q.PutsPerSec))
		fmt.Fprintf(&b, "\n![sequential acks=all produces by percentile](%s/%s)\n", img, sequentialChartFile(i))
	}

	b.WriteString("\n#### Against the peers' published figures\n\n")
	b.WriteString("Strata's rows are this run's acks=all figures; the peers' are quoted from their sources. " +
		"Strata ran on one broker with a local MinIO and etcd on the same small machine as the load generator; " +
		"the peers ran on cloud instances against S3 in a region, at far higher throughput: " +
		"none of these is like for like. A local MinIO PUT takes milliseconds where an S3 Standard PUT takes tens to hundreds, " +
		"so only the ratios to the raw PUT above carry over to another bucket: " +
		"on S3 Standard, expect Strata's latencies near those ratios times S3's PUT times.\n\n")
	b.WriteString("| system | setup | produce (ack) | end to end | storage | like for like? | source |\n|---|---|---|---|---|---|---|\n")
	for _, r := range l.Runs {
		if r.System != "strata" || r.Acks != "all" {
			continue
		}
		fmt.Fprintf(&b, "| %s | this run: %s, %s records/s, one broker, %d CPUs shared with MinIO, etcd and the load generator | p50 %s ms, p99 %s ms | p50 %s ms, p99 %s ms | local MinIO (raw PUT p50 %s ms, p99 %s ms) | the reference of this table | this page |\n",
			strings.Replace(runLabel(r), "strata", "Strata", 1), r.Workload, thousands(l.Rate), l.CPUs, fmtFloat(r.Ack.P50), fmtFloat(r.Ack.P99), fmtFloat(r.E2E.P50), fmtFloat(r.E2E.P99),
			fmtFloat(r.RawPut.P50), fmtFloat(r.RawPut.P99))
	}
	for _, p := range peers {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | <%s> |\n", p.system, p.setup, p.produce, p.e2e, p.storage, p.like, p.source)
	}

	for _, name := range names {
		fmt.Fprintf(&b, "\n#### %s at %s records/s\n\n", name, thousands(l.Rate))
		for _, c := range latencyCharts {
			fmt.Fprintf(&b, "![%s: %s](%s/%s-%s)\n", name, c.alt, img, name, c.file)
		}
	}
	fmt.Fprintf(&b, "\n%s\n", latencyEnd)
	return b.String()
}

// thousands writes n with commas: 5,000.
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
