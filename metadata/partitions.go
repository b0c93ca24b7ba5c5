package metadata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/sourcegraph/conc/pool"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Transaction limits of the Store's other multi-key writes (groups,
// security, transactions, truncation), within etcd's defaults: etcd counts
// a transaction's size as the largest of its compares, success ops and
// failure ops (not their sum), and rejects more than --max-txn-ops
// (default 128). CommitSegments packs within the Store's TxnLimits instead.
const (
	maxTxnOps = 128
	// maxTxnBytes keeps a transaction well below etcd's default
	// --max-request-bytes (1.5 MiB). A single larger commit goes alone.
	maxTxnBytes = 1 << 20
	// opsPerCommit: a partition's commit puts the manifest entry and the
	// state (two success ops) under one compare.
	opsPerCommit    = 2
	commitTxnsInFly = 1 // transactions of one CommitSegments call in flight at once (see maxCommitTxnBytes)
	// commitOverhead estimates the request bytes of a commit besides its
	// keys and values: the compare's and the puts' protobuf envelopes.
	commitOverhead = 48
)

// maxEpochHistory bounds the tenures a partition's epoch history keeps.
const maxEpochHistory = 128

// AcquireLeadership makes this broker's lease hold the partition's leadership
// key and starts a new tenure: the next Kafka leader epoch, starting at the
// committed high watermark, is appended to the partition's epoch history in
// the same transaction. If this lease already holds the key (a restart within
// the TTL), it returns that tenure. ErrNotLeader if another lease holds it.
//
// The epoch history is written in every transaction that creates a leader
// key and in no other, so its ModRevision is the fencing epoch of the
// partition's latest tenure, current or ended.
func (s *Store) AcquireLeadership(ctx context.Context, key PartitionKey, brokerID int32) (Leadership, error) {
	return s.acquire(ctx, key, brokerID, 0)
}

// ResumeLeadership is AcquireLeadership for a broker whose lease ended (a
// restart too late, an etcd stall or a cut longer than the TTL) and that
// still holds uncommitted records of its tenure with fencing epoch resume.
// If that is still the partition's latest tenure (no broker led it since),
// the new tenure continues it: same Kafka leader epoch, no new history
// entry, and Leadership.Resumed = resume, so that the broker commits those
// records under the new fencing epoch. Otherwise it takes nothing and fails
// with ErrNotResumable (ErrNotLeader while another lease holds the key).
func (s *Store) ResumeLeadership(ctx context.Context, key PartitionKey, brokerID int32, resume int64) (Leadership, error) {
	if resume <= 0 {
		return Leadership{}, fmt.Errorf("%w: resume epoch %d", ErrInvalid, resume)
	}
	return s.acquire(ctx, key, brokerID, resume)
}

// EpochHistory returns the partition's epoch history: where each Kafka
// leader epoch began, oldest first (at most the last 128 tenures).
func (s *Store) EpochHistory(ctx context.Context, key PartitionKey) ([]EpochStart, error) {
	resp, err := s.client.Get(ctx, s.keys.epochs(key))
	if err != nil {
		return nil, fmt.Errorf("metadata: epoch history of %s: %w", key, err)
	}
	var hist []EpochStart
	if len(resp.Kvs) > 0 {
		if err := json.Unmarshal(resp.Kvs[0].Value, &hist); err != nil {
			return nil, fmt.Errorf("metadata: epoch history at %s: %w", resp.Kvs[0].Key, err)
		}
	}
	return hist, nil
}

