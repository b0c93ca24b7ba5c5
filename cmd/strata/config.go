package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/strata-io/strata/broker"
)

// Config is the configuration of `strata serve`. Every field is a flag, a
// STRATA_* environment variable (EnvName) and a YAML key named like the flag;
// docs/configuration.md lists them all, and a test keeps the two in step.
type Config struct {
	DataDir           string        `yaml:"data-dir"`
	Listen            string        `yaml:"listen"`
	AdvertisedAddr    string        `yaml:"advertised-addr"`
	HTTPListen        string        `yaml:"http-listen"`
	EtcdEndpoints     List          `yaml:"etcd-endpoints"`
	ObjectStore       string        `yaml:"object-store"`
	BrokerID          int32         `yaml:"broker-id"`
	Rack              string        `yaml:"rack"`
	DefaultPartitions int32         `yaml:"default-partitions"`
	AutoCreateTopics  bool          `yaml:"auto-create-topics"`
	SealBytes         ByteSize      `yaml:"seal-bytes"`
	SealInterval      time.Duration `yaml:"seal-interval"`
	WALMaxBytes       ByteSize      `yaml:"wal-max-bytes"`
	SessionTTL        time.Duration `yaml:"session-ttl"`
	MaxRequestBytes   ByteSize      `yaml:"max-request-bytes"`
	MaxConnections    int32         `yaml:"max-connections"`
	MaxConnsPerIP     int32         `yaml:"max-connections-per-ip"`
	ConnMaxIdle       time.Duration `yaml:"connections-max-idle"`
	QueuedMaxRequest  ByteSize      `yaml:"queued-max-request-bytes"`
	CacheBytes        ByteSize      `yaml:"cache-bytes"`
	DiskCacheBytes    ByteSize      `yaml:"disk-cache-bytes"`
	ReadAheadBytes    ByteSize      `yaml:"read-ahead-bytes"`
	OffsetsPartitions int32         `yaml:"offsets-topic-partitions"`
	RetentionCheck    time.Duration `yaml:"retention-check-interval"`
	GCInterval        time.Duration `yaml:"gc-interval"`
	GCGrace           time.Duration `yaml:"gc-grace"`
	CompactionEvery   time.Duration `yaml:"compaction-interval"`
	CompactionMinAge  time.Duration `yaml:"compaction-min-age"`
	LogLevel          string        `yaml:"log-level"`
	LogFormat         string        `yaml:"log-format"`

	// ConfigFile is the YAML file that was read. It is a flag and an
	// environment variable, but not a YAML key.
	ConfigFile string `yaml:"-"`
}

// DefaultConfig is a single-node broker on localhost with embedded etcd and
// a filesystem object store under ./strata-data.
func DefaultConfig() Config {
	return Config{
		DataDir:           "./strata-data",
		Listen:            "127.0.0.1:9092",
		HTTPListen:        "127.0.0.1:9644",
		DefaultPartitions: 1,
		AutoCreateTopics:  true,
		SealBytes:         8 * MiB,
		SealInterval:      200 * time.Millisecond,
		WALMaxBytes:       GiB,
		SessionTTL:        10 * time.Second,
		MaxRequestBytes:   100 * MiB, // Kafka's socket.request.max.bytes
		ConnMaxIdle:       broker.DefaultConnectionsMaxIdle,
		QueuedMaxRequest:  broker.DefaultQueuedMaxRequestBytes,
		CacheBytes:        256 * MiB,
		DiskCacheBytes:    GiB,
		ReadAheadBytes:    8 * MiB,
		OffsetsPartitions: 50,              // Kafka's offsets.topic.num.partitions
		RetentionCheck:    5 * time.Minute, // Kafka's log.retention.check.interval.ms
		GCInterval:        5 * time.Minute,
		GCGrace:           time.Hour,
		CompactionEvery:   10 * time.Minute,
		CompactionMinAge:  10 * time.Minute,
		LogLevel:          "info",
		LogFormat:         "text",
	}
}

