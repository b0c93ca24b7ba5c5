package metadata

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
)

const (
	// DefaultPrefix is the key prefix when Options.Prefix is empty.
	DefaultPrefix = "/strata/"
	// DefaultSessionTTL is the broker lease TTL when Options.SessionTTL is
	// zero: the one place it is declared (cmd/strata's flag reads it).
	DefaultSessionTTL = 10 * time.Second

	defaultConnectTimeout = 5 * time.Second
	// maxCallSendMsgSize is the client's limit on a request: above
	// etcd's recommended largest --max-request-bytes (10 MiB).
	maxCallSendMsgSize = 12 << 20
)

// Options configures a Store. Zero fields take their defaults
// (EnsureDefaults); Validate explains a value New cannot use.
type Options struct {
	Prefix     string        // key prefix, default DefaultPrefix
	SessionTTL time.Duration // broker lease TTL, default DefaultSessionTTL; whole seconds (CheckSessionTTL)
	Logger     *slog.Logger  // nil = discard
	// LeaseID, when non-zero, re-attaches to an existing lease instead of
	// granting a new one: a broker that restarts within its TTL keeps its
	// registration and leaderships (and their epochs). New fails with
	// ErrLeaseExpired if etcd no longer has the lease. SessionTTL is then
	// ignored: the lease keeps the TTL it was granted with.
	LeaseID clientv3.LeaseID
	// TxnLimits are the etcd server's transaction limits (its
	// --max-txn-ops and --max-request-bytes) that CommitSegments packs a
	// seal's commits within; zero = LargeTxnLimits, lowered to etcd's
	// defaults the first time etcd refuses a transaction as too large.
	TxnLimits TxnLimits
	// Registerer takes the Store's metrics (strata_metadata_*); nil = not exported.
	Registerer prometheus.Registerer
}

// EnsureDefaults sets every zero field to its default and returns o.
func (o *Options) EnsureDefaults() *Options {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if !strings.HasSuffix(o.Prefix, "/") {
		o.Prefix += "/"
	}
	if o.SessionTTL == 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.TxnLimits == (TxnLimits{}) {
		o.TxnLimits = LargeTxnLimits
	}
	return o
}

// Validate explains a value New cannot use (after EnsureDefaults).
func (o *Options) Validate() error {
	if !o.TxnLimits.Valid() {
		return fmt.Errorf("%w: transaction limits %+v (at least 3 ops and 64 KiB)", ErrInvalid, o.TxnLimits)
	}
	return CheckSessionTTL(o.SessionTTL)
}

// SessionTTLError says why a duration cannot be a lease TTL. It wraps
// ErrInvalid.
type SessionTTLError struct {
	TTL time.Duration
	// Reason completes "the session TTL …", e.g. "must be at least 1s".
	Reason string
}

func (e *SessionTTLError) Error() string {
	return fmt.Sprintf("metadata: session TTL %s, got %s", e.Reason, e.TTL)
}

func (e *SessionTTLError) Unwrap() error { return ErrInvalid }

// CheckSessionTTL is the rule for a lease TTL, the one every layer applies:
// at least a second, and whole seconds, since etcd leases count seconds.
// It returns nil or a *SessionTTLError.
func CheckSessionTTL(ttl time.Duration) error {
	switch {
	case ttl < time.Second:
		return &SessionTTLError{TTL: ttl, Reason: "must be at least 1s"}
	case ttl%time.Second != 0:
		return &SessionTTLError{TTL: ttl, Reason: "must be a whole number of seconds (etcd leases count seconds)"}
	}
	return nil
}

// Store is Strata's view of etcd. Safe for concurrent use.
type Store struct {
	client *clientv3.Client
	keys   keys
	log    *slog.Logger
	ttl    int // seconds, for the sessions Renew opens

	sessMu  sync.Mutex
	session *concurrency.Session

	txn      txnLimiter // CommitSegments' transaction limits
	commitsM *commitMetrics

	clusterMu sync.Mutex
	clusterID string // cached once read or created; it never changes

	closeOnce sync.Once
	closeErr  error
}

// ClientAuth is how a broker proves itself to etcd: TLS (with a client
// certificate where etcd runs with --client-cert-auth) and etcd's own user
// and password authentication. The zero value is a plaintext connection
// without authentication.
type ClientAuth struct {
	TLS                *tls.Config
	Username, Password string
}

