package e2e

// The workload and the checker of TestCluster. Producers write numbered
// records to every partition for the whole test, consumers read every
// partition from its start, and after each fault the checker reads every
// partition again with a fresh client and compares the log with what the
// producers were told and what the consumers saw.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// tp names one partition of one topic.
type tp struct {
	Topic     string
	Partition int32
}

func (p tp) String() string { return p.Topic + "/" + strconv.Itoa(int(p.Partition)) }

// seqValue is the value of record seq of a partition: "topic/partition/seq/"
// and padding to 100 bytes. Each partition has its own sequence, so the
// sequence numbers of a partition's records must increase with their offsets.
func seqValue(p tp, seq int64) []byte {
	v := fmt.Appendf(nil, "%s/%d/%09d/", p.Topic, p.Partition, seq)
	return append(v, bytes.Repeat([]byte("x"), max(0, 100-len(v)))...)
}

// parseSeqValue returns the partition and sequence number seqValue wrote in v.
func parseSeqValue(v string) (tp, int64, bool) {
	f := strings.Split(v, "/")
	if len(f) != 4 || strings.Trim(f[3], "x") != "" {
		return tp{}, 0, false
	}
	part, err1 := strconv.ParseInt(f[1], 10, 32)
	seq, err2 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil {
		return tp{}, 0, false
	}
	return tp{f[0], int32(part)}, seq, true
}

// ack is one acknowledged record.
type ack struct {
	Seq      int64
	Offset   int64
	Produced time.Time // when Produce was called
	Acked    time.Time // when its promise ran
}

// partState is what the producers know about one partition. A partition has
// one producer client, which keeps its records in order, so acks are in
// sequence (and so in Produced and Acked) order.
type partState struct {
	next   int64 // the sequence number of the next record
	acks   []ack
	failed int64 // records the producer gave up on: never acknowledged
}

// workloadMaxBuffered bounds each producer's buffer. A producer whose buffer
// is full skips a round rather than block, so that pausing never waits on a
// stalled cluster.
const workloadMaxBuffered = 10000

// workload produces and consumes numbered records on topics, each with the
// same number of partitions, from the start of TestCluster to its end.
type workload struct {
	topics     []string
	partitions int32
	interval   time.Duration // between rounds of one record per partition

	clients []*kgo.Client
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	// Producers hold gate for reading while they issue a round of records;
	// pause takes it for writing, so that nothing new is produced until
	// resume.
	gate     sync.RWMutex
	paused   bool // guarded by the caller: pause and resume run on the test goroutine
	inflight atomic.Int64

	mu        sync.Mutex
	parts     map[tp]*partState
	seen      map[tp]map[int64]string // offset → value, as consumers (and past checks) read them
	changed   []string                // an offset that a consumer read again with another value
	prodErrs  map[string]int          // produce errors by message
	fetchErrs map[string]int          // consumer errors by message
	dataLoss  []string                // data loss that franz-go's consumers detected
	skipped   int                     // rounds skipped because a producer's buffer was full
}

