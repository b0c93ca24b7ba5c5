package metadata

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

const (
	embeddedName         = "strata"
	embeddedStartTimeout = 60 * time.Second
	embeddedStartTries   = 3 // fresh ports after an "address in use"
)

// Embedded is an etcd server running inside this process.
type Embedded struct {
	etcd      *embed.Etcd
	endpoints []string
	closeOnce sync.Once
	// stopping is set by Close: etcd reports its listeners closing as errors,
	// which are expected then and logged at debug level.
	stopping *atomic.Bool
}

// StartEmbedded starts a single-member etcd with its data under dir, listening
// on 127.0.0.1 (ports chosen free), and waits until it serves.
//
// Starting again on the same dir keeps the data; the ports may differ, so
// pass Endpoints to Connect each time. etcd's own log lines at error level
// and above go to logger (nil = discard); the rest are dropped. The server
// compacts its history periodically (see the package doc).
func StartEmbedded(dir string, logger *slog.Logger) (*Embedded, error) {
	var err error
	for range embeddedStartTries {
		var e *Embedded
		e, err = startEmbedded(dir, logger)
		if err == nil {
			return e, nil
		}
		// Another process may have taken a port between our probe and etcd's bind.
		if !isAddrInUse(err) {
			break
		}
	}
	return nil, err
}

func startEmbedded(dir string, logger *slog.Logger) (*Embedded, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, fmt.Errorf("metadata: embedded etcd: %w", err)
	}
	client := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))}
	peer := url.URL{Scheme: "http", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))}

	cfg := embed.NewConfig()
	cfg.Name = embeddedName
	cfg.Dir = dir
	cfg.ListenClientUrls = []url.URL{client}
	cfg.AdvertiseClientUrls = []url.URL{client}
	cfg.ListenPeerUrls = []url.URL{peer}
	cfg.AdvertisePeerUrls = []url.URL{peer}
	// Used only on the first start; later starts read the membership from
	// dir (a single member never talks to its peer URL, so a new peer port
	// is harmless).
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	// State keys are rewritten on every commit: without compaction the
	// history would grow until etcd's backend quota stops all writes.
	cfg.AutoCompactionMode = embed.CompactorModePeriodic
	cfg.AutoCompactionRetention = "5m"
	// Large transactions (LargeTxnLimits, which a Store assumes by
	// default): a seal's commits over tens of thousands of partitions are
	// one transaction. The request limit stays under the 10 MiB etcd
	// recommends as the most.
	cfg.MaxTxnOps = uint(LargeTxnLimits.MaxOps)
	cfg.MaxRequestBytes = uint(LargeTxnLimits.MaxRequestBytes)
	cfg.EnableGRPCGateway = false
	cfg.LogLevel = "error"
	stopping := new(atomic.Bool)
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zapToSlog(logger, stopping))

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("metadata: start embedded etcd in %s: %w", dir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("metadata: embedded etcd in %s: %w", dir, err)
	case <-time.After(embeddedStartTimeout):
		e.Close()
		return nil, fmt.Errorf("metadata: embedded etcd in %s not ready within %s", dir, embeddedStartTimeout)
	}
	return &Embedded{etcd: e, endpoints: []string{client.String()}, stopping: stopping}, nil
}

// freePorts returns n distinct TCP ports on 127.0.0.1 that were free a moment ago.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		// Held open until all are chosen, so that they differ.
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Endpoints are the client URLs to pass to Connect.
func (e *Embedded) Endpoints() []string { return slices.Clone(e.endpoints) }

// Close stops the server. Safe twice.
func (e *Embedded) Close() error {
	e.closeOnce.Do(func() {
		e.stopping.Store(true)
		e.etcd.Close()
	})
	return nil
}

// zapToSlog gives etcd a zap logger whose error-level entries go to l.
func zapToSlog(l *slog.Logger, stopping *atomic.Bool) *zap.Logger {
	if l == nil {
		return zap.NewNop()
	}
	return zap.New(&slogCore{log: l.With("component", "etcd"), stopping: stopping})
}

// slogCore is a zapcore.Core that writes to a *slog.Logger. etcd logs a great
// deal at info and warn level; only errors and worse pass.
type slogCore struct {
	log      *slog.Logger
	attrs    []slog.Attr
	stopping *atomic.Bool
}

func (c *slogCore) Enabled(l zapcore.Level) bool { return l >= zapcore.ErrorLevel }

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{log: c.log, attrs: append(slices.Clip(c.attrs), fieldAttrs(fields)...), stopping: c.stopping}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	attrs := append(slices.Clip(c.attrs), fieldAttrs(fields)...)
	if e.LoggerName != "" {
		attrs = append(attrs, slog.String("logger", e.LoggerName))
	}
	level := slog.LevelError
	if c.stopping.Load() {
		level = slog.LevelDebug
	}
	c.log.LogAttrs(context.Background(), level, e.Message, attrs...)
	return nil
}

func (c *slogCore) Sync() error { return nil }

func fieldAttrs(fields []zapcore.Field) []slog.Attr {
	if len(fields) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	names := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		names = append(names, k)
	}
	slices.Sort(names)
	attrs := make([]slog.Attr, 0, len(names))
	for _, k := range names {
		attrs = append(attrs, slog.Any(k, enc.Fields[k]))
	}
	return attrs
}

var _ zapcore.Core = (*slogCore)(nil)

// isAddrInUse reports whether err is a failed bind.
func isAddrInUse(err error) bool {
	return errors.Is(err, syscall.EADDRINUSE) || strings.Contains(err.Error(), "address already in use")
}
