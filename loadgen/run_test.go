package loadgen

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testWorkload is a short verified workload: a fixed count of records, no
// warm-up, so that every record is measured.
func testWorkload(records int64) Workload {
	w := DefaultWorkload()
	w.Partitions = 4
	w.Records = records
	w.Warmup = 0
	w.Duration = time.Minute // the record count ends it
	w.Verify = true
	w.DrainTimeout = 30 * time.Second
	return w
}

func testOptions(seeds ...string) Options {
	return Options{Bootstrap: seeds, Interval: 100 * time.Millisecond, SetupTimeout: 30 * time.Second}
}

func runOK(t *testing.T, w Workload, o Options) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, w, o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

func TestRunVerifiedTail(t *testing.T) {
	w := testWorkload(4000)
	w.Producers, w.Consumers, w.Topics, w.ConsumerGroups = 2, 2, 2, 2
	w.Keys, w.KeySpace, w.MessageSize = "zipfian", 50, SizeDist{30, 300}
	w.Rate = 8000 // half a second: several intervals
	res := runOK(t, w, testOptions("kfake"))

	if res.Produce.Records != 4000 || res.Produce.Errors != 0 {
		t.Errorf("produced %d records with %d errors (%s), want 4000 and none",
			res.Produce.Records, res.Produce.Errors, res.Produce.FirstError)
	}
	if res.Produce.Latency.Count != 4000 {
		t.Errorf("ack latencies of %d records, want 4000", res.Produce.Latency.Count)
	}
	if c := res.Consume; c == nil || c.Records != 2*4000 || !c.Drained || c.Latency.Count != 8000 {
		t.Errorf("consume %+v, want 8000 records (two groups) and drained", c)
	}
	if res.Produce.Bytes < 4000*30 || res.Produce.Bytes > int64(4000*(300+len("key-49"))) {
		t.Errorf("produced %d bytes, out of the sizes' range", res.Produce.Bytes)
	}
	v := res.Verify
	if v == nil || !v.OK || len(v.Groups) != 2 {
		t.Fatalf("verify %+v, want OK for two groups", v)
	}
	for _, g := range v.Groups {
		if g.Produced != 4000 || g.Consumed != 4000 || g.Faulty() || g.Redelivered != 0 {
			t.Errorf("group %s: %s", g.Group, g.Counts)
		}
		if len(g.Partitions) != 8 {
			t.Errorf("group %s: %d partitions, want 2 topics × 4", g.Group, len(g.Partitions))
		}
	}
	if res.Failed() {
		t.Error("Failed() with a clean verification")
	}
	if len(res.Intervals) < 2 {
		t.Errorf("%d intervals of 100 ms in a run of 500 ms, want several", len(res.Intervals))
	}
	var sum int64
	for _, iv := range res.Intervals {
		sum += iv.ProduceRecords
	}
	if sum > 4000 {
		t.Errorf("intervals count %d acknowledgements, more than the 4000 produced", sum)
	}
}

func TestRunCatchUp(t *testing.T) {
	w := testWorkload(3000)
	w.Scenario = ScenarioCatchUp
	w.Acks = "1"
	res := runOK(t, w, testOptions("kfake"))
	c := res.Consume
	if c == nil || c.Records != 3000 || !c.Drained || c.CatchUpSeconds <= 0 {
		t.Fatalf("consume %+v, want the 3000-record backlog read", c)
	}
	if !res.Verify.OK {
		t.Errorf("verify: %s", res.Verify.Groups[0].Counts)
	}
}

func TestRunProduceOnly(t *testing.T) {
	w := testWorkload(2000)
	w.Consumers, w.Verify, w.Acks, w.Compression = 0, false, "0", "zstd"
	res := runOK(t, w, testOptions("kfake:3"))
	if res.Consume != nil || res.Verify != nil {
		t.Errorf("consume %+v, verify %+v: want neither without consumers", res.Consume, res.Verify)
	}
	if res.Produce.Records != 2000 {
		t.Errorf("produced %d, want 2000", res.Produce.Records)
	}
}

// ackWithoutStoring answers the n-th produce request as if it were written
// (at offsets far past the log's end) without storing its records.
func ackWithoutStoring(c *kfake.Cluster, n int) *int {
	var seen, faked int
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		seen++
		if seen != n {
			return nil, nil, false
		}
		req := kreq.(*kmsg.ProduceRequest)
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range req.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition, sp.BaseOffset, sp.LogAppendTime = rp.Partition, 1<<40, -1
				st.Partitions = append(st.Partitions, sp)
				faked += recordCount(rp.Records)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	return &faked
}

