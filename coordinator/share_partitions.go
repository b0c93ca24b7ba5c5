package coordinator

// KIP-932 share partitions: what each share group has done with the
// records of the partitions this broker leads (partition.ShareState), the
// share sessions of the members that fetch here, and the writer that
// stores the states in etcd.
//
// A share partition is made on the first ShareFetch (or acknowledgement)
// of its group at the partition's leader: its state is read from etcd
// (metadata.Store.ShareState), or, when there is none, starts at the high
// watermark (share.auto.offset.reset=latest, the default) or the log start
// (earliest) and is stored before any record is delivered, so that a new
// leader starts where this one did. It belongs to the leader's epoch: a
// state of an epoch that ended is dropped, and the next leader reads it
// again.
//
// Every change (an acknowledgement, a lock that expired, a session that
// closed) bumps the state's version; the writer stores the changed states,
// as many per etcd transaction as have changed (metadata.CommitShareStates,
// each guarded by its partition's epoch), and an acknowledgement is
// answered once a version that holds it is stored. Acquisitions are not
// stored: a record acquired when its leader dies is available again at the
// next leader, with the deliveries stored last. So a broker's death
// redelivers only records not acknowledged, and loses no acknowledgement
// that was answered.
//
// At share.isolation.level=read_committed a share partition acquires only
// below the partition's last stable offset, reading as a read_committed
// Fetch does, and archives the records of aborted transactions and the
// control records instead of delivering them (acquireSkipping), so that
// its start offset moves past them, as Kafka's share partitions do.
//
// An admin may change a stored state behind the leader's back
// (AlterShareGroupOffsets, DeleteShareGroupOffsets, DeleteGroups, on the
// group's coordinator, for a group without members). The leader is not
// told: admin requests are not routed to it (brokers do not call each
// other). Instead each share partition remembers the etcd mod revision of
// its key as it last read or wrote it (sharePart.rev), and
//   - every write of the leader compares it (metadata.CommitShareStates):
//     after an admin's change the write fails with ErrShareStateChanged,
//     the leader drops its copy (the acknowledgements waiting for that write
//     get INVALID_RECORD_STATE: they were made on records the admin
//     replaced, and none is answered as stored) and the next fetch reads the
//     admin's state. So the leader never overwrites an admin's change and
//     an acknowledgement is answered only once stored over the state that
//     is current;
//   - a partition that joins a share session (a member that starts or
//     restarts, as after an admin's change, which needs an empty group)
//     first has its key's revision read again (Revalidate), so a stale copy
//     that has had nothing to write is dropped before it delivers anything.
// Routing the change to the leader instead would need a broker-to-broker
// call and would still race with a leadership change; the revision is the
// fencing etcd already gives.
//
// Locks: Shares.mu guards groups, configs, parts, sessions and every
// share state; it is a leaf. No partition lock is taken under it (Led and
// Bounds are read before), and no etcd call is made under it.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/internal/batch"
	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/partition"
)

const (
	shareTick         = 100 * time.Millisecond // lock expiry and member sessions
	shareConfigTTL    = time.Second            // how long a group's configs are cached
	shareWriteTimeout = 5 * time.Second
	shareLoadTimeout  = 5 * time.Second
	defaultMaxRecords = 500
)

// Share group configs (Describe/IncrementalAlterConfigs, resource GROUP),
// with Kafka's defaults.
const (
	ConfigShareLockDuration    = "share.record.lock.duration.ms"
	ConfigShareDeliveryLimit   = "share.delivery.count.limit"
	ConfigShareAutoOffsetReset = "share.auto.offset.reset"
	ConfigShareSessionTimeout  = "share.session.timeout.ms"
	ConfigShareHeartbeat       = "share.heartbeat.interval.ms"
	ConfigShareIsolationLevel  = "share.isolation.level"
)

// Values of share.isolation.level.
const (
	ShareReadUncommitted = "read_uncommitted"
	ShareReadCommitted   = "read_committed"
)

// ShareConfigDefaults are the share group configs and their defaults.
var ShareConfigDefaults = map[string]string{
	ConfigShareLockDuration:    "30000",
	ConfigShareDeliveryLimit:   "5",
	ConfigShareAutoOffsetReset: "latest",
	ConfigShareSessionTimeout:  "45000",
	ConfigShareHeartbeat:       "5000",
	ConfigShareIsolationLevel:  ShareReadUncommitted,
}

