package loadgen

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// producerOpts are the options of every producer client; ctx ends its
// requests (see clientOpts).
func (r *runner) producerOpts(ctx context.Context) []kgo.Opt {
	w := r.w
	opts := []kgo.Opt{
		kgo.SeedBrokers(r.seeds...),
		kgo.ProducerLinger(w.Linger),
		kgo.ProducerBatchMaxBytes(int32(w.BatchMaxBytes)),
		kgo.MaxBufferedRecords(w.BufferedRecords),
		kgo.ProducerBatchCompression(codec(w.Compression)),
	}
	switch w.Acks {
	case "all":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	}
	if w.Acks != "all" && w.Verify {
		// Without idempotence, retried requests in flight together can
		// land out of order; one at a time they cannot.
		opts = append(opts, kgo.MaxProduceRequestsInflightPerBroker(1))
	}
	return r.clientOpts(ctx, opts...)
}

func codec(name string) kgo.CompressionCodec {
	switch name {
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

// produce runs the producers until the duration, the record count or ctx
// ends them, then waits for every acknowledgement until the drain timeout,
// which starts when producing ends (r.drainEnd). A producer that a cluster
// leaves blocked (its buffer full of unacknowledged records) waits until
// ctx ends: the run's deadline.
func (r *runner) produce(ctx context.Context) error {
	w := r.w
	stopAt := r.start.Add(w.Warmup + w.Duration)
	maxSize := int(w.MessageSize.Max)
	payload := newPayloadSource(w.Payload, maxSize, r.runID)
	keys := keySpace(w)

	clients := make([]*kgo.Client, w.Producers)
	for i := range clients {
		cl, err := kgo.NewClient(r.producerOpts(ctx)...)
		if err != nil {
			for _, c := range clients[:i] {
				c.Close()
			}
			return fmt.Errorf("%w: producer: %v", ErrSetup, err)
		}
		clients[i] = cl
	}
	var wg sync.WaitGroup
	for i, cl := range clients {
		wg.Go(func() { r.producer(ctx, uint32(i), cl, stopAt, payload, keys) })
	}
	wg.Wait()
	ended := time.Now()
	if ended.After(stopAt) {
		ended = stopAt // a producer's last record may have waited for room
	}
	r.drainEnd = ended.Add(w.DrainTimeout)

	// Every record is handed over: wait for the acknowledgements.
	r.phase.Store("flush")
	flushCtx, cancel := context.WithDeadline(ctx, r.drainEnd)
	defer cancel()
	var flushErr error
	var mu sync.Mutex
	for _, cl := range clients {
		wg.Go(func() {
			if err := cl.Flush(flushCtx); err != nil {
				mu.Lock()
				flushErr = cmpOr(flushErr, err)
				mu.Unlock()
			}
			cl.Close() // fails whatever is still buffered
		})
	}
	wg.Wait()
	r.produceEnd = time.Now()
	if last := r.acked.last.Load(); last > 0 {
		r.produceEnd = time.Unix(0, last)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if flushErr != nil {
		r.noteError(fmt.Errorf("flush: %w", flushErr))
	}
	return nil
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// producer is one producer's loop.
func (r *runner) producer(ctx context.Context, id uint32, cl *kgo.Client, stopAt time.Time, payload *payloadSource, keys [][]byte) {
	w := r.w
	rng := rand.New(rand.NewPCG(r.runID, uint64(id)))
	nextKey := keyDraw(w, keys, rng)
	var gap time.Duration // between two records of this producer
	if w.Rate > 0 {
		gap = time.Duration(float64(time.Second) * float64(w.Producers) / float64(w.Rate))
	}
	free := make(chan []byte, w.BufferedRecords+64)
	maxSize := int(w.MessageSize.Max)
	pooled := maxSize <= 1<<20
	acks0 := w.Acks == "0"

	promise := func(rec *kgo.Record, err error) {
		now := time.Now()
		h, _ := parseHeader(rec.Value)
		measured := h.sentAt >= r.measureFrom
		if err != nil {
			r.prodErrors.Add(1)
			r.noteError(err)
		} else {
			r.prodLat.Record(now.Sub(h.sentTime()), measured)
			r.acked.add(int64(len(rec.Value)+len(rec.Key)), measured, now)
			if end := r.ackedEnd[Partition{rec.Topic, rec.Partition}]; end != nil && !acks0 {
				for {
					cur := end.Load()
					if rec.Offset < cur || end.CompareAndSwap(cur, rec.Offset+1) {
						break
					}
				}
			}
			if w.Verify {
				off := rec.Offset
				if acks0 {
					off = -1
				}
				r.verifier.Produced(Partition{rec.Topic, rec.Partition}, off, h.id)
			}
		}
		if pooled {
			select {
			case free <- rec.Value[:cap(rec.Value)]:
			default:
			}
		}
	}

	next := time.Now()
	for seq := uint64(0); ; seq++ {
		now := time.Now()
		if ctx.Err() != nil || !now.Before(stopAt) {
			return
		}
		due := now
		if gap > 0 {
			if d := next.Sub(now); d > time.Millisecond {
				select {
				case <-ctx.Done():
					return
				case <-time.After(d):
				}
				now = time.Now()
			}
			// A record due in the past keeps its due time: latency counts
			// the time a slow cluster made it wait (no coordinated
			// omission).
			due = next
			if due.After(now) {
				due = now
			}
			next = next.Add(gap)
		}
		if due.UnixNano() >= r.measureFrom {
			if r.phase.Load() == "warmup" {
				r.phase.Store("measure")
			}
			if w.Records > 0 && r.measSent.Add(1) > w.Records {
				return
			}
		}

		size := w.MessageSize.Draw(rng)
		var v []byte
		if pooled {
			select {
			case v = <-free:
			default:
				v = make([]byte, maxSize)
			}
			v = v[:size]
		} else {
			v = make([]byte, size)
		}
		putHeader(v, header{run: r.runID, id: RecordID{id, seq}, sentAt: due.UnixNano()})
		payload.fill(v, seq)
		rec := &kgo.Record{
			Topic:     r.topics[seq%uint64(len(r.topics))],
			Key:       nextKey(),
			Value:     v,
			Timestamp: due,
		}
		cl.Produce(ctx, rec, promise)
	}
}

func (r *runner) noteError(err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	r.firstErr.CompareAndSwap(nil, err.Error())
}

// keySpace is the keys of --keys uniform and zipfian, shared by the
// producers (kgo does not modify a record's key).
func keySpace(w Workload) [][]byte {
	if w.Keys == "none" {
		return nil
	}
	keys := make([][]byte, w.KeySpace)
	for i := range keys {
		keys[i] = []byte("key-" + strconv.Itoa(i))
	}
	return keys
}

// keyDraw returns one producer's draw of keys: nil with --keys none;
// zipfian keys follow Zipf's law with s = 1.1, key-0 the most frequent.
func keyDraw(w Workload, keys [][]byte, rng *rand.Rand) func() []byte {
	switch w.Keys {
	case "uniform":
		return func() []byte { return keys[rng.IntN(len(keys))] }
	case "zipfian":
		if len(keys) == 1 {
			return func() []byte { return keys[0] }
		}
		z := rand.NewZipf(rng, 1.1, 1, uint64(len(keys)-1))
		return func() []byte { return keys[z.Uint64()] }
	}
	return func() []byte { return nil }
}
