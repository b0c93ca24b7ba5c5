package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/twmb/franz-go/pkg/kgo"
	"gopkg.in/yaml.v3"

	"github.com/strata-io/strata/mirror"
)

// runMirror is `strata mirror [status] [flags]`: run a mirror until
// SIGINT or SIGTERM, or print its state.
func runMirror(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "status" {
		return runMirrorStatus(args[1:], stdout, stderr)
	}
	o, err := parseMirror("mirror", args)
	if code, done := parseEnd(err, printMirrorUsage, stdout, stderr); done {
		return code
	}
	opts, err := o.options()
	if err != nil {
		return fail(stderr, usageError{err})
	}
	opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.logLevel}))
	opts.Progress = stderr
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if o.cfg.MetricsAddr != "" {
		reg := newRegistry()
		opts.Registerer = reg
		ln, err := net.Listen("tcp", o.cfg.MetricsAddr)
		if err != nil {
			return fail(stderr, fmt.Errorf("metrics-addr: %w", err))
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
	}
	m, err := mirror.New(o.cfg, opts)
	if err != nil {
		return fail(stderr, usageError{err})
	}
	opts.Logger.Info("mirror: starting", "source", o.cfg.SourceBootstrap, "target", o.cfg.TargetBootstrap,
		"topics", o.cfg.Topics, "groups", o.cfg.Groups, "exactly-once", o.cfg.ExactlyOnce, "preserve-offsets", o.cfg.PreserveOffsets)
	if err := m.Run(ctx); err != nil {
		return fail(stderr, err)
	}
	return 0
}

func runMirrorStatus(args []string, stdout, stderr io.Writer) int {
	o, err := parseMirror("mirror status", args)
	if code, done := parseEnd(err, printMirrorUsage, stdout, stderr); done {
		return code
	}
	opts, err := o.options()
	if err != nil {
		return fail(stderr, usageError{err})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := mirror.Status(ctx, o.cfg, opts)
	if err != nil {
		return fail(stderr, err)
	}
	mirror.WriteStatus(stdout, rows)
	return 0
}

// mirrorOptions are the mirror's configuration and each side's client
// security properties (librdkafka's names, as -X and -F of loadgen and
// leaders take them).
type mirrorOptions struct {
	cfg                    mirror.Config
	configFile             string
	logLevel               slog.Level
	sourceProps, targetPrp clientProps
}

// mirrorFile is the YAML file of --config: the flags' names as keys.
type mirrorFile struct {
	mirror.Config `yaml:",inline"`
	SourceX       []string `yaml:"source-X"`
	SourceF       string   `yaml:"source-F"`
	TargetX       []string `yaml:"target-X"`
	TargetF       string   `yaml:"target-F"`
	LogLevel      string   `yaml:"log-level"`
}

func defaultMirrorOptions() mirrorOptions {
	return mirrorOptions{cfg: mirror.DefaultConfig(), logLevel: slog.LevelInfo, sourceProps: clientProps{}, targetPrp: clientProps{}}
}

func newMirrorFlags(name string, o *mirrorOptions) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&o.configFile, "config", o.configFile, "YAML `file` of these options, keyed by the flags' names; flags given on the command line override it")
	o.cfg.RegisterFlags(fs)
	fs.TextVar(&o.logLevel, "log-level", o.logLevel, "`level` of the log on stderr: debug (a line per round), info, warn, error")
	registerSideProps(fs, "source", o.sourceProps)
	registerSideProps(fs, "target", o.targetPrp)
	return fs
}

// registerSideProps adds SIDE-X and SIDE-F: -X and -F of one cluster.
func registerSideProps(fs *flag.FlagSet, side string, p clientProps) {
	fs.Var(p, side+"-X", "a client security property `key=value` of the "+side+" cluster, as kcat's -X (security.protocol, sasl.mechanism, sasl.username, sasl.password, ssl.ca.location, ssl.certificate.location, ssl.key.location, ssl.endpoint.identification.algorithm); repeatable")
	fs.Var(clientPropsFile{p}, side+"-F", "a properties `file` of the "+side+" cluster's "+side+"-X lines (# comments); keep passwords here")
}

// parseMirror reads the options: defaults, then the --config file, then
// the command line.
func parseMirror(name string, args []string) (mirrorOptions, error) {
	o := defaultMirrorOptions()
	fs := newMirrorFlags(name, &o)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, usageError{err}
	}
	if fs.NArg() > 0 {
		return o, usageError{fmt.Errorf("unexpected argument %q (%s takes only flags)", fs.Arg(0), name)}
	}
	if o.configFile != "" {
		file := o.configFile
		o = defaultMirrorOptions()
		if err := o.loadYAML(file); err != nil {
			return o, usageError{err}
		}
		if err := newMirrorFlags(name, &o).Parse(args); err != nil {
			return o, usageError{err}
		}
	}
	return o, usageError{o.cfg.Validate()}.orNil()
}

func (e usageError) orNil() error {
	if e.err == nil {
		return nil
	}
	return e
}

// loadYAML reads a --config file into o; unknown keys are errors.
func (o *mirrorOptions) loadYAML(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	f := mirrorFile{Config: o.cfg}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
		return fmt.Errorf("%s: %s", file, oneLine(strings.ReplaceAll(msg, "\n", "; ")))
	}
	o.cfg = f.Config
	if f.LogLevel != "" {
		if err := o.logLevel.UnmarshalText([]byte(f.LogLevel)); err != nil {
			return fmt.Errorf("%s: log-level: %w", file, err)
		}
	}
	for _, side := range []struct {
		x     []string
		f     string
		props clientProps
		name  string
	}{{f.SourceX, f.SourceF, o.sourceProps, "source"}, {f.TargetX, f.TargetF, o.targetPrp, "target"}} {
		if side.f != "" {
			if err := (clientPropsFile{side.props}).Set(side.f); err != nil {
				return fmt.Errorf("%s: %s-F: %w", file, side.name, err)
			}
		}
		for _, kv := range side.x {
			if err := side.props.Set(kv); err != nil {
				return fmt.Errorf("%s: %s-X: %w", file, side.name, err)
			}
		}
	}
	return nil
}

// options are the mirror's client options from the security properties.
func (o *mirrorOptions) options() (mirror.Options, error) {
	var opts mirror.Options
	var err error
	if opts.SourceOpts, err = o.sourceProps.opts(); err != nil {
		return opts, fmt.Errorf("source: %w", err)
	}
	if opts.TargetOpts, err = o.targetPrp.opts(); err != nil {
		return opts, fmt.Errorf("target: %w", err)
	}
	opts.SourceOpts = append(opts.SourceOpts, kgo.ClientID("strata-mirror"))
	opts.TargetOpts = append(opts.TargetOpts, kgo.ClientID("strata-mirror"))
	return opts, nil
}

func printMirrorUsage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  strata mirror --source-bootstrap HOST:PORT[,…] --target-bootstrap HOST:PORT[,…] --topics REGEX [flags]
        copy the matched topics (records, partitions, configs) and the --groups'
        committed offsets from the source cluster to the target, until SIGINT or
        SIGTERM; run several instances with the same --name (and distinct
        --instance-id) to split the partitions between them
  strata mirror status [the same flags]
        print, per source partition, the mirror's position and its lag

Records are copied at least once (the progress is committed on the source
after the target acknowledged them), or exactly once with --exactly-once
(records and progress in one target transaction). docs/mirror.md has the
migration and disaster-recovery recipes.

Flags (a --config YAML file takes the same names as keys):

`)
	o := defaultMirrorOptions()
	printFlags(w, newMirrorFlags("mirror", &o))
}
