package e2e

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/internal/testenv"
)

// BenchmarkProduce measures produce throughput with franz-go: 1 KiB records
// over 16 partitions, against franz-go's in-memory kfake (the reference),
// against one Strata broker and against three, each on a real MinIO and
// etcd, with acks=1 and acks=all. `make bench` prints each figure's ratio to
// kfake with the same acks, and the three brokers' ratio to the one.
func BenchmarkProduce(b *testing.B) {
	const (
		partitions = 16
		topic      = "bench"
	)
	value := make([]byte, 1024)
	for i := range value {
		value[i] = byte('a' + i%26)
	}

	fake, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic))
	if err != nil {
		b.Fatal(err)
	}
	defer fake.Close()

	etcd := testenv.StartEtcd(b)
	minio := testenv.StartMinIO(b)
	args := []string{"--seal-interval", "200ms", "--log-level", "info"}
	s := StartStrata(b, Options{EtcdEndpoints: etcd.Endpoint, ObjectStore: minio.S3URL(topic), Args: args})
	adm := kadm.NewClient(s.Client())
	if _, err := adm.CreateTopic(context.Background(), partitions, -1, nil, topic); err != nil {
		b.Fatal(err)
	}

	run := func(b *testing.B, seeds []string, acks kgo.Acks, idempotent bool) {
		opts := []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic),
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
		// Warm up: metadata, producer id, a connection to every leader.
		warm := make([]*kgo.Record, partitions)
		for i := range warm {
			warm[i] = &kgo.Record{Value: value}
		}
		if err := cl.ProduceSync(ctx, warm...).FirstErr(); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(value)))
		b.ResetTimer()
		var wg sync.WaitGroup
		var failed produceFailure
		wg.Add(b.N)
		for i := 0; i < b.N; i++ {
			cl.Produce(ctx, &kgo.Record{Value: value}, failed.promise(wg.Done))
		}
		wg.Wait()
		b.StopTimer()
		if err := failed.err(); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("ref=kfake/acks=1", func(b *testing.B) { run(b, fake.ListenAddrs(), kgo.LeaderAck(), false) })
	b.Run("strata/acks=1", func(b *testing.B) { run(b, []string{s.Addr}, kgo.LeaderAck(), false) })
	b.Run("ref=kfake/acks=all", func(b *testing.B) { run(b, fake.ListenAddrs(), kgo.AllISRAcks(), true) })
	b.Run("strata/acks=all", func(b *testing.B) { run(b, []string{s.Addr}, kgo.AllISRAcks(), true) })

	// Three brokers on an etcd and a bucket of their own. The single broker
	// stops first, so that it takes nothing from them (the machine's cores
	// are shared by everything here).
	if code := s.Stop(); code != 0 {
		b.Fatalf("strata %s: exit code %d after SIGTERM, want 0", s.Addr, code)
	}
	c := startBenchCluster(b, 3, Options{EtcdEndpoints: testenv.StartEtcd(b).Endpoint,
		ObjectStore: minio.S3URL(topic + "-3"), Args: args})
	c.createTopic(b, topic, partitions)
	c.settle(b, topic, partitions)
	b.Run("strata/brokers=3/acks=1", func(b *testing.B) { run(b, c.addrs(), kgo.LeaderAck(), false) })
	b.Run("strata/brokers=3/acks=all", func(b *testing.B) { run(b, c.addrs(), kgo.AllISRAcks(), true) })
}