// startWorkload starts one idempotent acks=all producer and one consumer per
// topic, with clients made by newClient, and stops and closes them when the
// test ends.
func startWorkload(t *testing.T, topics []string, partitions int32, interval time.Duration, newClient func(...kgo.Opt) *kgo.Client) *workload {
	t.Helper()
	w := &workload{
		topics: topics, partitions: partitions, interval: interval,
		parts: map[tp]*partState{}, seen: map[tp]map[int64]string{},
		prodErrs: map[string]int{}, fetchErrs: map[string]int{},
	}
	for _, p := range w.all() {
		w.parts[p] = &partState{}
		w.seen[p] = map[int64]string{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	for _, topic := range topics {
		prod := newClient(
			kgo.RequiredAcks(kgo.AllISRAcks()), // idempotence is franz-go's default
			kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.MaxBufferedRecords(workloadMaxBuffered),
			// Unlimited retries and no delivery timeout (franz-go's defaults):
			// a record fails only on an error that is not retriable.
		)
		offsets := map[int32]kgo.Offset{}
		for p := range partitions {
			offsets[p] = kgo.NewOffset().AtStart()
		}
		cons := newClient(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
			kgo.FetchMaxWait(500*time.Millisecond))
		w.clients = append(w.clients, prod, cons)
		w.wg.Add(2)
		go func() { defer w.wg.Done(); w.produce(ctx, prod, topic) }()
		go func() { defer w.wg.Done(); w.consume(ctx, cons) }()
	}
	t.Cleanup(w.stop)
	return w
}

// all lists every partition of every topic.
func (w *workload) all() []tp {
	var out []tp
	for _, topic := range w.topics {
		for p := range w.partitions {
			out = append(out, tp{topic, p})
		}
	}
	return out
}

func (w *workload) stop() {
	if w.paused {
		w.resume()
	}
	w.cancel()
	w.wg.Wait()
	for _, cl := range w.clients {
		cl.Close()
	}
}

// ticks yields every d until ctx ends: a loop over it runs its body once
// a tick.
func ticks(ctx context.Context, d time.Duration) iter.Seq[time.Time] {
	return func(yield func(time.Time) bool) {
		tick := time.NewTicker(d)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-tick.C:
				if !yield(now) {
					return
				}
			}
		}
	}
}

// produce issues one record to every partition of topic every interval.
func (w *workload) produce(ctx context.Context, cl *kgo.Client, topic string) {
	for range ticks(ctx, w.interval) {
		w.gate.RLock()
		if cl.BufferedProduceRecords()+int64(w.partitions) > workloadMaxBuffered {
			w.mu.Lock()
			w.skipped++
			w.mu.Unlock()
			w.gate.RUnlock()
			continue
		}
		for p := range w.partitions {
			w.produceOne(ctx, cl, tp{topic, p})
		}
		w.gate.RUnlock()
	}
}

func (w *workload) produceOne(ctx context.Context, cl *kgo.Client, p tp) {
	w.mu.Lock()
	st := w.parts[p]
	seq := st.next
	st.next++
	w.mu.Unlock()
	produced := time.Now()
	w.inflight.Add(1)
	cl.Produce(ctx, &kgo.Record{Topic: p.Topic, Partition: p.Partition, Value: seqValue(p, seq)}, func(r *kgo.Record, err error) {
		now := time.Now()
		w.mu.Lock()
		if err == nil {
			st.acks = append(st.acks, ack{Seq: seq, Offset: r.Offset, Produced: produced, Acked: now})
		} else {
			st.failed++
			if !errors.Is(err, context.Canceled) && !errors.Is(err, kgo.ErrClientClosed) {
				w.prodErrs[err.Error()]++
			}
		}
		w.mu.Unlock()
		w.inflight.Add(-1)
	})
}

// consume remembers every record cl reads, and any offset read twice with
// different values.
func (w *workload) consume(ctx context.Context, cl *kgo.Client) {
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		w.mu.Lock()
		fs.EachError(func(topic string, p int32, err error) {
			var loss *kgo.ErrDataLoss
			switch {
			case errors.As(err, &loss):
				w.dataLoss = append(w.dataLoss, fmt.Sprintf("%s/%d: %v", topic, p, err))
			case !errors.Is(err, context.Canceled):
				w.fetchErrs[err.Error()]++
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			w.sawLocked(tp{r.Topic, r.Partition}, r.Offset, string(r.Value), "a consumer")
		})
		w.mu.Unlock()
	}
}

// sawLocked records that who read value at offset of p.
func (w *workload) sawLocked(p tp, offset int64, value, who string) {
	seen := w.seen[p]
	if seen == nil {
		return // not a partition of the workload (reported by the checker)
	}
	if prev, ok := seen[offset]; ok && prev != value {
		w.changed = append(w.changed, fmt.Sprintf("%s@%d: %s read %.24q, earlier %.24q", p, offset, who, value, prev))
	}
	seen[offset] = value
}

