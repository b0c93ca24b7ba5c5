package partition

import (
	"context"
	"errors"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/internal/batch"
	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/tiering"
)

// maxProducerBatches is how many recent batches per producer are kept to
// recognise retries, as in Kafka.
const maxProducerBatches = 5

// tailBytes is how many bytes of committed batches a partition keeps in
// memory for consumers at the tail; older reads go to the object store.
const tailBytes = 4 << 20

// Partition is the state of one partition this broker knows of. While led
// (epoch > 0) it serves fetches, and accepts produces unless it is being
// handed over; its batches live in memory until they are committed and fall
// out of the tail window.
type Partition struct {
	key   metadata.PartitionKey
	topic string

	// acquiring is set while an attempt to take the leadership is in
	// flight: a second attempt meanwhile is skipped (the next reconcile
	// pass retries), never made to wait, since an attempt waits on etcd.
	acquiring atomic.Bool
	// demand is the Manager's count of what waits for a commit (nil
	// outside a Manager); set before the partition is shared.
	demand *commitDemand

	mu          sync.Mutex
	epoch       int64 // the leadership's fencing epoch (etcd revision); 0: not led
	leaderEpoch int32 // Kafka's leader epoch of the leadership
	history     []metadata.EpochStart
	resigning   bool  // a hand-off has begun: no more produces
	ended       int64 // the epoch of the last leadership that ended; hwm is still its until the next
	// undecided is the epoch of a leadership that ended without a hand-off
	// (lease ended, commit fenced) while it held records not known to be
	// committed; until the broker has tried to resume it (decide), the
	// uploader holds those records back (tiering.FateWait). 0: none.
	undecided int64
	next      int64 // log end offset: the next offset to assign
	hwm       int64 // committed: consumers see offsets below it
	logStart  int64
	// mem holds every batch not yet committed and the most recent committed
	// ones (up to tailBytes), in offset order.
	mem       []memBatch
	memBytes  int // bytes of committed batches in mem
	manifest  []metadata.ManifestEntry
	producers map[int64]*producerState
	// txns, closing and pendingAborted are the transactions in the log
	// (txn.go).
	txns           metadata.OpenTxns
	closing        []closingTxn
	pendingAborted []metadata.AbortedTxn
	// changed is closed and replaced whenever hwm moves or leadership changes.
	changed chan struct{}
}

type memBatch struct {
	base, last int64
	maxTs      int64
	data       []byte
}

type producerState struct {
	epoch   int16
	batches []metadata.ProducerBatch // oldest first
	// lastTs is the max timestamp of the producer's last batch appended
	// by this leader (-1: none); coordinatorEpoch the coordinator epoch of
	// its last marker appended by this leader (-1: none). Neither is in the
	// committed state: only DescribeProducers shows them.
	lastTs           int64
	coordinatorEpoch int32
}

func newProducerState(epoch int16) *producerState {
	return &producerState{epoch: epoch, lastTs: -1, coordinatorEpoch: -1}
}

func newPartition(topic string, key metadata.PartitionKey) *Partition {
	return &Partition{key: key, topic: topic, changed: make(chan struct{}), producers: map[int64]*producerState{}, txns: metadata.OpenTxns{}}
}

// Key is the partition's key.
func (p *Partition) Key() metadata.PartitionKey { return p.key }

// Topic is the name of the partition's topic.
func (p *Partition) Topic() string { return p.topic }

