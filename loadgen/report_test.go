package loadgen

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeResult is a result with round figures: produce at mbps MB/s with
// latencies scaled by lat.
func fakeResult(label string, mbps, lat float64) *Result {
	w := DefaultWorkload()
	w.Name = label
	l := func(scale float64) Latency {
		x := Latency{Count: 1000, Min: 0.1 * scale, Mean: 2 * scale, P50: 1 * scale, P90: 3 * scale,
			P99: 10 * scale, P999: 20 * scale, Max: 40 * scale}
		for _, p := range CurvePercentiles {
			x.Curve = append(x.Curve, CurvePoint{p, scale * (0.1 + p/2.5)})
		}
		return x
	}
	r := &Result{
		Version: ResultVersion, Label: label, Bootstrap: "127.0.0.1:9092", Workload: w,
		Started:         time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
		MeasuredSeconds: 10,
		Produce:         ProduceResult{Records: 10000, Bytes: int64(mbps * 1e7), RecordsPerSec: 1000, MBPerSec: mbps, Latency: l(lat)},
		Consume:         &ConsumeResult{Records: 10000, RecordsPerSec: 1000, MBPerSec: mbps, Seconds: 10, Drained: true, Latency: l(2 * lat)},
	}
	for i := range 5 {
		iv := Interval{Seconds: float64(i + 1), Phase: "measure", ProduceMBPerSec: mbps, ConsumeMBPerSec: mbps,
			ProduceLatency: l(lat), E2ELatency: l(2 * lat)}
		iv.ProduceLatency.Curve, iv.E2ELatency.Curve = nil, nil
		r.Intervals = append(r.Intervals, iv)
	}
	return r
}

// checkSVG fails unless s is well-formed XML with an svg root.
func checkSVG(t *testing.T, s string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	root := ""
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed: %v\n%s", err, s)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q, want svg", root)
	}
}

func TestCharts(t *testing.T) {
	one := Charts([]*Result{fakeResult("a", 50, 1)})
	if len(one) != 3 {
		t.Fatalf("%d charts, want 3", len(one))
	}
	for _, c := range one {
		s := c.Chart.SVG()
		checkSVG(t, s)
		if !strings.Contains(s, "<polyline") {
			t.Errorf("%s draws no line", c.File)
		}
	}
	if s := one[2].Chart.SVG(); !strings.Contains(s, ">99.9%<") || !strings.Contains(s, ">end-to-end<") {
		t.Errorf("percentile chart lacks the 99.9%% tick or the end-to-end series:\n%s", s)
	}

	two := Charts([]*Result{fakeResult("kfake <ref>", 100, 0.5), fakeResult("strata", 50, 2)})
	s := two[0].Chart.SVG()
	checkSVG(t, s)
	if !strings.Contains(s, "kfake &lt;ref&gt; produce") || !strings.Contains(s, "strata consume") {
		t.Errorf("throughput chart lacks the runs' series (escaped):\n%s", s)
	}
}

func TestChartAxes(t *testing.T) {
	for _, tt := range []struct{ raw, want float64 }{{0.7, 1}, {1, 1}, {1.3, 2}, {3, 5}, {7, 10}, {23, 50}, {0.012, 0.02}} {
		if got := niceStep(tt.raw); got != tt.want {
			t.Errorf("niceStep(%v) = %v, want %v", tt.raw, got, tt.want)
		}
	}
	for n, want := range []string{"0%", "90%", "99%", "99.9%", "99.99%"} {
		if got := ninesLabel(n); got != want {
			t.Errorf("ninesLabel(%d) = %q, want %q", n, got, want)
		}
	}
	// A chart without data still draws, with its axes.
	checkSVG(t, Chart{Title: "empty", YScale: Log, Series: []Series{{Name: "none"}}}.SVG())
	// A log axis leaves out zeros.
	s := Chart{YScale: Log, Series: []Series{{Name: "x", Points: []Point{{0, 0}, {1, 10}, {2, 100}}}}}.SVG()
	if strings.Count(s, ",") < 2 || strings.Contains(s, "NaN") || strings.Contains(s, "Inf") {
		t.Errorf("log chart:\n%s", s)
	}
}

