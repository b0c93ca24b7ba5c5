package broker

// Group configs (resource type GROUP of DescribeConfigs and
// IncrementalAlterConfigs), the share-group ones of KIP-932:
// share.record.lock.duration.ms, share.delivery.count.limit,
// share.auto.offset.reset, share.session.timeout.ms and
// share.heartbeat.interval.ms, stored in etcd per group
// (metadata.Store.ShareGroupConfig). Describing needs DESCRIBE_CONFIGS on
// the group, altering ALTER_CONFIGS (GROUP_AUTHORIZATION_FAILED). Unknown
// names and bad values get INVALID_CONFIG.

import (
	"context"
	"errors"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/coordinator"
)

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
	names := make([]string, 0, len(coordinator.ShareConfigDefaults))
	for n := range coordinator.ShareConfigDefaults {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if v, ok := set[n]; ok {
			add(n, v, kmsg.ConfigSourceGroupConfig, false, "")
		} else {
			add(n, coordinator.ShareConfigDefaults[n], kmsg.ConfigSourceDefaultConfig, false, "")
		}
	}
}

var errShareConfig = errors.New("invalid group config")

func (c *conn) alterGroupConfigs(ctx context.Context, rr kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) (int16, *string) {
	if !c.allowed(kmsg.ACLOperationAlterConfigs, kmsg.ACLResourceTypeGroup, rr.ResourceName) {
		return kerr.GroupAuthorizationFailed.Code, nil
	}
	var msg string
	change := func(cur map[string]string) (map[string]string, error) {
		for _, rc := range rr.Configs {
			switch rc.Op {
			case kmsg.IncrementalAlterConfigOpSet:
				v := ""
				if rc.Value != nil {
					v = *rc.Value
				}
				if err := coordinator.ValidateShareConfig(rc.Name, v); err != nil {
					msg = err.Error()
					return nil, errShareConfig
				}
				cur[rc.Name] = v
			case kmsg.IncrementalAlterConfigOpDelete:
				if _, ok := coordinator.ShareConfigDefaults[rc.Name]; !ok {
					msg = "unknown group config " + rc.Name
					return nil, errShareConfig
				}
				delete(cur, rc.Name)
			default:
				msg = "APPEND and SUBTRACT do not apply to group configs"
				return nil, errShareConfig
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
		}
		return 0, nil
	case errors.Is(err, errShareConfig):
		return kerr.InvalidConfig.Code, &msg
	default:
		m := err.Error()
		return kerr.KafkaStorageError.Code, &m
	}
}

var errValidateOnly = errors.New("validate only")
