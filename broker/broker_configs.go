package broker

// Broker configs: what DescribeConfigs reports for a BROKER resource, and
// the cluster-wide dynamic defaults that AlterConfigs and
// IncrementalAlterConfigs change on the broker resource "".
//
// A broker resource named by this broker's id lists every setting under
// Kafka's name where Kafka has one (num.partitions, listeners, …) and
// Strata's own under strata.* names, each with its source: STATIC_BROKER_CONFIG
// for an option set by flag, STRATA_* variable or YAML file (or differing from
// its default), DEFAULT_CONFIG otherwise, DYNAMIC_DEFAULT_BROKER_CONFIG for a
// cluster-wide dynamic default. Secrets are reported as Kafka reports them:
// value null, is_sensitive true. The resource "" lists only the cluster-wide
// dynamic defaults that are set, as Kafka does.
//
// The dynamic ones are the topic defaults of partition.TopicDefaultOf
// (log.retention.ms, log.retention.bytes, log.cleanup.policy,
// log.segment.bytes, message.max.bytes): stored in etcd
// (metadata.Store.UpdateBrokerConfigs), seen by every broker through its
// cluster view (the broker that wrote them answers once its view has
// them), and used by every topic without its own value. Altering them
// on a broker id, or altering any other broker config, gets Kafka's
// INVALID_REQUEST "Cannot update these configs dynamically".

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/partition"
	"github.com/strata-io/strata/wal"
)

// brokerConfig is one broker setting as DescribeConfigs reports it.
type brokerConfig struct {
	name string
	// flag is the option of strata serve that sets it ("" = none: fixed).
	flag string
	typ  kmsg.ConfigType
	// value is the setting's value; ok false reports null.
	value func(c *Config) (v string, ok bool)
	// def is its default, for DEFAULT_CONFIG synonyms; nil = as value with
	// DefaultConfig.
	def       func() string
	sensitive func(c *Config) bool
	doc       string
}

func str(f func(c *Config) string) func(c *Config) (string, bool) {
	return func(c *Config) (string, bool) { return f(c), true }
}

