package partition

import (
	"errors"
	"strings"
	"testing"

	"github.com/strata-io/strata/internal/batch"
)

func TestValidateTopicConfig(t *testing.T) {
	// Kafka 3.9's LogConfig: each config's type and validator.
	long := []string{"x", "1.5", "1e3", "", "9223372036854775808"}
	integer := []string{"x", "1.5", "", "2147483648"}
	boolean := []string{"yes", "1", "", "t"}
	cases := []struct {
		name string
		good []string
		bad  []string
	}{
		{"cleanup.policy", []string{"delete", "compact", "compact,delete", "delete, compact", ""}, []string{"remove", "delete,", "DELETE", "delete;compact"}},
		{"compression.type", []string{"producer", "uncompressed", "gzip", "snappy", "lz4", "zstd", " zstd "}, []string{"", "none", "Producer", "GZIP", "brotli"}},
		{"compression.gzip.level", []string{"-1", "1", "9"}, append([]string{"0", "10", "-2"}, integer...)},
		{"compression.lz4.level", []string{"1", "9", "17"}, append([]string{"0", "18"}, integer...)},
		{"compression.zstd.level", []string{"-131072", "-1", "0", "3", "22"}, append([]string{"-131073", "23"}, integer...)},
		{"delete.retention.ms", []string{"0", "86400000"}, append([]string{"-1"}, long...)},
		{"file.delete.delay.ms", []string{"0", "60000"}, append([]string{"-1"}, long...)},
		{"flush.messages", []string{"1", "9223372036854775807"}, append([]string{"0"}, long...)},
		{"flush.ms", []string{"0", "1000"}, append([]string{"-1"}, long...)},
		{"follower.replication.throttled.replicas", []string{"", "*", "0:1", "0:1,1:2", "0:1, 1:2"}, []string{"all", "0", "0:a", "*,0:1", "0:1,"}},
		{"index.interval.bytes", []string{"0", "4096"}, append([]string{"-1"}, integer...)},
		{"leader.replication.throttled.replicas", []string{"", "*", "0:101"}, []string{"x", "1:"}},
		{"local.retention.bytes", []string{"-2", "-1", "0", "1024"}, append([]string{"-3"}, long...)},
		{"local.retention.ms", []string{"-2", "-1", "0", "1000"}, append([]string{"-3"}, long...)},
		{"max.compaction.lag.ms", []string{"1", "9223372036854775807"}, append([]string{"0"}, long...)},
		{"max.message.bytes", []string{"0", "1048588", "2147483647"}, append([]string{"-1", "1MB"}, integer...)},
		{"message.downconversion.enable", []string{"true", "false", "TRUE", "False"}, boolean},
		{"message.format.version", []string{"0.10.2", "2.8", "3.0-IV1", "3.9", "2.8-IV1", "0.11.0-IV2"}, []string{"", "4.0", "v2", "3.0-IV", "latest"}},
		{"message.timestamp.after.max.ms", []string{"0", "3600000"}, append([]string{"-1"}, long...)},
		{"message.timestamp.before.max.ms", []string{"0", "3600000"}, append([]string{"-1"}, long...)},
		{"message.timestamp.difference.max.ms", []string{"0", "3600000"}, append([]string{"-1"}, long...)},
		{"message.timestamp.type", []string{"CreateTime", "LogAppendTime"}, []string{"createtime", "LogAppend", ""}},
		{"min.cleanable.dirty.ratio", []string{"0", "0.5", "1", "1.0", "0.01"}, []string{"-0.1", "1.01", "half", "", "NaN"}},
		{"min.compaction.lag.ms", []string{"0", "60000"}, append([]string{"-1"}, long...)},
		{"min.insync.replicas", []string{"1", "3"}, append([]string{"0", "-1", "one"}, integer...)},
		{"preallocate", []string{"true", "false"}, boolean},
		{"remote.log.copy.disable", []string{"true", "false"}, boolean},
		{"remote.log.delete.on.disable", []string{"true", "false"}, boolean},
		{"remote.storage.enable", []string{"true", "false"}, boolean},
		{"retention.bytes", []string{"-1", "-2", "0", "1073741824"}, append([]string{"1GB"}, long...)},
		{"retention.ms", []string{"-1", "0", "604800000"}, append([]string{"-2"}, long...)},
		{"segment.bytes", []string{"14", "1073741824"}, append([]string{"13", "0", "1G"}, integer...)},
		{"segment.index.bytes", []string{"4", "10485760"}, append([]string{"3"}, integer...)},
		{"segment.jitter.ms", []string{"0", "1000"}, append([]string{"-1"}, long...)},
		{"segment.ms", []string{"1", "604800000"}, append([]string{"0", "-1", "1h"}, long...)},
		{"strata.archive.compression", []string{"none", "zstd"}, []string{"", "ZSTD", "lz4", "gzip"}},
		{"unclean.leader.election.enable", []string{"true", "false"}, boolean},
	}
	tested := map[string]bool{}
	for _, c := range cases {
		tested[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			def, ok := topicConfigDefs[c.name]
			if !ok {
				t.Fatalf("%s is not a known config", c.name)
			}
			if err := ValidateTopicConfig(c.name, &def.def); err != nil {
				t.Errorf("default %q rejected: %v", def.def, err)
			}
			for _, v := range c.good {
				if err := ValidateTopicConfig(c.name, &v); err != nil {
					t.Errorf("%q rejected: %v", v, err)
				}
			}
			for _, v := range c.bad {
				if err := ValidateTopicConfig(c.name, &v); err == nil {
					t.Errorf("%q accepted", v)
				}
			}
			if err := ValidateTopicConfig(c.name, nil); err == nil {
				t.Error("nil value accepted")
			}
		})
	}
	for _, name := range TopicConfigNames() {
		if !tested[name] {
			t.Errorf("config %s has no cases", name)
		}
	}
	for _, name := range []string{"", "retention", "Retention.ms", "log.retention.ms", "retention.hours", "num.partitions"} {
		err := ValidateTopicConfig(name, ptr("1"))
		if want := "Unknown topic config name: " + name; err == nil || err.Error() != want {
			t.Errorf("unknown config %q: %v, want %q", name, err, want)
		}
	}
}

