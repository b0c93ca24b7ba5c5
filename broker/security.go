package broker

// Who a connection is and what it may do: TLS client certificates, SASL
// authentication, the authorizer and the credentials, ACLs and quotas every
// broker watches in etcd (docs/security.md).
//
// A connection's principal is set once, by its read loop: from the client
// certificate after the TLS handshake, or by a SASL exchange, before any
// request other than ApiVersions, SaslHandshake and SaslAuthenticate is
// read; so the wait parts of later requests read it without a lock. A
// re-authentication (KIP-368) must keep the principal.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/acl"
	"github.com/strata-io/strata/auth"
	"github.com/strata-io/strata/metadata"
)

// DefaultSASLMechanisms are the mechanisms SASL listeners offer unless
// Security.SASLMechanisms names others.
var DefaultSASLMechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

const (
	// tlsHandshakeTimeout bounds a client's TLS handshake.
	tlsHandshakeTimeout = 10 * time.Second
	// saslMaxReceive bounds a request on a SASL listener before its client
	// has authenticated (Kafka's sasl.server.max.receive.size), so that
	// nobody unauthenticated can make the broker read a large one.
	saslMaxReceive = 512 << 10
	// securityProgressEvery is how often awaitSecurity asks etcd again.
	securityProgressEvery = 100 * time.Millisecond
)

var (
	errSASLState  = errors.New("broker: request before SASL authentication completed")
	errAuthFailed = errors.New("broker: SASL authentication failed")
	errReauth     = errors.New("broker: SASL session expired without re-authentication")
)

// identity is a connection's principal and address, as ACLs name them.
type identity struct {
	principal auth.Principal
	name      string // principal.String(), kept for every ACL check
	host      string // the client's IP address
}

func (id *identity) set(p auth.Principal) {
	id.principal, id.name = p, p.String()
}

// saslState is a connection's SASL progress, owned by its read loop.
type saslState struct {
	exchange      auth.Exchange // between SaslHandshake and the exchange's end
	raw           bool          // SaslHandshake v0: the exchange's tokens come unframed
	authenticated bool
	expires       time.Time // zero: the authentication lasts the connection's life
}

// handshakeTLS completes a TLS connection's handshake and takes its
// principal from the client certificate, if one was sent.
func (c *conn) handshakeTLS() error {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(c.ctx, tlsHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		c.srv.metrics.authFailures.WithLabelValues("tls").Inc()
		return fmt.Errorf("TLS handshake: %w", err)
	}
	if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
		c.id.set(auth.PrincipalFromCert(certs[0]))
	}
	return nil
}

// saslGate refuses, on a SASL listener, every request but ApiVersions and
// the SASL ones until the client has authenticated, and after its
// authentication expired (KIP-368); Kafka closes such a connection.
func (c *conn) saslGate(key int16) error {
	if !c.listener.Protocol.SASL() || key == 17 || key == 18 || key == 36 {
		return nil
	}
	switch {
	case !c.sasl.authenticated || c.sasl.raw:
		return fmt.Errorf("%w: %s", errSASLState, kmsg.NameForKey(key))
	case !c.sasl.expires.IsZero() && time.Now().After(c.sasl.expires):
		return errReauth
	}
	return nil
}

// lookupCredential finds a user's SCRAM credential in the watched security
// state.
func (b *server) lookupCredential(user string, m auth.Mechanism) (auth.Credential, bool) {
	sec := b.security.Load()
	if sec == nil {
		return auth.Credential{}, false
	}
	for _, cr := range sec.Credentials[user] {
		if cr.Mechanism == m {
			return cr, true
		}
	}
	return auth.Credential{}, false
}

// startExchange begins a SASL exchange for mechanism, or says why not.
func (c *conn) startExchange(mechanism string, version int16) *kerr.Error {
	switch {
	case !c.listener.Protocol.SASL(), c.sasl.exchange != nil:
		return kerr.IllegalSaslState
	case !slices.Contains(c.srv.mechanisms, mechanism):
		return kerr.UnsupportedSaslMechanism
	case c.sasl.authenticated && version == 0:
		return kerr.IllegalSaslState // re-authentication needs SaslAuthenticate
	}
	ex, err := auth.NewExchange(mechanism, c.srv.lookupCredential)
	if err != nil {
		return kerr.UnsupportedSaslMechanism
	}
	c.sasl.exchange, c.sasl.raw = ex, version == 0
	return nil
}

