package metadata

import (
	"cmp"
	"slices"
)

// Balance returns the assignments a controller should write for v: every
// partition of every topic assigned to a live broker, no broker leading more
// than one partition more than any other, and as few partitions moved as
// that allows. A partition keeps its assigned broker while that broker is
// live and within its share; one without a live assigned broker goes to its
// current leader if that one is live (so a new controller moves nothing),
// else to the least loaded broker. Only topics whose assignment changes are
// returned; assignments of topics that no longer exist map to nil (delete).
// With no live broker, nothing is assigned.
//
// A partition with a preferred leader (Topic.Replicas) that is live goes to
// that broker, whatever its share: an operator's choice wins over balance.
// The other partitions are balanced around them.
func Balance(v *View) map[TopicID][]int32 {
	out := map[TopicID][]int32{}
	exists := make(map[TopicID]bool, len(v.Topics))
	for _, t := range v.Topics {
		exists[t.ID] = true
	}
	for id := range v.Assignments {
		if !exists[id] {
			out[id] = nil
		}
	}
	if len(v.Brokers) == 0 {
		return out
	}
	// The coordinator shards (OffsetsTopic) and the data topics are
	// balanced each on their own, so that every broker leads its share of
	// both, not a share of the sum that could leave one broker all the
	// shards and another all the data.
	var internal, data []Topic
	for _, t := range v.Topics {
		if t.Name == OffsetsTopic {
			internal = append(internal, t)
		} else {
			data = append(data, t)
		}
	}
	next := make(map[TopicID][]int32, len(v.Topics))
	balanceTopics(v, internal, next)
	balanceTopics(v, data, next)
	for id, a := range next {
		if !slices.Equal(a, v.Assignments[id]) {
			out[id] = a
		}
	}
	return out
}

// Balancer is Balance for a controller's term: it skips the computation
// for a View of a shape (brokers, topics, assignments, everything but the
// leaders) it has already found balanced. Leaders matter to Balance only
// for a partition without a live assigned broker, and once Balance has
// nothing to move there is none until the shape changes; so with many
// partitions, whose acquisitions each change the View, the controller does
// not recompute the whole assignment for every one of them.
type Balancer struct {
	balanced int64 // the shape of the last View Balance had nothing to move in
}

// Balance returns Balance(v), or nothing when v has the shape of the last
// View that needed no moves.
func (b *Balancer) Balance(v *View) map[TopicID][]int32 {
	if v.shape != 0 && v.shape == b.balanced {
		return nil
	}
	moves := Balance(v)
	if len(moves) == 0 {
		b.balanced = v.shape
	}
	return moves
}

// balanceTopics assigns the partitions of topics as Balance describes, into next.
func balanceTopics(v *View, topics []Topic, next map[TopicID][]int32) {
	live := func(b int32) bool { _, ok := v.Brokers[b]; return ok }

	total := 0
	for _, t := range topics {
		total += int(t.Partitions)
	}
	slices.SortFunc(topics, func(a, b Topic) int { return cmp.Compare(a.Name, b.Name) })
	share := (total + len(v.Brokers) - 1) / len(v.Brokers) // the most any broker may lead

	// owned[b] lists the partitions broker b leads in the new assignment.
	owned := make(map[int32][]PartitionKey, len(v.Brokers))
	for b := range v.Brokers {
		owned[b] = nil
	}
	// pinned partitions are at their live preferred leader: never moved.
	pinned := map[PartitionKey]bool{}
	for _, t := range topics {
		for i := range t.Partitions {
			if b := t.Preferred(i); live(b) {
				key := PartitionKey{Topic: t.ID, Partition: i}
				pinned[key] = true
				owned[b] = append(owned[b], key)
			}
		}
	}
	var homeless []PartitionKey
	for _, t := range topics {
		cur := v.Assignments[t.ID]
		a := make([]int32, t.Partitions)
		for i := range a {
			key := PartitionKey{Topic: t.ID, Partition: int32(i)}
			b := int32(-1)
			if pinned[key] {
				a[i] = t.Preferred(int32(i))
				continue
			}
			if i < len(cur) && live(cur[i]) {
				b = cur[i]
			} else if l, ok := v.Leaders[key]; ok && live(l.Broker) {
				b = l.Broker
			}
			if b >= 0 && len(owned[b]) < share {
				owned[b] = append(owned[b], key)
			} else {
				b = -1
				homeless = append(homeless, key)
			}
			a[i] = b
		}
		next[t.ID] = a
	}
	brokers := make([]int32, 0, len(owned))
	for b := range owned {
		brokers = append(brokers, b)
	}
	slices.Sort(brokers)
	least := func() int32 {
		return slices.MinFunc(brokers, func(x, y int32) int { return cmp.Or(cmp.Compare(len(owned[x]), len(owned[y])), cmp.Compare(x, y)) })
	}
	for _, key := range homeless {
		b := least()
		owned[b] = append(owned[b], key)
		next[key.Topic][key.Partition] = b
	}
	// Keeping partitions where they were can leave two brokers more than one
	// apart (a newcomer took only the homeless ones): move the difference.
	// Pinned partitions stay: the most loaded broker that has one to give
	// gives its last unpinned partition.
	unpinned := func(b int32) int {
		for k := len(owned[b]) - 1; k >= 0; k-- {
			if !pinned[owned[b][k]] {
				return k
			}
		}
		return -1
	}
	for {
		hi := int32(-1)
		for _, b := range brokers {
			if unpinned(b) >= 0 && (hi < 0 || len(owned[b]) > len(owned[hi])) {
				hi = b
			}
		}
		lo := least()
		if hi < 0 || len(owned[hi])-len(owned[lo]) <= 1 {
			break
		}
		j := unpinned(hi)
		key := owned[hi][j]
		owned[hi] = slices.Delete(owned[hi], j, j+1)
		owned[lo] = append(owned[lo], key)
		next[key.Topic][key.Partition] = lo
	}
}
