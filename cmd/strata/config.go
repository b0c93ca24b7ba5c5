package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/metadata"
)

// Config is the configuration of `strata serve`: the broker's own
// options (broker.Config, whose defaults each package that owns an option
// declares) and those of the process around it. Every option is a flag, a
// STRATA_* environment variable (EnvName) and a YAML key named like the
// flag, bound to its field by options; docs/configuration.md lists them
// all, and a test keeps the two in step.
type Config struct {
	// Config is what broker.Start takes. Its Logger, Registerer and Bucket
	// are not options: serve sets the first two (BrokerConfig).
	broker.Config

	HTTPListen string // /metrics, /healthz, /readyz and, with Pprof, pprof; empty = off
	Pprof      bool   // serve /debug/pprof/ on HTTPListen
	HTTPTLS    bool   // serve HTTPListen over TLS with Security's certificate
	LogLevel   string
	LogFormat  string

	// ConfigFile is the YAML file that was read. It is a flag and an
	// environment variable, but not a YAML key.
	ConfigFile string
}

// Defaults of the options that belong to the process rather than to the
// broker.
const (
	DefaultHTTPListen = "127.0.0.1:9644"
	DefaultLogLevel   = "info"
	DefaultLogFormat  = "text"
)

// DefaultConfig is a single-node broker on localhost with embedded etcd and
// a filesystem object store under ./strata-data (broker.DefaultConfig).
func DefaultConfig() Config {
	return Config{
		Config:     broker.DefaultConfig(),
		HTTPListen: DefaultHTTPListen,
		LogLevel:   DefaultLogLevel,
		LogFormat:  DefaultLogFormat,
	}
}

// option is one setting of serve: the flag, the STRATA_* variable and the
// YAML key called name, which all set the field ptr points to. ptr is a
// *string, *bool, *int32, *time.Duration, *ByteSize, *List or *intValue;
// YAML decodes into it as it is, the command line and the environment
// through flagValue.
type option struct {
	name  string
	ptr   any
	usage string
}

