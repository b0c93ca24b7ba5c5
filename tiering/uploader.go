package tiering

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/internal/batch"
	"github.com/strata-io/strata/internal/metric"
	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/objectstore"
	"github.com/strata-io/strata/wal"
)

// Fate is what the uploader does with a partition's WAL records.
type Fate int

const (
	// FateCommit: this broker leads the partition. Its batches stamped with
	// the leadership's Kafka leader epoch are committed under its fencing
	// epoch; batches of older leader epochs (a tenure that ended and was not
	// resumed) are set aside unless that tenure committed them.
	FateCommit Fate = iota
	// FateWait: a leadership of this broker ended without a hand-off (its
	// lease ended, or a commit was fenced) and whether it resumes is not
	// decided yet: the uploader waits and asks again.
	FateWait
	// FateSetAside: this broker does not lead the partition: its batches
	// that were not committed are quarantined.
	FateSetAside
	// FateDrop: the partition no longer exists (its topic was deleted).
	FateDrop
)

// Tenure identifies a leadership: its fencing epoch (the leader key's etcd
// creation revision) and its Kafka leader epoch, which a resumed leadership
// keeps (see metadata.Store.ResumeLeadership).
type Tenure struct {
	Epoch       int64
	LeaderEpoch int32
}

// Leaders tells the uploader what becomes of each partition's WAL records.
// It is called from the uploader's goroutine while the broker changes
// leadership, so implementations must be safe for concurrent use, and must
// not wait on the uploader.
type Leaders interface {
	// Fate returns what becomes of key's WAL records now, and for
	// FateCommit the leadership they are committed under.
	Fate(key metadata.PartitionKey) (Fate, Tenure)
	// Fenced reports that a commit under epoch was refused (the
	// partition's leader key is no longer that epoch's): that leadership
	// has ended, and Fate answers FateWait until the broker has decided
	// whether it resumes (metadata.Store.ResumeLeadership).
	Fenced(key metadata.PartitionKey, epoch int64)
	// TopicName names a topic for the quarantine's notes ("" if unknown).
	TopicName(id metadata.TopicID) string
}

// Result is one partition's outcome of uploading one WAL segment.
type Result struct {
	Key   metadata.PartitionKey
	Epoch int64 // the leadership the commit was made under
	Entry metadata.ManifestEntry
	State metadata.PartitionState // the state committed (HighWatermark = Entry.LastOffset+1)
	Err   error                   // nil, ErrSetAside, or the store's refusal
}

// UploaderOptions configures an Uploader.
type UploaderOptions struct {
	Bucket   objectstore.Bucket
	Store    *metadata.Store
	WAL      *wal.WAL
	Leaders  Leaders
	BrokerID int32
	// QuarantineDir receives the WAL records that may not be committed
	// (see quarantine.go). Required.
	QuarantineDir string
	Logger        *slog.Logger          // nil = discard
	Registerer    prometheus.Registerer // nil = no metrics
	// OnCommit is called once per WAL segment after its commit, in segment
	// order, one call at a time. It runs on the goroutine of that segment's
	// commit: the next segment's commit waits for it (the next segment's
	// PUT may be under way).
	OnCommit func(seq uint64, results []Result)
	// MaxPutRate is the PUT budget, in segment PUTs per second, that seals
	// on demand may spend: while the uploader is free and Demand says that
	// something waits for the next commit, Run asks the WAL to seal its
	// open segment at once (wal.WAL.SealEarly) if the budget allows,
	// rather than leave it until it is full or SealInterval old. 0 (or
	// a nil Demand): no early seals, segments are sealed by the WAL alone.
	MaxPutRate float64
	// Demand says whether anything waits for the next commit (see MaxPutRate).
	Demand Demand
}

