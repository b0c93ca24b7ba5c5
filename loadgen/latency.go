package loadgen

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// LatencyFile is the name of BenchmarkLatency's summary in its output
// directory, next to each run's WORKLOAD/LABEL/result.json.
const LatencyFile = "latency.json"

// LatencyBench is what e2e's BenchmarkLatency measured (latency.json, read
// by tools/benchdoc): the pubsub workloads at a fixed rate against kfake and
// against one broker at several PUT budgets, each with the raw PUTs of the
// same MinIO, and sequential acks=all produces with a raw PUT and a raw etcd
// transaction. Latencies are in ms.
type LatencyBench struct {
	Measured time.Time `json:"measured"`
	CPUs     int       `json:"cpus"`
	// Rate is the workloads' records per second.
	Rate int `json:"rate"`
	// EtcdTxnMetric says what EtcdTxnPerSec counts.
	EtcdTxnMetric string `json:"etcd_txn_metric"`
	// EtcdWriteMetric says what EtcdWritesPerSec counts.
	EtcdWriteMetric string           `json:"etcd_write_metric"`
	Runs            []LatencyRun     `json:"runs"`
	Sequential      []SequentialRun  `json:"sequential,omitempty"`
	Targets         []LatencyVerdict `json:"targets,omitempty"`
}

// LatencyRun is one run of a workload.
type LatencyRun struct {
	Workload string `json:"workload"`
	Acks     string `json:"acks"`
	// System is kfake or strata; MaxPutRate is the broker's --max-put-rate
	// (0 for kfake).
	System     string `json:"system"`
	MaxPutRate int    `json:"max_put_rate,omitempty"`
	// Client is the producer settings the run changed from its workload's
	// ("linger 50ms"); empty = the workload's own.
	Client string `json:"client,omitempty"`
	// Dir is the run's result directory, relative to latency.json's.
	Dir string      `json:"dir"`
	Ack Percentiles `json:"ack"`
	E2E Percentiles `json:"e2e"`
	// PutsPerSec and the etcd rates are the broker's over the busiest
	// window of the run (its /metrics and etcd's, sampled every 500 ms).
	PutsPerSec       float64 `json:"puts_per_s,omitempty"`
	EtcdTxnPerSec    float64 `json:"etcd_txn_per_s,omitempty"`
	EtcdWritesPerSec float64 `json:"etcd_writes_per_s,omitempty"`
	// MeanObjectBytes is the mean size of the broker's PUTs in the run;
	// RawPut is minio-go PUTs of that size to the same MinIO, one at a
	// time, right after the run.
	MeanObjectBytes float64  `json:"mean_object_bytes,omitempty"`
	RawPut          RawTimes `json:"raw_put,omitzero"`
}

// Percentiles are a latency's p50, p99 and p99.9.
type Percentiles struct {
	P50  float64 `json:"p50_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p99_9_ms"`
}

// PercentilesOf reads them from a Latency.
func PercentilesOf(l Latency) Percentiles { return Percentiles{P50: l.P50, P99: l.P99, P999: l.P999} }

