package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/wal"
)

// writeFile writes content to a file in a fresh temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// flagNames lists the flags of serve, sorted.
func flagNames() []string {
	var names []string
	c := DefaultConfig()
	newServeFlags(&c).VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return names
}

func TestLoadConfigPrecedence(t *testing.T) {
	yamlFile := writeFile(t, "strata.yaml", `
data-dir: /from/yaml
seal-bytes: 16MiB
etcd-endpoints: [y1:2379, y2:2379]
auto-create-topics: false
session-ttl: 30s
rack: yaml-rack
`)
	otherYAML := writeFile(t, "other.yaml", "rack: other-rack\n")
	// fromYAML sets what yamlFile sets.
	fromYAML := func(c *Config) {
		c.ConfigFile = yamlFile
		c.DataDir = "/from/yaml"
		c.SealBytes = int64(16 * MiB)
		c.EtcdEndpoints = List{"y1:2379", "y2:2379"}
		c.AutoCreateTopics = false
		c.SessionTTL = 30 * time.Second
		c.Rack = "yaml-rack"
	}

	tests := []struct {
		name string
		args []string
		env  []string
		want func(*Config)
	}{
		{
			name: "defaults",
			want: func(*Config) {},
		},
		{
			name: "yaml over defaults",
			args: []string{"--config", yamlFile},
			want: fromYAML,
		},
		{
			name: "env over yaml",
			args: []string{"--config", yamlFile},
			env: []string{"STRATA_DATA_DIR=/from/env", "STRATA_SEAL_BYTES=1048576",
				"STRATA_ETCD_ENDPOINTS=e1:2379", "STRATA_AUTO_CREATE_TOPICS=true"},
			want: func(c *Config) {
				fromYAML(c)
				c.DataDir = "/from/env"
				c.SealBytes = int64(MiB)
				c.EtcdEndpoints = List{"e1:2379"} // replaced, not appended
				c.AutoCreateTopics = true
			},
		},
		{
			name: "flags over env over yaml",
			args: []string{"--config", yamlFile, "--data-dir=/from/flag", "--etcd-endpoints", "f1:2379,f2:2379",
				"--auto-create-topics=false", "-seal-bytes", "2MiB"},
			env: []string{"STRATA_DATA_DIR=/from/env", "STRATA_SEAL_BYTES=1MiB", "STRATA_RACK=env-rack",
				"STRATA_ETCD_ENDPOINTS=e1:2379", "STRATA_AUTO_CREATE_TOPICS=true"},
			want: func(c *Config) {
				fromYAML(c)
				c.DataDir = "/from/flag"
				c.SealBytes = int64(2 * MiB)
				c.EtcdEndpoints = List{"f1:2379", "f2:2379"}
				c.Rack = "env-rack"
			},
		},
		{
			name: "STRATA_CONFIG names the file",
			env:  []string{"STRATA_CONFIG=" + yamlFile},
			want: fromYAML,
		},
		{
			name: "--config over STRATA_CONFIG",
			args: []string{"--config=" + otherYAML},
			env:  []string{"STRATA_CONFIG=" + yamlFile},
			want: func(c *Config) {
				c.ConfigFile = otherYAML
				c.Rack = "other-rack"
			},
		},
		{
			name: "empty env var counts as unset",
			args: []string{"--config", yamlFile},
			env:  []string{"STRATA_DATA_DIR=", "STRATA_RACK="},
			want: fromYAML,
		},
		{
			name: "flag sets a value back to empty",
			args: []string{"--config", yamlFile, "--rack=", "--etcd-endpoints="},
			want: func(c *Config) {
				fromYAML(c)
				c.Rack = ""
				c.EtcdEndpoints = nil
			},
		},
		{
			name: "unrelated environment is ignored",
			env:  []string{"PATH=/bin", "DATA_DIR=/nope", "strata_data_dir=/nope"},
			want: func(*Config) {},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := loadConfig(tt.args, tt.env)
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			checkConfig(t, got, tt.want)
		})
	}
}