// recordCount is the record count of the batches in b.
func recordCount(b []byte) int {
	n := 0
	for len(b) >= 61 {
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b); err != nil {
			return n
		}
		n += int(rb.NumRecords)
		b = b[12+int(rb.Length):]
	}
	return n
}

func TestRunDetectsLoss(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	faked := ackWithoutStoring(c, 5)

	w := testWorkload(3000)
	w.Acks, w.Rate, w.Linger = "1", 3000, 5*time.Millisecond // many small requests
	// The consumers wait for the acknowledged offsets that kfake never
	// reaches until the drain timeout.
	w.DrainTimeout = 2 * time.Second
	res := runOK(t, w, testOptions(c.ListenAddrs()...))
	if *faked == 0 {
		t.Fatal("no produce request was faked")
	}
	if !res.Failed() || res.Verify.OK {
		t.Fatalf("verification passed with %d records acknowledged but not stored", *faked)
	}
	if res.Consume.Drained {
		t.Error("drained, though offsets acknowledged were never there to read")
	}
	g := res.Verify.Groups[0]
	if g.Lost != int64(*faked) || g.Duplicated != 0 || g.Reordered != 0 {
		t.Errorf("counts %s, want exactly %d lost", g.Counts, *faked)
	}
	if g.Produced != 3000 || g.Consumed != int64(3000-*faked) {
		t.Errorf("counts %s, want 3000 produced and %d consumed", g.Counts, 3000-*faked)
	}
}

// storeTwice stores the n-th produce request twice: as asked, and once more
// sent by another client, as a producer retrying a request that had been
// written would without idempotence.
func storeTwice(t *testing.T, c *kfake.Cluster, n int) (copied *int, wait func()) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var seen, count int
	var resendErr error
	c.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		seen++
		if seen == n {
			req := kreq.(*kmsg.ProduceRequest)
			for _, rt := range req.Topics {
				for _, rp := range rt.Partitions {
					count += recordCount(rp.Records)
				}
			}
			wg.Go(func() { // not from the cluster's loop, which would wait for itself
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, resendErr = req.RequestWith(ctx, cl)
			})
		}
		return nil, nil, false
	})
	return &count, func() {
		wg.Wait()
		cl.Close()
		if resendErr != nil {
			t.Fatalf("resending the produce request: %v", resendErr)
		}
	}
}

func TestRunDetectsDuplicate(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	copied, wait := storeTwice(t, c, 5)

	w := testWorkload(3000)
	w.Acks, w.Rate, w.Linger = "1", 3000, 5*time.Millisecond
	res := runOK(t, w, testOptions(c.ListenAddrs()...))
	wait()
	if *copied == 0 {
		t.Fatal("no produce request was copied")
	}
	if !res.Failed() {
		t.Fatalf("verification passed with %d records stored twice", *copied)
	}
	g := res.Verify.Groups[0]
	if g.Duplicated != int64(*copied) || g.Lost != 0 || g.Reordered != 0 || g.OffsetMismatch != 0 {
		t.Errorf("counts %s, want exactly %d duplicated", g.Counts, *copied)
	}
}

func TestRunErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Run(ctx, Workload{}, testOptions("kfake")); err == nil {
		t.Error("an invalid workload ran")
	}
	if _, err := Run(ctx, testWorkload(1), testOptions("kfake:99")); !errors.Is(err, ErrSetup) {
		t.Errorf("kfake:99: %v, want ErrSetup", err)
	}
	if _, err := Run(ctx, testWorkload(1), Options{}); !errors.Is(err, ErrSetup) {
		t.Errorf("no bootstrap: %v, want ErrSetup", err)
	}

	// A context that ends stops the run and keeps what it had.
	w := testWorkload(0)
	w.Rate = 1000
	ctx, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	res, err := Run(ctx, w, testOptions("kfake"))
	if !errors.Is(err, context.DeadlineExceeded) || res == nil || res.Error == "" {
		t.Fatalf("Run with an ending context: %v, %+v", err, res)
	}
	if res.Produce.Records == 0 {
		t.Error("no record counted before the context ended")
	}
}
