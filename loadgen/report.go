package loadgen

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
)

// NamedChart is a chart and the file name it is written to.
type NamedChart struct {
	File  string // throughput.svg, latency.svg, percentiles.svg
	Chart Chart
}

// Charts are the charts of one run, or of several side by side: throughput
// over time, latency over time and the latency percentile curves.
func Charts(results []*Result) []NamedChart {
	one := len(results) == 1
	name := func(r *Result, what string) string {
		if one {
			return what
		}
		return r.Label + " " + what
	}
	tp := Chart{Title: "Throughput over time", XLabel: "seconds since producing started", YLabel: "MB/s"}
	lat := Chart{Title: "Latency over time (per interval)", XLabel: "seconds since producing started", YLabel: "ms", YScale: Log}
	pct := Chart{Title: "Latency by percentile (measured time)", XLabel: "percentile", YLabel: "ms", XScale: Nines, YScale: Log}
	for i, r := range results {
		consumers := r.Consume != nil
		var prod, cons, ack50, ack99, e2e50, e2e99 []Point
		for _, iv := range r.Intervals {
			prod = append(prod, Point{iv.Seconds, iv.ProduceMBPerSec})
			cons = append(cons, Point{iv.Seconds, iv.ConsumeMBPerSec})
			if iv.ProduceLatency.Count > 0 {
				ack50 = append(ack50, Point{iv.Seconds, iv.ProduceLatency.P50})
				ack99 = append(ack99, Point{iv.Seconds, iv.ProduceLatency.P99})
			}
			if iv.E2ELatency.Count > 0 {
				e2e50 = append(e2e50, Point{iv.Seconds, iv.E2ELatency.P50})
				e2e99 = append(e2e99, Point{iv.Seconds, iv.E2ELatency.P99})
			}
		}
		tp.Series = append(tp.Series, Series{Name: name(r, "produce"), Points: prod, Color: i})
		if consumers {
			tp.Series = append(tp.Series, Series{Name: name(r, "consume"), Points: cons, Color: i, Dashed: true})
		}
		ackCurve, e2eCurve := curvePoints(r.Produce.Latency), []Point(nil)
		if consumers {
			e2eCurve = curvePoints(r.Consume.Latency)
		}
		if one {
			lat.Series = append(lat.Series,
				Series{Name: "ack p50", Points: ack50, Color: 0, Dashed: true},
				Series{Name: "ack p99", Points: ack99, Color: 0})
			pct.Series = append(pct.Series, Series{Name: "ack (produce)", Points: ackCurve, Color: 0})
			if consumers {
				lat.Series = append(lat.Series,
					Series{Name: "end-to-end p50", Points: e2e50, Color: 1, Dashed: true},
					Series{Name: "end-to-end p99", Points: e2e99, Color: 1})
				pct.Series = append(pct.Series, Series{Name: "end-to-end", Points: e2eCurve, Color: 1})
			}
			continue
		}
		lat.Series = append(lat.Series, Series{Name: name(r, "ack p99"), Points: ack99, Color: i})
		pct.Series = append(pct.Series, Series{Name: name(r, "ack"), Points: ackCurve, Color: i})
		if consumers {
			lat.Series = append(lat.Series, Series{Name: name(r, "end-to-end p99"), Points: e2e99, Color: i, Dashed: true})
			pct.Series = append(pct.Series, Series{Name: name(r, "end-to-end"), Points: e2eCurve, Color: i, Dashed: true})
		}
	}
	return []NamedChart{{"throughput.svg", tp}, {"latency.svg", lat}, {"percentiles.svg", pct}}
}

func curvePoints(l Latency) []Point {
	var pts []Point
	for _, c := range l.Curve {
		pts = append(pts, Point{c.Percentile, c.Ms})
	}
	return pts
}

// WriteReport writes a run's report.html and its charts as SVG files into
// dir (result.json is Result.WriteFile's).
func WriteReport(dir string, results ...*Result) error {
	return writeReport(dir, "report.html", results)
}