// layerSamples gives every flag three distinct valid values, for YAML, the
// environment and the command line. A new flag without samples fails
// TestEveryFlagLayers.
var layerSamples = map[string][3]string{
	"data-dir":                       {"/y", "/e", "/f"},
	"listen":                         {"127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"},
	"advertised-addr":                {"y:1", "e:2", "f:3"},
	"http-listen":                    {"127.0.0.1:4", "127.0.0.1:5", "127.0.0.1:6"},
	"etcd-endpoints":                 {"y:2379", "e:2379", "f:2379"},
	"object-store":                   {"file:///y", "s3://e", "file:///f"},
	"broker-id":                      {"1", "2", "3"},
	"rack":                           {"ry", "re", "rf"},
	"default-partitions":             {"4", "5", "6"},
	"auto-create-topics":             {"false", "true", "false"},
	"seal-bytes":                     {"1MiB", "2048", "3KiB"},
	"wal-max-bytes":                  {"1GiB", "2GiB", "3GiB"},
	"seal-interval":                  {"1s", "2s", "3s"},
	"max-put-rate":                   {"0", "50", "7"},
	"session-ttl":                    {"11s", "12s", "13s"},
	"max-request-bytes":              {"1MiB", "2MiB", "3MiB"},
	"max-connections":                {"-1", "100", "2000"},
	"max-connections-per-ip":         {"0", "10", "20"},
	"connections-max-idle":           {"1m0s", "30s", "9m0s"},
	"queued-max-request-bytes":       {"1MiB", "512MiB", "1GiB"},
	"cache-bytes":                    {"1GiB", "2GiB", "3GiB"},
	"disk-cache-bytes":               {"0", "2GiB", "3MiB"},
	"read-ahead-bytes":               {"0", "16MiB", "1MiB"},
	"offsets-topic-partitions":       {"10", "20", "30"},
	"transaction-max-timeout":        {"1m0s", "2m0s", "3m0s"},
	"transaction-version":            {"1", "2", "1"}, // only two valid values
	"retention-check-interval":       {"1s", "2s", "3s"},
	"gc-interval":                    {"1s", "2s", "3s"},
	"compaction-interval":            {"1s", "2s", "3s"},
	"compaction-min-age":             {"1s", "2s", "3s"},
	"gc-grace":                       {"1m0s", "2m0s", "3m0s"},
	"etcd-ca-file":                   {"/y/ca", "/e/ca", "/f/ca"},
	"etcd-cert-file":                 {"/y/c", "/e/c", "/f/c"},
	"etcd-key-file":                  {"/y/k", "/e/k", "/f/k"},
	"etcd-username":                  {"uy", "ue", "uf"},
	"etcd-password":                  {"py", "pe", "pf"},
	"http-tls":                       {"true", "false", "true"},
	"pprof":                          {"true", "false", "true"},
	"listeners":                      {"SSL://:1", "SASL_SSL://:2", "PLAINTEXT://:3"},
	"advertised-listeners":           {"SSL://y:1", "SASL_SSL://e:2", "PLAINTEXT://f:3"},
	"listener-security-protocol-map": {"A:SSL", "B:SASL_SSL", "C:PLAINTEXT"},
	"tls-cert-file":                  {"/y/crt", "/e/crt", "/f/crt"},
	"tls-key-file":                   {"/y/key", "/e/key", "/f/key"},
	"tls-client-ca-file":             {"/y/ca", "/e/ca", "/f/ca"},
	"tls-client-auth":                {"none", "requested", "required"},
	"sasl-enabled-mechanisms":        {"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512,PLAIN"},
	"sasl-bootstrap-users":           {"/y/u", "/e/u", "/f/u"},
	"connections-max-reauth":         {"1m0s", "2m0s", "3m0s"},
	"authorizer":                     {"true", "false", "true"},
	"super-users":                    {"User:y", "User:e;User:CN=x,O=y", "User:f"},
	"allow-everyone-if-no-acl-found": {"true", "false", "true"},
	"log-level":                      {"debug", "warn", "error"},
	"log-format":                     {"json", "text", "json"},
}

// TestEveryFlagLayers checks, for each flag, every combination of sources:
// the value comes from the highest of flag > env > YAML > default.
func TestEveryFlagLayers(t *testing.T) {
	for _, name := range flagNames() {
		if name == "config" {
			continue // selects the YAML file; covered by TestLoadConfigPrecedence
		}
		s, ok := layerSamples[name]
		if !ok {
			t.Errorf("--%s has no samples in layerSamples", name)
			continue
		}
		for mask := range 8 {
			useYAML, useEnv, useFlag := mask&1 != 0, mask&2 != 0, mask&4 != 0
			t.Run(fmt.Sprintf("%s/yaml=%v,env=%v,flag=%v", name, useYAML, useEnv, useFlag), func(t *testing.T) {
				var args, env []string
				def := DefaultConfig()
				want := newServeFlags(&def).Lookup(name).Value.String()
				if useYAML {
					args = append(args, "--config", writeFile(t, "c.yaml", name+": "+s[0]+"\n"))
					want = canonical(t, name, s[0])
				}
				if useEnv {
					env = append(env, EnvName(name)+"="+s[1])
					want = canonical(t, name, s[1])
				}
				if useFlag {
					args = append(args, "--"+name+"="+s[2])
					want = canonical(t, name, s[2])
				}
				cfg, err := loadConfig(args, env)
				if err != nil {
					t.Fatalf("loadConfig: %v", err)
				}
				if got := newServeFlags(&cfg).Lookup(name).Value.String(); got != want {
					t.Errorf("--%s = %q, want %q", name, got, want)
				}
			})
		}
	}
}

