package main

import (
	"bytes"
	"flag"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-io/strata/loadgen"
)

func TestLoadgenHelpListsEveryFlag(t *testing.T) {
	for _, args := range [][]string{{"loadgen", "--help"}, {"help", "loadgen"}, {"loadgen", "run", "-h"}} {
		var stdout, stderr bytes.Buffer
		if code := run(args, &stdout, &stderr); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, stderr.String())
		}
		f, w := defaultRunFlags(), loadgen.DefaultWorkload()
		newRunFlags(&f, &w).VisitAll(func(fl *flag.Flag) {
			if !strings.Contains(stdout.String(), "  --"+fl.Name+" ") && !strings.Contains(stdout.String(), "  --"+fl.Name+"\n") {
				t.Errorf("%v: help lacks --%s", args, fl.Name)
			}
		})
		for _, want := range []string{"strata loadgen compare", "--markdown", "docs/loadgen.md", "(default 16)"} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("%v: help lacks %q", args, want)
			}
		}
	}
}

func TestLoadgenCommandLine(t *testing.T) {
	tests := []cliCase{
		{name: "no subcommand", args: []string{"loadgen"}, code: 2, stderr: "Usage:"},
		{name: "unknown subcommand", args: []string{"loadgen", "bench"}, code: 2, stderr: `unknown loadgen command "bench"`},
		{name: "no bootstrap", args: []string{"loadgen", "run"}, code: 2, stderr: "--bootstrap is required"},
		{name: "bad flag value", args: []string{"loadgen", "run", "--bootstrap", "x:1", "--message-size", "1KB"}, code: 2, stderr: "ambiguous"},
		{name: "stray argument", args: []string{"loadgen", "run", "--bootstrap", "x:1", "extra"}, code: 2, stderr: `unexpected argument "extra"`},
		{name: "invalid workload", args: []string{"loadgen", "run", "--bootstrap", "x:1", "--acks", "2", "--partitions", "0"}, code: 1,
			stderr: `--partitions must be at least 1, got 0; --acks must be all, 1 or 0, got "2"`},
		{name: "negative grace", args: []string{"loadgen", "run", "--bootstrap", "x:1", "--grace", "-1s"}, code: 2, stderr: "--grace must be 0 or more, got -1s"},
		{name: "missing workload file", args: []string{"loadgen", "run", "--bootstrap", "x:1", "--workload", "/nonexistent.yaml"}, code: 1, stderr: "no such file"},
		{name: "compare nothing", args: []string{"loadgen", "compare"}, code: 2, stderr: "needs one or more"},
		{name: "compare a missing result", args: []string{"loadgen", "compare", "/nonexistent"}, code: 1, stderr: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, run) })
	}
}