// options binds every option but --config to its field of c. Back-quoted
// words in the usage name the flag's argument in --help.
func (c *Config) options() []option {
	b := &c.Config
	return []option{
		{"data-dir", &b.DataDir, "`dir` for the WAL, the broker id, embedded etcd and the default object store"},
		{"listen", &b.Listen, "Kafka listener `host:port`, PLAINTEXT; ignored when --listeners is set"},
		{"advertised-addr", &b.AdvertisedAddr, "`host:port` clients are told to connect to; empty = --listen"},
		{"http-listen", &c.HTTPListen, "`host:port` for /metrics, /healthz, /readyz and, with --pprof, /debug/pprof/; empty = off"},
		{"etcd-endpoints", (*List)(&b.EtcdEndpoints), "comma-separated etcd `endpoints`; empty = embedded etcd in the data dir"},
		{"etcd-ca-file", &b.EtcdCAFile, "PEM `file` of the CAs etcd's certificate must chain to; any --etcd-*-file turns TLS towards etcd on"},
		{"etcd-cert-file", &b.EtcdCertFile, "PEM client certificate `file` for etcd (when etcd runs with --client-cert-auth)"},
		{"etcd-key-file", &b.EtcdKeyFile, "PEM private key `file` of --etcd-cert-file"},
		{"etcd-username", &b.EtcdUsername, "etcd `user` (etcd's own authentication); empty = none"},
		{"etcd-password", &b.EtcdPassword, "`password` of --etcd-username; prefer STRATA_ETCD_PASSWORD or the YAML file to the command line"},
		{"object-store", &b.ObjectStore, "object store `url`, file:///path or s3://bucket?endpoint=host:port; empty = file://<data-dir>/objects"},
		{"broker-id", &b.BrokerID, "broker `id`; 0 = allocated through etcd and kept in the data dir"},
		{"rack", &b.Rack, "`rack` reported to clients in Metadata"},
		{"default-partitions", &b.DefaultPartitions, "partition `count` of auto-created topics"},
		{"auto-create-topics", &b.AutoCreateTopics, "create unknown topics on Metadata and Produce (Kafka's auto.create.topics.enable)"},
		{"seal-bytes", (*ByteSize)(&b.SealBytes), "seal the open WAL segment and upload it at this `size` (bytes, KiB, MiB, GiB)"},
		{"seal-interval", &b.SealInterval, "seal the open WAL segment at this `age` even if smaller than --seal-bytes"},
		{"max-put-rate", &b.MaxPutRate, "segment PUTs per second (`rate`) the broker may spend sealing the WAL early for an acks=all produce or a fetch waiting for the next commit; 0 = seal only at --seal-bytes or --seal-interval"},
		{"wal-max-bytes", (*ByteSize)(&b.WALMaxBytes), "`size` the WAL may hold before produces wait for uploads to free room (backpressure)"},
		{"session-ttl", &b.SessionTTL, "etcd lease `TTL`, a duration of whole seconds such as 10s; a dead broker's partitions move after this"},
		{"max-request-bytes", (*ByteSize)(&b.MaxRequestBytes), "largest request `size` accepted (Kafka's socket.request.max.bytes)"},
		{"max-connections", (*intValue)(&b.MaxConnections), "`count` of client connections open at once; more are closed right after accept (Kafka's max.connections); 0 = the open-file limit less a reserve, -1 = unlimited"},
		{"max-connections-per-ip", (*intValue)(&b.MaxConnectionsPerIP), "`count` of client connections open at once from one IP address (Kafka's max.connections.per.ip); 0 = unlimited"},
		{"connections-max-idle", &b.ConnectionsMaxIdle, "close a client connection with no request for this `duration` (Kafka's connections.max.idle.ms)"},
		{"queued-max-request-bytes", (*ByteSize)(&b.QueuedMaxRequestBytes), "`size` of the requests being read or handled at once, all connections together; past it, connections wait before reading more (Kafka's queued.max.request.bytes)"},
		{"cache-bytes", (*ByteSize)(&b.CacheBytes), "`size` of the in-memory cache of object ranges"},
		{"disk-cache-bytes", (*ByteSize)(&b.DiskCacheBytes), "`size` of the on-disk cache of object ranges under <data-dir>/cache; 0 = off"},
		{"read-ahead-bytes", (*ByteSize)(&b.ReadAheadBytes), "`size` of object ranges prefetched per partition ahead of a consumer reading from the object store; 0 = off"},
		{"compaction-interval", &b.CompactionInterval, "how often each broker merges the small ranges of the partitions it leads into objects of up to segment.bytes (`interval`)"},
		{"compaction-min-age", &b.CompactionMinAge, "how long after its commit a range may be merged (`duration`)"},
		{"gc-interval", &b.GCInterval, "how often the controller deletes objects no manifest references (`interval`)"},
		{"gc-grace", &b.GCGrace, "how long an object must stay unreferenced before it is deleted (`duration`); at least twice --session-ttl"},
		{"retention-check-interval", &b.RetentionCheckInterval, "how often each broker applies retention.ms and retention.bytes to the partitions it leads (`interval`)"},
		{"offsets-topic-partitions", &b.OffsetsPartitions, "consumer-group coordinator shards (partitions of __consumer_offsets), `count` fixed when the cluster is created"},
		{"transaction-version", &b.TransactionVersion, "transaction protocol `version` the brokers finalize in ApiVersions (Kafka's transaction.version feature): 2 = KIP-890 part 2 (Produce v12 adds partitions, EndTxn v5 bumps the epoch), 1 = AddPartitionsToTxn only, as before"},
		{"transaction-max-timeout", &b.MaxTxnTimeout, "longest transaction timeout a transactional producer may ask for; a longer one gets INVALID_TRANSACTION_TIMEOUT (Kafka's transaction.max.timeout.ms, `duration`)"},
		{"listeners", &b.Security.Listeners, "Kafka's listeners: comma-separated `NAME://host:port`, each NAME a protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL) or mapped to one by --listener-security-protocol-map; empty = one PLAINTEXT listener on --listen"},
		{"advertised-listeners", &b.Security.AdvertisedListeners, "Kafka's advertised.listeners: comma-separated `NAME://host:port` that Metadata returns to clients of each listener; a listener not named advertises --advertised-addr (if it is the only one) or its own address"},
		{"listener-security-protocol-map", &b.Security.ProtocolMap, "Kafka's listener.security.protocol.map: comma-separated `NAME:PROTOCOL`; empty = listener names are protocols"},
		{"tls-cert-file", &b.Security.TLSCertFile, "PEM certificate (chain) `file` of the SSL and SASL_SSL listeners; reloaded when it changes"},
		{"tls-key-file", &b.Security.TLSKeyFile, "PEM private key `file` of --tls-cert-file"},
		{"tls-client-ca-file", &b.Security.TLSClientCAFile, "PEM `file` of the CAs client certificates must chain to (mutual TLS); a client certificate's subject is its principal (User:CN=…)"},
		{"tls-client-auth", &b.Security.TLSClientAuth, "client certificates (Kafka's ssl.client.auth): none, requested or required; empty = required with --tls-client-ca-file, else none (`mode`)"},
		{"sasl-enabled-mechanisms", (*List)(&b.Security.SASLMechanisms), "comma-separated SASL `mechanisms` of SASL listeners: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; empty = all three"},
		{"sasl-bootstrap-users", &b.Security.SASLBootstrapUsers, "`file` of user:password lines; at start each user gets SCRAM-SHA-256 and SCRAM-SHA-512 credentials in etcd unless it has them (passwords are never stored)"},
		{"connections-max-reauth", &b.Security.ConnectionsMaxReauth, "how long a SASL authentication lasts before the client must authenticate again on its connection (Kafka's connections.max.reauth.ms, KIP-368); 0 = the connection's life (`duration`)"},
		{"authorizer", &b.Security.Authorizer, "check every request against the ACLs (CreateAcls, kafka-acls); off = everyone may do everything, as in Kafka without an authorizer"},
		{"super-users", (*SemicolonList)(&b.Security.SuperUsers), "semicolon-separated `principals` the authorizer always allows, such as User:admin;User:CN=ops,O=corp (Kafka's super.users)"},
		{"allow-everyone-if-no-acl-found", &b.Security.AllowEveryoneIfNoACLFound, "with --authorizer, allow a request on a resource that no ACL names (Kafka's allow.everyone.if.no.acl.found)"},
		{"http-tls", &c.HTTPTLS, "serve --http-listen over TLS with --tls-cert-file and --tls-key-file"},
		{"pprof", &c.Pprof, "serve /debug/pprof/ on --http-listen (profiles reveal internals: keep the port private)"},
		{"log-level", &c.LogLevel, "log `level`: debug, info, warn or error"},
		{"log-format", &c.LogFormat, "log `format` on stderr: text or json"},
	}
}