// pause stops issuing records and waits up to within for those in flight to
// be answered; it says how many were still waiting.
func (w *workload) pause(within time.Duration) error {
	w.gate.Lock()
	w.paused = true
	deadline := time.Now().Add(within)
	for w.inflight.Load() > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d records still unanswered %s after producing paused", w.inflight.Load(), within)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

func (w *workload) resume() {
	w.paused = false
	w.gate.Unlock()
}

// totals are the records acknowledged and given up on so far.
func (w *workload) totals() (acked, failed int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, st := range w.parts {
		acked += len(st.acks)
		failed += int(st.failed)
	}
	return acked, failed
}

// recoveredAt is when every partition had acknowledged a record produced at
// or after t0, the time a fault injected at t0 took to heal as producers see
// it; ok is false while some partition has not. Partitions the fault did not
// touch acknowledge at once, so this is the recovery of the slowest one.
func (w *workload) recoveredAt(t0 time.Time) (at time.Time, ok bool, waiting []tp) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.all() {
		acks := w.parts[p].acks
		i := sort.Search(len(acks), func(i int) bool { return !acks[i].Produced.Before(t0) })
		if i == len(acks) {
			waiting = append(waiting, p)
			continue
		}
		if acks[i].Acked.After(at) {
			at = acks[i].Acked
		}
	}
	return at, len(waiting) == 0, waiting
}

// clientReport summarizes what the clients said that was not a record: the
// errors producers and consumers got, and rounds skipped for a full buffer.
func (w *workload) clientReport() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var b strings.Builder
	top := func(what string, m map[string]int) {
		type kv struct {
			msg string
			n   int
		}
		var all []kv
		for msg, n := range m {
			all = append(all, kv{msg, n})
		}
		slices.SortFunc(all, func(a, b kv) int { return b.n - a.n })
		for _, e := range all[:min(len(all), 5)] {
			fmt.Fprintf(&b, "\n  %s error ×%d: %s", what, e.n, e.msg)
		}
	}
	top("produce", w.prodErrs)
	top("fetch", w.fetchErrs)
	if w.skipped > 0 {
		fmt.Fprintf(&b, "\n  %d producer rounds skipped: buffer full", w.skipped)
	}
	return b.String()
}

// verdict is what a check found. Counts are over the whole log so far: a
// record lost in an earlier phase is counted again in later ones.
type verdict struct {
	Read           int // records read
	Lost           int // acknowledged, not in the log
	Duplicated     int // a sequence number more than once in its partition (extra copies)
	OutOfOrder     int // a record after one with a higher sequence number
	Gaps           int // an offset not one past the previous (or a first offset not 0)
	Moved          int // acknowledged at one offset, found at another, or in a wrong partition
	Vanished       int // read earlier (by a consumer or a check), now gone or different
	UnackedPresent int // present, never acknowledged (allowed, once)
	Problems       []string
}

func (v *verdict) ok() bool {
	return v.Lost+v.Duplicated+v.OutOfOrder+v.Gaps+v.Moved+v.Vanished == 0 && len(v.Problems) == 0
}

// String sums the verdict up: the counts, then the first problems.
func (v *verdict) String() string {
	return fmt.Sprintf("%d read, %d lost, %d duplicated, %d out of order, %d offset gaps, %d moved, %d vanished; first problems:\n%s",
		v.Read, v.Lost, v.Duplicated, v.OutOfOrder, v.Gaps, v.Moved, v.Vanished, strings.Join(v.Problems, "\n"))
}

// problem keeps the first few examples of each kind of problem.
func (v *verdict) problem(kind string, counts map[string]int, format string, args ...any) {
	counts[kind]++
	if counts[kind] <= 5 {
		v.Problems = append(v.Problems, kind+": "+fmt.Sprintf(format, args...))
	}
}

// readRecord is one record the checker read.
type readRecord struct {
	Offset int64
	Value  string
}