// TestValidateTopicConfigMessages checks Kafka's texts for bad values.
func TestValidateTopicConfigMessages(t *testing.T) {
	for _, c := range []struct{ name, value, want string }{
		{"retention.ms", "-2", "Invalid value -2 for configuration retention.ms: Value must be at least -1"},
		{"retention.ms", "week", "Invalid value week for configuration retention.ms: Not a number of type LONG"},
		{"segment.bytes", "1e9", "Invalid value 1e9 for configuration segment.bytes: Not a number of type INT"},
		{"compression.type", "brotli", "Invalid value brotli for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"},
		{"cleanup.policy", "delete,forever", "Invalid value delete,forever for configuration cleanup.policy: String must be one of: compact, delete"},
		{"preallocate", "yes", "Invalid value yes for configuration preallocate: Expected value to be either true or false"},
		{"compression.gzip.level", "10", "Invalid value 10 for configuration compression.gzip.level: Value must be between 1 and 9 or equal to -1"},
		{"compression.lz4.level", "18", "Invalid value 18 for configuration compression.lz4.level: Value must be no more than 17"},
		{"min.cleanable.dirty.ratio", "2", "Invalid value 2 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"},
	} {
		err := ValidateTopicConfig(c.name, &c.value)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Message != c.want {
			t.Errorf("%s=%s: %v, want %q", c.name, c.value, err, c.want)
		}
	}
}

// TestTopicConfigInfo checks what DescribeConfigs reports: every config has
// Kafka's documentation and a type, and the configs without effect say so.
func TestTopicConfigInfo(t *testing.T) {
	for _, name := range TopicConfigNames() {
		spec, ok := TopicConfigInfo(name)
		if !ok || spec.Name != name || spec.Type == 0 || spec.Doc == "" || spec.ReadOnly || spec.Sensitive {
			t.Errorf("%s: %+v", name, spec)
		}
		if !spec.Effect && !strings.Contains(spec.Doc, "no effect on Strata") {
			t.Errorf("%s has no effect but its documentation does not say so: %q", name, spec.Doc)
		}
	}
	if _, ok := TopicConfigInfo("log.retention.ms"); ok {
		t.Error("a broker config is a topic config")
	}
	for name, want := range map[string]bool{"cleanup.policy": true, "leader.replication.throttled.replicas": true, "follower.replication.throttled.replicas": true, "retention.ms": false, "nope": false} {
		if IsListTopicConfig(name) != want {
			t.Errorf("IsListTopicConfig(%s) != %v", name, want)
		}
	}
}