// EnsureDefaults sets the fields whose zero value means "the default"
// (Logger) and returns o. Bucket, Store, WAL, Leaders and QuarantineDir
// have none: NewUploader requires them.
func (o *UploaderOptions) EnsureDefaults() *UploaderOptions {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// maxProducerBatches is how many of a producer's last batches a partition
// state keeps for deduplication (Kafka's max.in.flight.requests for idempotence).
const maxProducerBatches = 5

// Uploader turns sealed WAL segments into objects and manifest commits.
//
// Between two segments' PUTs, with a PUT budget (UploaderOptions.MaxPutRate)
// and something waiting for the next commit (Demand), it asks the WAL to seal
// its open segment at once (uploader_budget.go), so that a waiting produce
// or fetch is answered after one PUT and one commit rather than after the
// WAL's SealInterval.
//
// Each segment is read, its partitions' fates asked of Leaders (waiting while
// one is undecided), the batches of the partitions this broker leads that are
// not yet committed kept, one object PUT under a fresh name (retried until it
// succeeds or ctx ends), each partition's manifest entry and state committed
// guarded by its leader epoch (transport errors retried), what may not be
// committed written to the quarantine, OnCommit called, and the segment
// Removed from the WAL. A segment is therefore removed only when every batch
// in it is committed, was committed before, or is in the quarantine; while
// the bucket or etcd is down the WAL grows and its MaxBytes slows producers.
//
// Uploads are pipelined, one segment deep: Run prepares and PUTs segment N+1
// while segment N's commit is in etcd (on a goroutine of its own), so a
// broker makes up to one PUT per PUT time rather than one per PUT plus
// commit. At most one PUT and one commit are in flight; commits, OnCommit
// and Removes stay in segment order, and N+1's commit starts only after N's
// has ended. N+1 is prepared on the states N's commits will leave, so it is
// committed as prepared only if all of them landed at the first attempt and
// nothing changed meanwhile (no partition of N+1 re-seeded or forgotten, the
// same answers from Leaders); otherwise it is prepared again from the
// committed state and PUT again under a new name (a redo), so a partition's
// commit never lands after an earlier one of it failed, and the object of
// the first attempt, never referenced, is garbage collected. Anything but
// the plain case while N is in flight (a batch to skip or set aside, a
// partition not led) waits for N's commit and is prepared then. An undecided
// partition holds back the whole uploader, since segments are handled in
// order.
//
// After a restart, recovered segments may hold batches committed before the
// crash (their last offset is below the partition's committed high watermark:
// skipped) followed by batches that never were (uploaded). The same rule
// skips a batch that appears twice; a batch that straddles the high
// watermark is set aside. The broker should therefore take a recovered
// partition's log end from the OnCommit results of the recovered segments
// before it assigns new offsets.
//
// A batch carries the Kafka leader epoch it was appended under, and only
// batches of the current leadership's leader epoch are committed: a broker
// that lost a partition and leads it again sets the old tenure's uncommitted
// records aside rather than taking their offsets for the new tenure's. A
// commit that is fenced (the leadership ended, as when the lease ends) is
// made again under the leadership that resumed it, or set aside if none did.
type Uploader struct {
	opts UploaderOptions
	log  *slog.Logger
	m    *uploaderMetrics

	// Retry backoff bounds for PUTs, commits and state loads (tests shorten them).
	minBackoff, maxBackoff time.Duration

	jobs chan job // run by Run between two segments

	// budget limits early seals (MaxPutRate); nil: none. Run's only.
	budget     *putBudget
	now        func() time.Time // the budget's clock (tests set their own before Run)
	asked      uint64           // the last WAL segment sealed early (its seal spent the budget)
	paid       uint64           // the last segment sealed early whose first PUT was made
	earlySeals prometheus.Counter

	// pipelined: a segment's PUT may run while the previous segment's
	// commit is in flight (tests turn it off to show what it changes).
	pipelined bool
	// sealDuringPut: an early seal may be asked for while a PUT is in
	// flight (tests turn it off to show what it changes).
	sealDuringPut bool
	redos         prometheus.Counter
	// commitSegments is Store.CommitSegments (tests wrap it); waitingFor,
	// if set, is called on Run's goroutine when it begins to wait for the
	// commit of prev, the next segment prepared and PUT if it could be
	// (tests).
	commitSegments func(ctx context.Context, commits []metadata.Commit) []error
	waitingFor     func(prev *prepared)

	mu    sync.Mutex
	parts map[metadata.PartitionKey]*partState
	gen   uint64 // last generation handed out
}

// partState is the last committed state of a partition this broker leads.
// gen changes whenever SetState replaces it, so a commit that raced with
// SetState does not overwrite the broker's newer view.
type partState struct {
	st  metadata.PartitionState
	gen uint64
}

// NewUploader returns an uploader; call Run. Bucket, Store, WAL and Leaders
// are required.
func NewUploader(opts UploaderOptions) *Uploader {
	if opts.Bucket == nil || opts.Store == nil || opts.WAL == nil || opts.Leaders == nil || opts.QuarantineDir == "" {
		panic("tiering: NewUploader needs Bucket, Store, WAL, Leaders and QuarantineDir")
	}
	opts.EnsureDefaults()
	u := &Uploader{
		opts:       opts,
		log:        opts.Logger,
		m:          newUploaderMetrics(opts.Registerer),
		minBackoff: 50 * time.Millisecond,
		maxBackoff: 5 * time.Second,
		parts:      make(map[metadata.PartitionKey]*partState),
		jobs:       make(chan job),
		now:        time.Now,
		earlySeals: metric.Counter(opts.Registerer, "strata_tiering_early_seals_total",
			"WAL segments sealed early, before full or --seal-interval old, because something waited for the next commit (--max-put-rate)."),
		pipelined:     true,
		sealDuringPut: true,
		redos: metric.Counter(opts.Registerer, "strata_tiering_upload_redos_total",
			"WAL segments prepared and PUT while the previous segment's commit was in flight that were prepared and PUT again, because that commit did not land as expected (fenced, refused, retried) or a partition's leadership or state changed meanwhile."),
	}
	u.commitSegments = opts.Store.CommitSegments
	if opts.MaxPutRate > 0 && opts.Demand != nil {
		u.budget = newPutBudget(opts.MaxPutRate, time.Now())
	}
	return u
}

// SetState seeds the committed state of a partition this broker just started to
// lead. Batches of recovered segments below State.HighWatermark are skipped.
func (u *Uploader) SetState(key metadata.PartitionKey, st metadata.PartitionState) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.gen++
	u.parts[key] = &partState{st: cloneState(st), gen: u.gen}
}

// Forget drops a partition (deleted topic, lost leadership).
func (u *Uploader) Forget(key metadata.PartitionKey) {
	u.mu.Lock()
	defer u.mu.Unlock()
	delete(u.parts, key)
}

