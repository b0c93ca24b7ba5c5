package e2e

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/strata-io/strata/internal/testenv"
)

// The load of BenchmarkTransactions.
const (
	txnBenchPartitions    = 16   // of the topic
	txnBenchProducers     = 4    // clients producing at once, each with a transactional id of its own
	txnBenchRecords       = 1000 // records per transaction (the last of a producer's may hold fewer)
	txnBenchTxnPartitions = 4    // partitions each transaction writes to
)

// BenchmarkTransactions measures transactional produce throughput with
// franz-go: 4 producers, each committing transactions of 1,000 records of
// 1 KiB (BenchmarkProduce's records) spread over 4 of 16 partitions, one
// transaction after another (BeginTransaction, the records, Flush,
// EndTransaction with a commit), until b.N records are committed. The same
// records go to the same partitions in the "plain" case, by idempotent
// acks=all producers without transactions that never wait between
// transactions' worth of records: the throughput an application gives up
// for exactly once.
//
// It runs against franz-go's in-memory kfake (ref=kfake/plain,
// ref=kfake/txn) and against one Strata broker on a real MinIO and etcd
// (strata/plain, strata/txn, strata/txn-v2), BenchmarkProduce's setup.
// The txn cases speak the transaction protocol version 1 (explicit
// AddPartitionsToTxn): the clients are capped below EndTxn v5, so that
// franz-go does not use KIP-890's version 2. The txn-v2 cases let franz-go
// use version 2 (Produce v12 adds the partitions, every EndTxn v5 bumps
// the epoch), which kfake and Strata both serve.
//
// Each case reports records/s and, with transactions, commits/s and the
// mean time a transaction spent in Flush (its records acknowledged) and in
// EndTransaction. Each transactional case reports its records/s as a ratio
// to the plain case on the same system (txn/plain), strata's also to the
// same case on kfake (txn/kfake-txn; every transaction holds the same
// records, so it is also the ratio of commits/s), and each txn-v2 case to
// the txn case on the same system (v2/v1). The ratios need the cases they
// divide by to have run in the same process.
//
// Then strata/max-put-rate=50/txn runs the txn case again on a broker of
// its own (a new etcd, the same MinIO) at --max-put-rate 50, where a
// segment is sealed as soon as a flush or the previous transaction's
// markers wait, instead of at most every 200 ms at the default budget of 5
// PUTs/s; its records/s as a ratio to strata/txn (txn/default-budget).
//
// After each case it checks the topic: every partition's high watermark is
// its records plus one commit marker per transaction that wrote to it, and
// the last stable offset (read_committed ListOffsets) has reached it.
//
// With -short only the kfake cases run (no etcd, MinIO or broker): a check
// of the harness in seconds.
func BenchmarkTransactions(b *testing.B) {
	value := make([]byte, 1024)
	for i := range value {
		value[i] = byte('a' + i%26)
	}
	// records/s of each finished case, by system/case, for the ratios.
	rates := map[string]float64{}
	var topics atomic.Int64
	// bench runs one case; tv is the transaction version (0: no
	// transactions).
	bench := func(system string, seeds []string, tv int) func(*testing.B) {
		return func(b *testing.B) {
			topic := fmt.Sprintf("txn-bench-%d", topics.Add(1))
			txn := tv > 0
			r := runTxnBench(b, seeds, topic, value, tv)
			name := "plain"
			switch tv {
			case 1:
				name = "txn"
			case 2:
				name = "txn-v2"
			}
			rate := float64(r.records) / b.Elapsed().Seconds()
			rates[system+"/"+name] = rate
			b.ReportMetric(0, "ns/op") // records/s says it, and the unit of ns/op is a record here
			b.ReportMetric(rate, "records/s")
			if !txn {
				return
			}
			b.ReportMetric(float64(r.commits)/b.Elapsed().Seconds(), "commits/s")
			b.ReportMetric(r.flush.Seconds()*1000/float64(r.commits), "ms/flush")
			b.ReportMetric(r.end.Seconds()*1000/float64(r.commits), "ms/end-txn")
			if plain := rates[system+"/plain"]; plain > 0 {
				b.ReportMetric(rate/plain, "txn/plain")
			}
			if ref := rates["kfake/"+name]; system != "kfake" && ref > 0 {
				b.ReportMetric(rate/ref, "txn/kfake-txn")
			}
			if v1 := rates[system+"/txn"]; tv == 2 && v1 > 0 {
				b.ReportMetric(rate/v1, "v2/v1")
			}
			if def := rates["strata/"+name]; system == "strata-put50" && def > 0 {
				b.ReportMetric(rate/def, "txn/default-budget")
			}
		}
	}

	fake, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		b.Fatal(err)
	}
	defer fake.Close()
	b.Run("ref=kfake/plain", bench("kfake", fake.ListenAddrs(), 0))
	b.Run("ref=kfake/txn", bench("kfake", fake.ListenAddrs(), 1))
	b.Run("ref=kfake/txn-v2", bench("kfake", fake.ListenAddrs(), 2))
	if testing.Short() {
		b.Log("-short: the kfake cases only")
		return
	}

	etcd := testenv.StartEtcd(b)
	minio := testenv.StartMinIO(b)
	s := StartStrata(b, Options{EtcdEndpoints: etcd.Endpoint, ObjectStore: minio.S3URL("txn-bench"),
		Args: []string{"--seal-interval", "200ms", "--log-level", "info"}})
	b.Run("strata/plain", bench("strata", []string{s.Addr}, 0))
	b.Run("strata/txn", bench("strata", []string{s.Addr}, 1))
	b.Run("strata/txn-v2", bench("strata", []string{s.Addr}, 2))
	s.Stop()

	etcd50 := testenv.StartEtcd(b)
	s50 := StartStrata(b, Options{EtcdEndpoints: etcd50.Endpoint, ObjectStore: minio.S3URL("txn-bench-50"),
		Args: []string{"--seal-interval", "200ms", "--max-put-rate", "50", "--log-level", "info"}})
	b.Run("strata/max-put-rate=50/txn", bench("strata-put50", []string{s50.Addr}, 1))
}

