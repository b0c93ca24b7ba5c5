package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/strata-io/strata/loadgen"
)

// runLoadgen is `strata loadgen run|compare`. It returns the exit code: 1
// when a run fails or its verification finds faults, 2 for a bad command
// line.
func runLoadgen(args []string, stdout, stderr io.Writer) int {
	return subcommand("loadgen ", args, map[string]func([]string) int{
		"run":     func(rest []string) int { return runLoadgenRun(rest, stdout, stderr) },
		"compare": func(rest []string) int { return runLoadgenCompare(rest, stdout, stderr) },
	}, printLoadgenUsage, stdout, stderr)
}

// runFlags are the options of `loadgen run` that are not the workload's.
type runFlags struct {
	bootstrap    string
	workloadFile string
	out          string
	label        string
	interval     time.Duration
	setupTimeout time.Duration
	grace        time.Duration
	quiet        bool
	props        clientProps // -X, -F: TLS and SASL towards the cluster
}

func (f *runFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.bootstrap, "bootstrap", f.bootstrap, "seed brokers, comma-separated `host:port`s; or kfake (kfake:N for N brokers) for franz-go's in-memory cluster, started in this process, as a reference")
	fs.StringVar(&f.workloadFile, "workload", f.workloadFile, "YAML `file` of workload options, keyed by these flags' names; flags given on the command line override it")
	fs.StringVar(&f.out, "out", f.out, "`dir` for result.json, report.html and the charts (throughput.svg, latency.svg, percentiles.svg)")
	fs.StringVar(&f.label, "label", f.label, "`name` of this run in reports and comparisons; empty = the workload's name")
	fs.DurationVar(&f.interval, "interval", f.interval, "progress and time-series `interval`")
	fs.DurationVar(&f.setupTimeout, "setup-timeout", f.setupTimeout, "`time` that creating topics and the first group assignment may take")
	fs.DurationVar(&f.grace, "grace", f.grace, "`time` a run may take beyond --warmup + --duration + --drain-timeout, to set up and to close its clients; past it the run is cut short, reports what it measured and exits 1")
	fs.BoolVar(&f.quiet, "quiet", f.quiet, "no progress line per interval")
	registerClientProps(fs, f.props)
}

func defaultRunFlags() runFlags {
	return runFlags{out: "loadgen-out", interval: time.Second, setupTimeout: time.Minute, grace: loadgen.DefaultGrace, props: clientProps{}}
}

// newRunFlags is the FlagSet of `loadgen run`, bound to f and w.
func newRunFlags(f *runFlags, w *loadgen.Workload) *flag.FlagSet {
	fs := flag.NewFlagSet("loadgen run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	f.register(fs)
	w.RegisterFlags(fs)
	return fs
}

// parseRun builds the run's options: defaults, then the workload file,
// then the command line.
func parseRun(args []string) (runFlags, loadgen.Workload, error) {
	// Parsed once to learn --workload and fail fast, then again over the
	// file's values so that the command line wins.
	f, w := defaultRunFlags(), loadgen.DefaultWorkload()
	fs := newRunFlags(&f, &w)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return f, w, err
		}
		return f, w, usageError{err}
	}
	if fs.NArg() > 0 {
		return f, w, usageError{fmt.Errorf("unexpected argument %q (loadgen run takes only flags)", fs.Arg(0))}
	}
	if f.workloadFile != "" {
		file := f.workloadFile
		f, w = defaultRunFlags(), loadgen.DefaultWorkload()
		if err := w.LoadYAML(file); err != nil {
			return f, w, err
		}
		if err := newRunFlags(&f, &w).Parse(args); err != nil {
			return f, w, usageError{err}
		}
	}
	if f.bootstrap == "" {
		return f, w, usageError{errors.New("--bootstrap is required (host:port[,…], or kfake)")}
	}
	if f.interval <= 0 {
		return f, w, usageError{fmt.Errorf("--interval must be positive, got %s", f.interval)}
	}
	return f, w, w.Validate()
}

