package loadgen

import (
	"testing"
)

func TestVerifierCounts(t *testing.T) {
	p0 := Partition{"t", 0}
	id := func(producer uint32, seq uint64) RecordID { return RecordID{producer, seq} }
	type rec struct {
		offset int64
		id     RecordID
	}
	// clean is ten records of producer 0 at offsets 0-9.
	clean := func() []rec {
		var rs []rec
		for i := range 10 {
			rs = append(rs, rec{int64(i), id(0, uint64(i))})
		}
		return rs
	}
	tests := []struct {
		name     string
		produced []rec
		consumed []rec
		want     Counts
		ok       bool
	}{
		{name: "every record once, in order", produced: clean(), consumed: clean(),
			want: Counts{Produced: 10, Consumed: 10}, ok: true},
		{name: "nothing produced, nothing consumed", want: Counts{}, ok: true},
		{name: "a record lost", produced: clean(), consumed: append(clean()[:4], clean()[5:]...),
			want: Counts{Produced: 10, Consumed: 9, Lost: 1}},
		{name: "the tail lost", produced: clean(), consumed: clean()[:7],
			want: Counts{Produced: 10, Consumed: 7, Lost: 3}},
		{name: "a record stored twice", produced: clean(), consumed: append(clean(), rec{10, id(0, 3)}),
			want: Counts{Produced: 10, Consumed: 11, Duplicated: 1}},
		{name: "a redelivery after a rebalance is not a fault", produced: clean(),
			consumed: append(append(clean()[:6], clean()[3:6]...), clean()[6:]...),
			want:     Counts{Produced: 10, Consumed: 13, Redelivered: 3}, ok: true},
		{name: "delivered below an offset already delivered", produced: clean(),
			consumed: []rec{{0, id(0, 0)}, {2, id(0, 2)}, {1, id(0, 1)}, {3, id(0, 3)}, {4, id(0, 4)},
				{5, id(0, 5)}, {6, id(0, 6)}, {7, id(0, 7)}, {8, id(0, 8)}, {9, id(0, 9)}},
			want: Counts{Produced: 10, Consumed: 10, Reordered: 1}},
		{name: "a producer's records stored out of order",
			produced: []rec{{0, id(0, 0)}, {1, id(0, 2)}, {2, id(0, 1)}},
			consumed: []rec{{0, id(0, 0)}, {1, id(0, 2)}, {2, id(0, 1)}},
			want:     Counts{Produced: 3, Consumed: 3, Reordered: 1}},
		{name: "two producers interleaved are in order",
			produced: []rec{{0, id(0, 0)}, {1, id(1, 0)}, {2, id(1, 1)}, {3, id(0, 1)}},
			consumed: []rec{{0, id(0, 0)}, {1, id(1, 0)}, {2, id(1, 1)}, {3, id(0, 1)}},
			want:     Counts{Produced: 4, Consumed: 4}, ok: true},
		{name: "delivered at another offset than acknowledged",
			produced: []rec{{0, id(0, 0)}, {1, id(0, 1)}},
			consumed: []rec{{0, id(0, 0)}, {5, id(0, 1)}},
			want:     Counts{Produced: 2, Consumed: 2, OffsetMismatch: 1}},
		{name: "two records at one offset",
			produced: []rec{{0, id(0, 0)}},
			consumed: []rec{{0, id(0, 0)}, {0, id(0, 7)}},
			want:     Counts{Produced: 1, Consumed: 2, OffsetMismatch: 1}},
		{name: "acks=0 gives no offset to compare",
			produced: []rec{{-1, id(0, 0)}, {-1, id(0, 1)}},
			consumed: []rec{{4, id(0, 0)}, {5, id(0, 1)}},
			want:     Counts{Produced: 2, Consumed: 2}, ok: true},
		{name: "a record written but not acknowledged is not a fault",
			produced: []rec{{0, id(0, 0)}},
			consumed: []rec{{0, id(0, 0)}, {1, id(0, 1)}},
			want:     Counts{Produced: 1, Consumed: 2, Unacknowledged: 1}, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewVerifier()
			v.AddGroup("g")
			for _, r := range tt.produced {
				v.Produced(p0, r.offset, r.id)
			}
			for _, r := range tt.consumed {
				v.Consumed("g", p0, r.offset, r.id)
			}
			rep := v.Report()
			if len(rep.Groups) != 1 {
				t.Fatalf("%d groups in the report, want 1", len(rep.Groups))
			}
			if got := rep.Groups[0].Counts; got != tt.want {
				t.Errorf("counts\n got %+v\nwant %+v", got, tt.want)
			}
			if rep.OK != tt.ok {
				t.Errorf("OK = %v, want %v", rep.OK, tt.ok)
			}
		})
	}
}

func TestVerifierPerGroupAndPartition(t *testing.T) {
	v := NewVerifier()
	a, b := Partition{"a", 0}, Partition{"a", 1}
	for i := range 5 {
		v.Produced(a, int64(i), RecordID{0, uint64(2 * i)})
		v.Produced(b, int64(i), RecordID{0, uint64(2*i + 1)})
	}
	// g1 reads everything; g2 misses b's offset 3 and reads a's offset 1 twice.
	for i := range 5 {
		v.Consumed("g1", a, int64(i), RecordID{0, uint64(2 * i)})
		v.Consumed("g1", b, int64(i), RecordID{0, uint64(2*i + 1)})
		v.Consumed("g2", a, int64(i), RecordID{0, uint64(2 * i)})
		if i != 3 {
			v.Consumed("g2", b, int64(i), RecordID{0, uint64(2*i + 1)})
		}
	}
	v.Consumed("g2", a, 1, RecordID{0, 2})
	v.AddGroup("g3") // reads nothing

	rep := v.Report()
	if rep.OK {
		t.Fatal("report OK, want a fault")
	}
	if len(rep.Groups) != 3 {
		t.Fatalf("groups %d, want 3", len(rep.Groups))
	}
	g1, g2, g3 := rep.Groups[0], rep.Groups[1], rep.Groups[2]
	if g1.Group != "g1" || g1.Faulty() || g1.Consumed != 10 || g1.Produced != 10 {
		t.Errorf("g1: %s", g1.Counts)
	}
	if g2.Lost != 1 || g2.Redelivered != 1 || g2.Faulty() != true {
		t.Errorf("g2: %s", g2.Counts)
	}
	if len(g2.Partitions) != 2 || g2.Partitions[0].Partition != 0 || g2.Partitions[0].Lost != 0 ||
		g2.Partitions[1].Partition != 1 || g2.Partitions[1].Lost != 1 {
		t.Errorf("g2 partitions: %+v", g2.Partitions)
	}
	if g3.Lost != 10 || g3.Consumed != 0 {
		t.Errorf("g3: %s", g3.Counts)
	}
}
