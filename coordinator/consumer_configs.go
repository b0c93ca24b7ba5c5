package coordinator

// The group configs of KIP-848 consumer groups (Kafka's GroupConfig):
// consumer.session.timeout.ms and consumer.heartbeat.interval.ms, set per
// group with IncrementalAlterConfigs (resource type GROUP) and stored in
// etcd beside the share group ones (metadata.Store.ShareGroupConfig holds
// every group config of a group). A group without them has the broker
// defaults, Kafka's group.consumer.session.timeout.ms and
// group.consumer.heartbeat.interval.ms (ConsumerSessionTimeout and
// ConsumerHeartbeatInterval; not configurable in Strata).
//
// As in Kafka, a change applies at each member's next heartbeat: the
// heartbeat restarts the member's session timer with the group's session
// timeout, and its response carries the group's heartbeat interval. The
// broker reads the group's configs before the heartbeat, with no lock held
// (Coordinator.ConsumerConfig, cached for consumerConfigTTL and dropped
// when the configs are altered on this broker); the heartbeat, under the
// shard lock, only looks at that cache (cachedConsumerConfig). Classic
// members of a mixed group keep their own session timeout.

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// The consumer group configs (Describe/IncrementalAlterConfigs, resource
// GROUP).
const (
	ConfigConsumerSessionTimeout = "consumer.session.timeout.ms"
	ConfigConsumerHeartbeat      = "consumer.heartbeat.interval.ms"
)

// ConsumerConfigDefaults are the consumer group configs and their
// defaults (Kafka's group.consumer.session.timeout.ms and
// group.consumer.heartbeat.interval.ms defaults).
var ConsumerConfigDefaults = map[string]string{
	ConfigConsumerSessionTimeout: strconv.FormatInt(ConsumerSessionTimeout.Milliseconds(), 10),
	ConfigConsumerHeartbeat:      strconv.FormatInt(ConsumerHeartbeatInterval.Milliseconds(), 10),
}

// The bounds of the consumer group configs, in ms. The maxima are Kafka's
// defaults of group.consumer.max.session.timeout.ms (60 s) and
// group.consumer.max.heartbeat.interval.ms (15 s). The minima are lower
// than Kafka's group.consumer.min.session.timeout.ms (45 s) and
// group.consumer.min.heartbeat.interval.ms (5 s), a deviation, so that a
// group (a test) can detect a dead member within seconds.
const (
	MinConsumerSessionTimeoutMs = 1000
	MaxConsumerSessionTimeoutMs = 60000
	MinConsumerHeartbeatMs      = 100
	MaxConsumerHeartbeatMs      = 15000
)

// consumerConfigTTL is how long a group's consumer configs are cached: a
// change made through another broker reaches this one's members at their
// first heartbeat after it.
const consumerConfigTTL = time.Second

// consumerConfigReadTimeout bounds the read of a group's configs.
const consumerConfigReadTimeout = 5 * time.Second

// IsConsumerConfig tells whether name is a consumer group config.
func IsConsumerConfig(name string) bool {
	_, ok := ConsumerConfigDefaults[name]
	return ok
}

// ValidateConsumerConfig checks one consumer group config's value.
func ValidateConsumerConfig(name, value string) error {
	bound := func(lo, hi int64) error {
		n, err := strconv.ParseInt(value, 10, 32)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("%s must be an integer in [%d, %d]", name, lo, hi)
		}
		return nil
	}
	switch name {
	case ConfigConsumerSessionTimeout:
		return bound(MinConsumerSessionTimeoutMs, MaxConsumerSessionTimeoutMs)
	case ConfigConsumerHeartbeat:
		return bound(MinConsumerHeartbeatMs, MaxConsumerHeartbeatMs)
	}
	return fmt.Errorf("unknown group config %q", name)
}

// ValidateConsumerConfigs checks a group's configs as a whole, as Kafka's
// GroupConfig.validate does once each value is valid: the session timeout
// (set or default) must be greater than the heartbeat interval.
func ValidateConsumerConfigs(set map[string]string) error {
	for name := range ConsumerConfigDefaults {
		if v, ok := set[name]; ok {
			if err := ValidateConsumerConfig(name, v); err != nil {
				return err
			}
		}
	}
	cfg := consumerConfigValues(set)
	if cfg.SessionTimeout <= cfg.HeartbeatInterval {
		return fmt.Errorf("%s (%d) must be greater than %s (%d)", ConfigConsumerSessionTimeout, cfg.SessionTimeout.Milliseconds(),
			ConfigConsumerHeartbeat, cfg.HeartbeatInterval.Milliseconds())
	}
	return nil
}

