package metadata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	grpcmd "google.golang.org/grpc/metadata"
)

// TxnWrite is one change to a transactional id's record: Meta replaces it;
// when Markers is set (Meta in PrepareCommit or PrepareAbort), one copy of
// *Markers is put for every partition and every group of Meta, in the same
// guarded etcd transaction as the record.
type TxnWrite struct {
	ID      string
	Meta    TxnMetadata
	Markers *TxnMarker
	// CheckRevision: the write is made only if the record's ModRevision
	// is still Revision (0: the record does not exist), else WriteTxn
	// returns ErrTxnChanged. A partition leader adds partitions to a
	// transaction (transaction version 2) by such writes, so the
	// coordinator makes its own writes this way too.
	CheckRevision bool
	Revision      int64
}

// ErrTxnChanged is WriteTxn's and AddTxnPartition's answer when the record
// changed since the revision the write was based on.
var ErrTxnChanged = errors.New("metadata: transaction record changed")

// LoadedTxn is one transactional id's record as etcd holds it.
type LoadedTxn struct {
	Meta TxnMetadata
	// Revision is the record's ModRevision: the revision of the write that
	// put it, and of the markers written with it.
	Revision int64
	// MarkersPending is set when the write of a transaction with more
	// markers than one etcd transaction takes was cut short: the markers
	// are to be written again (WriteTxn with the same Meta and Markers).
	MarkersPending bool
}

// storedTxn is a record's value: the metadata and the flag of a write of
// markers split over several etcd transactions and not yet finished.
type storedTxn struct {
	TxnMetadata
	MarkersPending bool `json:"markersPending,omitempty"`
}

// WriteTxn stores w on the coordinator shard (a partition of
// OffsetsTopic) led under epoch, guarded by
// Compare(CreateRevision(leader key) == epoch), and returns the revision
// of the write: ErrFenced when the shard is led under another epoch, or a
// transport error, which leaves the outcome unknown (retrying is safe:
// the write puts the same values).
//
// The record and its markers go in one etcd transaction when they fit;
// a transaction of more partitions and groups than that takes several,
// the first of which marks the record's markers pending and the last
// clears it (LoadedTxn.MarkersPending): a coordinator that loads a record
// still so marked writes the markers again, which markers allow (a marker
// for a transaction that has ended already changes nothing).
func (s *Store) WriteTxn(ctx context.Context, shard PartitionKey, epoch int64, w TxnWrite) (int64, error) {
	if epoch <= 0 {
		return 0, ErrFenced
	}
	var markers []clientv3.Op
	if w.Markers != nil {
		mk := *w.Markers
		mk.TransactionalID, mk.ProducerID = w.ID, w.Meta.ProducerID
		val, err := json.Marshal(mk)
		if err != nil {
			return 0, fmt.Errorf("metadata: encode marker of %q: %w", w.ID, err)
		}
		for _, p := range w.Meta.Partitions {
			markers = append(markers, clientv3.OpPut(s.keys.partitionMarker(p.Key(), w.Meta.ProducerID), string(val)))
		}
		for _, g := range w.Meta.Groups {
			markers = append(markers, clientv3.OpPut(s.keys.groupMarker(g, w.Meta.ProducerID), string(val)))
		}
	}
	put := func(pending bool) (clientv3.Op, error) {
		val, err := json.Marshal(storedTxn{TxnMetadata: w.Meta, MarkersPending: pending})
		if err != nil {
			return clientv3.Op{}, fmt.Errorf("metadata: encode transaction %q: %w", w.ID, err)
		}
		return clientv3.OpPut(s.keys.txn(shard.Partition, w.ID), string(val)), nil
	}
	const perTxn = maxTxnOps - 1 // the record's put
	if len(markers) <= perTxn {
		rec, err := put(false)
		if err != nil {
			return 0, err
		}
		return s.guardedTxnRev(ctx, shard, epoch, w, append([]clientv3.Op{rec}, markers...))
	}
	rec, err := put(true)
	if err != nil {
		return 0, err
	}
	if _, err := s.guardedTxnRev(ctx, shard, epoch, w, []clientv3.Op{rec}); err != nil {
		return 0, err
	}
	for len(markers) > 0 {
		n := min(len(markers), maxTxnOps)
		if _, err := s.guardedTxn(ctx, shard, epoch, markers[:n]); err != nil {
			return 0, err
		}
		markers = markers[n:]
	}
	if rec, err = put(false); err != nil {
		return 0, err
	}
	return s.guardedTxn(ctx, shard, epoch, []clientv3.Op{rec})
}

