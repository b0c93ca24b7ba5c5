package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Options say where Run sends the workload and how it reports.
type Options struct {
	// Bootstrap is the seed brokers, host:port each; or the single word
	// "kfake" (or "kfake:N" for N brokers) for franz-go's in-memory kfake
	// cluster, started in this process for the run: the reference that
	// Strata is compared with.
	Bootstrap []string
	// Label names the run in reports; empty = the workload's Label.
	Label string
	// Progress receives a line per Interval; nil = none.
	Progress io.Writer
	// Interval is the time-series and progress interval; 0 = 1 s.
	Interval time.Duration
	// SetupTimeout bounds creating the topics and the consumer groups'
	// first assignment; 0 = 60 s.
	SetupTimeout time.Duration
	// Grace is what a run may take beyond its warm-up, duration and drain
	// timeout, for setting up and for closing its clients, before its
	// deadline cuts it short; 0 = DefaultGrace.
	Grace time.Duration
	// ClientOpts are added to every client's options (TLS, SASL, hooks).
	ClientOpts []kgo.Opt
}

// DefaultGrace is Options.Grace's default.
const DefaultGrace = 30 * time.Second

// Validate explains every bad value of o.
func (o *Options) Validate() error {
	var problems []string
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"interval", o.Interval}, {"setup-timeout", o.SetupTimeout}, {"grace", o.Grace}} {
		if d.v < 0 {
			problems = append(problems, fmt.Sprintf("--%s must be 0 or more, got %s", d.flag, d.v))
		}
	}
	if len(problems) > 0 {
		return &ValidationError{problems}
	}
	return nil
}

// Errors of Run.
var (
	ErrSetup = errors.New("loadgen: setup")
	// ErrDeadline is the error of a run that its deadline cut short.
	ErrDeadline = errors.New("loadgen: cut short by the run's deadline")
)

// deadline is how long a run may take in all: its warm-up, duration and
// drain timeout, and the grace for setting up and closing. Every wait of
// the run ends by then, whatever the cluster does.
func deadline(w Workload, o Options) time.Duration {
	return w.Warmup + w.Duration + w.DrainTimeout + o.Grace
}

// Run runs w against the cluster and returns what it measured. If ctx ends
// first, Run stops producing and consuming at once and returns what it had
// with ctx's error. A run ends by its deadline (warm-up + duration + drain
// timeout + Options.Grace after Run is called) even if the cluster stops
// answering: every client and goroutine it started is stopped then, and Run
// returns what was measured so far, with Result.CutShort set and an error
// wrapping ErrDeadline. A verification that finds faults is not an error:
// see Result.Failed.
func Run(ctx context.Context, w Workload, o Options) (*Result, error) {
	began := time.Now()
	if err := w.Validate(); err != nil {
		return nil, err
	}
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Interval == 0 {
		o.Interval = time.Second
	}
	if o.SetupTimeout == 0 {
		o.SetupTimeout = time.Minute
	}
	if o.Grace == 0 {
		o.Grace = DefaultGrace
	}
	limit := deadline(w, o)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	bootstrap := strings.Join(o.Bootstrap, ",")
	seeds := o.Bootstrap
	if n, ok, err := kfakeBrokers(bootstrap); err != nil {
		return nil, err
	} else if ok {
		fake, err := startKfake(n)
		if err != nil {
			return nil, err
		}
		defer fake.Close()
		seeds = fake.ListenAddrs()
	}
	if len(seeds) == 0 {
		return nil, fmt.Errorf("%w: no bootstrap address", ErrSetup)
	}
	label := o.Label
	if label == "" {
		label = w.Label()
	}

	r := &runner{
		w:        w,
		o:        o,
		seeds:    seeds,
		runID:    rand.Uint64(),
		topics:   w.TopicNames(),
		prodLat:  NewRecorder(),
		e2eLat:   NewRecorder(),
		verifier: NewVerifier(),
	}
	r.phase.Store("setup")
	res := &Result{
		Version:   ResultVersion,
		Label:     label,
		Bootstrap: bootstrap,
		Started:   time.Now().UTC().Truncate(time.Second),
		Host:      Host{CPUs: runtime.NumCPU(), OS: runtime.GOOS, Arch: runtime.GOARCH, Go: runtime.Version()},
		Workload:  w,
	}
	// At the deadline: note the phase it cut, unless the run's work had
	// ended, then end ctx, which ends every wait and client of the run.
	timer := time.AfterFunc(time.Until(began.Add(limit)), func() {
		r.end.cut(r.phase.Load().(string))
		cancel(errDeadlinePassed)
	})
	defer timer.Stop()
	err := r.run(ctx)
	cutIn, cut := r.end.finish()
	r.close()
	r.fill(res)
	if cut {
		res.CutShort = true
		err = fmt.Errorf("%w: %s (warm-up %s + duration %s + drain-timeout %s + grace %s) passed during %s",
			ErrDeadline, limit, w.Warmup, w.Duration, w.DrainTimeout, o.Grace, cutIn)
	}
	if err != nil {
		res.Error = err.Error()
	}
	return res, err
}

