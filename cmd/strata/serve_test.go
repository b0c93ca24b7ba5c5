package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/strata-io/strata/broker"
)

// TestHTTPHandlerPprofOff: without --pprof the profiles are not served:
// they reveal internals to anyone who reaches the port.
func TestHTTPHandlerPprofOff(t *testing.T) {
	h := newHTTPHandler(newRegistry(), func() bool { return true }, false)
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/goroutine?debug=1"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusNotFound {
			t.Errorf("%s without --pprof = %d, want 404", path, rec.Code)
		}
	}
}

func TestHTTPHandler(t *testing.T) {
	var ready atomic.Bool
	h := newHTTPHandler(newRegistry(), ready.Load, true)
	get := func(path string) (int, string) {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}

	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", code)
	}
	if code, _ := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before ready = %d, want 503", code)
	}
	ready.Store(true)
	if code, _ := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz when ready = %d, want 200", code)
	}
	code, body := get("/metrics")
	if code != http.StatusOK {
		t.Errorf("/metrics = %d, want 200", code)
	}
	for _, metric := range []string{"go_goroutines", "process_start_time_seconds", `strata_build_info{goversion="`, "promhttp_metric_handler_requests_total"} {
		if !strings.Contains(body, metric) {
			t.Errorf("/metrics lacks %s", metric)
		}
	}
	if code, body := get("/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Errorf("/debug/pprof/ = %d, want 200 with a profile index", code)
	}
	if code, _ := get("/debug/pprof/goroutine?debug=1"); code != http.StatusOK {
		t.Errorf("/debug/pprof/goroutine = %d, want 200", code)
	}
	if code, _ := get("/debug/pprof/cmdline"); code != http.StatusOK {
		t.Errorf("/debug/pprof/cmdline = %d, want 200", code)
	}
	if code, _ := get("/nope"); code != http.StatusNotFound {
		t.Errorf("/nope = %d, want 404", code)
	}
}

func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	logger, err := newLogger("warn", "json", &buf)
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("dropped")
	logger.Warn("kept", "k", 1)
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not one JSON record: %v\n%s", err, buf.String())
	}
	if rec["msg"] != "kept" || rec["level"] != "WARN" {
		t.Errorf("record = %v", rec)
	}

	buf.Reset()
	logger, err = newLogger("debug", "text", &buf)
	if err != nil {
		t.Fatal(err)
	}
	logger.Debug("hello", "k", "v")
	if got := buf.String(); !strings.Contains(got, "level=DEBUG msg=hello k=v") {
		t.Errorf("text log = %q", got)
	}

	if _, err := newLogger("info", "xml", &buf); err == nil {
		t.Error("newLogger accepted format xml")
	}
}

// fakeBroker stands in for *broker.Broker in the lifecycle tests.
type fakeBroker struct {
	ready    atomic.Bool
	closes   atomic.Int32
	closing  chan struct{} // closed when Close is first called
	release  chan struct{} // Close returns once this is closed
	closeErr error
}

func newFakeBroker() *fakeBroker {
	f := &fakeBroker{closing: make(chan struct{}), release: make(chan struct{})}
	f.ready.Store(true)
	return f
}

func (f *fakeBroker) Addr() string { return "127.0.0.1:19092" }
func (f *fakeBroker) Ready() bool  { return f.ready.Load() }
func (f *fakeBroker) Close() error {
	if f.closes.Add(1) == 1 {
		close(f.closing)
	}
	<-f.release
	return f.closeErr
}

// syncBuffer is a bytes.Buffer safe for the goroutines of serve.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serveRun is serve running in a goroutine with fake signals and exit.
type serveRun struct {
	signals chan os.Signal
	exits   chan int
	stderr  *syncBuffer
	code    chan int
}

// startServe runs serve with start in place of broker.Start. The test must
// make it return and collect the code with wait.
func startServe(t *testing.T, cfg Config, start func(context.Context, broker.Config) (runningBroker, error)) *serveRun {
	t.Helper()
	r := &serveRun{
		signals: make(chan os.Signal, 2),
		exits:   make(chan int, 1),
		stderr:  &syncBuffer{},
		code:    make(chan int, 1),
	}
	logger, err := newLogger(cfg.LogLevel, cfg.LogFormat, r.stderr)
	if err != nil {
		t.Fatal(err)
	}
	p := process{stderr: r.stderr, signals: r.signals, exit: func(c int) { r.exits <- c }, start: start}
	go func() { r.code <- serve(cfg, logger, p) }()
	return r
}

func (r *serveRun) wait(t *testing.T) int {
	t.Helper()
	select {
	case code := <-r.code:
		return code
	case <-time.After(time.Minute):
		t.Fatalf("serve did not return; stderr:\n%s", r.stderr.String())
		return -1
	}
}

// testServeConfig is a valid configuration whose HTTP server listens on a
// free port (or not at all when http is false).
func testServeConfig(t *testing.T, http bool) Config {
	t.Helper()
	c := DefaultConfig()
	c.DataDir = t.TempDir()
	c.HTTPListen = ""
	if http {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c.HTTPListen = ln.Addr().String()
		ln.Close()
	}
	return c
}

