// Command benchdoc writes the generated sections of docs/benchmarks.md.
//
// With -in, the loadgen section from BenchmarkLoadgen's results: for each
// standard workload, kfake's and Strata's figures side by side with
// Strata's ratio to kfake, Strata's ratios to the machine's raw ceilings
// measured in the same run, and the charts of `strata loadgen compare` as
// SVG files.
//
//	benchdoc -in DIR -doc docs/benchmarks.md -img docs/img/loadgen
//
// With -latency, the latency section from BenchmarkLatency's results
// (latency.json and each run's result.json): latencies at a fixed rate and
// PUT budgets as ratios to raw PUTs and to kfake, the PUT and etcd rates,
// sequential produces against a raw PUT and etcd transaction, issue 21's
// targets as met or not, a table against the peers' published figures, and
// charts (see latency.go). Both flags may be given at once.
//
//	benchdoc -latency DIR -doc docs/benchmarks.md -latency-img docs/img/latency
//
// DIR holds WORKLOAD/kfake/result.json, WORKLOAD/strata/result.json and
// ceilings.json. Only the part of the document between the lines
// <!-- loadgen:begin --> and <!-- loadgen:end --> is rewritten (the section
// is appended, with its markers, if they are missing); the SVG files in the
// image folder are replaced.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/strata-io/strata/loadgen"
)

// Markers around the generated section.
const (
	beginMarker = "<!-- loadgen:begin -->"
	endMarker   = "<!-- loadgen:end -->"
)

var errMarkers = errors.New("benchdoc: the document has a begin marker without an end marker after it, or the reverse")

// workload is one standard workload's pair of runs.
type workload struct {
	name          string
	kfake, strata *loadgen.Result
}

func main() {
	in := flag.String("in", "", "`dir` of BenchmarkLoadgen's results")
	doc := flag.String("doc", "docs/benchmarks.md", "Markdown `file` to write the section into")
	img := flag.String("img", "docs/img/loadgen", "`dir` for the SVG charts")
	lat := flag.String("latency", "", "`dir` of BenchmarkLatency's results")
	latImg := flag.String("latency-img", "docs/img/latency", "`dir` for the latency section's SVG charts")
	flag.Parse()
	if *in == "" && *lat == "" {
		fmt.Fprintln(os.Stderr, "benchdoc: -in or -latency is required")
		os.Exit(2)
	}
	if *in != "" {
		if err := run(*in, *doc, *img); err != nil {
			fmt.Fprintln(os.Stderr, "benchdoc:", err)
			os.Exit(1)
		}
	}
	if *lat != "" {
		if err := runLatency(*lat, *doc, *latImg); err != nil {
			fmt.Fprintln(os.Stderr, "benchdoc:", err)
			os.Exit(1)
		}
	}
}

func run(in, docFile, imgDir string) error {
	ws, err := readWorkloads(in)
	if err != nil {
		return err
	}
	var ceil loadgen.Ceilings
	data, err := os.ReadFile(filepath.Join(in, "ceilings.json"))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, &ceil); err != nil {
		return fmt.Errorf("ceilings.json: %w", err)
	}
	if err := writeCharts(imgDir, ws); err != nil {
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
	out, err := splice(string(old), section(ws, ceil, filepath.ToSlash(rel)))
	if err != nil {
		return err
	}
	return os.WriteFile(docFile, []byte(out), 0o644)
}

// rank orders the standard workloads: produce, pubsub, catch-up; acks=1
// before acks=all.
func rank(name string) int {
	r := 9
	for i, p := range []string{"produce-", "pubsub-", "catchup-"} {
		if strings.HasPrefix(name, p) {
			r = 2 * i
		}
	}
	if strings.HasSuffix(name, "-all") {
		r++
	}
	return r
}