// ValidateShareConfig checks one share group config's value.
func ValidateShareConfig(name, value string) error {
	bound := func(lo, hi int64) error {
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("%s must be an integer in [%d, %d]", name, lo, hi)
		}
		return nil
	}
	switch name {
	case ConfigShareLockDuration:
		return bound(1000, 3_600_000)
	case ConfigShareDeliveryLimit:
		return bound(2, 10)
	case ConfigShareSessionTimeout:
		return bound(1000, 3_600_000)
	case ConfigShareHeartbeat:
		return bound(100, 3_600_000)
	case ConfigShareAutoOffsetReset:
		if value != "latest" && value != "earliest" {
			return fmt.Errorf("%s must be latest or earliest", name)
		}
		return nil
	case ConfigShareIsolationLevel:
		if value != ShareReadUncommitted && value != ShareReadCommitted {
			return fmt.Errorf("%s must be %s or %s", name, ShareReadUncommitted, ShareReadCommitted)
		}
		return nil
	}
	return fmt.Errorf("unknown group config %q", name)
}

type shareConfig struct {
	lock, session, heartbeat time.Duration
	maxDelivery              int16
	earliest                 bool
	committed                bool      // share.isolation.level=read_committed
	read                     time.Time // zero: defaults, never read
}

func parseShareConfig(set map[string]string) shareConfig {
	get := func(name string) int64 {
		if v, ok := set[name]; ok && ValidateShareConfig(name, v) == nil {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
		n, _ := strconv.ParseInt(ShareConfigDefaults[name], 10, 64)
		return n
	}
	return shareConfig{
		lock:        time.Duration(get(ConfigShareLockDuration)) * time.Millisecond,
		session:     time.Duration(get(ConfigShareSessionTimeout)) * time.Millisecond,
		heartbeat:   time.Duration(get(ConfigShareHeartbeat)) * time.Millisecond,
		maxDelivery: int16(get(ConfigShareDeliveryLimit)),
		earliest:    set[ConfigShareAutoOffsetReset] == "earliest",
		committed:   set[ConfigShareIsolationLevel] == ShareReadCommitted,
	}
}

type sharePartKey struct {
	group string
	key   metadata.PartitionKey
}

type sharePart struct {
	k     sharePartKey
	p     *partition.Partition
	epoch int64
	ready chan struct{} // closed when loaded; then st is set or err
	err   error
	st    *partition.ShareState

	version, stored, writing int64 // writing: the version being stored (0: none)
	waiters                  []shareWaiter
	// rev is the mod revision of the state's key in etcd as this leader
	// last read or wrote it; writes counts the writes that returned.
	rev, writes int64
}

type shareWaiter struct {
	version int64
	done    chan error
}

type shareSessionKey struct{ group, member string }

// ShareTP names a partition in a share session.
type ShareTP struct {
	Topic     [16]byte
	Partition int32
}

// ShareSession is one member's share session with this broker.
type ShareSession struct {
	epoch int32
	// Parts are the session's partitions; true: the partition must be in
	// the next response even without records (new, or its last answer
	// was an error).
	Parts map[ShareTP]bool
	// added are the partitions the last OpenSession added (Added).
	added []ShareTP
}

// Shares is this broker's share-group state: the share groups it
// coordinates (share_groups.go), the share partitions it leads and the
// share sessions of members fetching here.
type Shares struct {
	c *Coordinator

	mu       sync.Mutex
	groups   map[string]*shareGroup
	configs  map[string]shareConfig
	parts    map[sharePartKey]*sharePart
	sessions map[shareSessionKey]*ShareSession
	released chan struct{} // closed when records become available again
	kick     chan struct{} // capacity 1: states to store
}

func newShares(c *Coordinator) *Shares {
	return &Shares{
		c: c, groups: map[string]*shareGroup{}, configs: map[string]shareConfig{},
		parts: map[sharePartKey]*sharePart{}, sessions: map[shareSessionKey]*ShareSession{},
		released: make(chan struct{}), kick: make(chan struct{}, 1),
	}
}

// Shares returns the broker's share-group state.
func (c *Coordinator) Shares() *Shares { return c.share }

// config returns a group's configs, cached for shareConfigTTL. It reads
// etcd on a miss (no lock held); on an error it keeps what it had.
func (sh *Shares) config(group string) shareConfig {
	sh.mu.Lock()
	cfg, ok := sh.configs[group]
	sh.mu.Unlock()
	if ok && time.Since(cfg.read) < shareConfigTTL {
		return cfg
	}
	ctx, cancel := context.WithTimeout(sh.c.ctx, shareLoadTimeout)
	set, err := sh.c.store.ShareGroupConfig(ctx, group)
	cancel()
	if err != nil {
		if ok {
			return cfg
		}
		return parseShareConfig(nil)
	}
	cfg = parseShareConfig(set)
	cfg.read = time.Now()
	sh.mu.Lock()
	sh.configs[group] = cfg
	sh.mu.Unlock()
	return cfg
}

// InvalidateConfig drops a group's cached configs (they were altered here).
func (sh *Shares) InvalidateConfig(group string) {
	sh.mu.Lock()
	delete(sh.configs, group)
	sh.mu.Unlock()
}

// LockDuration is a group's share.record.lock.duration.ms.
func (sh *Shares) LockDuration(group string) time.Duration { return sh.config(group).lock }

// Released returns a channel closed when records next become available
// again (a release, an expired lock): it wakes long-polling share fetches.
func (sh *Shares) Released() <-chan struct{} {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.released
}

// signalReleased wakes the waiting fetches. sh.mu is held.
func (sh *Shares) signalReleased() {
	close(sh.released)
	sh.released = make(chan struct{})
}

// OpenSession validates a share session's epoch for a ShareFetch (fetch
// set) or a ShareAcknowledge, opens (epoch 0), updates or closes (epoch -1,
// then the returned session is the closed one) it, and bumps its epoch.
// When epoch 0 replaces a session the member had, that one is returned as
// old: the caller releases what the member holds of its partitions (the
// client that opens a new session gave up the old one, as when its
// connection closed). Errors: SHARE_SESSION_NOT_FOUND,
// INVALID_SHARE_SESSION_EPOCH.
func (sh *Shares) OpenSession(group, member string, epoch int32, fetch bool, add, forget []ShareTP) (s, old *ShareSession, err error) {
	k := shareSessionKey{group, member}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s = sh.sessions[k]
	switch {
	case epoch == 0:
		if !fetch {
			return nil, nil, kerr.InvalidShareSessionEpoch
		}
		old = s
		s = &ShareSession{Parts: map[ShareTP]bool{}}
		sh.sessions[k] = s
	case s == nil:
		return nil, nil, kerr.ShareSessionNotFound
	case epoch == -1:
		delete(sh.sessions, k)
		return s, nil, nil
	case epoch != s.epoch:
		return nil, nil, kerr.InvalidShareSessionEpoch
	}
	s.added = s.added[:0]
	for _, tp := range add {
		if _, ok := s.Parts[tp]; !ok {
			s.Parts[tp] = true
			s.added = append(s.added, tp)
		}
	}
	for _, tp := range forget {
		delete(s.Parts, tp)
	}
	s.epoch++
	if s.epoch < 1 {
		s.epoch = 1
	}
	return s, old, nil
}

// Added returns the partitions that the last OpenSession of s added to it
// (the caller revalidates them: Revalidate).
func (sh *Shares) Added(s *ShareSession) []ShareTP {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return append([]ShareTP(nil), s.added...)
}

// SessionParts returns a copy of a session's partitions.
func (sh *Shares) SessionParts(s *ShareSession) map[ShareTP]bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	out := make(map[ShareTP]bool, len(s.Parts))
	for tp, v := range s.Parts {
		out[tp] = v
	}
	return out
}