// RegisterFlags registers one flag per option, with c's current values as
// the defaults, and --config.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	for _, o := range c.options() {
		fs.Var(flagValue(o.ptr), o.name, o.usage)
	}
	fs.StringVar(&c.ConfigFile, "config", c.ConfigFile, "YAML `file` whose keys are these flags' names")
}

// EnvName is the environment variable of a flag: STRATA_ and the name in
// upper case with dashes as underscores (data-dir → STRATA_DATA_DIR).
func EnvName(flagName string) string {
	return "STRATA_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// newServeFlags is the FlagSet of `strata serve`, bound to c. It prints
// nothing: the caller reports errors on one line and help on stdout.
func newServeFlags(c *Config) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	c.RegisterFlags(fs)
	return fs
}

// usageError is a command-line mistake; strata exits with 2 for it, like the
// flag package.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// loadConfig builds the configuration from defaults, the YAML file, the
// environment (in os.Environ's form) and the command line, each overriding
// the one before. It returns flag.ErrHelp for -h/--help and a usageError
// for a bad command line.
func loadConfig(args, environ []string) (Config, error) {
	// The command line is parsed first on its own, to fail fast on flag
	// errors and to learn --config; it is applied again last, so it wins.
	probe := DefaultConfig()
	fs := newServeFlags(&probe)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{}, err
		}
		return Config{}, usageError{err}
	}
	if fs.NArg() > 0 {
		return Config{}, usageError{fmt.Errorf("unexpected argument %q (serve takes only flags)", fs.Arg(0))}
	}
	env := envMap(environ)
	file := env[EnvName("config")]
	if isSet(fs, "config") {
		file = probe.ConfigFile
	}

	cfg := DefaultConfig()
	if file != "" {
		if err := cfg.LoadYAML(file); err != nil {
			return Config{}, err
		}
	}
	fs = newServeFlags(&cfg)
	if err := applyEnv(fs, env); err != nil {
		return Config{}, err
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, usageError{err}
	}
	cfg.ConfigFile = file
	fs.Visit(func(f *flag.Flag) { cfg.markSet(f.Name) }) // the environment's too: applyEnv sets them through fs
	return cfg, nil
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func envMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// applyEnv sets every flag whose STRATA_* variable is set and not empty
// (an empty variable counts as unset, as container tooling often exports
// empty ones).
func applyEnv(fs *flag.FlagSet, env map[string]string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		v := env[EnvName(f.Name)]
		if err != nil || v == "" {
			return
		}
		if e := fs.Set(f.Name, v); e != nil {
			err = fmt.Errorf("invalid value %q for %s: %v", v, EnvName(f.Name), e)
		}
	})
	return err
}