// or is v, or def when v is not positive: the options that wal.Open and
// metadata.New default themselves.
func or[T int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

func ms(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }

// topicDefault is a broker config that is the cluster default of a topic
// config: its static value is the topic config's default.
func topicDefault(name, topicConfig string, typ kmsg.ConfigType, doc string) brokerConfig {
	def := func() string { v, _, _ := partition.TopicConfigDefault(topicConfig); return v }
	return brokerConfig{name: name, typ: typ, value: func(*Config) (string, bool) { return def(), true }, def: def, doc: doc}
}

// brokerConfigs are the settings DescribeConfigs lists for a broker, in
// the order listed.
var brokerConfigs = []brokerConfig{
	{name: "broker.id", flag: "broker-id", typ: kmsg.ConfigTypeInt, doc: "this broker's id"},
	{name: "broker.rack", flag: "rack", typ: kmsg.ConfigTypeString, value: func(c *Config) (string, bool) { return c.Rack, c.Rack != "" }},
	{name: "num.partitions", flag: "default-partitions", typ: kmsg.ConfigTypeInt, value: str(func(c *Config) string { return strconv.Itoa(int(c.DefaultPartitions)) })},
	{name: "auto.create.topics.enable", flag: "auto-create-topics", typ: kmsg.ConfigTypeBoolean, value: str(func(c *Config) string { return strconv.FormatBool(c.AutoCreateTopics) })},
	{name: "default.replication.factor", typ: kmsg.ConfigTypeInt, value: str(func(*Config) string { return "1" }), doc: "always 1: durability comes from the object store"},
	{name: "min.insync.replicas", typ: kmsg.ConfigTypeInt, value: str(func(*Config) string { return "1" }), doc: "accepted for compatibility; no effect, durability comes from the object store"},
	{name: "unclean.leader.election.enable", typ: kmsg.ConfigTypeBoolean, value: str(func(*Config) string { return "false" }), doc: "no effect: every leader starts from the committed log"},
	topicDefault("message.max.bytes", "max.message.bytes", kmsg.ConfigTypeInt, "largest record batch of topics without max.message.bytes; dynamic cluster-wide"),
	topicDefault("log.retention.ms", "retention.ms", kmsg.ConfigTypeLong, "time retention of topics without retention.ms; dynamic cluster-wide"),
	{name: "log.retention.minutes", typ: kmsg.ConfigTypeInt, value: str(func(*Config) string { return retentionIn(time.Minute) })},
	{name: "log.retention.hours", typ: kmsg.ConfigTypeInt, value: str(func(*Config) string { return retentionIn(time.Hour) })},
	topicDefault("log.retention.bytes", "retention.bytes", kmsg.ConfigTypeLong, "size retention per partition of topics without retention.bytes; dynamic cluster-wide"),
	topicDefault("log.segment.bytes", "segment.bytes", kmsg.ConfigTypeInt, "size of compacted segment objects of topics without segment.bytes; dynamic cluster-wide"),
	topicDefault("log.cleanup.policy", "cleanup.policy", kmsg.ConfigTypeList, "cleanup.policy of topics without one; dynamic cluster-wide"),
	{name: "offsets.topic.num.partitions", flag: "offsets-topic-partitions", typ: kmsg.ConfigTypeInt, value: str(func(c *Config) string { return strconv.Itoa(int(c.OffsetsPartitions)) })},
	{name: "transaction.max.timeout.ms", flag: "transaction-max-timeout", typ: kmsg.ConfigTypeInt, value: str(func(c *Config) string { return ms(c.MaxTxnTimeout) })},
	{name: "socket.request.max.bytes", flag: "max-request-bytes", typ: kmsg.ConfigTypeInt, value: str(func(c *Config) string { return strconv.FormatInt(c.MaxRequestBytes, 10) })},
	{name: "max.connections", flag: "max-connections", typ: kmsg.ConfigTypeInt, value: str(func(c *Config) string { return strconv.Itoa(c.MaxConnections) }), doc: "0 = from the open-file limit, -1 = unlimited"},
	{name: "max.connections.per.ip", flag: "max-connections-per-ip", typ: kmsg.ConfigTypeInt, value: str(func(c *Config) string { return strconv.Itoa(c.MaxConnectionsPerIP) }), doc: "0 = unlimited"},
	{name: "connections.max.idle.ms", flag: "connections-max-idle", typ: kmsg.ConfigTypeLong, value: str(func(c *Config) string { return ms(c.ConnectionsMaxIdle) })},
	{name: "connections.max.reauth.ms", flag: "connections-max-reauth", typ: kmsg.ConfigTypeLong, value: str(func(c *Config) string { return ms(c.Security.ConnectionsMaxReauth) })},
	{name: "queued.max.request.bytes", flag: "queued-max-request-bytes", typ: kmsg.ConfigTypeLong, value: str(func(c *Config) string { return strconv.FormatInt(c.QueuedMaxRequestBytes, 10) })},
	{name: "listeners", flag: "listeners", typ: kmsg.ConfigTypeString, value: str(func(c *Config) string { return c.listenersValue() })},
	{name: "advertised.listeners", flag: "advertised-listeners", typ: kmsg.ConfigTypeString, value: func(c *Config) (string, bool) {
		return c.Security.AdvertisedListeners, c.Security.AdvertisedListeners != ""
	}},
	{name: "listener.security.protocol.map", flag: "listener-security-protocol-map", typ: kmsg.ConfigTypeString, value: func(c *Config) (string, bool) {
		return c.Security.ProtocolMap, c.Security.ProtocolMap != ""
	}},
	{name: "ssl.client.auth", flag: "tls-client-auth", typ: kmsg.ConfigTypeString, value: str(func(c *Config) string {
		if c.Security.TLSClientAuth != "" {
			return c.Security.TLSClientAuth
		}
		if c.Security.TLSClientCAFile != "" {
			return "required"
		}
		return "none"
	})},
	{name: "sasl.enabled.mechanisms", flag: "sasl-enabled-mechanisms", typ: kmsg.ConfigTypeList, value: str(func(c *Config) string {
		if len(c.Security.SASLMechanisms) == 0 {
			return strings.Join(auth.Mechanisms(), ",")
		}
		return strings.Join(c.Security.SASLMechanisms, ",")
	})},
	{name: "authorizer.class.name", flag: "authorizer", typ: kmsg.ConfigTypeString, value: str(func(c *Config) string {
		if c.Security.Authorizer {
			return "strata" // the ACLs in etcd (--authorizer)
		}
		return ""
	})},
	{name: "super.users", flag: "super-users", typ: kmsg.ConfigTypeString, value: func(c *Config) (string, bool) {
		return strings.Join(c.Security.SuperUsers, ";"), len(c.Security.SuperUsers) > 0
	}},
	{name: "allow.everyone.if.no.acl.found", flag: "allow-everyone-if-no-acl-found", typ: kmsg.ConfigTypeBoolean, value: str(func(c *Config) string { return strconv.FormatBool(c.Security.AllowEveryoneIfNoACLFound) })},
	// Strata's own.
	{name: "strata.data.dir", flag: "data-dir", typ: kmsg.ConfigTypeString, value: str(func(c *Config) string { return c.DataDir })},
	{name: "strata.etcd.endpoints", flag: "etcd-endpoints", typ: kmsg.ConfigTypeList, value: func(c *Config) (string, bool) {
		return strings.Join(c.EtcdEndpoints, ","), len(c.EtcdEndpoints) > 0
	}, doc: "null = embedded etcd"},
	{name: "strata.etcd.username", flag: "etcd-username", typ: kmsg.ConfigTypeString, value: func(c *Config) (string, bool) { return c.EtcdUsername, c.EtcdUsername != "" }},
	{name: "strata.etcd.password", flag: "etcd-password", typ: kmsg.ConfigTypePassword, value: func(*Config) (string, bool) { return "", false },
		sensitive: func(*Config) bool { return true }},
	{name: "strata.object.store", flag: "object-store", typ: kmsg.ConfigTypeString, value: str(func(c *Config) string { return c.ObjectStore }),
		sensitive: func(c *Config) bool { return urlHasPassword(c.ObjectStore) }},
	{name: "strata.seal.bytes", flag: "seal-bytes", typ: kmsg.ConfigTypeLong, value: str(func(c *Config) string { return strconv.FormatInt(or(c.SealBytes, wal.DefaultSegmentBytes), 10) })},
	{name: "strata.seal.interval.ms", flag: "seal-interval", typ: kmsg.ConfigTypeLong, value: str(func(c *Config) string { return ms(or(c.SealInterval, wal.DefaultSealInterval)) })},
	{name: "strata.max.put.rate", flag: "max-put-rate", typ: kmsg.ConfigTypeInt, value: str(func(c *Config) string { return strconv.Itoa(int(max(c.MaxPutRate, 0))) }),
		doc: "segment PUTs per second that seals on demand may spend; 0 = none"},
	{name: "strata.wal.max.bytes", flag: "wal-max-bytes", typ: kmsg.ConfigTypeLong, value: str(func(c *Config) string { return strconv.FormatInt(or(c.WALMaxBytes, wal.DefaultMaxBytes), 10) })},
	{name: "strata.session.ttl.ms", flag: "session-ttl", typ: kmsg.ConfigTypeLong, value: str(func(c *Config) string { return ms(or(c.SessionTTL, metadata.DefaultSessionTTL)) })},
	{name: "strata.cache.bytes", flag: "cache-bytes", typ: kmsg.ConfigTypeLong, value: str(func(c *Config) string { return strconv.FormatInt(c.CacheBytes, 10) })},
	{name: "strata.disk.cache.bytes", flag: "disk-cache-bytes", typ: kmsg.ConfigTypeLong, value: str(func(c *Config) string { return strconv.FormatInt(c.DiskCacheBytes, 10) })},
	{name: "strata.read.ahead.bytes", flag: "read-ahead-bytes", typ: kmsg.ConfigTypeLong, value: str(func(c *Config) string { return strconv.FormatInt(c.ReadAheadBytes, 10) })},
	{name: "strata.retention.check.interval.ms", flag: "retention-check-interval", typ: kmsg.ConfigTypeLong, value: str(func(c *Config) string { return ms(c.RetentionCheckInterval) })},
	{name: "strata.compaction.interval.ms", flag: "compaction-interval", typ: kmsg.ConfigTypeLong, value: str(func(c *Config) string { return ms(c.CompactionInterval) })},
	{name: "strata.compaction.min.age.ms", flag: "compaction-min-age", typ: kmsg.ConfigTypeLong, value: str(func(c *Config) string { return ms(c.CompactionMinAge) })},
	{name: "strata.gc.interval.ms", flag: "gc-interval", typ: kmsg.ConfigTypeLong, value: str(func(c *Config) string { return ms(c.GCInterval) })},
	{name: "strata.gc.grace.ms", flag: "gc-grace", typ: kmsg.ConfigTypeLong, value: str(func(c *Config) string { return ms(c.GCGrace) })},
	{name: "strata.transaction.version", flag: "transaction-version", typ: kmsg.ConfigTypeShort, value: str(func(c *Config) string { return strconv.Itoa(int(c.TransactionVersion)) })},
	{name: "strata.tls.cert.file", flag: "tls-cert-file", typ: kmsg.ConfigTypeString, value: func(c *Config) (string, bool) { return c.Security.TLSCertFile, c.Security.TLSCertFile != "" }},
	{name: "strata.tls.key.file", flag: "tls-key-file", typ: kmsg.ConfigTypeString, value: func(c *Config) (string, bool) { return c.Security.TLSKeyFile, c.Security.TLSKeyFile != "" }},
	{name: "strata.tls.client.ca.file", flag: "tls-client-ca-file", typ: kmsg.ConfigTypeString, value: func(c *Config) (string, bool) {
		return c.Security.TLSClientCAFile, c.Security.TLSClientCAFile != ""
	}},
}

// retentionIn is the default retention.ms in unit, as Kafka's
// log.retention.minutes and log.retention.hours.
func retentionIn(unit time.Duration) string {
	v, _, _ := partition.TopicConfigDefault("retention.ms")
	n, _ := strconv.ParseInt(v, 10, 64)
	if n < 0 {
		return "-1"
	}
	return strconv.FormatInt(n/unit.Milliseconds(), 10)
}

func urlHasPassword(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return true // cannot tell: hide it
	}
	_, has := u.User.Password()
	return has
}

