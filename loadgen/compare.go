package loadgen

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// metric is one row of a comparison.
type metric struct {
	name string
	get  func(*Result) (float64, bool)
	fmt  func(float64) string
}

func mbps(v float64) string { return fmt.Sprintf("%.2f", v) }

// metrics are the rows of a comparison, in order.
var metrics = func() []metric {
	prod := func(f func(ProduceResult) float64) func(*Result) (float64, bool) {
		return func(r *Result) (float64, bool) { return f(r.Produce), r.Produce.Records > 0 }
	}
	cons := func(f func(*ConsumeResult) float64) func(*Result) (float64, bool) {
		return func(r *Result) (float64, bool) {
			if r.Consume == nil || r.Consume.Records == 0 {
				return 0, false
			}
			return f(r.Consume), true
		}
	}
	lat := func(prefix string, of func(*Result) (Latency, bool)) []metric {
		ps := []struct {
			name string
			get  func(Latency) float64
		}{{"p50", func(l Latency) float64 { return l.P50 }}, {"p90", func(l Latency) float64 { return l.P90 }},
			{"p99", func(l Latency) float64 { return l.P99 }}, {"p99.9", func(l Latency) float64 { return l.P999 }},
			{"max", func(l Latency) float64 { return l.Max }}}
		var ms []metric
		for _, p := range ps {
			ms = append(ms, metric{prefix + " " + p.name + " ms", func(r *Result) (float64, bool) {
				l, ok := of(r)
				return p.get(l), ok && l.Count > 0
			}, fmtMs})
		}
		return ms
	}
	m := []metric{
		{"produce records/s", prod(func(p ProduceResult) float64 { return p.RecordsPerSec }), thousands},
		{"produce MB/s", prod(func(p ProduceResult) float64 { return p.MBPerSec }), mbps},
	}
	m = append(m, lat("ack", func(r *Result) (Latency, bool) { return r.Produce.Latency, true })...)
	m = append(m,
		metric{"consume records/s", cons(func(c *ConsumeResult) float64 { return c.RecordsPerSec }), thousands},
		metric{"consume MB/s", cons(func(c *ConsumeResult) float64 { return c.MBPerSec }), mbps},
	)
	m = append(m, lat("end-to-end", func(r *Result) (Latency, bool) {
		if r.Consume == nil {
			return Latency{}, false
		}
		return r.Consume.Latency, true
	})...)
	m = append(m, metric{"catch-up s", func(r *Result) (float64, bool) {
		if r.Consume == nil || r.Consume.CatchUpSeconds == 0 {
			return 0, false
		}
		return r.Consume.CatchUpSeconds, true
	}, func(v float64) string { return fmt.Sprintf("%.2f", v) }})
	return m
}()

// CompareRows is the side-by-side table of results: a header, then one row
// per figure that some result has, with each result's value and, after
// the first, its ratio to the first's.
func CompareRows(results []*Result) [][]string {
	head := []string{"figure"}
	for i, r := range results {
		head = append(head, r.Label)
		if i > 0 {
			head = append(head, "× first")
		}
	}
	rows := [][]string{head}
	for _, m := range metrics {
		row := []string{m.name}
		any := false
		ref, refOK := m.get(results[0])
		for i, r := range results {
			v, ok := m.get(r)
			any = any || ok
			if ok {
				row = append(row, m.fmt(v))
			} else {
				row = append(row, "—")
			}
			if i > 0 {
				if ok && refOK {
					row = append(row, fmtRatio(v, ref))
				} else {
					row = append(row, "—")
				}
			}
		}
		if any {
			rows = append(rows, row)
		}
	}
	row := []string{"errors"}
	for i, r := range results {
		n := r.Produce.Errors
		if r.Consume != nil {
			n += r.Consume.Errors
		}
		row = append(row, thousands(float64(n)))
		if i > 0 {
			row = append(row, "")
		}
	}
	rows = append(rows, row)
	if slices.ContainsFunc(results, func(r *Result) bool { return r.CutShort }) {
		row := []string{"cut short"}
		for i, r := range results {
			cut := "no"
			if r.CutShort {
				cut = "yes"
			}
			row = append(row, cut)
			if i > 0 {
				row = append(row, "")
			}
		}
		rows = append(rows, row)
	}
	if hasVerify(results) {
		row := []string{"verify"}
		for i, r := range results {
			switch {
			case r.Verify == nil:
				row = append(row, "—")
			case r.Verify.OK:
				row = append(row, "OK")
			default:
				row = append(row, "FAILED")
			}
			if i > 0 {
				row = append(row, "")
			}
		}
		rows = append(rows, row)
	}
	return rows
}

func hasVerify(results []*Result) bool {
	for _, r := range results {
		if r.Verify != nil {
			return true
		}
	}
	return false
}

// WriteCompare prints the side-by-side table.
func WriteCompare(w io.Writer, results []*Result) {
	writeTable(w, CompareRows(results))
}

// CompareMarkdown is the side-by-side table in Markdown.
func CompareMarkdown(results []*Result) string {
	var b strings.Builder
	for i, row := range CompareRows(results) {
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
		if i == 0 {
			b.WriteString("|" + strings.Repeat("---|", len(row)) + "\n")
		}
	}
	return b.String()
}

// WriteCompareReport writes compare.html and the side-by-side charts as
// SVG files into dir.
func WriteCompareReport(dir string, results []*Result) error {
	return writeReport(dir, "compare.html", results)
}