func TestLoadgenWorkloadFileAndFlags(t *testing.T) {
	file := filepath.Join(t.TempDir(), "w.yaml")
	if err := os.WriteFile(file, []byte("name: from-file\npartitions: 3\nacks: \"1\"\nduration: 7s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The command line overrides the file, wherever --workload stands.
	f, w, err := parseRun([]string{"--partitions", "5", "--workload", file, "--bootstrap", "b:1", "--out", "o"})
	if err != nil {
		t.Fatal(err)
	}
	if w.Name != "from-file" || w.Partitions != 5 || w.Acks != "1" || w.Duration != 7*time.Second || w.Producers != 1 {
		t.Errorf("workload %+v: want the file's name, acks and duration, the command line's partitions, defaults else", w)
	}
	if f.bootstrap != "b:1" || f.out != "o" {
		t.Errorf("run flags %+v", f)
	}
}

// TestLoadgenRunAndCompare runs two short verified workloads against
// in-process kfake clusters through the command line, then compares them.
func TestLoadgenRunAndCompare(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	common := []string{"loadgen", "run", "--bootstrap", "kfake", "--records", "500", "--warmup", "0s",
		"--partitions", "4", "--verify", "--quiet"}
	for _, r := range []struct{ out, acks string }{{a, "all"}, {b, "1"}} {
		var stdout, stderr bytes.Buffer
		args := append(append([]string{}, common...), "--acks", r.acks, "--label", "acks="+r.acks, "--out", r.out)
		if code := run(args, &stdout, &stderr); code != 0 {
			t.Fatalf("%v: exit %d\nstdout:\n%s\nstderr:\n%s", args, code, stdout.String(), stderr.String())
		}
		for _, want := range []string{"produce (ack latency)", "verify: OK", "produced 500, consumed 500: lost 0"} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("summary lacks %q:\n%s", want, stdout.String())
			}
		}
		res, err := loadgen.ReadResult(r.out)
		if err != nil {
			t.Fatal(err)
		}
		if res.Produce.Records != 500 || res.Consume.Records != 500 || !res.Verify.OK || res.Workload.Acks != r.acks {
			t.Errorf("%s: result %+v", r.out, res)
		}
		for _, f := range []string{"report.html", "throughput.svg", "latency.svg", "percentiles.svg"} {
			if st, err := os.Stat(filepath.Join(r.out, f)); err != nil || st.Size() == 0 {
				t.Errorf("%s: %v", f, err)
			}
		}
	}

	var stdout, stderr bytes.Buffer
	cmp := filepath.Join(dir, "cmp")
	if code := run([]string{"loadgen", "compare", "--out", cmp, a, filepath.Join(b, "result.json")}, &stdout, &stderr); code != 0 {
		t.Fatalf("compare: exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"acks=all", "acks=1", "× first", "produce MB/s", "verify"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("compare lacks %q:\n%s", want, stdout.String())
		}
	}
	if _, err := os.Stat(filepath.Join(cmp, "compare.html")); err != nil {
		t.Error(err)
	}
	stdout.Reset()
	if code := run([]string{"loadgen", "compare", "--markdown", a, b}, &stdout, io.Discard); code != 0 ||
		!strings.HasPrefix(stdout.String(), "| figure | acks=all | acks=1 | × first |\n|---|") {
		t.Errorf("compare --markdown: exit %d:\n%s", code, stdout.String())
	}
}

// TestLoadgenRunCutShort runs against a listener that accepts connections
// and never answers: the run's deadline cuts it short, it writes what it
// measured, marked so, and exits 1 with a one-line reason.
func TestLoadgenRunCutShort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	conns := make(chan net.Conn, 100)
	wg.Go(func() {
		defer close(conns)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c
			wg.Go(func() { io.Copy(io.Discard, c) })
		}
	})
	defer func() {
		ln.Close()
		for c := range conns {
			c.Close()
		}
		wg.Wait()
	}()

	out := filepath.Join(t.TempDir(), "out")
	args := []string{"loadgen", "run", "--bootstrap", ln.Addr().String(), "--warmup", "0s", "--duration", "1s",
		"--drain-timeout", "1s", "--grace", "2s", "--quiet", "--out", out}
	var stdout, stderr bytes.Buffer
	began := time.Now()
	code := run(args, &stdout, &stderr)
	// The deadline is 4 s; the slack only absorbs a loaded machine.
	if took := time.Since(began); took > 4*time.Second+30*time.Second {
		t.Errorf("the run took %s, past its 4 s deadline", took)
	}
	const reason = "strata: loadgen: cut short by the run's deadline: 4s (warm-up 0s + duration 1s + drain-timeout 1s + grace 2s) passed during setup\n"
	if code != 1 || stderr.String() != reason {
		t.Errorf("exit %d, stderr %q; want 1 and %q", code, stderr.String(), reason)
	}
	if !strings.Contains(stdout.String(), "cut short: the run's deadline passed") {
		t.Errorf("summary lacks the cut short line:\n%s", stdout.String())
	}
	res, err := loadgen.ReadResult(out)
	if err != nil {
		t.Fatal(err)
	}
	if !res.CutShort || res.Error != strings.TrimSuffix(strings.TrimPrefix(reason, "strata: "), "\n") {
		t.Errorf("result.json: cut short %v, error %q", res.CutShort, res.Error)
	}
}
