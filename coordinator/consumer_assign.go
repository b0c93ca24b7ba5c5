package coordinator

// The server-side assignors of KIP-848 consumer groups, as Kafka names
// them:
//
//   - uniform (the default): every subscribed partition to one member,
//     each member within one partition of the others where subscriptions
//     allow, and sticky: a member keeps the partitions of its current
//     target that are still subscribed and within its share, so a member
//     joining or leaving moves only the partitions it must.
//   - range: per topic, the members subscribed to it (sorted by member id)
//     get contiguous ranges of its partitions, the first ones one more
//     when the count does not divide evenly, as Kafka's RangeAssignor;
//     members with the same subscriptions get the same partition numbers
//     of co-partitioned topics.
//
// Both are deterministic: the same input gives the same assignment.

import (
	"slices"

	"github.com/strata-io/strata/metadata"
)

type assignMember struct {
	id         string
	instanceID *string
}

// assignInput is what an assignor sees: the members sorted by id, the
// topic names each subscribes to, the subscribed topics sorted by name,
// and each member's current target.
type assignInput struct {
	members []assignMember
	subs    map[string]map[string]bool
	topics  []subscribedTopic
	current map[string]metadata.ConsumerAssignment
}

// assignUniform is the uniform assignor.
func assignUniform(in assignInput) map[string]metadata.ConsumerAssignment {
	out := make(map[string]metadata.ConsumerAssignment, len(in.members))
	if len(in.members) == 0 {
		return out
	}
	name := map[metadata.TopicID]string{}
	parts := map[metadata.TopicID]int32{}
	total := 0
	for _, t := range in.topics {
		name[t.id], parts[t.id] = t.name, t.parts
		total += int(t.parts)
	}
	// Keep each member's current partitions that still exist and that it
	// still subscribes to, each partition once.
	taken := map[topicPartition]bool{}
	kept := map[string][]topicPartition{}
	for _, m := range in.members {
		cur := in.current[m.id]
		for _, t := range sortedTopicIDs(cur) {
			n, ok := name[t]
			if !ok || !in.subs[m.id][n] {
				continue
			}
			for _, p := range cur[t] {
				tp := topicPartition{t, p}
				if p < parts[t] && !taken[tp] {
					taken[tp] = true
					kept[m.id] = append(kept[m.id], tp)
				}
			}
		}
	}
	// Shares: total/n each, the `extra` members keeping most get one more.
	n := len(in.members)
	share, extra := total/n, total%n
	order := slices.Clone(in.members)
	slices.SortStableFunc(order, func(a, b assignMember) int { return len(kept[b.id]) - len(kept[a.id]) })
	quota := map[string]int{}
	for i, m := range order {
		quota[m.id] = share
		if i < extra {
			quota[m.id]++
		}
	}
	for _, m := range in.members {
		if k := kept[m.id]; len(k) > quota[m.id] {
			for _, tp := range k[quota[m.id]:] {
				delete(taken, tp)
			}
			kept[m.id] = k[:quota[m.id]]
		}
	}
	// The rest, in topic then partition order, to the subscribed member
	// with the fewest (the first by id on a tie).
	for _, t := range in.topics {
		for p := int32(0); p < t.parts; p++ {
			tp := topicPartition{t.id, p}
			if taken[tp] {
				continue
			}
			best := ""
			for _, m := range in.members {
				if in.subs[m.id][t.name] && (best == "" || len(kept[m.id]) < len(kept[best])) {
					best = m.id
				}
			}
			if best != "" {
				taken[tp] = true
				kept[best] = append(kept[best], tp)
			}
		}
	}
	for _, m := range in.members {
		a := metadata.ConsumerAssignment{}
		for _, tp := range kept[m.id] {
			a[tp.topic] = append(a[tp.topic], tp.part)
		}
		out[m.id] = normalize(a)
	}
	return out
}

// assignRange is the range assignor.
func assignRange(in assignInput) map[string]metadata.ConsumerAssignment {
	acc := make(map[string]metadata.ConsumerAssignment, len(in.members))
	for _, t := range in.topics {
		var subs []string
		for _, m := range in.members {
			if in.subs[m.id][t.name] {
				subs = append(subs, m.id)
			}
		}
		if len(subs) == 0 {
			continue
		}
		share, extra := int(t.parts)/len(subs), int(t.parts)%len(subs)
		next := int32(0)
		for i, id := range subs {
			n := share
			if i < extra {
				n++
			}
			for range n {
				if acc[id] == nil {
					acc[id] = metadata.ConsumerAssignment{}
				}
				acc[id][t.id] = append(acc[id][t.id], next)
				next++
			}
		}
	}
	out := make(map[string]metadata.ConsumerAssignment, len(in.members))
	for _, m := range in.members {
		out[m.id] = normalize(acc[m.id])
	}
	return out
}
