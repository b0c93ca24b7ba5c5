package broker

import (
	"context"
	"errors"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/tiering"
)

// topic is a topic this broker knows, with its parsed configs.
type topic struct {
	meta  metadata.Topic
	cfg   topicConfig
	parts []*partition
}

// topicCache is the broker's view of topics and the partitions it leads.
// etcd is the truth; the cache is refreshed from it on a miss and by leadLoop.
type topicCache struct {
	b *Broker

	mu     sync.RWMutex
	byName map[string]*topic
	byID   map[metadata.TopicID]*topic
	parts  map[metadata.PartitionKey]*partition
}

func newTopicCache(b *Broker) *topicCache {
	return &topicCache{
		b:      b,
		byName: map[string]*topic{},
		byID:   map[metadata.TopicID]*topic{},
		parts:  map[metadata.PartitionKey]*partition{},
	}
}

var _ tiering.Leaders = (*topicCache)(nil)

// Fate implements tiering.Leaders: a led partition's records are
// committed; an ended leadership that is undecided holds them back; any
// other known partition's are set aside; a deleted topic's dropped.
func (tc *topicCache) Fate(key metadata.PartitionKey) (tiering.Fate, tiering.Tenure) {
	p := tc.partition(key)
	if p == nil {
		return tiering.FateDrop, tiering.Tenure{}
	}
	epoch, leaderEpoch, undecided := p.current()
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
func (tc *topicCache) Fenced(key metadata.PartitionKey, epoch int64) {
	if p := tc.partition(key); p != nil && p.stop(epoch) {
		tc.b.metrics.lost.Inc()
		tc.b.log.Warn("a commit was fenced: the leadership ended; trying to resume it", "topic", p.topic, "partition", key.Partition, "epoch", epoch)
		tc.b.view.touch()
	}
}

// TopicName implements tiering.Leaders.
func (tc *topicCache) TopicName(id metadata.TopicID) string {
	if t := tc.getID(id); t != nil {
		return t.meta.Name
	}
	return ""
}

func (tc *topicCache) partition(key metadata.PartitionKey) *partition {
	tc.mu.RLock()
	defer tc.mu.RUnlock()
	return tc.parts[key]
}

// get returns a known topic by name.
func (tc *topicCache) get(name string) *topic {
	tc.mu.RLock()
	defer tc.mu.RUnlock()
	return tc.byName[name]
}

func (tc *topicCache) getID(id metadata.TopicID) *topic {
	tc.mu.RLock()
	defer tc.mu.RUnlock()
	return tc.byID[id]
}

// lookup returns a topic by name, reading etcd on a cache miss.
func (tc *topicCache) lookup(ctx context.Context, name string) (*topic, error) {
	if t := tc.get(name); t != nil {
		return t, nil
	}
	mt, err := tc.b.store.Topic(ctx, name)
	if err != nil {
		return nil, err
	}
	return tc.install(mt), nil
}

// all returns every known topic, by name.
func (tc *topicCache) all() []*topic {
	tc.mu.RLock()
	defer tc.mu.RUnlock()
	out := make([]*topic, 0, len(tc.byName))
	for _, t := range tc.byName {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].meta.Name < out[j].meta.Name })
	return out
}

