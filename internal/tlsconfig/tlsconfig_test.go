package tlsconfig

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/strata-io/strata/internal/tlsconfig/tlstest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var localhost = []net.IP{net.IPv4(127, 0, 0, 1)}

// handshake is what the server side of one connection saw.
type handshake struct {
	err  error
	peer []*x509.Certificate
}

// listen starts a TLS listener on 127.0.0.1 with cfg that handshakes every
// connection it accepts, reports the outcome, and closes it. The listener
// and its goroutine stop at the test's end.
func listen(t *testing.T, cfg *tls.Config) (addr string, results <-chan handshake) {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan handshake, 100)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			tc := c.(*tls.Conn)
			tc.SetDeadline(time.Now().Add(10 * time.Second))
			err = tc.Handshake()
			ch <- handshake{err: err, peer: tc.ConnectionState().PeerCertificates}
			tc.Close()
		}
	})
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
	})
	return l.Addr().String(), ch
}

// dial connects to addr with cfg and returns what the server saw, and the
// server's certificate when the client's handshake succeeded.
func dial(t *testing.T, addr string, cfg *tls.Config, results <-chan handshake) (handshake, *x509.Certificate) {
	t.Helper()
	d := &net.Dialer{Timeout: 10 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	var server *x509.Certificate
	if err == nil {
		server = c.ConnectionState().PeerCertificates[0]
		// Under TLS 1.3 the server judges the client's certificate after
		// the client's handshake is done: wait for its verdict.
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		c.Read(make([]byte, 1))
		c.Close()
	}
	select {
	case h := <-results:
		return h, server
	case <-time.After(10 * time.Second):
		t.Fatal("the server reported no handshake")
		return handshake{}, nil
	}
}

func TestParseClientAuth(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want tls.ClientAuthType
		err  bool
	}{
		{"", tls.NoClientCert, false},
		{"none", tls.NoClientCert, false},
		{"requested", tls.VerifyClientCertIfGiven, false},
		{"REQUIRED", tls.RequireAndVerifyClientCert, false},
		{" required ", tls.RequireAndVerifyClientCert, false},
		{"request", 0, true},
		{"true", 0, true},
	} {
		got, err := ParseClientAuth(tc.in)
		if tc.err {
			if !errors.Is(err, ErrClientAuth) || !strings.Contains(err.Error(), tc.in) {
				t.Errorf("ParseClientAuth(%q) error = %v; want ErrClientAuth naming the value", tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseClientAuth(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// TestServerClientAuth runs real handshakes for each ssl.client.auth mode
// with no client certificate, a valid one, an expired one and one from
// another CA.
func TestServerClientAuth(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t)
	caFile := ca.WriteCAFile(t, dir, "ca")
	certFile, keyFile := ca.WriteFiles(t, dir, "server", "broker-1", []string{"localhost"}, localhost, time.Time{})
	goodCert, goodKey := ca.WriteFiles(t, dir, "good", "alice", nil, nil, time.Time{})
	oldCert, oldKey := ca.WriteFiles(t, dir, "expired", "bob", nil, nil, time.Now().Add(-time.Minute))
	other := tlstest.NewCA(t)
	strangerCert, strangerKey := other.WriteFiles(t, dir, "stranger", "mallory", nil, nil, time.Time{})

	type client struct{ cert, key, cn string }
	var (
		none     = client{}
		good     = client{goodCert, goodKey, "alice"}
		expired  = client{oldCert, oldKey, "bob"}
		stranger = client{strangerCert, strangerKey, "mallory"}
	)
	for _, tc := range []struct {
		auth   string
		client client
		ok     bool
		peer   string // CN the server sees; "" none
	}{
		{"none", none, true, ""},
		{"none", good, true, ""}, // not asked for, not sent
		{"requested", none, true, ""},
		{"requested", good, true, "alice"},
		{"requested", expired, false, ""},
		{"requested", stranger, false, ""},
		{"required", none, false, ""},
		{"required", good, true, "alice"},
		{"required", expired, false, ""},
		{"required", stranger, false, ""},
	} {
		name := tc.auth + "/" + tc.client.cn
		if tc.client.cn == "" {
			name = tc.auth + "/no-cert"
		}
		t.Run(name, func(t *testing.T) {
			scfg, err := Server(ServerOptions{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile, ClientAuth: tc.auth})
			if err != nil {
				t.Fatal(err)
			}
			addr, results := listen(t, scfg)
			ccfg, err := Client(ClientOptions{CAFile: caFile, CertFile: tc.client.cert, KeyFile: tc.client.key})
			if err != nil {
				t.Fatal(err)
			}
			h, server := dial(t, addr, ccfg, results)
			if tc.ok != (h.err == nil) {
				t.Fatalf("server handshake error = %v; want success %v", h.err, tc.ok)
			}
			if !tc.ok {
				return
			}
			if server == nil || server.Subject.CommonName != "broker-1" {
				t.Fatalf("client saw server certificate %v; want broker-1", server)
			}
			got := ""
			if len(h.peer) > 0 {
				got = h.peer[0].Subject.CommonName
			}
			if got != tc.peer {
				t.Fatalf("server saw client %q; want %q", got, tc.peer)
			}
		})
	}
}

// TestClientVerifiesServer: a client trusting another CA, or dialling a
// name the certificate does not hold, is refused.
func TestClientVerifiesServer(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t)
	certFile, keyFile := ca.WriteFiles(t, dir, "server", "broker-1", []string{"broker-1.internal"}, localhost, time.Time{})
	otherCA := tlstest.NewCA(t).WriteCAFile(t, dir, "other")
	scfg, err := Server(ServerOptions{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	addr, results := listen(t, scfg)
	for _, tc := range []struct {
		name string
		opts ClientOptions
		ok   bool
	}{
		{"right CA", ClientOptions{CAFile: ca.WriteCAFile(t, dir, "ca")}, true},
		{"right CA, DNS name", ClientOptions{CAFile: ca.WriteCAFile(t, dir, "ca"), ServerName: "broker-1.internal"}, true},
		{"wrong name", ClientOptions{CAFile: ca.WriteCAFile(t, dir, "ca"), ServerName: "broker-2.internal"}, false},
		{"other CA", ClientOptions{CAFile: otherCA}, false},
		{"system roots", ClientOptions{}, false},
		{"insecure", ClientOptions{InsecureSkipVerify: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ccfg, err := Client(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			_, server := dial(t, addr, ccfg, results)
			if tc.ok != (server != nil) {
				t.Fatalf("client handshake succeeded = %v; want %v", server != nil, tc.ok)
			}
		})
	}
}

func TestServerOptionErrors(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t)
	certFile, keyFile := ca.WriteFiles(t, dir, "server", "broker-1", nil, localhost, time.Time{})
	_, otherKey := ca.WriteFiles(t, dir, "other", "other", nil, nil, time.Time{})
	caFile := ca.WriteCAFile(t, dir, "ca")
	notPEM := filepath.Join(dir, "not.pem")
	tlstest.WriteFile(t, notPEM, []byte("hello\n"))
	missing := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct {
		name string
		opts ServerOptions
		is   error
		want []string
	}{
		{"bad client auth", ServerOptions{CertFile: certFile, KeyFile: keyFile, ClientAuth: "maybe"}, ErrClientAuth, []string{"maybe"}},
		{"no cert", ServerOptions{KeyFile: keyFile}, ErrNoServerCert, nil},
		{"no key", ServerOptions{CertFile: certFile}, ErrNoServerCert, nil},
		{"required without CA", ServerOptions{CertFile: certFile, KeyFile: keyFile, ClientAuth: "required"}, ErrNoClientCA, nil},
		{"requested without CA", ServerOptions{CertFile: certFile, KeyFile: keyFile, ClientAuth: "requested"}, ErrNoClientCA, nil},
		{"missing cert", ServerOptions{CertFile: missing, KeyFile: keyFile}, os.ErrNotExist, []string{missing, keyFile}},
		{"mismatched key", ServerOptions{CertFile: certFile, KeyFile: otherKey}, nil, []string{certFile, otherKey, "does not match"}},
		{"garbage cert", ServerOptions{CertFile: notPEM, KeyFile: keyFile}, nil, []string{notPEM, keyFile}},
		{"CA file without certificates", ServerOptions{CertFile: certFile, KeyFile: keyFile, ClientCAFile: notPEM, ClientAuth: "required"}, ErrNoCertificates, []string{notPEM}},
		{"missing CA file", ServerOptions{CertFile: certFile, KeyFile: keyFile, ClientCAFile: missing, ClientAuth: "required"}, os.ErrNotExist, []string{missing}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Server(tc.opts)
			checkRefused(t, "Server", err, tc.is, tc.want)
		})
	}
	if _, err := Server(ServerOptions{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile}); err != nil {
		t.Errorf("CA file with client auth none: %v", err)
	}
}

// checkRefused checks the error of a call of fn that must fail: it is is
// (unless nil) and mentions every string of want.
func checkRefused(t *testing.T, fn string, err, is error, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s succeeded", fn)
	}
	if is != nil && !errors.Is(err, is) {
		t.Errorf("error %v is not %v", err, is)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
}

func TestClientOptionErrors(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t)
	certFile, keyFile := ca.WriteFiles(t, dir, "client", "alice", nil, nil, time.Time{})
	notPEM := filepath.Join(dir, "not.pem")
	tlstest.WriteFile(t, notPEM, []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	for _, tc := range []struct {
		name string
		opts ClientOptions
		is   error
		want []string
	}{
		{"cert without key", ClientOptions{CertFile: certFile}, ErrCertWithoutKey, []string{certFile}},
		{"key without cert", ClientOptions{KeyFile: keyFile}, ErrCertWithoutKey, []string{keyFile}},
		{"bad CA certificate", ClientOptions{CAFile: notPEM}, nil, []string{notPEM, "certificate 1"}},
		{"missing CA file", ClientOptions{CAFile: filepath.Join(dir, "nope")}, os.ErrNotExist, []string{"nope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Client(tc.opts)
			checkRefused(t, "Client", err, tc.is, tc.want)
		})
	}
	cfg, err := Client(ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RootCAs != nil || cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("Client with no options: RootCAs %v, MinVersion %x; want system roots and TLS 1.2", cfg.RootCAs, cfg.MinVersion)
	}
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline. The poll interval is no threshold: only the deadline fails.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServerReloadsCertificate: replacing the certificate files on disk
// changes the certificate that new handshakes see, without a restart.
func TestServerReloadsCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t)
	caFile := ca.WriteCAFile(t, dir, "ca")
	certFile, keyFile := ca.WriteFiles(t, dir, "server", "v1", nil, localhost, time.Time{})
	scfg, err := Server(ServerOptions{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	addr, results := listen(t, scfg)
	ccfg, err := Client(ClientOptions{CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	serverCN := func() string {
		t.Helper()
		h, server := dial(t, addr, ccfg, results)
		if h.err != nil || server == nil {
			t.Fatalf("handshake failed: %v", h.err)
		}
		return server.Subject.CommonName
	}
	if cn := serverCN(); cn != "v1" {
		t.Fatalf("server certificate %q; want v1", cn)
	}
	ca.WriteFiles(t, dir, "server", "v2", nil, localhost, time.Time{})
	waitFor(t, "the v2 certificate", func() bool { return serverCN() == "v2" })
}

// TestServerReloadsClientCA: replacing the client CA file changes which
// client certificates are accepted.
func TestServerReloadsClientCA(t *testing.T) {
	dir := t.TempDir()
	ca1, ca2 := tlstest.NewCA(t), tlstest.NewCA(t)
	serverCA := ca1.WriteCAFile(t, dir, "server-ca")
	certFile, keyFile := ca1.WriteFiles(t, dir, "server", "broker-1", nil, localhost, time.Time{})
	clientCA := ca1.WriteCAFile(t, dir, "client-ca")
	clientCert, clientKey := ca2.WriteFiles(t, dir, "client", "alice", nil, nil, time.Time{})
	scfg, err := Server(ServerOptions{CertFile: certFile, KeyFile: keyFile, ClientCAFile: clientCA, ClientAuth: "required"})
	if err != nil {
		t.Fatal(err)
	}
	addr, results := listen(t, scfg)
	ccfg, err := Client(ClientOptions{CAFile: serverCA, CertFile: clientCert, KeyFile: clientKey})
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := dial(t, addr, ccfg, results); h.err == nil {
		t.Fatal("a client certificate from a CA not in the client CA file was accepted")
	}
	ca2.WriteCAFile(t, dir, "client-ca")
	waitFor(t, "the new client CA", func() bool {
		h, _ := dial(t, addr, ccfg, results)
		return h.err == nil
	})
}

// TestReloadFailureKeepsCertificate: a half-rotated pair (new certificate,
// old key) is refused, the old pair stays in service and one warning is
// logged; once the key follows, the new pair is taken.
func TestReloadFailureKeepsCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t)
	certFile, keyFile := ca.WriteFiles(t, dir, "server", "v1", nil, localhost, time.Time{})
	var logs bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))
	r, err := NewReloader(certFile, keyFile, log)
	if err != nil {
		t.Fatal(err)
	}
	cn := func() string {
		c, err := r.GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.Subject.CommonName
	}
	if err := r.Reload(); err != nil {
		t.Fatalf("Reload of unchanged files: %v", err)
	}
	certPEM, keyPEM := ca.Issue(t, "v2", nil, localhost, time.Time{})
	tlstest.WriteFile(t, certFile, certPEM)
	for range 2 {
		err := r.Reload()
		if err == nil || !strings.Contains(err.Error(), certFile) || !strings.Contains(err.Error(), keyFile) {
			t.Fatalf("Reload of a mismatched pair: %v; want an error naming both files", err)
		}
		if got := cn(); got != "v1" {
			t.Fatalf("after a failed reload the certificate is %q; want v1 kept", got)
		}
	}
	logMu.Lock()
	warnings := strings.Count(logs.String(), "level=WARN")
	logMu.Unlock()
	if warnings != 1 {
		t.Errorf("%d warnings for one broken pair; want 1:\n%s", warnings, logs.String())
	}
	tlstest.WriteFile(t, keyFile, keyPEM)
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := cn(); got != "v2" {
		t.Fatalf("after the key followed, the certificate is %q; want v2", got)
	}
	// A file gone missing is a failed reload too, not a broken listener.
	os.Remove(keyFile)
	if err := r.Reload(); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Reload with the key missing: %v; want ErrNotExist", err)
	}
	if got := cn(); got != "v2" {
		t.Fatalf("with the key missing the certificate is %q; want v2 kept", got)
	}
}

// TestReloaderConcurrent exercises GetCertificate from many goroutines while
// the files change, for the race detector.
func TestReloaderConcurrent(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t)
	certFile, keyFile := ca.WriteFiles(t, dir, "server", "v0", nil, localhost, time.Time{})
	r, err := NewReloader(certFile, keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if c, err := r.GetCertificate(nil); err != nil || c == nil {
					t.Errorf("GetCertificate = %v, %v", c, err)
					return
				}
			}
		})
	}
	for i := range 5 {
		ca.WriteFiles(t, dir, "server", "v"+string(rune('1'+i)), nil, localhost, time.Time{})
		r.Reload()
	}
	close(stop)
	wg.Wait()
	if got := r.Certificate().Leaf.Subject.CommonName; got != "v5" {
		t.Errorf("after the last reload the certificate is %q; want v5", got)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestNewReloaderExpired: an expired certificate still loads (the broker
// starts, as Kafka's does) but a warning says peers will refuse it.
func TestNewReloaderExpired(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t)
	certFile, keyFile := ca.WriteFiles(t, dir, "server", "old", nil, localhost, time.Now().Add(-time.Minute))
	var logs bytes.Buffer
	if _, err := NewReloader(certFile, keyFile, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "expired") {
		t.Errorf("no warning about the expired certificate:\n%s", logs.String())
	}
}
