// Command benchratio reads `go test -bench` output on stdin, passes it
// through, and then prints every benchmark's throughput as a ratio to its
// reference run from the same invocation: a sub-benchmark named
// ref=NAME/CASE is the reference for every other NAME2/CASE.
package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

var line = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+\d+\s+.*?([\d.]+) MB/s`)

type result struct {
	name string
	mbs  float64
}

func main() {
	var results []result
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		fmt.Println(sc.Text())
		if m := line.FindStringSubmatch(sc.Text()); m != nil {
			v, _ := strconv.ParseFloat(m[3], 64)
			results = append(results, result{m[1], v})
		}
	}
	refs := map[string]float64{} // case → reference MB/s
	for _, r := range results {
		if i := strings.Index(r.name, "/ref="); i >= 0 {
			rest := r.name[i+len("/ref="):]
			if j := strings.Index(rest, "/"); j >= 0 {
				refs[r.name[:i]+"/"+rest[j+1:]] = r.mbs
			}
		}
	}
	fmt.Printf("\n%-45s %12s %10s\n", "benchmark", "MB/s", "× ref")
	for _, r := range results {
		ratio := "—"
		parts := strings.Split(r.name, "/")
		if len(parts) >= 3 && !strings.HasPrefix(parts[1], "ref=") {
			key := parts[0] + "/" + strings.Join(parts[2:], "/")
			if ref, ok := refs[key]; ok && ref > 0 {
				ratio = fmt.Sprintf("%.2f", r.mbs/ref)
			}
		}
		fmt.Printf("%-45s %12.2f %10s\n", r.name, r.mbs, ratio)
	}
}
