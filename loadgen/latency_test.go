package loadgen

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestRawTimesOf(t *testing.T) {
	var each []time.Duration
	for i := 1; i <= 100; i++ {
		each = append(each, time.Duration(i)*time.Millisecond)
	}
	got := RawTimesOf(each, 42)
	want := RawTimes{N: 100, Bytes: 42, Mean: 50.5, P50: 50, P99: 99, Curve: []CurvePoint{
		{0, 1}, {10, 10}, {25, 25}, {50, 50}, {75, 75}, {90, 90}, {95, 95}, {99, 99}, {99.5, 100}, {99.9, 100}, {100, 100}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RawTimesOf(1..100 ms) = %+v, want %+v", got, want)
	}
	if got := RawTimesOf(nil, 1); !reflect.DeepEqual(got, RawTimes{}) {
		t.Errorf("RawTimesOf(nil) = %+v, want zero", got)
	}
	if got := RawTimesOf([]time.Duration{3 * time.Millisecond}, 0); got.P50 != 3 || got.P99 != 3 {
		t.Errorf("RawTimesOf(one) = %+v, want p50 = p99 = 3", got)
	}
}

func TestVerdicts(t *testing.T) {
	put := RawTimes{N: 10, P50: 10, P99: 20}
	runs := []LatencyRun{
		{Workload: "pubsub-acks-all", Acks: "all", System: "kfake", Ack: Percentiles{P99: 5}},
		// 200 + 2×20 + 30 = 270: met; 5.4 ≤ 5.5 PUT/s: met.
		{Workload: "pubsub-acks-all", Acks: "all", System: "strata", MaxPutRate: 5, PutsPerSec: 5.4, Ack: Percentiles{P99: 270}, RawPut: put},
		// acks=1: only the PUTs are a target; 5.6 > 5.5: not met.
		{Workload: "pubsub-acks1", Acks: "1", System: "strata", MaxPutRate: 5, PutsPerSec: 5.6, Ack: Percentiles{P99: 900}, RawPut: put},
		// 20 + 2×20 + 30 = 90 < 91: not met; 55 PUT/s: met.
		{Workload: "pubsub-acks-all", Acks: "all", System: "strata", MaxPutRate: 50, PutsPerSec: 55, Ack: Percentiles{P99: 91}, RawPut: put},
		// The same workload with another client setting: a target of its own, named so.
		{Workload: "pubsub-acks-all", Acks: "all", System: "strata", MaxPutRate: 5, Client: "linger 50ms", PutsPerSec: 5, Ack: Percentiles{P99: 271}, RawPut: put},
		// A budget without targets.
		{Workload: "pubsub-acks-all", Acks: "all", System: "strata", MaxPutRate: 7, PutsPerSec: 100, Ack: Percentiles{P99: 1e6}, RawPut: put},
	}
	seq := []SequentialRun{
		{MaxPutRate: 50, P99: 60, RawPut: put}, // 4×10 + 20 = 60: met
		{MaxPutRate: 5, P99: 1e6, RawPut: put}, // no target
	}
	var got []bool
	var bounds []float64
	var whats []string
	for _, v := range Verdicts(runs, seq) {
		got = append(got, v.Met)
		bounds = append(bounds, v.Bound)
		whats = append(whats, v.What)
	}
	if want := []bool{true, true, false, true, false, true, false, true}; !reflect.DeepEqual(got, want) {
		t.Errorf("verdicts met = %v, want %v", got, want)
	}
	if want := []float64{5.5, 270, 5.5, 55, 90, 5.5, 270, 60}; !reflect.DeepEqual(bounds, want) {
		t.Errorf("bounds = %v, want %v", bounds, want)
	}
	if want := "pubsub-acks-all at --max-put-rate 5, client linger 50ms: ack p99"; whats[6] != want {
		t.Errorf("verdict of the client variant = %q, want %q", whats[6], want)
	}
}

func TestLatencyBenchRoundTrip(t *testing.T) {
	dir := t.TempDir()
	l := &LatencyBench{Measured: time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC), CPUs: 2, Rate: 5000,
		Runs:       []LatencyRun{{Workload: "w", Acks: "all", System: "strata", MaxPutRate: 5, Dir: "w/strata", Ack: Percentiles{1, 2, 3}}},
		Sequential: []SequentialRun{{MaxPutRate: 50, Records: 3}}}
	l.Targets = Verdicts(l.Runs, l.Sequential)
	if err := l.WriteFile(filepath.Join(dir, LatencyFile)); err != nil {
		t.Fatal(err)
	}
	got, err := ReadLatencyBench(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, l) {
		t.Errorf("read back %+v, want %+v", got, l)
	}
}