// Answered records whether a session's partition was answered with an
// error (it must then be in the next response).
func (sh *Shares) Answered(s *ShareSession, tp ShareTP, failed bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if _, ok := s.Parts[tp]; ok {
		s.Parts[tp] = failed
	}
}

// part returns the loaded share partition of group on p, which this broker
// must lead: NOT_LEADER_OR_FOLLOWER otherwise.
func (sh *Shares) part(ctx context.Context, group string, p *partition.Partition) (*sharePart, error) {
	{
		epoch, led := p.Led()
		if !led {
			return nil, kerr.NotLeaderForPartition
		}
		k := sharePartKey{group, p.Key()}
		sh.mu.Lock()
		sp := sh.parts[k]
		if sp == nil || sp.epoch != epoch {
			if sp != nil {
				sh.dropLocked(sp, kerr.NotLeaderForPartition)
			}
			sp = &sharePart{k: k, p: p, epoch: epoch, ready: make(chan struct{})}
			sh.parts[k] = sp
			sh.mu.Unlock()
			go sh.load(sp)
		} else {
			sh.mu.Unlock()
		}
		select {
		case <-sp.ready:
		case <-ctx.Done():
			return nil, kerr.RequestTimedOut
		}
		if sp.err == nil {
			return sp, nil
		}
		sh.mu.Lock()
		if sh.parts[k] == sp {
			delete(sh.parts, k)
		}
		sh.mu.Unlock()
		if errors.Is(sp.err, metadata.ErrFenced) {
			return nil, kerr.NotLeaderForPartition
		}
		return nil, kerr.KafkaStorageError
	}
}