// guardedTxnRev is guardedTxn that, when w.CheckRevision is set, also
// requires w's record to be at w.Revision (ErrTxnChanged otherwise).
func (s *Store) guardedTxnRev(ctx context.Context, shard PartitionKey, epoch int64, w TxnWrite, ops []clientv3.Op) (int64, error) {
	if !w.CheckRevision {
		return s.guardedTxn(ctx, shard, epoch, ops)
	}
	inner := clientv3.OpTxn([]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(s.keys.txn(shard.Partition, w.ID)), "=", w.Revision)}, ops, nil)
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(s.keys.leader(shard)), "=", epoch)).
		Then(inner).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("metadata: write transaction of shard %d: %w", shard.Partition, err)
	}
	if !resp.Succeeded {
		return 0, ErrFenced
	}
	if !resp.Responses[0].GetResponseTxn().Succeeded {
		return 0, ErrTxnChanged
	}
	return resp.Header.Revision, nil
}

// guardedTxn commits ops if shard is still led under epoch and returns the
// transaction's revision.
func (s *Store) guardedTxn(ctx context.Context, shard PartitionKey, epoch int64, ops []clientv3.Op) (int64, error) {
	lk := s.keys.leader(shard)
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(lk), "=", epoch)).
		Then(ops...).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("metadata: write transaction of shard %d: %w", shard.Partition, err)
	}
	if !resp.Succeeded {
		return 0, ErrFenced
	}
	return resp.Header.Revision, nil
}

// LoadTxns reads every transactional id's record of a coordinator shard.
func (s *Store) LoadTxns(ctx context.Context, shard int32) (map[string]LoadedTxn, error) {
	out, _, err := s.loadTxns(ctx, shard)
	return out, err
}

// loadTxns is LoadTxns, with the revision of the read.
func (s *Store) loadTxns(ctx context.Context, shard int32) (map[string]LoadedTxn, int64, error) {
	prefix := s.keys.txnShard(shard)
	resp, err := s.client.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, fmt.Errorf("metadata: load transactions of shard %d: %w", shard, err)
	}
	out := make(map[string]LoadedTxn, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		id, lt, err := s.decodeTxn(prefix, kv)
		if err != nil {
			return nil, 0, err
		}
		out[id] = lt
	}
	return out, resp.Header.Revision, nil
}

// decodeTxn parses one record of the shard whose keys start with prefix.
func (s *Store) decodeTxn(prefix string, kv *mvccpb.KeyValue) (string, LoadedTxn, error) {
	id, err := url.PathUnescape(strings.TrimPrefix(string(kv.Key), prefix))
	if err != nil {
		return "", LoadedTxn{}, fmt.Errorf("metadata: transaction key %s: %w", kv.Key, err)
	}
	var st storedTxn
	if err := json.Unmarshal(kv.Value, &st); err != nil {
		return "", LoadedTxn{}, fmt.Errorf("metadata: transaction at %s: %w", kv.Key, err)
	}
	return id, LoadedTxn{Meta: st.TxnMetadata, Revision: kv.ModRevision, MarkersPending: st.MarkersPending}, nil
}

