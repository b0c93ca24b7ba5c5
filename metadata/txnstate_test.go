package metadata

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

func TestTxnStateApply(t *testing.T) {
	s := OpenTxns{}
	steps := []struct {
		b       TxnBatch
		aborted *AbortedTxn
		open    string
	}{
		{TxnBatch{ProducerID: 1, BaseOffset: 10, LastOffset: 11}, nil, "map[]"},                                              // not transactional
		{TxnBatch{ProducerID: 1, BaseOffset: 12, LastOffset: 13, Transactional: true}, nil, "map[1:12]"},                     // opens
		{TxnBatch{ProducerID: 2, BaseOffset: 14, LastOffset: 14, Transactional: true}, nil, "map[1:12 2:14]"},                // opens
		{TxnBatch{ProducerID: 1, BaseOffset: 15, LastOffset: 15, Transactional: true}, nil, "map[1:12 2:14]"},                // goes on
		{TxnBatch{ProducerID: 3, BaseOffset: 16, LastOffset: 16, Transactional: true, Control: true}, nil, "map[1:12 2:14]"}, // ends nothing
		{TxnBatch{ProducerID: 1, BaseOffset: 17, LastOffset: 17, Transactional: true, Control: true, Abort: true},
			&AbortedTxn{ProducerID: 1, FirstOffset: 12, LastOffset: 17, Stable: 14}, "map[2:14]"},
		{TxnBatch{ProducerID: 2, BaseOffset: 18, LastOffset: 18, Transactional: true, Control: true}, nil, "map[]"}, // commits
		{TxnBatch{ProducerID: 2, BaseOffset: 19, LastOffset: 19, Transactional: true}, nil, "map[2:19]"},
		{TxnBatch{ProducerID: 2, BaseOffset: 20, LastOffset: 20, Transactional: true, Control: true, Abort: true},
			&AbortedTxn{ProducerID: 2, FirstOffset: 19, LastOffset: 20, Stable: 21}, "map[]"},
	}
	for i, st := range steps {
		at, ok := s.Apply(st.b)
		if ok != (st.aborted != nil) || ok && at != *st.aborted {
			t.Fatalf("step %d: aborted %+v, %v; want %+v", i, at, ok, st.aborted)
		}
		if got := fmt.Sprint(map[int64]int64(s)); got != st.open {
			t.Fatalf("step %d: open %s, want %s", i, got, st.open)
		}
	}
	if got := (OpenTxns{4: 30, 5: 25}).Stable(40); got != 25 {
		t.Fatalf("Stable = %d, want 25", got)
	}
}

func TestOpenTxnsRoundTrip(t *testing.T) {
	st := PartitionState{HighWatermark: 50, Producers: map[int64]ProducerState{
		1: {Epoch: 0, InTxn: true, TxnFirst: 40},
		2: {Epoch: 3},
	}}
	open := st.OpenTxns()
	if fmt.Sprint(map[int64]int64(open)) != "map[1:40]" {
		t.Fatalf("OpenTxns = %v", open)
	}
	delete(open, 1)
	open[2] = 45
	st.SetOpenTxns(open)
	if st.Producers[1].InTxn || !st.Producers[2].InTxn || st.Producers[2].TxnFirst != 45 {
		t.Fatalf("after SetOpenTxns: %+v", st.Producers)
	}
	// Through JSON, as etcd keeps them.
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var back PartitionState
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, st) {
		t.Fatalf("JSON round trip %s: %+v, %v", b, back, err)
	}
	e := ManifestEntry{Object: "o", Aborted: []AbortedTxn{{ProducerID: 1, FirstOffset: 2, LastOffset: 3, Stable: 4}}}
	b, _ = json.Marshal(e)
	var eb ManifestEntry
	if err := json.Unmarshal(b, &eb); err != nil || !reflect.DeepEqual(eb, e) {
		t.Fatalf("entry JSON round trip %s: %+v, %v", b, eb, err)
	}
}