// lead installs committed state after this broker acquired leadership. A
// leadership that resumes the ended tenure whose records this partition
// still holds in memory (the lease ended and came back: l.Resumed is that
// tenure) keeps them, their offsets and their producers' sequences: the
// uploader commits them under the new fencing epoch.
func (p *Partition) lead(l metadata.Leadership, st metadata.PartitionState, manifest []metadata.ManifestEntry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	keep := l.Resumed != 0 && l.Resumed == p.ended && l.LeaderEpoch == p.leaderEpoch
	p.epoch, p.leaderEpoch, p.history, p.resigning = l.Epoch, l.LeaderEpoch, l.History, false
	p.undecided = 0
	p.hwm, p.logStart = st.HighWatermark, st.LogStartOffset
	p.manifest = manifest
	if keep && p.next >= st.HighWatermark {
		p.notify()
		return
	}
	p.next = st.HighWatermark
	p.mem, p.memBytes = nil, 0
	p.producers = make(map[int64]*producerState, len(st.Producers))
	for id, ps := range st.Producers {
		p.producers[id] = newProducerState(ps.Epoch)
		p.producers[id].batches = append([]metadata.ProducerBatch(nil), ps.Batches...)
	}
	p.txns, p.closing, p.pendingAborted = st.OpenTxns(), nil, nil
	p.notify()
}

// Led returns the fencing epoch if this broker leads the partition.
func (p *Partition) Led() (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epoch, p.epoch > 0
}

// Current returns the fencing and Kafka leader epochs of the leadership
// (0, -1: not led), and the epoch of an ended leadership still undecided.
func (p *Partition) Current() (epoch int64, leaderEpoch int32, undecided int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.epoch == 0 {
		return 0, -1, p.undecided
	}
	return p.epoch, p.leaderEpoch, p.undecided
}

// setUndecided marks the ended leadership of epoch as undecided, for a
// start whose lease had ended (its WAL holds that tenure's records).
func (p *Partition) setUndecided(epoch int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.epoch == 0 {
		p.ended, p.undecided = epoch, epoch
	}
}

// decide ends the wait on an undecided leadership of epoch: it was not
// resumed, so its records that were not committed are set aside.
func (p *Partition) decide(epoch int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.undecided == epoch {
		p.undecided = 0
	}
}

// tenure returns the fencing epoch of the current leadership (0: none) and
// of the last one that ended.
func (p *Partition) tenure() (epoch, ended int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epoch, p.ended
}

// stop ends the leadership of the given epoch, if it is still the current
// one: after a hand-off, or when it was lost (fenced by a newer leader, the
// lease ended, the topic was deleted). Waiting produces of that leadership
// then fail with a retriable error unless their batch was committed. If it
// holds records not known to be committed, it stays undecided until the
// broker tries to resume it.
func (p *Partition) stop(epoch int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.epoch != epoch || epoch == 0 {
		return false
	}
	p.ended, p.epoch, p.resigning = epoch, 0, false
	if p.next > p.hwm {
		p.undecided = epoch
	}
	p.notify()
	return true
}

// beginHandOff stops produces to the leadership of epoch and reports whether
// the caller should go on to hand it over (false: not led under epoch, or a
// hand-off is already under way).
func (p *Partition) beginHandOff(epoch int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.epoch != epoch || epoch == 0 || p.resigning {
		return false
	}
	p.resigning = true
	return true
}

// drained reports whether everything appended under epoch is committed, or
// epoch is no longer the leadership; otherwise it returns a channel closed
// at the next change.
func (p *Partition) drained(epoch int64) (bool, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epoch != epoch || p.hwm == p.next, p.changed
}

// CheckLeaderEpoch is Kafka's check (KIP-320) of a client's current leader
// epoch (-1: unchecked) against this leadership, for Fetch, ListOffsets and
// OffsetForLeaderEpoch: older is FENCED_LEADER_EPOCH, newer
// UNKNOWN_LEADER_EPOCH. It returns the current leader epoch.
func (p *Partition) CheckLeaderEpoch(current int32) (int32, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.epoch == 0:
		return -1, kerr.NotLeaderForPartition
	case current < 0 || current == p.leaderEpoch:
		return p.leaderEpoch, nil
	case current < p.leaderEpoch:
		return p.leaderEpoch, kerr.FencedLeaderEpoch
	default:
		return p.leaderEpoch, kerr.UnknownLeaderEpoch
	}
}

