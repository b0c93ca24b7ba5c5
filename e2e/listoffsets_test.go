package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestListOffsetsByTimestamp checks that ListOffsets finds the first record
// at or after a timestamp — inside compressed batches, from the memory tail
// and, after a restart, from archived segments in the object store.
func TestListOffsetsByTimestamp(t *testing.T) {
	s := StartStrata(t, Options{})
	ctx := testContext(t, 2*time.Minute)
	cl := s.Client(kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("times"),
		kgo.ProducerBatchCompression(kgo.GzipCompression()), kgo.ProducerLinger(50*time.Millisecond))

	base := time.UnixMilli(1_700_000_000_000)
	const n = 300
	for round := 0; round < 3; round++ { // several batches and segments
		var recs []*kgo.Record
		for i := round * n / 3; i < (round+1)*n/3; i++ {
			recs = append(recs, &kgo.Record{Value: []byte{byte(i)}, Timestamp: base.Add(time.Duration(i*10) * time.Millisecond)})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	cases := []struct {
		name   string
		ts     int64
		offset int64 // -1: none
	}{
		{"before all", base.UnixMilli() - 1000, 0},
		{"first record", base.UnixMilli(), 0},
		{"exact record mid-batch", base.UnixMilli() + 57*10, 57},
		{"between records", base.UnixMilli() + 57*10 + 3, 58},
		{"first of second round", base.UnixMilli() + 100*10, 100},
		{"last record", base.UnixMilli() + (n-1)*10, n - 1},
		{"after all", base.UnixMilli() + n*10, -1},
	}
	check := func(t *testing.T, cl *kgo.Client) {
		t.Helper()
		for _, c := range cases {
			p := listOffsetAt(t, ctx, cl, "times", c.ts)
			if p.ErrorCode != 0 || p.Offset != c.offset {
				t.Errorf("%s: offset %d (error %d), want %d", c.name, p.Offset, p.ErrorCode, c.offset)
			}
			if c.offset >= 0 && p.Timestamp != base.UnixMilli()+c.offset*10 {
				t.Errorf("%s: timestamp %d, want %d", c.name, p.Timestamp, base.UnixMilli()+c.offset*10)
			}
		}
	}
	waitHighWatermark(t, ctx, cl, "times", n)
	t.Run("memory", func(t *testing.T) { check(t, cl) })

	if code := s.Stop(); code != 0 {
		t.Fatalf("graceful stop exited %d", code)
	}
	s.Restart()
	t.Run("object store", func(t *testing.T) { check(t, s.Client()) })
}

// waitHighWatermark waits until partition 0 of topic has hwm records visible.
func waitHighWatermark(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, hwm int64) {
	t.Helper()
	for {
		resp, err := listOffsetsRequest(topic, 0, -1).RequestWith(ctx, cl)
		if err == nil && resp.Topics[0].Partitions[0].Offset >= hwm {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("high watermark of %s never reached %d", topic, hwm)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// listOffsetAt asks ListOffsets for partition 0 of topic at timestamp ts.
func listOffsetAt(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, ts int64) kmsg.ListOffsetsResponseTopicPartition {
	t.Helper()
	resp, err := listOffsetsRequest(topic, 0, ts).RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0]
}
