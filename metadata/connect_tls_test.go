package metadata

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/testenv"
	"github.com/strata-io/strata/internal/tlsconfig"
	"github.com/strata-io/strata/internal/tlsconfig/tlstest"
)

// TestConnectTLS: a broker reaches an etcd that serves TLS and requires
// client certificates with ClientAuth.TLS, and is refused without its
// certificate.
func TestConnectTLS(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t)
	caFile := ca.WriteCAFile(t, dir, "ca")
	cert, key := ca.WriteFiles(t, dir, "etcd", "etcd", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, time.Now().Add(time.Hour))
	e := testenv.StartEtcdTLS(t, caFile, cert, key)
	clientCert, clientKey := ca.WriteFiles(t, dir, "broker", "broker", nil, nil, time.Now().Add(time.Hour))

	withCert, err := tlsconfig.Client(tlsconfig.ClientOptions{CAFile: caFile, CertFile: clientCert, KeyFile: clientKey})
	if err != nil {
		t.Fatal(err)
	}
	c, err := Connect(t.Context(), []string{e.Endpoint}, 10*time.Second, ClientAuth{TLS: withCert})
	if err != nil {
		t.Fatalf("connect with a client certificate: %v", err)
	}
	if _, err := c.Put(t.Context(), "k", "v"); err != nil {
		t.Errorf("put over TLS: %v", err)
	}
	c.Close()

	noCert, err := tlsconfig.Client(tlsconfig.ClientOptions{CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if c, err := Connect(ctx, []string{e.Endpoint}, 2*time.Second, ClientAuth{TLS: noCert}); err == nil {
		c.Close()
		t.Error("etcd with --client-cert-auth accepted a client without a certificate")
	}
}
