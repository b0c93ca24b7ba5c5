package metadata

import (
	"strconv"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// What changed from one View to the next, so that a broker's partition
// manager looks only at the partitions a change concerns: with 100,000
// partitions, walking all of them for each View (several a second while
// leaderships move) took most of a broker's CPU.

// viewChanges is what Watch applied to the View of revision from to make
// a View: the partitions whose leader key or assignment changed, and the
// topics created, redefined or deleted.
type viewChanges struct {
	from       int64
	partitions map[PartitionKey]struct{}
	topics     map[TopicID]struct{}
}

func newViewChanges(from int64) *viewChanges {
	return &viewChanges{from: from, partitions: map[PartitionKey]struct{}{}, topics: map[TopicID]struct{}{}}
}

// ChangesSince returns what changed in v since the View of revision from:
// the partitions whose leader or assignment changed, and the topics that
// were created, redefined (configs, partitions added, replicas) or
// deleted, every partition of which may have changed. ok is false when v
// was not made from that View by applying changes (it was read whole, or
// Views came between): anything may have changed. The maps are v's: do not
// modify them.
func (v *View) ChangesSince(from int64) (partitions map[PartitionKey]struct{}, topics map[TopicID]struct{}, ok bool) {
	if v.changes == nil || v.changes.from != from || from == 0 {
		return nil, nil, false
	}
	return v.changes.partitions, v.changes.topics, true
}

// applyNoting applies ev to v as applyEvent does and notes in ch what it
// changed.
func (s *Store) applyNoting(v *View, ch *viewChanges, ev *clientv3.Event) {
	rel := strings.TrimPrefix(string(ev.Kv.Key), s.keys.cluster())
	kind, name, _ := strings.Cut(rel, "/")
	switch kind {
	case "leaders":
		tid, p, _ := strings.Cut(name, "/")
		var key PartitionKey
		n, err := strconv.ParseInt(p, 10, 32)
		if err == nil && key.Topic.UnmarshalText([]byte(tid)) == nil {
			key.Partition = int32(n)
			ch.partitions[key] = struct{}{}
		}
	case "assignments":
		var id TopicID
		if id.UnmarshalText([]byte(name)) != nil {
			break
		}
		old := v.Assignments[id]
		s.applyEvent(v, ev)
		cur := v.Assignments[id]
		at := func(a []int32, i int) int32 {
			if i < len(a) {
				return a[i]
			}
			return -2 // beyond the topic: differs from any broker and from -1
		}
		for i := range max(len(old), len(cur)) {
			if at(old, i) != at(cur, i) {
				ch.partitions[PartitionKey{Topic: id, Partition: int32(i)}] = struct{}{}
			}
		}
		return
	case "topics":
		if t, ok := v.Topics[name]; ok {
			ch.topics[t.ID] = struct{}{}
		}
		s.applyEvent(v, ev)
		if t, ok := v.Topics[name]; ok {
			ch.topics[t.ID] = struct{}{}
		}
		return
	}
	s.applyEvent(v, ev)
}