// EpochEnd answers OffsetForLeaderEpoch for one partition as Kafka's leader
// epoch cache does: the largest epoch at most requested and the offset where
// the epoch after it began (the high watermark for the current epoch);
// -1, -1 when requested is above every epoch known.
func (p *Partition) EpochEnd(requested int32) (epoch int32, end int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if requested < 0 {
		return -1, -1
	}
	if requested == p.leaderEpoch {
		return requested, p.hwm
	}
	h := p.history
	i := sort.Search(len(h), func(i int) bool { return h[i].LeaderEpoch > requested })
	switch {
	case i == len(h):
		return -1, -1
	case i == 0: // older than every epoch kept
		return requested, h[0].StartOffset
	default:
		return h[i-1].LeaderEpoch, h[i].StartOffset
	}
}

func (p *Partition) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// AppendResult says where a produced batch landed.
type AppendResult struct {
	Epoch     int64 // the leadership it was appended under
	Base      int64
	Last      int64
	Duplicate bool // a retry of a batch appended before: nothing was written
}

// Append validates the producer state of one validated batch, assigns
// its offsets and hands it to write (the WAL) with the leadership's epoch
// while holding the partition lock, so that WAL order is offset order.
func (p *Partition) Append(raw []byte, h batch.Header, logAppendTime int64, write func(epoch int64, raw []byte) error) (AppendResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.epoch == 0 || p.resigning {
		return AppendResult{}, kerr.NotLeaderForPartition
	}
	var ps *producerState
	if h.Idempotent() {
		ps = p.producers[h.ProducerID]
		if ps != nil {
			switch {
			case h.ProducerEpoch < ps.epoch:
				return AppendResult{}, kerr.InvalidProducerEpoch
			case h.ProducerEpoch == ps.epoch:
				for _, pb := range ps.batches {
					if pb.FirstSeq == h.BaseSequence && pb.LastSeq == h.LastSequence() {
						return AppendResult{Epoch: p.epoch, Base: pb.BaseOffset, Last: pb.BaseOffset + int64(h.LastOffsetDelta), Duplicate: true}, nil
					}
				}
				n := len(ps.batches)
				if n > 0 && h.BaseSequence != nextSeq(ps.batches[n-1].LastSeq) || n == 0 && h.BaseSequence != 0 {
					// (No batches: a marker raised the epoch, so
					// the epoch's sequences start at 0.)
					return AppendResult{}, kerr.OutOfOrderSequenceNumber
				}
			default: // a bumped epoch starts again at sequence 0
				if h.BaseSequence != 0 {
					return AppendResult{}, kerr.OutOfOrderSequenceNumber
				}
			}
		}
	}
	base := p.next
	batch.SetBaseOffset(raw, base)
	batch.SetPartitionLeaderEpoch(raw, p.leaderEpoch)
	if logAppendTime >= 0 {
		batch.SetLogAppendTime(raw, logAppendTime)
		h.MaxTimestamp = logAppendTime
	}
	if err := write(p.epoch, raw); err != nil {
		return AppendResult{}, err
	}
	last := base + int64(h.LastOffsetDelta)
	p.next = last + 1
	p.mem = append(p.mem, memBatch{base: base, last: last, maxTs: h.MaxTimestamp, data: raw})
	h.BaseOffset = base
	p.rememberProducer(h, raw)
	return AppendResult{Epoch: p.epoch, Base: base, Last: last}, nil
}

// rememberProducer records an idempotent batch raw appended at
// h.BaseOffset: a data batch for deduplication of its retries, a marker by
// raising the producer's epoch to its own; and the batch's transaction
// transition (applyTxn), as the uploader's committed state records them.
// The caller holds p.mu.
func (p *Partition) rememberProducer(h batch.Header, raw []byte) {
	if !h.Idempotent() {
		return
	}
	ps := p.producers[h.ProducerID]
	switch {
	case h.Control():
		if ps == nil {
			ps = newProducerState(h.ProducerEpoch)
			p.producers[h.ProducerID] = ps
		} else if h.ProducerEpoch > ps.epoch {
			ps.epoch, ps.batches = h.ProducerEpoch, nil
		}
	default:
		if ps == nil || ps.epoch != h.ProducerEpoch {
			ps = newProducerState(h.ProducerEpoch)
			p.producers[h.ProducerID] = ps
		}
		ps.batches = append(ps.batches, metadata.ProducerBatch{FirstSeq: h.BaseSequence, LastSeq: h.LastSequence(), BaseOffset: h.BaseOffset})
		if len(ps.batches) > maxProducerBatches {
			ps.batches = ps.batches[1:]
		}
		ps.lastTs = h.MaxTimestamp
	}
	p.applyTxn(h, raw)
}

