package metadata

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/testenv"
)

// TestTxnStore runs the transaction store's cases against a real etcd.
func TestTxnStore(t *testing.T) {
	etcd := testenv.StartEtcd(t)
	runStoreCases(t, []string{etcd.Endpoint}, []storeCase{
		{"RoundTrip", testTxnRoundTrip},
		{"Fenced", testTxnFenced},
		{"ManyMarkers", testTxnManyMarkers},
		{"WatchMarkers", testTxnWatchMarkers},
	})
}

func txnMeta(pid int64, st TxnState, parts []TxnPartition, groups []string) TxnMetadata {
	return TxnMetadata{ProducerID: pid, ProducerEpoch: 3, PrevProducerID: -1, PrevProducerEpoch: 2,
		TimeoutMs: 60000, State: st, Partitions: parts, Groups: groups, StartTime: 1700000000000, UpdateTime: 1700000000500}
}

// testTxnRoundTrip: what WriteTxn stores, LoadTxns and ReadTxn read back,
// ids with the key separator included, and nothing of another shard; the
// markers of a Prepare write are there with the transaction's ids.
func testTxnRoundTrip(t *testing.T, env *storeEnv) {
	s := env.store(t)
	k, epoch := leadShard(t, s, 3)
	k4, epoch4 := leadShard(t, s, 4)
	topic := NewTopicID()
	parts := []TxnPartition{{Topic: "t", TopicID: topic, Partition: 0}, {Topic: "t", TopicID: topic, Partition: 7}}
	ids := []string{"plain", "with/slash", "per%cent", "ünï code"}
	var revs []int64
	for i, id := range ids {
		rev, err := s.WriteTxn(t.Context(), k, epoch, TxnWrite{ID: id, Meta: txnMeta(int64(1000+i), TxnOngoing, parts, []string{"g/1"})})
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, rev)
	}
	if _, err := s.WriteTxn(t.Context(), k4, epoch4, TxnWrite{ID: "other", Meta: txnMeta(9, TxnEmpty, nil, nil)}); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadTxns(t.Context(), 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ids) {
		t.Fatalf("loaded %d transactions, want %d: %v", len(got), len(ids), got)
	}
	for i, id := range ids {
		want := LoadedTxn{Meta: txnMeta(int64(1000+i), TxnOngoing, parts, []string{"g/1"}), Revision: revs[i]}
		if !reflect.DeepEqual(got[id], want) {
			t.Errorf("%q: got %+v, want %+v", id, got[id], want)
		}
		one, err := s.ReadTxn(t.Context(), 3, id)
		if err != nil || one == nil || !reflect.DeepEqual(*one, want) {
			t.Errorf("ReadTxn(%q) = %+v, %v; want %+v", id, one, err, want)
		}
	}
	if one, err := s.ReadTxn(t.Context(), 3, "absent"); one != nil || err != nil {
		t.Errorf("ReadTxn of an absent id = %+v, %v", one, err)
	}

	// Prepare: the record and its markers in one revision.
	prep := txnMeta(1000, TxnPrepareCommit, parts, []string{"g/1"})
	rev, err := s.WriteTxn(t.Context(), k, epoch, TxnWrite{ID: "plain", Meta: prep,
		Markers: &TxnMarker{ProducerEpoch: 3, Commit: true, CoordinatorEpoch: 5}})
	if err != nil {
		t.Fatal(err)
	}
	markers := readMarkers(t, s)
	if len(markers) != 3 {
		t.Fatalf("%d markers, want 3: %+v", len(markers), markers)
	}
	wantMk := TxnMarker{TransactionalID: "plain", ProducerID: 1000, ProducerEpoch: 3, Commit: true, CoordinatorEpoch: 5}
	seen := map[string]bool{}
	for _, m := range markers {
		if m.Revision != rev || m.Marker != wantMk {
			t.Errorf("marker %s: revision %d marker %+v; want %d %+v", m.Key, m.Revision, m.Marker, rev, wantMk)
		}
		if m.IsGroup {
			seen["g:"+m.Group] = true
		} else {
			seen[fmt.Sprintf("p:%s:%d", m.Partition.Topic, m.Partition.Partition)] = true
		}
	}
	for _, w := range []string{"g:g/1", fmt.Sprintf("p:%s:0", topic), fmt.Sprintf("p:%s:7", topic)} {
		if !seen[w] {
			t.Errorf("no marker %s among %v", w, seen)
		}
	}
	// A delete of a marker put again since is refused; of the current one done.
	m := markers[0]
	if ok, err := s.DeleteTxnMarker(t.Context(), m.Key, m.Revision-1); ok || err != nil {
		t.Errorf("delete at a stale revision = %v, %v", ok, err)
	}
	if ok, err := s.DeleteTxnMarker(t.Context(), m.Key, m.Revision); !ok || err != nil {
		t.Errorf("delete = %v, %v", ok, err)
	}
	if n := len(readMarkers(t, s)); n != 2 {
		t.Errorf("%d markers left, want 2", n)
	}
}

// readMarkers reads the pending markers through WatchTxnMarkers' first read.
func readMarkers(t *testing.T, s *Store) []PendingMarker {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	got := make(chan []PendingMarker, 1)
	go func() {
		_ = s.WatchTxnMarkers(ctx, func(ch MarkerChange) {
			if ch.Reset {
				select {
				case got <- ch.Put:
				default:
				}
				cancel()
			}
		})
	}()
	select {
	case ms := <-got:
		return ms
	case <-t.Context().Done():
		t.Fatal("no read of the markers")
		return nil
	}
}