// errDeadlinePassed is the cause of the run's context ending at its
// deadline (context.Cause), told apart from the caller's context ending.
var errDeadlinePassed = errors.New("loadgen: the run's deadline passed")

// ending tells whether the run's work ended before its deadline passed.
type ending struct {
	mu    sync.Mutex
	ended bool   // the work ended (its deadline passing later is no cut)
	cutIn string // the phase the deadline cut, if it did first
}

// cut notes that the deadline passed during phase, unless the work ended.
func (e *ending) cut(phase string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.ended && e.cutIn == "" {
		e.cutIn = phase
	}
}

// finish notes that the work ended, and returns the phase the deadline
// cut if it had passed first.
func (e *ending) finish() (phase string, cut bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ended = true
	return e.cutIn, e.cutIn != ""
}

// runner is one run's state. Fields set before the clients start are read
// without locks; counters are atomic.
type runner struct {
	w      Workload
	o      Options
	seeds  []string
	runID  uint64
	topics []string
	parts  []Partition // every partition of every topic

	start       time.Time // producing starts: t = 0 of the intervals
	measureFrom int64     // Unix ns: the warm-up's end
	startEnds   map[Partition]int64
	// ackedEnd is one past the highest acknowledged offset of each
	// partition: consumers read at least that far (a cluster's end offset
	// may trail its acknowledgements, as Strata's high watermark does for
	// acks=1 until the upload).
	ackedEnd map[Partition]*atomic.Int64

	phase atomic.Value // string

	prodLat, e2eLat *Recorder
	verifier        *Verifier

	// Producer side.
	acked      tally        // acknowledged records
	measSent   atomic.Int64 // measured records handed to producers, for --records
	prodErrors atomic.Int64
	firstErr   atomic.Value // string

	// Consumer side.
	consumed   tally // consumed records of this run
	consErrors atomic.Int64

	produceEnd   time.Time // the last acknowledgement, after the flush
	drainEnd     time.Time // the drain timeout after producing ended
	consumeStart time.Time // catch-up: the consumers' start
	drained      bool

	intervals []Interval

	// What run leaves open for close.
	admCl              *kgo.Client
	groups             []*group
	stopTick, tickDone chan struct{}

	end ending
}