func (s *Store) acquire(ctx context.Context, key PartitionKey, brokerID int32, resume int64) (Leadership, error) {
	lk, ek, sk := s.keys.leader(key), s.keys.epochs(key), s.keys.state(key)
	lease := s.LeaseID()
	for range 10 {
		resp, err := s.client.Txn(ctx).Then(clientv3.OpGet(lk), clientv3.OpGet(ek), clientv3.OpGet(sk)).Commit()
		if err != nil {
			return Leadership{}, fmt.Errorf("metadata: acquire leadership of %s: %w", key, err)
		}
		lkv, ekv, skv := firstKV(resp, 0), firstKV(resp, 1), firstKV(resp, 2)
		var hist []EpochStart
		if ekv != nil {
			if err := json.Unmarshal(ekv.Value, &hist); err != nil {
				return Leadership{}, fmt.Errorf("metadata: epoch history at %s: %w", ekv.Key, err)
			}
		}
		if lkv != nil {
			var cur leaderValue
			_ = json.Unmarshal(lkv.Value, &cur)
			if clientv3.LeaseID(lkv.Lease) == lease {
				return Leadership{Epoch: lkv.CreateRevision, LeaderEpoch: cur.LeaderEpoch, History: hist}, nil
			}
			if resume != 0 && lkv.CreateRevision == resume {
				// The ended tenure's own key: its lease has ended on the
				// broker's side but etcd has not revoked it yet.
				return Leadership{}, fmt.Errorf("metadata: resume %s: the key of tenure %d is still held by its ended lease", key, resume)
			}
			return Leadership{}, fmt.Errorf("%w: %s led by broker %d (epoch %d)", ErrNotLeader, key, cur.Broker, cur.LeaderEpoch)
		}
		var st PartitionState
		if skv != nil {
			if err := json.Unmarshal(skv.Value, &st); err != nil {
				return Leadership{}, fmt.Errorf("metadata: state at %s: %w", skv.Key, err)
			}
		}
		var epochsRev int64
		if ekv != nil {
			epochsRev = ekv.ModRevision
		}
		next, hist, err := nextTenure(key, resume, epochsRev, hist, st)
		if err != nil {
			return Leadership{}, err
		}
		val, _ := json.Marshal(leaderValue{Broker: brokerID, LeaderEpoch: next})
		hval, _ := json.Marshal(hist)
		// The state cannot move while no leader key exists (every commit
		// compares it), but the comparisons make that a checked fact.
		tr, err := s.client.Txn(ctx).
			If(
				clientv3.Compare(clientv3.CreateRevision(lk), "=", 0),
				clientv3.Compare(clientv3.ModRevision(ek), "=", modRevision(ekv)),
				clientv3.Compare(clientv3.ModRevision(sk), "=", modRevision(skv)),
			).
			Then(clientv3.OpPut(lk, string(val), clientv3.WithLease(lease)), clientv3.OpPut(ek, string(hval))).
			Commit()
		if err != nil {
			return Leadership{}, fmt.Errorf("metadata: acquire leadership of %s: %w", key, err)
		}
		if tr.Succeeded {
			// The put created the key in this transaction, at its revision.
			l := Leadership{Epoch: tr.Header.Revision, LeaderEpoch: next, History: hist}
			l.Resumed = resume // nextTenure resumed it, or refused
			s.log.Debug("metadata: leadership acquired", "partition", key, "epoch", l.Epoch, "leader_epoch", next, "start", st.HighWatermark, "resumed", l.Resumed)
			return l, nil
		}
		// Someone else acquired it or changed the history: look again.
	}
	return Leadership{}, fmt.Errorf("%w: acquire leadership of %s", ErrConflict, key)
}

// nextTenure decides the Kafka leader epoch of a new tenure and the epoch
// history to write with it: resume (the ModRevision of the history a
// tenure was started with, 0 for a new tenure) continues that tenure if
// the history is still the one it wrote (epochsRev), keeping its epoch and
// the history; otherwise the next epoch starts at the state's high
// watermark, appended to the history (the last maxEpochHistory kept).
// ErrNotResumable if resume is not the last tenure: a non-zero resume that
// returns no error was resumed.
func nextTenure(key PartitionKey, resume, epochsRev int64, hist []EpochStart, st PartitionState) (int32, []EpochStart, error) {
	resumed := resume != 0 && epochsRev == resume && len(hist) > 0
	if resume != 0 && !resumed {
		return 0, nil, fmt.Errorf("%w: %s, tenure %d", ErrNotResumable, key, resume)
	}
	if resumed {
		return hist[len(hist)-1].LeaderEpoch, hist, nil
	}
	next := int32(0)
	if len(hist) > 0 {
		next = hist[len(hist)-1].LeaderEpoch + 1
	}
	hist = append(hist, EpochStart{LeaderEpoch: next, StartOffset: st.HighWatermark})
	if n := len(hist); n > maxEpochHistory {
		hist = hist[n-maxEpochHistory:]
	}
	return next, hist, nil
}

func firstKV(resp *clientv3.TxnResponse, i int) *mvccpb.KeyValue {
	if kvs := resp.Responses[i].GetResponseRange().Kvs; len(kvs) > 0 {
		return kvs[0]
	}
	return nil
}