// testTxnFenced: a write under an epoch that no longer holds changes
// nothing and says ErrFenced.
func testTxnFenced(t *testing.T, env *storeEnv) {
	s := env.store(t)
	k, epoch := leadShard(t, s, 1)
	if err := s.ResignLeadership(t.Context(), k, epoch); err != nil {
		t.Fatal(err)
	}
	newEpoch := acquire(t, s, k, 2)
	parts := []TxnPartition{{Topic: "t", TopicID: NewTopicID(), Partition: 0}}
	_, err := s.WriteTxn(t.Context(), k, epoch, TxnWrite{ID: "x", Meta: txnMeta(1, TxnPrepareAbort, parts, nil), Markers: &TxnMarker{}})
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("write under the old epoch: %v, want ErrFenced", err)
	}
	if got, _ := s.LoadTxns(t.Context(), 1); len(got) != 0 {
		t.Errorf("fenced write stored %v", got)
	}
	if n := len(readMarkers(t, s)); n != 0 {
		t.Errorf("fenced write stored %d markers", n)
	}
	if _, err := s.WriteTxn(t.Context(), k, newEpoch, TxnWrite{ID: "x", Meta: txnMeta(1, TxnEmpty, nil, nil)}); err != nil {
		t.Errorf("write under the new epoch: %v", err)
	}
}

// testTxnManyMarkers: a transaction of more markers than one etcd
// transaction takes writes them all and ends with the record unmarked.
func testTxnManyMarkers(t *testing.T, env *storeEnv) {
	s := env.store(t)
	k, epoch := leadShard(t, s, 2)
	topic := NewTopicID()
	var parts []TxnPartition
	for p := range int32(300) {
		parts = append(parts, TxnPartition{Topic: "t", TopicID: topic, Partition: p})
	}
	meta := txnMeta(77, TxnPrepareAbort, parts, []string{"a", "b"})
	rev, err := s.WriteTxn(t.Context(), k, epoch, TxnWrite{ID: "big", Meta: meta, Markers: &TxnMarker{ProducerEpoch: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(readMarkers(t, s)); n != 302 {
		t.Errorf("%d markers, want 302", n)
	}
	lt, err := s.ReadTxn(t.Context(), 2, "big")
	if err != nil || lt == nil {
		t.Fatal(lt, err)
	}
	if lt.MarkersPending || lt.Revision != rev || !reflect.DeepEqual(lt.Meta, meta) {
		t.Errorf("record after the split write: pending %v revision %d (want %d), meta equal %v",
			lt.MarkersPending, lt.Revision, rev, reflect.DeepEqual(lt.Meta, meta))
	}
}

// testTxnWatchMarkers: the watch reports puts and deletes after its read,
// with their revisions, in order.
func testTxnWatchMarkers(t *testing.T, env *storeEnv) {
	s := env.store(t)
	k, epoch := leadShard(t, s, 5)
	ctx, cancel := context.WithCancel(t.Context())
	var mu sync.Mutex
	var changes []MarkerChange
	changed := make(chan struct{}, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.WatchTxnMarkers(ctx, func(ch MarkerChange) {
			mu.Lock()
			changes = append(changes, ch)
			mu.Unlock()
			changed <- struct{}{}
		})
	}()
	defer func() { cancel(); <-done }()
	wait := func(n int) []MarkerChange {
		t.Helper()
		for {
			mu.Lock()
			if len(changes) >= n {
				out := append([]MarkerChange(nil), changes...)
				mu.Unlock()
				return out
			}
			mu.Unlock()
			select {
			case <-changed:
			case <-time.After(30 * time.Second):
				t.Fatalf("only %d changes, want %d", len(changes), n)
			}
		}
	}
	if first := wait(1)[0]; !first.Reset || len(first.Put) != 0 {
		t.Fatalf("first change %+v, want an empty reset", first)
	}
	parts := []TxnPartition{{Topic: "t", TopicID: NewTopicID(), Partition: 2}}
	rev, err := s.WriteTxn(t.Context(), k, epoch, TxnWrite{ID: "w", Meta: txnMeta(5, TxnPrepareCommit, parts, nil), Markers: &TxnMarker{ProducerEpoch: 3, Commit: true}})
	if err != nil {
		t.Fatal(err)
	}
	put := wait(2)[1]
	if put.Reset || len(put.Put) != 1 || put.Revision != rev || put.Put[0].Partition != parts[0].Key() {
		t.Fatalf("change after the prepare: %+v", put)
	}
	if ok, err := s.DeleteTxnMarker(t.Context(), put.Put[0].Key, put.Put[0].Revision); !ok || err != nil {
		t.Fatal(ok, err)
	}
	del := wait(3)[2]
	if len(del.Deleted) != 1 || del.Deleted[0] != put.Put[0].Key || del.Revision <= rev {
		t.Fatalf("change after the delete: %+v", del)
	}
	// A write elsewhere, then a progress request: the watch reports the
	// revision with no change.
	other, err := s.WriteTxn(t.Context(), k, epoch, TxnWrite{ID: "w", Meta: txnMeta(5, TxnCompleteCommit, nil, nil)})
	if err != nil {
		t.Fatal(err)
	}
	for n := 4; ; n++ {
		if err := s.RequestTxnMarkersProgress(t.Context()); err != nil {
			t.Fatal(err)
		}
		ch := wait(n)[n-1]
		if ch.Reset || len(ch.Put) > 0 || len(ch.Deleted) > 0 {
			t.Fatalf("progress notification reported changes: %+v", ch)
		}
		if ch.Revision >= other {
			break
		}
	}
}