// sync brings the cache in line with a cluster view: topics created or
// changed elsewhere are installed, deleted ones removed. A topic this broker
// installed after the view's revision (it created it a moment ago) stays.
func (tc *topicCache) sync(v *metadata.View) {
	for _, mt := range v.Topics {
		if t := tc.get(mt.Name); t == nil || t.meta.ID != mt.ID || t.meta.Version < mt.Version {
			tc.install(mt)
		}
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	for name, t := range tc.byName {
		if _, ok := v.Topics[name]; !ok && t.meta.Version <= v.Revision {
			tc.removeLocked(t)
		}
	}
}

// install adds or updates a topic from its etcd definition. Its new
// partitions are not led until the controller assigns them.
func (tc *topicCache) install(mt metadata.Topic) *topic {
	cfg, _ := parseTopicConfig(mt.Configs) // stored configs were validated when set
	tc.mu.Lock()
	defer tc.mu.Unlock()
	t := tc.byName[mt.Name]
	if t != nil && t.meta.ID != mt.ID {
		tc.removeLocked(t) // deleted and re-created under the same name
		t = nil
	}
	if t != nil && t.meta.Version > mt.Version {
		return t // a newer definition is installed already
	}
	if t == nil {
		t = &topic{}
	}
	nt := &topic{meta: mt, cfg: cfg, parts: append([]*partition(nil), t.parts...)}
	for i := int32(len(nt.parts)); i < mt.Partitions; i++ {
		p := newPartition(mt.Name, metadata.PartitionKey{Topic: mt.ID, Partition: i})
		nt.parts = append(nt.parts, p)
		tc.parts[p.key] = p
	}
	tc.byName[mt.Name] = nt
	tc.byID[mt.ID] = nt
	return nt
}

// partitions lists every partition the cache knows.
func (tc *topicCache) partitions() []*partition {
	tc.mu.RLock()
	defer tc.mu.RUnlock()
	out := make([]*partition, 0, len(tc.parts))
	for _, p := range tc.parts {
		out = append(out, p)
	}
	return out
}

// updateTopic applies mutate to the topic's etcd definition with a
// compare-and-swap on its revision, retrying on conflict, and installs the
// result. mutate's error is returned as is; with validateOnly nothing is
// written.
func (b *Broker) updateTopic(ctx context.Context, name string, validateOnly bool, mutate func(*metadata.Topic) error) error {
	for attempt := 0; ; attempt++ {
		mt, err := b.store.Topic(ctx, name)
		if err != nil {
			return err
		}
		if err := mutate(&mt); err != nil || validateOnly {
			return err
		}
		err = b.store.UpdateTopic(ctx, mt)
		if errors.Is(err, metadata.ErrConflict) && attempt < 10 {
			continue
		}
		if err != nil {
			return err
		}
		stored, err := b.store.Topic(ctx, name)
		if err != nil {
			return err
		}
		b.topics.install(stored)
		return nil
	}
}

// resolve finds a request's topic by id (requests at versions with topic
// ids) or by name.
func (tc *topicCache) resolve(byID bool, name string, id [16]byte) *topic {
	if byID {
		return tc.getID(metadata.TopicID(id))
	}
	return tc.get(name)
}

// partition returns partition i of t, or nil when t is nil or has no such
// partition.
func (t *topic) partition(i int32) *partition {
	if t == nil || i < 0 || int(i) >= len(t.parts) {
		return nil
	}
	return t.parts[i]
}

// remove forgets a deleted topic.
func (tc *topicCache) remove(name string) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if t := tc.byName[name]; t != nil {
		tc.removeLocked(t)
	}
}

func (tc *topicCache) removeLocked(t *topic) {
	delete(tc.byName, t.meta.Name)
	delete(tc.byID, t.meta.ID)
	for _, p := range t.parts {
		delete(tc.parts, p.key)
		tc.b.uploader.Forget(p.key)
		if epoch, ok := p.led(); ok {
			p.stop(epoch)
		}
	}
}

// resignAll gives up every leadership at shutdown, once everything is
// committed, so another broker can take over at once rather than after the
// lease TTL.
func (tc *topicCache) resignAll() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, p := range tc.partitions() {
		if epoch, ok := p.led(); ok {
			if err := tc.b.store.ResignLeadership(ctx, p.key, epoch); err != nil {
				tc.b.log.Debug("resign leadership", "topic", p.topic, "partition", p.key.Partition, "error", err)
			}
		}
	}
}

// legalTopicName is Kafka's rule for topic names.
var legalTopicName = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// validTopicName reports why name is not a legal Kafka topic name ("" if legal).
func validTopicName(name string) string {
	switch {
	case name == "":
		return "topic name is empty"
	case name == "." || name == "..":
		return "topic name cannot be '.' or '..'"
	case len(name) > 249:
		return "topic name is longer than 249 characters"
	case !legalTopicName.MatchString(name):
		return "topic name " + name + " contains characters other than ASCII alphanumerics, '.', '_' and '-'"
	}
	return ""
}