// BenchmarkFailover measures how long the partitions of a broker that dies
// take produces again. Three brokers with a 3 s session TTL share a real
// etcd and MinIO; each iteration SIGKILLs the broker leading the most
// partitions of a 12-partition topic (of the tied ones, the controller in
// every second iteration, another broker in the others) and produces one
// record (acks=all, franz-go) to every partition it led. From the kill, it
// times the first of those produces to be acknowledged (by another broker:
// the killed one stays down) and the last. The killed broker is restarted
// and the cluster settles (every broker leads its share, every partition
// acknowledges) between iterations.
//
// It reports seconds per failover and their ratio to the session TTL, the
// reference: a dead broker keeps its partitions until its lease ends, at
// most one TTL after its last keep-alive.
func BenchmarkFailover(b *testing.B) {
	const (
		brokers    = 3
		partitions = 12
		ttl        = 3 * time.Second
		topic      = "failover"
	)
	etcd := testenv.StartEtcd(b)
	minio := testenv.StartMinIO(b)
	c := startBenchCluster(b, brokers, Options{EtcdEndpoints: etcd.Endpoint, ObjectStore: minio.S3URL(topic),
		Args: []string{"--session-ttl", ttl.String(), "--log-level", "info"}})
	c.createTopic(b, topic, partitions)

	// The producer retries and refreshes metadata every 100 ms, so that the
	// figure is the brokers' to within that, not franz-go's backoff (from
	// 250 ms doubling to 5 s, metadata at most every 5 s by default).
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addrs()...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.MetadataMinAge(100*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	produce := func(ctx context.Context, p int) error {
		return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: int32(p), Value: []byte("failover")}).FirstErr()
	}

	// failover is one iteration: it kills the busiest broker, leaves it
	// down, and returns the time from the kill to the first acknowledged
	// produce on each partition it led, and whether it was the controller.
	failover := func(b *testing.B, turn int) (killed *Strata, acked []time.Duration, controller bool) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		var leaders []int
		var ctl int
		for {
			leaders, ctl = c.settle(b, topic, partitions)
			for p := range partitions { // the client knows every leader and is connected to it
				if err := produce(ctx, p); err != nil {
					b.Fatalf("before the kill, partition %d: %v", p, err)
				}
			}
			if now, _, err := c.leadership(ctx, topic, partitions); err == nil && slices.Equal(now, leaders) {
				break // no partition moved meanwhile
			}
		}
		victim, moved := busiest(leaders, brokers, func(i int) bool { return (i == ctl) == (turn%2 == 0) })
		killed = c.brokers[victim]

		t0 := time.Now()
		killed.Kill()
		acked = make([]time.Duration, len(moved))
		errs := make([]error, len(moved))
		var wg sync.WaitGroup
		for j, p := range moved {
			wg.Go(func() {
				errs[j] = produce(ctx, p)
				acked[j] = time.Since(t0)
			})
		}
		wg.Wait()
		for j, err := range errs {
			if err != nil {
				b.Fatalf("after SIGKILL of %s, partition %d: %v", killed.Addr, moved[j], err)
			}
		}
		return killed, acked, victim == ctl
	}

	b.Run(fmt.Sprintf("brokers=%d/ttl=%s", brokers, ttl), func(b *testing.B) {
		var first, last time.Duration
		var firsts, lasts []string
		for i := range b.N {
			s, acked, controller := failover(b, i)
			f, l := slices.Min(acked), slices.Max(acked)
			first, last = first+f, last+l
			mark := ""
			if controller {
				mark = "*"
			}
			firsts = append(firsts, f.Round(10*time.Millisecond).String()+mark)
			lasts = append(lasts, l.Round(10*time.Millisecond).String()+mark)
			s.Restart()
		}
		// One line per run: the testing package keeps ten lines of a
		// benchmark's log.
		b.Logf("%d kills (* of the controller); from the kill to the first produce acknowledged on a moved partition %v, on every moved partition %v",
			b.N, firsts, lasts)
		n := float64(b.N)
		b.ReportMetric(0, "ns/op") // an iteration's time is mostly restarting and settling
		b.ReportMetric(first.Seconds()/n, "s/failover")
		b.ReportMetric(last.Seconds()/n, "s/all-moved")
		b.ReportMetric(first.Seconds()/n/ttl.Seconds(), "failover/ttl")
	})
}

// busiest is the broker leading the most partitions, by leaders (each
// partition's leader, an index of n brokers), and the partitions it leads.
// Of tied brokers it takes the first that prefer accepts, if any.
func busiest(leaders []int, n int, prefer func(int) bool) (int, []int) {
	led := make([][]int, n)
	for p, i := range leaders {
		led[i] = append(led[i], p)
	}
	best := 0
	for i := range n {
		if len(led[i]) > len(led[best]) || len(led[i]) == len(led[best]) && !prefer(best) && prefer(i) {
			best = i
		}
	}
	return best, led[best]
}

// benchCluster is brokers sharing one etcd and one bucket, each on a data
// directory of its own, with a client seeded with all of them.
type benchCluster struct {
	brokers []*Strata
	cl      *kgo.Client
}

// startBenchCluster starts n brokers with opts and waits until Metadata
// lists them all.
func startBenchCluster(b *testing.B, n int, opts Options) *benchCluster {
	b.Helper()
	c := &benchCluster{}
	for range n {
		c.brokers = append(c.brokers, StartStrata(b, opts))
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.addrs()...))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cl.Close)
	c.cl = cl
	c.await(b, "Metadata to list every broker", func(ctx context.Context) error {
		_, _, err := c.leadership(ctx, "", 0)
		return err
	})
	return c
}

// produceFailure keeps the first failure that a producer's promises report.
type produceFailure struct {
	mu    sync.Mutex
	first error
}

