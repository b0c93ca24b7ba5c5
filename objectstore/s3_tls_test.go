package objectstore

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/tlsconfig/tlstest"
)

// TestS3CAFileTransport: with CAFile the transport trusts exactly the
// file's CAs; without, minio-go's default (the system roots).
func TestS3CAFileTransport(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t)
	caFile := ca.WriteCAFile(t, dir, "ca")

	tr, err := newS3Transport(S3Config{Bucket: "b", CAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.CloseIdleConnections()
	if tr.TLSClientConfig == nil || tr.TLSClientConfig.RootCAs == nil {
		t.Fatal("transport has no RootCAs")
	}
	if !tr.TLSClientConfig.RootCAs.Equal(ca.Pool()) {
		t.Error("transport's RootCAs are not the CA file's certificates")
	}
	if tr.TLSClientConfig.MinVersion < tls.VersionTLS12 {
		t.Errorf("MinVersion %x; want TLS 1.2 or later", tr.TLSClientConfig.MinVersion)
	}
	certPEM, _ := ca.Issue(t, "minio", nil, []net.IP{net.IPv4(127, 0, 0, 1)}, time.Time{})
	leaf := parseCertPEM(t, certPEM)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: tr.TLSClientConfig.RootCAs}); err != nil {
		t.Errorf("a certificate the CA issued does not verify: %v", err)
	}

	t.Setenv("SSL_CERT_FILE", "")
	def, err := newS3Transport(S3Config{Bucket: "b"})
	if err != nil {
		t.Fatal(err)
	}
	defer def.CloseIdleConnections()
	if def.TLSClientConfig != nil && def.TLSClientConfig.RootCAs != nil {
		t.Error("without CAFile the transport does not use the system roots")
	}
}

// parseCertPEM returns the first certificate in certPEM.
func parseCertPEM(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatal("no PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// TestS3CAFileErrors: a CA file that cannot be used fails NewS3 at once,
// before any request, with an error naming the file.
func TestS3CAFileErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	tlstest.WriteFile(t, notPEM, []byte("not a certificate\n"))
	missing := filepath.Join(dir, "missing.pem")
	caFile := tlstest.NewCA(t).WriteCAFile(t, dir, "ca")
	for _, tc := range []struct {
		name string
		cfg  S3Config
		is   error
		want []string
	}{
		{"missing", S3Config{CAFile: missing}, os.ErrNotExist, []string{missing}},
		{"not PEM", S3Config{CAFile: notPEM}, nil, []string{notPEM, "no PEM"}},
		{"with insecure", S3Config{CAFile: caFile, Insecure: true}, nil, []string{caFile, "plain HTTP"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Bucket = "strata"
			tc.cfg.Endpoint = "127.0.0.1:1" // never dialled
			b, err := NewS3(t.Context(), tc.cfg)
			if err == nil {
				b.Close()
				t.Fatal("NewS3 succeeded")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestS3TLSEndpoint runs NewS3's start-up check against an HTTPS endpoint
// whose certificate a test CA issued: trusted with CAFile, refused with the
// system roots. The endpoint is no S3: it answers every request 200, which
// is enough for the bucket-exists check.
func TestS3TLSEndpoint(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "x")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "y")
	t.Setenv("SSL_CERT_FILE", "")
	dir := t.TempDir()
	ca := tlstest.NewCA(t)
	caFile := ca.WriteCAFile(t, dir, "ca")
	certPEM, keyPEM := ca.Issue(t, "minio", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, time.Time{})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()
	t.Cleanup(srv.Close)
	endpoint := srv.Listener.Addr().String()

	b, err := NewS3(t.Context(), S3Config{Bucket: "strata", Endpoint: endpoint, Region: "us-east-1", CAFile: caFile, CheckTimeout: 30 * time.Second})
	if err != nil {
		t.Fatalf("NewS3 with the CA file: %v", err)
	}
	b.Close()

	u := "s3://strata?endpoint=" + endpoint + "&region=us-east-1&ca-file=" + url.QueryEscape(caFile)
	ob, err := Open(t.Context(), u)
	if err != nil {
		t.Fatalf("Open(%q): %v", u, err)
	}
	ob.Close()

	// minio-go retries the refused handshake with backoff (about 5 s in
	// all) and then returns the certificate's error; a shorter check
	// deadline would end it first with only "not reachable".
	b, err = NewS3(t.Context(), S3Config{Bucket: "strata", Endpoint: endpoint, Region: "us-east-1", CheckTimeout: 30 * time.Second})
	if err == nil {
		b.Close()
		t.Fatal("NewS3 trusted a certificate from an unknown CA")
	}
	if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("error %q does not say the certificate is the problem", err)
	}
}

func TestParseURLCAFile(t *testing.T) {
	for _, tc := range []struct {
		url  string
		cfg  S3Config
		want string // error substring; "" = success
	}{
		{url: "s3://logs?ca-file=/etc/strata/ca.pem", cfg: S3Config{Bucket: "logs", CAFile: "/etc/strata/ca.pem"}},
		{url: "s3://logs?endpoint=minio:9000&ca-file=%2Fetc%2Fca%20bundle.pem", cfg: S3Config{Bucket: "logs", Endpoint: "minio:9000", CAFile: "/etc/ca bundle.pem"}},
		{url: "s3://logs?ca-file=", want: `"ca-file" is empty`},
		{url: "s3://logs?ca-file=a&ca-file=b", want: `"ca-file" given 2 times`},
		{url: "s3://logs?insecure=true&ca-file=/ca.pem", want: "plain HTTP"},
		{url: "s3://logs?cafile=/ca.pem", want: "ca-file"},
	} {
		_, _, cfg, err := parseURL(tc.url)
		if tc.want != "" {
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("parseURL(%q) error = %v; want one mentioning %q", tc.url, err, tc.want)
			}
			continue
		}
		if err != nil || cfg != tc.cfg {
			t.Errorf("parseURL(%q) = %+v, %v; want %+v", tc.url, cfg, err, tc.cfg)
		}
	}
}
