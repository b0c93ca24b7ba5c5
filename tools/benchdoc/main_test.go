package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/loadgen"
)

// result is a run with round figures.
func result(label, name, acks, scenario string, consumers int, mbps, p50 float64) *loadgen.Result {
	w := loadgen.DefaultWorkload()
	w.Name, w.Acks, w.Scenario, w.Consumers, w.Records = name, acks, scenario, consumers, 1000
	if strings.HasPrefix(name, "pubsub") {
		w.Rate = 1000
	}
	lat := loadgen.Latency{Count: 1000, Min: p50 / 2, Mean: p50, P50: p50, P90: 2 * p50, P99: 4 * p50, P999: 8 * p50, Max: 10 * p50,
		Curve: []loadgen.CurvePoint{{Percentile: 0, Ms: p50 / 2}, {Percentile: 50, Ms: p50}, {Percentile: 100, Ms: 10 * p50}}}
	r := &loadgen.Result{Version: loadgen.ResultVersion, Label: label, Workload: w, MeasuredSeconds: 1,
		Produce:   loadgen.ProduceResult{Records: 1000, RecordsPerSec: 1000, MBPerSec: mbps, Latency: lat},
		Intervals: []loadgen.Interval{{Seconds: 1, ProduceMBPerSec: mbps, ProduceLatency: lat}}}
	if consumers > 0 {
		r.Consume = &loadgen.ConsumeResult{Records: 1000, RecordsPerSec: 1000, MBPerSec: mbps / 2, Seconds: 2, Drained: true, Latency: lat}
		if scenario == loadgen.ScenarioCatchUp {
			r.Consume.CatchUpSeconds = 2
		}
	}
	return r
}

func writeResults(t *testing.T, dir string) {
	t.Helper()
	for _, w := range []struct {
		name, acks, scenario string
		consumers            int
	}{
		{"pubsub-acks1", "1", loadgen.ScenarioTail, 2},
		{"produce-acks-all", "all", loadgen.ScenarioTail, 0},
		{"produce-acks1", "1", loadgen.ScenarioTail, 0},
		{"catchup-acks1", "1", loadgen.ScenarioCatchUp, 1},
	} {
		for _, sys := range []struct {
			label     string
			mbps, p50 float64
		}{{"kfake", 400, 1}, {"strata", 100, 4}} {
			d := filepath.Join(dir, w.name, sys.label)
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			r := result(sys.label, w.name, w.acks, w.scenario, w.consumers, sys.mbps, sys.p50)
			if err := r.WriteFile(filepath.Join(d, "result.json")); err != nil {
				t.Fatal(err)
			}
		}
	}
	c := loadgen.Ceilings{Measured: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), CPUs: 2, Ceilings: []loadgen.Ceiling{
		{Name: "disk-fsync-1MiB", What: "disk", Value: 500, Unit: "MB/s"}, {Name: "disk-fsync-4KiB-p50", What: "fsync", Value: 2, Unit: "ms"},
		{Name: "put-8MiB", What: "put", Value: 200, Unit: "MB/s"}, {Name: "get-1MiB-x16", What: "get", Value: 1000, Unit: "MB/s"},
	}}
	b, _ := json.Marshal(c)
	if err := os.WriteFile(filepath.Join(dir, "ceilings.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	writeResults(t, in)
	doc := filepath.Join(dir, "docs", "benchmarks.md")
	img := filepath.Join(dir, "docs", "img", "loadgen")
	os.MkdirAll(img, 0o755)
	os.WriteFile(filepath.Join(img, "stale.svg"), []byte("<svg/>"), 0o644)
	before := "# Benchmarks\n\nHand-written.\n\n" + beginMarker + "\nold generated text\n" + endMarker + "\n\n## After\n\nAlso hand-written.\n"
	if err := os.WriteFile(doc, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(in, doc, img); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(doc)
	s := string(got)
	for _, want := range []string{
		"# Benchmarks\n\nHand-written.\n\n" + beginMarker,
		endMarker + "\n\n## After\n\nAlso hand-written.\n",
		"### Figures of 2026-12-01, 2 CPUs",
		"| produce-acks1 | produce MB/s | 400.00 | 100.00 | 0.25 | 500 MB/s | 0.20 |",
		"| produce-acks1 | ack p50 ms | 1.00 | 4.00 | 4.00 |  |  |",
		"| pubsub-acks1 | ack p50 ms | 1.00 | 4.00 | 4.00 | 2.00 ms | 2.00 |",
		"| produce-acks-all | produce MB/s | 400.00 | 100.00 | 0.25 | 200 MB/s | 0.50 |",
		"| catchup-acks1 | consume MB/s | 200.00 | 50.00 | 0.25 | 1000 MB/s | 0.05 |",
		"![produce-acks1: throughput over time](img/loadgen/produce-acks1-throughput.svg)",
		"Produce only: 1KiB values (random payload), 16 partitions, 1 producer, acks=1",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("document lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "old generated text") {
		t.Error("the old section is still there")
	}
	// Workloads in the standard order, whatever the directory order.
	order := []string{"#### produce-acks1", "#### produce-acks-all", "#### pubsub-acks1", "#### catchup-acks1"}
	for i := 1; i < len(order); i++ {
		if strings.Index(s, order[i-1]) > strings.Index(s, order[i]) {
			t.Errorf("%s after %s", order[i-1], order[i])
		}
	}
	svgs, _ := filepath.Glob(filepath.Join(img, "*.svg"))
	if len(svgs) != 4*3 {
		t.Errorf("%d SVG files, want 12: %v", len(svgs), svgs)
	}
	if _, err := os.Stat(filepath.Join(img, "stale.svg")); err == nil {
		t.Error("a stale chart was kept")
	}

	// Running again changes nothing.
	if err := run(in, doc, img); err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(doc)
	if string(again) != s {
		t.Error("a second run changed the document")
	}
}

func TestSplice(t *testing.T) {
	sec := beginMarker + "\nnew\n" + endMarker + "\n"
	if got, _ := splice("# T\n", sec); got != "# T\n\n"+sec {
		t.Errorf("append: %q", got)
	}
	if got, _ := splice("", sec); got != sec {
		t.Errorf("empty: %q", got)
	}
	if _, err := splice("a\n"+endMarker+"\n"+beginMarker+"\n", sec); err == nil {
		t.Error("markers in the wrong order accepted")
	}
	if _, err := splice("a\n"+beginMarker+"\n", sec); err == nil {
		t.Error("a begin marker alone accepted")
	}
}