// load reads a share partition's state, or makes and stores its first one
// (only if the key is still absent: an admin may have made it meanwhile,
// and then it is read again).
func (sh *Shares) load(sp *sharePart) {
	defer close(sp.ready)
	ctx, cancel := context.WithTimeout(sh.c.ctx, shareLoadTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		st, rev, err := sh.read(ctx, sp)
		if errors.Is(err, metadata.ErrShareStateChanged) && attempt < 3 {
			continue
		}
		if err != nil {
			sp.err = err
			return
		}
		sh.mu.Lock()
		sp.st, sp.rev = st, rev
		sh.mu.Unlock()
		return
	}
}

// read reads a share partition's stored state and its key's revision, or
// makes its first state and stores it.
func (sh *Shares) read(ctx context.Context, sp *sharePart) (*partition.ShareState, int64, error) {
	raw, rev, err := sh.c.store.ShareState(ctx, sp.k.key, sp.k.group)
	if err != nil {
		return nil, 0, err
	}
	logStart, hwm := sp.p.Offsets()
	var st *partition.ShareState
	if raw != nil {
		var snap partition.ShareSnapshot
		if err := json.Unmarshal(raw, &snap); err != nil {
			return nil, 0, fmt.Errorf("decode share state of %q: %w", sp.k.group, err)
		}
		st = partition.RestoreShareState(snap)
	} else {
		start := hwm
		if sh.config(sp.k.group).earliest {
			start = logStart
		}
		st = partition.NewShareState(start)
		val, _ := json.Marshal(st.Snapshot())
		res := sh.c.store.CommitShareStates(ctx, []metadata.ShareStateWrite{{Partition: sp.k.key, Epoch: sp.epoch, Group: sp.k.group, Value: val}})
		if res[0].Err != nil {
			return nil, 0, res[0].Err
		}
		rev = res[0].Revision
	}
	st.SkipTo(logStart)
	return st, rev, nil
}

// Revalidate reads again the revision of group's stored state of p, if
// this broker leads p, and drops its copy when the key moved without it (an
// admin changed it): the next fetch reads the admin's state. Errors keep
// the copy (its writes stay guarded). A write of this broker that overlaps
// the read makes it read again; after a few tries the copy is kept: it is
// being written, and a stale copy's write fails its revision and drops it.
// (Dropping it would release the records other members hold, a member
// joining a busy group being exactly when writes overlap.)
func (sh *Shares) Revalidate(ctx context.Context, group string, p *partition.Partition) {
	sp, err := sh.part(ctx, group, p)
	if err != nil {
		return
	}
	for range 3 {
		sh.mu.Lock()
		if sh.parts[sp.k] != sp {
			sh.mu.Unlock()
			return
		}
		writes, busy := sp.writes, sp.writing != 0
		sh.mu.Unlock()
		_, rev, err := sh.c.store.ShareState(ctx, sp.k.key, group)
		if err != nil {
			return
		}
		sh.mu.Lock()
		stale, sure := staleShareCopy(rev, sp.rev, !busy && sp.writing == 0 && sp.writes == writes)
		if sh.parts[sp.k] != sp || !sure {
			sh.mu.Unlock()
			continue
		}
		if stale {
			sh.c.log.Info("share state changed in etcd (an admin's change): reading it again", "group", group, "partition", sp.k.key.Partition)
			sh.dropLocked(sp, kerr.InvalidRecordState)
		}
		sh.mu.Unlock()
		return
	}
}