// Run uploads the recovered segments, then every segment from the WAL's Sealed
// channel, until that channel is closed (returns nil once the last segment is
// committed) or ctx ends. Failed PUTs and transport errors are retried with
// backoff; Removes each WAL segment once committed. A segment that cannot be
// read (a corrupt file) stops Run with an error and stays in the WAL (the
// segments before it are committed first). Run must be called once. It
// prepares and PUTs segments on its own goroutine and runs each segment's
// commit on a goroutine of its own, one at a time, which it waits for before
// it returns.
func (u *Uploader) Run(ctx context.Context, recovered []wal.SegmentInfo) (err error) {
	var fl *flight // the segment whose commit is in flight
	defer func() {
		if e := land(&fl); err == nil {
			err = e
		}
	}()
	for _, seg := range recovered {
		if fl, err = u.upload(ctx, seg, fl); err != nil {
			return err
		}
	}
	sealed := u.opts.WAL.Sealed()
	// Early seals (MaxPutRate) are looked at between two segments' PUTs,
	// and again when something begins to wait, when the WAL may have
	// become sealable and when the budget's next token is due.
	var demand, sealable <-chan struct{}
	if u.budget != nil {
		u.budget.last = u.now()
		demand, sealable = u.opts.Demand.Changed(), u.opts.WAL.Sealable()
	}
	token := time.NewTimer(time.Hour)
	token.Stop()
	defer token.Stop()
	for {
		if d := u.sealEarly(); d > 0 {
			token.Reset(d)
		}
		var landed <-chan struct{}
		if fl != nil {
			landed = fl.done
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case seg, ok := <-sealed:
			if !ok {
				return land(&fl)
			}
			if fl, err = u.upload(ctx, seg, fl); err != nil {
				return err
			}
		case j := <-u.jobs:
			// Jobs change committed state: none runs while a commit is
			// in flight, and the next segment is prepared after it.
			if err := land(&fl); err != nil {
				j.done <- err
				return err
			}
			j.done <- j.fn(ctx)
		case <-landed:
			// The commit in flight ended: nothing to do but notice a
			// failure now rather than at the next segment.
			if err := land(&fl); err != nil {
				return err
			}
		case <-demand:
		case <-sealable:
		case <-token.C:
		}
	}
}

// job is a change to committed partitions that must not interleave with a
// segment's commit: Run runs it between two segments.
type job struct {
	fn   func(ctx context.Context) error
	done chan error
}

