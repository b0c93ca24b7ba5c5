package mirror

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicNames decides which source topics are mirrored and what they are
// called on the target.
type topicNames struct {
	topics      *regexp.Regexp
	prefix      string // of target names
	targetAlias string // source topics named TARGET-ALIAS.* came from the target
}

func newTopicNames(c *Config) (topicNames, error) {
	re, err := anchored(c.Topics)
	if err != nil {
		return topicNames{}, err
	}
	return topicNames{topics: re, prefix: c.TargetPrefix, targetAlias: c.TargetAlias}, nil
}

// match reports whether the source topic is mirrored: it matches the
// regex, is not internal (__*, which also covers every mirror's offset
// syncs) and, for loop prevention, is not one the target's own mirror
// named after the target (TARGET-ALIAS.*).
func (n topicNames) match(topic string) bool {
	switch {
	case n.topics == nil, strings.HasPrefix(topic, "__"):
		return false
	case n.targetAlias != "" && strings.HasPrefix(topic, n.targetAlias+"."):
		return false
	}
	return n.topics.MatchString(topic)
}

// target is the target topic's name of a source topic.
func (n topicNames) target(topic string) string { return n.prefix + topic }

// configChanges are the alterations that give a target topic the source
// topic's configs: set every source config that is not excluded and
// differs on the target, delete every config set on the target topic
// itself that the source topic does not set. source and target hold the
// configs set on the topic itself (DYNAMIC_TOPIC_CONFIG), not defaults.
func configChanges(source, target map[string]string, exclude *regexp.Regexp) []kadm.AlterConfig {
	var out []kadm.AlterConfig
	for k, v := range source {
		if exclude != nil && exclude.MatchString(k) {
			continue
		}
		if tv, ok := target[k]; !ok || tv != v {
			v := v
			out = append(out, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
		}
	}
	for k := range target {
		if exclude != nil && exclude.MatchString(k) {
			continue
		}
		if _, ok := source[k]; !ok {
			out = append(out, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// topicConfigs are the configs set on each topic itself.
func topicConfigs(ctx context.Context, adm *kadm.Client, topics []string) (map[string]map[string]string, error) {
	out := make(map[string]map[string]string, len(topics))
	if len(topics) == 0 {
		return out, nil
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		return nil, err
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			return nil, fmt.Errorf("describe configs of %s: %w", rc.Name, rc.Err)
		}
		m := make(map[string]string)
		for _, c := range rc.Configs {
			if c.Source == kmsg.ConfigSourceDynamicTopicConfig && !c.Sensitive {
				m[c.Key] = c.MaybeValue()
			}
		}
		out[rc.Name] = m
	}
	return out, nil
}

// syncTopics makes the target topics match the source's matched topics:
// created with the source's partition count and configs, partitions added
// where the source has grown, configs set and deleted to match. It returns
// the partition count of every matched source topic whose target topic is
// ready (created, with at least as many partitions). A topic that fails is
// left out, counted in the errors metric and logged; the next round tries
// it again.
func (m *Mirror) syncTopics(ctx context.Context) (map[string]int32, error) {
	src, err := m.srcAdm.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("list source topics: %w", err)
	}
	want := make(map[string]int32)
	var names []string
	for _, td := range src.Sorted() {
		if td.Err != nil || !m.names.match(td.Topic) {
			continue
		}
		want[td.Topic] = int32(len(td.Partitions))
		names = append(names, td.Topic)
	}
	if len(names) == 0 {
		return want, nil
	}
	srcConfigs, err := topicConfigs(ctx, m.srcAdm, names)
	if err != nil {
		return nil, fmt.Errorf("source configs: %w", err)
	}
	targets := make([]string, len(names))
	for i, n := range names {
		targets[i] = m.names.target(n)
	}
	tgt, err := m.tgtAdm.ListTopics(ctx, targets...)
	if err != nil {
		return nil, fmt.Errorf("list target topics: %w", err)
	}
	ready := make(map[string]int32)
	var existing []string
	for _, topic := range names {
		tname := m.names.target(topic)
		td, ok := tgt[tname]
		if !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
			cfg := make(map[string]*string)
			for k, v := range srcConfigs[topic] {
				if m.cfgExclude == nil || !m.cfgExclude.MatchString(k) {
					cfg[k] = &v
				}
			}
			resp, err := m.tgtAdm.CreateTopic(ctx, want[topic], -1, cfg, tname)
			if err == nil {
				err = resp.Err
			}
			if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
				m.topicError(tname, fmt.Errorf("create: %w", err))
				continue
			}
			m.log.Info("mirror: created target topic", "topic", tname, "partitions", want[topic])
			ready[topic] = want[topic]
			continue
		}
		if td.Err != nil {
			m.topicError(tname, td.Err)
			continue
		}
		have := int32(len(td.Partitions))
		if have < want[topic] {
			resp, err := m.tgtAdm.UpdatePartitions(ctx, int(want[topic]), tname)
			if err == nil {
				_, err = resp.On(tname, func(r *kadm.CreatePartitionsResponse) error { return r.Err })
			}
			if err != nil {
				m.topicError(tname, fmt.Errorf("add partitions: %w", err))
				continue
			}
			m.log.Info("mirror: added target partitions", "topic", tname, "from", have, "to", want[topic])
		}
		ready[topic] = want[topic]
		existing = append(existing, topic)
	}
	m.syncConfigs(ctx, existing, srcConfigs)
	return ready, nil
}

// syncConfigs alters the configs of existing target topics to the
// source's. A target that refuses an alteration (a config it does not
// know) is logged and counted; the others are applied one by one then.
func (m *Mirror) syncConfigs(ctx context.Context, topics []string, srcConfigs map[string]map[string]string) {
	if len(topics) == 0 {
		return
	}
	targets := make([]string, len(topics))
	for i, t := range topics {
		targets[i] = m.names.target(t)
	}
	tgtConfigs, err := topicConfigs(ctx, m.tgtAdm, targets)
	if err != nil {
		m.errorf("sync configs", err)
		return
	}
	for i, topic := range topics {
		tname := targets[i]
		changes := configChanges(srcConfigs[topic], tgtConfigs[tname], m.cfgExclude)
		if len(changes) == 0 {
			continue
		}
		if err := m.alterConfigs(ctx, tname, changes); err == nil {
			m.log.Info("mirror: synchronised target topic configs", "topic", tname, "changes", len(changes))
			continue
		}
		for _, c := range changes { // one by one: apply what the target takes
			if err := m.alterConfigs(ctx, tname, []kadm.AlterConfig{c}); err != nil {
				m.topicError(tname, fmt.Errorf("config %s: %w", c.Name, err))
			}
		}
	}
}

func (m *Mirror) alterConfigs(ctx context.Context, topic string, changes []kadm.AlterConfig) error {
	resp, err := m.tgtAdm.AlterTopicConfigs(ctx, changes, topic)
	if err != nil {
		return err
	}
	_, err = resp.On(topic, func(r *kadm.AlterConfigsResponse) error { return r.Err })
	return err
}
