package broker

// The Kafka listeners: accepting connections within the broker's limits.
//
// Each listener (Security.Listeners, Kafka's listeners) has a security
// protocol: PLAINTEXT, SSL (TLS), SASL_PLAINTEXT or SASL_SSL (SASL
// authentication, over TLS for SASL_SSL), and an address Metadata
// advertises to the clients connected to it.
//
// acceptLoop (one goroutine per listener, owned by Broker.wg, run on the
// server) accepts until the broker closes. A connection over --max-connections or --max-connections-per-ip
// is closed right after it is accepted, as Kafka closes it, and counted in
// strata_connections_rejected_total. An accept that fails (EMFILE when the
// process is out of file descriptors, ENFILE, ENOBUFS, ...) does not end the
// loop: it backs off, 5 ms doubling to 1 s as net/http does, and tries
// again; meanwhile Ready is false (/readyz answers 503), until an accept
// succeeds. server.connMu guards server.conns and frontEnd.perIP.

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/strata-io/strata/internal/tlsconfig"
)

// Defaults applied by Start to zero fields of Config.
const (
	// DefaultConnectionsMaxIdle is Kafka's connections.max.idle.ms.
	DefaultConnectionsMaxIdle = 10 * time.Minute
	// DefaultQueuedMaxRequestBytes bounds the request bytes being read or
	// handled at once. Kafka's queued.max.request.bytes defaults to -1,
	// unbounded, which lets the heap grow with every client's requests; 256
	// MiB holds a few hundred ordinary (1 MiB) produce requests at once and
	// two and a half of the largest (100 MiB), and is of the order of the
	// broker's other memory (the 256 MiB range cache).
	DefaultQueuedMaxRequestBytes = 256 << 20
)

const (
	// acceptBackoffMin and acceptBackoffMax bound the wait after a failed
	// accept (net/http's values).
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
	// fdReserve is what the automatic --max-connections leaves of the
	// open-file limit for the broker's own files and sockets (WAL segments,
	// cache files, embedded etcd, connections to etcd and the object store,
	// the HTTP port): at least this many, or an eighth of the limit.
	fdReserve = 128
	// rejectLogEvery rate-limits the log of refused connections.
	rejectLogEvery = 10 * time.Second
)

// frontEnd is the listener's state: the effective limits, the per-IP
// connection counts and the broker-wide request-byte budget. acceptLoop
// sets it up before it accepts the first connection.
type frontEnd struct {
	maxConns int // 0 = unlimited
	maxPerIP int // 0 = unlimited
	queued   *byteBudget
	perIP    map[string]int // guarded by server.connMu
	// acceptFailing is set while accepting fails; Ready is false then.
	acceptFailing atomic.Bool
	lastRejectLog time.Time // owned by acceptLoop
}

// maxConnections is MaxConnections resolved: a positive value as is, a
// negative one unlimited (0), and 0 derived from the open-file limit.
func (c *Config) maxConnections() int {
	switch {
	case c.MaxConnections > 0:
		return c.MaxConnections
	case c.MaxConnections < 0:
		return 0
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return AutoMaxConnections(rl.Cur)
}

// AutoMaxConnections is the connection limit that MaxConnections 0 means
// under an open-file limit of nofile: the limit less a reserve for the
// broker's own files (at least 128 or an eighth, at most half), so that
// clients alone cannot leave the broker without file descriptors for its
// WAL, its caches and etcd. 0 (unlimited) for a limit too large to matter.
func AutoMaxConnections(nofile uint64) int {
	if nofile >= 1<<31 {
		return 0
	}
	n := int(nofile)
	reserve := min(max(fdReserve, n/8), n/2)
	return max(n-reserve, 1)
}

// listener is one of the broker's Kafka listeners.
type listener struct {
	Listener
	ln         net.Listener
	tls        *tls.Config // SSL and SASL_SSL
	advertised string      // host:port that Metadata returns on this listener
}

// listen opens the listeners of cfg: Security.Listeners, or one PLAINTEXT
// listener on Listen. The first is the one Broker.Addr names and the
// broker registers as its address.
func listen(cfg *Config) (ls []*listener, err error) {
	sec := &cfg.Security
	specs, err := sec.listenerSpecs(cfg.Listen)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			for _, l := range ls {
				l.ln.Close()
			}
		}
	}()
	var tlsCfg *tls.Config
	bound := make([]Listener, 0, len(specs))
	for _, spec := range specs {
		l := &listener{Listener: spec}
		if spec.Protocol.TLS() {
			if tlsCfg == nil {
				if tlsCfg, err = tlsconfig.Server(tlsconfig.ServerOptions{
					CertFile: sec.TLSCertFile, KeyFile: sec.TLSKeyFile,
					ClientCAFile: sec.TLSClientCAFile, ClientAuth: sec.TLSClientAuth, Log: cfg.Logger,
				}); err != nil {
					return ls, fmt.Errorf("TLS of listener %s: %w", spec.Name, err)
				}
			}
			l.tls = tlsCfg
		}
		if l.ln, err = net.Listen("tcp", spec.Addr); err != nil {
			return ls, fmt.Errorf("listen on %s (%s): %w", spec.Addr, spec.Name, err)
		}
		ls = append(ls, l)
		spec.Addr = l.ln.Addr().String() // the port, when it was 0
		bound = append(bound, spec)
	}
	if sec.AdvertisedListeners == "" && len(ls) == 1 && cfg.AdvertisedAddr != "" {
		ls[0].advertised = cfg.AdvertisedAddr
		return ls, nil
	}
	adv, err := ParseAdvertisedListeners(sec.AdvertisedListeners, bound, "")
	if err != nil {
		return ls, err
	}
	for _, l := range ls {
		l.advertised = adv[l.Name]
	}
	return ls, nil
}

