package mirror

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func validConfig() Config {
	c := DefaultConfig()
	c.SourceBootstrap, c.TargetBootstrap, c.Topics = "a:9092", "b:9092", ".*"
	return c
}

func TestConfigValidate(t *testing.T) {
	if err := (func() *Config { c := validConfig(); return &c })().Validate(); err != nil {
		t.Fatalf("a valid config: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"no source", func(c *Config) { c.SourceBootstrap = "" }, "source-bootstrap is required"},
		{"no target", func(c *Config) { c.TargetBootstrap = "" }, "target-bootstrap is required"},
		{"no topics", func(c *Config) { c.Topics = "" }, "topics is required"},
		{"bad topics regex", func(c *Config) { c.Topics = "(" }, "topics: error parsing regexp"},
		{"bad groups regex", func(c *Config) { c.Groups = "[" }, "groups: error parsing regexp"},
		{"name with a slash", func(c *Config) { c.Name = "a/b" }, `name "a/b"`},
		{"both modes", func(c *Config) { c.ExactlyOnce, c.PreserveOffsets = true, true }, "exclude each other"},
		{"zero sync interval", func(c *Config) { c.SyncInterval = 0 }, "sync-interval must be positive"},
		{"short session", func(c *Config) { c.SessionTimeout = time.Millisecond }, "session-timeout"},
		{"zero batch", func(c *Config) { c.BatchRecords = 0 }, "batch-records"},
		{"same aliases", func(c *Config) { c.SourceAlias, c.TargetAlias = "x", "x" }, "both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.change(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestTopicNamesMatch(t *testing.T) {
	c := validConfig()
	c.Topics, c.TargetPrefix, c.TargetAlias = "orders|pay.*", "east.", "west"
	n, err := newTopicNames(&c)
	if err != nil {
		t.Fatal(err)
	}
	for topic, want := range map[string]bool{
		"orders":             true,
		"orders2":            false, // anchored
		"my-orders":          false, // anchored
		"payments":           true,
		"pay":                true,
		"__consumer_offsets": false,
		"__strata_mirror_offset_syncs.strata-mirror": false,
		"west.payments": false, // came from the target: loop prevention
		"westpayments":  false,
	} {
		if got := n.match(topic); got != want {
			t.Errorf("match(%q) = %v, want %v", topic, got, want)
		}
	}
	if got := n.target("orders"); got != "east.orders" {
		t.Errorf("target(orders) = %q", got)
	}
	c.Topics = ""
	if n, _ := newTopicNames(&c); n.match("orders") {
		t.Error("an empty regex matched")
	}
}

func TestConfigChanges(t *testing.T) {
	exclude := regexp.MustCompile("^(?:" + DefaultConfigExclude + ")$")
	src := map[string]string{"retention.ms": "1000", "cleanup.policy": "compact", "min.insync.replicas": "2", "segment.bytes": "100"}
	tgt := map[string]string{"retention.ms": "5000", "segment.bytes": "100", "max.message.bytes": "10", "min.insync.replicas": "1"}
	got := configChanges(src, tgt, exclude)
	want := []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "cleanup.policy"},
		{Op: kadm.DeleteConfig, Name: "max.message.bytes"},
		{Op: kadm.SetConfig, Name: "retention.ms"},
	}
	if len(got) != len(want) {
		t.Fatalf("configChanges = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Op != want[i].Op || got[i].Name != want[i].Name {
			t.Fatalf("change %d = %+v, want %+v", i, got[i], want[i])
		}
		if got[i].Op == kadm.SetConfig && *got[i].Value != src[got[i].Name] {
			t.Errorf("change %d sets %s to %q, want %q", i, got[i].Name, *got[i].Value, src[got[i].Name])
		}
	}
	if c := configChanges(src, map[string]string{"retention.ms": "1000", "cleanup.policy": "compact", "segment.bytes": "100"}, exclude); len(c) != 0 {
		t.Errorf("in sync, yet changes %+v", c)
	}
}

func TestTargetRecordLoopPrevention(t *testing.T) {
	c := validConfig()
	c.SourceAlias, c.TargetAlias, c.TargetPrefix = "east", "west", "east."
	m, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	local := &kgo.Record{Topic: "orders", Partition: 2, Key: []byte("k"), Value: []byte("v"), Timestamp: time.UnixMilli(5)}
	got := m.targetRecord(local)
	if got == nil || got.Topic != "east.orders" || got.Partition != 2 || string(got.Key) != "k" || !got.Timestamp.Equal(local.Timestamp) {
		t.Fatalf("targetRecord = %+v", got)
	}
	if len(got.Headers) != 1 || got.Headers[0].Key != OriginHeader || string(got.Headers[0].Value) != "east" {
		t.Fatalf("origin header = %+v, want %s=east", got.Headers, OriginHeader)
	}
	fromTarget := &kgo.Record{Topic: "orders", Headers: []kgo.RecordHeader{{Key: OriginHeader, Value: []byte("west")}}}
	if r := m.targetRecord(fromTarget); r != nil {
		t.Fatalf("a record from the target was copied back: %+v", r)
	}
	third := &kgo.Record{Topic: "orders", Headers: []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: OriginHeader, Value: []byte("north")}}}
	r := m.targetRecord(third)
	if r == nil || len(r.Headers) != 2 || string(r.Headers[1].Value) != "north" {
		t.Fatalf("a record from a third cluster keeps its origin: %+v", r)
	}
}
