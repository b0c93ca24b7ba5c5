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

// Epoch implements tiering.Leaders.
func (tc *topicCache) Epoch(key metadata.PartitionKey) (int64, bool) {
	p := tc.partition(key)
	if p == nil {
		return 0, false
	}
	return p.leaderEpoch()
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
	return tc.install(ctx, mt), nil
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

// load reads every topic from etcd and takes leadership of its partitions.
func (tc *topicCache) load(ctx context.Context) error {
	topics, err := tc.b.store.Topics(ctx)
	if err != nil {
		return err
	}
	for _, mt := range topics {
		tc.install(ctx, mt)
	}
	return nil
}

// install adds or updates a topic from its etcd definition and leads every
// partition it can. A single broker leads all partitions; leadership held by
// an older, dead lease of this broker is retried by leadLoop.
func (tc *topicCache) install(ctx context.Context, mt metadata.Topic) *topic {
	cfg, _ := parseTopicConfig(mt.Configs) // stored configs were validated when set
	tc.mu.Lock()
	t := tc.byName[mt.Name]
	if t != nil && t.meta.ID != mt.ID {
		tc.removeLocked(t) // deleted and re-created under the same name
		t = nil
	}
	if t == nil {
		t = &topic{}
	}
	nt := &topic{meta: mt, cfg: cfg, parts: append([]*partition(nil), t.parts...)}
	var fresh []*partition
	for i := int32(len(nt.parts)); i < mt.Partitions; i++ {
		p := newPartition(mt.Name, metadata.PartitionKey{Topic: mt.ID, Partition: i})
		nt.parts = append(nt.parts, p)
		tc.parts[p.key] = p
		fresh = append(fresh, p)
	}
	tc.byName[mt.Name] = nt
	tc.byID[mt.ID] = nt
	tc.mu.Unlock()
	for _, p := range fresh {
		tc.lead(ctx, p)
	}
	return nt
}

// lead tries to take leadership of p; on failure p stays unled for leadLoop.
func (tc *topicCache) lead(ctx context.Context, p *partition) {
	// One attempt at a time: a second p.lead would reset the tail that the
	// first one's produces have written since.
	p.leading.Lock()
	defer p.leading.Unlock()
	if _, ok := p.leaderEpoch(); ok {
		return
	}
	s := tc.b.store
	epoch, err := s.AcquireLeadership(ctx, p.key, tc.b.id)
	if err != nil {
		if !errors.Is(err, metadata.ErrNotLeader) {
			tc.b.log.Warn("acquire leadership", "topic", p.topic, "partition", p.key.Partition, "error", err)
		}
		return
	}
	st, err := s.PartitionState(ctx, p.key)
	if err == nil {
		var manifest []metadata.ManifestEntry
		if manifest, err = s.Manifest(ctx, p.key); err == nil {
			p.lead(tc.b.id, epoch, st, manifest)
			tc.b.uploader.SetState(p.key, st)
			tc.b.metrics.leaderships.Inc()
			tc.b.log.Debug("leading partition", "topic", p.topic, "partition", p.key.Partition, "epoch", epoch, "hwm", st.HighWatermark)
			return
		}
	}
	tc.b.log.Warn("load partition state", "topic", p.topic, "partition", p.key.Partition, "error", err)
}

// leadLoop retries leadership of partitions not yet led (for example while
// the lease of a previous, dead incarnation of this broker runs out).
func (tc *topicCache) leadLoop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-tc.b.ctx.Done():
			return
		case <-t.C:
		}
		if tc.b.isClosing() {
			return
		}
		tc.mu.RLock()
		var unled []*partition
		for _, p := range tc.parts {
			// A fenced partition is not taken again here: segments of its old
			// epoch may still wait in the WAL, and leading it anew needs them
			// resolved first (the cluster issue's hand-off).
			if _, ok := p.leaderEpoch(); !ok && !p.isFenced() {
				unled = append(unled, p)
			}
		}
		tc.mu.RUnlock()
		for _, p := range unled {
			ctx, cancel := context.WithTimeout(tc.b.ctx, 5*time.Second)
			tc.lead(ctx, p)
			cancel()
		}
	}
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
		b.topics.install(ctx, stored)
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
		p.fence()
	}
}

// resignAll gives up every leadership at shutdown, so another broker can
// take over at once rather than after the lease TTL.
func (tc *topicCache) resignAll() {
	tc.mu.RLock()
	parts := make([]*partition, 0, len(tc.parts))
	for _, p := range tc.parts {
		parts = append(parts, p)
	}
	tc.mu.RUnlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, p := range parts {
		if epoch, ok := p.leaderEpoch(); ok {
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