func readWorkloads(in string) ([]workload, error) {
	entries, err := os.ReadDir(in)
	if err != nil {
		return nil, err
	}
	var ws []workload
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		w := workload{name: e.Name()}
		if w.kfake, err = loadgen.ReadResult(filepath.Join(in, e.Name(), "kfake")); err != nil {
			return nil, err
		}
		if w.strata, err = loadgen.ReadResult(filepath.Join(in, e.Name(), "strata")); err != nil {
			return nil, err
		}
		ws = append(ws, w)
	}
	if len(ws) == 0 {
		return nil, fmt.Errorf("no workload results in %s", in)
	}
	slices.SortStableFunc(ws, func(a, b workload) int {
		if d := rank(a.name) - rank(b.name); d != 0 {
			return d
		}
		return strings.Compare(a.name, b.name)
	})
	return ws, nil
}

// clearCharts makes imgDir and removes the SVG files in it, so that a
// chart no longer written does not stay behind.
func clearCharts(imgDir string) error {
	if err := os.MkdirAll(imgDir, 0o755); err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(imgDir, "*.svg"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	return nil
}

// writeCharts replaces the SVG files of imgDir with each workload's
// side-by-side charts, WORKLOAD-throughput.svg and so on.
func writeCharts(imgDir string, ws []workload) error {
	if err := clearCharts(imgDir); err != nil {
		return err
	}
	for _, w := range ws {
		for _, c := range loadgen.Charts([]*loadgen.Result{w.kfake, w.strata}) {
			c.Chart.Title = w.name + ": " + c.Chart.Title
			if err := os.WriteFile(filepath.Join(imgDir, w.name+"-"+c.File), []byte(c.Chart.SVG()), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// splice puts the loadgen section between its markers in doc, or appends it.
func splice(doc, sec string) (string, error) { return spliceBetween(doc, sec, beginMarker, endMarker) }

// spliceBetween puts sec, which starts with begin and ends with end,
// between those markers of doc, or appends it.
func spliceBetween(doc, sec, begin, end string) (string, error) {
	b, e := strings.Index(doc, begin), strings.Index(doc, end)
	switch {
	case b < 0 && e < 0:
		if doc != "" && !strings.HasSuffix(doc, "\n\n") {
			doc = strings.TrimRight(doc, "\n") + "\n\n"
		}
		return doc + sec, nil
	case b < 0 || e < b:
		return "", errMarkers
	}
	rest := doc[e+len(end):]
	rest = strings.TrimPrefix(rest, "\n")
	return doc[:b] + sec + rest, nil
}

// ceilingFor is the raw ceiling that a figure of w compares with, if any.
func ceilingFor(w *loadgen.Result, figure string, cs map[string]loadgen.Ceiling) (loadgen.Ceiling, bool) {
	var name string
	switch figure {
	case "produce MB/s":
		name = map[string]string{"1": "disk-fsync-1MiB", "all": "put-8MiB"}[w.Workload.Acks]
	case "ack p50 ms":
		// At full speed an ack waits mostly in the producer's buffer: only
		// at a fixed rate does it compare with one fsync or one PUT.
		if w.Workload.Rate > 0 {
			name = map[string]string{"1": "disk-fsync-4KiB-p50", "all": "put-8MiB-p50"}[w.Workload.Acks]
		}
	case "consume MB/s":
		if w.Workload.Scenario == loadgen.ScenarioCatchUp {
			name = "get-1MiB-x16"
		}
	}
	c, ok := cs[name]
	return c, ok
}

// summaryFigures are the figures of the summary table, per scenario.
func summaryFigures(w *loadgen.Result) []string {
	switch {
	case w.Workload.Scenario == loadgen.ScenarioCatchUp:
		return []string{"produce MB/s", "consume MB/s", "catch-up s"}
	case w.Consume != nil:
		return []string{"ack p50 ms", "ack p99 ms", "end-to-end p50 ms", "end-to-end p99 ms", "consume MB/s"}
	}
	return []string{"produce MB/s", "ack p50 ms", "ack p99 ms", "ack p99.9 ms"}
}

// describe is a workload in one line.
func describe(w loadgen.Workload) string {
	rate := "as fast as acknowledged"
	if w.Rate > 0 {
		rate = fmt.Sprintf("at %d records/s", w.Rate)
	}
	n := ""
	if w.Records > 0 {
		n = fmt.Sprintf(", %d records", w.Records)
	} else {
		n = ", " + w.Duration.String()
	}
	if w.Warmup > 0 {
		n += " after " + w.Warmup.String() + " of warm-up"
	}
	clients := fmt.Sprintf("%d producer", w.Producers)
	if w.Consumers > 0 {
		clients += fmt.Sprintf(", %d consumer group of %d", w.ConsumerGroups, w.Consumers)
	}
	what := "produce only"
	switch {
	case w.Scenario == loadgen.ScenarioCatchUp:
		what = "a backlog produced, then read from its first record"
	case w.Consumers > 0:
		what = "produce and consume at the tail"
	}
	return fmt.Sprintf("%s: %s values (%s payload), %d partitions, %s, acks=%s, compression %s, %s%s.",
		what, w.MessageSize, w.Payload, w.Partitions*max(w.Topics, 1), clients, w.Acks, w.Compression, rate, n)
}

func section(ws []workload, ceil loadgen.Ceilings, img string) string {
	var b strings.Builder
	cs := map[string]loadgen.Ceiling{}
	for _, c := range ceil.Ceilings {
		cs[c.Name] = c
	}
	fmt.Fprintf(&b, "%s\n<!-- Written by `make bench` (tools/benchdoc) from BenchmarkLoadgen's results; edits here are overwritten. -->\n\n", beginMarker)
	fmt.Fprintf(&b, "### Figures of %s, %d CPUs\n\n", ceil.Measured.Format("2006-01-02"), ceil.CPUs)
	b.WriteString("Strata's figures as ratios to kfake's in the same run and to the machine's raw ceiling\n" +
		"that bounds them (measured right after, on the same disk and MinIO). Throughput is\n" +
		"MB/s of record keys and values; latencies are in ms.\n\n")
	b.WriteString("| workload | figure | kfake | strata | × kfake | ceiling | × ceiling |\n|---|---|---|---|---|---|---|\n")
	for _, w := range ws {
		table := loadgen.CompareRows([]*loadgen.Result{w.kfake, w.strata})
		byName := map[string][]string{}
		for _, row := range table[1:] {
			byName[row[0]] = row
		}
		for _, fig := range summaryFigures(w.strata) {
			row, ok := byName[fig]
			if !ok {
				continue
			}
			cName, cRatio := "", ""
			if c, ok := ceilingFor(w.strata, fig, cs); ok {
				cName = fmt.Sprintf("%s %s", fmtFloat(c.Value), c.Unit)
				if v, ok := figureValue(w.strata, fig); ok && c.Value > 0 {
					cRatio = fmtFloat(v / c.Value)
				}
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", w.name, fig, row[1], row[2], row[3], cName, cRatio)
		}
	}

	b.WriteString("\nThe ceilings:\n\n| ceiling | figure |\n|---|---|\n")
	for _, c := range ceil.Ceilings {
		fmt.Fprintf(&b, "| %s | %s %s |\n", c.What, fmtFloat(c.Value), c.Unit)
	}
	for _, w := range ws {
		fmt.Fprintf(&b, "\n#### %s\n\n%s\n\n", w.name, upperFirst(describe(w.strata.Workload)))
		b.WriteString(loadgen.CompareMarkdown([]*loadgen.Result{w.kfake, w.strata}))
		b.WriteString("\n")
		for _, c := range []struct{ file, alt string }{
			{"throughput.svg", "throughput over time"},
			{"latency.svg", "latency over time"},
			{"percentiles.svg", "latency by percentile"},
		} {
			fmt.Fprintf(&b, "![%s: %s](%s/%s-%s)\n", w.name, c.alt, img, w.name, c.file)
		}
	}
	fmt.Fprintf(&b, "\n%s\n", endMarker)
	return b.String()
}

// figureValue reads a summary figure from a result.
func figureValue(r *loadgen.Result, fig string) (float64, bool) {
	switch fig {
	case "produce MB/s":
		return r.Produce.MBPerSec, r.Produce.Records > 0
	case "ack p50 ms":
		return r.Produce.Latency.P50, r.Produce.Latency.Count > 0
	case "consume MB/s":
		if r.Consume == nil {
			return 0, false
		}
		return r.Consume.MBPerSec, r.Consume.Records > 0
	}
	return 0, false
}

func fmtFloat(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