// staleShareCopy decides from a key's revision read from etcd (read) and
// the one a copy holds (held) whether the copy is stale. quiet says that no
// write of the copy was in flight or returned during the read; only then
// does a difference prove another writer (sure). The same revision is
// always fresh: the copy's next write compares it.
func staleShareCopy(read, held int64, quiet bool) (stale, sure bool) {
	switch {
	case read == held:
		return false, true
	case quiet:
		return true, true
	}
	return false, false
}

// dropLocked forgets a share partition and fails its waiters. sh.mu is
// held.
func (sh *Shares) dropLocked(sp *sharePart, err error) {
	if sh.parts[sp.k] == sp {
		delete(sh.parts, sp.k)
	}
	for _, w := range sp.waiters {
		w.done <- err
	}
	sp.waiters = nil
}

// changed bumps a share partition's version and returns a waiter of it.
// sh.mu is held.
func (sh *Shares) changed(sp *sharePart, wait bool) chan error {
	sp.version++
	var done chan error
	if wait {
		done = make(chan error, 1)
		sp.waiters = append(sp.waiters, shareWaiter{sp.version, done})
	}
	select {
	case sh.kick <- struct{}{}:
	default:
	}
	return done
}

// ShareAcquired is what one ShareFetch took of one partition.
type ShareAcquired struct {
	Runs    []partition.ShareRun
	Records []byte // whole batches holding the runs
}

// ShareRead reads whole batches of a partition from offset on (the first
// may begin before it). With committed (share.isolation.level
// read_committed) it reads below the last stable offset only, and returns
// the aborted transactions that overlap the batches (as a read_committed
// Fetch does: partition.ReadCommitted).
type ShareRead func(offset int64, committed bool) (batches [][]byte, aborted []metadata.AbortedTxn, err error)

// Acquire takes up to max available records of p for member and returns
// them with their batches, read by read. Nothing available is not an
// error.
//
// At read_uncommitted the records go up to the high watermark. At
// read_committed (as Kafka's share partitions do with its
// FETCH_TXN_COMMITTED isolation) they go up to the last stable offset
// only, and the records of aborted transactions and the control records
// are never delivered: they are archived when acquisition reaches them,
// so the start offset moves past them (acquireSkipping).
func (sh *Shares) Acquire(ctx context.Context, group, member string, p *partition.Partition, max int, read ShareRead) (ShareAcquired, error) {
	if max <= 0 {
		max = defaultMaxRecords
	}
	cfg := sh.config(group)
	sp, err := sh.part(ctx, group, p)
	if err != nil {
		return ShareAcquired{}, err
	}
	// Each round that archives records and acquires none looks again past
	// them; it ends, since archived records are never available again and
	// the window is bounded.
	for ctx.Err() == nil {
		logStart, lso, hwm := p.Bounds()
		limit := hwm
		if cfg.committed {
			limit = lso
		}
		sh.mu.Lock()
		if sh.parts[sp.k] != sp {
			sh.mu.Unlock()
			return ShareAcquired{}, kerr.NotLeaderForPartition
		}
		sp.st.SkipTo(logStart)
		from, ok := sp.st.NextAvailable(limit)
		sh.mu.Unlock()
		if !ok {
			return ShareAcquired{}, nil
		}
		batches, aborted, err := read(from, cfg.committed)
		if err != nil {
			return ShareAcquired{}, err
		}
		covered := from // one past the last offset the batches hold
		for _, raw := range batches {
			if h, err := batch.Parse(raw); err == nil {
				covered = max64(covered, h.LastOffset()+1)
			}
		}
		covered = min(covered, limit)
		if covered <= from {
			return ShareAcquired{}, nil
		}
		var skip []shareSkip
		if cfg.committed {
			skip = committedSkips(batches, aborted)
		}
		sh.mu.Lock()
		if sh.parts[sp.k] != sp {
			sh.mu.Unlock()
			return ShareAcquired{}, kerr.NotLeaderForPartition
		}
		runs, archived := acquireSkipping(sp.st, member, from, covered, max, skip, time.Now(), cfg.lock, cfg.maxDelivery)
		if archived > 0 {
			sh.changed(sp, false) // the start offset may have moved: store it
		}
		sh.mu.Unlock()
		if len(runs) == 0 {
			if archived > 0 {
				continue
			}
			return ShareAcquired{}, nil
		}
		return ShareAcquired{Runs: runs, Records: shareBatches(batches, runs)}, nil
	}
	return ShareAcquired{}, nil
}

