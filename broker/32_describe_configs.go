package broker

// DescribeConfigs: v0-v4.
//
// Topic resources list every topic config Strata knows, with the value set
// on the topic (source DYNAMIC_TOPIC_CONFIG) or Kafka's default (source
// DEFAULT_CONFIG, or DYNAMIC_DEFAULT_BROKER_CONFIG for a cluster-wide
// default: topicConfigDefault), and with include_synonyms (v1+) the
// synonyms Kafka lists, most specific first: the topic's own value, then
// the broker config holding the cluster default (topicConfigSynonyms).
// Documentation (v3+) too. Broker resources: broker_configs.go, with
// synonyms and types. A topic's configs need DESCRIBE_CONFIGS on the
// topic (TOPIC_AUTHORIZATION_FAILED), a broker's on the cluster
// (CLUSTER_AUTHORIZATION_FAILED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/partition"
)

func handleDescribeConfigs(ctx context.Context, c *conn, req *kmsg.DescribeConfigsRequest, resp *kmsg.DescribeConfigsResponse) {
	b := c.srv
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		want := func(name string) bool {
			if rr.ConfigNames == nil {
				return true
			}
			for _, n := range rr.ConfigNames {
				if n == name {
					return true
				}
			}
			return false
		}
		add := func(name, value string, source kmsg.ConfigSource, readOnly bool, doc string) {
			if !want(name) {
				return
			}
			rc := kmsg.NewDescribeConfigsResponseResourceConfig()
			rc.Name = name
			v := value
			rc.Value = &v
			rc.Source = source
			rc.IsDefault = source == kmsg.ConfigSourceDefaultConfig
			rc.ReadOnly = readOnly
			if req.IncludeDocumentation && doc != "" {
				d := doc
				rc.Documentation = &d
			}
			sr.Configs = append(sr.Configs, rc)
		}
		if rr.ResourceType == kmsg.ConfigResourceTypeGroupConfig { // group configs, KIP-848 and KIP-932 (group_configs.go)
			c.describeGroupConfigs(ctx, rr.ResourceName, &sr, add)
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		if e := c.configsDenied(kmsg.ACLOperationDescribeConfigs, rr.ResourceType, rr.ResourceName); e != nil {
			setErr(&sr.ErrorCode, &sr.ErrorMessage, e, e.Description)
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t, err := b.topics.Lookup(ctx, rr.ResourceName)
			if err != nil {
				sr.ErrorCode = kerr.UnknownTopicOrPartition.Code
				break
			}
			// Every one of Kafka 3.9's topic configs (partition/config.go),
			// each with its type (v3+) and Kafka's documentation with
			// Strata's note; none is read-only or sensitive.
			for _, name := range partition.TopicConfigNames() {
				spec, _ := partition.TopicConfigInfo(name)
				n := len(sr.Configs)
				if v, ok := t.Meta.Configs[name]; ok {
					add(name, v, kmsg.ConfigSourceDynamicTopicConfig, spec.ReadOnly, spec.Doc)
				} else {
					def, src := b.topicConfigDefault(name)
					add(name, def, src, spec.ReadOnly, spec.Doc)
				}
				if len(sr.Configs) > n { // wanted
					rc := &sr.Configs[n]
					rc.ConfigType = kmsg.ConfigType(spec.Type)
					rc.IsSensitive = spec.Sensitive
					if req.IncludeSynonyms {
						rc.ConfigSynonyms = topicConfigSynonyms(name, t.Meta.Configs, b.clusterBrokerConfigs())
					}
				}
			}
		case kmsg.ConfigResourceTypeBroker:
			cfgs, e, msg := b.describeBroker(rr.ResourceName, req.IncludeSynonyms, req.IncludeDocumentation, want)
			if e != nil {
				setErr(&sr.ErrorCode, &sr.ErrorMessage, e, msg)
				break
			}
			sr.Configs = cfgs
		default:
			sr.ErrorCode = kerr.InvalidRequest.Code
		}
		resp.Resources = append(resp.Resources, sr)
	}
}

// configsDenied returns the error for a config resource the principal may
// not do op (DESCRIBE_CONFIGS or ALTER_CONFIGS) on, or nil: as in Kafka, a
// topic's configs need op on the topic, a broker's on the cluster.
func (c *conn) configsDenied(op kmsg.ACLOperation, rt kmsg.ConfigResourceType, name string) *kerr.Error {
	switch rt {
	case kmsg.ConfigResourceTypeTopic:
		if !c.allowed(op, kmsg.ACLResourceTypeTopic, name) {
			return kerr.TopicAuthorizationFailed
		}
	case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger:
		if !c.allowedOnCluster(op) {
			return kerr.ClusterAuthorizationFailed
		}
	}
	return nil
}
