package partition

import "maps"

// Cluster-wide topic defaults. Kafka lets the broker resource "" hold
// dynamic defaults (DYNAMIC_DEFAULT_BROKER_CONFIG) for some topic configs
// under a broker config name of their own: a topic without its own value
// of retention.ms uses the cluster's log.retention.ms when one is set,
// else the static default. Strata keeps those cluster-wide configs in etcd
// (metadata.View.BrokerConfigs); this file is the one place that says
// which broker config is the default of which topic config, and every path
// that needs a topic's effective value or a default's source goes through
// TopicDefault or EffectiveTopicConfigs.

// brokerTopicDefaults maps each dynamic broker config that is a topic
// default to the topic config it is the default of (Kafka's synonyms).
var brokerTopicDefaults = map[string]string{
	"log.cleanup.policy":  "cleanup.policy",
	"log.retention.bytes": "retention.bytes",
	"log.retention.ms":    "retention.ms",
	"log.segment.bytes":   "segment.bytes",
	"message.max.bytes":   "max.message.bytes",
}

// TopicDefaultOf returns the topic config a broker config is the cluster
// default of; ok is false for a broker config that is not a topic default.
func TopicDefaultOf(brokerConfig string) (topicConfig string, ok bool) {
	t, ok := brokerTopicDefaults[brokerConfig]
	return t, ok
}

// BrokerSynonym returns the broker config that holds the cluster default of
// a topic config; ok is false when the topic config has none.
func BrokerSynonym(topicConfig string) (brokerConfig string, ok bool) {
	for b, t := range brokerTopicDefaults {
		if t == topicConfig {
			return b, true
		}
	}
	return "", false
}

// TopicDefault returns the value a topic without its own value of the topic
// config name uses, given the cluster-wide broker configs: the cluster's
// dynamic default (dynamic is true) or the static default. ok is false for
// an unknown name.
func TopicDefault(name string, brokerConfigs map[string]string) (value string, dynamic, ok bool) {
	if b, has := BrokerSynonym(name); has {
		if v, set := brokerConfigs[b]; set {
			return v, true, true
		}
	}
	def, _, ok := TopicConfigDefault(name)
	return def, false, ok
}

// EffectiveTopicConfigs is a topic's own configs set plus, for each topic
// config it leaves unset that has a cluster-wide default in brokerConfigs,
// that default: what ParseTopicConfig turns into the configs the data path
// uses.
func EffectiveTopicConfigs(set, brokerConfigs map[string]string) map[string]string {
	out := maps.Clone(set)
	for b, t := range brokerTopicDefaults {
		v, ok := brokerConfigs[b]
		if _, own := set[t]; ok && !own {
			if out == nil {
				out = map[string]string{}
			}
			out[t] = v
		}
	}
	return out
}
