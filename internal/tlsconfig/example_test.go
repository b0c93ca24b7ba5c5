package tlsconfig_test

import (
	"crypto/tls"
	"log/slog"
	"net"

	"github.com/strata-io/strata/internal/tlsconfig"
)

// A broker's SSL or SASL_SSL listener: the certificate and the client CA
// file are reloaded when they change, so the listener is made once.
func ExampleServer() {
	cfg, err := tlsconfig.Server(tlsconfig.ServerOptions{
		CertFile:     "broker.crt",
		KeyFile:      "broker.key",
		ClientCAFile: "clients-ca.crt",
		ClientAuth:   tlsconfig.ClientAuthRequired,
		Log:          slog.Default(),
	})
	if err != nil {
		slog.Error("TLS listener", "err", err)
		return
	}
	ln, err := net.Listen("tcp", ":9093")
	if err != nil {
		slog.Error("listen", "err", err)
		return
	}
	ln = tls.NewListener(ln, cfg)
	defer ln.Close()
	// Accept as for a plain listener; after the handshake,
	// conn.(*tls.Conn).ConnectionState().PeerCertificates[0] is the
	// client's certificate (for the principal).
}

// The configuration of a client of etcd (clientv3.Config.TLS) or of any
// TLS server Strata dials.
func ExampleClient() {
	cfg, err := tlsconfig.Client(tlsconfig.ClientOptions{
		CAFile:   "etcd-ca.crt",
		CertFile: "etcd-client.crt",
		KeyFile:  "etcd-client.key",
	})
	if err != nil {
		slog.Error("etcd TLS", "err", err)
		return
	}
	_ = cfg // clientv3.Config{Endpoints: ..., TLS: cfg}
}