// run does the run's work: setup, producing, then reading until the
// consumers have read everything or the drain timeout passes. The clients
// it leaves open are close's to stop. Every wait honours ctx, which ends
// at the run's deadline.
func (r *runner) run(ctx context.Context) error {
	admCl, err := kgo.NewClient(r.clientOpts(ctx, kgo.SeedBrokers(r.seeds...))...)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSetup, err)
	}
	r.admCl = admCl
	adm := kadm.NewClient(admCl)
	if err := r.ensureTopics(ctx, admCl, adm); err != nil {
		return err
	}

	consumersFrom := time.Now()
	startGroups := func(ctx context.Context) error {
		for i := range r.w.ConsumerGroups * min(r.w.Consumers, 1) {
			g, err := r.startGroup(ctx, i, consumersFrom)
			if g != nil {
				r.groups = append(r.groups, g)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	if r.w.Scenario == ScenarioTail {
		if err := startGroups(ctx); err != nil {
			return err
		}
		if err := r.awaitAssignment(ctx, r.groups); err != nil {
			return err
		}
	}
	r.ackedEnd = map[Partition]*atomic.Int64{}
	for _, p := range r.parts {
		r.ackedEnd[p] = new(atomic.Int64)
	}
	if r.startEnds, err = endOffsets(ctx, adm, r.topics); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: end offsets: %v", ErrSetup, err)
	}

	// Producers, timed by the interval ticker from here on.
	r.start = time.Now()
	r.measureFrom = r.start.Add(r.w.Warmup).UnixNano()
	r.phase.Store("warmup")
	if r.w.Warmup == 0 {
		r.phase.Store("measure")
	}
	r.stopTick, r.tickDone = make(chan struct{}), make(chan struct{})
	go func() { defer close(r.tickDone); r.tick(r.stopTick) }()

	if err := r.produce(ctx); err != nil {
		return err
	}
	if len(r.groups) == 0 && r.w.Consumers == 0 {
		return nil
	}
	// The drain timeout runs from the end of producing: the flush, the end
	// offsets and the consumers' reading share it.
	drainCtx, cancel := context.WithDeadline(ctx, r.drainEnd)
	defer cancel()
	ends, err := endOffsets(drainCtx, adm, r.topics)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case drainCtx.Err() != nil:
			return nil // not drained: the flush took the drain timeout
		}
		return fmt.Errorf("loadgen: end offsets after producing: %w", err)
	}
	for p, end := range r.ackedEnd {
		ends[p] = max(ends[p], end.Load())
	}
	if r.w.Scenario == ScenarioCatchUp {
		r.phase.Store("catch-up")
		r.consumeStart = time.Now()
		if err := startGroups(ctx); err != nil {
			return err
		}
	} else {
		r.phase.Store("drain")
	}
	for _, g := range r.groups {
		g.setTarget(ends, r.startEnds)
	}
	for _, g := range r.groups {
		select {
		case <-g.done:
		case <-drainCtx.Done():
			return ctx.Err() // nil at the drain timeout
		}
	}
	r.drained = true
	return nil
}

// clientOpts are the options of every client of the run: opts, the
// caller's, and ctx, which ends the client's requests and goroutines when
// the run's deadline passes (Close stops the rest at once then).
func (r *runner) clientOpts(ctx context.Context, opts ...kgo.Opt) []kgo.Opt {
	opts = append(opts, r.o.ClientOpts...)
	return append(opts, kgo.WithContext(ctx))
}

// close stops what run started and left open: the ticker, the consumer
// groups and the admin client.
func (r *runner) close() {
	if r.stopTick != nil {
		close(r.stopTick)
		<-r.tickDone
	}
	var wg sync.WaitGroup
	for _, g := range r.groups {
		wg.Go(g.close)
	}
	wg.Wait()
	if r.admCl != nil {
		r.admCl.Close()
	}
}