// RegisterFlags registers one flag per field, with c's current values as the
// defaults. Back-quoted words in the usage name the flag's argument in --help.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "`dir` for the WAL, the broker id, embedded etcd and the default object store")
	fs.StringVar(&c.Listen, "listen", c.Listen, "Kafka listener `host:port`")
	fs.StringVar(&c.AdvertisedAddr, "advertised-addr", c.AdvertisedAddr, "`host:port` clients are told to connect to; empty = --listen")
	fs.StringVar(&c.HTTPListen, "http-listen", c.HTTPListen, "`host:port` for /metrics, /healthz, /readyz and /debug/pprof/; empty = off")
	fs.Var(&c.EtcdEndpoints, "etcd-endpoints", "comma-separated etcd `endpoints`; empty = embedded etcd in the data dir")
	fs.StringVar(&c.ObjectStore, "object-store", c.ObjectStore, "object store `url`, file:///path or s3://bucket?endpoint=host:port; empty = file://<data-dir>/objects")
	fs.Var((*int32Value)(&c.BrokerID), "broker-id", "broker `id`; 0 = allocated through etcd and kept in the data dir")
	fs.StringVar(&c.Rack, "rack", c.Rack, "`rack` reported to clients in Metadata")
	fs.Var((*int32Value)(&c.DefaultPartitions), "default-partitions", "partition `count` of auto-created topics")
	fs.Var((*boolValue)(&c.AutoCreateTopics), "auto-create-topics", "create unknown topics on Metadata and Produce (Kafka's auto.create.topics.enable)")
	fs.Var(&c.SealBytes, "seal-bytes", "seal the open WAL segment and upload it at this `size` (bytes, KiB, MiB, GiB)")
	fs.Var((*durationValue)(&c.SealInterval), "seal-interval", "seal the open WAL segment at this `age` even if smaller than --seal-bytes")
	fs.Var(&c.WALMaxBytes, "wal-max-bytes", "`size` the WAL may hold before produces wait for uploads to free room (backpressure)")
	fs.Var((*durationValue)(&c.SessionTTL), "session-ttl", "etcd lease `TTL`, a duration of whole seconds such as 10s; a dead broker's partitions move after this")
	fs.Var(&c.MaxRequestBytes, "max-request-bytes", "largest request `size` accepted (Kafka's socket.request.max.bytes)")
	fs.Var((*int32Value)(&c.MaxConnections), "max-connections", "`count` of client connections open at once; more are closed right after accept (Kafka's max.connections); 0 = the open-file limit less a reserve, -1 = unlimited")
	fs.Var((*int32Value)(&c.MaxConnsPerIP), "max-connections-per-ip", "`count` of client connections open at once from one IP address (Kafka's max.connections.per.ip); 0 = unlimited")
	fs.Var((*durationValue)(&c.ConnMaxIdle), "connections-max-idle", "close a client connection with no request for this `duration` (Kafka's connections.max.idle.ms)")
	fs.Var(&c.QueuedMaxRequest, "queued-max-request-bytes", "`size` of the requests being read or handled at once, all connections together; past it, connections wait before reading more (Kafka's queued.max.request.bytes)")
	fs.Var(&c.CacheBytes, "cache-bytes", "`size` of the in-memory cache of object ranges")
	fs.Var(&c.DiskCacheBytes, "disk-cache-bytes", "`size` of the on-disk cache of object ranges under <data-dir>/cache; 0 = off")
	fs.Var(&c.ReadAheadBytes, "read-ahead-bytes", "`size` of object ranges prefetched per partition ahead of a consumer reading from the object store; 0 = off")
	fs.Var((*durationValue)(&c.CompactionEvery), "compaction-interval", "how often each broker merges the small ranges of the partitions it leads into objects of up to segment.bytes (`interval`)")
	fs.Var((*durationValue)(&c.CompactionMinAge), "compaction-min-age", "how long after its commit a range may be merged (`duration`)")
	fs.Var((*durationValue)(&c.GCInterval), "gc-interval", "how often the controller deletes objects no manifest references (`interval`)")
	fs.Var((*durationValue)(&c.GCGrace), "gc-grace", "how long an object must stay unreferenced before it is deleted (`duration`); at least twice --session-ttl")
	fs.Var((*durationValue)(&c.RetentionCheck), "retention-check-interval", "how often each broker applies retention.ms and retention.bytes to the partitions it leads (`interval`)")
	fs.Var((*int32Value)(&c.OffsetsPartitions), "offsets-topic-partitions", "consumer-group coordinator shards (partitions of __consumer_offsets), `count` fixed when the cluster is created")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log `level`: debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log `format` on stderr: text or json")
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
			if alt := strings.ReplaceAll(k.Value, "_", "-"); fields[alt].IsValid() {
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
		if err := v.Decode(field.Addr().Interface()); err != nil {
			return fmt.Errorf("%s:%d: %s: %s", name, v.Line, k.Value, yamlErrorText(err))
		}
	}
	return nil
}

