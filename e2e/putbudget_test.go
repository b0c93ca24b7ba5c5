package e2e

// The PUT budget (--max-put-rate) through the binary, with a real etcd and
// MinIO: within the budget, a waiting acks=all produce or a consumer at the
// high watermark gets its WAL segment sealed at once rather than after
// --seal-interval; the PUTs stay within the budget; an idle broker PUTs
// nothing; nothing acknowledged is lost.

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	putsMetric       = "strata_tiering_segments_uploaded_total"
	earlySealsMetric = "strata_tiering_early_seals_total"
)

// TestPutBudgetSealsOnDemand: with --max-put-rate 50 and a --seal-interval
// of 5s, sequential acks=all produces are each answered after an early
// seal, so 20 of them take far less than the 20 seal intervals they would
// wait without it; the PUTs made meanwhile are within the budget; an idle
// broker makes none; and every acknowledged record survives the loss of
// the broker and its disk.
func TestPutBudgetSealsOnDemand(t *testing.T) {
	const (
		rate         = 50
		sealInterval = 5 * time.Second
		topic        = "put-budget"
		n            = 20
	)
	s := StartStrata(t, externalDeps(t, "strata", "--max-put-rate=50", "--seal-interval="+sealInterval.String()))
	ensureTopic(t, s, topic, 1, nil)
	cl := newClient(t, s, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	defer cl.Close()
	ctx := testContext(t, 2*n*sealInterval)
	// One produce to learn the leader and warm the connection.
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: numbered("seq", 0)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	acked := []ackedRecord{{Partition: 0, Offset: 0, Value: string(numbered("seq", 0))}}

	puts0, early0 := metricValue(t, s, putsMetric), metricValue(t, s, earlySealsMetric)
	start := time.Now()
	took := make([]time.Duration, 0, n)
	for i := 1; i <= n; i++ {
		t0 := time.Now()
		r := &kgo.Record{Value: numbered("seq", i)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		took = append(took, time.Since(t0))
		acked = append(acked, ackedRecord{Partition: r.Partition, Offset: r.Offset, Value: string(r.Value)})
	}
	elapsed := time.Since(start)
	puts, early := metricValue(t, s, putsMetric)-puts0, metricValue(t, s, earlySealsMetric)-early0
	slices.Sort(took)
	t.Logf("%d sequential acks=all produces in %v: p50 %v, max %v; %v PUTs (%v early seals)",
		n, elapsed, took[n/2], took[n-1], puts, early)

	// Without early seals each produce would wait for its segment's
	// --seal-interval: n of them could not finish within n intervals.
	if elapsed >= n*sealInterval {
		t.Errorf("%d sequential acks=all produces took %v, as long as %d seal intervals: no seal on demand", n, elapsed, n)
	}
	// Each produce waited for a segment of its own.
	if puts < n || early < 1 {
		t.Errorf("%v PUTs and %v early seals for %d sequential acks=all produces, want at least %d and 1", puts, early, n, n)
	}
	// The budget bounds early seals (one token to start with); the WAL's
	// own seals (at most one per interval begun) come on top.
	if limit := float64(rate)*elapsed.Seconds() + 1 + elapsed.Seconds()/sealInterval.Seconds() + 1; puts > limit {
		t.Errorf("%v PUTs in %v with --max-put-rate %d: above the budget (%v)", puts, elapsed, rate, limit)
	}

	// Idle, the broker seals and PUTs nothing, however much budget it has.
	idle := metricValue(t, s, putsMetric)
	time.Sleep(500 * time.Millisecond) // 25 tokens' worth of budget
	if got := metricValue(t, s, putsMetric); got != idle {
		t.Errorf("an idle broker made %v PUTs", got-idle)
	}

	s.Kill()
	checkAllBackWithoutDisk(t, s, topic, 1, acked, "seq")
}

// TestPutBudgetConsumerAtHighWatermark: an acks=1 record is visible to a
// consumer waiting at the high watermark after an early seal, not after
// --seal-interval: 10 rounds of produce-then-consume take less than the 10
// seal intervals they would wait without it.
func TestPutBudgetConsumerAtHighWatermark(t *testing.T) {
	const (
		sealInterval = 5 * time.Second
		topic        = "put-budget-fetch"
		n            = 10
	)
	s := StartStrata(t, Options{Args: []string{"--max-put-rate=50", "--seal-interval=" + sealInterval.String()}})
	ensureTopic(t, s, topic, 1, nil)
	prod := newClient(t, s, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	defer prod.Close()
	cons := newClient(t, s, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(sealInterval))
	defer cons.Close()
	ctx := testContext(t, 2*n*sealInterval)
	start := time.Now()
	for i := range n {
		want := string(numbered("fetch", i))
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(want)}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		got := pollOne(ctx, t, cons)
		if got != want {
			t.Fatalf("consumed %q, want %q", got, want)
		}
	}
	elapsed := time.Since(start)
	t.Logf("%d rounds of acks=1 produce then consume in %v", n, elapsed)
	if elapsed >= n*sealInterval {
		t.Errorf("%d produce-then-consume rounds took %v, as long as %d seal intervals: no seal on demand for a consumer at the high watermark", n, elapsed, n)
	}
}

// pollOne polls until one record arrives and returns its value.
func pollOne(ctx context.Context, t *testing.T, cl *kgo.Client) string {
	t.Helper()
	for {
		fs := cl.PollRecords(ctx, 1)
		if err := ctx.Err(); err != nil {
			t.Fatalf("no record consumed: %v", err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s/%d: %v", topic, p, err) })
		if recs := fs.Records(); len(recs) > 0 {
			return string(recs[0].Value)
		}
	}
}
