package broker

import (
	"context"
	"errors"
	"sort"
	"sync"

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

// partition is the state of one partition this broker knows of. While led
// (epoch > 0, not fenced) it accepts produces; its batches live in memory
// until they are committed and fall out of the tail window.
type partition struct {
	key   metadata.PartitionKey
	topic string

	leading sync.Mutex // serializes attempts to take leadership

	mu       sync.Mutex
	epoch    int64 // 0: not led
	leader   int32 // broker id of the leader while led
	fenced   bool
	next     int64 // log end offset: the next offset to assign
	hwm      int64 // committed: consumers see offsets below it
	logStart int64
	// mem holds every batch not yet committed and the most recent committed
	// ones (up to tailBytes), in offset order.
	mem       []memBatch
	memBytes  int // bytes of committed batches in mem
	manifest  []metadata.ManifestEntry
	producers map[int64]*producerState
	// changed is closed and replaced whenever hwm moves or leadership ends.
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
}

func newPartition(topic string, key metadata.PartitionKey) *partition {
	return &partition{key: key, topic: topic, changed: make(chan struct{}), producers: map[int64]*producerState{}}
}

// lead installs committed state after this broker acquired leadership.
func (p *partition) lead(leader int32, epoch int64, st metadata.PartitionState, manifest []metadata.ManifestEntry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.leader, p.epoch, p.fenced = leader, epoch, false
	p.hwm, p.next, p.logStart = st.HighWatermark, st.HighWatermark, st.LogStartOffset
	p.manifest = manifest
	p.mem, p.memBytes = nil, 0
	p.producers = make(map[int64]*producerState, len(st.Producers))
	for id, ps := range st.Producers {
		p.producers[id] = &producerState{epoch: ps.Epoch, batches: append([]metadata.ProducerBatch(nil), ps.Batches...)}
	}
	p.notify()
}

// leaderEpoch returns the epoch if this broker serves the partition.
func (p *partition) leaderEpoch() (int64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epoch, p.epoch > 0 && !p.fenced
}

func (p *partition) leaderID() int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.leader
}

func (p *partition) isFenced() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fenced
}

// fence stops serving after a commit failed its epoch comparison.
func (p *partition) fence() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fenced = true
	p.notify()
}

func (p *partition) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// appendResult says where a produced batch landed.
type appendResult struct {
	base      int64
	last      int64
	duplicate bool
}

// appendBatch validates the producer state of one validated batch, assigns
// its offsets and hands it to write (the WAL) while holding the partition
// lock, so that WAL order is offset order.
func (p *partition) appendBatch(raw []byte, h batch.Header, logAppendTime int64, write func(raw []byte) error) (appendResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.epoch == 0 || p.fenced {
		return appendResult{}, kerr.NotLeaderForPartition
	}
	var ps *producerState
	if h.Idempotent() {
		ps = p.producers[h.ProducerID]
		if ps != nil {
			switch {
			case h.ProducerEpoch < ps.epoch:
				return appendResult{}, kerr.InvalidProducerEpoch
			case h.ProducerEpoch == ps.epoch:
				for _, pb := range ps.batches {
					if pb.FirstSeq == h.BaseSequence && pb.LastSeq == h.LastSequence() {
						return appendResult{base: pb.BaseOffset, last: pb.BaseOffset + int64(h.LastOffsetDelta), duplicate: true}, nil
					}
				}
				if n := len(ps.batches); n > 0 && h.BaseSequence != nextSeq(ps.batches[n-1].LastSeq) {
					return appendResult{}, kerr.OutOfOrderSequenceNumber
				}
			default: // a bumped epoch starts again at sequence 0
				if h.BaseSequence != 0 {
					return appendResult{}, kerr.OutOfOrderSequenceNumber
				}
			}
		}
	}
	base := p.next
	batch.SetBaseOffset(raw, base)
	if logAppendTime >= 0 {
		batch.SetLogAppendTime(raw, logAppendTime)
		h.MaxTimestamp = logAppendTime
	}
	if err := write(raw); err != nil {
		return appendResult{}, err
	}
	last := base + int64(h.LastOffsetDelta)
	p.next = last + 1
	p.mem = append(p.mem, memBatch{base: base, last: last, maxTs: h.MaxTimestamp, data: raw})
	p.rememberProducer(h, base)
	return appendResult{base: base, last: last}, nil
}

// rememberProducer records an idempotent batch appended at base for
// deduplication of its retries. The caller holds p.mu.
func (p *partition) rememberProducer(h batch.Header, base int64) {
	if !h.Idempotent() {
		return
	}
	ps := p.producers[h.ProducerID]
	if ps == nil || ps.epoch != h.ProducerEpoch {
		ps = &producerState{epoch: h.ProducerEpoch}
		p.producers[h.ProducerID] = ps
	}
	ps.batches = append(ps.batches, metadata.ProducerBatch{FirstSeq: h.BaseSequence, LastSeq: h.LastSequence(), BaseOffset: base})
	if len(ps.batches) > maxProducerBatches {
		ps.batches = ps.batches[1:]
	}
}

