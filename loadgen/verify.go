package loadgen

import (
	"cmp"
	"fmt"
	"slices"
	"sync"
)

// Verifier checks that what consumers read is what producers wrote. It is
// told every acknowledged record (Produced) and every record a consumer
// delivered (Consumed), and Report tells, per consumer group and partition,
// the records lost, duplicated and reordered. It is safe for concurrent use
// and knows nothing of clients: any producer and consumer that number
// their records with RecordIDs can use it.
//
// Definitions, per group and partition:
//
//   - lost: acknowledged, never delivered;
//   - duplicated: delivered at more than one offset (the log holds it twice);
//     counted once per extra offset;
//   - reordered: delivered at an offset below one the group had already been
//     delivered (and not as a redelivery), or stored after a record of the
//     same producer with a higher number (the log has the producer's records
//     out of order);
//   - redelivered: the same offset delivered again, as consumer groups do
//     after a rebalance (at-least-once), not a fault of the log;
//   - offset_mismatch: delivered at an offset other than the one its
//     acknowledgement gave, or two records delivered at one offset;
//   - unacknowledged: delivered but never acknowledged (its produce failed
//     or timed out after it was written, or acks=0), not a fault.
//
// OK is false if any group has lost, duplicated, reordered or mismatched
// records.
type Verifier struct {
	mu       sync.Mutex
	produced map[Partition][]entry
	consumed map[groupPartition][]entry // in delivery order
	groups   map[string]bool
}

// Partition names a topic partition.
type Partition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

type groupPartition struct {
	group string
	Partition
}

type entry struct {
	id     RecordID
	offset int64
}

// NewVerifier returns an empty Verifier.
func NewVerifier() *Verifier {
	return &Verifier{
		produced: map[Partition][]entry{},
		consumed: map[groupPartition][]entry{},
		groups:   map[string]bool{},
	}
}

// Produced records that id was acknowledged at offset of p; offset is -1
// if the acknowledgement gave none (acks=0).
func (v *Verifier) Produced(p Partition, offset int64, id RecordID) {
	v.mu.Lock()
	v.produced[p] = append(v.produced[p], entry{id, offset})
	v.mu.Unlock()
}

// Consumed records that a member of group was delivered id at offset of p.
func (v *Verifier) Consumed(group string, p Partition, offset int64, id RecordID) {
	v.mu.Lock()
	k := groupPartition{group, p}
	v.consumed[k] = append(v.consumed[k], entry{id, offset})
	v.groups[group] = true
	v.mu.Unlock()
}

// AddGroup makes Report cover group even if it was delivered nothing.
func (v *Verifier) AddGroup(group string) {
	v.mu.Lock()
	v.groups[group] = true
	v.mu.Unlock()
}

// VerifyReport is the verdict of a Verifier.
type VerifyReport struct {
	OK     bool          `json:"ok"`
	Groups []GroupReport `json:"groups"`
}

// GroupReport is one consumer group's verdict: its counts over every
// partition, then each partition's.
type GroupReport struct {
	Group string `json:"group"`
	Counts
	Partitions []PartitionReport `json:"partitions"`
}

// PartitionReport is one partition's verdict for a group.
type PartitionReport struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Counts
}

// Counts are what a Verifier counts (see Verifier for the definitions).
type Counts struct {
	Produced       int64 `json:"produced"`
	Consumed       int64 `json:"consumed"`
	Lost           int64 `json:"lost"`
	Duplicated     int64 `json:"duplicated"`
	Reordered      int64 `json:"reordered"`
	Redelivered    int64 `json:"redelivered"`
	OffsetMismatch int64 `json:"offset_mismatch"`
	Unacknowledged int64 `json:"unacknowledged"`
}

// Faulty reports whether c counts a fault of the log.
func (c Counts) Faulty() bool {
	return c.Lost > 0 || c.Duplicated > 0 || c.Reordered > 0 || c.OffsetMismatch > 0
}