// shareBatches returns the batches that hold an offset of runs (sorted),
// concatenated; the others (an aborted transaction's, a control batch
// between runs) are left out.
func shareBatches(batches [][]byte, runs []partition.ShareRun) []byte {
	var out []byte
	for _, raw := range batches {
		h, err := batch.Parse(raw)
		if err != nil {
			continue
		}
		for _, r := range runs {
			if r.First <= h.LastOffset() && h.BaseOffset <= r.Last {
				out = append(out, raw...)
				break
			}
		}
	}
	return out
}

// shareSkip is a run of offsets, first to last, that a read_committed share
// partition never delivers.
type shareSkip struct{ first, last int64 }

// committedSkips returns the runs of batches (sorted by offset) that a
// read_committed share partition never delivers: control batches (the
// markers) and the batches of aborted transactions, by Kafka's rule: a
// transactional batch of a producer whose aborted transaction began at or
// before it and whose ABORT marker comes after it (aborted: the aborted
// transactions overlapping the batches, partition.ReadCommitted).
func committedSkips(batches [][]byte, aborted []metadata.AbortedTxn) []shareSkip {
	var out []shareSkip
	for _, raw := range batches {
		h, err := batch.Parse(raw)
		if err != nil {
			continue
		}
		skip := h.Control()
		if !skip && h.Transactional() {
			for _, at := range aborted {
				if at.ProducerID == h.ProducerID && at.FirstOffset <= h.BaseOffset && h.LastOffset() < at.LastOffset {
					skip = true
					break
				}
			}
		}
		if !skip {
			continue
		}
		if k := len(out) - 1; k >= 0 && out[k].last+1 >= h.BaseOffset {
			out[k].last = max64(out[k].last, h.LastOffset())
			continue
		}
		out = append(out, shareSkip{h.BaseOffset, h.LastOffset()})
	}
	return out
}

// acquireSkipping acquires for member, as ShareState.Acquire does, up to
// max available offsets in [from, limit), except those in skip (sorted,
// not overlapping): those that are available are archived instead, never
// delivered (their start offset can then move past them). It returns the
// runs acquired and how many offsets it archived. Acquisition stops at max,
// and so does the archiving (what lies beyond is for the next fetch).
func acquireSkipping(st *partition.ShareState, member string, from, limit int64, max int, skip []shareSkip, now time.Time, lock time.Duration, maxDelivery int16) (runs []partition.ShareRun, archived int) {
	n := 0
	for o := from; o < limit && n < max; {
		for len(skip) > 0 && skip[0].last < o {
			skip = skip[1:]
		}
		if len(skip) > 0 && skip[0].first <= o {
			end := min(skip[0].last+1, limit)
			archived += st.Archive(o, end)
			o = end
			continue
		}
		end := limit
		if len(skip) > 0 {
			end = min(end, skip[0].first)
		}
		got := st.Acquire(member, o, end, max-n, now, lock, maxDelivery)
		for _, r := range got {
			n += int(r.Last - r.First + 1)
		}
		runs = append(runs, got...)
		o = end
	}
	return runs, archived
}

// Acknowledge applies member's acknowledgements of p and waits until they
// are stored. Errors: INVALID_REQUEST, INVALID_RECORD_STATE,
// NOT_LEADER_OR_FOLLOWER, KAFKA_STORAGE_ERROR, REQUEST_TIMED_OUT.
func (sh *Shares) Acknowledge(ctx context.Context, group, member string, p *partition.Partition, batches []partition.ShareAckBatch, maxType int8) error {
	return sh.ApplyAcks(ctx, group, member, p, batches, maxType)(ctx)
}