// yamlFields maps each YAML key to its field in c.
func (c *Config) yamlFields() map[string]reflect.Value {
	v := reflect.ValueOf(c).Elem()
	m := map[string]reflect.Value{}
	for i := range v.NumField() {
		key, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
		if key != "" && key != "-" {
			m[key] = v.Field(i)
		}
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
// naming the flag, what it must be and what it got.
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
	case listenErr == nil && unspecified(listenHost):
		bad("--advertised-addr is required when --listen (%q) names no specific host, since clients cannot connect to that", c.Listen)
	}
	if c.HTTPListen != "" {
		if _, err := splitHostPort(c.HTTPListen, 0); err != nil {
			bad("--http-listen must be host:port or empty, got %q (%v)", c.HTTPListen, err)
		} else if c.HTTPListen == c.Listen && !strings.HasSuffix(c.Listen, ":0") {
			bad("--http-listen must differ from --listen, both are %q", c.Listen)
		}
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
	if c.BrokerID < 0 {
		bad("--broker-id must be 0 (allocate) or positive, got %d", c.BrokerID)
	}
	if c.DefaultPartitions < 1 {
		bad("--default-partitions must be at least 1, got %d", c.DefaultPartitions)
	}
	if c.SealBytes < KiB {
		bad("--seal-bytes must be at least 1KiB, got %s", c.SealBytes)
	}
	if c.SealInterval < time.Millisecond {
		bad("--seal-interval must be at least 1ms, got %s", c.SealInterval)
	}
	switch {
	case c.SessionTTL < time.Second:
		bad("--session-ttl must be at least 1s, got %s", c.SessionTTL)
	case c.SessionTTL%time.Second != 0:
		bad("--session-ttl must be a whole number of seconds (etcd leases count seconds), got %s", c.SessionTTL)
	}
	if c.WALMaxBytes < 2*c.SealBytes {
		bad("--wal-max-bytes must be at least twice --seal-bytes (%s), got %s", c.SealBytes, c.WALMaxBytes)
	}
	if c.MaxRequestBytes < KiB || c.MaxRequestBytes > math.MaxInt32 {
		bad("--max-request-bytes must be between 1KiB and %d, got %s", math.MaxInt32, c.MaxRequestBytes)
	}
	if c.CacheBytes < KiB {
		bad("--cache-bytes must be at least 1KiB, got %s", c.CacheBytes)
	}
	if c.MaxConnections < -1 {
		bad("--max-connections must be -1 (unlimited), 0 (from the open-file limit) or positive, got %d", c.MaxConnections)
	}
	if c.MaxConnsPerIP < 0 {
		bad("--max-connections-per-ip must be 0 (unlimited) or positive, got %d", c.MaxConnsPerIP)
	}
	if c.ConnMaxIdle < time.Second {
		bad("--connections-max-idle must be at least 1s, got %s", c.ConnMaxIdle)
	}
	if c.QueuedMaxRequest < MiB {
		bad("--queued-max-request-bytes must be at least 1MiB, got %s", c.QueuedMaxRequest)
	}
	if c.CompactionEvery < 100*time.Millisecond {
		bad("--compaction-interval must be at least 100ms, got %s", c.CompactionEvery)
	}
	if c.CompactionMinAge < 0 {
		bad("--compaction-min-age must not be negative, got %s", c.CompactionMinAge)
	}
	if c.DiskCacheBytes != 0 && c.DiskCacheBytes < MiB {
		bad("--disk-cache-bytes must be 0 (off) or at least 1MiB, got %s", c.DiskCacheBytes)
	}
	if c.ReadAheadBytes > GiB {
		bad("--read-ahead-bytes must be at most 1GiB, got %s", c.ReadAheadBytes)
	}
	if c.GCInterval < 100*time.Millisecond {
		bad("--gc-interval must be at least 100ms, got %s", c.GCInterval)
	}
	if c.GCGrace < 2*c.SessionTTL {
		bad("--gc-grace must be at least twice --session-ttl (%s), so that an upload whose commit is in flight is never collected; got %s", c.SessionTTL, c.GCGrace)
	}
	if c.RetentionCheck < 100*time.Millisecond {
		bad("--retention-check-interval must be at least 100ms, got %s", c.RetentionCheck)
	}
	if c.OffsetsPartitions < 1 || c.OffsetsPartitions > 1000 {
		bad("--offsets-topic-partitions must be between 1 and 1000, got %d", c.OffsetsPartitions)
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

// BrokerConfig converts a validated Config for broker.Start, with the data
// directory made absolute and the default object store spelled out.
func (c *Config) BrokerConfig(logger *slog.Logger, reg prometheus.Registerer) (broker.Config, error) {
	dir, err := filepath.Abs(c.DataDir)
	if err != nil {
		return broker.Config{}, fmt.Errorf("--data-dir %q: %w", c.DataDir, err)
	}
	store := c.ObjectStore
	if store == "" {
		store = (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(dir, "objects"))}).String()
	}
	return broker.Config{
		DataDir:                dir,
		Listen:                 c.Listen,
		AdvertisedAddr:         c.AdvertisedAddr,
		EtcdEndpoints:          append([]string(nil), c.EtcdEndpoints...),
		ObjectStore:            store,
		BrokerID:               c.BrokerID,
		Rack:                   c.Rack,
		DefaultPartitions:      c.DefaultPartitions,
		AutoCreateTopics:       c.AutoCreateTopics,
		SealBytes:              int64(c.SealBytes),
		WALMaxBytes:            int64(c.WALMaxBytes),
		SealInterval:           c.SealInterval,
		SessionTTL:             c.SessionTTL,
		MaxRequestBytes:        int32(c.MaxRequestBytes),
		MaxConnections:         int(c.MaxConnections),
		MaxConnectionsPerIP:    int(c.MaxConnsPerIP),
		ConnectionsMaxIdle:     c.ConnMaxIdle,
		QueuedMaxRequestBytes:  int64(c.QueuedMaxRequest),
		CacheBytes:             int64(c.CacheBytes),
		DiskCacheBytes:         int64(c.DiskCacheBytes),
		ReadAheadBytes:         int64(c.ReadAheadBytes),
		OffsetsPartitions:      c.OffsetsPartitions,
		RetentionCheckInterval: c.RetentionCheck,
		GCInterval:             c.GCInterval,
		GCGrace:                c.GCGrace,
		CompactionInterval:     c.CompactionEvery,
		CompactionMinAge:       c.CompactionMinAge,
		Logger:                 logger,
		Registerer:             reg,
	}, nil
}