func nextSeq(s int32) int32 {
	if s == 1<<31-1 {
		return 0
	}
	return s + 1
}

// replayBatch adds a batch recovered from the WAL that was not yet committed.
func (p *Partition) replayBatch(raw []byte, h batch.Header) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h.LastOffset() < p.next {
		return // already committed, or already replayed
	}
	p.mem = append(p.mem, memBatch{base: h.BaseOffset, last: h.LastOffset(), maxTs: h.MaxTimestamp, data: raw})
	p.next = h.LastOffset() + 1
	p.rememberProducer(h, raw)
}

// committed advances the high watermark after the uploader committed entry
// under epoch.
func (p *Partition) committed(epoch int64, e metadata.ManifestEntry, st metadata.PartitionState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if epoch != p.epoch || st.HighWatermark <= p.hwm {
		return
	}
	p.manifest = append(p.manifest, e)
	p.hwm = st.HighWatermark
	p.committedTxns()
	// Count newly committed bytes and trim the tail window.
	p.memBytes = 0
	for _, m := range p.mem {
		if m.last < p.hwm {
			p.memBytes += len(m.data)
		}
	}
	drop := 0
	for drop < len(p.mem) && p.mem[drop].last < p.hwm && p.memBytes > tailBytes {
		p.memBytes -= len(p.mem[drop].data)
		drop++
	}
	if drop > 0 {
		p.mem = append([]memBatch(nil), p.mem[drop:]...)
	}
	p.notify()
}

// WaitCommitted blocks until offset last, appended under epoch, is below
// the high watermark. If that leadership ends first the batch may never be
// committed: the producer gets a retriable error and sends it again to the
// new leader (which deduplicates it if it was committed after all).
//
// While it waits it counts in the Manager's commit demand, so that the
// uploader may seal the WAL's open segment at once (tiering.Demand).
func (p *Partition) WaitCommitted(ctx context.Context, epoch, last int64) error {
	counted := false
	defer func() {
		if counted {
			p.demand.end()
		}
	}()
	for {
		p.mu.Lock()
		hwm, cur, ended, ch := p.hwm, p.epoch, p.ended, p.changed
		p.mu.Unlock()
		if hwm > last && (cur == epoch || cur == 0 && ended == epoch) {
			return nil // committed, perhaps just before the leadership ended
		}
		if cur != epoch {
			return kerr.NotLeaderForPartition
		}
		if !counted {
			counted = true
			p.demand.begin()
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return kerr.RequestTimedOut
		}
	}
}

// Offsets returns the log start offset and the high watermark in one
// consistent read.
func (p *Partition) Offsets() (logStart, hwm int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logStart, p.hwm
}

// Read returns whole committed batches starting with the one holding offset,
// at least one batch and then up to maxBytes. Batches come from memory at
// the tail and from the object store below it.
func (p *Partition) Read(ctx context.Context, r *tiering.Reader, offset int64, maxBytes int) ([][]byte, error) {
	out, _, _, err := p.read(ctx, r, offset, maxBytes, false)
	return out, err
}

// ReadCommitted reads as Read does for a read_committed consumer: batches
// below the last stable offset only (none if offset is at or above it:
// not an error), the last stable offset, and the aborted transactions
// that overlap the batches returned (see abortedIn).
func (p *Partition) ReadCommitted(ctx context.Context, r *tiering.Reader, offset int64, maxBytes int) (batches [][]byte, lso int64, aborted []metadata.AbortedTxn, err error) {
	out, lso, next, err := p.read(ctx, r, offset, maxBytes, true)
	if err != nil || len(out) == 0 {
		return out, lso, nil, err
	}
	p.mu.Lock()
	aborted = p.abortedIn(offset, next)
	p.mu.Unlock()
	return out, lso, aborted, nil
}