// listenersValue is Kafka's listeners: the configured ones, or the one
// PLAINTEXT listener on Listen.
func (c *Config) listenersValue() string {
	if c.Security.Listeners != "" {
		return c.Security.Listeners
	}
	return "PLAINTEXT://" + c.Listen
}

// defaultBrokerConfig is the configuration whose values are the defaults.
var defaultBrokerConfig = DefaultConfig()

// describeBroker lists the configs of the broker resource name (this
// broker's id, or "" for the cluster-wide dynamic defaults) that want
// selects, or returns the error for the resource.
func (b *server) describeBroker(name string, synonyms, docs bool, want func(string) bool) ([]kmsg.DescribeConfigsResponseResourceConfig, *kerr.Error, string) {
	dynamic := b.clusterBrokerConfigs()
	var out []kmsg.DescribeConfigsResponseResourceConfig
	if name == "" {
		for _, bc := range brokerConfigs {
			if v, ok := dynamic[bc.name]; ok && want(bc.name) {
				rc := describedConfig(bc, &v, kmsg.ConfigSourceDynamicDefaultBrokerConfig, false, docs)
				if synonyms {
					rc.ConfigSynonyms = []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym{synonym(bc.name, &v, rc.Source)}
				}
				out = append(out, rc)
			}
		}
		return out, nil, ""
	}
	if name != strconv.Itoa(int(b.id)) {
		return nil, kerr.InvalidRequest, fmt.Sprintf("broker %s: ask that broker for its configs; this is broker %d", name, b.id)
	}
	for _, bc := range brokerConfigs {
		if !want(bc.name) {
			continue
		}
		cur, def := b.staticBrokerConfig(bc)
		src := kmsg.ConfigSourceDefaultConfig
		if b.cfg.SetOptions[bc.flag] || !ptrEqual(cur, def) {
			src = kmsg.ConfigSourceStaticBrokerConfig
		}
		var syns []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
		value := cur
		if v, ok := dynamic[bc.name]; ok {
			syns = append(syns, synonym(bc.name, &v, kmsg.ConfigSourceDynamicDefaultBrokerConfig))
			value, src = &v, kmsg.ConfigSourceDynamicDefaultBrokerConfig
		}
		if b.cfg.SetOptions[bc.flag] || !ptrEqual(cur, def) {
			syns = append(syns, synonym(bc.name, cur, kmsg.ConfigSourceStaticBrokerConfig))
		}
		syns = append(syns, synonym(bc.name, def, kmsg.ConfigSourceDefaultConfig))
		sensitive := bc.sensitive != nil && bc.sensitive(&b.cfg)
		rc := describedConfig(bc, value, src, sensitive, docs)
		if synonyms {
			if sensitive {
				for i := range syns {
					syns[i].Value = nil
				}
			}
			rc.ConfigSynonyms = syns
		}
		out = append(out, rc)
	}
	return out, nil, ""
}

