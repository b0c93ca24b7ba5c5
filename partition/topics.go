package partition

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/tiering"
)

// Topic is a topic this broker knows, with its parsed configs. A Topic is
// never changed once installed: a new definition installs a new Topic that
// shares the partitions of the old one.
type Topic struct {
	Meta   metadata.Topic
	Config TopicConfig
	Parts  []*Partition // by partition number
}

// topicCache is the broker's view of topics and of the partitions it leads.
// etcd is the truth; the cache is refreshed from it on a miss and by every
// cluster view (Manager.SetView).
type topicCache struct {
	mu     sync.RWMutex
	byName map[string]*Topic
	byID   map[metadata.TopicID]*Topic
	parts  map[metadata.PartitionKey]*Partition
	// brokerConfigs are the cluster-wide broker configs the installed
	// topics' Configs were parsed with (EffectiveTopicConfigs).
	brokerConfigs map[string]string
	// demand is shared by every partition installed (Partition.demand).
	demand *commitDemand
}

func newTopicCache() topicCache {
	return topicCache{
		byName: map[string]*Topic{},
		byID:   map[metadata.TopicID]*Topic{},
		parts:  map[metadata.PartitionKey]*Partition{},
		demand: newCommitDemand(),
	}
}

var _ tiering.Leaders = (*Manager)(nil)

// Fate implements tiering.Leaders: a led partition's records are
// committed; an ended leadership that is undecided holds them back; any
// other known partition's are set aside; a deleted topic's dropped.
func (m *Manager) Fate(key metadata.PartitionKey) (tiering.Fate, tiering.Tenure) {
	p := m.Partition(key)
	if p == nil {
		return tiering.FateDrop, tiering.Tenure{}
	}
	epoch, leaderEpoch, undecided := p.Current()
	switch {
	case undecided != 0:
		return tiering.FateWait, tiering.Tenure{}
	case epoch == 0:
		return tiering.FateSetAside, tiering.Tenure{}
	}
	return tiering.FateCommit, tiering.Tenure{Epoch: epoch, LeaderEpoch: leaderEpoch}
}

// Fenced implements tiering.Leaders: the leadership of epoch ended, as a
// commit found; the reconciler is woken to try to resume it.
func (m *Manager) Fenced(key metadata.PartitionKey, epoch int64) {
	if p := m.Partition(key); p != nil && p.stop(epoch) {
		m.metrics.lost.Inc()
		m.log.Warn("a commit was fenced: the leadership ended; trying to resume it", "topic", p.topic, "partition", key.Partition, "epoch", epoch)
		m.view.touch()
	}
}

// TopicName implements tiering.Leaders.
func (m *Manager) TopicName(id metadata.TopicID) string {
	if t := m.TopicByID(id); t != nil {
		return t.Meta.Name
	}
	return ""
}

// Partition returns a known partition, nil if unknown.
func (tc *topicCache) Partition(key metadata.PartitionKey) *Partition {
	tc.mu.RLock()
	defer tc.mu.RUnlock()
	return tc.parts[key]
}

// Topic returns a known topic by name, nil if unknown.
func (tc *topicCache) Topic(name string) *Topic {
	tc.mu.RLock()
	defer tc.mu.RUnlock()
	return tc.byName[name]
}

// TopicByID returns a known topic by id, nil if unknown.
func (tc *topicCache) TopicByID(id metadata.TopicID) *Topic {
	tc.mu.RLock()
	defer tc.mu.RUnlock()
	return tc.byID[id]
}

// Lookup returns a topic by name, reading etcd on a cache miss.
func (m *Manager) Lookup(ctx context.Context, name string) (*Topic, error) {
	if t := m.Topic(name); t != nil {
		return t, nil
	}
	mt, err := m.store.Topic(ctx, name)
	if err != nil {
		return nil, err
	}
	return m.Install(mt), nil
}

// Topics returns every known topic, by name.
func (tc *topicCache) Topics() []*Topic {
	tc.mu.RLock()
	defer tc.mu.RUnlock()
	out := slices.AppendSeq(make([]*Topic, 0, len(tc.byName)), maps.Values(tc.byName))
	sort.Slice(out, func(i, j int) bool { return out[i].Meta.Name < out[j].Meta.Name })
	return out
}