// unknownEnv lists STRATA_* variables that name no flag (typos, usually).
func unknownEnv(fs *flag.FlagSet, environ []string) []string {
	known := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { known[EnvName(f.Name)] = true })
	var unknown []string
	for k := range envMap(environ) {
		if strings.HasPrefix(k, "STRATA_") && !known[k] {
			unknown = append(unknown, k)
		}
	}
	return unknown
}

// LoadYAML reads a YAML file over c. Keys are the flag names; an unknown or
// repeated key is an error, and so is a key without a value.
func (c *Config) LoadYAML(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	return c.decodeYAML(file, data)
}

func (c *Config) decodeYAML(name string, data []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := oneLine(strings.TrimPrefix(err.Error(), "yaml: "))
		if rest, ok := strings.CutPrefix(msg, "line "); ok {
			if line, after, ok := strings.Cut(rest, ": "); ok {
				return fmt.Errorf("%s:%s: %s", name, line, after)
			}
		}
		return fmt.Errorf("%s: %s", name, msg)
	}
	if len(doc.Content) == 0 {
		return nil // empty file
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil // only comments
	}
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("%s:%d: want a mapping of option names to values", name, root.Line)
	}
	fields := c.yamlFields()
	seen := map[string]int{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		field, ok := fields[k.Value]
		switch {
		case !ok:
			hint := ""
			if alt := strings.ReplaceAll(k.Value, "_", "-"); fields[alt] != nil {
				hint = fmt.Sprintf(" (did you mean %q?)", alt)
			} else if k.Value == "config" {
				hint = " (a config file cannot name another)"
			}
			return fmt.Errorf("%s:%d: unknown key %q%s", name, k.Line, k.Value, hint)
		case seen[k.Value] != 0:
			return fmt.Errorf("%s:%d: key %q repeated (first on line %d)", name, k.Line, k.Value, seen[k.Value])
		case v.Tag == "!!null":
			return fmt.Errorf("%s:%d: key %q has no value (write \"\" for empty)", name, k.Line, k.Value)
		}
		seen[k.Value] = k.Line
		c.markSet(k.Value)
		if err := v.Decode(field); err != nil {
			return fmt.Errorf("%s:%d: %s: %s", name, v.Line, k.Value, yamlErrorText(err))
		}
	}
	return nil
}