// check reads every partition from its start up to its high watermark with a
// fresh client and checks the log against the acknowledgements and against
// what was read before. Call it while producing is paused. The error is for
// a check that could not be made (the partitions could not be read).
func (w *workload) check(ctx context.Context, newClient func(...kgo.Opt) *kgo.Client) (verdict, error) {
	// What was seen before the high watermarks are listed: a high watermark
	// below an offset seen has gone backwards.
	w.mu.Lock()
	acked := map[tp][]ack{}
	seen := map[tp]map[int64]string{}
	for p, st := range w.parts {
		acked[p] = slices.Clone(st.acks)
		seen[p] = make(map[int64]string, len(w.seen[p]))
		for off, val := range w.seen[p] {
			seen[p][off] = val
		}
	}
	changed := slices.Clone(w.changed)
	dataLoss := slices.Clone(w.dataLoss)
	w.mu.Unlock()

	ends, err := w.waitEnds(ctx, newClient, acked)
	if err != nil {
		return verdict{}, err
	}
	logs, fetchErrs, err := w.readAll(ctx, newClient, ends)
	if err != nil {
		return verdict{}, err
	}

	var v verdict
	counts := map[string]int{}
	for _, e := range fetchErrs {
		v.problem("checker's fetch failed", counts, "%s", e)
	}
	for _, p := range w.all() {
		w.checkPartition(&v, counts, p, logs[p], ends[p], acked[p], seen[p])
	}
	for _, c := range changed {
		v.Vanished++
		v.problem("changed under a consumer", counts, "%s", c)
	}
	for _, d := range dataLoss {
		v.problem("consumer detected data loss", counts, "%s", d)
	}

	// What this check read must stay: the next checks verify it too.
	w.mu.Lock()
	for p, recs := range logs {
		for _, r := range recs {
			w.sawLocked(p, r.Offset, r.Value, "a check")
		}
	}
	w.mu.Unlock()
	return v, nil
}

// checkPartition checks one partition's log, read up to end, against the
// records acknowledged and seen on it.
func (w *workload) checkPartition(v *verdict, counts map[string]int, p tp, log []readRecord, end int64, acked []ack, seen map[int64]string) {
	v.Read += len(log)
	at := make(map[int64]string, len(log))     // offset → value
	where := make(map[int64][]int64, len(log)) // sequence number → offsets
	maxSeq, prevOff := int64(-1), int64(-1)
	for _, r := range log {
		at[r.Offset] = r.Value
		if r.Offset != prevOff+1 {
			v.Gaps++
			v.problem("offset gap", counts, "%s: offset %d follows %d", p, r.Offset, prevOff)
		}
		prevOff = r.Offset
		rp, seq, ok := parseSeqValue(r.Value)
		switch {
		case !ok:
			v.Moved++
			v.problem("malformed", counts, "%s@%d: value %.40q", p, r.Offset, r.Value)
			continue
		case rp != p:
			v.Moved++
			v.problem("wrong partition", counts, "%s@%d: record %d of %s", p, r.Offset, seq, rp)
			continue
		}
		if prev := where[seq]; len(prev) > 0 {
			v.Duplicated++
			v.problem("duplicate", counts, "%s: record %d at offsets %v and %d", p, seq, prev, r.Offset)
		} else if seq < maxSeq {
			v.OutOfOrder++
			v.problem("out of order", counts, "%s@%d: record %d after record %d", p, r.Offset, seq, maxSeq)
		}
		where[seq] = append(where[seq], r.Offset)
		maxSeq = max(maxSeq, seq)
	}
	if n := int64(len(log)); n > 0 && prevOff != end-1 {
		v.Gaps++
		v.problem("offset gap", counts, "%s: last offset read %d, high watermark %d", p, prevOff, end)
	}

	isAcked := make(map[int64]bool, len(acked))
	for _, a := range acked {
		isAcked[a.Seq] = true
		offs := where[a.Seq]
		switch {
		case len(offs) == 0:
			v.Lost++
			v.problem("lost", counts, "%s: record %d acknowledged at offset %d, not in the log (high watermark %d)", p, a.Seq, a.Offset, end)
		case !slices.Contains(offs, a.Offset):
			v.Moved++
			v.problem("moved", counts, "%s: record %d acknowledged at offset %d, found at %v", p, a.Seq, a.Offset, offs)
		}
	}
	for seq := range where {
		if !isAcked[seq] {
			v.UnackedPresent++
		}
	}

	for off, val := range seen {
		got, ok := at[off]
		switch {
		case !ok:
			v.Vanished++
			v.problem("vanished", counts, "%s@%d: read before (%.24q), now gone (high watermark %d)", p, off, val, end)
		case got != val:
			v.Vanished++
			v.problem("vanished", counts, "%s@%d: read before as %.24q, now %.24q", p, off, val, got)
		}
	}
}