// ConsumerConfig is a consumer group's session timeout and heartbeat
// interval.
type ConsumerConfig struct {
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	read              time.Time // when read from etcd (zero: defaults)
}

// DefaultConsumerConfig is the configs of a group that sets none.
func DefaultConsumerConfig() ConsumerConfig {
	return ConsumerConfig{SessionTimeout: ConsumerSessionTimeout, HeartbeatInterval: ConsumerHeartbeatInterval}
}

// parseConsumerConfig reads the consumer configs of a group's stored
// configs; an invalid value (as the bounds were when it was set, or as a
// hand edit left it) counts as unset, and a session timeout not above the
// heartbeat interval gives both defaults.
func parseConsumerConfig(set map[string]string) ConsumerConfig {
	cfg := consumerConfigValues(set)
	if cfg.SessionTimeout <= cfg.HeartbeatInterval {
		return DefaultConsumerConfig()
	}
	return cfg
}

// consumerConfigValues is each config's valid value, or its default.
func consumerConfigValues(set map[string]string) ConsumerConfig {
	get := func(name string, def time.Duration) time.Duration {
		if v, ok := set[name]; ok && ValidateConsumerConfig(name, v) == nil {
			n, _ := strconv.ParseInt(v, 10, 64)
			return time.Duration(n) * time.Millisecond
		}
		return def
	}
	return ConsumerConfig{
		SessionTimeout:    get(ConfigConsumerSessionTimeout, ConsumerSessionTimeout),
		HeartbeatInterval: get(ConfigConsumerHeartbeat, ConsumerHeartbeatInterval),
	}
}

// consumerConfigCache holds the groups' consumer configs as last read;
// its zero value is empty. Its lock is never held across a wait.
type consumerConfigCache struct {
	mu sync.Mutex
	m  map[string]ConsumerConfig
}

func (cc *consumerConfigCache) get(group string) (ConsumerConfig, bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	cfg, ok := cc.m[group]
	return cfg, ok
}

func (cc *consumerConfigCache) put(group string, cfg ConsumerConfig) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.m == nil {
		cc.m = map[string]ConsumerConfig{}
	}
	cc.m[group] = cfg
}

func (cc *consumerConfigCache) drop(group string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	delete(cc.m, group)
}

// ConsumerConfig returns a group's consumer configs: cached when read less
// than consumerConfigTTL ago, else read from etcd. It must be called with
// no lock held (it may wait for etcd). On a read error it keeps what it
// had (the defaults if nothing).
func (c *Coordinator) ConsumerConfig(group string) ConsumerConfig {
	cfg, ok := c.consumerConfigs.get(group)
	if ok && time.Since(cfg.read) < consumerConfigTTL {
		return cfg
	}
	if c.store == nil { // a unit test's coordinator: what was put, or the defaults
		if ok {
			return cfg
		}
		return DefaultConsumerConfig()
	}
	ctx, cancel := context.WithTimeout(c.ctx, consumerConfigReadTimeout)
	set, err := c.store.ShareGroupConfig(ctx, group) // every group config of the group
	cancel()
	if err != nil {
		if ok {
			return cfg
		}
		return DefaultConsumerConfig()
	}
	cfg = parseConsumerConfig(set)
	cfg.read = time.Now()
	c.consumerConfigs.put(group, cfg)
	return cfg
}

// InvalidateConsumerConfig drops a group's cached consumer configs (they
// were altered through this broker): the next heartbeat reads them.
func (c *Coordinator) InvalidateConsumerConfig(group string) {
	c.consumerConfigs.drop(group)
}

// cachedConsumerConfig is a group's consumer configs as last read, without
// reading etcd (the shard lock may be held): the defaults if never read.
func (c *Coordinator) cachedConsumerConfig(group string) ConsumerConfig {
	if cfg, ok := c.consumerConfigs.get(group); ok {
		return cfg
	}
	return DefaultConsumerConfig()
}