// modRevision is kv's ModRevision, or 0 (which compares equal only for an
// absent key) for nil.
func modRevision(kv *mvccpb.KeyValue) int64 {
	if kv == nil {
		return 0
	}
	return kv.ModRevision
}

// ResignLeadership deletes the leadership key if it still has epoch.
// Resigning a leadership already lost is not an error.
func (s *Store) ResignLeadership(ctx context.Context, key PartitionKey, epoch int64) error {
	lk := s.keys.leader(key)
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(lk), "=", epoch)).
		Then(clientv3.OpDelete(lk)).
		Commit()
	if err != nil {
		return fmt.Errorf("metadata: resign leadership of %s: %w", key, err)
	}
	s.log.Debug("metadata: leadership resigned", "partition", key, "epoch", epoch, "held", resp.Succeeded)
	return nil
}

// PartitionState reads the committed state (zero state if none yet).
func (s *Store) PartitionState(ctx context.Context, key PartitionKey) (PartitionState, error) {
	resp, err := s.client.Get(ctx, s.keys.state(key))
	if err != nil {
		return PartitionState{}, fmt.Errorf("metadata: read state of %s: %w", key, err)
	}
	var st PartitionState
	if len(resp.Kvs) == 0 {
		return st, nil
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, &st); err != nil {
		return PartitionState{}, fmt.Errorf("metadata: state at %s: %w", resp.Kvs[0].Key, err)
	}
	return st, nil
}

// Manifest lists the partition's manifest entries by base offset.
func (s *Store) Manifest(ctx context.Context, key PartitionKey) ([]ManifestEntry, error) {
	// Keys hold the base offset zero-padded, so etcd's key order is offset order.
	return getAll(ctx, s, s.keys.manifest(key), "manifest of "+key.String(), decodeManifestKV)
}

// pendingCommit is one Commit encoded for a transaction.
type pendingCommit struct {
	i         int // index in the caller's commits
	key       PartitionKey
	epoch     int64
	leaderKey string
	// leadersKey is the prefix of the leader keys of the partition's
	// topic, which a failed transaction reads (one read per topic).
	leadersKey string
	puts       [2][2]string // {key, value} of the manifest entry and the state
	bytes      int          // estimated request bytes, but the read of leadersKey
}

// CommitSegments commits many partitions' entries and states, each guarded by its
// epoch, in as few transactions as etcd's limits allow: one for a seal's
// commits within the Store's TxnLimits. It returns one error per commit
// (nil, ErrFenced, or a transport error), aligned with commits.
//
// Commits of different partitions are independent: one fenced partition does
// not hold back the others. Commits of the same partition apply in the
// order given, and once one of them fails the later ones fail too (so a
// manifest never has a gap). A transport error leaves the outcome of the
// affected commits unknown; retrying them is safe, since they rewrite the
// same keys with the same values.
func (s *Store) CommitSegments(ctx context.Context, commits []Commit) []error {
	errs := make([]error, len(commits))
	var txns atomic.Int64
	defer func() {
		s.commitsM.calls.Inc()
		s.commitsM.commits.Add(float64(len(commits)))
		s.commitsM.txnsPer.Observe(float64(txns.Load()))
	}()

	// The k-th commit of a partition goes into generation k: etcd rejects a
	// transaction that writes a key twice, and a partition's commits must
	// apply in order. Generations run one after another.
	var gens [][]pendingCommit
	seen := make(map[PartitionKey]int, len(commits))
	for i, c := range commits {
		pc, err := s.encodeCommit(i, c)
		if err != nil {
			errs[i] = err
		}
		g := seen[c.Key]
		seen[c.Key] = g + 1
		if g == len(gens) {
			gens = append(gens, nil)
		}
		gens[g] = append(gens[g], pc)
	}

	failed := make(map[PartitionKey]error)
	for _, gen := range gens {
		var batch []pendingCommit
		for _, pc := range gen {
			if err := errs[pc.i]; err != nil {
				failed[pc.key] = err
			} else if err := failed[pc.key]; err != nil {
				errs[pc.i] = fmt.Errorf("metadata: earlier commit of %s failed: %w", pc.key, err)
			} else {
				batch = append(batch, pc)
			}
		}
		s.commitGeneration(ctx, batch, errs, &txns)
		for _, pc := range batch {
			if errs[pc.i] != nil {
				failed[pc.key] = errs[pc.i]
			}
		}
	}
	return errs
}