// read returns the batches Read returns, below the last stable offset if
// stable, and that offset (stable) and the offset after the last batch
// returned (next; offset if none).
func (p *Partition) read(ctx context.Context, r *tiering.Reader, offset int64, maxBytes int, stable bool) (_ [][]byte, bound, next int64, _ error) {
	p.mu.Lock()
	if p.epoch == 0 {
		p.mu.Unlock()
		return nil, 0, offset, kerr.NotLeaderForPartition
	}
	if offset < p.logStart || offset > p.hwm {
		p.mu.Unlock()
		return nil, 0, offset, kerr.OffsetOutOfRange
	}
	bound = p.hwm
	if stable {
		bound = p.lso()
	}
	if offset >= bound {
		p.mu.Unlock()
		return nil, bound, offset, nil
	}
	if len(p.mem) > 0 && offset >= p.mem[0].base {
		out, next := collectMem(p.mem, offset, bound, maxBytes)
		p.mu.Unlock()
		return out, bound, next, nil
	}
	entries := p.entriesFrom(offset)
	p.mu.Unlock()
	hwm := bound

	// The batches taken from one block are contiguous in it, so each block
	// contributes one slice of the cached bytes: no copy. ReadFrom reads the
	// blocks that maxBytes needs concurrently and reads ahead of them; the
	// first block may hold batches before offset, so it can take another
	// call to fill maxBytes.
	var out [][]byte
	size := 0
	next = offset // the first offset not looked at yet
	for len(entries) > 0 {
		blocks, err := r.ReadFrom(ctx, entries, next, int64(maxBytes-size))
		if err != nil {
			if len(out) > 0 {
				return out, bound, next, nil // the next fetch tries again
			}
			return nil, bound, offset, err
		}
		for _, data := range blocks {
			lo, hi, pos := -1, 0, 0
			err := batch.Iter(data, func(h batch.Header, raw []byte) error {
				start := pos
				pos += len(raw)
				switch {
				case h.LastOffset() < offset:
					return nil
				case h.BaseOffset >= hwm, size > 0 && size+len(raw) > maxBytes:
					return errFull
				}
				if lo < 0 {
					lo = start
				}
				hi = pos
				size += len(raw)
				next = h.LastOffset() + 1
				return nil
			})
			if lo >= 0 {
				out = append(out, data[lo:hi])
			}
			if errors.Is(err, errFull) || size >= maxBytes {
				return out, bound, next, nil
			}
			if err != nil {
				return nil, bound, offset, err
			}
		}
		if len(out) == 0 {
			break // blocks below offset only: the manifest disagrees with them
		}
		entries = entries[sort.Search(len(entries), func(i int) bool { return entries[i].LastOffset >= next }):]
	}
	return out, bound, next, nil
}

var errFull = errors.New("full")

// Prefetch asks r to start loading the object ranges that a read at offset
// of up to maxBytes will need, without waiting: a fetch of many partitions
// calls it for each before reading them one after another.
func (p *Partition) Prefetch(r *tiering.Reader, offset int64, maxBytes int) {
	p.mu.Lock()
	if p.epoch == 0 || offset < p.logStart || offset >= p.hwm || len(p.mem) > 0 && offset >= p.mem[0].base {
		p.mu.Unlock()
		return
	}
	entries := p.entriesFrom(offset)
	p.mu.Unlock()
	r.Prefetch(entries, offset, int64(maxBytes))
}

// entriesFrom returns the manifest entries from the one holding offset on,
// for reads below the memory window. p.mu is held.
func (p *Partition) entriesFrom(offset int64) []metadata.ManifestEntry {
	i := sort.Search(len(p.manifest), func(i int) bool { return p.manifest[i].LastOffset >= offset })
	return p.manifest[i:]
}

