package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/internal/tlsconfig"
)

// httpShutdownTimeout bounds how long open HTTP requests (a scrape, a
// profile) may hold up exit once the broker is closed.
const httpShutdownTimeout = 5 * time.Second

// runServe is `strata serve`: load and check the configuration, then run a
// broker until SIGINT or SIGTERM. It returns the exit code.
func runServe(args []string, stdout, stderr io.Writer) int {
	cfg, err := loadConfig(args, os.Environ())
	if code, done := parseEnd(err, printServeUsage, stdout, stderr); done {
		return code
	}
	if err := cfg.Validate(); err != nil {
		return fail(stderr, err)
	}
	logger, err := newLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	if err != nil {
		return fail(stderr, err)
	}
	slog.SetDefault(logger) // for dependencies that log through slog or log
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)
	return serve(cfg, logger, process{
		stderr:  stderr,
		environ: os.Environ(),
		signals: signals,
		exit:    os.Exit,
		start:   startBroker,
	})
}

// runningBroker is what serve needs of a started broker.
type runningBroker interface {
	Addr() string
	Ready() bool
	Close() error
}

var _ runningBroker = (*broker.Broker)(nil)

func startBroker(ctx context.Context, cfg broker.Config) (runningBroker, error) {
	b, err := broker.Start(ctx, cfg)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return b, nil
}

// process is serve's outside world; tests replace it.
type process struct {
	stderr  io.Writer
	environ []string
	signals <-chan os.Signal
	exit    func(int)
	start   func(context.Context, broker.Config) (runningBroker, error)
}

// fail prints err as the single line "strata: <reason>" and returns the exit
// code: 2 for command-line mistakes, 1 for everything else.
func fail(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "strata: %s\n", oneLine(err.Error()))
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// parseEnd is how a command ends when parsing its command line returned
// err: with usage on stdout and exit code 0 for flag.ErrHelp (-h, --help),
// with fail's line and code for another error. done is false for nil: the
// command goes on.
func parseEnd(err error, usage func(io.Writer), stdout, stderr io.Writer) (code int, done bool) {
	switch {
	case errors.Is(err, flag.ErrHelp):
		usage(stdout)
		return 0, true
	case err != nil:
		return fail(stderr, err), true
	}
	return 0, false
}

// serve runs the HTTP server and the broker. The first value on p.signals
// starts a graceful shutdown (or aborts start-up); a second one calls
// p.exit(1) at once. Until the broker has started, nothing but the failure
// line is written to stderr at the default log level.
func serve(cfg Config, logger *slog.Logger, p process) int {
	stderr := p.stderr
	if unknown := unknownEnv(newServeFlags(&Config{}), p.environ); len(unknown) > 0 {
		logger.Warn("ignoring unknown STRATA_* environment variables", "names", unknown)
	}
	reg := newRegistry()
	bcfg, err := cfg.BrokerConfig(logger, reg)
	if err != nil {
		return fail(stderr, err)
	}
	logger.Debug("starting", "version", version, "config", fmt.Sprintf("%+v", cfg.redacted()))

	// Signals: the first is handed to the main flow, the second exits.
	stop := make(chan os.Signal, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case sig := <-p.signals:
			stop <- sig
		case <-done:
			return
		}
		select {
		case sig := <-p.signals:
			fmt.Fprintf(stderr, "strata: %v received again, exiting without finishing shutdown\n", sig)
			p.exit(1)
		case <-done:
		}
	}()

	var (
		running  atomic.Pointer[runningBroker]
		stopping atomic.Bool
	)
	ready := func() bool {
		b := running.Load()
		return b != nil && !stopping.Load() && (*b).Ready()
	}

	// The HTTP port is bound before the broker starts, so that a busy port
	// fails fast and /healthz answers during recovery.
	httpErr := make(chan error, 1)
	httpAddr := "off"
	stopHTTP := func() {}
	if cfg.HTTPListen != "" {
		ln, err := net.Listen("tcp", cfg.HTTPListen)
		if err != nil {
			return fail(stderr, fmt.Errorf("http listener: %w", err))
		}
		httpAddr = ln.Addr().String()
		if cfg.HTTPTLS {
			tc, err := tlsconfig.Server(tlsconfig.ServerOptions{CertFile: cfg.Security.TLSCertFile, KeyFile: cfg.Security.TLSKeyFile, ClientAuth: "none", Log: logger})
			if err != nil {
				ln.Close()
				return fail(stderr, fmt.Errorf("http listener TLS: %w", err))
			}
			ln = tls.NewListener(ln, tc)
		}
		srv := &http.Server{
			Handler:           newHTTPHandler(reg, ready, cfg.Pprof),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
		served := make(chan struct{})
		go func() {
			defer close(served)
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				httpErr <- err
			}
		}()
		stopHTTP = func() {
			ctx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				_ = srv.Close()
			}
			<-served
		}
	}
	defer stopHTTP()

	// The context of Start is cancelled only to abort start-up, or once the
	// broker is closed.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type started struct {
		b   runningBroker
		err error
	}
	startc := make(chan started, 1)
	go func() {
		b, err := p.start(ctx, bcfg)
		startc <- started{b, err}
	}()

	var b runningBroker
	select {
	case r := <-startc:
		if r.err != nil {
			return fail(stderr, r.err)
		}
		b = r.b
	case sig := <-stop:
		logger.Info("aborting start-up", "signal", sig.String())
		cancel()
		if r := <-startc; r.b != nil {
			if err := r.b.Close(); err != nil {
				return fail(stderr, fmt.Errorf("close: %w", err))
			}
		}
		return 0
	case err := <-httpErr:
		cancel()
		if r := <-startc; r.b != nil {
			_ = r.b.Close()
		}
		return fail(stderr, fmt.Errorf("http server: %w", err))
	}
	running.Store(&b)
	logger.Info("strata started", "version", version, "kafka", b.Addr(), "http", httpAddr)

	code := 0
	select {
	case sig := <-stop:
		logger.Info("signal received, shutting down gracefully (again to exit at once)", "signal", sig.String())
	case err := <-httpErr:
		logger.Error("http server failed; shutting down", "err", err)
		code = 1
	}
	stopping.Store(true) // /readyz fails from here on
	if err := b.Close(); err != nil {
		return fail(stderr, fmt.Errorf("close: %w", err))
	}
	logger.Info("stopped")
	return code
}

// newLogger writes to w in text or JSON at the level.
func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	lvl, err := parseLevel(level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("unknown log format %q", format)
}

// newRegistry holds the broker's metrics, Go runtime and process metrics,
// and strata_build_info.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "strata_build_info",
		Help:        "Always 1; the labels say which build is running.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	buildInfo.Set(1)
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo,
	)
	return reg
}

// newHTTPHandler serves /metrics, /healthz (the process runs), /readyz
// (ready() is true) and, with pprof, /debug/pprof/. The pprof handlers are
// registered here rather than on http.DefaultServeMux, so that they are
// served only when asked for.
func newHTTPHandler(reg *prometheus.Registry, ready func() bool, pprofOn bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if pprofOn {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}