// sync brings the cache in line with a cluster view: topics created or
// changed elsewhere are installed, deleted ones removed. A topic this broker
// installed after the view's revision (it created it a moment ago) stays.
func (m *Manager) sync(v *metadata.View) {
	m.setBrokerConfigs(v.BrokerConfigs)
	for _, mt := range v.Topics {
		if t := m.Topic(mt.Name); t == nil || t.Meta.ID != mt.ID || t.Meta.Version < mt.Version {
			m.Install(mt)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, t := range m.byName {
		if _, ok := v.Topics[name]; !ok && t.Meta.Version <= v.Revision {
			m.removeLocked(t)
		}
	}
}

// Install adds or updates a topic from its etcd definition. Its new
// partitions are not led until the controller assigns them.
func (m *Manager) Install(mt metadata.Topic) *Topic {
	m.mu.Lock()
	defer m.mu.Unlock()
	cfg := m.parseLocked(mt)
	t := m.byName[mt.Name]
	if t != nil && t.Meta.ID != mt.ID {
		m.removeLocked(t) // deleted and re-created under the same name
		t = nil
	}
	if t != nil && t.Meta.Version > mt.Version {
		return t // a newer definition is installed already
	}
	if t == nil {
		t = &Topic{}
	}
	nt := &Topic{Meta: mt, Config: cfg, Parts: append([]*Partition(nil), t.Parts...)}
	for i := int32(len(nt.Parts)); i < mt.Partitions; i++ {
		p := newPartition(mt.Name, metadata.PartitionKey{Topic: mt.ID, Partition: i})
		p.demand = m.demand
		nt.Parts = append(nt.Parts, p)
		m.parts[p.key] = p
	}
	m.byName[mt.Name] = nt
	m.byID[mt.ID] = nt
	return nt
}

// parseLocked parses a topic's configs over the cluster-wide defaults.
// Stored configs and defaults were validated when set; should the two
// together not parse, the topic's own configs alone are used.
func (tc *topicCache) parseLocked(mt metadata.Topic) TopicConfig {
	cfg, err := ParseTopicConfig(EffectiveTopicConfigs(mt.Configs, tc.brokerConfigs))
	if err != nil {
		cfg, _ = ParseTopicConfig(mt.Configs)
	}
	return cfg
}

// setBrokerConfigs installs new cluster-wide broker configs: every topic
// whose effective configs change is installed again with them.
func (tc *topicCache) setBrokerConfigs(cfgs map[string]string) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if maps.Equal(tc.brokerConfigs, cfgs) {
		return
	}
	tc.brokerConfigs = cfgs
	for name, t := range tc.byName {
		nt := *t
		if nt.Config = tc.parseLocked(t.Meta); nt.Config == t.Config {
			continue
		}
		tc.byName[name] = &nt
		tc.byID[t.Meta.ID] = &nt
	}
}

// Partitions lists every partition the cache knows.
func (tc *topicCache) Partitions() []*Partition {
	tc.mu.RLock()
	defer tc.mu.RUnlock()
	return slices.AppendSeq(make([]*Partition, 0, len(tc.parts)), maps.Values(tc.parts))
}

// UpdateTopic applies mutate to the topic's etcd definition with a
// compare-and-swap on its revision, retrying on conflict, and installs the
// result. mutate's error is returned as is; with validateOnly nothing is
// written.
func (m *Manager) UpdateTopic(ctx context.Context, name string, validateOnly bool, mutate func(*metadata.Topic) error) error {
	for attempt := 0; ; attempt++ {
		mt, err := m.store.Topic(ctx, name)
		if err != nil {
			return err
		}
		if err := mutate(&mt); err != nil || validateOnly {
			return err
		}
		err = m.store.UpdateTopic(ctx, mt)
		if errors.Is(err, metadata.ErrConflict) && attempt < 10 {
			continue
		}
		if err != nil {
			return err
		}
		stored, err := m.store.Topic(ctx, name)
		if err != nil {
			return err
		}
		m.Install(stored)
		return nil
	}
}

// Resolve finds a request's topic by id (requests at versions with topic
// ids) or by name.
func (tc *topicCache) Resolve(byID bool, name string, id [16]byte) *Topic {
	if byID {
		return tc.TopicByID(metadata.TopicID(id))
	}
	return tc.Topic(name)
}

// Partition returns partition i of t, or nil when t is nil or has no such
// partition.
func (t *Topic) Partition(i int32) *Partition {
	if t == nil || i < 0 || int(i) >= len(t.Parts) {
		return nil
	}
	return t.Parts[i]
}

// Remove forgets a deleted topic.
func (m *Manager) Remove(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t := m.byName[name]; t != nil {
		m.removeLocked(t)
	}
}

// removeLocked forgets t and stops leading its partitions. m.mu is held;
// the uploader's Forget takes only its own lock, for an instant.
func (m *Manager) removeLocked(t *Topic) {
	delete(m.byName, t.Meta.Name)
	delete(m.byID, t.Meta.ID)
	for _, p := range t.Parts {
		delete(m.parts, p.key)
		m.uploader.Forget(p.key)
		if epoch, ok := p.Led(); ok {
			p.stop(epoch)
		}
	}
}

// ResignAll gives up every leadership at shutdown, once everything is
// committed, so another broker can take over at once rather than after the
// lease TTL.
func (m *Manager) ResignAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, p := range m.Partitions() {
		if epoch, ok := p.Led(); ok {
			if err := m.store.ResignLeadership(ctx, p.key, epoch); err != nil {
				m.log.Debug("resign leadership", "topic", p.topic, "partition", p.key.Partition, "error", err)
			}
		}
	}
}