// staticBrokerConfig is a config's value on this broker and its default
// (nil = null).
func (b *server) staticBrokerConfig(bc brokerConfig) (cur, def *string) {
	if bc.name == "broker.id" {
		id := strconv.Itoa(int(b.id))
		return &id, nil
	}
	opt := func(v string, ok bool) *string {
		if !ok {
			return nil
		}
		return &v
	}
	cur = opt(bc.value(&b.cfg))
	if bc.def != nil {
		d := bc.def()
		return cur, &d
	}
	dc := defaultBrokerConfig
	if bc.name == "strata.data.dir" || bc.name == "strata.object.store" {
		// Made absolute and spelled out by EnsureDefaults.
		dc.DataDir = b.cfg.DataDir
		if !b.cfg.SetOptions["object-store"] {
			dc.ObjectStore = b.cfg.ObjectStore
		}
	}
	if dc.Security.Listeners == "" && bc.name == "listeners" && !b.cfg.SetOptions["listen"] {
		dc.Listen = b.cfg.Listen
	}
	return cur, opt(bc.value(&dc))
}

func ptrEqual(a, b *string) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

func describedConfig(bc brokerConfig, value *string, src kmsg.ConfigSource, sensitive, docs bool) kmsg.DescribeConfigsResponseResourceConfig {
	rc := kmsg.NewDescribeConfigsResponseResourceConfig()
	rc.Name = bc.name
	rc.Value = value
	if sensitive {
		rc.Value = nil
	}
	rc.Source = src
	rc.IsDefault = src == kmsg.ConfigSourceDefaultConfig
	rc.IsSensitive = sensitive
	_, dynamic := partition.TopicDefaultOf(bc.name)
	rc.ReadOnly = !dynamic
	rc.ConfigType = bc.typ
	if docs {
		d := bc.doc
		if d == "" && bc.flag != "" {
			d = "strata serve --" + bc.flag
		}
		if d != "" {
			rc.Documentation = &d
		}
	}
	return rc
}