// txnBenchResult is what one case of BenchmarkTransactions did in its
// timed part.
type txnBenchResult struct {
	records, commits int64
	flush, end       time.Duration // summed over every transaction
}

// txnBenchVersions caps a client at the transaction protocol version tv:
// franz-go uses KIP-890's version 2 only if it may send EndTxn v5.
func txnBenchVersions(tv int) *kversion.Versions {
	v := kversion.Stable()
	if tv < 2 {
		v.SetMaxKeyVersion(int16(kmsg.EndTxn), 4)
	}
	return v
}

// txnBenchPartition is the partition of the i-th record of a producer's
// transaction t (or, without transactions, of its t-th transaction's worth
// of records): each transaction writes to txnBenchTxnPartitions consecutive
// partitions, shifted by one per transaction, so that producers' concurrent
// transactions share partitions.
func txnBenchPartition(producer, t, i int) int32 {
	first := producer*txnBenchTxnPartitions + t
	return int32((first + i%txnBenchTxnPartitions) % txnBenchPartitions)
}

// runTxnBench is one case of BenchmarkTransactions: it creates topic on the
// cluster at seeds, starts the producers (transactional ones of
// transaction version tv; 0: none) and has each commit one warm-up
// transaction (or produce one record to every partition) untimed, then has
// them produce b.N records between them, timed. Then it checks the topic's
// offsets.
func runTxnBench(b *testing.B, seeds []string, topic string, value []byte, tv int) txnBenchResult {
	txn := tv > 0
	admin, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	adm := kadm.NewClient(admin)
	// A guard against a hang before the timed part (a broker that does not
	// answer transactional requests), not a measure.
	warmCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := adm.CreateTopic(warmCtx, txnBenchPartitions, -1, nil, topic); err != nil {
		b.Fatalf("create topic %s: %v", topic, err)
	}

	// AddPartitionsToTxn requests the producers send: some under version
	// 1, none under version 2 (else the client did not use it).
	var addPartitions atomic.Int64
	countAdds := brokerWriteHook(func(key int16) {
		if key == int16(kmsg.AddPartitionsToTxn) {
			addPartitions.Add(1)
		}
	})
	producers := make([]*txnBenchProducer, txnBenchProducers)
	for i := range producers {
		opts := []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic),
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.MaxBufferedRecords(1 << 16), kgo.MaxVersions(txnBenchVersions(tv)), kgo.WithHooks(countAdds)}
		if txn {
			opts = append(opts, kgo.TransactionalID(fmt.Sprintf("%s-producer-%d", topic, i)))
		}
		cl, err := kgo.NewClient(opts...)
		if err != nil {
			b.Fatal(err)
		}
		defer cl.Close()
		producers[i] = &txnBenchProducer{cl: cl, id: i, written: make([]int64, txnBenchPartitions)}
	}

	// Warm up: metadata, the producer id, the coordinator, a connection to
	// every leader. A transaction, or a record, on every partition.
	if err := eachProducer(producers, func(p *txnBenchProducer) error {
		recs := make([]*kgo.Record, txnBenchPartitions)
		for i := range recs {
			recs[i] = &kgo.Record{Partition: int32(i), Value: value}
		}
		if txn {
			return p.transaction(warmCtx, recs)
		}
		return p.produce(warmCtx, recs)
	}); err != nil {
		b.Fatalf("warm-up: %v", err)
	}

	// The timed part: b.N records between the producers, in transactions
	// of txnBenchRecords, each producer one transaction after another
	// (without transactions, all of a producer's records at once).
	work := make([][][]*kgo.Record, len(producers))
	for _, p := range producers {
		n := b.N / txnBenchProducers
		if p.id < b.N%txnBenchProducers {
			n++
		}
		var all []*kgo.Record
		for t := 0; n > 0; t++ {
			k := min(n, txnBenchRecords)
			n -= k
			recs := make([]*kgo.Record, k)
			for i := range recs {
				recs[i] = &kgo.Record{Partition: txnBenchPartition(p.id, t, i), Value: value}
			}
			if txn {
				work[p.id] = append(work[p.id], recs)
			} else {
				all = append(all, recs...)
			}
		}
		if !txn && len(all) > 0 {
			work[p.id] = [][]*kgo.Record{all}
		}
		p.commits, p.flush, p.end = 0, 0, 0
	}
	ctx := context.Background()
	b.ResetTimer()
	err = eachProducer(producers, func(p *txnBenchProducer) error {
		for _, recs := range work[p.id] {
			var err error
			if txn {
				err = p.transaction(ctx, recs)
			} else {
				err = p.produce(ctx, recs)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	var res txnBenchResult
	res.records = int64(b.N)
	for _, p := range producers {
		res.commits += p.commits
		res.flush += p.flush
		res.end += p.end
	}

	// Every record and every marker is in the log, and every transaction's
	// records are stable (their markers may still be on their way when the
	// last EndTransaction returns).
	want := make([]int64, txnBenchPartitions)
	for _, p := range producers {
		for i, n := range p.written {
			want[i] += n
		}
	}
	checkTxnBenchOffsets(b, adm, topic, want)
	switch n := addPartitions.Load(); {
	case tv == 1 && n == 0:
		b.Fatal("transaction version 1: the producers sent no AddPartitionsToTxn")
	case tv == 2 && n > 0:
		b.Fatalf("transaction version 2: the producers sent AddPartitionsToTxn %d times", n)
	}
	return res
}

// txnBenchProducer is one producer of runTxnBench. Only its goroutine
// touches it while the producers run.
type txnBenchProducer struct {
	cl      *kgo.Client
	id      int
	written []int64 // per partition: records and markers it wrote there

	commits    int64
	flush, end time.Duration
}

// produce produces recs and waits until every one is acknowledged.
func (p *txnBenchProducer) produce(ctx context.Context, recs []*kgo.Record) error {
	var failed produceFailure
	var wg sync.WaitGroup
	wg.Add(len(recs))
	for _, r := range recs {
		p.cl.Produce(ctx, r, failed.promise(wg.Done))
	}
	wg.Wait()
	if err := failed.err(); err != nil {
		return err
	}
	for _, r := range recs {
		p.written[r.Partition]++
	}
	return nil
}

// transaction commits recs in one transaction, timing its Flush and its
// EndTransaction.
func (p *txnBenchProducer) transaction(ctx context.Context, recs []*kgo.Record) error {
	if err := p.cl.BeginTransaction(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	var failed produceFailure
	for _, r := range recs {
		p.cl.Produce(ctx, r, failed.promise(nil))
	}
	t0 := time.Now()
	err := p.cl.Flush(ctx) // every promise has run when it returns
	t1 := time.Now()
	if err == nil {
		err = failed.err()
	}
	if err != nil {
		if abortErr := p.cl.EndTransaction(context.Background(), kgo.TryAbort); abortErr != nil {
			return fmt.Errorf("%w; then abort: %v", err, abortErr)
		}
		return err
	}
	if err := p.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	p.flush += t1.Sub(t0)
	p.end += time.Since(t1)
	p.commits++
	added := make([]bool, txnBenchPartitions)
	for _, r := range recs {
		p.written[r.Partition]++
		added[r.Partition] = true
	}
	for i, a := range added {
		if a {
			p.written[i]++ // the commit marker
		}
	}
	return nil
}

// eachProducer runs fn for every producer at once and returns the first
// error.
func eachProducer(producers []*txnBenchProducer, fn func(*txnBenchProducer) error) error {
	errs := make([]error, len(producers))
	var wg sync.WaitGroup
	for i, p := range producers {
		wg.Go(func() {
			if err := fn(p); err != nil {
				errs[i] = fmt.Errorf("producer %d: %w", p.id, err)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// checkTxnBenchOffsets waits until every partition of topic has want[p] as
// its high watermark and its last stable offset, and fails if that does not
// happen within a minute (markers still unwritten by then would be a bug,
// not slowness), or if a high watermark goes past want.
func checkTxnBenchOffsets(b *testing.B, adm *kadm.Client, topic string, want []int64) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ends, err := adm.ListEndOffsets(ctx, topic)
		var stable kadm.ListedOffsets
		if err == nil {
			err = ends.Error()
		}
		if err == nil {
			stable, err = adm.ListCommittedOffsets(ctx, topic)
		}
		if err == nil {
			err = stable.Error()
		}
		cancel()
		if err == nil {
			var behind []string
			for p, w := range want {
				end, _ := ends.Lookup(topic, int32(p))
				lso, _ := stable.Lookup(topic, int32(p))
				if end.Offset > w {
					b.Fatalf("%s/%d: high watermark %d, want %d (records and commit markers written)", topic, p, end.Offset, w)
				}
				if end.Offset != w || lso.Offset != w {
					behind = append(behind, fmt.Sprintf("%d: high watermark %d, last stable %d, want %d", p, end.Offset, lso.Offset, w))
				}
			}
			if len(behind) == 0 {
				return
			}
			err = fmt.Errorf("partitions %v", behind)
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s: waited a minute for every record and marker to be stable: %v", topic, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