func TestParseTopicConfig(t *testing.T) {
	def := TopicConfig{MaxMessageBytes: 1048588, Compression: -1, Deletes: true, RetentionMs: 604800000, RetentionBytes: -1, SegmentBytes: 1073741824, DeleteRetentionMs: 86400000}
	with := func(change func(*TopicConfig)) TopicConfig {
		c := def
		change(&c)
		return c
	}
	cases := []struct {
		name    string
		set     map[string]string
		want    TopicConfig
		wantErr bool
	}{
		{name: "nothing set: Kafka's defaults", set: nil, want: def},
		{name: "max.message.bytes", set: map[string]string{"max.message.bytes": "2048"}, want: with(func(c *TopicConfig) { c.MaxMessageBytes = 2048 })},
		{name: "LogAppendTime", set: map[string]string{"message.timestamp.type": "LogAppendTime"}, want: with(func(c *TopicConfig) { c.LogAppendTime = true })},
		{name: "CreateTime", set: map[string]string{"message.timestamp.type": "CreateTime"}, want: def},
		{name: "retention", set: map[string]string{"retention.ms": "1", "retention.bytes": "4096"}, want: with(func(c *TopicConfig) { c.RetentionMs, c.RetentionBytes = 1, 4096 })},
		{name: "compact only: no deletion", set: map[string]string{"cleanup.policy": "compact"}, want: with(func(c *TopicConfig) { c.Deletes, c.Compacts = false, true })},
		{name: "compact and delete", set: map[string]string{"cleanup.policy": "compact, delete", "min.compaction.lag.ms": "5", "delete.retention.ms": "6"},
			want: with(func(c *TopicConfig) { c.Compacts, c.MinCompactionLag, c.DeleteRetentionMs = true, 5, 6 })},
		{name: "other configs do not matter", set: map[string]string{"segment.ms": "1", "min.insync.replicas": "2"}, want: def},
		{name: "compression.type zstd, default level", set: map[string]string{"compression.type": "zstd"}, want: with(func(c *TopicConfig) { c.Compression, c.CompressionLevel = batch.CodecZstd, 3 })},
		{name: "compression.type gzip with its level", set: map[string]string{"compression.type": "gzip", "compression.gzip.level": "9", "compression.zstd.level": "1"},
			want: with(func(c *TopicConfig) { c.Compression, c.CompressionLevel = batch.CodecGzip, 9 })},
		{name: "compression.type uncompressed", set: map[string]string{"compression.type": "uncompressed"}, want: with(func(c *TopicConfig) { c.Compression = batch.CodecNone })},
		{name: "compression.type lz4", set: map[string]string{"compression.type": "lz4"}, want: with(func(c *TopicConfig) { c.Compression, c.CompressionLevel = batch.CodecLZ4, 9 })},
		{name: "compression.type snappy", set: map[string]string{"compression.type": "snappy"}, want: with(func(c *TopicConfig) { c.Compression = batch.CodecSnappy })},
		{name: "empty cleanup.policy: neither", set: map[string]string{"cleanup.policy": ""}, want: with(func(c *TopicConfig) { c.Deletes = false })},
		{name: "configs without effect", set: map[string]string{"preallocate": "true", "unclean.leader.election.enable": "true", "message.format.version": "2.8"}, want: def},
		{name: "bad retention.ms", set: map[string]string{"retention.ms": "long"}, wantErr: true},
		{name: "bad max.message.bytes", set: map[string]string{"max.message.bytes": "big"}, wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseTopicConfig(c.set)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, want error %v", err, c.wantErr)
			}
			if err == nil && got != c.want {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestTopicConfigNamesSorted(t *testing.T) {
	names := TopicConfigNames()
	if len(names) != len(topicConfigDefs) {
		t.Fatalf("%d names, %d configs", len(names), len(topicConfigDefs))
	}
	for i := 1; i < len(names); i++ {
		if names[i-1] >= names[i] {
			t.Errorf("%s before %s", names[i-1], names[i])
		}
	}
}