// ApplyAcks applies member's acknowledgements of p and returns the wait
// for their storage (Acknowledge's errors), so that a ShareFetch acquires
// records meanwhile.
func (sh *Shares) ApplyAcks(ctx context.Context, group, member string, p *partition.Partition, batches []partition.ShareAckBatch, maxType int8) func(context.Context) error {
	fail := func(err error) func(context.Context) error { return func(context.Context) error { return err } }
	if err := partition.ValidateShareAcks(batches, maxType); err != nil {
		return fail(kerr.InvalidRequest)
	}
	cfg := sh.config(group)
	sp, err := sh.part(ctx, group, p)
	if err != nil {
		return fail(err)
	}
	sh.mu.Lock()
	if sh.parts[sp.k] != sp {
		sh.mu.Unlock()
		return fail(kerr.NotLeaderForPartition)
	}
	released, err := sp.st.Acknowledge(member, batches, time.Now(), cfg.lock, cfg.maxDelivery)
	if err != nil {
		sh.mu.Unlock()
		if errors.Is(err, partition.ErrShareRecordState) {
			return fail(kerr.InvalidRecordState)
		}
		return fail(kerr.InvalidRequest)
	}
	if released {
		sh.signalReleased()
	}
	done := sh.changed(sp, true)
	sh.mu.Unlock()
	return func(ctx context.Context) error {
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			return kerr.RequestTimedOut
		}
	}
}

// EndSession ends member's share session s, if it is still the member's
// session here, and releases what the member holds of its partitions: the
// connection that opened it closed (KIP-932: a share session ends with its
// connection). A session replaced or closed meanwhile was released then.
func (sh *Shares) EndSession(group, member string, s *ShareSession, resolve func(ShareTP) *partition.Partition) {
	k := shareSessionKey{group, member}
	sh.mu.Lock()
	if sh.sessions[k] != s {
		sh.mu.Unlock()
		return
	}
	delete(sh.sessions, k)
	sh.mu.Unlock()
	sh.ReleaseSession(group, member, s, resolve)
}

// EndMember ends member's share session on this broker, if it has one,
// and releases what the member holds of its partitions: the member is not
// in the group (it never joined, left, or was fenced), and Kafka ends the
// share sessions of a member that leaves its group.
func (sh *Shares) EndMember(group, member string, resolve func(ShareTP) *partition.Partition) {
	k := shareSessionKey{group, member}
	sh.mu.Lock()
	s := sh.sessions[k]
	delete(sh.sessions, k)
	sh.mu.Unlock()
	if s != nil {
		sh.ReleaseSession(group, member, s, resolve)
	}
}

// ReleaseSession releases what member holds of the session's partitions
// (its session closed), resolving them with resolve.
func (sh *Shares) ReleaseSession(group, member string, s *ShareSession, resolve func(ShareTP) *partition.Partition) {
	for tp := range sh.SessionParts(s) {
		p := resolve(tp)
		if p == nil {
			continue
		}
		cfg := sh.config(group)
		sh.mu.Lock()
		if sp := sh.parts[sharePartKey{group, p.Key()}]; sp != nil && sp.st != nil {
			if sp.st.ReleaseMember(member, cfg.maxDelivery) {
				sh.signalReleased()
			}
			sh.changed(sp, false)
		}
		sh.mu.Unlock()
	}
}

// run expires locks and member sessions every shareTick and stores the
// changed share states, until ctx ends.
func (sh *Shares) run(ctx context.Context) {
	tick := time.NewTicker(shareTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			sh.mu.Lock()
			for _, sp := range sh.parts {
				sh.dropLocked(sp, kerr.NotLeaderForPartition)
			}
			sh.mu.Unlock()
			return
		case <-tick.C:
			sh.expire()
		case <-sh.kick:
		}
		sh.store(ctx)
	}
}