func runLoadgenRun(args []string, stdout, stderr io.Writer) int {
	f, w, err := parseRun(args)
	if code, done := parseEnd(err, printLoadgenUsage, stdout, stderr); done {
		return code
	}
	opts := loadgen.Options{
		Bootstrap:    strings.Split(f.bootstrap, ","),
		Label:        f.label,
		Interval:     f.interval,
		SetupTimeout: f.setupTimeout,
		Grace:        f.grace,
	}
	if opts.ClientOpts, err = f.props.opts(); err != nil {
		return fail(stderr, usageError{err})
	}
	if err := opts.Validate(); err != nil {
		return fail(stderr, usageError{err})
	}
	if !f.quiet {
		opts.Progress = stderr
	}
	if err := os.MkdirAll(f.out, 0o755); err != nil {
		return fail(stderr, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	res, runErr := loadgen.Run(ctx, w, opts)
	if res == nil { // nothing ran
		return fail(stderr, runErr)
	}
	loadgen.WriteSummary(stdout, res)
	if err := res.WriteFile(filepath.Join(f.out, "result.json")); err != nil {
		return fail(stderr, err)
	}
	if err := loadgen.WriteReport(f.out, res); err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "\nwrote %s and %s\n", filepath.Join(f.out, "result.json"), filepath.Join(f.out, "report.html"))
	switch {
	case runErr != nil:
		return fail(stderr, runErr)
	case res.Failed():
		fmt.Fprintln(stderr, "strata: verification found lost, duplicated or reordered records")
		return 1
	}
	return 0
}

func runLoadgenCompare(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadgen compare", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("out", "", "`dir` for compare.html and the side-by-side charts; empty = the table only")
	markdown := fs.Bool("markdown", false, "print the table as Markdown")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printLoadgenUsage(stdout)
			return 0
		}
		return fail(stderr, usageError{err})
	}
	if fs.NArg() == 0 {
		return fail(stderr, usageError{errors.New("loadgen compare needs one or more result directories or result.json files")})
	}
	var results []*loadgen.Result
	for _, p := range fs.Args() {
		r, err := loadgen.ReadResult(p)
		if err != nil {
			return fail(stderr, err)
		}
		results = append(results, r)
	}
	if *markdown {
		fmt.Fprint(stdout, loadgen.CompareMarkdown(results))
	} else {
		loadgen.WriteCompare(stdout, results)
	}
	if *out != "" {
		if err := loadgen.WriteCompareReport(*out, results); err != nil {
			return fail(stderr, err)
		}
		fmt.Fprintf(stdout, "\nwrote %s\n", filepath.Join(*out, "compare.html"))
	}
	return 0
}

func printLoadgenUsage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  strata loadgen run --bootstrap HOST:PORT[,…] [flags]   run a workload, write DIR/result.json and DIR/report.html
  strata loadgen compare [--out DIR] [--markdown] DIR_OR_JSON …
                                                      the runs side by side, with ratios to the first

run produces numbered, timestamped records to every partition of the
workload's topics (created if missing) and, with consumers, reads them back
in consumer groups. It prints a line per interval and a summary, and exits 1
if the run fails or --verify finds a lost, duplicated or reordered record.
A run ends by its deadline, --warmup + --duration + --drain-timeout + --grace
after it starts, even if the cluster stops answering: it is then cut short,
writes what it measured and exits 1.
Throughputs are in records/s and MB/s (10^6 bytes of keys and values);
latencies in ms, from HDR histograms: ack is from a record's due send time
to its acknowledgement, end-to-end from that time to its delivery.
result.json's fields are described in docs/loadgen.md.

Flags of run (a --workload YAML file takes the same names as keys):

`)
	f, wl := defaultRunFlags(), loadgen.DefaultWorkload()
	printFlags(w, newRunFlags(&f, &wl))
	fmt.Fprint(w, `
Flags of compare:

  --out dir
        dir for compare.html and the side-by-side charts; empty = the table only
  --markdown
        print the table as Markdown

Example: the default workload against a cluster, then against kfake, side by side:

  strata loadgen run --bootstrap 127.0.0.1:9092 --out runs/strata
  strata loadgen run --bootstrap kfake --records 2000000 --out runs/kfake
  strata loadgen compare --out runs/compare runs/kfake runs/strata
`)
}

// printFlags lists every flag of fs with its argument and default.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		if arg != "" {
			arg = " " + arg
		}
		if arg == " value" {
			arg = ""
		}
		fmt.Fprintf(w, "  --%s%s\n", f.Name, arg)
		fmt.Fprintf(w, "        %s", usage)
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" && f.DefValue != "0s" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}