// markSet records that the option name was set (broker.Config.SetOptions).
func (c *Config) markSet(name string) {
	if c.SetOptions == nil {
		c.SetOptions = map[string]bool{}
	}
	c.SetOptions[name] = true
}

// yamlFields maps each YAML key to the field it decodes into.
func (c *Config) yamlFields() map[string]any {
	m := map[string]any{}
	for _, o := range c.options() {
		m[o.name] = o.ptr
	}
	return m
}

// yamlErrorText drops yaml's "line N:" prefixes (the caller has the line)
// and joins multiple messages on one line.
func yamlErrorText(err error) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return oneLine(strings.TrimPrefix(err.Error(), "yaml: "))
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		if rest, ok := strings.CutPrefix(m, "line "); ok {
			if _, after, ok := strings.Cut(rest, ": "); ok {
				m = after
			}
		}
		msgs[i] = m
	}
	return strings.Join(msgs, "; ")
}

// oneLine folds a multi-line message (errors.Join, yaml) onto one line.
func oneLine(s string) string {
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, "; ")
}

// ValidationError lists every bad value of a Config, one sentence each.
type ValidationError struct {
	Problems []string
}

func (e *ValidationError) Error() string { return strings.Join(e.Problems, "; ") }

// Validate checks every value and explains each bad one in one sentence
// naming the flag, what it must be and what it got. It is the one check of
// the options: broker.Start applies defaults but does not check them again,
// and a rule a component owns is asked of the component (the lease TTL's,
// metadata.CheckSessionTTL, which metadata.New applies too).
func (c *Config) Validate() error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if strings.TrimSpace(c.DataDir) == "" {
		bad("--data-dir must not be empty")
	}
	listenHost, listenErr := splitHostPort(c.Listen, 0)
	if listenErr != nil {
		bad("--listen must be host:port, got %q (%v)", c.Listen, listenErr)
	}
	switch {
	case c.AdvertisedAddr != "":
		if host, err := splitHostPort(c.AdvertisedAddr, 1); err != nil {
			bad("--advertised-addr must be host:port, got %q (%v)", c.AdvertisedAddr, err)
		} else if unspecified(host) {
			bad("--advertised-addr must name a host clients can reach, got %q", c.AdvertisedAddr)
		}
	case listenErr == nil && unspecified(listenHost) && c.Security.Listeners == "":
		bad("--advertised-addr is required when --listen (%q) names no specific host, since clients cannot connect to that", c.Listen)
	}
	if c.HTTPListen != "" {
		if _, err := splitHostPort(c.HTTPListen, 0); err != nil {
			bad("--http-listen must be host:port or empty, got %q (%v)", c.HTTPListen, err)
		} else if c.HTTPListen == c.Listen && !strings.HasSuffix(c.Listen, ":0") {
			bad("--http-listen must differ from --listen, both are %q", c.Listen)
		}
	}
	if len(c.EtcdEndpoints) == 0 && (c.EtcdCAFile != "" || c.EtcdCertFile != "" || c.EtcdKeyFile != "" || c.EtcdUsername != "") {
		bad("--etcd-ca-file, --etcd-cert-file, --etcd-key-file and --etcd-username are for --etcd-endpoints; the embedded etcd listens on loopback only")
	}
	if (c.EtcdCertFile == "") != (c.EtcdKeyFile == "") {
		bad("--etcd-cert-file and --etcd-key-file go together")
	}
	if (c.EtcdUsername == "") != (c.EtcdPassword == "") {
		bad("--etcd-username and --etcd-password go together")
	}
	if c.HTTPTLS && (c.Security.TLSCertFile == "" || c.Security.TLSKeyFile == "") {
		bad("--http-tls needs --tls-cert-file and --tls-key-file")
	}
	for _, e := range c.EtcdEndpoints {
		if err := checkEtcdEndpoint(e); err != nil {
			bad("--etcd-endpoints entry %q must be host:port or http(s)://host:port (%v)", e, err)
		}
	}
	if c.ObjectStore != "" {
		if msg := checkObjectStore(c.ObjectStore); msg != "" {
			bad("%s", msg)
		}
	}
	if err := c.Security.Validate(c.Listen); err != nil {
		var se *broker.SecurityError
		if errors.As(err, &se) {
			problems = append(problems, se.Problems...)
		} else {
			bad("%v", err)
		}
	}
	if c.BrokerID < 0 {
		bad("--broker-id must be 0 (allocate) or positive, got %d", c.BrokerID)
	}
	if c.DefaultPartitions < 1 {
		bad("--default-partitions must be at least 1, got %d", c.DefaultPartitions)
	}
	if c.SealBytes < int64(KiB) {
		bad("--seal-bytes must be at least 1KiB, got %s", ByteSize(c.SealBytes))
	}
	if c.SealInterval < time.Millisecond {
		bad("--seal-interval must be at least 1ms, got %s", c.SealInterval)
	}
	if c.MaxPutRate < 0 {
		bad("--max-put-rate must be 0 (no early seals) or positive, got %d", c.MaxPutRate)
	}
	var ttlErr *metadata.SessionTTLError
	if errors.As(metadata.CheckSessionTTL(c.SessionTTL), &ttlErr) {
		bad("--session-ttl %s, got %s", ttlErr.Reason, c.SessionTTL)
	}
	if c.WALMaxBytes < 2*c.SealBytes {
		bad("--wal-max-bytes must be at least twice --seal-bytes (%s), got %s", ByteSize(c.SealBytes), ByteSize(c.WALMaxBytes))
	}
	if c.MaxRequestBytes < int64(KiB) || c.MaxRequestBytes > math.MaxInt32 {
		bad("--max-request-bytes must be between 1KiB and %d, got %s", math.MaxInt32, ByteSize(c.MaxRequestBytes))
	}
	if c.CacheBytes < int64(KiB) {
		bad("--cache-bytes must be at least 1KiB, got %s", ByteSize(c.CacheBytes))
	}
	if c.MaxConnections < -1 {
		bad("--max-connections must be -1 (unlimited), 0 (from the open-file limit) or positive, got %d", c.MaxConnections)
	}
	if c.MaxConnectionsPerIP < 0 {
		bad("--max-connections-per-ip must be 0 (unlimited) or positive, got %d", c.MaxConnectionsPerIP)
	}
	if c.ConnectionsMaxIdle < time.Second {
		bad("--connections-max-idle must be at least 1s, got %s", c.ConnectionsMaxIdle)
	}
	if c.QueuedMaxRequestBytes < int64(MiB) {
		bad("--queued-max-request-bytes must be at least 1MiB, got %s", ByteSize(c.QueuedMaxRequestBytes))
	}
	if c.CompactionInterval < 100*time.Millisecond {
		bad("--compaction-interval must be at least 100ms, got %s", c.CompactionInterval)
	}
	if c.CompactionMinAge < 0 {
		bad("--compaction-min-age must not be negative, got %s", c.CompactionMinAge)
	}
	if c.DiskCacheBytes != 0 && c.DiskCacheBytes < int64(MiB) {
		bad("--disk-cache-bytes must be 0 (off) or at least 1MiB, got %s", ByteSize(c.DiskCacheBytes))
	}
	if c.ReadAheadBytes > int64(GiB) {
		bad("--read-ahead-bytes must be at most 1GiB, got %s", ByteSize(c.ReadAheadBytes))
	}
	if c.GCInterval < 100*time.Millisecond {
		bad("--gc-interval must be at least 100ms, got %s", c.GCInterval)
	}
	if c.GCGrace < 2*c.SessionTTL {
		bad("--gc-grace must be at least twice --session-ttl (%s), so that an upload whose commit is in flight is never collected; got %s", c.SessionTTL, c.GCGrace)
	}
	if c.RetentionCheckInterval < 100*time.Millisecond {
		bad("--retention-check-interval must be at least 100ms, got %s", c.RetentionCheckInterval)
	}
	if c.OffsetsPartitions < 1 || c.OffsetsPartitions > 1000 {
		bad("--offsets-topic-partitions must be between 1 and 1000, got %d", c.OffsetsPartitions)
	}
	if c.TransactionVersion < 1 || c.TransactionVersion > 2 {
		bad("--transaction-version must be 1 or 2, got %d", c.TransactionVersion)
	}
	if c.MaxTxnTimeout < time.Millisecond {
		bad("--transaction-max-timeout must be at least 1ms, got %s", c.MaxTxnTimeout)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		bad("--log-level must be debug, info, warn or error, got %q", c.LogLevel)
	}
	if f := strings.ToLower(c.LogFormat); f != "text" && f != "json" {
		bad("--log-format must be text or json, got %q", c.LogFormat)
	}
	if len(problems) > 0 {
		return &ValidationError{Problems: problems}
	}
	return nil
}