// WatchTxns reads every record of a coordinator shard, then follows their
// changes, calling fn (on one goroutine, in revision order) until ctx
// ends: reset with every record after a read (the first, and again after
// a broken watch), then the records each watch response put. A record
// that does not decode is logged and skipped. The transaction coordinator
// follows its shards so: partition leaders change records too (they add
// partitions to transactions of version 2).
func (s *Store) WatchTxns(ctx context.Context, shard int32, fn func(reset bool, txns map[string]LoadedTxn)) error {
	prefix := s.keys.txnShard(shard)
	read := func(ctx context.Context) (int64, error) {
		out, rev, err := s.loadTxns(ctx, shard)
		if err != nil {
			return 0, err
		}
		fn(true, out)
		return rev, nil
	}
	apply := func(wr clientv3.WatchResponse) {
		out := map[string]LoadedTxn{}
		for _, ev := range wr.Events {
			if ev.Type != mvccpb.PUT {
				continue
			}
			id, lt, err := s.decodeTxn(prefix, ev.Kv)
			if err != nil {
				s.log.Warn("metadata: skip undecodable transaction record", "key", string(ev.Kv.Key), "error", err)
				continue
			}
			out[id] = lt
		}
		if len(out) > 0 {
			fn(false, out)
		}
	}
	// On a gRPC stream of their own: etcd answers a progress request on
	// a stream only while every watch of the stream is synced, and the
	// shards' watches, made and dropped as leaderships move, must not
	// hold back the progress the security and marker watches wait for.
	ctx = grpcmd.AppendToOutgoingContext(ctx, "strata-watch", "txns")
	return s.readThenWatch(ctx, prefix, "transactions", read, apply)
}

// UpdateTxn changes one record of a coordinator shard without leading
// it: a partition leader adding its partition to a transaction (version
// 2). It reads the record (nil to change when there is none), and writes
// what change returns (nothing when it returns nil) if the record is still
// at the revision read, trying again from a fresh read when it is not, at
// most tries times (then ErrTxnChanged). change's error is returned as is.
func (s *Store) UpdateTxn(ctx context.Context, shard int32, id string, tries int, change func(cur *LoadedTxn) (*TxnMetadata, error)) error {
	key := s.keys.txn(shard, id)
	for range tries {
		cur, err := s.ReadTxn(ctx, shard, id)
		if err != nil {
			return err
		}
		next, err := change(cur)
		if err != nil || next == nil {
			return err
		}
		var rev int64
		if cur != nil {
			rev = cur.Revision
			if cur.MarkersPending {
				return ErrTxnChanged
			}
		}
		val, err := json.Marshal(storedTxn{TxnMetadata: *next})
		if err != nil {
			return fmt.Errorf("metadata: encode transaction %q: %w", id, err)
		}
		resp, err := s.client.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(key), "=", rev)).
			Then(clientv3.OpPut(key, string(val))).
			Commit()
		if err != nil {
			return fmt.Errorf("metadata: update transaction %q: %w", id, err)
		}
		if resp.Succeeded {
			return nil
		}
	}
	return ErrTxnChanged
}