func synonym(name string, value *string, src kmsg.ConfigSource) kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
	s.Name, s.Value, s.Source = name, value, src
	return s
}

// clusterBrokerConfigs are the cluster-wide dynamic broker configs of the
// latest cluster view.
func (b *server) clusterBrokerConfigs() map[string]string {
	if v, _ := b.topics.View(); v != nil {
		return v.BrokerConfigs
	}
	return nil
}

// TopicConfigDefault returns the value and source a topic without its own
// value of the topic config name reports: the cluster-wide dynamic default
// (DYNAMIC_DEFAULT_BROKER_CONFIG) or the static default (DEFAULT_CONFIG).
// The topic paths of DescribeConfigs and CreateTopics use it.
func (b *server) topicConfigDefault(name string) (string, kmsg.ConfigSource) {
	v, dynamic, _ := partition.TopicDefault(name, b.clusterBrokerConfigs())
	if dynamic {
		return v, kmsg.ConfigSourceDynamicDefaultBrokerConfig
	}
	return v, kmsg.ConfigSourceDefaultConfig
}

// errStaticBrokerConfig is Kafka's answer to altering a broker config that
// cannot change at run time.
const errStaticBrokerConfig = "Cannot update these configs dynamically: "

// brokerConfigChange is one alteration of a broker config: SET (value
// non-nil) or DELETE (value nil).
type brokerConfigChange struct {
	name  string
	value *string
}

