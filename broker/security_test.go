package broker_test

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	saslplain "github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/broker/brokertest"
	"github.com/strata-io/strata/internal/tlsconfig/tlstest"
)

// secured is a broker with a SASL_SSL, an SSL (mutual TLS) and a
// SASL_PLAINTEXT listener, the authorizer on, and two bootstrap users:
// admin, a super user, and alice.
type secured struct {
	*brokertest.Broker
	ca *tlstest.CA
}

func startSecured(t *testing.T, opts ...brokertest.Option) *secured {
	t.Helper()
	dir := t.TempDir()
	ca := tlstest.NewCA(t)
	cert, key := ca.WriteFiles(t, dir, "broker", "localhost", []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)}, time.Now().Add(time.Hour))
	users := filepath.Join(dir, "users")
	if err := os.WriteFile(users, []byte("admin:admin-secret\nalice:alice-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := brokertest.Start(t, append([]brokertest.Option{func(c *broker.Config) {
		c.Security = broker.Security{
			Listeners:          "SASL_SSL://127.0.0.1:0,SSL://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
			TLSCertFile:        cert,
			TLSKeyFile:         key,
			TLSClientCAFile:    ca.WriteCAFile(t, dir, "ca"),
			TLSClientAuth:      "requested",
			SASLBootstrapUsers: users,
			Authorizer:         true,
			SuperUsers:         []string{"User:admin"},
		}
	}}, opts...)...)
	return &secured{Broker: b, ca: ca}
}

