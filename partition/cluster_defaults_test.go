package partition

import (
	"maps"
	"testing"

	"github.com/strata-io/strata/metadata"
)

func TestClusterDefaults(t *testing.T) {
	cluster := map[string]string{"log.retention.ms": "3600000", "log.cleanup.policy": "compact", "num.partitions": "3"}
	own := map[string]string{"cleanup.policy": "delete", "max.message.bytes": "100"}

	got := EffectiveTopicConfigs(own, cluster)
	want := map[string]string{"cleanup.policy": "delete", "max.message.bytes": "100", "retention.ms": "3600000"}
	if !maps.Equal(got, want) {
		t.Errorf("EffectiveTopicConfigs = %v, want %v", got, want)
	}
	if own["retention.ms"] != "" {
		t.Errorf("EffectiveTopicConfigs changed the topic's own configs: %v", own)
	}
	if got := EffectiveTopicConfigs(nil, nil); len(got) != 0 {
		t.Errorf("EffectiveTopicConfigs(nil, nil) = %v", got)
	}

	for _, tc := range []struct {
		name        string
		value       string
		dynamic, ok bool
	}{
		{"retention.ms", "3600000", true, true},
		{"cleanup.policy", "compact", true, true},
		{"retention.bytes", "-1", false, true},
		{"segment.ms", "604800000", false, true},
		{"no.such.config", "", false, false},
	} {
		v, dynamic, ok := TopicDefault(tc.name, cluster)
		if v != tc.value || dynamic != tc.dynamic || ok != tc.ok {
			t.Errorf("TopicDefault(%s) = %q, %v, %v; want %q, %v, %v", tc.name, v, dynamic, ok, tc.value, tc.dynamic, tc.ok)
		}
	}
	for b, topic := range brokerTopicDefaults {
		if _, _, ok := TopicConfigDefault(topic); !ok {
			t.Errorf("%s is the default of %s, which is not a topic config", b, topic)
		}
		if got, ok := BrokerSynonym(topic); !ok || got != b {
			t.Errorf("BrokerSynonym(%s) = %s, %v; want %s", topic, got, ok, b)
		}
	}
}

// A change of the cluster-wide defaults reaches the installed topics that
// have no value of their own.
func TestSetBrokerConfigs(t *testing.T) {
	tc := newTopicCache()
	install := func(mt metadata.Topic) {
		tc.mu.Lock()
		defer tc.mu.Unlock()
		nt := &Topic{Meta: mt, Config: tc.parseLocked(mt)}
		tc.byName[mt.Name], tc.byID[mt.ID] = nt, nt
	}
	plain := metadata.Topic{Name: "plain", ID: metadata.NewTopicID(), Partitions: 1}
	own := metadata.Topic{Name: "own", ID: metadata.NewTopicID(), Partitions: 1, Configs: map[string]string{"retention.ms": "1000"}}
	install(plain)
	install(own)

	tc.setBrokerConfigs(map[string]string{"log.retention.ms": "60000", "log.retention.bytes": "1024"})
	if c := tc.Topic("plain").Config; c.RetentionMs != 60000 || c.RetentionBytes != 1024 {
		t.Errorf("plain after the change: %+v", c)
	}
	if c := tc.Topic("own").Config; c.RetentionMs != 1000 || c.RetentionBytes != 1024 {
		t.Errorf("own after the change: %+v", c)
	}
	if tc.TopicByID(plain.ID) != tc.Topic("plain") {
		t.Errorf("by id and by name differ")
	}
	tc.setBrokerConfigs(nil)
	if c := tc.Topic("plain").Config; c.RetentionMs != 604800000 || c.RetentionBytes != -1 {
		t.Errorf("plain back at the defaults: %+v", c)
	}
}
