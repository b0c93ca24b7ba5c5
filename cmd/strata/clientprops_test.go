package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/broker/brokertest"
	"github.com/strata-io/strata/internal/tlsconfig/tlstest"
)

// TestClientPropsRefused: a property set that cannot reach a cluster as
// asked is refused before any connection, with a message naming it.
func TestClientPropsRefused(t *testing.T) {
	for _, tc := range []struct {
		props []string
		want  string
	}{
		{[]string{"bootstrap.servers=x:1"}, "unknown property"},
		{[]string{"security.protocol"}, "not key=value"},
		{[]string{"security.protocol=tls"}, "want plaintext, ssl"},
		{[]string{"ssl.ca.location=ca.pem"}, "needs security.protocol ssl"},
		{[]string{"security.protocol=ssl", "sasl.username=u"}, "needs security.protocol sasl_plaintext"},
		{[]string{"security.protocol=sasl_plaintext"}, "needs sasl.username"},
		{[]string{"security.protocol=sasl_plaintext", "sasl.username=u", "sasl.mechanism=GSSAPI"}, "want PLAIN, SCRAM"},
		{[]string{"security.protocol=ssl", "ssl.certificate.location=c.pem"}, "go together"},
		{[]string{"security.protocol=ssl", "ssl.endpoint.identification.algorithm=dns"}, "want https or none"},
		{[]string{"security.protocol=ssl", "ssl.ca.location=" + filepath.Join(t.TempDir(), "missing.pem")}, "no such file"},
	} {
		p := clientProps{}
		var err error
		for _, kv := range tc.props {
			if err = p.Set(kv); err != nil {
				break
			}
		}
		if err == nil {
			_, err = p.opts()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error with %q", tc.props, err, tc.want)
		}
	}
}

// TestLeadersSecured: `strata leaders list` reaches a broker with the
// authorizer on as a super user over SASL_PLAINTEXT (SCRAM-SHA-512 from a
// -F file, PLAIN from -X flags), SASL_SSL and SSL with a client
// certificate; without the CA, without SASL or with a wrong password it
// fails with the cluster's error.
func TestLeadersSecured(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t)
	cert, key := ca.WriteFiles(t, dir, "broker", "localhost", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, time.Time{})
	caFile := ca.WriteCAFile(t, dir, "ca")
	clientCert, clientKey := ca.WriteFiles(t, dir, "client", "admin", nil, nil, time.Time{})
	users := filepath.Join(dir, "users")
	if err := os.WriteFile(users, []byte("admin:admin-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := brokertest.Start(t, brokertest.Authorizer("User:admin", "User:CN=admin"), func(c *broker.Config) {
		c.Security.Listeners = "SASL_PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0,SSL://127.0.0.1:0"
		c.Security.TLSCertFile, c.Security.TLSKeyFile = cert, key
		c.Security.TLSClientCAFile, c.Security.TLSClientAuth = caFile, "requested"
		c.Security.SASLBootstrapUsers = users
	})
	props := filepath.Join(dir, "client.properties")
	if err := os.WriteFile(props, []byte("# the admin\nsecurity.protocol=SASL_PLAINTEXT\nsasl.mechanisms=SCRAM-SHA-512\nsasl.username=admin\nsasl.password=admin-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, listener string
		args           []string
		code           int
		want           string
	}{
		{"SCRAM-SHA-512 from -F", "SASL_PLAINTEXT", []string{"-F", props}, 0, "no reassignment under way"},
		{"PLAIN from -X", "SASL_PLAINTEXT", []string{"-X", "security.protocol=sasl_plaintext", "-X", "sasl.username=admin", "-X", "sasl.password=admin-secret"}, 0, "no reassignment under way"},
		{"SASL_SSL", "SASL_SSL", []string{"-F", props, "-X", "security.protocol=sasl_ssl", "-X", "ssl.ca.location=" + caFile}, 0, "no reassignment under way"},
		{"mutual TLS", "SSL", []string{"-X", "security.protocol=ssl", "-X", "ssl.ca.location=" + caFile, "-X", "ssl.certificate.location=" + clientCert, "-X", "ssl.key.location=" + clientKey}, 0, "no reassignment under way"},
		{"wrong password", "SASL_PLAINTEXT", []string{"-F", props, "-X", "sasl.password=wrong"}, 1, "SASL_AUTHENTICATION_FAILED"},
		{"no SASL on a SASL listener", "SASL_PLAINTEXT", nil, 1, "strata leaders list:"},
		{"TLS without the CA", "SSL", []string{"-X", "security.protocol=ssl"}, 1, "certificate"},
		{"TLS as anonymous", "SSL", []string{"-X", "security.protocol=ssl", "-X", "ssl.ca.location=" + caFile}, 1, "CLUSTER_AUTHORIZATION_FAILED"},
		{"unknown property", "SASL_PLAINTEXT", []string{"-X", "sasl.kerberos.keytab=k"}, 2, "unknown property"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"leaders", "list", "--bootstrap-server", b.ListenerAddr(tc.listener), "--timeout", "5s"}, tc.args...)
			code := run(args, &out, &errOut)
			if got := out.String() + errOut.String(); code != tc.code || !strings.Contains(got, tc.want) {
				t.Errorf("exit %d: %s; want %d and %q", code, got, tc.code, tc.want)
			}
		})
	}
}