// Connect dials etcd and checks it answers within timeout.
//
// The client's own logging is off; errors come back to the caller. The
// caller owns the client and closes it after every Store on it.
func Connect(ctx context.Context, endpoints []string, timeout time.Duration, auth ClientAuth) (*clientv3.Client, error) {
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("%w: no etcd endpoints", ErrInvalid)
	}
	if timeout <= 0 {
		timeout = defaultConnectTimeout
	}
	where := strings.Join(endpoints, ",")
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: timeout,
		// Detect a dead connection so that requests move to another member.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		Logger:               zap.NewNop(),
		TLS:                  auth.TLS,
		Username:             auth.Username,
		Password:             auth.Password,
		// A commit transaction may be as large as the server allows
		// (LargeTxnLimits); the server enforces its own limit.
		MaxCallSendMsgSize: maxCallSendMsgSize,
	})
	if err != nil {
		return nil, fmt.Errorf("metadata: etcd client for %s: %w", where, err)
	}
	// clientv3 dials lazily; a linearizable read proves that a member answers
	// and that the cluster has a leader.
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := c.Get(pctx, "health", clientv3.WithCountOnly()); err != nil {
		c.Close()
		return nil, fmt.Errorf("metadata: etcd at %s did not answer within %s: %w", where, timeout, err)
	}
	return c, nil
}

// New returns a Store on client and opens the broker's lease session.
func New(ctx context.Context, client *clientv3.Client, opts Options) (*Store, error) {
	if client == nil {
		return nil, fmt.Errorf("%w: nil etcd client", ErrInvalid)
	}
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	prefix, log := opts.Prefix, opts.Logger
	secs := int(opts.SessionTTL / time.Second)

	// The lease is granted here, with the caller's ctx, rather than by
	// NewSession, which would wait on the client's lifetime context.
	id := opts.LeaseID
	if id != clientv3.NoLease {
		r, err := client.TimeToLive(ctx, id)
		if errors.Is(err, rpctypes.ErrLeaseNotFound) || (err == nil && r.TTL <= 0) {
			return nil, fmt.Errorf("%w: lease %x", ErrLeaseExpired, int64(id))
		}
		if err != nil {
			return nil, fmt.Errorf("metadata: look up lease %x: %w", int64(id), err)
		}
	} else {
		r, err := client.Grant(ctx, int64(secs))
		if err != nil {
			return nil, fmt.Errorf("metadata: grant lease: %w", err)
		}
		id = r.ID
	}
	// The session keeps the lease alive until Close or the client closes.
	session, err := concurrency.NewSession(client, concurrency.WithLease(id), concurrency.WithTTL(secs))
	if err != nil {
		if opts.LeaseID == clientv3.NoLease {
			_, _ = client.Revoke(ctx, id)
		}
		return nil, fmt.Errorf("metadata: open session on lease %x: %w", int64(id), err)
	}
	log.Debug("metadata: session open", "lease", fmt.Sprintf("%x", int64(id)), "prefix", prefix)
	s := &Store{client: client, session: session, keys: keys{prefix: prefix}, log: log, ttl: secs,
		commitsM: newCommitMetrics(opts.Registerer)}
	s.txn.limits = opts.TxnLimits
	return s, nil
}

// sess is the current session.
func (s *Store) sess() *concurrency.Session {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	return s.session
}

// Renew opens a new session on a new lease after the current one ended
// (Done is closed): the broker's registration and leaderships are gone and
// it joins the cluster again as if it had just started. Renewing a session
// that is still alive does nothing.
func (s *Store) Renew(ctx context.Context) error {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	select {
	case <-s.session.Done():
	default:
		return nil
	}
	r, err := s.client.Grant(ctx, int64(s.ttl))
	if err != nil {
		return fmt.Errorf("metadata: grant lease: %w", err)
	}
	session, err := concurrency.NewSession(s.client, concurrency.WithLease(r.ID), concurrency.WithTTL(s.ttl))
	if err != nil {
		_, _ = s.client.Revoke(ctx, r.ID)
		return fmt.Errorf("metadata: open session on lease %x: %w", int64(r.ID), err)
	}
	s.log.Info("metadata: new etcd session after the previous lease ended", "lease", fmt.Sprintf("%x", int64(r.ID)))
	s.session = session
	return nil
}

// Close revokes the lease (ending registration and leaderships) and stops. Safe twice.
// It does not close the client.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		sess := s.sess()
		err := sess.Close()
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			err = nil // expired already: same outcome
		}
		if err != nil {
			s.closeErr = fmt.Errorf("metadata: revoke lease %x: %w", int64(sess.Lease()), err)
		}
	})
	return s.closeErr
}

// Client is the underlying etcd client.
func (s *Store) Client() *clientv3.Client { return s.client }

// LeaseID is the broker's lease. A broker may keep it on local disk to pass
// as Options.LeaseID when it restarts within the TTL.
func (s *Store) LeaseID() clientv3.LeaseID { return s.sess().Lease() }