// commitGeneration commits batch (commits of different partitions) in
// transactions within the Store's limits, and sets errs for its commits.
// A transaction etcd refuses as too large lowers the limits
// (txnLimiter.lower) and its commits go again in smaller transactions;
// etcd applies nothing of a refused one.
func (s *Store) commitGeneration(ctx context.Context, batch []pendingCommit, errs []error, txns *atomic.Int64) {
	for len(batch) > 0 {
		limits := s.txn.get()
		var mu sync.Mutex
		var again []pendingCommit
		p := pool.New().WithMaxGoroutines(commitTxnsInFly)
		for _, b := range splitCommits(batch, limits) {
			p.Go(func() {
				err := s.commitBatch(ctx, b, errs, txns)
				if err == nil || !(txnTooManyOps(err) || txnTooLarge(err)) {
					return
				}
				s.commitsM.refused.Inc()
				now, retry := s.txn.lower(limits, err)
				if !retry || len(b) == 1 {
					return
				}
				s.log.Warn("metadata: etcd refused a commit transaction as too large; committing in smaller ones from now on "+
					"(set etcd's --max-txn-ops and --max-request-bytes as the operations guide says)",
					"partitions", len(b), "max_txn_ops", now.MaxOps, "max_request_bytes", now.MaxRequestBytes, "err", err)
				for _, pc := range b {
					errs[pc.i] = nil
				}
				mu.Lock()
				again = append(again, b...)
				mu.Unlock()
			})
		}
		p.Wait()
		batch = again
	}
}

func (s *Store) encodeCommit(i int, c Commit) (pendingCommit, error) {
	pc := pendingCommit{i: i, key: c.Key, epoch: c.Epoch}
	if c.Epoch <= 0 {
		// CreateRevision == 0 would hold for an absent leader key.
		return pc, ErrFenced
	}
	if c.Entry.BaseOffset < 0 {
		return pc, fmt.Errorf("%w: %s: base offset %d", ErrInvalid, c.Key, c.Entry.BaseOffset)
	}
	entry, err := manifestValue(c.Entry)
	if err != nil {
		return pc, fmt.Errorf("metadata: encode manifest entry of %s: %w", c.Key, err)
	}
	state, err := json.Marshal(c.State)
	if err != nil {
		return pc, fmt.Errorf("metadata: encode state of %s: %w", c.Key, err)
	}
	pc.leaderKey = s.keys.leader(c.Key)
	pc.leadersKey = s.keys.topicLeaders(c.Key.Topic)
	pc.puts = [2][2]string{
		{s.keys.manifestEntry(c.Key, c.Entry.BaseOffset), string(entry)},
		{s.keys.state(c.Key), string(state)},
	}
	pc.bytes = len(pc.leaderKey) + commitOverhead
	for _, kv := range pc.puts {
		pc.bytes += len(kv[0]) + len(kv[1])
	}
	return pc, nil
}

