package partition

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/internal/batch"
	"github.com/strata-io/strata/metadata"
)

// Transactions in the log.
//
// A partition keeps, under p.mu: txns, the ongoing transactions by the log
// (a producer's first transactional batch since its last marker opens one,
// its marker ends it: metadata.OpenTxns.Apply, which the uploader applies
// to the same batches for the committed state); closing, the transactions
// whose marker is appended but not committed yet, which still hold the last
// stable offset back; and pendingAborted, the aborted ranges of markers
// whose manifest entry is not in p.manifest yet.

// closingTxn is a transaction whose marker is not committed yet.
type closingTxn struct {
	first, marker int64
}

// applyTxn records the transaction transition of the batch raw (header h,
// appended at h.BaseOffset). The caller holds p.mu.
func (p *Partition) applyTxn(h batch.Header, raw []byte) {
	if !h.Transactional() || !h.Idempotent() {
		return
	}
	tb := metadata.TxnBatchOf(h, raw)
	if p.txns == nil {
		p.txns = metadata.OpenTxns{}
	}
	first, open := p.txns[h.ProducerID]
	at, aborted := p.txns.Apply(tb)
	if h.Control() && open {
		p.closing = append(p.closing, closingTxn{first: first, marker: tb.LastOffset})
	}
	if aborted {
		p.pendingAborted = append(p.pendingAborted, at)
	}
}

// lso is the last stable offset. The caller holds p.mu.
func (p *Partition) lso() int64 {
	lso := p.txns.Stable(p.hwm)
	for _, c := range p.closing {
		lso = min(lso, c.first)
	}
	return lso
}

// LastStableOffset is the partition's last stable offset: the high
// watermark, or the first offset of the oldest transaction whose marker
// is not committed yet, whichever is lower. read_committed consumers see
// the offsets below it only.
func (p *Partition) LastStableOffset() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lso()
}

// Bounds returns the log start offset, the last stable offset and the
// high watermark in one consistent read.
func (p *Partition) Bounds() (logStart, lso, hwm int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logStart, p.lso(), p.hwm
}

// InTxn reports whether the producer has an ongoing transaction on the
// partition: a transactional batch of it was appended since its last
// marker here. The broker verifies a producer's first transactional batch
// with its transaction coordinator (when this is false) before appending it.
func (p *Partition) InTxn(producerID int64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.txns[producerID]
	return ok
}

// MarkerNeeded reports whether AppendMarker would append mk: the producer
// has an ongoing transaction on the partition, or mk raises the epoch the
// partition knows for it (a coordinator's abort that fences the producer,
// on a timeout or a new InitProducerId). The second case closes a race: a
// batch verified just before its transaction was aborted, and appended
// just after the marker went by, would otherwise open a transaction no
// marker ever ends; appended, the marker fences that batch
// (INVALID_PRODUCER_EPOCH), in the committed state too.
func (p *Partition) MarkerNeeded(mk metadata.TxnMarker) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.markerNeeded(mk)
}

// markerNeeded is MarkerNeeded; the caller holds p.mu.
func (p *Partition) markerNeeded(mk metadata.TxnMarker) bool {
	if _, open := p.txns[mk.ProducerID]; open {
		return true
	}
	ps := p.producers[mk.ProducerID]
	return ps == nil || mk.ProducerEpoch > ps.epoch
}

// InTxnEpoch reports whether the producer has an ongoing transaction on
// the partition under epoch: InTxn, and epoch is the producer's epoch
// here. Under transaction version 2 every transaction has its own epoch,
// so a batch of a newer epoch than the open transaction's begins another
// transaction, which the coordinator refuses until the open one's marker
// is written here.
func (p *Partition) InTxnEpoch(producerID int64, epoch int16) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.txns[producerID]; !ok {
		return false
	}
	ps := p.producers[producerID]
	return ps != nil && ps.epoch == epoch
}