// waitEnds lists every partition's high watermark, waiting up to 30 s for
// each to pass the last acknowledged offset (a partition just taken over may
// still be loading; a high watermark that stays below is reported as loss).
func (w *workload) waitEnds(ctx context.Context, newClient func(...kgo.Opt) *kgo.Client, acked map[tp][]ack) (map[tp]int64, error) {
	cl := newClient()
	defer cl.Close()
	adm := kadm.NewClient(cl)
	need := map[tp]int64{}
	for p, acks := range acked {
		for _, a := range acks {
			need[p] = max(need[p], a.Offset+1)
		}
	}
	covered := time.Now().Add(30 * time.Second)
	listed := time.Now().Add(90 * time.Second)
	var last error
	for {
		ends, err := listEnds(ctx, adm, w.topics, w.all())
		if err == nil {
			ok := true
			for p, n := range need {
				ok = ok && ends[p] >= n
			}
			if ok || time.Now().After(covered) {
				return ends, nil
			}
		} else {
			last = err
		}
		if time.Now().After(listed) || ctx.Err() != nil {
			return nil, fmt.Errorf("list high watermarks: %v", last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func listEnds(ctx context.Context, adm *kadm.Client, topics []string, all []tp) (map[tp]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	listed, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, err
	}
	ends := map[tp]int64{}
	for _, p := range all {
		o, ok := listed.Lookup(p.Topic, p.Partition)
		switch {
		case !ok:
			return nil, fmt.Errorf("%s not listed", p)
		case o.Err != nil:
			return nil, fmt.Errorf("%s: %w", p, o.Err)
		}
		ends[p] = o.Offset
	}
	return ends, nil
}

// readAll reads every partition from its start up to ends. It also returns
// the errors other than retriable ones that fetches got (data loss, for one).
func (w *workload) readAll(ctx context.Context, newClient func(...kgo.Opt) *kgo.Client, ends map[tp]int64) (map[tp][]readRecord, []string, error) {
	consume := map[string]map[int32]kgo.Offset{}
	for p, end := range ends {
		if end > 0 {
			if consume[p.Topic] == nil {
				consume[p.Topic] = map[int32]kgo.Offset{}
			}
			consume[p.Topic][p.Partition] = kgo.NewOffset().AtStart()
		}
	}
	logs := map[tp][]readRecord{}
	if len(consume) == 0 {
		return logs, nil, nil
	}
	cl := newClient(kgo.ConsumePartitions(consume), kgo.FetchMaxWait(250*time.Millisecond))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	next := map[tp]int64{}
	done := func() bool {
		for p, end := range ends {
			if next[p] < end {
				return false
			}
		}
		return true
	}
	var fetchErrs []string
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			var behind []string
			for _, p := range w.all() {
				if next[p] < ends[p] {
					behind = append(behind, fmt.Sprintf("%s at %d of %d", p, next[p], ends[p]))
				}
			}
			return nil, nil, fmt.Errorf("read up to the high watermarks: %v; behind: %s; fetch errors: %s",
				ctx.Err(), strings.Join(behind, ", "), strings.Join(fetchErrs[max(0, len(fetchErrs)-5):], "; "))
		}
		fs.EachError(func(topic string, part int32, err error) {
			if !kerr.IsRetriable(err) {
				fetchErrs = append(fetchErrs, fmt.Sprintf("%s/%d: %v", topic, part, err))
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			p := tp{r.Topic, r.Partition}
			switch {
			case r.Offset >= ends[p]:
				return // produced after the high watermarks were listed
			case r.Offset < next[p]:
				// Read again after the client reset its position (it
				// reports why among the fetch errors).
				return
			}
			logs[p] = append(logs[p], readRecord{r.Offset, string(r.Value)})
			next[p] = max(next[p], r.Offset+1)
		})
	}
	return logs, fetchErrs, nil
}

// TestClusterChecker feeds the checker logs with each kind of fault, so that
// a passing TestCluster means something.
func TestClusterChecker(t *testing.T) {
	p := tp{"t", 0}
	// log builds a partition's log from sequence numbers, at offsets 0, 1, ...
	log := func(seqs ...int64) []readRecord {
		var out []readRecord
		for i, s := range seqs {
			out = append(out, readRecord{int64(i), string(seqValue(p, s))})
		}
		return out
	}
	// acks says records 0..n-1 were acknowledged at offsets 0..n-1.
	acks := func(n int64) []ack {
		var out []ack
		for s := range n {
			out = append(out, ack{Seq: s, Offset: s})
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		log   []readRecord
		end   int64
		acked []ack
		seen  map[int64]string
		want  verdict // counts only
	}{
		{name: "clean", log: log(0, 1, 2, 3), end: 4, acked: acks(4), seen: map[int64]string{2: string(seqValue(p, 2))}},
		{name: "unacknowledged present once", log: log(0, 1, 2, 3), end: 4, acked: acks(2), want: verdict{UnackedPresent: 2}},
		{name: "acknowledged record missing", log: log(0, 1, 2), end: 3, acked: acks(4), want: verdict{Lost: 1}},
		{name: "duplicate", log: log(0, 1, 1, 2), end: 4, acked: acks(1), want: verdict{Duplicated: 1, UnackedPresent: 2}},
		{name: "out of order", log: log(0, 2, 1, 3), end: 4, acked: acks(4), want: verdict{OutOfOrder: 1, Moved: 2}},
		{name: "offset gap", log: []readRecord{{0, string(seqValue(p, 0))}, {2, string(seqValue(p, 1))}}, end: 3,
			want: verdict{Gaps: 1, UnackedPresent: 2}},
		{name: "short of the high watermark", log: log(0, 1), end: 3, acked: acks(2), want: verdict{Gaps: 1}},
		{name: "seen, then gone", log: log(0, 1), end: 2, acked: acks(2), seen: map[int64]string{2: string(seqValue(p, 2))},
			want: verdict{Vanished: 1}},
		{name: "seen, then changed", log: log(0, 1), end: 2, acked: acks(2), seen: map[int64]string{1: string(seqValue(p, 7))},
			want: verdict{Vanished: 1}},
		{name: "wrong partition", log: []readRecord{{0, string(seqValue(tp{"t", 1}, 0))}}, end: 1, want: verdict{Moved: 1}},
		{name: "malformed", log: []readRecord{{0, "junk"}}, end: 1, want: verdict{Moved: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &workload{topics: []string{"t"}, partitions: 1}
			var v verdict
			w.checkPartition(&v, map[string]int{}, p, tc.log, tc.end, tc.acked, tc.seen)
			problems := v.Problems
			v.Problems, v.Read = nil, 0
			if !reflect.DeepEqual(v, tc.want) {
				t.Errorf("got %+v, want %+v; problems:\n%s", v, tc.want, strings.Join(problems, "\n"))
			}
			if v.ok() != (len(problems) == 0) {
				t.Errorf("ok() = %v with problems %q", v.ok(), problems)
			}
		})
	}
}