// splitCommits cuts commits (all of different partitions) into transactions
// within limits: at most limits.commitsPerTxn() commits and
// limits.txnBytes() estimated bytes each (a single larger commit goes
// alone). Each distinct topic of a transaction adds the bytes of its
// failure branch's read.
func splitCommits(commits []pendingCommit, limits TxnLimits) [][]pendingCommit {
	perTxn, maxBytes := limits.commitsPerTxn(), limits.txnBytes()
	var out [][]pendingCommit
	var cur []pendingCommit
	topics := map[string]bool{}
	size := 0
	for _, pc := range commits {
		n := pc.bytes
		if !topics[pc.leadersKey] {
			n += len(pc.leadersKey) + commitOverhead
		}
		if len(cur) > 0 && (len(cur) == perTxn || size+n > maxBytes) {
			out = append(out, cur)
			cur, size = nil, 0
			clear(topics)
			n = pc.bytes + len(pc.leadersKey) + commitOverhead
		}
		cur = append(cur, pc)
		topics[pc.leadersKey] = true
		size += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// commitBatch commits a batch in one transaction and sets errs for its
// commits (commitGuarded: the commits whose epoch is gone are fenced, the
// rest go again). It returns the error of a transaction that failed
// (the same as each commit's).
func (s *Store) commitBatch(ctx context.Context, batch []pendingCommit, errs []error, txns *atomic.Int64) error {
	guards := make([]guarded, len(batch))
	for i, pc := range batch {
		ops := make([]clientv3.Op, len(pc.puts))
		for j, kv := range pc.puts {
			ops[j] = clientv3.OpPut(kv[0], kv[1])
		}
		guards[i] = guarded{leaderKey: pc.leaderKey, readPrefix: pc.leadersKey, epoch: pc.epoch, ops: ops}
	}
	s.commitsM.txnCommit.Observe(float64(len(batch)))
	var txnErr error
	n := s.commitGuarded(ctx, "commit", guards,
		func(i int) string { return batch[i].key.String() },
		func(i int, err error) {
			pc := batch[i]
			if err == ErrFenced {
				s.log.Debug("metadata: commit fenced", "partition", pc.key, "epoch", pc.epoch)
			} else {
				txnErr = err
			}
			errs[pc.i] = err
		})
	txns.Add(int64(n))
	s.commitsM.txns.Add(float64(n))
	return txnErr
}

// guarded is one part of an etcd transaction of parts that each apply only
// while their leader key still holds their epoch (its CreateRevision).
type guarded struct {
	leaderKey string
	// readPrefix, if set, is a prefix of leaderKey that the failure branch
	// reads instead of leaderKey: parts that share it share one read.
	readPrefix string
	epoch      int64
	ops        []clientv3.Op
}

// commitGuarded commits parts in one transaction, each guarded by its
// epoch, and calls fail(i, err) for each part i that did not commit: err is
// ErrFenced, or the transaction's error (named by name(i)). If some epochs
// no longer hold, the failure branch has read every leader key at the
// transaction's revision: the parts whose epoch is gone are fenced for good
// (epochs never come back), and the rest go again. what names the
// transaction in the error of a failure with every epoch holding. It
// returns the number of transactions it sent.
func (s *Store) commitGuarded(ctx context.Context, what string, parts []guarded, name func(i int) string, fail func(i int, err error)) int {
	live := make([]int, len(parts))
	for i := range live {
		live[i] = i
	}
	txns := 0
	for len(live) > 0 {
		cmps := make([]clientv3.Cmp, 0, len(live))
		var thens []clientv3.Op
		var elses []clientv3.Op
		reads := map[string]bool{}
		for _, i := range live {
			p := &parts[i]
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(p.leaderKey), "=", p.epoch))
			thens = append(thens, p.ops...)
			switch {
			case p.readPrefix == "":
				elses = append(elses, clientv3.OpGet(p.leaderKey, clientv3.WithKeysOnly()))
			case !reads[p.readPrefix]:
				reads[p.readPrefix] = true
				elses = append(elses, clientv3.OpGet(p.readPrefix, clientv3.WithPrefix(), clientv3.WithKeysOnly()))
			}
		}
		txns++
		resp, err := s.client.Txn(ctx).If(cmps...).Then(thens...).Else(elses...).Commit()
		if err != nil {
			for _, i := range live {
				fail(i, fmt.Errorf("metadata: commit %s: %w", name(i), err))
			}
			return txns
		}
		if resp.Succeeded {
			return txns
		}
		epochs := make(map[string]int64, len(live))
		for _, r := range resp.Responses {
			for _, kv := range r.GetResponseRange().Kvs {
				epochs[string(kv.Key)] = kv.CreateRevision
			}
		}
		still := live[:0:0]
		for _, i := range live {
			if epochs[parts[i].leaderKey] != parts[i].epoch {
				fail(i, ErrFenced)
				continue
			}
			still = append(still, i)
		}
		if len(still) == len(live) {
			// Cannot happen: compares and reads see the same revision.
			err := errors.New("metadata: " + what + " transaction failed with every epoch holding")
			for _, i := range live {
				fail(i, err)
			}
			return txns
		}
		live = still
	}
	return txns
}