// splitHostPort checks host:port with a numeric port of at least minPort
// and returns the host.
func splitHostPort(addr string, minPort int) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return "", errors.New(ae.Err)
		}
		return "", err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < minPort || p > 65535 {
		return "", fmt.Errorf("port must be a number from %d to 65535", minPort)
	}
	return host, nil
}

// unspecified reports whether host means "every interface" and so cannot be
// given to clients.
func unspecified(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

func checkEtcdEndpoint(e string) error {
	if !strings.Contains(e, "://") {
		_, err := splitHostPort(e, 1)
		return err
	}
	u, err := url.Parse(e)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("scheme %q", u.Scheme)
	}
	_, err = splitHostPort(u.Host, 1)
	return err
}

// redacted is c as it may be logged: the etcd password replaced and the
// object store URL's password hidden (url.URL.Redacted).
func (c Config) redacted() Config {
	if c.EtcdPassword != "" {
		c.EtcdPassword = "xxxxx"
	}
	if u, err := url.Parse(c.ObjectStore); err == nil {
		c.ObjectStore = u.Redacted()
	}
	return c
}

// checkObjectStore returns a sentence about a bad --object-store URL, or "".
func checkObjectStore(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Sprintf("--object-store must be a file:// or s3:// URL, got %q", raw)
	}
	shown := u.Redacted()
	switch u.Scheme {
	case "file":
		if (u.Host != "" && u.Host != "localhost") || !path.IsAbs(u.Path) {
			return fmt.Sprintf("--object-store file URL must have an absolute path (file:///var/lib/strata/objects), got %q", shown)
		}
	case "s3":
		if u.Host == "" {
			return fmt.Sprintf("--object-store s3 URL must name a bucket (s3://BUCKET?endpoint=HOST:PORT), got %q", shown)
		}
	default:
		return fmt.Sprintf("--object-store must be a file:// or s3:// URL, got %q", shown)
	}
	return ""
}

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q", s)
}

// BrokerConfig is the broker.Config of a validated Config, with the logger
// and registerer to use and broker.Config.EnsureDefaults applied: the data
// directory made absolute and the default object store spelled out.
func (c *Config) BrokerConfig(logger *slog.Logger, reg prometheus.Registerer) (broker.Config, error) {
	bc := c.Config
	bc.EtcdEndpoints = slices.Clone(bc.EtcdEndpoints)
	bc.SetOptions = maps.Clone(bc.SetOptions)
	bc.Logger, bc.Registerer = logger, reg
	if err := bc.EnsureDefaults(); err != nil {
		return broker.Config{}, err // names the data directory
	}
	return bc, nil
}
