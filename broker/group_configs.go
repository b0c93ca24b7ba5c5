package broker

// Group configs (resource type GROUP of DescribeConfigs and
// IncrementalAlterConfigs), stored in etcd per group, all of a group's in
// one key (metadata.Store.ShareGroupConfig):
//
//   - KIP-848 consumer groups (coordinator/consumer_configs.go):
//     consumer.session.timeout.ms and consumer.heartbeat.interval.ms; the
//     session timeout must stay greater than the heartbeat interval, as
//     Kafka's GroupConfig checks.
//   - KIP-932 share groups (coordinator/share_partitions.go):
//     share.record.lock.duration.ms, share.delivery.count.limit,
//     share.auto.offset.reset, share.isolation.level,
//     share.session.timeout.ms and share.heartbeat.interval.ms.
//
// DescribeConfigs lists every one, with its value and source
// (GROUP_CONFIG when set, else DEFAULT_CONFIG with the default).
// Describing needs DESCRIBE_CONFIGS on the group, altering ALTER_CONFIGS
// (GROUP_AUTHORIZATION_FAILED). Unknown names and bad values get
// INVALID_CONFIG with a message saying why, and nothing of the request is
// applied. An alteration drops this broker's cached configs of the group,
// so that its members' next heartbeats see it; other brokers read it
// within a second.

import (
	"context"
	"errors"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/coordinator"
)

// groupConfigDefault is a group config's default; ok false for an unknown
// name.
func groupConfigDefault(name string) (def string, ok bool) {
	if def, ok = coordinator.ConsumerConfigDefaults[name]; ok {
		return def, true
	}
	def, ok = coordinator.ShareConfigDefaults[name]
	return def, ok
}

// groupConfigNames are every group config's name, sorted.
func groupConfigNames() []string {
	names := make([]string, 0, len(coordinator.ConsumerConfigDefaults)+len(coordinator.ShareConfigDefaults))
	for n := range coordinator.ConsumerConfigDefaults {
		names = append(names, n)
	}
	for n := range coordinator.ShareConfigDefaults {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// groupConfigDocs are the documentation DescribeConfigs gives of the
// consumer group configs.
var groupConfigDocs = map[string]string{
	coordinator.ConfigConsumerSessionTimeout: "The timeout to detect client failures when using the consumer group protocol. " +
		"Applies to each member at its next heartbeat. Strata: in [1000, 60000], greater than consumer.heartbeat.interval.ms.",
	coordinator.ConfigConsumerHeartbeat: "The heartbeat interval given to the members of a consumer group, in each heartbeat response. " +
		"Strata: in [100, 15000], smaller than consumer.session.timeout.ms.",
}

func (c *conn) describeGroupConfigs(ctx context.Context, group string, sr *kmsg.DescribeConfigsResponseResource, add func(name, value string, source kmsg.ConfigSource, readOnly bool, doc string)) {
	if !c.allowed(kmsg.ACLOperationDescribeConfigs, kmsg.ACLResourceTypeGroup, group) {
		setErr(&sr.ErrorCode, &sr.ErrorMessage, kerr.GroupAuthorizationFailed, kerr.GroupAuthorizationFailed.Description)
		return
	}
	set, err := c.srv.store.ShareGroupConfig(ctx, group)
	if err != nil {
		setErr(&sr.ErrorCode, &sr.ErrorMessage, kerr.KafkaStorageError, err.Error())
		return
	}
	for _, n := range groupConfigNames() {
		if v, ok := set[n]; ok {
			add(n, v, kmsg.ConfigSourceGroupConfig, false, groupConfigDocs[n])
		} else {
			def, _ := groupConfigDefault(n)
			add(n, def, kmsg.ConfigSourceDefaultConfig, false, groupConfigDocs[n])
		}
	}
}

var errGroupConfig = errors.New("invalid group config")

// validateGroupConfig checks one group config's value.
func validateGroupConfig(name, value string) error {
	if coordinator.IsConsumerConfig(name) {
		return coordinator.ValidateConsumerConfig(name, value)
	}
	return coordinator.ValidateShareConfig(name, value)
}

func (c *conn) alterGroupConfigs(ctx context.Context, rr kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) (int16, *string) {
	if !c.allowed(kmsg.ACLOperationAlterConfigs, kmsg.ACLResourceTypeGroup, rr.ResourceName) {
		return kerr.GroupAuthorizationFailed.Code, nil
	}
	var msg string
	change := func(cur map[string]string) (map[string]string, error) {
		consumer := false // a consumer config changes: check them together
		for _, rc := range rr.Configs {
			if coordinator.IsConsumerConfig(rc.Name) {
				consumer = true
			}
			switch rc.Op {
			case kmsg.IncrementalAlterConfigOpSet:
				v := ""
				if rc.Value != nil {
					v = *rc.Value
				}
				if err := validateGroupConfig(rc.Name, v); err != nil {
					msg = err.Error()
					return nil, errGroupConfig
				}
				cur[rc.Name] = v
			case kmsg.IncrementalAlterConfigOpDelete:
				if _, ok := groupConfigDefault(rc.Name); !ok {
					msg = "unknown group config " + rc.Name
					return nil, errGroupConfig
				}
				delete(cur, rc.Name)
			default:
				msg = "APPEND and SUBTRACT do not apply to group configs"
				return nil, errGroupConfig
			}
		}
		if consumer {
			if err := coordinator.ValidateConsumerConfigs(cur); err != nil {
				msg = err.Error()
				return nil, errGroupConfig
			}
		}
		if validateOnly {
			return nil, errValidateOnly
		}
		return cur, nil
	}
	err := c.srv.store.UpdateShareGroupConfig(ctx, rr.ResourceName, change)
	switch {
	case err == nil || errors.Is(err, errValidateOnly):
		if co := c.srv.groups; co != nil {
			co.Shares().InvalidateConfig(rr.ResourceName)
			co.InvalidateConsumerConfig(rr.ResourceName)
		}
		return 0, nil
	case errors.Is(err, errGroupConfig):
		return kerr.InvalidConfig.Code, &msg
	default:
		m := err.Error()
		return kerr.KafkaStorageError.Code, &m
	}
}

var errValidateOnly = errors.New("validate only")
