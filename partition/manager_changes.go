package partition

import (
	"sync"
	"time"

	"github.com/strata-io/strata/metadata"
)

// Reconciling only what changed. A reconcile pass looks at the partitions
// whose leader or assignment changed in the views since the last pass
// (metadata.View.ChangesSince), those of topics created, redefined or
// deleted, those this broker acted on (their step was not stepNone: an
// acquisition, a hand-off, a resignation under way or failed is looked at
// again until nothing is left to do), and those whose own state the
// manager changed outside a pass (a commit failed). Everything is looked at
// again when a view does not follow the one before it (read whole after
// the watch broke, or at start), when the etcd lease changed (rejoin), and
// every fullReconcileEvery as a safety net.

// fullReconcileEvery is how often a reconcile pass looks at every
// partition even if nothing says it changed: a safety net for a change no
// view or mark reported (a partition fenced by a commit whose leader key
// change reached the view before the partition stopped). It bounds how
// long such a partition waits; a full pass over 100,000 partitions takes
// tens of milliseconds, so every ten seconds costs well under 1% of a core.
const fullReconcileEvery = 10 * time.Second

// pendingChanges collects, between reconcile passes, what the next pass
// looks at.
type pendingChanges struct {
	mu     sync.Mutex
	full   bool  // look at every partition
	rev    int64 // the revision of the last view noted
	parts  map[metadata.PartitionKey]struct{}
	topics map[metadata.TopicID]struct{}
}

func newPendingChanges() *pendingChanges {
	return &pendingChanges{full: true, parts: map[metadata.PartitionKey]struct{}{}, topics: map[metadata.TopicID]struct{}{}}
}

// noteView adds what changed in v since the last view noted; everything,
// unless v was made from that view. clusterView.set calls it with the
// view it publishes, so that a pass that takes the changes of a view
// (clusterView.take) also gets that view or a newer one.
func (pc *pendingChanges) noteView(v *metadata.View) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	parts, topics, ok := v.ChangesSince(pc.rev)
	pc.rev = v.Revision
	if !ok {
		pc.full = true
		return
	}
	if pc.full {
		return
	}
	for k := range parts {
		pc.parts[k] = struct{}{}
	}
	for id := range topics {
		pc.topics[id] = struct{}{}
	}
}

// mark makes the next pass look at key.
func (pc *pendingChanges) mark(key metadata.PartitionKey) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if !pc.full {
		pc.parts[key] = struct{}{}
	}
}

// markAll makes the next pass look at every partition.
func (pc *pendingChanges) markAll() {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.full = true
}

// take returns what the next pass looks at and starts collecting anew.
func (pc *pendingChanges) take() (full bool, parts map[metadata.PartitionKey]struct{}, topics map[metadata.TopicID]struct{}) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	full, parts, topics = pc.full, pc.parts, pc.topics
	pc.full = false
	pc.parts, pc.topics = map[metadata.PartitionKey]struct{}{}, map[metadata.TopicID]struct{}{}
	return full, parts, topics
}

// toReconcile returns the partitions a pass looks at: every one known if
// full, else those of parts and of topics that this broker knows.
func (m *Manager) toReconcile(full bool, parts map[metadata.PartitionKey]struct{}, topics map[metadata.TopicID]struct{}) []*Partition {
	if full {
		return m.Partitions()
	}
	out := make([]*Partition, 0, len(parts))
	for id := range topics {
		if t := m.TopicByID(id); t != nil {
			out = append(out, t.Parts...)
		}
	}
	for k := range parts {
		if _, ok := topics[k.Topic]; ok {
			continue
		}
		if p := m.Partition(k); p != nil {
			out = append(out, p)
		}
	}
	return out
}
