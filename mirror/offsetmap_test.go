package mirror

import "testing"

func TestOffsetMapTranslate(t *testing.T) {
	tp := TopicPartition{"orders", 0}
	type q struct {
		committed, want int64
	}
	for _, tc := range []struct {
		name  string
		syncs []Sync
		qs    []q
	}{
		{
			name:  "identity from the start",
			syncs: []Sync{{"orders", 0, 0, 0}},
			qs:    []q{{0, 0}, {1, 1}, {12500, 12500}},
		},
		{
			name: "a source gap (transaction marker at 11)",
			// 10 -> 5, marker at 11, 12 -> 6
			syncs: []Sync{{"orders", 0, 10, 5}, {"orders", 0, 12, 6}},
			qs:    []q{{10, 5}, {11, 6}, {12, 6}, {13, 7}, {3, 5}}, // before the first sync: its target
		},
		{
			name: "target commit markers (exactly once), one per transaction",
			// records 0..9 at 0..9, marker at 10; records 10..19 at 11..20, marker 21; ...
			syncs: []Sync{{"orders", 0, 0, 0}, {"orders", 0, 10, 11}, {"orders", 0, 20, 22}},
			qs:    []q{{5, 5}, {10, 11}, {15, 16}, {20, 22}, {25, 27}},
		},
		{
			name: "duplicates after a crash supersede the first copies",
			// 0..149 copied at 0..149, then after a crash 100.. copied again at 150..
			syncs: []Sync{{"orders", 0, 0, 0}, {"orders", 0, 100, 150}},
			qs:    []q{{50, 50}, {99, 99}, {100, 150}, {120, 170}},
		},
		{
			name: "a sync before the earlier ones drops them",
			syncs: []Sync{{"orders", 0, 0, 0}, {"orders", 0, 100, 100}, {"orders", 0, 200, 190},
				{"orders", 0, 50, 400}},
			qs: []q{{0, 0}, {49, 49}, {50, 400}, {150, 500}, {250, 600}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewOffsetMap()
			if _, ok := m.Translate(tp, 0); ok {
				t.Fatal("an empty map translated")
			}
			for _, s := range tc.syncs {
				m.Add(s)
			}
			for _, q := range tc.qs {
				got, ok := m.Translate(tp, q.committed)
				if !ok || got != q.want {
					t.Errorf("Translate(%d) = %d, %v; want %d", q.committed, got, ok, q.want)
				}
			}
			if _, ok := m.Translate(TopicPartition{"orders", 1}, 5); ok {
				t.Error("another partition translated")
			}
		})
	}
}

func TestSyncTracker(t *testing.T) {
	tr := newSyncTracker()
	tp := TopicPartition{"t", 2}
	steps := []struct {
		source, target int64
		want           bool
	}{
		{0, 0, true},   // first of the partition
		{1, 1, false},  // same distance
		{2, 2, false},  //
		{4, 3, true},   // a source gap
		{5, 4, false},  //
		{6, 6, true},   // a target gap (commit marker)
		{7, 7, false},  //
		{3, 20, true},  // copied again after a crash
		{4, 21, false}, //
	}
	for i, s := range steps {
		if got := tr.observe(tp, s.source, s.target); got != s.want {
			t.Errorf("step %d: observe(%d, %d) = %v, want %v", i, s.source, s.target, got, s.want)
		}
	}
	tr.forget(tp)
	if !tr.observe(tp, 8, 25) {
		t.Error("after forget, the next record needs a sync")
	}
}

func TestParseSync(t *testing.T) {
	s := Sync{"orders", 3, 17, 42}
	got, err := parseSync(s.value())
	if err != nil || got != s {
		t.Fatalf("parseSync(value()) = %+v, %v; want %+v", got, err, s)
	}
	if s.key() != "orders/3" {
		t.Errorf("key = %q", s.key())
	}
	for _, bad := range []string{"", "{", `{"topic":"","partition":0,"source":0,"target":0}`, `{"topic":"a","partition":-1,"source":0,"target":0}`, `{"topic":"a","partition":0,"source":-5,"target":0}`} {
		if _, err := parseSync([]byte(bad)); err == nil {
			t.Errorf("parseSync(%q) succeeded", bad)
		}
	}
}