func (c *Counts) add(o Counts) {
	c.Produced += o.Produced
	c.Consumed += o.Consumed
	c.Lost += o.Lost
	c.Duplicated += o.Duplicated
	c.Reordered += o.Reordered
	c.Redelivered += o.Redelivered
	c.OffsetMismatch += o.OffsetMismatch
	c.Unacknowledged += o.Unacknowledged
}

// String is the counts in one line.
func (c Counts) String() string {
	return fmt.Sprintf("produced %d, consumed %d: lost %d, duplicated %d, reordered %d, offset mismatches %d (redelivered %d, unacknowledged %d)",
		c.Produced, c.Consumed, c.Lost, c.Duplicated, c.Reordered, c.OffsetMismatch, c.Redelivered, c.Unacknowledged)
}

// Report checks everything recorded so far.
func (v *Verifier) Report() VerifyReport {
	v.mu.Lock()
	defer v.mu.Unlock()
	var parts []Partition
	seen := map[Partition]bool{}
	addPart := func(p Partition) {
		if !seen[p] {
			seen[p] = true
			parts = append(parts, p)
		}
	}
	for p := range v.produced {
		addPart(p)
	}
	for k := range v.consumed {
		addPart(k.Partition)
	}
	slices.SortFunc(parts, func(a, b Partition) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	groups := make([]string, 0, len(v.groups))
	for g := range v.groups {
		groups = append(groups, g)
	}
	slices.Sort(groups)

	rep := VerifyReport{OK: true}
	for _, g := range groups {
		gr := GroupReport{Group: g}
		for _, p := range parts {
			c := check(v.produced[p], v.consumed[groupPartition{g, p}])
			gr.Partitions = append(gr.Partitions, PartitionReport{Topic: p.Topic, Partition: p.Partition, Counts: c})
			gr.Counts.add(c)
		}
		rep.OK = rep.OK && !gr.Counts.Faulty()
		rep.Groups = append(rep.Groups, gr)
	}
	return rep
}

// check compares one partition's acknowledged records with what one group
// was delivered from it, in delivery order.
func check(produced, consumed []entry) Counts {
	c := Counts{Produced: int64(len(produced)), Consumed: int64(len(consumed))}
	acked := make(map[RecordID]int64, len(produced))
	for _, e := range produced {
		acked[e.id] = e.offset
	}

	atOffset := make(map[int64]RecordID, len(consumed)) // first record delivered at each offset
	offsetsOf := make(map[RecordID][]int64, len(consumed))
	highest := int64(-1)
	for _, e := range consumed {
		if id, ok := atOffset[e.offset]; ok {
			if id == e.id {
				c.Redelivered++
			} else {
				c.OffsetMismatch++
			}
			continue
		}
		atOffset[e.offset] = e.id
		if e.offset < highest {
			c.Reordered++
		}
		highest = max(highest, e.offset)
		if len(offsetsOf[e.id]) > 0 {
			c.Duplicated++
		}
		offsetsOf[e.id] = append(offsetsOf[e.id], e.offset)
	}

	for id, off := range acked {
		offs, ok := offsetsOf[id]
		switch {
		case !ok:
			c.Lost++
		case off >= 0 && !slices.Contains(offs, off):
			c.OffsetMismatch++
		}
	}
	for id := range offsetsOf {
		if _, ok := acked[id]; !ok {
			c.Unacknowledged++
		}
	}

	// The log's order: each producer's records at rising offsets must have
	// rising numbers. A duplicate's later copies are counted above already.
	type stored struct {
		offset int64
		id     RecordID
	}
	log := make([]stored, 0, len(offsetsOf))
	for id, offs := range offsetsOf {
		log = append(log, stored{slices.Min(offs), id})
	}
	slices.SortFunc(log, func(a, b stored) int { return cmp.Compare(a.offset, b.offset) })
	last := map[uint32]uint64{}
	for _, s := range log {
		if prev, ok := last[s.id.Producer]; ok && s.id.Seq < prev {
			c.Reordered++
			continue
		}
		last[s.id.Producer] = s.id.Seq
	}
	return c
}