// canonical is how the flag prints value once set.
func canonical(t *testing.T, name, value string) string {
	t.Helper()
	c := DefaultConfig()
	fs := newServeFlags(&c)
	if err := fs.Set(name, value); err != nil {
		t.Fatalf("sample %q for --%s: %v", value, name, err)
	}
	return fs.Lookup(name).Value.String()
}

func TestEnvNames(t *testing.T) {
	for in, want := range map[string]string{
		"data-dir":          "STRATA_DATA_DIR",
		"listen":            "STRATA_LISTEN",
		"max-request-bytes": "STRATA_MAX_REQUEST_BYTES",
		"config":            "STRATA_CONFIG",
	} {
		if got := EnvName(in); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", in, got, want)
		}
	}
	valid := regexp.MustCompile(`^STRATA_[A-Z0-9]+(_[A-Z0-9]+)*$`)
	seen := map[string]string{}
	for _, name := range flagNames() {
		env := EnvName(name)
		if !valid.MatchString(env) {
			t.Errorf("--%s: env var %q is not a valid STRATA_* name", name, env)
		}
		if other, dup := seen[env]; dup {
			t.Errorf("--%s and --%s share env var %s", name, other, env)
		}
		seen[env] = name
	}
}

// TestYAMLKeysMatchFlags keeps the yaml tags and the flags in step: every
// flag but --config is a key, and every key is a flag.
func TestYAMLKeysMatchFlags(t *testing.T) {
	var c Config
	var keys []string
	for k := range c.yamlFields() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	flags := slices.DeleteFunc(flagNames(), func(n string) bool { return n == "config" })
	if !slices.Equal(keys, flags) {
		t.Errorf("YAML keys %v\n    flags %v", keys, flags)
	}
}