// between runs fn on Run's goroutine between two segments, and returns its
// error, or ctx's if ctx ends first.
func (u *Uploader) between(ctx context.Context, fn func(ctx context.Context) error) error {
	j := job{fn: fn, done: make(chan error, 1)}
	select {
	case u.jobs <- j:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Truncate moves the log start offset of a partition this broker leads
// under epoch up to logStart (never down, never past the high watermark:
// ErrOutOfRange) and deletes the manifest entries whose base offsets are in
// drop, which must lie wholly below logStart. It runs on Run's goroutine
// between two segments, so that no segment's commit carries the old log
// start after it. It returns the committed state.
func (u *Uploader) Truncate(ctx context.Context, key metadata.PartitionKey, epoch, logStart int64, drop []int64) (metadata.PartitionState, error) {
	var st metadata.PartitionState
	err := u.between(ctx, func(ctx context.Context) error {
		var gen uint64
		var err error
		if st, gen, err = u.state(ctx, key); err != nil {
			return err
		}
		if logStart > st.HighWatermark {
			return fmt.Errorf("%w: log start %d above the high watermark %d", ErrOutOfRange, logStart, st.HighWatermark)
		}
		st.LogStartOffset = max(st.LogStartOffset, logStart)
		if err := u.opts.Store.TruncateLog(ctx, key, epoch, st, drop); err != nil {
			return err
		}
		u.mu.Lock()
		if cur := u.parts[key]; cur != nil && cur.gen == gen {
			cur.st = cloneState(st)
		}
		u.mu.Unlock()
		return nil
	})
	return st, err
}

// Replace swaps consecutive manifest entries of a partition this broker
// leads under epoch for one that covers the same offsets (object
// compaction; see metadata.Store.ReplaceEntries), between two segments.
func (u *Uploader) Replace(ctx context.Context, key metadata.PartitionKey, epoch int64, old []metadata.ManifestEntry, entry metadata.ManifestEntry) error {
	return u.between(ctx, func(ctx context.Context) error {
		return u.opts.Store.ReplaceEntries(ctx, key, epoch, old, entry)
	})
}

// pending is one partition's share of the segment being uploaded.
type pending struct {
	tenure    Tenure                  // the leadership its batches are committed under
	prev      metadata.PartitionState // committed state before this segment
	gen       uint64
	next      int64      // batches must start at or above this offset
	producers []appended // idempotent batches, control batches included, in offset order
}

// appended is one idempotent batch of a pending range, as nextState needs it.
type appended struct {
	h   batch.Header
	txn metadata.TxnBatch
}

// aside collects the batches of one segment that are set aside.
type aside struct {
	b       ObjectBuilder
	reasons map[metadata.PartitionKey]string
	epochs  map[metadata.PartitionKey]int32           // leader epoch of each range's first batch
	ends    map[metadata.PartitionKey]map[int32]int64 // tenureEnd's answers
}

// errNoSpeculation stops a speculative prepare (prepare with a basis) at
// anything but the plain case; the segment is then prepared again once the
// commit in flight has landed.
var errNoSpeculation = errors.New("tiering: segment needs the committed state")

// prepared is one segment made ready to commit: its object built (and,
// once put has run, stored) and every partition's commit computed on the
// state the segment was prepared on.
type prepared struct {
	seg     wal.SegmentInfo
	name    string // the object's name ("" if nothing is committed)
	obj     []byte
	index   []IndexEntry
	parts   map[metadata.PartitionKey]*pending
	commits []metadata.Commit // aligned with index; Entry.Committed is set by finish
	setAway aside
	// after is each partition's state once this segment is committed as
	// prepared, for the next segment's speculative prepare. Never changed
	// once prepare has returned (finish works on copies).
	after map[metadata.PartitionKey]partState
	// spec: prepared on the previous segment's after while that segment's
	// commit was in flight; fates are the Leaders' answers it relied on.
	spec  bool
	fates map[metadata.PartitionKey]fateAnswer
}

// fateAnswer is one answer of Leaders.Fate.
type fateAnswer struct {
	f Fate
	t Tenure
}

// flight is a prepared segment whose commit runs on a goroutine of its own
// (finish). done is closed when it has ended; clean and err are set then.
type flight struct {
	p     *prepared
	done  chan struct{}
	clean bool  // every commit landed as prepared, at the first attempt
	err   error // ctx ended
}

// wait waits for the flight's end (finish ends soon after ctx does) and
// returns its error.
func (f *flight) wait() error {
	<-f.done
	return f.err
}

// land waits for the commit in flight, if any, and clears *fl.
func land(fl **flight) error {
	if *fl == nil {
		return nil
	}
	err := (*fl).wait()
	*fl = nil
	return err
}

// upload takes one segment through the pipeline: prepare and PUT here, on
// Run's goroutine, while the previous segment's commit (prev, nil if none)
// is in flight; then wait for that commit, and start this segment's. It
// returns the flight of this segment's commit, or the one still to wait for
// with an error (ctx ended, or the segment cannot be read).
//
// A segment prepared while prev's commit was in flight relies on prev's
// commits landing as prepared: it is committed as prepared only if they all
// did at the first attempt, no partition's state was replaced (SetState,
// Forget) and the Leaders still answer as they did. Otherwise it is
// prepared again on the committed state and PUT again (redo): its first
// object stays unreferenced and is garbage collected, like any upload that
// was never committed.
func (u *Uploader) upload(ctx context.Context, seg wal.SegmentInfo, prev *flight) (*flight, error) {
	var p *prepared
	if prev != nil && u.pipelined {
		var err error
		switch p, err = u.prepare(ctx, seg, prev.p); {
		case errors.Is(err, errNoSpeculation):
			p = nil
		case err != nil:
			return prev, err
		default:
			if err := u.put(ctx, p); err != nil {
				return prev, err
			}
		}
	}
	if prev != nil {
		if u.waitingFor != nil {
			u.waitingFor(prev.p)
		}
		if err := prev.wait(); err != nil {
			return nil, err
		}
		if p != nil && !u.stillValid(prev, p) {
			u.redos.Inc()
			u.log.Debug("segment prepared during the previous commit is prepared again", "segment", seg.Seq, "object", p.name)
			p = nil
		}
	}
	if p == nil {
		var err error
		if p, err = u.prepare(ctx, seg, nil); err != nil {
			return nil, err
		}
		if err := u.put(ctx, p); err != nil {
			return nil, err
		}
	}
	fl := &flight{p: p, done: make(chan struct{})}
	go func() {
		defer close(fl.done)
		fl.clean, fl.err = u.finish(ctx, p)
	}()
	return fl, nil
}

// stillValid says whether p, prepared while prev's commit was in flight, may
// be committed as prepared now that prev's has landed: prev's commits all
// landed as prepared at the first attempt, each partition of p still has
// the state p was prepared on (no SetState or Forget since), and the
// Leaders answer as they did.
func (u *Uploader) stillValid(prev *flight, p *prepared) bool {
	if !p.spec || !prev.clean {
		return false
	}
	for key, a := range p.fates {
		if f, t := u.opts.Leaders.Fate(key); f != a.f || t != a.t {
			return false
		}
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for key, pp := range p.parts {
		cur := u.parts[key]
		if cur == nil || cur.gen != pp.gen || cur.st.HighWatermark != pp.prev.HighWatermark ||
			cur.st.LogStartOffset != pp.prev.LogStartOffset {
			return false
		}
	}
	return true
}

// prepare reads a segment and builds its object and commits. With a basis
// (the segment whose commit is in flight) it is speculative: each
// partition's state is the one basis leaves (or this broker's committed
// state if basis has none of it), the Leaders are asked once without
// waiting, and anything but a partition this broker leads whose batches
// all follow on from that state (a batch to skip, to set aside, of another
// leader epoch, an undecodable record) stops it with errNoSpeculation,
// before it has any effect. Without a basis it does what the WAL's records
// need: waits for undecided partitions and sets aside what may not be
// committed.
func (u *Uploader) prepare(ctx context.Context, seg wal.SegmentInfo, basis *prepared) (*prepared, error) {
	var (
		b     ObjectBuilder
		spec  = basis != nil
		p     = &prepared{seg: seg, spec: spec, parts: make(map[metadata.PartitionKey]*pending)}
		fates = make(map[metadata.PartitionKey]Fate) // this segment's Leaders answers
	)
	if spec {
		p.fates = make(map[metadata.PartitionKey]fateAnswer)
	}
	err := wal.ReadSegment(seg, func(rec []byte) error {
		e, err := DecodeEntry(rec)
		if err != nil {
			if spec {
				return errNoSpeculation
			}
			u.log.Error("dropping undecodable WAL record", "segment", seg.Seq, "err", err)
			u.m.skippedBatches.WithLabelValues("invalid").Inc()
			return nil
		}
		key, data := e.Key, e.Data
		f, ok := fates[key]
		if !ok {
			var t Tenure
			if spec {
				if f, t = u.opts.Leaders.Fate(key); f != FateCommit {
					return errNoSpeculation
				}
				p.fates[key] = fateAnswer{f, t}
			} else if f, t, err = u.fate(ctx, key); err != nil {
				return err
			}
			fates[key] = f
			if f == FateCommit {
				var prev metadata.PartitionState
				var gen uint64
				if a, ok := basis.afterOf(key); ok {
					prev, gen = cloneState(a.st), a.gen
				} else if prev, gen, err = u.state(ctx, key); err != nil {
					return err
				}
				p.parts[key] = &pending{tenure: t, prev: prev, gen: gen, next: prev.HighWatermark}
			}
		}
		if f == FateDrop {
			u.m.skippedBatches.WithLabelValues("deleted").Inc()
			return nil
		}
		pp := p.parts[key]
		err = batch.Iter(data, func(h batch.Header, raw []byte) error {
			if spec && (h.PartitionLeaderEpoch != pp.tenure.LeaderEpoch || h.BaseOffset != pp.next) {
				return errNoSpeculation
			}
			if pp == nil || h.PartitionLeaderEpoch != pp.tenure.LeaderEpoch {
				// Appended under a leadership that ended and was not
				// resumed: committed by it, or set aside.
				return u.setAside(ctx, &p.setAway, seg.Seq, key, h, raw, reasonNotResumed)
			}
			switch {
			case h.LastOffset() < pp.next:
				u.m.skippedBatches.WithLabelValues("committed").Inc()
				return nil
			case h.BaseOffset < pp.next:
				return u.setAside(ctx, &p.setAway, seg.Seq, key, h, raw, reasonStraddles)
			}
			if err := b.Add(key, raw); err != nil {
				return err
			}
			pp.next = h.LastOffset() + 1
			if h.Idempotent() {
				pp.producers = append(pp.producers, appended{h: h, txn: metadata.TxnBatchOf(h, raw)})
			}
			return nil
		})
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if spec {
				return errNoSpeculation
			}
			u.log.Error("dropping invalid batch bytes from WAL record", "topic", key.Topic,
				"partition", key.Partition, "segment", seg.Seq, "err", err)
			u.m.skippedBatches.WithLabelValues("invalid").Inc()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	p.after = make(map[metadata.PartitionKey]partState, len(p.parts))
	for key, pp := range p.parts {
		p.after[key] = partState{st: pp.prev, gen: pp.gen}
	}
	if b.Len() == 0 {
		return p, nil
	}
	p.obj, p.index = b.Finish()
	p.name = fmt.Sprintf("segments/%08x-b%d-%020d.seg", rand.Uint32(), u.opts.BrokerID, seg.Seq)
	p.commits = make([]metadata.Commit, len(p.index))
	for i, e := range p.index {
		pp := p.parts[e.Key]
		entry := e.ManifestEntry(p.name)
		st, aborted := nextState(pp.prev, entry, pp.producers)
		entry.Aborted = aborted
		p.commits[i] = metadata.Commit{Key: e.Key, Epoch: pp.tenure.Epoch, Entry: entry, State: st}
		p.after[e.Key] = partState{st: st, gen: pp.gen}
	}
	return p, nil
}

// afterOf is key's state once p is committed as prepared (false: p has
// none of key, or p is nil).
func (p *prepared) afterOf(key metadata.PartitionKey) (partState, bool) {
	if p == nil {
		return partState{}, false
	}
	a, ok := p.after[key]
	return a, ok
}

// put stores p's object (if it has one), retrying until it succeeds or ctx
// ends; the PUT spends the budget unless its segment was sealed early (the
// seal spent it). With a PUT budget, the next segment may be sealed early
// while the PUT is in flight (as soon as something waits and the budget holds
// a token), so that its WAL fsync runs during this PUT: the seal, this PUT
// and the previous segment's commit overlap.
func (u *Uploader) put(ctx context.Context, p *prepared) error {
	if p.obj == nil {
		return nil
	}
	u.spend(p.seg.Seq)
	if u.budget == nil || !u.sealDuringPut {
		return u.putObject(ctx, p)
	}
	done := make(chan error, 1)
	go func() { done <- u.putObject(ctx, p) }()
	token := time.NewTimer(time.Hour)
	token.Stop()
	defer token.Stop()
	demand, sealable := u.opts.Demand.Changed(), u.opts.WAL.Sealable()
	for {
		if d := u.sealEarly(); d > 0 {
			token.Reset(d)
		}
		select {
		case err := <-done:
			return err
		case <-demand:
		case <-sealable:
		case <-token.C:
		}
	}
}

// putObject is put's PUT and its retries.
func (u *Uploader) putObject(ctx context.Context, p *prepared) error {
	return u.retry(ctx, func() error {
		start := time.Now()
		err := u.opts.Bucket.Put(ctx, p.name, bytes.NewReader(p.obj), int64(len(p.obj)))
		if err == nil {
			u.m.putLatency.Observe(time.Since(start).Seconds())
		}
		return err
	}, func(err error) {
		u.m.putRetries.Inc()
		u.log.Warn("segment object PUT failed; retrying", "object", p.name, "err", err)
	})
}

// finish commits a prepared, stored segment, in segment order (one finish
// at a time): the commits, the quarantine, OnCommit and the WAL's Remove.
// It reports whether every commit landed as prepared at the first attempt
// (clean), and an error only if ctx ended.
func (u *Uploader) finish(ctx context.Context, p *prepared) (clean bool, err error) {
	var results []Result
	clean = true
	if len(p.commits) > 0 {
		if results, clean, err = u.store(ctx, p); err != nil {
			return false, err
		}
	}
	if err := u.quarantine(ctx, p.seg.Seq, &p.setAway); err != nil {
		return false, err
	}
	if u.opts.OnCommit != nil {
		u.opts.OnCommit(p.seg.Seq, results)
	}
	if err := u.opts.WAL.Remove(p.seg.Seq); err != nil {
		u.log.Error("removing uploaded WAL segment", "segment", p.seg.Seq, "err", err)
	}
	return clean, nil
}

// fate asks Leaders what becomes of key's records, waiting while the broker
// decides (FateWait), until ctx ends.
func (u *Uploader) fate(ctx context.Context, key metadata.PartitionKey) (Fate, Tenure, error) {
	wait := 10 * time.Millisecond
	for logged := false; ; logged = true {
		f, t := u.opts.Leaders.Fate(key)
		if f != FateWait {
			return f, t, nil
		}
		if !logged {
			u.log.Info("waiting for the broker to decide whether it resumes a leadership that ended, before uploading its records",
				"topic", key.Topic, "partition", key.Partition)
		}
		select {
		case <-ctx.Done():
			return f, t, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// setAside adds a batch of key that may not be committed under this broker's
// leadership to the segment's quarantine, unless the tenure it was appended
// under committed it (its last offset is below where the next tenure began).
func (u *Uploader) setAside(ctx context.Context, a *aside, seq uint64, key metadata.PartitionKey, h batch.Header, raw []byte, reason string) error {
	end, err := u.tenureEnd(ctx, a, key, h.PartitionLeaderEpoch)
	if err != nil {
		return err
	}
	if h.LastOffset() < end {
		u.m.skippedBatches.WithLabelValues("committed").Inc()
		return nil
	}
	if a.reasons == nil {
		a.reasons = make(map[metadata.PartitionKey]string)
		a.epochs = make(map[metadata.PartitionKey]int32)
	}
	if err := a.b.Add(key, raw); errors.Is(err, ErrInvalidBatch) && a.b.Len() > 0 {
		// Not in offset order after the batches set aside before it (two
		// ended tenures wrote the same offsets): start another object.
		if err := u.quarantine(ctx, seq, a); err != nil {
			return err
		}
		return u.setAside(ctx, a, seq, key, h, raw, reason)
	} else if err != nil {
		return err
	}
	if _, ok := a.reasons[key]; !ok {
		a.reasons[key], a.epochs[key] = reason, h.PartitionLeaderEpoch
	}
	return nil
}

// Why batches are set aside, as the quarantine's notes say.
const (
	reasonNotResumed = "the leadership it was appended under ended and was not resumed (another broker has led the partition since, or this broker no longer leads it)"
	reasonFenced     = "its commit was fenced: the leadership it was appended under ended and another broker has led the partition since"
	reasonRefused    = "the metadata store refused its commit"
	reasonStraddles  = "it straddles the partition's committed offset"
)

// setAsideRange sets aside every batch of one partition's range of a
// segment object (data), skipping those committed before.
func (u *Uploader) setAsideRange(ctx context.Context, a *aside, seq uint64, key metadata.PartitionKey, data []byte, reason string) error {
	return batch.Iter(data, func(h batch.Header, raw []byte) error {
		return u.setAside(ctx, a, seq, key, h, raw, reason)
	})
}

// tenureEnd returns the offset below which the tenure of leaderEpoch
// committed key's records: where the next tenure began, by the partition's
// epoch history, or its high watermark if no tenure began since.
func (u *Uploader) tenureEnd(ctx context.Context, a *aside, key metadata.PartitionKey, leaderEpoch int32) (int64, error) {
	if end, ok := a.ends[key][leaderEpoch]; ok {
		return end, nil
	}
	var end int64
	err := u.retry(ctx, func() error {
		hist, err := u.opts.Store.EpochHistory(ctx, key)
		if err != nil {
			return err
		}
		for _, es := range hist {
			if es.LeaderEpoch > leaderEpoch {
				end = es.StartOffset
				return nil
			}
		}
		st, err := u.opts.Store.PartitionState(ctx, key)
		end = st.HighWatermark
		return err
	}, func(err error) {
		u.log.Warn("loading epoch history; retrying", "topic", key.Topic, "partition", key.Partition, "err", err)
	})
	if err != nil {
		return 0, err
	}
	if a.ends == nil {
		a.ends = make(map[metadata.PartitionKey]map[int32]int64)
	}
	if a.ends[key] == nil {
		a.ends[key] = make(map[int32]int64)
	}
	a.ends[key][leaderEpoch] = end
	return end, nil
}

// quarantine writes what a holds to the quarantine directory (retrying
// until it succeeds or ctx ends: the WAL segment is removed only after)
// and empties it.
func (u *Uploader) quarantine(ctx context.Context, seq uint64, a *aside) error {
	if a.b.Len() == 0 {
		return nil
	}
	obj, index := a.b.Finish()
	var note QuarantineNote
	err := u.retry(ctx, func() error {
		var err error
		note, err = writeQuarantine(u.opts.QuarantineDir, seq, u.opts.BrokerID, obj, index, a.reasons, a.epochs, u.opts.Leaders.TopicName)
		return err
	}, func(err error) {
		u.log.Error("writing WAL records to the quarantine failed; retrying (the WAL segment is kept)", "segment", seq, "err", err)
	})
	if err != nil {
		return err
	}
	for _, r := range note.Partitions {
		u.log.Warn("WAL records set aside in the quarantine, not committed",
			"topic", r.Topic, "topic_id", r.TopicID, "partition", r.Partition, "leader_epoch", r.LeaderEpoch,
			"base_offset", r.BaseOffset, "last_offset", r.LastOffset, "batches", r.Batches,
			"reason", r.Reason, "file", filepath.Join(u.opts.QuarantineDir, note.Object))
		u.m.quarantined.Add(float64(r.Batches))
	}
	*a = aside{ends: a.ends}
	return nil
}

// store commits every partition of p, whose object is stored. A partition
// whose commit is fenced goes to resolveFenced: committed under a resumed
// leadership, or set aside into p.setAway. clean: every commit landed as
// prepared at the first attempt.
func (u *Uploader) store(ctx context.Context, p *prepared) ([]Result, bool, error) {
	commits := slices.Clone(p.commits)
	now := time.Now().UnixMilli()
	for i := range commits {
		commits[i].Entry.Committed = now
	}
	errs, attempts, err := u.commit(ctx, commits)
	if err != nil {
		return nil, false, err
	}
	clean := attempts == 1
	for i, c := range commits {
		data := p.obj[p.index[i].Position : p.index[i].Position+p.index[i].Size]
		if errs[i] != nil {
			clean = false
		}
		switch {
		case errs[i] == nil:
		case errors.Is(errs[i], metadata.ErrFenced):
			if commits[i], errs[i], err = u.resolveFenced(ctx, p.seg.Seq, c, p.parts[c.Key], data, &p.setAway); err != nil {
				return nil, false, err
			}
		default: // the store refused the commit: never retried, never lost
			u.log.Error("manifest commit refused: its batches are set aside", "topic", c.Key.Topic,
				"partition", c.Key.Partition, "segment", p.seg.Seq, "err", errs[i])
			errs[i] = ErrSetAside
			if err := u.setAsideRange(ctx, &p.setAway, p.seg.Seq, c.Key, data, reasonRefused); err != nil {
				return nil, false, err
			}
		}
	}

	results := make([]Result, len(commits))
	u.mu.Lock()
	for i, c := range commits {
		results[i] = Result{Key: c.Key, Epoch: c.Epoch, Entry: c.Entry, State: c.State, Err: errs[i]}
		cur := u.parts[c.Key]
		if cur == nil || cur.gen != p.parts[c.Key].gen {
			continue // forgotten or re-seeded while we committed
		}
		if errs[i] != nil {
			delete(u.parts, c.Key)
			continue
		}
		cur.st = cloneState(c.State)
	}
	u.mu.Unlock()
	u.m.segments.Inc()
	u.m.bytes.Add(float64(len(p.obj)))
	u.log.Debug("segment uploaded", "segment", p.seg.Seq, "object", p.name, "bytes", len(p.obj), "partitions", len(p.index))
	return results, clean, nil
}

// resolveFenced handles a partition whose commit c was fenced: the
// leadership it was made under has ended. Once the broker has decided, the
// range (data) is committed under the leadership that resumed it, or, if
// none did, set aside into a. It returns the commit as finally made and its
// outcome (nil, ErrSetAside or the store's refusal), and an error only if
// ctx ended.
func (u *Uploader) resolveFenced(ctx context.Context, seq uint64, c metadata.Commit, p *pending, data []byte, a *aside) (metadata.Commit, error, error) {
	for {
		u.log.Warn("manifest commit fenced: the leadership it was made under has ended; waiting to know whether it resumes",
			"topic", c.Key.Topic, "partition", c.Key.Partition, "segment", seq, "epoch", c.Epoch)
		u.opts.Leaders.Fenced(c.Key, c.Epoch)
		f, t, err := u.fate(ctx, c.Key)
		if err != nil {
			return c, nil, err
		}
		if f == FateDrop {
			u.m.skippedBatches.WithLabelValues("deleted").Add(float64(c.Entry.Batches))
			return c, ErrSetAside, nil
		}
		if f != FateCommit || t.LeaderEpoch != p.tenure.LeaderEpoch {
			return c, ErrSetAside, u.setAsideRange(ctx, a, seq, c.Key, data, reasonFenced)
		}
		// Resumed: the same records, committed under the new fencing epoch
		// on the state the broker loaded when it took the leadership back.
		prev, gen, err := u.state(ctx, c.Key)
		if err != nil {
			return c, nil, err
		}
		p.gen, c.Epoch = gen, t.Epoch
		if prev.HighWatermark > c.Entry.LastOffset {
			c.State = prev // the fenced attempt had landed after all
			return c, nil, nil
		}
		c.State, c.Entry.Aborted = nextState(prev, c.Entry, p.producers)
		errs, _, err := u.commit(ctx, []metadata.Commit{c})
		if err != nil {
			return c, nil, err
		}
		switch {
		case errs[0] == nil:
			u.log.Info("committed a fenced segment's records under the resumed leadership",
				"topic", c.Key.Topic, "partition", c.Key.Partition, "segment", seq, "epoch", c.Epoch)
			return c, nil, nil
		case !errors.Is(errs[0], metadata.ErrFenced):
			u.log.Error("manifest commit refused: its batches are set aside", "topic", c.Key.Topic,
				"partition", c.Key.Partition, "segment", seq, "err", errs[0])
			return c, ErrSetAside, u.setAsideRange(ctx, a, seq, c.Key, data, reasonRefused)
		}
	}
}

// state returns a copy of the partition's committed state, loading it from
// etcd the first time the partition is seen.
func (u *Uploader) state(ctx context.Context, key metadata.PartitionKey) (metadata.PartitionState, uint64, error) {
	u.mu.Lock()
	if ps := u.parts[key]; ps != nil {
		defer u.mu.Unlock()
		return cloneState(ps.st), ps.gen, nil
	}
	u.mu.Unlock()

	var st metadata.PartitionState
	err := u.retry(ctx, func() error {
		var err error
		st, err = u.opts.Store.PartitionState(ctx, key)
		return err
	}, func(err error) {
		u.log.Warn("loading partition state; retrying", "topic", key.Topic, "partition", key.Partition, "err", err)
	})
	if err != nil {
		return st, 0, err
	}

	u.mu.Lock()
	defer u.mu.Unlock()
	if ps := u.parts[key]; ps != nil { // SetState won the race
		return cloneState(ps.st), ps.gen, nil
	}
	u.gen++
	u.parts[key] = &partState{st: cloneState(st), gen: u.gen}
	return st, u.gen, nil
}

// commit commits every partition, retrying those whose error is retriable
// until ctx ends. It returns one error per commit: nil, the fencing error, or
// the store's refusal; and how many calls of CommitSegments it took.
func (u *Uploader) commit(ctx context.Context, commits []metadata.Commit) ([]error, int, error) {
	start := time.Now()
	attempts := 0
	errs := make([]error, len(commits))
	todo := make([]int, len(commits))
	for i := range todo {
		todo[i] = i
	}
	err := u.retry(ctx, func() error {
		batch := make([]metadata.Commit, len(todo))
		for j, i := range todo {
			batch[j] = commits[i]
		}
		attempts++
		res := u.commitSegments(ctx, batch)
		var again []int
		var last error
		for j, i := range todo {
			err := errors.New("tiering: no result from CommitSegments")
			if j < len(res) {
				err = res[j]
			}
			if err == nil || !commitRetriable(err) {
				errs[i] = err
			} else {
				again, last = append(again, i), err
			}
		}
		todo = again
		if len(again) > 0 {
			return fmt.Errorf("%d of %d commits failed: %w", len(again), len(batch), last)
		}
		return nil
	}, func(err error) {
		u.m.commitRetries.Inc()
		u.log.Warn("manifest commit failed; retrying", "err", err)
	})
	if err != nil {
		return nil, attempts, err
	}
	u.m.commitLatency.Observe(time.Since(start).Seconds())
	return errs, attempts, nil
}

// commitRetriable says whether a failed commit may succeed if tried again:
// anything but fencing (epochs never come back) and a commit the store
// refuses to write.
func commitRetriable(err error) bool {
	return !errors.Is(err, metadata.ErrFenced) && !errors.Is(err, metadata.ErrInvalid)
}

// retry calls fn until it returns nil or ctx ends, waiting a capped,
// jittered, exponentially growing time between attempts and calling
// onRetry before each wait. It returns nil or ctx's error.
func (u *Uploader) retry(ctx context.Context, fn func() error, onRetry func(error)) error {
	wait := u.minBackoff
	for {
		err := fn()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		onRetry(err)
		d := wait/2 + rand.N(wait/2+1)
		wait = min(2*wait, u.maxBackoff)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// nextState is prev after appending the range entry whose idempotent
// batches (control batches included) are producers, and the transactions
// aborted in the range (the entry's Aborted). The transaction transitions
// are metadata.OpenTxns.Apply's, as the partition leader makes them in
// memory; a marker raises its producer's epoch to its own (forgetting the
// sequences of the older epoch), as the leader does.
func nextState(prev metadata.PartitionState, entry metadata.ManifestEntry, producers []appended) (metadata.PartitionState, []metadata.AbortedTxn) {
	st := cloneState(prev)
	st.HighWatermark = entry.LastOffset + 1
	var (
		txns    metadata.OpenTxns // loaded at the first transactional batch
		aborted []metadata.AbortedTxn
	)
	for _, a := range producers {
		h := a.h
		if st.Producers == nil {
			st.Producers = make(map[int64]metadata.ProducerState)
		}
		ps, ok := st.Producers[h.ProducerID]
		switch {
		case h.Control():
			if !ok || h.ProducerEpoch > ps.Epoch {
				ps.Epoch, ps.Batches = h.ProducerEpoch, nil
			}
		default:
			if !ok || ps.Epoch != h.ProducerEpoch {
				ps = metadata.ProducerState{Epoch: h.ProducerEpoch, InTxn: ps.InTxn, TxnFirst: ps.TxnFirst}
			}
			ps.Batches = append(ps.Batches, metadata.ProducerBatch{
				FirstSeq:   h.BaseSequence,
				LastSeq:    h.LastSequence(),
				BaseOffset: h.BaseOffset,
			})
			if n := len(ps.Batches); n > maxProducerBatches {
				ps.Batches = append(ps.Batches[:0:0], ps.Batches[n-maxProducerBatches:]...)
			}
		}
		st.Producers[h.ProducerID] = ps
		if a.txn.Transactional {
			if txns == nil {
				txns = st.OpenTxns()
			}
			if at, ok := txns.Apply(a.txn); ok {
				aborted = append(aborted, at)
			}
		}
	}
	if txns != nil {
		st.SetOpenTxns(txns)
	}
	return st, aborted
}

// cloneState is a deep copy: states cross goroutines (SetState, OnCommit).
func cloneState(st metadata.PartitionState) metadata.PartitionState {
	if st.Producers == nil {
		return st
	}
	ps := make(map[int64]metadata.ProducerState, len(st.Producers))
	for id, p := range st.Producers {
		p.Batches = append([]metadata.ProducerBatch(nil), p.Batches...)
		ps[id] = p
	}
	st.Producers = ps
	return st
}
