package broker

// IncrementalAlterConfigs: v0-v1.
//
// SET, DELETE (back to the default), APPEND and SUBTRACT (for the list
// configs cleanup.policy and {leader,follower}.replication.throttled.replicas)
// on topic configs; INVALID_CONFIG for unknown names, bad values, or
// APPEND/SUBTRACT on a non-list config. On the broker resource "", the
// cluster-wide dynamic defaults (broker_configs.go); any other broker
// config, or a broker id, gets INVALID_REQUEST. A topic needs ALTER_CONFIGS on it
// (TOPIC_AUTHORIZATION_FAILED), a broker ALTER_CONFIGS on the cluster
// (CLUSTER_AUTHORIZATION_FAILED), checked first as in Kafka.

import (
	"context"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/partition"
)

func handleIncrementalAlterConfigs(ctx context.Context, c *conn, req *kmsg.IncrementalAlterConfigsRequest, resp *kmsg.IncrementalAlterConfigsResponse) {
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		if rr.ResourceType == kmsg.ConfigResourceTypeGroupConfig { // group configs, KIP-848 and KIP-932 (group_configs.go)
			sr.ErrorCode, sr.ErrorMessage = c.alterGroupConfigs(ctx, rr, req.ValidateOnly)
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		brokerChanges := func() ([]brokerConfigChange, *kerr.Error, string) { return c.srv.incrementalBrokerChanges(rr) }
		topicConfigs := func(cur map[string]string) (map[string]string, error) {
			for _, rc := range rr.Configs {
				if _, ok := partition.TopicConfigInfo(rc.Name); !ok {
					return nil, partition.ValidateTopicConfig(rc.Name, rc.Value) // unknown: Kafka's message
				}
				switch rc.Op {
				case kmsg.IncrementalAlterConfigOpSet:
					if err := partition.ValidateTopicConfig(rc.Name, rc.Value); err != nil {
						return nil, err
					}
					cur[rc.Name] = *rc.Value
				case kmsg.IncrementalAlterConfigOpDelete:
					delete(cur, rc.Name)
				case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
					if !partition.IsListTopicConfig(rc.Name) {
						return nil, &partition.ConfigError{Message: "Config value append is not allowed for config key: " + rc.Name} // Kafka's words, for SUBTRACT too
					}
					if rc.Value == nil {
						return nil, fmt.Errorf("topic config %q needs a value", rc.Name)
					}
					v, ok := cur[rc.Name]
					if !ok {
						v, _, _ = partition.TopicConfigDefault(rc.Name)
					}
					next := editList(v, *rc.Value, rc.Op == kmsg.IncrementalAlterConfigOpAppend)
					if err := partition.ValidateTopicConfig(rc.Name, &next); err != nil {
						return nil, err
					}
					cur[rc.Name] = next
				default:
					return nil, fmt.Errorf("unknown operation %d for %s", rc.Op, rc.Name)
				}
			}
			return cur, nil
		}
		sr.ErrorCode, sr.ErrorMessage = c.alterConfigs(ctx, rr.ResourceType, rr.ResourceName, false, req.ValidateOnly, brokerChanges, topicConfigs)
		resp.Resources = append(resp.Resources, sr)
	}
}

// editList appends items to, or subtracts them from, a comma-separated list.
func editList(list, items string, add bool) string {
	var out []string
	has := map[string]bool{}
	drop := map[string]bool{}
	for _, it := range strings.Split(items, ",") {
		drop[strings.TrimSpace(it)] = true
	}
	for _, it := range strings.Split(list, ",") {
		it = strings.TrimSpace(it)
		if it == "" || (!add && drop[it]) || has[it] {
			continue
		}
		has[it] = true
		out = append(out, it)
	}
	if add {
		for _, it := range strings.Split(items, ",") {
			if it = strings.TrimSpace(it); it != "" && !has[it] {
				has[it] = true
				out = append(out, it)
			}
		}
	}
	return strings.Join(out, ",")
}
