package metadata

import (
	"context"
	"encoding/json"
	"fmt"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Batched acquisition: AcquireLeaderships does for many partitions what
// AcquireLeadership and ResumeLeadership do for one, followed by
// PartitionState and Manifest, in two etcd transactions per batch instead
// of four or five round trips per partition. A broker taking 10,000
// partitions at once (a topic created, a restart, a rebalance) spends its
// time in etcd round trips otherwise.

// DefaultMaxTxnOps is etcd's default --max-txn-ops: the most compares, or
// success ops, or failure ops one transaction may hold. AcquireLeaderships
// takes the limit of the etcd it talks to as a parameter (0: this one).
const DefaultMaxTxnOps = 128

const (
	// opsPerAcquire is what one partition takes of a batch's transactions:
	// the read (and the write's failure branch, which reads again) gets
	// its leader key, epoch history, state and manifest; the write
	// compares three keys and puts two.
	opsPerAcquire = 4
	// acquireManifestPage is how many manifest entries a batch reads per
	// partition; a partition with more reads its manifest on its own.
	acquireManifestPage = 256
	// acquireRounds bounds the writes of one batch, as acquire bounds its
	// attempts: a partition still losing a race after them fails with
	// ErrConflict.
	acquireRounds = 10
)

// Acquisition is one partition of AcquireLeaderships.
type Acquisition struct {
	Key PartitionKey
	// Resume is the fencing epoch of this broker's ended tenure to
	// resume, as ResumeLeadership's resume; 0 acquires as
	// AcquireLeadership.
	Resume int64
}

// Acquired is the outcome of one Acquisition: the leadership, the
// partition's committed state and manifest as of it (what PartitionState
// and Manifest read once the leadership is held: nothing else commits to a
// partition whose key this broker holds), or the error AcquireLeadership or
// ResumeLeadership would return.
type Acquired struct {
	Leadership Leadership
	State      PartitionState
	Manifest   []ManifestEntry
	Err        error
}

// BatchSize is how many partitions AcquireLeaderships puts in one
// transaction under etcd's --max-txn-ops limit maxTxnOps (0: the default):
// a caller that wants its partitions led as they come hands it batches of
// this size.
func BatchSize(maxTxnOps int) int {
	if maxTxnOps <= 0 {
		maxTxnOps = DefaultMaxTxnOps
	}
	return max(1, maxTxnOps/opsPerAcquire)
}

// AcquireLeaderships acquires (or, with Resume, resumes) the leadership of
// each partition of reqs with the semantics of AcquireLeadership and
// ResumeLeadership, and returns one outcome per request, aligned with reqs.
// Partitions of a batch are independent: one led by another broker
// (ErrNotLeader), not resumable (ErrNotResumable) or changing under it
// does not hold back the others. A batch takes one transaction that reads
// every key it needs and one that creates the leader keys and appends to
// the epoch histories, each leader key's creation and its history entry in
// the same transaction, so that the epoch is the key's CreateRevision and
// the history's ModRevision. maxTxnOps is etcd's --max-txn-ops (0: the
// default); reqs longer than BatchSize(maxTxnOps) go in several batches,
// one after another. A key may appear once in reqs.
func (s *Store) AcquireLeaderships(ctx context.Context, brokerID int32, reqs []Acquisition, maxTxnOps int) []Acquired {
	out := make([]Acquired, len(reqs))
	seen := make(map[PartitionKey]bool, len(reqs))
	var idx []int
	for i, r := range reqs {
		switch {
		case r.Resume < 0:
			out[i].Err = fmt.Errorf("%w: resume epoch %d", ErrInvalid, r.Resume)
		case seen[r.Key]:
			// etcd refuses a transaction that puts a key twice.
			out[i].Err = fmt.Errorf("%w: %s asked twice in one batch", ErrInvalid, r.Key)
		default:
			seen[r.Key] = true
			idx = append(idx, i)
		}
	}
	n := BatchSize(maxTxnOps)
	for len(idx) > 0 {
		b := idx[:min(n, len(idx))]
		idx = idx[len(b):]
		s.acquireBatch(ctx, brokerID, reqs, b, out)
	}
	return out
}

// acquireRead is what a batch read of one partition returned.
type acquireRead struct {
	leader, epochs, state *mvccpb.KeyValue
	manifest              []*mvccpb.KeyValue
	more                  bool // the manifest has more than acquireManifestPage entries
}

// acquireWrite is a partition whose leader key a batch creates.
type acquireWrite struct {
	i       int // index in reqs
	l       Leadership
	st      PartitionState
	read    acquireRead
	cmps    []clientv3.Cmp
	puts    []clientv3.Op
	resumed bool
}

// readOps are the gets of one partition, in acquireRead's order.
func (s *Store) acquireReadOps(key PartitionKey) []clientv3.Op {
	return []clientv3.Op{
		clientv3.OpGet(s.keys.leader(key)),
		clientv3.OpGet(s.keys.epochs(key)),
		clientv3.OpGet(s.keys.state(key)),
		clientv3.OpGet(s.keys.manifest(key), clientv3.WithPrefix(), clientv3.WithLimit(acquireManifestPage)),
	}
}

// acquireReads splits responses, opsPerAcquire per partition, into reads.
func acquireReads(resps []*etcdserverpb.ResponseOp) []acquireRead {
	out := make([]acquireRead, len(resps)/opsPerAcquire)
	first := func(r *etcdserverpb.ResponseOp) *mvccpb.KeyValue {
		if kvs := r.GetResponseRange().Kvs; len(kvs) > 0 {
			return kvs[0]
		}
		return nil
	}
	for j := range out {
		r := resps[j*opsPerAcquire:]
		m := r[3].GetResponseRange()
		out[j] = acquireRead{leader: first(r[0]), epochs: first(r[1]), state: first(r[2]), manifest: m.Kvs, more: m.More}
	}
	return out
}

// acquireBatch acquires reqs[i] for each i of idx (at most a BatchSize)
// and sets out[i].
func (s *Store) acquireBatch(ctx context.Context, brokerID int32, reqs []Acquisition, idx []int, out []Acquired) {
	lease := s.LeaseID()
	var ops []clientv3.Op
	for _, i := range idx {
		ops = append(ops, s.acquireReadOps(reqs[i].Key)...)
	}
	resp, err := s.client.Txn(ctx).Then(ops...).Commit()
	if err != nil {
		for _, i := range idx {
			out[i].Err = fmt.Errorf("metadata: acquire leadership of %s: %w", reqs[i].Key, err)
		}
		return
	}
	reads := acquireReads(resp.Responses)
	pending := idx
	for range acquireRounds {
		var writes []*acquireWrite
		for j, i := range pending {
			w, done := s.decideAcquire(reqs[i], brokerID, lease, reads[j])
			if done != nil {
				out[i] = *done
				if out[i].Err == nil {
					s.acquiredManifest(ctx, reqs[i].Key, reads[j], &out[i])
				}
				continue
			}
			w.i = i
			writes = append(writes, w)
		}
		if len(writes) == 0 {
			return
		}
		var cmps []clientv3.Cmp
		var puts, elses []clientv3.Op
		for _, w := range writes {
			cmps = append(cmps, w.cmps...)
			puts = append(puts, w.puts...)
			elses = append(elses, s.acquireReadOps(reqs[w.i].Key)...)
		}
		tr, err := s.client.Txn(ctx).If(cmps...).Then(puts...).Else(elses...).Commit()
		if err != nil {
			for _, w := range writes {
				out[w.i].Err = fmt.Errorf("metadata: acquire leadership of %s: %w", reqs[w.i].Key, err)
			}
			return
		}
		if tr.Succeeded {
			for _, w := range writes {
				// Every put created its key in this transaction, at its
				// revision.
				w.l.Epoch = tr.Header.Revision
				if w.resumed {
					w.l.Resumed = reqs[w.i].Resume
				}
				out[w.i] = Acquired{Leadership: w.l, State: w.st}
				// The manifest read still holds: every write to it is
				// guarded by a leader key, and none existed between the
				// read and the write (an acquisition in between would
				// have moved the epoch history compared above).
				s.acquiredManifest(ctx, reqs[w.i].Key, w.read, &out[w.i])
				s.log.Debug("metadata: leadership acquired", "partition", reqs[w.i].Key, "epoch", w.l.Epoch,
					"leader_epoch", w.l.LeaderEpoch, "start", w.st.HighWatermark, "resumed", w.l.Resumed)
			}
			return
		}
		// Some partition changed since the read (another broker took it,
		// or changed its history): the failure branch read every one
		// again at the transaction's revision; decide each anew.
		reads = acquireReads(tr.Responses)
		pending = pending[:0:0]
		for _, w := range writes {
			pending = append(pending, w.i)
		}
	}
	for _, i := range pending {
		out[i].Err = fmt.Errorf("%w: acquire leadership of %s", ErrConflict, reqs[i].Key)
	}
}

// decideAcquire is acquire's decision for one partition from its read:
// either the outcome (done) or the write that creates its leader key.
func (s *Store) decideAcquire(req Acquisition, brokerID int32, lease clientv3.LeaseID, r acquireRead) (*acquireWrite, *Acquired) {
	key, resume := req.Key, req.Resume
	fail := func(err error) (*acquireWrite, *Acquired) { return nil, &Acquired{Err: err} }
	var hist []EpochStart
	if r.epochs != nil {
		if err := json.Unmarshal(r.epochs.Value, &hist); err != nil {
			return fail(fmt.Errorf("metadata: epoch history at %s: %w", r.epochs.Key, err))
		}
	}
	var st PartitionState
	if r.state != nil {
		if err := json.Unmarshal(r.state.Value, &st); err != nil {
			return fail(fmt.Errorf("metadata: state at %s: %w", r.state.Key, err))
		}
	}
	if lkv := r.leader; lkv != nil {
		var cur leaderValue
		_ = json.Unmarshal(lkv.Value, &cur)
		if clientv3.LeaseID(lkv.Lease) == lease {
			return nil, &Acquired{Leadership: Leadership{Epoch: lkv.CreateRevision, LeaderEpoch: cur.LeaderEpoch, History: hist}, State: st}
		}
		if resume != 0 && lkv.CreateRevision == resume {
			// The ended tenure's own key: its lease has ended on the
			// broker's side but etcd has not revoked it yet.
			return fail(fmt.Errorf("metadata: resume %s: the key of tenure %d is still held by its ended lease", key, resume))
		}
		return fail(fmt.Errorf("%w: %s led by broker %d (epoch %d)", ErrNotLeader, key, cur.Broker, cur.LeaderEpoch))
	}
	var epochsRev int64
	if r.epochs != nil {
		epochsRev = r.epochs.ModRevision
	}
	next, hist, err := nextTenure(key, resume, epochsRev, hist, st)
	if err != nil {
		return fail(err)
	}
	lk, ek, sk := s.keys.leader(key), s.keys.epochs(key), s.keys.state(key)
	val, _ := json.Marshal(leaderValue{Broker: brokerID, LeaderEpoch: next})
	hval, _ := json.Marshal(hist)
	return &acquireWrite{
		l:    Leadership{LeaderEpoch: next, History: hist},
		st:   st,
		read: r,
		cmps: []clientv3.Cmp{
			clientv3.Compare(clientv3.CreateRevision(lk), "=", 0),
			clientv3.Compare(clientv3.ModRevision(ek), "=", modRevision(r.epochs)),
			clientv3.Compare(clientv3.ModRevision(sk), "=", modRevision(r.state)),
		},
		puts:    []clientv3.Op{clientv3.OpPut(lk, string(val), clientv3.WithLease(lease)), clientv3.OpPut(ek, string(hval))},
		resumed: resume != 0, // nextTenure resumed it, or refused
	}, nil
}

// acquiredManifest sets a's manifest from the batch's read of it, or reads
// it whole if the read held only its first page.
func (s *Store) acquiredManifest(ctx context.Context, key PartitionKey, r acquireRead, a *Acquired) {
	if r.more {
		a.Manifest, a.Err = s.Manifest(ctx, key)
		return
	}
	a.Manifest = make([]ManifestEntry, 0, len(r.manifest))
	for _, kv := range r.manifest {
		e, err := decodeJSON[ManifestEntry](kv)
		if err != nil {
			a.Err = fmt.Errorf("metadata: manifest entry at %s: %w", kv.Key, err)
			return
		}
		a.Manifest = append(a.Manifest, e)
	}
}