// AppendMarker appends mk's COMMIT or ABORT control batch, timestamped
// now, as Append appends a batch (write is called under the partition
// lock). If MarkerNeeded is false nothing is appended and ok is false:
// there is nothing to end or fence (a marker delivered again is harmless).
// A marker of an older epoch than the producer's on the partition is
// INVALID_PRODUCER_EPOCH; a newer one raises it (the producer's
// older-epoch batches are fenced from then on).
func (p *Partition) AppendMarker(mk metadata.TxnMarker, now int64, write func(epoch int64, raw []byte) error) (res AppendResult, ok bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.epoch == 0 || p.resigning {
		return AppendResult{}, false, kerr.NotLeaderForPartition
	}
	if !p.markerNeeded(mk) {
		return AppendResult{}, false, nil
	}
	if ps := p.producers[mk.ProducerID]; ps != nil && mk.ProducerEpoch < ps.epoch {
		return AppendResult{}, false, kerr.InvalidProducerEpoch
	}
	raw := batch.AppendControlBatch(make([]byte, 0, batch.ControlBatchSize), mk.ProducerID, mk.ProducerEpoch, mk.Commit, mk.CoordinatorEpoch, now)
	h, err := batch.Parse(raw)
	if err != nil {
		return AppendResult{}, false, err
	}
	base := p.next
	batch.SetBaseOffset(raw, base)
	batch.SetPartitionLeaderEpoch(raw, p.leaderEpoch)
	h.BaseOffset, h.PartitionLeaderEpoch = base, p.leaderEpoch
	if err := write(p.epoch, raw); err != nil {
		return AppendResult{}, false, err
	}
	p.next = base + 1
	p.mem = append(p.mem, memBatch{base: base, last: base, maxTs: now, data: raw})
	p.rememberProducer(h, raw)
	if ps := p.producers[mk.ProducerID]; ps != nil {
		ps.coordinatorEpoch = mk.CoordinatorEpoch
	}
	return AppendResult{Epoch: p.epoch, Base: base, Last: base}, true, nil
}

// committedTxns forgets the closing transactions whose markers are now
// committed and the pending aborted ranges that p.manifest now holds. The
// caller holds p.mu.
func (p *Partition) committedTxns() {
	keep := p.closing[:0]
	for _, c := range p.closing {
		if c.marker >= p.hwm {
			keep = append(keep, c)
		}
	}
	clear(p.closing[len(keep):])
	p.closing = keep
	if n := len(p.manifest); n > 0 && len(p.pendingAborted) > 0 {
		last := p.manifest[n-1].LastOffset
		i := sort.Search(len(p.pendingAborted), func(i int) bool { return p.pendingAborted[i].LastOffset > last })
		p.pendingAborted = append(p.pendingAborted[:0], p.pendingAborted[i:]...)
	}
}

// abortedIn returns the aborted transactions that overlap the committed
// offsets [offset, upper), by Kafka's rule: from the manifest entry holding
// offset onward, then the committed markers not in the manifest yet,
// stopping after the first whose Stable is above upper (every later abort
// began at or above upper). Only the in-memory manifest is read. The
// caller holds p.mu.
func (p *Partition) abortedIn(offset, upper int64) []metadata.AbortedTxn {
	var out []metadata.AbortedTxn
	take := func(list []metadata.AbortedTxn) bool {
		for _, at := range list {
			if at.LastOffset >= p.hwm {
				return true
			}
			if at.LastOffset >= offset && at.FirstOffset < upper {
				out = append(out, at)
			}
			if at.Stable > upper {
				return true
			}
		}
		return false
	}
	entries := p.entriesFrom(offset)
	for _, e := range entries {
		if len(e.Aborted) > 0 && take(e.Aborted) {
			return out
		}
	}
	last := int64(-1)
	if n := len(p.manifest); n > 0 {
		last = p.manifest[n-1].LastOffset
	}
	i := sort.Search(len(p.pendingAborted), func(i int) bool { return p.pendingAborted[i].LastOffset > last })
	take(p.pendingAborted[i:])
	return out
}

// ProducerInfo is one producer's state on a partition, as DescribeProducers
// shows it.
type ProducerInfo struct {
	ProducerID    int64
	Epoch         int16
	LastSequence  int32 // -1: none
	LastTimestamp int64 // -1: unknown (not kept in the committed state)
	// CoordinatorEpoch is the coordinator epoch of the producer's last
	// marker appended by this leader (-1: none).
	CoordinatorEpoch int32
	TxnStartOffset   int64 // -1: no ongoing transaction
}

// Producers returns the state of the partition's producers, by producer id,
// or NOT_LEADER_OR_FOLLOWER if this broker does not lead it.
func (p *Partition) Producers() ([]ProducerInfo, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.epoch == 0 {
		return nil, kerr.NotLeaderForPartition
	}
	out := make([]ProducerInfo, 0, len(p.producers))
	for id, ps := range p.producers {
		pi := ProducerInfo{ProducerID: id, Epoch: ps.epoch, LastSequence: -1, LastTimestamp: ps.lastTs,
			CoordinatorEpoch: ps.coordinatorEpoch, TxnStartOffset: -1}
		if n := len(ps.batches); n > 0 {
			pi.LastSequence = ps.batches[n-1].LastSeq
		}
		if first, ok := p.txns[id]; ok {
			pi.TxnStartOffset = first
		}
		out = append(out, pi)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ProducerID < out[j].ProducerID })
	return out, nil
}