// alterBrokerConfigs applies changes to the cluster-wide dynamic broker
// configs (resource ""), replacing them all first when replace is set
// (AlterConfigs). It returns the Kafka error and message, or nil.
func (b *server) alterBrokerConfigs(ctx context.Context, resource string, replace, validateOnly bool, changes []brokerConfigChange) (*kerr.Error, string) {
	var static []string
	for _, ch := range changes {
		_, dynamic := partition.TopicDefaultOf(ch.name)
		if !dynamic || resource != "" {
			static = append(static, ch.name)
		}
	}
	if resource != "" && resource != strconv.Itoa(int(b.id)) {
		if _, err := strconv.ParseInt(resource, 10, 32); err != nil {
			return kerr.InvalidRequest, fmt.Sprintf("broker resource %q is not a broker id", resource)
		}
	}
	if len(static) > 0 {
		known := func(n string) bool {
			for _, bc := range brokerConfigs {
				if bc.name == n {
					return true
				}
			}
			return false
		}
		for _, n := range static {
			if !known(n) {
				// Kafka cannot update a name it does not know either.
				return kerr.InvalidRequest, errStaticBrokerConfig + fmt.Sprintf("[%s] (unknown broker config)", n)
			}
		}
		msg := errStaticBrokerConfig + "[" + strings.Join(static, ", ") + "]"
		if resource != "" {
			msg += "; Strata's dynamic broker configs are cluster-wide defaults: alter them on the broker resource \"\""
		}
		return kerr.InvalidRequest, msg
	}
	for _, ch := range changes {
		if ch.value == nil {
			continue
		}
		t, _ := partition.TopicDefaultOf(ch.name)
		if err := partition.ValidateTopicConfig(t, ch.value); err != nil {
			return kerr.InvalidConfig, fmt.Sprintf("invalid value %q for configuration %s: %v", *ch.value, ch.name, errors.Unwrap(err))
		}
	}
	if validateOnly {
		return nil, ""
	}
	rev, err := b.store.UpdateBrokerConfigs(ctx, func(cur map[string]string) (map[string]string, error) {
		if replace {
			clear(cur)
		}
		for _, ch := range changes {
			if ch.value == nil {
				delete(cur, ch.name)
			} else {
				cur[ch.name] = *ch.value
			}
		}
		return cur, nil
	})
	if err != nil {
		return kerr.UnknownServerError, err.Error()
	}
	b.log.Info("altered cluster-wide broker configs", "changes", len(changes), "replace", replace)
	// Answer once this broker's view has the write, so that the answers
	// after it show it (a DescribeConfigs right after, as with Kafka). The
	// write stands either way: every broker sees it once its view catches up.
	wait, cancel := context.WithTimeout(ctx, viewCatchUp)
	defer cancel()
	if !b.topics.WaitRevision(wait, rev) && ctx.Err() == nil {
		b.log.Warn("the cluster view did not reach a write of this broker", "revision", rev, "waited", viewCatchUp)
	}
	return nil, ""
}