func writeReport(dir, htmlName string, results []*Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, c := range Charts(results) {
		if err := os.WriteFile(filepath.Join(dir, c.File), []byte(c.Chart.SVG()), 0o644); err != nil {
			return err
		}
	}
	f, err := os.Create(filepath.Join(dir, htmlName))
	if err != nil {
		return err
	}
	if err := WriteHTML(f, results); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

const reportCSS = `body{font-family:Helvetica,Arial,sans-serif;margin:2em auto;max-width:980px;color:#222}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f3f3f3}.bad{color:#b00;font-weight:bold}
.ok{color:#070;font-weight:bold}figure{margin:1em 0}code{background:#f3f3f3;padding:0 3px}`

// WriteHTML writes a self-contained HTML report: inline SVG charts and
// styles, no script and nothing fetched. One result gives a run's report;
// several give a comparison, with ratios to the first.
func WriteHTML(w io.Writer, results []*Result) error {
	var b strings.Builder
	title := "loadgen comparison"
	if len(results) == 1 {
		title = "loadgen: " + results[0].Label
	}
	fmt.Fprintf(&b, "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>%s</title><style>%s</style></head><body>\n",
		esc(title), reportCSS)
	fmt.Fprintf(&b, "<h1>%s</h1>\n", esc(title))
	for _, r := range results {
		fmt.Fprintf(&b, "<p><b>%s</b>: bootstrap <code>%s</code>, started %s, %d CPUs (%s/%s, %s)",
			esc(r.Label), esc(r.Bootstrap), r.Started.Format("2006-01-02 15:04:05 MST"), r.Host.CPUs, r.Host.OS, r.Host.Arch, r.Host.Go)
		switch {
		case r.CutShort:
			fmt.Fprintf(&b, `; <span class="bad">cut short, these are the figures measured until then: %s</span>`, esc(r.Error))
		case r.Error != "":
			fmt.Fprintf(&b, `; <span class="bad">ended early: %s</span>`, esc(r.Error))
		}
		b.WriteString("</p>\n")
	}
	if len(results) == 1 {
		b.WriteString("<h2>Summary</h2>\n")
		htmlTable(&b, summaryRows(results[0]))
	} else {
		b.WriteString("<h2>Side by side</h2>\n<p>Ratios are to the first run.</p>\n")
		htmlTable(&b, CompareRows(results))
	}
	b.WriteString("<h2>Charts</h2>\n")
	for _, c := range Charts(results) {
		fmt.Fprintf(&b, "<figure>\n%s</figure>\n", c.Chart.SVG())
	}
	for _, r := range results {
		if r.Verify != nil {
			fmt.Fprintf(&b, "<h2>Verification: %s</h2>\n", esc(r.Label))
			verifyHTML(&b, r)
		}
	}
	b.WriteString("<h2>Workload</h2>\n")
	htmlTable(&b, workloadRows(results))
	b.WriteString("</body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func htmlTable(b *strings.Builder, rows [][]string) {
	b.WriteString("<table>\n")
	for i, row := range rows {
		cell := "td"
		if i == 0 {
			cell = "th"
		}
		b.WriteString("<tr>")
		for _, c := range row {
			fmt.Fprintf(b, "<%s>%s</%s>", cell, esc(c), cell)
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</table>\n")
}

func verifyHTML(b *strings.Builder, r *Result) {
	v := r.Verify
	if v.OK {
		b.WriteString(`<p class="ok">OK: no record lost, duplicated or reordered.</p>` + "\n")
	} else {
		b.WriteString(`<p class="bad">FAILED</p>` + "\n")
	}
	rows := [][]string{{"group / partition", "produced", "consumed", "lost", "duplicated", "reordered", "offset mismatch", "redelivered", "unacknowledged"}}
	row := func(name string, c Counts) []string {
		return []string{name, thousands(float64(c.Produced)), thousands(float64(c.Consumed)),
			strconv.FormatInt(c.Lost, 10), strconv.FormatInt(c.Duplicated, 10), strconv.FormatInt(c.Reordered, 10),
			strconv.FormatInt(c.OffsetMismatch, 10), strconv.FormatInt(c.Redelivered, 10), strconv.FormatInt(c.Unacknowledged, 10)}
	}
	for _, g := range v.Groups {
		rows = append(rows, row(g.Group, g.Counts))
		for _, p := range g.Partitions {
			if p.Faulty() || len(v.Groups) == 1 && len(g.Partitions) <= 64 {
				rows = append(rows, row(fmt.Sprintf("  %s/%d", p.Topic, p.Partition), p.Counts))
			}
		}
	}
	htmlTable(b, rows)
}

// summaryRows is a run's summary table: header, produce, consume.
func summaryRows(r *Result) [][]string {
	rows := [][]string{{"", "records", "records/s", "MB/s", "p50 ms", "p90 ms", "p99 ms", "p99.9 ms", "max ms", "errors"}}
	lat := func(l Latency) []string {
		return []string{fmtMs(l.P50), fmtMs(l.P90), fmtMs(l.P99), fmtMs(l.P999), fmtMs(l.Max)}
	}
	p := r.Produce
	rows = append(rows, append(append([]string{"produce (ack latency)", thousands(float64(p.Records)),
		thousands(p.RecordsPerSec), fmt.Sprintf("%.2f", p.MBPerSec)}, lat(p.Latency)...), strconv.FormatInt(p.Errors, 10)))
	if c := r.Consume; c != nil {
		name := "consume (end-to-end latency)"
		if r.Workload.Scenario == ScenarioCatchUp {
			name = "catch-up (backlog age)"
		}
		rows = append(rows, append(append([]string{name, thousands(float64(c.Records)),
			thousands(c.RecordsPerSec), fmt.Sprintf("%.2f", c.MBPerSec)}, lat(c.Latency)...), strconv.FormatInt(c.Errors, 10)))
	}
	return rows
}

// workloadRows lists each run's workload, one column per run.
func workloadRows(results []*Result) [][]string {
	head := []string{"option"}
	for _, r := range results {
		head = append(head, r.Label)
	}
	rows := [][]string{head}
	add := func(name string, get func(w Workload) string) {
		row := []string{name}
		for _, r := range results {
			row = append(row, get(r.Workload))
		}
		rows = append(rows, row)
	}
	itoa := strconv.Itoa
	add("scenario", func(w Workload) string { return w.Scenario })
	add("topics × partitions", func(w Workload) string { return itoa(w.Topics) + " × " + itoa(w.Partitions) })
	add("producers", func(w Workload) string { return itoa(w.Producers) })
	add("consumer groups × consumers", func(w Workload) string { return itoa(w.ConsumerGroups) + " × " + itoa(w.Consumers) })
	add("message size", func(w Workload) string { return w.MessageSize.String() })
	add("payload", func(w Workload) string { return w.Payload })
	add("keys", func(w Workload) string {
		if w.Keys == "none" {
			return "none"
		}
		return w.Keys + " over " + itoa(w.KeySpace)
	})
	add("rate (records/s)", func(w Workload) string {
		if w.Rate == 0 {
			return "max"
		}
		return thousands(float64(w.Rate))
	})
	add("records", func(w Workload) string {
		if w.Records == 0 {
			return "—"
		}
		return thousands(float64(w.Records))
	})
	add("duration + warm-up", func(w Workload) string { return w.Duration.String() + " + " + w.Warmup.String() })
	add("acks", func(w Workload) string { return w.Acks })
	add("compression", func(w Workload) string { return w.Compression })
	add("linger", func(w Workload) string { return w.Linger.String() })
	add("batch max bytes", func(w Workload) string { return w.BatchMaxBytes.String() })
	add("buffered records", func(w Workload) string { return itoa(w.BufferedRecords) })
	add("verify", func(w Workload) string { return strconv.FormatBool(w.Verify) })
	return rows
}

// WriteSummary prints a run's final summary table and its verification.
func WriteSummary(w io.Writer, r *Result) {
	fmt.Fprintf(w, "\n%s — %s, %.1f s measured\n\n", r.Label, r.Bootstrap, r.MeasuredSeconds)
	if r.CutShort {
		fmt.Fprintf(w, "cut short: the run's deadline passed before it ended; these are the figures measured until then\n\n")
	}
	writeTable(w, summaryRows(r))
	if r.Produce.FirstError != "" {
		fmt.Fprintf(w, "\nfirst produce error: %s\n", r.Produce.FirstError)
	}
	if c := r.Consume; c != nil && !c.Drained {
		fmt.Fprintf(w, "\nconsumers did not read every record within --drain-timeout\n")
	}
	if v := r.Verify; v != nil {
		verdict := "OK"
		if !v.OK {
			verdict = "FAILED"
		}
		fmt.Fprintf(w, "\nverify: %s\n", verdict)
		for _, g := range v.Groups {
			fmt.Fprintf(w, "  %s: %s\n", g.Group, g.Counts)
			for _, p := range g.Partitions {
				if p.Faulty() {
					fmt.Fprintf(w, "    %s/%d: %s\n", p.Topic, p.Partition, p.Counts)
				}
			}
		}
	}
	if r.Error != "" {
		fmt.Fprintf(w, "\nended early: %s\n", r.Error)
	}
}

func writeTable(w io.Writer, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, row := range rows {
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	tw.Flush()
}
