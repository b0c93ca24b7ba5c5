package e2e

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/internal/testenv"
)

// BenchmarkShareGroupThroughput measures a share group's consumption (KIP-932:
// every record acquired, delivered and accepted, each acknowledgement
// stored in etcd before it is answered) against a consumer group's on the
// same topic in the same run: one broker on a real etcd, a topic of 4
// partitions holding 20,000 records of 100 bytes, two members in each
// group, every record from the start. It reports the share group's records
// per second and its ratio to the consumer group's (franz-go's classic
// group consumer, committing automatically).
func BenchmarkShareGroupThroughput(b *testing.B) {
	etcd := testenv.StartEtcd(b)
	s := StartStrata(b, Options{EtcdEndpoints: etcd.Endpoint, Args: []string{"--log-level", "info"}})
	const topic, parts, records = "bench-share", 4, 20000
	admin := s.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	resp, err := createTopicsRequest(topic, parts, nil).RequestWith(testContext(b, time.Minute), admin)
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		b.Fatalf("create topic: %v %+v", err, resp)
	}
	value := make([]byte, 100)
	ctx := testContext(b, 5*time.Minute)
	for i := 0; i < records; i += 1000 {
		var recs []*kgo.Record
		for j := i; j < i+1000; j++ {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(j % parts), Value: value})
		}
		if err := admin.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			b.Fatal(err)
		}
	}
	// consume runs two members built by opts until records are consumed
	// (share: accepted) and returns the time it took.
	consume := func(opts func(i int) []kgo.Opt) time.Duration {
		var n atomic.Int64
		start := time.Now()
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{}, 2)
		var cls []*kgo.Client
		for i := range 2 {
			cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.Addr), kgo.ConsumeTopics(topic)}, opts(i)...)...)
			if err != nil {
				b.Fatal(err)
			}
			cls = append(cls, cl)
			go func() {
				defer func() { done <- struct{}{} }()
				for runCtx.Err() == nil {
					fs := cl.PollFetches(runCtx)
					fs.EachRecord(func(r *kgo.Record) {
						r.Ack(kgo.AckAccept) // a no-op outside share groups
						n.Add(1)
					})
				}
			}()
		}
		for n.Load() < records {
			if ctx.Err() != nil {
				b.Fatalf("consumed %d of %d records", n.Load(), records)
			}
			time.Sleep(5 * time.Millisecond)
		}
		took := time.Since(start)
		cancel()
		for _, cl := range cls {
			<-done
			_ = cl.FlushAcks(testContext(b, 10*time.Second))
			cl.Close()
		}
		return took
	}
	b.ResetTimer()
	for i := range b.N {
		group := fmt.Sprintf("bench-group-%d", i)
		ref := consume(func(int) []kgo.Opt {
			return []kgo.Opt{kgo.ConsumerGroup(group), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
		})
		share := fmt.Sprintf("bench-share-%d", i)
		setGroupConfigs(b, admin, share, map[string]string{"share.auto.offset.reset": "earliest"})
		took := consume(func(int) []kgo.Opt { return []kgo.Opt{kgo.ShareGroup(share)} })
		b.ReportMetric(records/took.Seconds(), "share-records/s")
		b.ReportMetric(records/ref.Seconds(), "group-records/s")
		b.ReportMetric(ref.Seconds()/took.Seconds(), "share/group")
	}
}