// promise is a produce promise that keeps its record's failure, then calls
// done if it is not nil.
func (f *produceFailure) promise(done func()) func(*kgo.Record, error) {
	return func(r *kgo.Record, err error) {
		if err != nil {
			f.mu.Lock()
			if f.first == nil {
				f.first = fmt.Errorf("produce to partition %d: %w", r.Partition, err)
			}
			f.mu.Unlock()
		}
		if done != nil {
			done()
		}
	}
}

// err is the first failure.
func (f *produceFailure) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.first
}

func (c *benchCluster) addrs() []string { return brokerAddrs(c.brokers) }

// createTopic creates topic; the caller has waited until every broker is in
// the cluster, so that the controller spreads the partitions at once.
func (c *benchCluster) createTopic(b *testing.B, topic string, partitions int) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(c.cl).CreateTopic(ctx, int32(partitions), -1, nil, topic); err != nil {
		b.Fatalf("create topic %s: %v", topic, err)
	}
}

// settle waits until Metadata lists every broker, every partition of topic
// is led by one of them and each leads its share (at least partitions/n).
// It returns each partition's leader and the controller, as indexes in
// c.brokers (the controller -1 if it is none of them).
func (c *benchCluster) settle(b *testing.B, topic string, partitions int) (leaders []int, controller int) {
	b.Helper()
	c.await(b, "the leaders of "+topic+" to spread over every broker", func(ctx context.Context) error {
		var err error
		leaders, controller, err = c.leadership(ctx, topic, partitions)
		if err != nil {
			return err
		}
		counts := make([]int, len(c.brokers))
		for _, i := range leaders {
			counts[i]++
		}
		if slices.Min(counts) < partitions/len(c.brokers) {
			return fmt.Errorf("partitions led by broker: %v", counts)
		}
		return nil
	})
	return leaders, controller
}

// await polls cond until it returns nil, failing after a minute with cond's
// last error.
func (c *benchCluster) await(b *testing.B, what string, cond func(context.Context) error) {
	b.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := cond(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("waited a minute for %s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// leadership asks a broker for Metadata and returns the leader of each of
// the first partitions of topic and the controller, as indexes in
// c.brokers (the controller -1 if it is none of them). It fails unless
// Metadata lists exactly c.brokers and they lead every partition.
//
// It sends the request itself: kadm's Metadata answers from the client's
// cache, up to MetadataMinAge (5 s) old, which misses the moves of a
// failover.
func (c *benchCluster) leadership(ctx context.Context, topic string, partitions int) ([]int, int, error) {
	req := kmsg.NewPtrMetadataRequest()
	if topic != "" {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, c.cl)
	if err != nil {
		return nil, -1, err
	}
	byID := map[int32]int{}
	var listed []string
	for _, br := range resp.Brokers {
		addr := hostPort(br.Host, br.Port)
		listed = append(listed, fmt.Sprintf("%d=%s", br.NodeID, addr))
		if i := slices.Index(c.addrs(), addr); i >= 0 {
			byID[br.NodeID] = i
		}
	}
	if len(resp.Brokers) != len(c.brokers) || len(byID) != len(c.brokers) {
		return nil, -1, fmt.Errorf("Metadata lists brokers %v, want %v", listed, c.addrs())
	}
	controller, ok := byID[resp.ControllerID]
	if !ok {
		controller = -1
	}
	leaders := make([]int, partitions)
	if partitions == 0 {
		return leaders, controller, nil
	}
	i := slices.IndexFunc(resp.Topics, func(t kmsg.MetadataResponseTopic) bool { return t.Topic != nil && *t.Topic == topic })
	if i < 0 {
		return nil, -1, fmt.Errorf("Metadata does not describe %s", topic)
	}
	td := resp.Topics[i]
	if err := kerr.ErrorForCode(td.ErrorCode); err != nil {
		return nil, -1, fmt.Errorf("%s: %w", topic, err)
	}
	seen := make([]bool, partitions)
	for _, pd := range td.Partitions {
		p := int(pd.Partition)
		if p < 0 || p >= partitions {
			continue
		}
		if err := kerr.ErrorForCode(pd.ErrorCode); err != nil {
			return nil, -1, fmt.Errorf("%s/%d: %w", topic, p, err)
		}
		if leaders[p], ok = byID[pd.Leader]; !ok {
			return nil, -1, fmt.Errorf("%s/%d: leader %d is none of the brokers", topic, p, pd.Leader)
		}
		seen[p] = true
	}
	if p := slices.Index(seen, false); p >= 0 {
		return nil, -1, fmt.Errorf("Metadata does not describe %s/%d", topic, p)
	}
	return leaders, controller, nil
}
