package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestTopicConfigSynonyms(t *testing.T) {
	type syn struct {
		name, value string
		source      kmsg.ConfigSource
	}
	own := map[string]string{"retention.ms": "1000", "segment.ms": "5"}
	cluster := map[string]string{"log.retention.ms": "60000"}
	cases := []struct {
		name    string
		cluster map[string]string
		want    []syn
	}{
		{"retention.ms", cluster, []syn{
			{"retention.ms", "1000", kmsg.ConfigSourceDynamicTopicConfig},
			{"log.retention.ms", "60000", kmsg.ConfigSourceDynamicDefaultBrokerConfig},
			{"log.retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig},
		}},
		{"retention.ms", nil, []syn{
			{"retention.ms", "1000", kmsg.ConfigSourceDynamicTopicConfig},
			{"log.retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig},
		}},
		{"retention.bytes", cluster, []syn{{"log.retention.bytes", "-1", kmsg.ConfigSourceDefaultConfig}}},
		{"segment.ms", cluster, []syn{
			{"segment.ms", "5", kmsg.ConfigSourceDynamicTopicConfig},
			{"segment.ms", "604800000", kmsg.ConfigSourceDefaultConfig},
		}},
	}
	for _, tc := range cases {
		got := topicConfigSynonyms(tc.name, own, tc.cluster)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %d synonyms, want %+v", tc.name, len(got), tc.want)
			continue
		}
		for i, s := range got {
			if (syn{s.Name, *s.Value, s.Source}) != tc.want[i] {
				t.Errorf("%s: synonym %d = %s=%s from %v, want %+v", tc.name, i, s.Name, *s.Value, s.Source, tc.want[i])
			}
		}
	}
}
