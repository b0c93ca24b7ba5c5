package broker

// AlterConfigs: v0-v2.
//
// Replaces the whole set of a topic's configs (Kafka's non-incremental
// semantics: configs not named return to their defaults). Unknown names and
// bad values get INVALID_CONFIG. On the broker resource "" it replaces the
// cluster-wide dynamic defaults (broker_configs.go); other broker settings
// are flags of `strata serve` (INVALID_REQUEST). A topic
// needs ALTER_CONFIGS on it (TOPIC_AUTHORIZATION_FAILED), a broker ALTER_CONFIGS
// on the cluster (CLUSTER_AUTHORIZATION_FAILED), checked first as in Kafka.

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/partition"
)

func handleAlterConfigs(ctx context.Context, c *conn, req *kmsg.AlterConfigsRequest, resp *kmsg.AlterConfigsResponse) {
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		brokerChanges := func() ([]brokerConfigChange, *kerr.Error, string) {
			changes := make([]brokerConfigChange, 0, len(rr.Configs))
			for _, rc := range rr.Configs {
				changes = append(changes, brokerConfigChange{rc.Name, rc.Value})
			}
			return changes, nil, ""
		}
		topicConfigs := func(map[string]string) (map[string]string, error) {
			next := map[string]string{}
			for _, rc := range rr.Configs {
				if err := partition.ValidateTopicConfig(rc.Name, rc.Value); err != nil {
					return nil, err
				}
				next[rc.Name] = *rc.Value
			}
			return next, nil
		}
		sr.ErrorCode, sr.ErrorMessage = c.alterConfigs(ctx, rr.ResourceType, rr.ResourceName, true, req.ValidateOnly, brokerChanges, topicConfigs)
		resp.Resources = append(resp.Resources, sr)
	}
}

// alterConfigs alters one resource of AlterConfigs or
// IncrementalAlterConfigs, as both do it: ALTER_CONFIGS checked first
// (configsDenied); then a broker resource takes the changes that
// brokerChanges makes of the request (or its error), replacing the
// cluster-wide dynamic configs first when replace is set; a topic takes
// the configs that topicConfigs makes of its current ones; any other
// resource type is INVALID_REQUEST. It returns the resource's error code
// and message (0 and nil: altered).
func (c *conn) alterConfigs(ctx context.Context, rt kmsg.ConfigResourceType, name string, replace, validateOnly bool,
	brokerChanges func() ([]brokerConfigChange, *kerr.Error, string),
	topicConfigs func(cur map[string]string) (map[string]string, error),
) (code int16, msg *string) {
	if e := c.configsDenied(kmsg.ACLOperationAlterConfigs, rt, name); e != nil {
		setErr(&code, &msg, e, e.Description)
		return code, msg
	}
	switch rt {
	case kmsg.ConfigResourceTypeBroker:
		changes, e, text := brokerChanges()
		if e == nil {
			e, text = c.srv.alterBrokerConfigs(ctx, name, replace, validateOnly, changes)
		}
		if e != nil {
			setErr(&code, &msg, e, text)
		}
	case kmsg.ConfigResourceTypeTopic:
		setAlterErr(&code, &msg, c.srv.alterTopicConfigs(ctx, name, validateOnly, topicConfigs))
	default:
		setErr(&code, &msg, kerr.InvalidRequest, brokerConfigsReadOnly)
	}
	return code, msg
}

// brokerConfigsReadOnly answers attempts to alter broker resources.
const brokerConfigsReadOnly = "only topic configs can be altered; broker settings are flags of strata serve"

// errConfig marks a config the user got wrong.
type errConfig struct{ error }

// alterTopicConfigs applies change to a topic's explicitly set configs.
func (b *server) alterTopicConfigs(ctx context.Context, name string, validateOnly bool, change func(cur map[string]string) (map[string]string, error)) error {
	return b.topics.UpdateTopic(ctx, name, validateOnly, func(mt *metadata.Topic) error {
		cur := make(map[string]string, len(mt.Configs))
		for k, v := range mt.Configs {
			cur[k] = v
		}
		next, err := change(cur)
		if err != nil {
			return errConfig{err}
		}
		mt.Configs = next
		if !validateOnly {
			b.log.Info("altering topic configs", "topic", name, "configs", next)
		}
		return nil
	})
}

// setErr sets a response's error code to e's and its message to text.
func setErr(code *int16, msg **string, e *kerr.Error, text string) {
	*code = e.Code
	*msg = &text
}

// setErrOf sets a response's error code to e's and, when err is not nil,
// its message to err's text.
func setErrOf(code *int16, msg **string, e *kerr.Error, err error) {
	*code = e.Code
	if err != nil {
		text := err.Error()
		*msg = &text
	}
}

// setAlterErr maps an alterTopicConfigs error to a Kafka error.
func setAlterErr(code *int16, msg **string, err error) {
	var ce errConfig
	switch {
	case err == nil:
	case errors.Is(err, metadata.ErrUnknownTopic):
		setErr(code, msg, kerr.UnknownTopicOrPartition, err.Error())
	case errors.As(err, &ce):
		setErr(code, msg, kerr.InvalidConfig, ce.Error())
	default:
		setErr(code, msg, kerr.UnknownServerError, err.Error())
	}
}
