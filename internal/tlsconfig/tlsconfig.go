// Package tlsconfig is the TLS configuration of Strata's listeners and of
// its clients of etcd and the object store: one place that decides the
// minimum version, how Kafka's ssl.client.auth maps onto crypto/tls, and how
// certificates are reloaded.
//
// # Reloading
//
// Certificates and keys are files that deployment tools (cert-manager, a
// Kubernetes secret, certbot) replace while the broker runs. A Reloader
// holds the current pair and rereads the files lazily: a handshake that
// asks for the certificate at least CheckInterval after the last check
// reads both files, and when their content has changed (a SHA-256 of both,
// so neither coarse modification times nor a same-size rewrite hide a
// change) parses them and swaps the new pair in. There is no goroutine and
// nothing to close. Only one handshake at a time does the check; the others
// meanwhile use the current pair without waiting. A reload that fails (a
// new certificate beside the old key while a tool is halfway through its
// writes, a truncated file, a missing file) keeps the old pair, so
// handshakes never break, and logs one warning per distinct failure; the
// next check tries again. Reload rereads at once, for SIGHUP and tests.
//
// Server's client CA file is reloaded the same way: its tls.Config hands
// each handshake, through GetConfigForClient, a configuration holding the
// current pool. Client's CA file is read once, when Client is called;
// Client's own certificate and key are reloaded as the server's are.
//
// # Concurrency
//
// In a watched file set (the Reloader's pair, the server's CA pool), mu
// guards the check state and is only ever TryLock'ed by handshakes, locked
// by Reload; the current value is an atomic pointer, read without a lock.
package tlsconfig

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
)

// Errors of the configuration.
var (
	// ErrClientAuth is returned for a ClientAuth other than none,
	// requested and required.
	ErrClientAuth = errors.New("tlsconfig: client auth must be none, requested or required")
	// ErrNoClientCA is returned when client certificates are requested
	// or required but there is no CA file to verify them with.
	ErrNoClientCA = errors.New("tlsconfig: client auth needs a client CA file")
	// ErrNoServerCert is returned by Server without a certificate and
	// key file.
	ErrNoServerCert = errors.New("tlsconfig: a TLS listener needs a certificate file and a key file")
	// ErrCertWithoutKey is returned by Client when only one of the
	// certificate and key files is given.
	ErrCertWithoutKey = errors.New("tlsconfig: a client certificate file and key file go together")
	// ErrNoCertificates is returned for a CA file holding no PEM
	// certificate.
	ErrNoCertificates = errors.New("tlsconfig: no PEM CERTIFICATE block")
)

// Kafka's ssl.client.auth values, accepted in ServerOptions.ClientAuth.
const (
	ClientAuthNone      = "none"
	ClientAuthRequested = "requested"
	ClientAuthRequired  = "required"
)

// ServerOptions configures a TLS listener.
type ServerOptions struct {
	// CertFile and KeyFile hold the listener's certificate (PEM, the
	// leaf first, then any intermediates) and its private key (PEM).
	// Both required; reloaded when they change.
	CertFile, KeyFile string
	// ClientCAFile holds the PEM certificates that client certificates
	// must chain to (Kafka's ssl.truststore). Required unless ClientAuth
	// is none; reloaded when it changes.
	ClientCAFile string
	// ClientAuth is Kafka's ssl.client.auth: "none" (or empty), no client
	// certificate is asked for; "requested", one is asked for and, when
	// the client sends one, verified; "required", the client must send
	// one that verifies.
	ClientAuth string
	// Log receives reload warnings and notices; nil discards them.
	Log *slog.Logger
}

// ClientOptions configures a TLS client of etcd or of the object store.
type ClientOptions struct {
	// CAFile holds the PEM certificates trusted for the server, instead
	// of the system roots; empty means the system roots. Read once.
	CAFile string
	// CertFile and KeyFile are the client's own certificate and key, for
	// servers that require one (etcd with --client-cert-auth). Both or
	// neither; reloaded when they change.
	CertFile, KeyFile string
	// ServerName overrides the name verified in the server's certificate,
	// which is otherwise the host dialled.
	ServerName string
	// InsecureSkipVerify accepts any server certificate. For tests only.
	InsecureSkipVerify bool
	// Log receives reload warnings and notices; nil discards them.
	Log *slog.Logger
}