// collectMem returns the batches of mem from the one holding offset, below
// bound, at least one and then up to maxBytes, and the offset after them.
func collectMem(mem []memBatch, offset, bound int64, maxBytes int) ([][]byte, int64) {
	i := sort.Search(len(mem), func(i int) bool { return mem[i].last >= offset })
	var out [][]byte
	size := 0
	next := offset
	for ; i < len(mem) && mem[i].base < bound; i++ {
		if len(out) > 0 && size+len(mem[i].data) > maxBytes {
			break
		}
		out = append(out, mem[i].data)
		size += len(mem[i].data)
		next = mem[i].last + 1
	}
	return out, next
}

// OffsetForTime returns the offset and timestamp of the first committed
// record whose timestamp is at least ts, or -1, -1 when there is none. Manifest
// entries, archive blocks and batch headers carry max timestamps (the time
// index), so only the block and the batch that hold the answer are read and
// decoded. A batch that does not decode within batch.MaxDecompressedBytes
// stops the search with its error (batch.IsCorrupt): the answer may be in it.
func (p *Partition) OffsetForTime(ctx context.Context, r *tiering.Reader, ts int64) (offset, timestamp int64, err error) {
	p.mu.Lock()
	logStart, hwm := p.logStart, p.hwm
	manifest := p.manifest // entries are only appended, so this prefix stays valid
	mem := append([]memBatch(nil), p.mem...)
	p.mu.Unlock()

	offset, timestamp = -1, -1
	scan := func(raw []byte) (bool, error) {
		h, err := batch.Parse(raw)
		if err != nil {
			return false, err
		}
		if h.MaxTimestamp < ts || h.LastOffset() < logStart || h.BaseOffset >= hwm {
			return false, nil
		}
		err = batch.RecordTimes(raw, func(o, t int64) bool {
			if o >= logStart && o < hwm && t >= ts {
				offset, timestamp = o, t
				return false
			}
			return true
		})
		return offset >= 0, err
	}
	memFirst := hwm
	if len(mem) > 0 {
		memFirst = mem[0].base
	}
	for _, e := range manifest {
		if e.BaseOffset >= memFirst {
			break // the memory window holds it
		}
		if e.MaxTimestamp < ts || e.LastOffset < logStart {
			continue
		}
		blocks, err := r.Blocks(ctx, e)
		if err != nil {
			return -1, -1, err
		}
		for _, b := range blocks {
			if b.MaxTimestamp < ts || b.LastOffset < logStart {
				continue
			}
			data, err := r.ReadBlock(ctx, b)
			if err != nil {
				return -1, -1, err
			}
			found := false
			var scanErr error // a batch that does not decode (batch.IsCorrupt)
			err = batch.Iter(data, func(_ batch.Header, raw []byte) error {
				if found, scanErr = scan(raw); found || scanErr != nil {
					return errFull // stop
				}
				return nil
			})
			switch {
			case found:
				return offset, timestamp, nil
			case scanErr != nil:
				return -1, -1, scanErr
			case err != nil && !errors.Is(err, errFull):
				return -1, -1, err
			}
		}
	}
	for _, m := range mem {
		if m.base >= hwm {
			break
		}
		found, err := scan(m.data)
		if err != nil {
			return -1, -1, err
		}
		if found {
			return offset, timestamp, nil
		}
	}
	return -1, -1, nil
}

// Size is what the partition holds while this broker leads it (led false
// otherwise): bucket, the bytes of its committed manifest entries at or
// above the log start (in the object store), and pending, the bytes of the
// batches appended but not yet committed (in the WAL, waiting for upload).
func (p *Partition) Size() (bucket, pending int64, led bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.epoch == 0 {
		return 0, 0, false
	}
	for _, e := range p.manifest {
		if e.LastOffset >= p.logStart {
			bucket += e.Size
		}
	}
	for _, mb := range p.mem {
		if mb.base >= p.hwm {
			pending += int64(len(mb.data))
		}
	}
	return bucket, pending, true
}