// ensureTopics creates the topics that are missing and waits until every
// partition of every topic has a leader.
func (r *runner) ensureTopics(ctx context.Context, cl *kgo.Client, adm *kadm.Client) error {
	ctx, cancel := context.WithTimeout(ctx, r.o.SetupTimeout)
	defer cancel()
	created := false
	for {
		parts, missing, err := describeTopics(ctx, cl, r.topics)
		if err == nil && len(missing) == 0 {
			r.parts = parts
			return nil
		}
		if err == nil && !created {
			resps, cerr := adm.CreateTopics(ctx, int32(r.w.Partitions), -1, nil, missing...)
			if cerr != nil {
				return fmt.Errorf("%w: create topics %v: %v", ErrSetup, missing, cerr)
			}
			for _, t := range resps.Sorted() {
				if t.Err != nil && !errors.Is(t.Err, kerr.TopicAlreadyExists) {
					return fmt.Errorf("%w: create topic %s: %v", ErrSetup, t.Topic, t.Err)
				}
			}
			created = true
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("topics %v have no leader for every partition", missing)
			}
			return fmt.Errorf("%w: topics not ready within %s: %v", ErrSetup, r.o.SetupTimeout, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// describeTopics asks for the topics' metadata (a request of its own: the
// client's metadata cache may be older than a topic just created) and
// returns their partitions if every one has a leader, else the topics that
// are missing or not ready.
func describeTopics(ctx context.Context, cl *kgo.Client, topics []string) ([]Partition, []string, error) {
	req := kmsg.NewPtrMetadataRequest()
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, nil, err
	}
	var parts []Partition
	var missing []string
	found := map[string]bool{}
	for _, t := range resp.Topics {
		if t.Topic == nil {
			continue
		}
		found[*t.Topic] = true
		ok := kerr.ErrorForCode(t.ErrorCode) == nil && len(t.Partitions) > 0
		for _, p := range t.Partitions {
			ok = ok && kerr.ErrorForCode(p.ErrorCode) == nil && p.Leader >= 0
			parts = append(parts, Partition{*t.Topic, p.Partition})
		}
		if !ok {
			missing = append(missing, *t.Topic)
		}
	}
	for _, t := range topics {
		if !found[t] {
			missing = append(missing, t)
		}
	}
	return parts, missing, nil
}

// endOffsets lists the topics' end offsets.
func endOffsets(ctx context.Context, adm *kadm.Client, topics []string) (map[Partition]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	listed, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, err
	}
	ends := map[Partition]int64{}
	var errs []error
	listed.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			errs = append(errs, fmt.Errorf("%s/%d: %w", o.Topic, o.Partition, o.Err))
			return
		}
		ends[Partition{o.Topic, o.Partition}] = o.Offset
	})
	return ends, errors.Join(errs...)
}

// tally counts the records of one side, acknowledged or consumed: every
// record, then only the measured ones (past the warm-up).
type tally struct {
	records, bytes         atomic.Int64
	measRecords, measBytes atomic.Int64
	last                   atomic.Int64 // Unix ns of the last measured record
}

// add counts a record of n bytes (value and key) seen at now.
func (t *tally) add(n int64, measured bool, now time.Time) {
	t.records.Add(1)
	t.bytes.Add(n)
	if measured {
		t.measRecords.Add(1)
		t.measBytes.Add(n)
		t.last.Store(now.UnixNano())
	}
}

// tick appends an Interval and prints a progress line every interval until
// stop is closed, then once more for the partial interval.
func (r *runner) tick(stop <-chan struct{}) {
	t := time.NewTicker(r.o.Interval)
	defer t.Stop()
	last := r.start
	var prev struct{ acked, ackedBytes, consumed, consumedBytes, errors int64 }
	snap := func(now time.Time, final bool) {
		secs := now.Sub(last).Seconds()
		// The last, partial interval is left out when shorter than half an
		// interval (its rates, over a few milliseconds, would only be
		// noise), unless it is the only one.
		if secs <= 0 || final && secs < r.o.Interval.Seconds()/2 && len(r.intervals) > 0 {
			return
		}
		last = now
		acked, ab := r.acked.records.Load(), r.acked.bytes.Load()
		cons, cb := r.consumed.records.Load(), r.consumed.bytes.Load()
		errs := r.prodErrors.Load() + r.consErrors.Load()
		iv := Interval{
			Seconds:         round3(now.Sub(r.start).Seconds()),
			Phase:           r.phase.Load().(string),
			ProduceRecords:  acked - prev.acked,
			ProduceRate:     round3(float64(acked-prev.acked) / secs),
			ProduceMBPerSec: round3(float64(ab-prev.ackedBytes) / secs / 1e6),
			ProduceLatency:  r.prodLat.Interval(),
			ConsumeRecords:  cons - prev.consumed,
			ConsumeRate:     round3(float64(cons-prev.consumed) / secs),
			ConsumeMBPerSec: round3(float64(cb-prev.consumedBytes) / secs / 1e6),
			E2ELatency:      r.e2eLat.Interval(),
			Errors:          errs - prev.errors,
		}
		prev.acked, prev.ackedBytes, prev.consumed, prev.consumedBytes, prev.errors = acked, ab, cons, cb, errs
		r.intervals = append(r.intervals, iv)
		if r.o.Progress != nil {
			fmt.Fprintln(r.o.Progress, progressLine(iv, r.w.Consumers > 0))
		}
	}
	for {
		select {
		case now := <-t.C:
			snap(now, false)
		case <-stop:
			snap(time.Now(), true)
			return
		}
	}
}