func nextSeq(s int32) int32 {
	if s == 1<<31-1 {
		return 0
	}
	return s + 1
}

// replayBatch adds a batch recovered from the WAL that was not yet committed.
func (p *partition) replayBatch(raw []byte, h batch.Header) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h.LastOffset() < p.next {
		return // already committed, or already replayed
	}
	p.mem = append(p.mem, memBatch{base: h.BaseOffset, last: h.LastOffset(), maxTs: h.MaxTimestamp, data: raw})
	p.next = h.LastOffset() + 1
	p.rememberProducer(h, h.BaseOffset)
}

// committed advances the high watermark after the uploader committed entry.
func (p *partition) committed(e metadata.ManifestEntry, st metadata.PartitionState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st.HighWatermark <= p.hwm {
		return
	}
	p.manifest = append(p.manifest, e)
	p.hwm = st.HighWatermark
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

// waitCommitted blocks until offset last is below the high watermark.
func (p *partition) waitCommitted(ctx context.Context, last int64) error {
	for {
		p.mu.Lock()
		hwm, ok, ch := p.hwm, p.epoch > 0 && !p.fenced, p.changed
		p.mu.Unlock()
		if hwm > last {
			return nil
		}
		if !ok {
			return kerr.NotLeaderForPartition
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return kerr.RequestTimedOut
		}
	}
}

// offsets returns the log start offset, the high watermark and the leader
// state in one consistent read.
func (p *partition) offsets() (logStart, hwm int64, led bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logStart, p.hwm, p.epoch > 0 && !p.fenced
}

// errOffsetOutOfRange is returned by read for offsets outside [logStart, hwm].
var errOffsetOutOfRange = errors.New("offset out of range")

// read returns whole committed batches starting with the one holding offset,
// at least one batch and then up to maxBytes. Batches come from memory at
// the tail and from the object store below it.
func (p *partition) read(ctx context.Context, r *tiering.Reader, offset int64, maxBytes int) ([][]byte, error) {
	p.mu.Lock()
	if p.epoch == 0 || p.fenced {
		p.mu.Unlock()
		return nil, kerr.NotLeaderForPartition
	}
	if offset < p.logStart || offset > p.hwm {
		p.mu.Unlock()
		return nil, kerr.OffsetOutOfRange
	}
	if offset == p.hwm {
		p.mu.Unlock()
		return nil, nil
	}
	hwm := p.hwm
	if len(p.mem) > 0 && offset >= p.mem[0].base {
		out := collectMem(p.mem, offset, hwm, maxBytes)
		p.mu.Unlock()
		return out, nil
	}
	// Below the memory window: find the manifest entry holding offset.
	i := sort.Search(len(p.manifest), func(i int) bool { return p.manifest[i].LastOffset >= offset })
	entries := p.manifest[i:]
	p.mu.Unlock()

	// The batches taken from one entry are contiguous in its range, so each
	// entry contributes one slice of the cached range: no copy.
	var out [][]byte
	size := 0
	for _, e := range entries {
		data, err := r.Read(ctx, e)
		if err != nil {
			return nil, err
		}
		lo, hi, pos := -1, 0, 0
		err = batch.Iter(data, func(h batch.Header, raw []byte) error {
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
			return nil
		})
		if lo >= 0 {
			out = append(out, data[lo:hi])
		}
		if errors.Is(err, errFull) || size >= maxBytes {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

var errFull = errors.New("full")

func collectMem(mem []memBatch, offset, hwm int64, maxBytes int) [][]byte {
	i := sort.Search(len(mem), func(i int) bool { return mem[i].last >= offset })
	var out [][]byte
	size := 0
	for ; i < len(mem) && mem[i].base < hwm; i++ {
		if len(out) > 0 && size+len(mem[i].data) > maxBytes {
			break
		}
		out = append(out, mem[i].data)
		size += len(mem[i].data)
	}
	return out
}

// offsetForTime returns the offset and timestamp of the first committed
// record whose timestamp is at least ts, or -1, -1 when there is none. Manifest
// entries (and batch headers) carry max timestamps, so only the batch that
// holds the answer is decoded.
func (p *partition) offsetForTime(ctx context.Context, r *tiering.Reader, ts int64) (offset, timestamp int64, err error) {
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
		data, err := r.Read(ctx, e)
		if err != nil {
			return -1, -1, err
		}
		found := false
		err = batch.Iter(data, func(_ batch.Header, raw []byte) error {
			var err error
			if found, err = scan(raw); found || err != nil {
				return errFull // stop
			}
			return nil
		})
		if found {
			return offset, timestamp, nil
		}
		if err != nil && !errors.Is(err, errFull) {
			return -1, -1, err
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