// viewCatchUp bounds alterBrokerConfigs' wait for its write in the cluster
// view, a watch of etcd a few milliseconds behind it unless etcd or this
// broker is slow.
const viewCatchUp = 5 * time.Second

// incrementalBrokerChanges turns IncrementalAlterConfigs' operations on a
// broker resource into changes: SET and DELETE as they are, APPEND and
// SUBTRACT (list configs) applied to the current value.
func (b *server) incrementalBrokerChanges(rr kmsg.IncrementalAlterConfigsRequestResource) ([]brokerConfigChange, *kerr.Error, string) {
	cur := b.clusterBrokerConfigs()
	var out []brokerConfigChange
	for _, rc := range rr.Configs {
		switch rc.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			if rc.Value == nil {
				return nil, kerr.InvalidConfig, fmt.Sprintf("broker config %s needs a value", rc.Name)
			}
			out = append(out, brokerConfigChange{rc.Name, rc.Value})
		case kmsg.IncrementalAlterConfigOpDelete:
			out = append(out, brokerConfigChange{rc.Name, nil})
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			t, ok := partition.TopicDefaultOf(rc.Name)
			if !ok || !partition.IsListTopicConfig(t) {
				// A static config gets Kafka's error from alterBrokerConfigs.
				if !ok {
					out = append(out, brokerConfigChange{rc.Name, rc.Value})
					continue
				}
				return nil, kerr.InvalidConfig, fmt.Sprintf("%s is not a list config; APPEND and SUBTRACT apply to list configs only", rc.Name)
			}
			if rc.Value == nil {
				return nil, kerr.InvalidConfig, fmt.Sprintf("broker config %s needs a value", rc.Name)
			}
			v, ok := cur[rc.Name]
			if !ok {
				v, _, _ = partition.TopicConfigDefault(t)
			}
			next := editList(v, *rc.Value, rc.Op == kmsg.IncrementalAlterConfigOpAppend)
			out = append(out, brokerConfigChange{rc.Name, &next})
		default:
			return nil, kerr.InvalidRequest, fmt.Sprintf("unknown operation %d for %s", rc.Op, rc.Name)
		}
	}
	return out, nil, ""
}

// topicConfigSynonyms are the synonyms DescribeConfigs lists (with
// include_synonyms) for the topic config name, most specific first, as
// Kafka lists them: the topic's own value (DYNAMIC_TOPIC_CONFIG), then, for a
// topic config with a broker default, the cluster-wide dynamic default
// (DYNAMIC_DEFAULT_BROKER_CONFIG) if set and the broker config's default
// (DEFAULT_CONFIG), else the topic config's default. own are the topic's
// configs, cluster the cluster-wide broker configs (View.BrokerConfigs).
func topicConfigSynonyms(name string, own, cluster map[string]string) []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym {
	var out []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
	if v, ok := own[name]; ok {
		out = append(out, synonym(name, &v, kmsg.ConfigSourceDynamicTopicConfig))
	}
	def, _, _ := partition.TopicConfigDefault(name)
	b, ok := partition.BrokerSynonym(name)
	if !ok {
		return append(out, synonym(name, &def, kmsg.ConfigSourceDefaultConfig))
	}
	if v, ok := cluster[b]; ok {
		out = append(out, synonym(b, &v, kmsg.ConfigSourceDynamicDefaultBrokerConfig))
	}
	return append(out, synonym(b, &def, kmsg.ConfigSourceDefaultConfig))
}