// TruncateLog commits a partition's state with a new log start offset
// (st.LogStartOffset) and deletes the manifest entries with the given base
// offsets, which must lie wholly below it, guarded by the partition's epoch.
// The state goes first, with as many deletions as fit, then the remaining
// deletions: a failure between leaves entries below the log start, which no
// read reaches and a later call deletes. ErrFenced when epoch no longer
// holds; on a transport error the outcome is unknown, and a retry is safe.
func (s *Store) TruncateLog(ctx context.Context, key PartitionKey, epoch int64, st PartitionState, drop []int64) error {
	if epoch <= 0 {
		return ErrFenced
	}
	state, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("metadata: encode state of %s: %w", key, err)
	}
	guard := clientv3.Compare(clientv3.CreateRevision(s.keys.leader(key)), "=", epoch)
	ops := []clientv3.Op{clientv3.OpPut(s.keys.state(key), string(state))}
	for len(ops) > 0 || len(drop) > 0 {
		for len(ops) < maxTxnOps && len(drop) > 0 {
			ops = append(ops, clientv3.OpDelete(s.keys.manifestEntry(key, drop[0])))
			drop = drop[1:]
		}
		resp, err := s.client.Txn(ctx).If(guard).Then(ops...).Commit()
		if err != nil {
			return fmt.Errorf("metadata: truncate %s: %w", key, err)
		}
		if !resp.Succeeded {
			return ErrFenced
		}
		ops = ops[:0]
	}
	return nil
}

// referencedPage is how many keys ReferencedObjects reads at a time.
const referencedPage = 1000

// ReferencedObjects returns the name of every object that a manifest entry
// of any partition references, as of one etcd revision (read in pages, all
// at that revision), and the revision.
func (s *Store) ReferencedObjects(ctx context.Context) (map[string]struct{}, int64, error) {
	prefix := s.keys.prefix + "partitions/"
	end := clientv3.GetPrefixRangeEnd(prefix)
	out := map[string]struct{}{}
	key, rev := prefix, int64(0)
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(referencedPage)}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := s.client.Get(ctx, key, opts...)
		if err != nil {
			return nil, 0, fmt.Errorf("metadata: read manifests: %w", err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			if !strings.Contains(string(kv.Key), "/manifest/") {
				continue
			}
			e, err := decodeManifestKV(kv)
			if err != nil {
				return nil, 0, err
			}
			out[e.Object] = struct{}{}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return out, rev, nil
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// maxReplaced bounds the entries ReplaceEntries replaces in one transaction.
const maxReplaced = maxTxnOps - 1

// ReplaceEntries swaps consecutive manifest entries of a partition for one
// (object compaction, log compaction), in one transaction guarded by the
// partition's epoch and by every old entry still existing: readers see
// either the old entries or the new one. The new entry must end at the last
// old entry's last offset and may start later than the first one (log
// compaction drops records). ErrFenced when the epoch no longer holds,
// ErrConflict when an old entry is gone (retention removed it meanwhile).
func (s *Store) ReplaceEntries(ctx context.Context, key PartitionKey, epoch int64, old []ManifestEntry, entry ManifestEntry) error {
	switch {
	case epoch <= 0:
		return ErrFenced
	case len(old) == 0 || len(old) > maxReplaced:
		return fmt.Errorf("%w: %s: replace %d entries (1 to %d)", ErrInvalid, key, len(old), maxReplaced)
	case entry.BaseOffset < old[0].BaseOffset || entry.LastOffset != old[len(old)-1].LastOffset:
		return fmt.Errorf("%w: %s: entry [%d, %d] does not cover [%d, %d]", ErrInvalid, key,
			entry.BaseOffset, entry.LastOffset, old[0].BaseOffset, old[len(old)-1].LastOffset)
	}
	val, err := manifestValue(entry)
	if err != nil {
		return fmt.Errorf("metadata: encode manifest entry of %s: %w", key, err)
	}
	lk := s.keys.leader(key)
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(lk), "=", epoch)}
	// The new entry's key is overwritten if an old entry has it (etcd
	// refuses a put and a delete of one key in a transaction); the other
	// old keys are deleted.
	newKey := s.keys.manifestEntry(key, entry.BaseOffset)
	ops := []clientv3.Op{clientv3.OpPut(newKey, string(val))}
	for _, e := range old {
		k := s.keys.manifestEntry(key, e.BaseOffset)
		cmps = append(cmps, clientv3.Compare(clientv3.Version(k), ">", 0))
		if k != newKey {
			ops = append(ops, clientv3.OpDelete(k))
		}
	}
	resp, err := s.client.Txn(ctx).If(cmps...).Then(ops...).Else(clientv3.OpGet(lk, clientv3.WithKeysOnly())).Commit()
	if err != nil {
		return fmt.Errorf("metadata: replace manifest entries of %s: %w", key, err)
	}
	if resp.Succeeded {
		return nil
	}
	if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 0 || kvs[0].CreateRevision != epoch {
		return ErrFenced
	}
	return fmt.Errorf("%w: %s: a manifest entry to replace is gone", ErrConflict, key)
}
