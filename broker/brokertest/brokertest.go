// Package brokertest starts a whole Strata broker inside a test's own
// process, as franz-go's kfake does for Kafka: the real front end,
// partitions, group coordinator, WAL and uploader, over a fresh in-memory
// bucket (objectstore.NewMem) and an embedded etcd in the test's temporary
// directory, listening on a free 127.0.0.1 port. Tests drive it with
// franz-go's kgo and kadm clients, or with Conn when they need one
// connection's request order (pipelining).
//
// Everything Start acquires is released by t.Cleanup: the clients the
// Broker hands out are closed before the broker, and the broker's Close
// stops every goroutine it started, so tests can run under goleak.
//
// This package imports testing and is for tests only: the server binary
// must not link it (cmd/strata checks that it links no testing).
package brokertest

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/objectstore"
)

// Defaults Start applies before the options: short enough that an acks=all
// produce is answered within a few tens of milliseconds, and few coordinator
// shards, so that start-up acquires little.
const (
	DefaultSealInterval      = 20 * time.Millisecond
	DefaultOffsetsPartitions = 3
)

// startTimeout bounds the broker's start (embedded etcd, leaderships).
const startTimeout = time.Minute

// Option changes the broker's configuration before it starts. Any
// func(*broker.Config) is an Option; the named ones cover what tests
// usually set.
type Option func(*broker.Config)

// Partitions sets the partition count of auto-created topics and of
// CreateTopics requests asking for the default (-1).
func Partitions(n int32) Option { return func(c *broker.Config) { c.DefaultPartitions = n } }

// AutoCreateTopics sets Kafka's auto.create.topics.enable (on by default, as
// in Kafka).
func AutoCreateTopics(on bool) Option { return func(c *broker.Config) { c.AutoCreateTopics = on } }

// SealInterval sets how old the open WAL segment gets before it is sealed
// and uploaded, which is how long an acks=all produce waits at least.
func SealInterval(d time.Duration) Option { return func(c *broker.Config) { c.SealInterval = d } }

// SessionTTL sets the broker's etcd lease TTL.
func SessionTTL(d time.Duration) Option { return func(c *broker.Config) { c.SessionTTL = d } }

// Broker is a running in-process broker.
type Broker struct {
	*broker.Broker // Addr, ID, Ready

	closedByTest bool // the test called Close and checks its error itself

	// Registry holds the broker's metrics and those of its components.
	Registry *prometheus.Registry
	// Bucket is the broker's in-memory object store, for tests that look at
	// what was uploaded. The broker closes it on Close.
	Bucket objectstore.Bucket
}

// Start starts a broker with a fresh data directory, embedded etcd and
// in-memory bucket, and closes it when the test ends. It fails the test if
// the broker does not start.
func Start(t testing.TB, opts ...Option) *Broker {
	t.Helper()
	reg := prometheus.NewRegistry()
	bucket := objectstore.NewMem()
	cfg := broker.Config{
		DataDir:           t.TempDir(),
		Listen:            "127.0.0.1:0",
		Bucket:            bucket,
		AutoCreateTopics:  true,
		SealInterval:      DefaultSealInterval,
		OffsetsPartitions: DefaultOffsetsPartitions,
		Registerer:        reg,
	}
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	b, err := broker.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("brokertest: start: %v", err)
	}
	tb := &Broker{Broker: b, Registry: reg, Bucket: bucket}
	t.Cleanup(func() {
		if err := b.Close(); err != nil && !tb.closedByTest {
			t.Errorf("brokertest: close: %v", err)
		}
	})
	return tb
}

// Close shuts the broker down now and returns its error, which the test
// checks (a test that failed the broker's disk expects one); the cleanup
// then does not report it again. Safe to call twice.
func (b *Broker) Close() error {
	b.closedByTest = true
	return b.Broker.Close()
}

// Client returns a kgo client seeded with the broker's address and closed
// when the test ends (before the broker).
func (b *Broker) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr())}, opts...)...)
	if err != nil {
		t.Fatalf("brokertest: new client: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Admin returns a kadm client over a new Client.
func (b *Broker) Admin(t testing.TB, opts ...kgo.Opt) *kadm.Client {
	t.Helper()
	return kadm.NewClient(b.Client(t, opts...))
}

// TopicConfig returns one config of a topic as DescribeConfigs describes
// it, failing the test if the describe fails or does not list it. It works
// with any broker adm speaks to.
func TopicConfig(t testing.TB, adm *kadm.Client, topic, name string) kadm.Config {
	t.Helper()
	rcs, err := adm.DescribeTopicConfigs(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describe configs of %s: %v, %v", topic, err, rc.Err)
	}
	for _, c := range rc.Configs {
		if c.Key == name {
			return c
		}
	}
	t.Fatalf("describe configs of %s lists no %s", topic, name)
	return kadm.Config{}
}

// Authorizer turns the ACL authorizer on (Kafka's authorizer.class.name),
// with superUsers ("User:admin") allowed everything and nothing allowed to
// others without an ACL. Without SASL every connection's principal is
// User:ANONYMOUS.
func Authorizer(superUsers ...string) Option {
	return func(c *broker.Config) {
		c.Security.Authorizer, c.Security.SuperUsers = true, superUsers
	}
}
