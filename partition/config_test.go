package partition

import (
	"testing"
)

func TestValidateTopicConfig(t *testing.T) {
	cases := []struct {
		name string
		good []string
		bad  []string
	}{
		{"cleanup.policy", []string{"delete", "compact", "compact,delete", "delete, compact"}, []string{"", "remove", "delete,", "DELETE", "delete;compact"}},
		{"compression.type", []string{"producer"}, []string{"", "gzip", "none", "Producer"}},
		{"delete.retention.ms", []string{"0", "86400000"}, []string{"-1", "1.5", "1e3", "", "ten"}},
		{"max.message.bytes", []string{"0", "1048588"}, []string{"-1", "1MB", ""}},
		{"message.timestamp.type", []string{"CreateTime", "LogAppendTime"}, []string{"createtime", "LogAppend", ""}},
		{"min.compaction.lag.ms", []string{"0", "60000"}, []string{"-1", "x"}},
		{"min.insync.replicas", []string{"1", "3"}, []string{"0", "-1", "one"}},
		{"retention.bytes", []string{"-1", "0", "1073741824"}, []string{"-2", "1GB"}},
		{"retention.ms", []string{"-1", "0", "604800000"}, []string{"-2", "9223372036854775808"}},
		{"segment.bytes", []string{"14", "1073741824"}, []string{"13", "0", "1G"}},
		{"segment.ms", []string{"1", "604800000"}, []string{"0", "-1", "1h"}},
		{"strata.archive.compression", []string{"none", "zstd"}, []string{"", "ZSTD", "lz4", "gzip"}},
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
	for _, name := range []string{"", "retention", "Retention.ms", "log.retention.ms", "unclean.leader.election.enable"} {
		if err := ValidateTopicConfig(name, ptr("1")); err == nil {
			t.Errorf("unknown config %q accepted", name)
		}
	}
}

func TestParseTopicConfig(t *testing.T) {
	def := TopicConfig{MaxMessageBytes: 1048588, Deletes: true, RetentionMs: 604800000, RetentionBytes: -1, SegmentBytes: 1073741824, DeleteRetentionMs: 86400000}
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