// step runs one step of the connection's SASL exchange. On success of the
// last step the connection is authenticated; on failure it is closed once
// the answer is written.
func (c *conn) step(token []byte) (out []byte, done bool, err error) {
	ex := c.sasl.exchange
	if ex == nil {
		return nil, false, kerr.IllegalSaslState
	}
	out, done, err = ex.Step(token)
	if err == nil && done && c.sasl.authenticated && ex.Principal() != c.id.principal {
		err = fmt.Errorf("%w: a re-authentication cannot change the principal", auth.ErrAuthenticationFailed)
	}
	if err != nil {
		c.sasl.exchange, c.sasl.raw = nil, false
		c.closeAfter = errAuthFailed
		c.srv.metrics.authFailures.WithLabelValues("sasl").Inc()
		c.srv.log.Info("SASL authentication failed", "remote", c.id.host, "client_id", c.clientID, "error", err)
		return nil, false, err
	}
	if done {
		c.sasl.exchange, c.sasl.raw = nil, false
		if !c.sasl.authenticated {
			c.id.set(ex.Principal())
			c.sasl.authenticated = true
		}
		c.sasl.expires = time.Time{}
		if d := c.srv.cfg.Security.ConnectionsMaxReauth; d > 0 {
			c.sasl.expires = time.Now().Add(d)
		}
	}
	return out, done, nil
}

// allowed reports whether the connection's principal may do op on a
// resource: the authorizer's answer, or yes when it is off.
func (c *conn) allowed(op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	return c.srv.authz.Authorize(c.id.name, c.id.host, op, rt, name)
}

// allowedOnCluster reports whether the principal may do op on the cluster.
func (c *conn) allowedOnCluster(op kmsg.ACLOperation) bool {
	return c.allowed(op, kmsg.ACLResourceTypeCluster, acl.ClusterName)
}

// authorizedOps is KIP-430's field for a resource: the operations the
// principal may do on it.
func (c *conn) authorizedOps(rt kmsg.ACLResourceType, name string) int32 {
	return c.srv.authz.AuthorizedOperations(c.id.name, c.id.host, rt, name)
}

// clusterAuthorizedOps is the cluster's, which Kafka gives only to a
// principal that may describe the cluster (0 to the others).
func (c *conn) clusterAuthorizedOps() int32 {
	if !c.allowedOnCluster(kmsg.ACLOperationDescribe) {
		return 0
	}
	return c.authorizedOps(kmsg.ACLResourceTypeCluster, acl.ClusterName)
}

// applySecurity installs a new snapshot of the credentials, ACLs and quotas.
func (b *server) applySecurity(sec *metadata.Security) {
	if b.authz != nil {
		b.authz.SetBindings(acl.NewSet(sec.ACLs))
	}
	b.quotas.SetQuotas(quotaConfig(sec.Quotas))
	b.secMu.Lock()
	b.security.Store(sec)
	if b.secChanged != nil {
		close(b.secChanged)
	}
	b.secChanged = make(chan struct{})
	b.secMu.Unlock()
}

// rawToken answers one bare SASL token of an exchange that SaslHandshake v0
// started: the reply is a bare token too (empty when the mechanism has
// nothing to say). A failed step is not answered: the connection closes.
func (c *conn) rawToken(token []byte) {
	out, _, err := c.step(token)
	if err != nil {
		return
	}
	if out == nil {
		out = []byte{}
	}
	f := &inflight{raw: out, done: make(chan kmsg.Response, 1)}
	c.waiting.Add(1)
	c.queue <- f
	f.done <- nil
}

// bootstrapIterations is the SCRAM iteration count of bootstrap users'
// credentials (Kafka's minimum, and kafka-configs' default).
const bootstrapIterations = 4096