// Done is closed when the current lease can no longer be kept alive (it
// expired, etcd was unreachable for longer than the TTL, or Close ran).
// Every registration and leadership under it has then ended; Renew starts
// a new session, whose end a new call to Done reports.
func (s *Store) Done() <-chan struct{} { return s.sess().Done() }

// Revision is etcd's current revision: every write made before the call
// has a revision at most this.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	resp, err := s.client.Get(ctx, s.keys.clusterID(), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("metadata: read revision: %w", err)
	}
	return resp.Header.Revision, nil
}

// ClusterID returns the cluster's id, creating it on first use.
//
// The id is a random UUID in URL-safe base64 without padding (22
// characters), as Kafka's cluster ids.
func (s *Store) ClusterID(ctx context.Context) (string, error) {
	s.clusterMu.Lock()
	defer s.clusterMu.Unlock()
	if s.clusterID != "" {
		return s.clusterID, nil
	}
	key := s.keys.clusterID()
	u := uuid.New()
	fresh := base64.RawURLEncoding.EncodeToString(u[:])
	val, _ := json.Marshal(fresh)
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(val))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return "", fmt.Errorf("metadata: cluster id: %w", err)
	}
	if resp.Succeeded {
		s.clusterID = fresh
		return fresh, nil
	}
	kv := resp.Responses[0].GetResponseRange().Kvs[0]
	var id string
	if err := json.Unmarshal(kv.Value, &id); err != nil || id == "" {
		return "", fmt.Errorf("metadata: cluster id at %s: bad value %q", key, kv.Value)
	}
	s.clusterID = id
	return id, nil
}

// AllocateBrokerID returns a new unique broker id (>= 1).
func (s *Store) AllocateBrokerID(ctx context.Context) (int32, error) {
	id, err := s.addCounter(ctx, s.keys.nextBrokerID(), 1, 1, math.MaxInt32)
	if err != nil {
		return 0, fmt.Errorf("metadata: allocate broker id: %w", err)
	}
	return int32(id), nil
}

// FirstProducerID is the first producer id AllocateProducerIDs hands out.
const FirstProducerID = 1000

// AllocateProducerIDs reserves n consecutive producer ids and returns the first.
// Ids start at FirstProducerID and are never reused.
func (s *Store) AllocateProducerIDs(ctx context.Context, n int64) (int64, error) {
	if n < 1 {
		return 0, fmt.Errorf("%w: producer id block of %d", ErrInvalid, n)
	}
	first, err := s.addCounter(ctx, s.keys.nextProducerID(), FirstProducerID, n, math.MaxInt64)
	if err != nil {
		return 0, fmt.Errorf("metadata: allocate %d producer ids: %w", n, err)
	}
	return first, nil
}

// addCounter atomically adds n to the counter at key, which holds the next
// value to hand out (start when absent), and returns the value before the
// addition. Every value handed out is at most limit.
func (s *Store) addCounter(ctx context.Context, key string, start, n, limit int64) (int64, error) {
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return 0, err
	}
	kvs := resp.Kvs
	for {
		next, rev := start, int64(0) // ModRevision 0 compares true only while the key is absent
		if len(kvs) > 0 {
			rev = kvs[0].ModRevision
			if err := json.Unmarshal(kvs[0].Value, &next); err != nil {
				return 0, fmt.Errorf("counter %s: bad value %q", key, kvs[0].Value)
			}
		}
		if next > limit || n-1 > limit-next {
			return 0, fmt.Errorf("counter %s: exhausted at %d", key, next)
		}
		tr, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(clientv3.OpPut(key, fmt.Sprint(next+n))).
			Else(clientv3.OpGet(key)).
			Commit()
		if err != nil {
			return 0, err
		}
		if tr.Succeeded {
			return next, nil
		}
		kvs = tr.Responses[0].GetResponseRange().Kvs // lost a race: go again from the winner's value
	}
}

// Register puts b under the session lease; it disappears when the lease ends.
// A registration with the same id is replaced (the newest broker wins).
func (s *Store) Register(ctx context.Context, b Broker) error {
	if b.ID < 0 {
		return fmt.Errorf("%w: broker id %d", ErrInvalid, b.ID)
	}
	val, err := json.Marshal(b)
	if err != nil {
		return fmt.Errorf("metadata: register broker %d: %w", b.ID, err)
	}
	if _, err := s.client.Put(ctx, s.keys.broker(b.ID), string(val), clientv3.WithLease(s.LeaseID())); err != nil {
		return fmt.Errorf("metadata: register broker %d: %w", b.ID, err)
	}
	return nil
}