// expire releases the records whose lock expired, removes the members
// whose session ended and drops the share partitions no longer led here.
func (sh *Shares) expire() {
	sh.mu.Lock()
	parts := make([]*sharePart, 0, len(sh.parts))
	for _, sp := range sh.parts {
		parts = append(parts, sp)
	}
	sh.mu.Unlock()
	now := time.Now()
	for _, sp := range parts {
		cfg := sh.config(sp.k.group)
		epoch, led := sp.p.Led()
		sh.mu.Lock()
		switch {
		case sh.parts[sp.k] != sp || sp.st == nil:
		case !led || epoch != sp.epoch:
			sh.dropLocked(sp, kerr.NotLeaderForPartition)
		default:
			if changed, _ := sp.st.Expire(now, cfg.maxDelivery); changed {
				sh.signalReleased()
				sh.changed(sp, false)
			}
		}
		sh.mu.Unlock()
	}
	sh.mu.Lock()
	sh.c.expireShareMembers(now)
	sh.mu.Unlock()
}

// store writes every changed share state in as few etcd transactions as
// fit and answers the acknowledgements waiting for them.
func (sh *Shares) store(ctx context.Context) {
	sh.mu.Lock()
	var parts []*sharePart
	var writes []metadata.ShareStateWrite
	for _, sp := range sh.parts {
		if sp.st == nil || sp.writing != 0 || sp.version == sp.stored {
			continue
		}
		val, err := json.Marshal(sp.st.Snapshot())
		if err != nil {
			continue
		}
		sp.writing = sp.version
		parts = append(parts, sp)
		writes = append(writes, metadata.ShareStateWrite{Partition: sp.k.key, Epoch: sp.epoch, Group: sp.k.group, Value: val, Revision: sp.rev})
	}
	sh.mu.Unlock()
	if len(writes) == 0 {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, shareWriteTimeout)
	res := sh.c.store.CommitShareStates(wctx, writes)
	cancel()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	again := false
	for i, sp := range parts {
		v := sp.writing
		sp.writing = 0
		sp.writes++
		switch err := res[i].Err; {
		case err == nil:
			sp.stored, sp.rev = v, res[i].Revision
			keep := sp.waiters[:0]
			for _, w := range sp.waiters {
				if w.version <= v {
					w.done <- nil
				} else {
					keep = append(keep, w)
				}
			}
			sp.waiters = keep
			again = again || sp.version != sp.stored
		case errors.Is(err, metadata.ErrFenced):
			sh.c.log.Warn("share partition fenced: another broker leads it now", "group", sp.k.group, "partition", sp.k.key.Partition)
			sh.dropLocked(sp, kerr.NotLeaderForPartition)
		case errors.Is(err, metadata.ErrShareStateChanged):
			// An admin replaced or deleted the state: this copy is stale,
			// and so are the acknowledgements made on it.
			sh.c.log.Info("share state changed in etcd (an admin's change): reading it again", "group", sp.k.group, "partition", sp.k.key.Partition)
			sh.dropLocked(sp, kerr.InvalidRecordState)
		default:
			sh.c.log.Warn("store share state", "group", sp.k.group, "partition", sp.k.key.Partition, "error", err)
			keep := sp.waiters[:0]
			for _, w := range sp.waiters {
				if w.version <= v {
					w.done <- kerr.KafkaStorageError
				} else {
					keep = append(keep, w)
				}
			}
			sp.waiters = keep
		}
	}
	if again {
		select {
		case sh.kick <- struct{}{}:
		default:
		}
	}
}

// ShareStart returns the start offset of group's share partition on p if
// this broker has it in memory (fresher than etcd only by unstored
// changes, which are never answered).
func (sh *Shares) ShareStart(group string, p *partition.Partition) (int64, bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sp := sh.parts[sharePartKey{group, p.Key()}]; sp != nil && sp.st != nil {
		return sp.st.Start(), true
	}
	return 0, false
}

// ForgetGroup forgets a deleted share group (DeleteGroups): its
// membership on this coordinator if it has no members, and the copies of
// its share partitions this broker leads (the stored states are deleted:
// those copies would only fail their next write).
func (sh *Shares) ForgetGroup(group string) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if g := sh.groups[group]; g != nil && len(g.members) == 0 {
		delete(sh.groups, group)
	}
	for k, sp := range sh.parts {
		if k.group == group {
			sh.dropLocked(sp, kerr.InvalidRecordState)
		}
	}
	delete(sh.configs, group)
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}