// httpGet returns the status of a GET, or 0 if the server does not answer.
func httpGet(t *testing.T, url string) int {
	t.Helper()
	tr := &http.Transport{DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestServeGracefulShutdown(t *testing.T) {
	cfg := testServeConfig(t, true)
	fb := newFakeBroker()
	cfgs := make(chan broker.Config, 1)
	r := startServe(t, cfg, func(_ context.Context, c broker.Config) (runningBroker, error) {
		cfgs <- c
		return fb, nil
	})
	base := "http://" + cfg.HTTPListen
	for httpGet(t, base+"/readyz") != http.StatusOK {
		time.Sleep(10 * time.Millisecond) // serve is starting; the test's own timeout bounds this
	}
	if gotCfg := <-cfgs; gotCfg.Registerer == nil || gotCfg.Logger == nil || gotCfg.DataDir != cfg.DataDir {
		t.Errorf("broker.Config = %+v, want a registerer, a logger and the data dir", gotCfg)
	}

	r.signals <- syscall.SIGTERM
	<-fb.closing
	if code := httpGet(t, base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while closing = %d, want 503", code)
	}
	if code := httpGet(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while closing = %d, want 200", code)
	}
	close(fb.release)
	if code := r.wait(t); code != 0 {
		t.Errorf("exit %d, want 0; stderr:\n%s", code, r.stderr)
	}
	if n := fb.closes.Load(); n != 1 {
		t.Errorf("Close called %d times, want 1", n)
	}
	if code := httpGet(t, base+"/healthz"); code != 0 {
		t.Errorf("HTTP server still answers after serve returned (%d)", code)
	}
	if len(r.exits) != 0 {
		t.Error("exit called on a single signal")
	}
	if s := r.stderr.String(); !strings.Contains(s, "strata started") || !strings.Contains(s, "signal=terminated") {
		t.Errorf("log lacks start and signal lines:\n%s", s)
	}
}

func TestServeSecondSignalExits(t *testing.T) {
	fb := newFakeBroker()
	r := startServe(t, testServeConfig(t, false), func(context.Context, broker.Config) (runningBroker, error) {
		return fb, nil
	})
	r.signals <- syscall.SIGTERM
	<-fb.closing
	r.signals <- syscall.SIGINT
	if code := <-r.exits; code != 1 {
		t.Errorf("exit(%d) on the second signal, want exit(1)", code)
	}
	close(fb.release) // the fake exit returns, so let serve finish
	r.wait(t)
	if s := r.stderr.String(); !strings.Contains(s, "strata: interrupt received again, exiting without finishing shutdown\n") {
		t.Errorf("stderr lacks the second-signal line:\n%s", s)
	}
}

func TestServeStartFailure(t *testing.T) {
	cfg := testServeConfig(t, true)
	r := startServe(t, cfg, func(context.Context, broker.Config) (runningBroker, error) {
		return nil, errors.New("etcd: connect 127.0.0.1:1:\ncontext deadline exceeded")
	})
	if code := r.wait(t); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if got, want := r.stderr.String(), "strata: etcd: connect 127.0.0.1:1:; context deadline exceeded\n"; got != want {
		t.Errorf("stderr\n got %q\nwant %q", got, want)
	}
	ln, err := net.Listen("tcp", cfg.HTTPListen)
	if err != nil {
		t.Fatalf("HTTP port not released: %v", err)
	}
	ln.Close()
}

func TestServeHTTPPortBusy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := testServeConfig(t, false)
	cfg.HTTPListen = ln.Addr().String()
	r := startServe(t, cfg, func(context.Context, broker.Config) (runningBroker, error) {
		t.Error("broker started although the HTTP port is busy")
		return newFakeBroker(), nil
	})
	if code := r.wait(t); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	got := r.stderr.String()
	if !strings.HasPrefix(got, "strata: http listener: listen tcp "+cfg.HTTPListen+": ") || strings.Count(got, "\n") != 1 {
		t.Errorf("stderr = %q, want one line about the HTTP listener", got)
	}
}

func TestServeSignalDuringStart(t *testing.T) {
	for _, tt := range []struct {
		name         string
		startsAnyway bool // Start finishes despite the cancelled context
	}{{"start aborts", false}, {"start completes", true}} {
		t.Run(tt.name, func(t *testing.T) {
			fb := newFakeBroker()
			close(fb.release)
			entered := make(chan struct{})
			r := startServe(t, testServeConfig(t, false), func(ctx context.Context, _ broker.Config) (runningBroker, error) {
				close(entered)
				<-ctx.Done()
				if tt.startsAnyway {
					return fb, nil
				}
				return nil, ctx.Err()
			})
			<-entered
			r.signals <- syscall.SIGINT
			if code := r.wait(t); code != 0 {
				t.Errorf("exit %d, want 0; stderr:\n%s", code, r.stderr)
			}
			wantCloses := int32(0)
			if tt.startsAnyway {
				wantCloses = 1
			}
			if n := fb.closes.Load(); n != wantCloses {
				t.Errorf("Close called %d times, want %d", n, wantCloses)
			}
		})
	}
}

func TestServeCloseError(t *testing.T) {
	fb := newFakeBroker()
	fb.closeErr = errors.New("upload segment 7: bucket gone")
	close(fb.release)
	r := startServe(t, testServeConfig(t, false), func(context.Context, broker.Config) (runningBroker, error) {
		return fb, nil
	})
	r.signals <- syscall.SIGTERM
	if code := r.wait(t); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if s := r.stderr.String(); !strings.HasSuffix(s, "\nstrata: close: upload segment 7: bucket gone\n") {
		t.Errorf("stderr does not end with the close error:\n%s", s)
	}
}