// RawTimes are the times of N operations, one at a time, on Bytes each.
type RawTimes struct {
	N     int     `json:"n"`
	Bytes int64   `json:"bytes,omitempty"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P99   float64 `json:"p99_ms"`
	// Curve is the times by percentile (nearest rank), for a chart.
	Curve []CurvePoint `json:"curve,omitempty"`
}

// rawCurve are the percentiles of RawTimes.Curve.
var rawCurve = []float64{0, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 100}

// RawTimesOf summarizes durations of n operations of bytes each.
func RawTimesOf(each []time.Duration, bytes int64) RawTimes {
	if len(each) == 0 {
		return RawTimes{}
	}
	ms := make([]float64, len(each))
	sum := 0.0
	for i, d := range each {
		ms[i] = float64(d.Microseconds()) / 1000
		sum += ms[i]
	}
	slices.Sort(ms)
	t := RawTimes{N: len(ms), Bytes: bytes, Mean: sum / float64(len(ms)), P50: rank(ms, 0.50), P99: rank(ms, 0.99)}
	for _, p := range rawCurve {
		t.Curve = append(t.Curve, CurvePoint{Percentile: p, Ms: rank(ms, p/100)})
	}
	return t
}

// rank is the nearest-rank percentile q of sorted values.
func rank(sorted []float64, q float64) float64 {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// SequentialRun is sequential acks=all produces, one record at a time.
type SequentialRun struct {
	MaxPutRate  int     `json:"max_put_rate"`
	Records     int     `json:"records"`
	RecordBytes int     `json:"record_bytes"`
	Mean        float64 `json:"mean_ms"`
	P50         float64 `json:"p50_ms"`
	P99         float64 `json:"p99_ms"`
	// Curve is the produces' times by percentile.
	Curve      []CurvePoint `json:"curve,omitempty"`
	PutsPerSec float64      `json:"puts_per_s"`
	// MeanObjectBytes is the mean size of the broker's PUTs meanwhile;
	// RawPut is PUTs of that size and RawTxn one-key etcd transactions
	// (compare the key's revision, put), one at a time, on the same MinIO
	// and etcd.
	MeanObjectBytes float64  `json:"mean_object_bytes"`
	RawPut          RawTimes `json:"raw_put"`
	RawTxn          RawTimes `json:"raw_txn"`
}

// LatencyVerdict is one of issue 21's targets, computed from a run.
type LatencyVerdict struct {
	What   string  `json:"what"`
	Figure float64 `json:"figure"`
	Bound  float64 `json:"bound"`
	Unit   string  `json:"unit"`
	// Formula is how Bound was computed.
	Formula string `json:"formula"`
	Met     bool   `json:"met"`
}

// budgetTargets are issue 21's targets at 5,000 records/s: a budget's
// PUTs per second at most, and the interval its acks=all ack p99 may
// spend waiting for a seal (ms), plus 2 × raw PUT p99 + 30 ms.
var budgetTargets = map[int]struct{ maxPuts, waitMs float64 }{
	5:  {5.5, 200},
	50: {55, 20},
}

// Verdicts computes issue 21's targets for the runs it states them for:
// at --max-put-rate 5 (the default) and 50, PUTs per second of each
// workload, and acks=all ack p99 ≤ wait + 2 × raw PUT p99 + 30 ms; and
// sequential acks=all produces at --max-put-rate 50, p99 ≤ 4 × raw PUT
// p50 + 20 ms.
func Verdicts(runs []LatencyRun, seq []SequentialRun) []LatencyVerdict {
	var vs []LatencyVerdict
	for _, r := range runs {
		t, ok := budgetTargets[r.MaxPutRate]
		if r.System != "strata" || !ok {
			continue
		}
		what := fmt.Sprintf("%s at --max-put-rate %d", r.Workload, r.MaxPutRate)
		if r.Client != "" {
			what += ", client " + r.Client
		}
		vs = append(vs, LatencyVerdict{
			What:   what + ": PUTs/s",
			Figure: r.PutsPerSec, Bound: t.maxPuts, Unit: "PUT/s",
			Formula: fmt.Sprintf("at most %g", t.maxPuts),
			Met:     r.PutsPerSec <= t.maxPuts,
		})
		if r.Acks != "all" || r.RawPut.N == 0 {
			continue
		}
		bound := t.waitMs + 2*r.RawPut.P99 + 30
		vs = append(vs, LatencyVerdict{
			What:   what + ": ack p99",
			Figure: r.Ack.P99, Bound: bound, Unit: "ms",
			Formula: fmt.Sprintf("%g ms + 2 × raw PUT p99 (%.1f ms) + 30 ms", t.waitMs, r.RawPut.P99),
			Met:     r.Ack.P99 <= bound,
		})
	}
	for _, s := range seq {
		if s.MaxPutRate != 50 || s.RawPut.N == 0 {
			continue
		}
		bound := 4*s.RawPut.P50 + 20
		vs = append(vs, LatencyVerdict{
			What:   fmt.Sprintf("sequential acks=all produce at --max-put-rate %d: p99", s.MaxPutRate),
			Figure: s.P99, Bound: bound, Unit: "ms",
			Formula: fmt.Sprintf("4 × raw PUT p50 (%.1f ms) + 20 ms", s.RawPut.P50),
			Met:     s.P99 <= bound,
		})
	}
	return vs
}

// MetString is "met" or "not met".
func (v LatencyVerdict) MetString() string {
	if v.Met {
		return "met"
	}
	return "not met"
}

// WriteFile writes l as indented JSON.
func (l *LatencyBench) WriteFile(path string) error {
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadLatencyBench reads dir/latency.json.
func ReadLatencyBench(dir string) (*LatencyBench, error) {
	b, err := os.ReadFile(filepath.Join(dir, LatencyFile))
	if err != nil {
		return nil, err
	}
	var l LatencyBench
	if err := json.Unmarshal(b, &l); err != nil {
		return nil, fmt.Errorf("%s: %w", LatencyFile, err)
	}
	return &l, nil
}