// client connects to the listener named listener with extra options.
func (s *secured) client(t *testing.T, listener string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	addr := s.ListenerAddr(listener)
	if addr == "" {
		t.Fatalf("no listener %s", listener)
	}
	all := []kgo.Opt{kgo.SeedBrokers(addr), kgo.RetryTimeout(15 * time.Second), kgo.AllowAutoTopicCreation()}
	cl, err := kgo.NewClient(append(all, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// tlsTo trusts the test CA, optionally with a client certificate.
func (s *secured) tlsTo(t *testing.T, clientCN string, notAfter time.Time) kgo.Opt {
	t.Helper()
	cfg := &tls.Config{RootCAs: s.ca.Pool(), ServerName: "localhost"}
	if clientCN != "" {
		certPEM, keyPEM := s.ca.Issue(t, clientCN, nil, nil, notAfter)
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return kgo.DialTLSConfig(cfg)
}

func scram512(user, pass string) kgo.Opt {
	return kgo.SASL(scram.Auth{User: user, Pass: pass}.AsSha512Mechanism())
}

func TestSASLMechanismsAuthenticate(t *testing.T) {
	s := startSecured(t)
	ctx := context.Background()
	for name, opts := range map[string][]kgo.Opt{
		"SCRAM-SHA-512 over SASL_SSL":       {s.tlsTo(t, "", time.Time{}), scram512("admin", "admin-secret")},
		"SCRAM-SHA-256 over SASL_SSL":       {s.tlsTo(t, "", time.Time{}), kgo.SASL(scram.Auth{User: "admin", Pass: "admin-secret"}.AsSha256Mechanism())},
		"PLAIN over SASL_SSL":               {s.tlsTo(t, "", time.Time{}), kgo.SASL(saslplain.Auth{User: "admin", Pass: "admin-secret"}.AsMechanism())},
		"SCRAM-SHA-512 over SASL_PLAINTEXT": {scram512("admin", "admin-secret")},
	} {
		t.Run(name, func(t *testing.T) {
			listener := "SASL_SSL"
			if strings.HasSuffix(name, "SASL_PLAINTEXT") {
				listener = "SASL_PLAINTEXT"
			}
			cl := s.client(t, listener, opts...)
			topic := strings.NewReplacer(" ", "-", "_", "-").Replace(strings.ToLower(name))
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
		})
	}
}

func TestSASLFailuresAreAlike(t *testing.T) {
	s := startSecured(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var msgs []string
	for _, opt := range []kgo.Opt{scram512("alice", "wrong"), scram512("nobody", "wrong")} {
		cl := s.client(t, "SASL_SSL", s.tlsTo(t, "", time.Time{}), opt)
		_, err := kadm.NewClient(cl).ListTopics(ctx)
		if !errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("err = %v, want SASL_AUTHENTICATION_FAILED", err)
		}
		msgs = append(msgs, strings.ReplaceAll(err.Error(), "nobody", "alice"))
	}
	if msgs[0] != msgs[1] {
		t.Errorf("a wrong password and an unknown user fail differently:\n%s\n%s", msgs[0], msgs[1])
	}
	// The others carry on.
	cl := s.client(t, "SASL_SSL", s.tlsTo(t, "", time.Time{}), scram512("admin", "admin-secret"))
	if _, err := kadm.NewClient(cl).ListTopics(ctx); err != nil {
		t.Errorf("a good client after the failed ones: %v", err)
	}
}

// TestSASLRequiredBeforeRequests: on a SASL listener a request other than
// ApiVersions and the SASL ones closes the connection.
func TestSASLRequiredBeforeRequests(t *testing.T) {
	s := startSecured(t)
	nc, err := net.Dial("tcp", s.ListenerAddr("SASL_PLAINTEXT"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(9)
	if _, err := nc.Write(kmsg.NewRequestFormatter().AppendRequest(nil, req, 1)); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := brokertest.ReadFrame(nc); err == nil {
		t.Fatal("the broker answered a Metadata request before SASL authentication")
	}
}

// TestSASLBoundsUnauthenticatedRequests: before authenticating, a request
// over 512 KiB (Kafka's sasl.server.max.receive.size) closes the connection
// at its size prefix, before the broker reads or allocates it.
func TestSASLBoundsUnauthenticatedRequests(t *testing.T) {
	s := startSecured(t)
	c := s.DialListener(t, "SASL_PLAINTEXT")
	if _, err := c.Net().Write(binary.BigEndian.AppendUint32(nil, 1<<20)); err != nil {
		t.Fatal(err)
	}
	_ = c.Net().SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Net().Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("read after a 1 MiB size prefix: %v, want the connection closed (EOF)", err)
	}
}

func TestMutualTLSPrincipal(t *testing.T) {
	s := startSecured(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	admin := kadm.NewClient(s.client(t, "SASL_SSL", s.tlsTo(t, "", time.Time{}), scram512("admin", "admin-secret")))
	// The certificate's subject is the principal: let it describe the cluster.
	principal := "User:CN=carol"
	res, err := admin.CreateACLs(ctx, kadm.NewACLs().Allow(principal).AllowHosts().Clusters().Operations(kadm.OpDescribe))
	if err != nil || res[0].Err != nil {
		t.Fatalf("create ACL: %v %+v", err, res)
	}
	// DescribeCluster answers anyone, as in Kafka, and says what the
	// principal may do with the cluster: DESCRIBE for carol's certificate,
	// nothing for ANONYMOUS.
	describe := func(cl *kgo.Client) int32 {
		t.Helper()
		req := kmsg.NewPtrDescribeClusterRequest()
		req.IncludeClusterAuthorizedOperations = true
		dc, err := req.RequestWith(ctx, cl)
		if err != nil || dc.ErrorCode != 0 {
			t.Fatalf("describe cluster: %v %v", err, dc)
		}
		return dc.ClusterAuthorizedOperations
	}
	carol := s.client(t, "SSL", s.tlsTo(t, "carol", time.Now().Add(time.Hour)))
	if ops := describe(carol); ops != 1<<int(kmsg.ACLOperationDescribe) {
		t.Errorf("cluster operations of %s: %b, want DESCRIBE only", principal, ops)
	}
	anon := s.client(t, "SSL", s.tlsTo(t, "", time.Time{}))
	if ops := describe(anon); ops != 0 {
		t.Errorf("cluster operations of ANONYMOUS (no certificate): %b, want none", ops)
	}
	// An expired certificate fails the handshake.
	expired := s.client(t, "SSL", s.tlsTo(t, "dave", time.Now().Add(-time.Minute)))
	if _, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, expired); err == nil {
		t.Error("a client with an expired certificate was served")
	}
	// A plaintext client on the TLS port gets nowhere.
	plainCl := s.client(t, "SSL")
	if _, err := kmsg.NewPtrApiVersionsRequest().RequestWith(ctx, plainCl); err == nil {
		t.Error("a plaintext client was answered on the SSL listener")
	}
}

func TestScramCredentialsAPI(t *testing.T) {
	s := startSecured(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := kadm.NewClient(s.client(t, "SASL_SSL", s.tlsTo(t, "", time.Time{}), scram512("admin", "admin-secret")))

	described, err := admin.DescribeUserSCRAMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(described["alice"].CredInfos) != 2 || len(described["admin"].CredInfos) != 2 {
		t.Errorf("bootstrap users' credentials: %+v", described)
	}
	// A new user, through the API, can authenticate at once.
	res, err := admin.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "bob", Mechanism: kadm.ScramSha512, Iterations: 8192, Password: "bob-secret"}})
	if err != nil || res["bob"].Err != nil {
		t.Fatalf("upsert bob: %v %+v", err, res)
	}
	bob := s.client(t, "SASL_SSL", s.tlsTo(t, "", time.Time{}), scram512("bob", "bob-secret"))
	if err := bob.Ping(ctx); err != nil {
		t.Errorf("bob after his upsert: %v", err)
	}
	// Deleting it ends new authentications.
	res, err = admin.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "bob", Mechanism: kadm.ScramSha512}}, nil)
	if err != nil || res["bob"].Err != nil {
		t.Fatalf("delete bob: %v %+v", err, res)
	}
	again := s.client(t, "SASL_SSL", s.tlsTo(t, "", time.Time{}), scram512("bob", "bob-secret"))
	if err := again.Ping(ctx); err == nil {
		t.Error("bob authenticated after his credential was deleted")
	}
	res, err = admin.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "bob", Mechanism: kadm.ScramSha512}}, nil)
	if err != nil || !errors.Is(res["bob"].Err, kerr.ResourceNotFound) {
		t.Errorf("deleting a deleted credential: %v %+v, want RESOURCE_NOT_FOUND", err, res)
	}
	// alice is no super user and has no ACL: she may not alter credentials.
	alice := kadm.NewClient(s.client(t, "SASL_SSL", s.tlsTo(t, "", time.Time{}), scram512("alice", "alice-secret")))
	res, err = alice.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "mallory", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "x"}})
	if !errors.Is(err, kerr.ClusterAuthorizationFailed) && !errors.Is(res["mallory"].Err, kerr.ClusterAuthorizationFailed) {
		t.Errorf("alice upserting a user: %v %+v, want CLUSTER_AUTHORIZATION_FAILED", err, res)
	}
}