// startSecurity sets up SASL and the authorizer, makes sure the bootstrap
// users have credentials, and starts watching the credentials, ACLs and
// quotas in etcd; it returns once the first snapshot is applied, so that
// the broker never serves with an empty ACL set it has not read.
func (b *Broker) startSecurity(ctx context.Context) error {
	sec, srv := &b.cfg.Security, b.srv
	srv.mechanisms = sec.SASLMechanisms
	if len(srv.mechanisms) == 0 {
		srv.mechanisms = DefaultSASLMechanisms
	}
	for _, m := range srv.mechanisms {
		if !slices.Contains(auth.Mechanisms(), m) {
			return fmt.Errorf("SASL mechanism %q is not supported (supported: %v)", m, auth.Mechanisms())
		}
	}
	if sec.Authorizer {
		srv.authz = acl.NewAuthorizer(sec.SuperUsers, sec.AllowEveryoneIfNoACLFound)
	}
	if sec.SASLBootstrapUsers != "" {
		if err := b.bootstrapUsers(ctx, sec.SASLBootstrapUsers); err != nil {
			return err
		}
	}
	first := make(chan struct{})
	var once bool
	b.wg.Go(func() {
		_ = b.res.store.WatchSecurity(b.ctx, func(s *metadata.Security) {
			srv.applySecurity(s)
			if !once {
				once = true
				close(first)
			}
		})
	})
	select {
	case <-first:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("etcd: read credentials and ACLs: %w", ctx.Err())
	}
}

// bootstrapUsers gives each user of the file SCRAM-SHA-256 and
// SCRAM-SHA-512 credentials unless the user already has them: a restart
// never changes a password that AlterUserScramCredentials set since.
func (b *Broker) bootstrapUsers(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("SASL bootstrap users: %w", err)
	}
	users, err := auth.ParseUsers(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("SASL bootstrap users %s: %w", path, err)
	}
	created := 0
	for _, u := range users {
		for _, m := range []auth.Mechanism{auth.ScramSHA256, auth.ScramSHA512} {
			cred, err := auth.NewCredential(m, u.Password, bootstrapIterations)
			if err != nil {
				return err
			}
			ok, err := b.res.store.EnsureScramCredential(ctx, u.User, cred)
			if err != nil {
				return fmt.Errorf("etcd: store credentials of %s: %w", u.User, err)
			}
			if ok {
				created++
			}
		}
	}
	b.log.Info("SASL bootstrap users", "users", len(users), "credentials_created", created)
	return nil
}

// writeSecurity makes a change to the security state in etcd with write,
// then waits until this broker sees it (awaitSecurity). It returns the
// error of either, logged as what's.
func (b *server) writeSecurity(ctx context.Context, what string, write func(context.Context) error) error {
	err := write(ctx)
	if err == nil {
		err = b.awaitSecurity(ctx)
	}
	if err != nil {
		b.log.Warn(what+": etcd", "error", err)
	}
	return err
}

// awaitSecurity waits until this broker's watched security state includes
// every write to etcd made before the call, so that a client's next request
// sees its own credential, ACL or quota change on this broker. Since other
// keys move etcd's revision too, it asks etcd for a progress notification
// rather than wait for the next change under security/.
func (b *server) awaitSecurity(ctx context.Context) error {
	rev, err := b.store.Revision(ctx)
	if err != nil {
		return err
	}
	tick := time.NewTicker(securityProgressEvery)
	defer tick.Stop()
	for {
		b.secMu.Lock()
		sec, changed := b.security.Load(), b.secChanged
		b.secMu.Unlock()
		if sec != nil && sec.Revision >= rev {
			return nil
		}
		if err := b.store.RequestSecurityProgress(ctx); err != nil {
			return err
		}
		select {
		case <-changed:
		case <-tick.C: // a notification may be lost when the watch restarts
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// aclAPIError is what the ACL APIs answer an entry before they look at
// etcd: SECURITY_DISABLED without the authorizer, as Kafka without one;
// CLUSTER_AUTHORIZATION_FAILED without op on the cluster; INVALID_REQUEST
// with the reason when the entry is invalid. It returns code 0 for an entry
// to carry out.
func (c *conn) aclAPIError(op kmsg.ACLOperation, invalid error) (code int16, msg *string) {
	switch {
	case c.srv.authz == nil:
		m := "no authorizer is configured on the broker (--authorizer)"
		return kerr.SecurityDisabled.Code, &m
	case !c.allowedOnCluster(op):
		return kerr.ClusterAuthorizationFailed.Code, nil
	case invalid != nil:
		m := invalid.Error()
		return kerr.InvalidRequest.Code, &m
	}
	return 0, nil
}