// ParseClientAuth maps Kafka's ssl.client.auth ("none", "requested",
// "required", any case; empty is none) onto crypto/tls.
func ParseClientAuth(s string) (tls.ClientAuthType, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", ClientAuthNone:
		return tls.NoClientCert, nil
	case ClientAuthRequested:
		return tls.VerifyClientCertIfGiven, nil
	case ClientAuthRequired:
		return tls.RequireAndVerifyClientCert, nil
	}
	return tls.NoClientCert, fmt.Errorf("%w, not %q", ErrClientAuth, s)
}

// Server returns the configuration of a TLS listener: TLS 1.2 or later, the
// certificate from opts.CertFile and opts.KeyFile, and client certificates
// as opts.ClientAuth says, verified against opts.ClientCAFile. The files are
// read now, so that a bad one fails start-up, and reloaded when they change
// (see the package doc). The caller may set fields such as NextProtos before
// the first handshake, and must not change the configuration after it.
func Server(opts ServerOptions) (*tls.Config, error) {
	auth, err := ParseClientAuth(opts.ClientAuth)
	if err != nil {
		return nil, err
	}
	if opts.CertFile == "" || opts.KeyFile == "" {
		return nil, ErrNoServerCert
	}
	if auth != tls.NoClientCert && opts.ClientCAFile == "" {
		return nil, fmt.Errorf("%w (ssl.client.auth=%s)", ErrNoClientCA, opts.ClientAuth)
	}
	r, err := NewReloader(opts.CertFile, opts.KeyFile, opts.Log)
	if err != nil {
		return nil, err
	}
	base := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		ClientAuth:     auth,
		GetCertificate: r.GetCertificate,
	}
	if opts.ClientCAFile == "" {
		return base, nil
	}
	file := opts.ClientCAFile
	cas, err := newWatched(logger(opts.Log), "client CA file "+file, []string{file},
		func(contents [][]byte) (*x509.CertPool, error) { return parsePool(file, contents[0]) })
	if err != nil {
		return nil, err
	}
	base.ClientCAs = cas.current()
	// One configuration per pool, made when a handshake first sees it.
	type perPool struct {
		pool *x509.CertPool
		cfg  *tls.Config
	}
	var cached atomic.Pointer[perPool]
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		pool := cas.get()
		if c := cached.Load(); c != nil && c.pool == pool {
			return c.cfg, nil
		}
		cfg := base.Clone()
		cfg.GetConfigForClient = nil
		cfg.ClientCAs = pool
		cached.Store(&perPool{pool: pool, cfg: cfg})
		return cfg, nil
	}
	return base, nil
}

// Client returns the configuration of a TLS client of etcd or the object
// store: TLS 1.2 or later, the server verified against opts.CAFile (or the
// system roots), and opts' client certificate if any.
func Client(opts ClientOptions) (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         opts.ServerName,
		InsecureSkipVerify: opts.InsecureSkipVerify,
	}
	if opts.CAFile != "" {
		pool, err := LoadCAPool(opts.CAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if (opts.CertFile == "") != (opts.KeyFile == "") {
		return nil, fmt.Errorf("%w (certificate %q, key %q)", ErrCertWithoutKey, opts.CertFile, opts.KeyFile)
	}
	if opts.CertFile != "" {
		r, err := NewReloader(opts.CertFile, opts.KeyFile, opts.Log)
		if err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = r.GetClientCertificate
	}
	return cfg, nil
}

// LoadCAPool reads a PEM bundle of CA certificates into a new pool. Every
// CERTIFICATE block must parse, and there must be at least one; other
// blocks are ignored. Errors name the file.
func LoadCAPool(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tlsconfig: CA file: %w", err)
	}
	return parsePool(file, data)
}

func parsePool(file string, data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("tlsconfig: CA file %s: certificate %d: %w", file, n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%w in CA file %s", ErrNoCertificates, file)
	}
	return pool, nil
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