// TestDocsListEveryFlag reads docs/configuration.md and checks that its
// table has one row per flag with the right env var, YAML key and default,
// and no row for a flag that does not exist.
func TestDocsListEveryFlag(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Fatalf("read docs: %v", err)
	}
	type row struct{ env, key, def string }
	rows := map[string]row{}
	for line := range strings.SplitSeq(string(data), "\n") {
		if !strings.HasPrefix(line, "| `--") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 7 {
			t.Errorf("docs row has %d cells, want 5 columns: %s", len(cells)-2, line)
			continue
		}
		unquote := func(s string) string { return strings.Trim(strings.TrimSpace(s), "`") }
		name := strings.TrimPrefix(unquote(cells[1]), "--")
		rows[name] = row{env: unquote(cells[2]), key: unquote(cells[3]), def: unquote(cells[4])}
	}
	def := DefaultConfig()
	fs := newServeFlags(&def)
	fs.VisitAll(func(f *flag.Flag) {
		r, ok := rows[f.Name]
		if !ok {
			t.Errorf("docs/configuration.md has no row for --%s", f.Name)
			return
		}
		delete(rows, f.Name)
		if r.env != EnvName(f.Name) {
			t.Errorf("docs: --%s env var %q, want %q", f.Name, r.env, EnvName(f.Name))
		}
		wantKey := f.Name
		if f.Name == "config" {
			wantKey = "—"
		}
		if r.key != wantKey {
			t.Errorf("docs: --%s YAML key %q, want %q", f.Name, r.key, wantKey)
		}
		wantDef := f.DefValue
		if wantDef == "" {
			wantDef = "empty"
		}
		if r.def != wantDef {
			t.Errorf("docs: --%s default %q, want %q", f.Name, r.def, wantDef)
		}
	})
	for name := range rows {
		t.Errorf("docs/configuration.md documents --%s, which is not a flag", name)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   string // the whole message; "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"listen any host with advertised", func(c *Config) { c.Listen = ":9092"; c.AdvertisedAddr = "b1:9092" }, ""},
		{"free ports", func(c *Config) { c.Listen = "127.0.0.1:0"; c.HTTPListen = "127.0.0.1:0" }, ""},
		{"ipv6", func(c *Config) { c.Listen = "[::1]:9092"; c.AdvertisedAddr = "[::1]:9092" }, ""},
		{"http off", func(c *Config) { c.HTTPListen = "" }, ""},
		{"etcd endpoints", func(c *Config) { c.EtcdEndpoints = List{"e1:2379", "http://e2:2379", "https://e3:2379"} }, ""},
		{"s3 store", func(c *Config) { c.ObjectStore = "s3://bucket/prefix?endpoint=127.0.0.1:9000&insecure=true" }, ""},
		{"file store", func(c *Config) { c.ObjectStore = "file:///var/lib/strata/objects" }, ""},
		{"explicit broker id", func(c *Config) { c.BrokerID = 7 }, ""},
		{"upper-case level", func(c *Config) { c.LogLevel = "DEBUG"; c.LogFormat = "JSON" }, ""},

		{"listen ignored for listeners", func(c *Config) {
			c.Listen = "0.0.0.0:9092"
			c.Security.Listeners = "PLAINTEXT://127.0.0.1:9092"
		}, ""},
		{"secure listeners", func(c *Config) {
			c.Security.Listeners = "SASL_PLAINTEXT://127.0.0.1:9093,PLAINTEXT://127.0.0.1:9092"
			c.Security.Authorizer, c.Security.SuperUsers = true, []string{"User:admin", "User:CN=ops,O=corp"}
		}, ""},

		{"empty data dir", func(c *Config) { c.DataDir = " " }, "--data-dir must not be empty"},
		{"unknown protocol", func(c *Config) { c.Security.Listeners = "TLS://127.0.0.1:9093" },
			`--listeners: broker: bad listener: listeners entry "TLS://127.0.0.1:9093": unknown security protocol TLS; want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, or map other names to one in listener.security.protocol.map`},
		{"TLS listener without a certificate", func(c *Config) { c.Security.Listeners = "SSL://127.0.0.1:9093" },
			"--tls-cert-file and --tls-key-file are required by SSL and SASL_SSL listeners"},
		{"client auth without a CA", func(c *Config) { c.Security.TLSClientAuth = "required" },
			"--tls-client-auth required needs --tls-client-ca-file"},
		{"bad client auth", func(c *Config) { c.Security.TLSClientAuth = "maybe" },
			`--tls-client-auth must be none, requested or required, got "maybe"`},
		{"unknown mechanism", func(c *Config) { c.Security.SASLMechanisms = []string{"GSSAPI"} },
			`--sasl-enabled-mechanisms: "GSSAPI" is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`},
		{"bootstrap users without SASL", func(c *Config) { c.Security.SASLBootstrapUsers = "/etc/strata/users" },
			"--sasl-bootstrap-users needs a SASL_PLAINTEXT or SASL_SSL listener in --listeners"},
		{"super user without a type", func(c *Config) { c.Security.SuperUsers = []string{"admin"} },
			`--super-users entry "admin" must be a principal such as User:admin`},
		{"etcd user without password", func(c *Config) { c.EtcdEndpoints = List{"e1:2379"}; c.EtcdUsername = "strata" },
			"--etcd-username and --etcd-password go together"},
		{"etcd TLS with the embedded etcd", func(c *Config) { c.EtcdCAFile = "/etc/strata/etcd-ca.pem" },
			"--etcd-ca-file, --etcd-cert-file, --etcd-key-file and --etcd-username are for --etcd-endpoints; the embedded etcd listens on loopback only"},
		{"http TLS without a certificate", func(c *Config) { c.HTTPTLS = true }, "--http-tls needs --tls-cert-file and --tls-key-file"},
		{"listen without port", func(c *Config) { c.Listen = "127.0.0.1" },
			`--listen must be host:port, got "127.0.0.1" (missing port in address)`},
		{"listen bad port", func(c *Config) { c.Listen = "127.0.0.1:kafka" },
			`--listen must be host:port, got "127.0.0.1:kafka" (port must be a number from 0 to 65535)`},
		{"advertised without port", func(c *Config) { c.AdvertisedAddr = "broker-1" },
			`--advertised-addr must be host:port, got "broker-1" (missing port in address)`},
		{"advertised port 0", func(c *Config) { c.AdvertisedAddr = "broker-1:0" },
			`--advertised-addr must be host:port, got "broker-1:0" (port must be a number from 1 to 65535)`},
		{"advertised unspecified", func(c *Config) { c.AdvertisedAddr = "0.0.0.0:9092" },
			`--advertised-addr must name a host clients can reach, got "0.0.0.0:9092"`},
		{"listen any host without advertised", func(c *Config) { c.Listen = "0.0.0.0:9092" },
			`--advertised-addr is required when --listen ("0.0.0.0:9092") names no specific host, since clients cannot connect to that`},
		{"http listen bad", func(c *Config) { c.HTTPListen = "9644" },
			`--http-listen must be host:port or empty, got "9644" (missing port in address)`},
		{"http listen same as listen", func(c *Config) { c.HTTPListen = c.Listen },
			`--http-listen must differ from --listen, both are "127.0.0.1:9092"`},
		{"etcd endpoint without port", func(c *Config) { c.EtcdEndpoints = List{"e1:2379", "e2"} },
			`--etcd-endpoints entry "e2" must be host:port or http(s)://host:port (missing port in address)`},
		{"etcd endpoint scheme", func(c *Config) { c.EtcdEndpoints = List{"grpc://e1:2379"} },
			`--etcd-endpoints entry "grpc://e1:2379" must be host:port or http(s)://host:port (scheme "grpc")`},
		{"object store scheme", func(c *Config) { c.ObjectStore = "gs://bucket" },
			`--object-store must be a file:// or s3:// URL, got "gs://bucket"`},
		{"object store no scheme", func(c *Config) { c.ObjectStore = "/var/lib/objects" },
			`--object-store must be a file:// or s3:// URL, got "/var/lib/objects"`},
		{"object store relative file", func(c *Config) { c.ObjectStore = "file://objects" },
			`--object-store file URL must have an absolute path (file:///var/lib/strata/objects), got "file://objects"`},
		{"object store s3 without bucket", func(c *Config) { c.ObjectStore = "s3:///x" },
			`--object-store s3 URL must name a bucket (s3://BUCKET?endpoint=HOST:PORT), got "s3:///x"`},
		{"negative broker id", func(c *Config) { c.BrokerID = -1 },
			"--broker-id must be 0 (allocate) or positive, got -1"},
		{"zero partitions", func(c *Config) { c.DefaultPartitions = 0 },
			"--default-partitions must be at least 1, got 0"},
		{"tiny seal bytes", func(c *Config) { c.SealBytes = 12 },
			"--seal-bytes must be at least 1KiB, got 12"},
		{"zero seal interval", func(c *Config) { c.SealInterval = 0 },
			"--seal-interval must be at least 1ms, got 0s"},
		{"short session ttl", func(c *Config) { c.SessionTTL = 500 * time.Millisecond },
			"--session-ttl must be at least 1s, got 500ms"},
		{"fractional session ttl", func(c *Config) { c.SessionTTL = 1500 * time.Millisecond },
			"--session-ttl must be a whole number of seconds (etcd leases count seconds), got 1.5s"},
		{"small max request", func(c *Config) { c.MaxRequestBytes = 100 },
			"--max-request-bytes must be between 1KiB and 2147483647, got 100"},
		{"huge max request", func(c *Config) { c.MaxRequestBytes = int64(2 * GiB) },
			"--max-request-bytes must be between 1KiB and 2147483647, got 2GiB"},
		{"zero cache", func(c *Config) { c.CacheBytes = 0 },
			"--cache-bytes must be at least 1KiB, got 0"},
		{"unlimited connections", func(c *Config) { c.MaxConnections, c.MaxConnectionsPerIP = -1, 0 }, ""},
		{"explicit connection limits", func(c *Config) { c.MaxConnections, c.MaxConnectionsPerIP = 5000, 100 }, ""},
		{"negative max connections", func(c *Config) { c.MaxConnections = -2 },
			"--max-connections must be -1 (unlimited), 0 (from the open-file limit) or positive, got -2"},
		{"negative max connections per ip", func(c *Config) { c.MaxConnectionsPerIP = -1 },
			"--max-connections-per-ip must be 0 (unlimited) or positive, got -1"},
		{"short idle", func(c *Config) { c.ConnectionsMaxIdle = 500 * time.Millisecond },
			"--connections-max-idle must be at least 1s, got 500ms"},
		{"small queued request budget", func(c *Config) { c.QueuedMaxRequestBytes = int64(64 * KiB) },
			"--queued-max-request-bytes must be at least 1MiB, got 64KiB"},
		{"tiny disk cache", func(c *Config) { c.DiskCacheBytes = int64(KiB) },
			"--disk-cache-bytes must be 0 (off) or at least 1MiB, got 1KiB"},
		{"huge read-ahead", func(c *Config) { c.ReadAheadBytes = int64(2 * GiB) },
			"--read-ahead-bytes must be at most 1GiB, got 2GiB"},
		{"no coordinator shards", func(c *Config) { c.OffsetsPartitions = 0 },
			"--offsets-topic-partitions must be between 1 and 1000, got 0"},
		{"fast retention checks", func(c *Config) { c.RetentionCheckInterval = time.Millisecond },
			"--retention-check-interval must be at least 100ms, got 1ms"},
		{"fast compaction", func(c *Config) { c.CompactionInterval = time.Millisecond },
			"--compaction-interval must be at least 100ms, got 1ms"},
		{"fast garbage collection", func(c *Config) { c.GCInterval = time.Millisecond },
			"--gc-interval must be at least 100ms, got 1ms"},
		{"grace shorter than two session TTLs", func(c *Config) { c.GCGrace = 15 * time.Second },
			"--gc-grace must be at least twice --session-ttl (10s), so that an upload whose commit is in flight is never collected; got 15s"},
		{"log level", func(c *Config) { c.LogLevel = "verbose" },
			`--log-level must be debug, info, warn or error, got "verbose"`},
		{"log format", func(c *Config) { c.LogFormat = "logfmt" },
			`--log-format must be text or json, got "logfmt"`},
		{"every problem on one line", func(c *Config) { c.SealBytes = 12; c.LogFormat = "xml" },
			`--seal-bytes must be at least 1KiB, got 12; --log-format must be text or json, got "xml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.modify(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want %q", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("Validate()\n got %q\nwant %q", err, tt.want)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Errorf("Validate() error is %T, want *ValidationError", err)
			}
		})
	}
}

func TestYAML(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    func(*Config)
		wantErr string // the whole message after the file name
	}{
		{name: "empty file", yaml: "", want: func(*Config) {}},
		{name: "only comments", yaml: "# nothing here\n", want: func(*Config) {}},
		{name: "sizes as integers and strings", yaml: "seal-bytes: 2097152\ncache-bytes: 1GiB\nmax-request-bytes: '1MiB'\n",
			want: func(c *Config) {
				c.SealBytes = int64(2 * MiB)
				c.CacheBytes = int64(GiB)
				c.MaxRequestBytes = int64(MiB)
			}},
		{name: "endpoints as a string", yaml: "etcd-endpoints: a:1, b:2\n",
			want: func(c *Config) { c.EtcdEndpoints = List{"a:1", "b:2"} }},
		{name: "endpoints as a list", yaml: "etcd-endpoints:\n  - a:1\n  - b:2\n",
			want: func(c *Config) { c.EtcdEndpoints = List{"a:1", "b:2"} }},
		{name: "every type", yaml: "broker-id: 3\nauto-create-topics: false\nseal-interval: 1s\nadvertised-addr: \"\"\nobject-store: s3://b?endpoint=h:1\n",
			want: func(c *Config) {
				c.BrokerID = 3
				c.AutoCreateTopics = false
				c.SealInterval = time.Second
				c.ObjectStore = "s3://b?endpoint=h:1"
			}},

		{name: "unknown key", yaml: "listen: 127.0.0.1:1\nseal-byte: 1MiB\n", wantErr: `:2: unknown key "seal-byte"`},
		{name: "underscore key", yaml: "data_dir: /x\n", wantErr: `:1: unknown key "data_dir" (did you mean "data-dir"?)`},
		{name: "config key", yaml: "config: other.yaml\n", wantErr: `:1: unknown key "config" (a config file cannot name another)`},
		{name: "Go field name", yaml: "DataDir: /x\n", wantErr: `:1: unknown key "DataDir"`},
		{name: "repeated key", yaml: "rack: a\n\nrack: b\n", wantErr: `:3: key "rack" repeated (first on line 1)`},
		{name: "no value", yaml: "rack:\n", wantErr: `:1: key "rack" has no value (write "" for empty)`},
		{name: "not a mapping", yaml: "- data-dir\n", wantErr: `:1: want a mapping of option names to values`},
		{name: "bad size", yaml: "seal-bytes: lots\n", wantErr: `:1: seal-bytes: want a number of bytes or a size such as 512KiB, 8MiB, 1GiB`},
		{name: "bad int", yaml: "broker-id: x\n", wantErr: ":1: broker-id: cannot unmarshal !!str `x` into int32"},
		{name: "int out of range", yaml: "default-partitions: 99999999999\n", wantErr: ":1: default-partitions: cannot unmarshal !!int `9999999...` into int32"},
		{name: "bare number duration", yaml: "seal-interval: 200\n", wantErr: ":1: seal-interval: cannot unmarshal !!int `200` into time.Duration"},
		{name: "syntax error", yaml: "listen: [\n", wantErr: ":1: did not find expected node content"},
		{name: "tab indentation", yaml: "listen: a:1\n\tseal-bytes: 1\n", wantErr: ":2: found a tab character that violates indentation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			err := c.decodeYAML("strata.yaml", []byte(tt.yaml))
			if tt.wantErr != "" {
				if err == nil || err.Error() != "strata.yaml"+tt.wantErr {
					t.Fatalf("decodeYAML error\n got %v\nwant %q", err, "strata.yaml"+tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("decodeYAML: %v", err)
			}
			checkConfig(t, c, tt.want)
		})
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name      string
		args, env []string
		want      string
		usage     bool // exit status 2
	}{
		{name: "bad flag value", args: []string{"--seal-bytes=abc"}, usage: true,
			want: `invalid value "abc" for flag -seal-bytes: want a number of bytes or a size such as 512KiB, 8MiB, 1GiB`},
		{name: "unknown flag", args: []string{"--seal-byte=1"}, usage: true,
			want: "flag provided but not defined: -seal-byte"},
		{name: "bad bool flag", args: []string{"--auto-create-topics=maybe"}, usage: true,
			want: `invalid boolean value "maybe" for -auto-create-topics: want true or false`},
		{name: "positional argument", args: []string{"--rack", "a", "extra"}, usage: true,
			want: `unexpected argument "extra" (serve takes only flags)`},
		{name: "bad env value", env: []string{"STRATA_SESSION_TTL=10"},
			want: `invalid value "10" for STRATA_SESSION_TTL: want a duration such as 200ms, 10s or 1m`},
		{name: "env int out of range", env: []string{"STRATA_BROKER_ID=3000000000"},
			want: `invalid value "3000000000" for STRATA_BROKER_ID: out of range for a 32-bit integer`},
		{name: "missing config file", args: []string{"--config", "/nonexistent/strata.yaml"},
			want: "config file: open /nonexistent/strata.yaml: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadConfig(tt.args, tt.env)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("loadConfig error\n got %v\nwant %q", err, tt.want)
			}
			var ue usageError
			if errors.As(err, &ue) != tt.usage {
				t.Errorf("usage error = %v, want %v", !tt.usage, tt.usage)
			}
		})
	}
	if _, err := loadConfig([]string{"--help"}, nil); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: got %v, want flag.ErrHelp", err)
	}
}

func TestBrokerConfig(t *testing.T) {
	c := DefaultConfig()
	c.DataDir = "rel/dir"
	c.EtcdEndpoints = List{"a:1"}
	got, err := c.BrokerConfig(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	dir := filepath.Join(wd, "rel", "dir")
	if got.DataDir != dir {
		t.Errorf("DataDir = %q, want %q", got.DataDir, dir)
	}
	if want := "file://" + dir + "/objects"; got.ObjectStore != want {
		t.Errorf("ObjectStore = %q, want %q", got.ObjectStore, want)
	}
	if got.SealBytes != 8<<20 || got.MaxRequestBytes != 104857600 || got.CacheBytes != 256<<20 ||
		got.SealInterval != 200*time.Millisecond || got.SessionTTL != 10*time.Second ||
		!got.AutoCreateTopics || got.DefaultPartitions != 1 || got.Listen != "127.0.0.1:9092" ||
		!slices.Equal(got.EtcdEndpoints, []string{"a:1"}) {
		t.Errorf("BrokerConfig = %+v", got)
	}
	if got.MaxConnections != 0 || got.MaxConnectionsPerIP != 0 || got.ConnectionsMaxIdle != 10*time.Minute || got.QueuedMaxRequestBytes != 256<<20 {
		t.Errorf("connection limits: max %d, per IP %d, idle %s, queued bytes %d; want 0, 0, 10m0s, %d",
			got.MaxConnections, got.MaxConnectionsPerIP, got.ConnectionsMaxIdle, got.QueuedMaxRequestBytes, 256<<20)
	}
	c.MaxConnections, c.MaxConnectionsPerIP = -1, 7
	if got, _ := c.BrokerConfig(nil, nil); got.MaxConnections != -1 || got.MaxConnectionsPerIP != 7 {
		t.Errorf("MaxConnections, MaxConnectionsPerIP = %d, %d; want -1, 7", got.MaxConnections, got.MaxConnectionsPerIP)
	}

	c.ObjectStore = "s3://bucket"
	if got, _ := c.BrokerConfig(nil, nil); got.ObjectStore != "s3://bucket" {
		t.Errorf("ObjectStore = %q, want it unchanged", got.ObjectStore)
	}
}

func TestUnknownEnv(t *testing.T) {
	c := DefaultConfig()
	got := unknownEnv(newServeFlags(&c), []string{"STRATA_DATA_DIR=/x", "STRATA_SEAL_BYTE=1", "HOME=/root"})
	if !slices.Equal(got, []string{"STRATA_SEAL_BYTE"}) {
		t.Errorf("unknownEnv = %v, want [STRATA_SEAL_BYTE]", got)
	}
}

// TestZeroBrokerConfigGetsTheDefaults keeps the two ways a broker gets its
// defaults in step: a broker.Config left zero (as tests build it) gets, from
// EnsureDefaults or from the component that defaults the field itself, the
// value that strata serve starts from (DefaultConfig), except where zero
// means something of its own.
func TestZeroBrokerConfigGetsTheDefaults(t *testing.T) {
	zero := broker.Config{DataDir: "d"}
	if err := zero.EnsureDefaults(); err != nil {
		t.Fatal(err)
	}
	def := DefaultConfig().Config
	def.DataDir = "d"
	if err := def.EnsureDefaults(); err != nil {
		t.Fatal(err)
	}
	// Left zero for wal.Open and metadata.New, which default them.
	w := (&wal.Options{}).EnsureDefaults()
	zero.SealBytes, zero.SealInterval, zero.WALMaxBytes = w.SegmentBytes, w.SealInterval, w.MaxBytes
	zero.SessionTTL = (&metadata.Options{}).EnsureDefaults().SessionTTL
	// Zero means off (or no minimum age, or do not create topics).
	zero.AutoCreateTopics, zero.DiskCacheBytes, zero.ReadAheadBytes, zero.CompactionMinAge, zero.MaxPutRate =
		def.AutoCreateTopics, def.DiskCacheBytes, def.ReadAheadBytes, def.CompactionMinAge, def.MaxPutRate
	zero.Logger, def.Logger = nil, nil
	if !reflect.DeepEqual(zero, def) {
		t.Errorf("zero config with defaults\n got %+v\nwant %+v", zero, def)
	}
}

// checkConfig checks that got is the default configuration as edit changes
// it, its SetOptions aside (checkSetOptions checks those).
func checkConfig(t *testing.T, got Config, edit func(*Config)) {
	t.Helper()
	want := DefaultConfig()
	edit(&want)
	checkSetOptions(t, &got)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// checkSetOptions checks that every option whose value differs from its
// default is recorded as set (DescribeConfigs reports it as
// STATIC_BROKER_CONFIG), then clears the record for the comparison of
// values.
func checkSetOptions(t *testing.T, c *Config) {
	t.Helper()
	def := DefaultConfig()
	defs := map[string]any{}
	for _, o := range def.options() {
		defs[o.name] = o.ptr
	}
	for _, o := range c.options() {
		if !reflect.DeepEqual(reflect.ValueOf(o.ptr).Elem().Interface(), reflect.ValueOf(defs[o.name]).Elem().Interface()) && !c.SetOptions[o.name] {
			t.Errorf("option %s differs from its default but is not recorded as set (%v)", o.name, c.SetOptions)
		}
	}
	c.SetOptions = nil
}

// TestConfigRedacted: the configuration serve logs at start holds no
// secret: not the etcd password, not the object store URL's password.
func TestConfigRedacted(t *testing.T) {
	var c Config
	c.EtcdUsername, c.EtcdPassword = "strata", "etcd-secret-1"
	c.ObjectStore = "s3://AKIDEXAMPLE:object-secret-2@bucket?endpoint=127.0.0.1:9000"
	shown := fmt.Sprintf("%+v", c.redacted())
	for _, secret := range []string{"etcd-secret-1", "object-secret-2"} {
		if strings.Contains(shown, secret) {
			t.Errorf("the logged configuration shows %q: %s", secret, shown)
		}
	}
	if !strings.Contains(shown, "AKIDEXAMPLE") || c.EtcdPassword != "etcd-secret-1" {
		t.Errorf("redacted hid more than the secrets, or changed the configuration: %s", shown)
	}
}