// progressLine is one interval on one line.
func progressLine(iv Interval, consumers bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%7.1fs %-8s produce %10s rec/s %8.2f MB/s  ack p50 %s p99 %s",
		iv.Seconds, iv.Phase, thousands(iv.ProduceRate), iv.ProduceMBPerSec,
		fmtMs(iv.ProduceLatency.P50), fmtMs(iv.ProduceLatency.P99))
	if consumers {
		fmt.Fprintf(&b, " | consume %10s rec/s %8.2f MB/s  e2e p50 %s p99 %s",
			thousands(iv.ConsumeRate), iv.ConsumeMBPerSec, fmtMs(iv.E2ELatency.P50), fmtMs(iv.E2ELatency.P99))
	}
	if iv.Errors > 0 {
		fmt.Fprintf(&b, " | %d errors", iv.Errors)
	}
	return b.String()
}

// fill writes the run's measurements into res.
func (r *runner) fill(res *Result) {
	res.Intervals = r.intervals
	if r.start.IsZero() {
		return
	}
	from := time.Unix(0, r.measureFrom)
	secs := r.produceEnd.Sub(from).Seconds()
	if secs < 0 || r.acked.measRecords.Load() == 0 {
		secs = 0
	}
	res.MeasuredSeconds = round3(secs)
	p := ProduceResult{
		Records: r.acked.measRecords.Load(),
		Bytes:   r.acked.measBytes.Load(),
		Errors:  r.prodErrors.Load(),
		Latency: r.prodLat.Total(),
	}
	if e, ok := r.firstErr.Load().(string); ok {
		p.FirstError = e
	}
	if secs > 0 {
		p.RecordsPerSec = round3(float64(p.Records) / secs)
		p.MBPerSec = round3(float64(p.Bytes) / secs / 1e6)
	}
	res.Produce = p
	if r.w.Consumers == 0 {
		return
	}
	c := &ConsumeResult{
		Records: r.consumed.measRecords.Load(),
		Bytes:   r.consumed.measBytes.Load(),
		Drained: r.drained,
		Errors:  r.consErrors.Load(),
		Latency: r.e2eLat.Total(),
	}
	begin := from
	if r.w.Scenario == ScenarioCatchUp {
		begin = r.consumeStart
	}
	if last := r.consumed.last.Load(); last > 0 && !begin.IsZero() {
		c.Seconds = round3(max(time.Unix(0, last).Sub(begin).Seconds(), 0))
	}
	if r.w.Scenario == ScenarioCatchUp {
		c.CatchUpSeconds = c.Seconds
	}
	if c.Seconds > 0 {
		c.RecordsPerSec = round3(float64(c.Records) / c.Seconds)
		c.MBPerSec = round3(float64(c.Bytes) / c.Seconds / 1e6)
	}
	res.Consume = c
	if r.w.Verify {
		rep := r.verifier.Report()
		if !r.drained {
			rep.OK = false
		}
		res.Verify = &rep
	}
}