func TestCompareRows(t *testing.T) {
	a, b := fakeResult("kfake", 100, 0.5), fakeResult("strata", 50, 2)
	b.Consume = nil
	rows := CompareRows([]*Result{a, b})
	if got := strings.Join(rows[0], "|"); got != "figure|kfake|strata|× first" {
		t.Errorf("header %q", got)
	}
	find := func(name string) []string {
		for _, r := range rows {
			if r[0] == name {
				return r
			}
		}
		t.Fatalf("no row %q in %v", name, rows)
		return nil
	}
	if r := find("produce MB/s"); r[1] != "100.00" || r[2] != "50.00" || r[3] != "0.50" {
		t.Errorf("produce MB/s row %v", r)
	}
	if r := find("ack p99 ms"); r[1] != "5.00" || r[2] != "20.0" || r[3] != "4.00" {
		t.Errorf("ack p99 row %v", r)
	}
	if r := find("end-to-end p50 ms"); r[1] != "1.00" || r[2] != "—" || r[3] != "—" {
		t.Errorf("end-to-end row without consumers %v", r)
	}
	md := CompareMarkdown([]*Result{a, b})
	lines := strings.Split(strings.TrimSpace(md), "\n")
	if len(lines) != len(rows)+1 || lines[1] != "|---|---|---|---|" {
		t.Errorf("markdown:\n%s", md)
	}
}

func TestReportFiles(t *testing.T) {
	dir := t.TempDir()
	r := fakeResult("run <1>", 50, 1)
	r.Verify = &VerifyReport{OK: false, Groups: []GroupReport{{Group: "g", Counts: Counts{Produced: 10, Consumed: 9, Lost: 1},
		Partitions: []PartitionReport{{Topic: "loadgen", Partition: 3, Counts: Counts{Produced: 10, Consumed: 9, Lost: 1}}}}}}
	if err := r.WriteFile(filepath.Join(dir, "result.json")); err != nil {
		t.Fatal(err)
	}
	if err := WriteReport(dir, r); err != nil {
		t.Fatal(err)
	}
	back, err := ReadResult(dir)
	if err != nil {
		t.Fatal(err)
	}
	if back.Label != r.Label || back.Produce.MBPerSec != 50 || back.Verify.Groups[0].Partitions[0].Lost != 1 {
		t.Errorf("read back %+v", back)
	}
	page, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	for _, want := range []string{"run &lt;1&gt;", "<svg", "FAILED", "loadgen/3", "p99.9 ms", "Throughput over time"} {
		if !strings.Contains(html, want) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	// Self-contained: nothing fetched, no script.
	stripped := strings.ReplaceAll(html, `xmlns="http://www.w3.org/2000/svg"`, "")
	for _, bad := range []string{"http://", "https://", "<script", "<link", "src="} {
		if strings.Contains(stripped, bad) {
			t.Errorf("report.html contains %q", bad)
		}
	}
	for _, f := range []string{"throughput.svg", "latency.svg", "percentiles.svg"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		checkSVG(t, string(b))
	}

	var sum bytes.Buffer
	WriteSummary(&sum, r)
	for _, want := range []string{"produce (ack latency)", "verify: FAILED", "loadgen/3: produced 10, consumed 9: lost 1"} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}

	if err := WriteCompareReport(filepath.Join(dir, "cmp"), []*Result{r, fakeResult("other", 25, 3)}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "cmp", "compare.html")); err != nil || !strings.Contains(string(b), "× first") {
		t.Errorf("compare.html: %v", err)
	}
}

func TestReadResultErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadResult(dir); err == nil {
		t.Error("a directory without result.json read")
	}
	p := filepath.Join(dir, "x.json")
	os.WriteFile(p, []byte(`{"label":"x"}`), 0o644)
	if _, err := ReadResult(p); err == nil || !strings.Contains(err.Error(), "not a loadgen result") {
		t.Errorf("error %v, want not a loadgen result", err)
	}
	os.WriteFile(p, []byte(`{"version":99}`), 0o644)
	if _, err := ReadResult(p); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("error %v, want newer", err)
	}
}
