package e2e

import (
	"context"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/internal/testenv"
)

// BenchmarkProduce measures single-broker produce throughput with franz-go:
// 1 KiB records over 16 partitions, against franz-go's in-memory kfake (the
// reference) and against a Strata broker on a real MinIO and etcd, with
// acks=1 and acks=all. `make bench` prints each figure's ratio to kfake.
func BenchmarkProduce(b *testing.B) {
	const partitions = 16
	value := make([]byte, 1024)
	for i := range value {
		value[i] = byte('a' + i%26)
	}

	fake, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, "bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer fake.Close()

	etcd := testenv.StartEtcd(b)
	minio := testenv.StartMinIO(b)
	s := StartStrata(b, Options{EtcdEndpoints: etcd.Endpoint, ObjectStore: minio.S3URL("bench"),
		Args: []string{"--seal-interval", "200ms", "--log-level", "info"}})
	adm := kadm.NewClient(s.Client())
	if _, err := adm.CreateTopic(context.Background(), partitions, -1, nil, "bench"); err != nil {
		b.Fatal(err)
	}

	run := func(b *testing.B, seeds []string, acks kgo.Acks, idempotent bool) {
		opts := []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic("bench"),
			kgo.RequiredAcks(acks), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
			kgo.MaxBufferedRecords(1 << 16)}
		if !idempotent {
			opts = append(opts, kgo.DisableIdempotentWrite())
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		ctx := context.Background()
		// Warm up: metadata, producer id, connections.
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr(); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(value)))
		b.ResetTimer()
		var wg sync.WaitGroup
		var once sync.Once
		var firstErr error
		wg.Add(b.N)
		for i := 0; i < b.N; i++ {
			cl.Produce(ctx, &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
				if err != nil {
					once.Do(func() { firstErr = err })
				}
				wg.Done()
			})
		}
		wg.Wait()
		b.StopTimer()
		if firstErr != nil {
			b.Fatal(firstErr)
		}
	}
	b.Run("ref=kfake/acks=1", func(b *testing.B) { run(b, fake.ListenAddrs(), kgo.LeaderAck(), false) })
	b.Run("strata/acks=1", func(b *testing.B) { run(b, []string{s.Addr}, kgo.LeaderAck(), false) })
	b.Run("ref=kfake/acks=all", func(b *testing.B) { run(b, fake.ListenAddrs(), kgo.AllISRAcks(), true) })
	b.Run("strata/acks=all", func(b *testing.B) { run(b, []string{s.Addr}, kgo.AllISRAcks(), true) })
}