func (b *server) closeListeners() {
	for _, l := range b.listeners {
		l.ln.Close()
	}
}

// listenersText describes the listeners for the start-up log line.
func (b *server) listenersText() string {
	var s []string
	for _, l := range b.listeners {
		s = append(s, l.Name+"://"+l.ln.Addr().String()+" (advertised "+l.advertised+")")
	}
	return strings.Join(s, ", ")
}

// startFront sets up the connection limits and accounting before the
// listeners accept their first connection.
func (b *server) startFront() {
	fe := &b.front
	fe.maxConns, fe.maxPerIP = b.cfg.maxConnections(), max(b.cfg.MaxConnectionsPerIP, 0)
	fe.queued = newByteBudget(b.cfg.QueuedMaxRequestBytes, b.metrics.queuedBytes, b.metrics.queuedWaits)
	b.connMu.Lock()
	fe.perIP = map[string]int{}
	b.connMu.Unlock()
	b.log.Info("client connection limits", "max_connections", limitText(fe.maxConns), "max_connections_per_ip", limitText(fe.maxPerIP),
		"connections_max_idle", b.cfg.ConnectionsMaxIdle, "queued_max_request_bytes", fe.queued.limit)
}

func (b *server) acceptLoop(l *listener) {
	fe := &b.front
	var backoff time.Duration
	failures := 0
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if b.isClosing() || errors.Is(err, net.ErrClosed) {
				return
			}
			failures++
			b.metrics.acceptErrors.Inc()
			backoff = min(max(2*backoff, acceptBackoffMin), acceptBackoffMax)
			if !fe.acceptFailing.Swap(true) {
				b.log.Error("cannot accept client connections; retrying, not ready until it can", "error", err)
			}
			if !b.sleep(backoff) {
				return
			}
			continue
		}
		if fe.acceptFailing.Swap(false) {
			b.log.Info("accepting client connections again", "failed_accepts", failures)
		}
		backoff, failures = 0, 0
		b.admit(nc, l)
	}
}

// admit starts serving an accepted connection, or closes it when it is over
// a limit or the broker is closing.
func (b *server) admit(nc net.Conn, l *listener) {
	fe := &b.front
	ip := remoteIP(nc)
	b.connMu.Lock()
	reason := ""
	switch {
	case b.isClosing():
		b.connMu.Unlock()
		nc.Close()
		return
	case fe.maxConns > 0 && len(b.conns) >= fe.maxConns:
		reason = "max_connections"
	case fe.maxPerIP > 0 && fe.perIP[ip] >= fe.maxPerIP:
		reason = "max_connections_per_ip"
	}
	if reason != "" {
		open := len(b.conns)
		b.connMu.Unlock()
		nc.Close()
		b.metrics.rejected.WithLabelValues(reason).Inc()
		if now := time.Now(); now.Sub(fe.lastRejectLog) >= rejectLogEvery {
			fe.lastRejectLog = now
			b.log.Warn("refusing client connections over a limit (logged every 10s at most; see strata_connections_rejected_total)",
				"limit", reason, "remote", ip, "open", open, "max_connections", limitText(fe.maxConns), "max_connections_per_ip", limitText(fe.maxPerIP))
		}
		return
	}
	c := newConn(b, nc, l)
	b.conns[c] = struct{}{}
	fe.perIP[ip]++
	b.metrics.connections.Set(float64(len(b.conns)))
	b.connWG.Add(1)
	b.connMu.Unlock()
	go func() {
		defer b.connWG.Done()
		c.serve()
		b.connMu.Lock()
		delete(b.conns, c)
		if fe.perIP[ip]--; fe.perIP[ip] <= 0 {
			delete(fe.perIP, ip)
		}
		b.metrics.connections.Set(float64(len(b.conns)))
		b.connMu.Unlock()
	}()
}

// sleep waits d, or less if the broker stops; it reports whether to go on.
func (b *server) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-b.closingCh:
		return false
	case <-b.ctx.Done():
		return false
	}
}

// remoteIP is the address a connection comes from, without its port.
// An IPv4 client of a dual-stack listener is named by its IPv4 address
// (not ::ffff:a.b.c.d), as ACL hosts are.
func remoteIP(nc net.Conn) string {
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap().String()
	}
	addr := nc.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

func limitText(n int) any {
	if n <= 0 {
		return "unlimited"
	}
	return n
}
