package main

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		line string
		want result
		ok   bool
	}{
		{"BenchmarkProduce/strata/acks=1-2   \t  200000\t      1333 ns/op\t 768.21 MB/s",
			result{"BenchmarkProduce/strata/acks=1", []figure{{1333, "ns/op"}, {768.21, "MB/s"}}}, true},
		{"BenchmarkProduce/strata/acks=1 \t 200000\t 1333 ns/op", // GOMAXPROCS=1: no suffix
			result{"BenchmarkProduce/strata/acks=1", []figure{{1333, "ns/op"}}}, true},
		{"BenchmarkFailover/brokers=3/ttl=3s-2 \t 10\t 1.1 failover/ttl\t 3.3 s/failover", // ns/op suppressed
			result{"BenchmarkFailover/brokers=3/ttl=3s", []figure{{1.1, "failover/ttl"}, {3.3, "s/failover"}}}, true},
		{"--- BENCH: BenchmarkFailover/brokers=3/ttl=3s-2", result{}, false},
		{"    bench_test.go:170: SIGKILL 127.0.0.1:40001", result{}, false},
		{"BenchmarkProduce/strata/acks=1-2 \t 200000\t 1333", result{}, false}, // a figure without its unit
		{"PASS", result{}, false},
	} {
		got, ok := parse(tc.line)
		if ok != tc.ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parse(%q) = %v, %v; want %v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
}

func TestSplitName(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want name
	}{
		{"BenchmarkProduce/ref=kfake/acks=1", name{"BenchmarkProduce", "ref=kfake", "", "acks=1"}},
		{"BenchmarkProduce/strata/acks=all", name{"BenchmarkProduce", "strata", "", "acks=all"}},
		{"BenchmarkProduce/strata/brokers=3/acks=all", name{"BenchmarkProduce", "strata", "brokers=3", "acks=all"}},
		{"BenchmarkFailover/brokers=3/ttl=3s", name{"BenchmarkFailover", "brokers=3", "", "ttl=3s"}},
		{"BenchmarkX", name{bench: "BenchmarkX"}},
	} {
		if got := splitName(tc.in); got != tc.want {
			t.Errorf("splitName(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

// TestRun checks the whole output on the shape of `make bench`'s input:
// passed through, then each throughput's ratio to kfake with the same acks
// and three brokers' to one, then the failover figures.
func TestRun(t *testing.T) {
	in, err := os.Open(filepath.Join("testdata", "bench.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var out strings.Builder
	fail, err := run(in, &out)
	if err != nil || fail {
		t.Fatalf("run = %v, %v; want no failure", fail, err)
	}
	golden := filepath.Join("testdata", "bench.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n%s", golden, out.String())
	}
}

func TestRunFailure(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		fail     bool
	}{
		{"passed", "BenchmarkX-2\t1\t5 ns/op\nPASS\nok  \tmod/e2e\t1.0s\n", false},
		{"benchmark failed", "--- FAIL: BenchmarkProduce/strata/acks=1\n    bench_test.go:80: boom\nFAIL\n", true},
		{"sub-benchmark failed", "    --- FAIL: BenchmarkProduce/strata/acks=1\n", true},
		{"timed out", "panic: test timed out after 20m0s\nFAIL\tmod/e2e\t1200.0s\n", true},
		{"did not build", "# mod/e2e\nbench_test.go:1: syntax error\nFAIL\tmod/e2e [build failed]\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			fail, err := run(strings.NewReader(tc.in), &out)
			if err != nil || fail != tc.fail {
				t.Errorf("run = %v, %v; want %v, nil", fail, err, tc.fail)
			}
			if !strings.HasPrefix(out.String(), tc.in) {
				t.Errorf("input not passed through:\n%s", out.String())
			}
		})
	}
}
