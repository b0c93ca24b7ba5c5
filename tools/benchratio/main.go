// Command benchratio reads `go test -bench` output on stdin, passes it
// through, and then prints the figures as ratios to references measured in
// the same run:
//
//   - throughput (MB/s) to its reference: a sub-benchmark named ref=NAME/CASE
//     is the reference for every SYSTEM/CASE and SYSTEM/brokers=K/CASE of the
//     same benchmark (Produce/ref=kfake/acks=1 for Produce/strata/acks=1 and
//     Produce/strata/brokers=3/acks=1);
//   - a cluster's throughput to one broker's: SYSTEM/brokers=K/CASE to
//     SYSTEM/CASE;
//   - benchmarks without a throughput are listed with the figures they
//     report, which carry their own reference (BenchmarkFailover's ratio to
//     the session TTL).
//
// It exits with status 1 if the input reports a failure (a line starting
// with FAIL or --- FAIL), so that `go test -bench … | benchratio` fails
// when go test does.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// benchLine is a result: name, -GOMAXPROCS suffix, iterations, figures.
var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// A result is one benchmark's line.
type result struct {
	name    string   // without the -GOMAXPROCS suffix
	figures []figure // in the order printed
}

type figure struct {
	value float64
	unit  string
}

// figure returns the figure in unit.
func (r result) figure(unit string) (float64, bool) {
	for _, f := range r.figures {
		if f.unit == unit {
			return f.value, true
		}
	}
	return 0, false
}

// parse reads a result line; ok is false for any other line.
func parse(line string) (r result, ok bool) {
	m := benchLine.FindStringSubmatch(line)
	if m == nil {
		return result{}, false
	}
	fields := strings.Fields(m[2])
	if len(fields)%2 != 0 {
		return result{}, false
	}
	r.name = m[1]
	for i := 0; i < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			return result{}, false
		}
		r.figures = append(r.figures, figure{v, fields[i+1]})
	}
	return r, true
}

// name is a result's name in parts: BENCH/SYSTEM[/brokers=K]/CASE.
type name struct {
	bench, system, brokers, cas string
}

func splitName(s string) name {
	parts := strings.Split(s, "/")
	n := name{bench: parts[0]}
	if len(parts) < 2 {
		return n
	}
	n.system = parts[1]
	var rest []string
	for _, p := range parts[2:] {
		if n.brokers == "" && strings.HasPrefix(p, "brokers=") {
			n.brokers = p
			continue
		}
		rest = append(rest, p)
	}
	n.cas = strings.Join(rest, "/")
	return n
}

// failed reports whether line says that a test or benchmark failed.
func failed(line string) bool {
	return strings.HasPrefix(line, "FAIL") || strings.HasPrefix(strings.TrimSpace(line), "--- FAIL")
}

// run copies in to out, followed by the summary, and reports whether in
// reported a failure.
func run(in io.Reader, out io.Writer) (fail bool, err error) {
	var results []result
	sc := bufio.NewScanner(in)
	sc.Buffer(nil, 16<<20) // a failed benchmark's log may hold long lines
	for sc.Scan() {
		fmt.Fprintln(out, sc.Text())
		if r, ok := parse(sc.Text()); ok {
			results = append(results, r)
		}
		fail = fail || failed(sc.Text())
	}
	if err := sc.Err(); err != nil {
		return fail, err
	}
	summarize(out, results)
	return fail, nil
}

// summarize prints the throughputs with their ratios, then the other results.
func summarize(out io.Writer, results []result) {
	mbs := map[string]float64{}  // name → MB/s
	refs := map[string]float64{} // BENCH/CASE → the reference's MB/s
	var others []result
	for _, r := range results {
		v, ok := r.figure("MB/s")
		if !ok {
			others = append(others, r)
			continue
		}
		mbs[r.name] = v
		if n := splitName(r.name); strings.HasPrefix(n.system, "ref=") && n.brokers == "" {
			refs[n.bench+"/"+n.cas] = v
		}
	}
	if len(mbs) > 0 {
		fmt.Fprintf(out, "\n%-45s %12s %10s %12s\n", "benchmark", "MB/s", "× ref", "× 1 broker")
		for _, r := range results {
			v, ok := r.figure("MB/s")
			if !ok {
				continue
			}
			n := splitName(r.name)
			toRef, toOne := "—", "—"
			if ref, ok := refs[n.bench+"/"+n.cas]; ok && ref > 0 && !strings.HasPrefix(n.system, "ref=") {
				toRef = fmt.Sprintf("%.2f", v/ref)
			}
			if n.brokers != "" && n.brokers != "brokers=1" {
				base := strings.Join([]string{n.bench, n.system, n.cas}, "/")
				if one, ok := mbs[base]; ok && one > 0 {
					toOne = fmt.Sprintf("%.2f", v/one)
				}
			}
			fmt.Fprintf(out, "%-45s %12.2f %10s %12s\n", r.name, v, toRef, toOne)
		}
	}
	if len(others) > 0 {
		fmt.Fprintf(out, "\n%-45s %s\n", "benchmark", "figures")
		for _, r := range others {
			var fs []string
			for _, f := range r.figures {
				fs = append(fs, fmt.Sprintf("%.2f %s", f.value, f.unit))
			}
			fmt.Fprintf(out, "%-45s %s\n", r.name, strings.Join(fs, "   "))
		}
	}
}

func main() {
	fail, err := run(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchratio:", err)
		os.Exit(1)
	}
	if fail {
		fmt.Fprintln(os.Stderr, "benchratio: the benchmarks reported a failure")
		os.Exit(1)
	}
}