// ReadTxn reads one transactional id's record on a shard (a linearizable
// read); nil when there is none.
func (s *Store) ReadTxn(ctx context.Context, shard int32, id string) (*LoadedTxn, error) {
	resp, err := s.client.Get(ctx, s.keys.txn(shard, id))
	if err != nil {
		return nil, fmt.Errorf("metadata: read transaction %q: %w", id, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	_, lt, err := s.decodeTxn(s.keys.txnShard(shard), resp.Kvs[0])
	if err != nil {
		return nil, err
	}
	return &lt, nil
}

// PendingMarker is one marker under txnmarkers/: for a partition
// or for a group (IsGroup).
type PendingMarker struct {
	Key       string // its etcd key
	Revision  int64  // its ModRevision
	IsGroup   bool
	Partition PartitionKey // of a partition's marker
	Group     string       // of a group's marker
	Marker    TxnMarker
}

// MarkerChange is what WatchTxnMarkers reports: a full read (Reset: the
// pending markers are Put exactly) or the changes of one watch response,
// at Revision (none for a progress notification: nothing changed up to
// Revision).
type MarkerChange struct {
	Reset    bool
	Revision int64
	Put      []PendingMarker
	Deleted  []string // keys
}

// WatchTxnMarkers reads every pending marker, then follows the changes
// under txnmarkers/, calling fn (on one goroutine, in revision order)
// until ctx ends; after a broken watch it reads everything again (Reset).
// A marker that does not decode is logged and skipped.
func (s *Store) WatchTxnMarkers(ctx context.Context, fn func(MarkerChange)) error {
	prefix := s.keys.txnMarkers()
	read := func(ctx context.Context) (int64, error) {
		resp, err := s.client.Get(ctx, prefix, clientv3.WithPrefix())
		if err != nil {
			return 0, fmt.Errorf("metadata: read transaction markers: %w", err)
		}
		ch := MarkerChange{Reset: true, Revision: resp.Header.Revision}
		for _, kv := range resp.Kvs {
			if m, ok := s.decodeMarker(kv); ok {
				ch.Put = append(ch.Put, m)
			}
		}
		fn(ch)
		return ch.Revision, nil
	}
	apply := func(wr clientv3.WatchResponse) {
		// One response may hold several events of a key (a watch catching
		// up gets a marker's put and its delete together): only the last
		// counts, so that Put and Deleted can be applied in either order.
		ch := MarkerChange{Revision: wr.Header.Revision}
		last := map[string]int{}
		for i, ev := range wr.Events {
			last[string(ev.Kv.Key)] = i
		}
		for i, ev := range wr.Events {
			if last[string(ev.Kv.Key)] != i {
				continue
			}
			if ev.Type == mvccpb.DELETE {
				ch.Deleted = append(ch.Deleted, string(ev.Kv.Key))
				continue
			}
			if m, ok := s.decodeMarker(ev.Kv); ok {
				ch.Put = append(ch.Put, m)
			}
		}
		fn(ch)
	}
	return s.readThenWatch(ctx, prefix, "transaction markers", read, apply)
}

// RequestTxnMarkersProgress asks etcd to tell WatchTxnMarkers the revision
// it has seen everything up to, even when nothing under txnmarkers/
// changed since: a coordinator waiting for its view to reach a revision
// (all of a transaction's markers gone as of its record's write) uses it.
func (s *Store) RequestTxnMarkersProgress(ctx context.Context) error {
	// The watch runs on the client's stream of WithRequireLeader contexts.
	return s.client.RequestProgress(clientv3.WithRequireLeader(ctx))
}

// decodeMarker parses a marker's key and value.
func (s *Store) decodeMarker(kv *mvccpb.KeyValue) (PendingMarker, bool) {
	m := PendingMarker{Key: string(kv.Key), Revision: kv.ModRevision}
	err := func() error {
		if err := json.Unmarshal(kv.Value, &m.Marker); err != nil {
			return err
		}
		rel := strings.TrimPrefix(m.Key, s.keys.txnMarkers())
		parts := strings.Split(rel, "/")
		switch {
		case len(parts) == 4 && parts[0] == "p":
			if err := m.Partition.Topic.UnmarshalText([]byte(parts[1])); err != nil {
				return err
			}
			n, err := strconv.ParseInt(parts[2], 10, 32)
			if err != nil {
				return err
			}
			m.Partition.Partition = int32(n)
		case len(parts) == 3 && parts[0] == "g":
			g, err := url.PathUnescape(parts[1])
			if err != nil {
				return err
			}
			m.Group, m.IsGroup = g, true
		default:
			return errors.New("unknown layout")
		}
		return nil
	}()
	if err != nil {
		s.log.Warn("metadata: skip undecodable transaction marker", "key", m.Key, "error", err)
		return m, false
	}
	return m, true
}

// DeleteTxnMarker deletes a marker if it is still the one put at revision
// (a marker put again since is kept), and reports whether it did.
func (s *Store) DeleteTxnMarker(ctx context.Context, key string, revision int64) (bool, error) {
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", revision)).
		Then(clientv3.OpDelete(key)).
		Commit()
	if err != nil {
		return false, fmt.Errorf("metadata: delete transaction marker %s: %w", key, err)
	}
	return resp.Succeeded, nil
}