// authenticate runs a SCRAM-SHA-512 exchange on c with SaslHandshake v1
// and SaslAuthenticate v2 and returns the last response.
func authenticate(t *testing.T, c *brokertest.Conn, user, pass string) *kmsg.SASLAuthenticateResponse {
	t.Helper()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = "SCRAM-SHA-512"
	if r := c.RoundTrip(hs).(*kmsg.SASLHandshakeResponse); r.ErrorCode != 0 {
		t.Fatalf("SaslHandshake: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	session, msg, err := scram.Auth{User: user, Pass: pass}.AsSha512Mechanism().Authenticate(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	for {
		req := kmsg.NewPtrSASLAuthenticateRequest()
		req.SetVersion(2)
		req.SASLAuthBytes = msg
		resp := c.RoundTrip(req).(*kmsg.SASLAuthenticateResponse)
		if resp.ErrorCode != 0 {
			return resp
		}
		done, next, err := session.Challenge(resp.SASLAuthBytes)
		if err != nil {
			t.Fatalf("SCRAM challenge: %v", err)
		}
		if done {
			return resp
		}
		msg = next
	}
}

// TestReauthentication: with connections.max.reauth.ms the last SASL step
// tells the client its session lifetime; a client that authenticates again
// on its connection before then carries on, one that does not is
// disconnected at its next request (KIP-368).
func TestReauthentication(t *testing.T) {
	// Long enough that a loaded machine re-authenticates well within it.
	const lifetime = 6 * time.Second
	s := startSecured(t, func(c *broker.Config) { c.Security.ConnectionsMaxReauth = lifetime })
	metadata := func() kmsg.Request {
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(9)
		return req
	}

	renews, lapses := s.DialListener(t, "SASL_PLAINTEXT"), s.DialListener(t, "SASL_PLAINTEXT")
	start := time.Now()
	for _, c := range []*brokertest.Conn{renews, lapses} {
		resp := authenticate(t, c, "admin", "admin-secret")
		if resp.ErrorCode != 0 || resp.SessionLifetimeMillis <= 0 || resp.SessionLifetimeMillis > lifetime.Milliseconds() {
			t.Fatalf("authenticate: %v, session lifetime %d ms, want 0 < lifetime <= %d", kerr.ErrorForCode(resp.ErrorCode), resp.SessionLifetimeMillis, lifetime.Milliseconds())
		}
	}
	// renews authenticates again every quarter lifetime, past the first
	// session's end, and is served throughout.
	for time.Since(start) < lifetime+lifetime/2 {
		time.Sleep(lifetime / 4)
		if resp := authenticate(t, renews, "admin", "admin-secret"); resp.ErrorCode != 0 {
			t.Fatalf("re-authenticate: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		renews.RoundTrip(metadata()) // fails the test if the connection was closed
	}
	// Re-authenticating as someone else is refused.
	if resp := authenticate(t, renews, "alice", "alice-secret"); resp.ErrorCode != kerr.SaslAuthenticationFailed.Code {
		t.Errorf("re-authenticate as another principal: %v, want SASL_AUTHENTICATION_FAILED", kerr.ErrorForCode(resp.ErrorCode))
	}
	// lapses did not, and its session is over.
	lapses.Send(metadata())
	_ = lapses.Net().SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := brokertest.ReadFrame(lapses.Net()); err == nil {
		t.Error("a connection whose session expired was answered")
	}
}

// TestSaslHandshakeV0: after SaslHandshake v0 the exchange's tokens go bare
// (size-prefixed, no request header), as Kafka 0.10 clients send them.
func TestSaslHandshakeV0(t *testing.T) {
	s := startSecured(t)
	c := s.DialListener(t, "SASL_PLAINTEXT")
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(0)
	hs.Mechanism = "PLAIN"
	if r := c.RoundTrip(hs).(*kmsg.SASLHandshakeResponse); r.ErrorCode != 0 {
		t.Fatalf("SaslHandshake v0: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	token := []byte("\x00alice\x00alice-secret")
	nc := c.Net()
	if _, err := nc.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(token))), token...)); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(nc, size[:]); err != nil {
		t.Fatalf("bare PLAIN answer: %v", err)
	}
	if n := binary.BigEndian.Uint32(size[:]); n != 0 {
		t.Fatalf("bare PLAIN answer of %d bytes, want an empty token", n)
	}
	// Authenticated: requests are answered again.
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	if r := c.RoundTrip(req).(*kmsg.ApiVersionsResponse); r.ErrorCode != 0 {
		t.Errorf("ApiVersions after the bare exchange: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(9)
	c.RoundTrip(md) // fails the test if the connection was closed
}
