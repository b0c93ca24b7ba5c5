package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/strata-io/strata/internal/testenv"
)

// BenchmarkManyPartitions measures a cluster holding many partitions: one
// broker with 10,000 and three brokers with 100,000, in topics of at most
// manyPartsPerTopic partitions each, on a real etcd and MinIO of their own.
// On the same cluster, before the many, a 16-partition topic is the
// reference: it is created, led and produced to the same way, so that the
// figures for the many are also ratios to it.
//
// It reports, for the many partitions:
//   - s/led: from CreateTopics until Metadata shows every partition led by
//     a live broker, and led/ref its ratio to the 16 partitions';
//   - rss-B/partition: the growth of each broker's resident memory (VmRSS)
//     from before the topics were created, per partition it leads (the
//     largest of the brokers), and goroutines (the most of any broker);
//   - metadata-p50-ms, metadata-p99-ms: Metadata for all topics, asked
//     manyPartsMetadataCalls times;
//   - listoffsets-ms: ListOffsets (latest) for every partition, one request
//     per leader sent at once, the median of a few rounds;
//   - rec/s and produce/ref: manyPartsRecords records (acks=all, 100 B)
//     spread evenly over every partition, and the ratio to the same number
//     over the 16;
//   - puts/seal: object PUTs per sealed segment while producing (one
//     object per seal expected, however many partitions it holds), and
//     puts/s;
//   - etcd-keys/partition, etcd-B/partition: growth of etcd's key count and
//     database size (Status DbSize) per partition once led, and
//     etcd-keys/written-partition, etcd-B/written-partition once every
//     partition holds records; etcd-revs/s/partition and
//     etcd-revs/record: etcd writes (revisions) while producing;
//   - s/restart-served and restart/ttl: after SIGKILL of one broker and its
//     restart at once, from the restart until a produce (acks=all) to every
//     partition is acknowledged, and its ratio to the session TTL;
//     s/restart-ready: of that, until the restarted broker's /readyz
//     answered (it has taken back its partitions by then: its lease is
//     re-attached, the leader keys are still its own); s/rebalanced: until
//     the restarted broker leads its share again.
//
// Every wait is bounded; nothing is a threshold. Run it alone with
//
//	CI=true go test -run '^$' -bench BenchmarkManyPartitions -benchtime 1x -timeout 90m ./e2e/
//
// MANYPARTS_PPROF=1 serves the brokers' pprof on their --http-listen
// (logged), to profile a slow step.
func BenchmarkManyPartitions(b *testing.B) {
	b.Run("brokers=1/partitions=10000", func(b *testing.B) { benchManyPartitions(b, 1, 10000) })
	b.Run("brokers=3/partitions=100000", func(b *testing.B) { benchManyPartitions(b, 3, 100000) })
}

const (
	manyPartsPerTopic      = 10000 // a topic per CreateTopics request
	manyPartsPerRequest    = 10000 // the partitions one request may create (maxPartitionsPerRequest in broker)
	manyPartsRefPartitions = 16
	manyPartsRecords       = 200000
	manyPartsMetadataCalls = 20
	manyPartsTTL           = 5 * time.Second
	manyPartsWait          = 30 * time.Minute // bound of every wait for the many
)

// manyPartsRun is one sub-benchmark's cluster and what it measured.
type manyPartsRun struct {
	b     *testing.B
	c     *benchCluster
	etcd  *testenv.Etcd
	ecl   *clientv3.Client
	value []byte
}

func benchManyPartitions(b *testing.B, brokers, partitions int) {
	etcd := testenv.StartEtcd(b)
	minio := testenv.StartMinIO(b)
	args := []string{"--seal-interval", "200ms", "--log-level", "warn", "--session-ttl", manyPartsTTL.String()}
	if os.Getenv("MANYPARTS_PPROF") != "" {
		args = append(args, "--pprof")
	}
	c := startBenchCluster(b, brokers, Options{EtcdEndpoints: etcd.Endpoint, ObjectStore: minio.S3URL("manyparts"), Args: args})
	ecl, err := clientv3.New(clientv3.Config{Endpoints: []string{etcd.Endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ecl.Close() })
	r := &manyPartsRun{b: b, c: c, etcd: etcd, ecl: ecl, value: make([]byte, 100)}
	for _, s := range c.brokers {
		r.logf("broker %s metrics/pprof on http://%s", s.Addr, s.HTTPAddr)
	}

	// The reference: 16 partitions on the same cluster.
	refLed := r.createAndLead([]string{"ref"}, manyPartsRefPartitions)
	refRate, _ := r.produce(map[string]int{"ref": manyPartsRefPartitions})
	r.logf("16 partitions: led %.2fs after CreateTopics, %.0f records/s", refLed.Seconds(), refRate)

	var topics []string
	counts := map[string]int{}
	for i := 0; i < partitions; i += manyPartsPerTopic {
		name := fmt.Sprintf("many-%03d", i/manyPartsPerTopic)
		topics = append(topics, name)
		counts[name] = min(manyPartsPerTopic, partitions-i)
	}
	rssBefore := r.rss()
	keysBefore, dbBefore, _ := r.etcdStatus()
	led := r.createAndLead(topics, manyPartsPerTopic)
	leaders := r.settle(counts)
	r.logf("%d partitions: led %.2fs after CreateTopics (%.1f× the 16's)", partitions, led.Seconds(), led.Seconds()/refLed.Seconds())
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(led.Seconds(), "s/led")
	b.ReportMetric(led.Seconds()/refLed.Seconds(), "led/ref")

	// Memory and goroutines once settled.
	time.Sleep(2 * time.Second)
	rssAfter := r.rss()
	perPart, goroutines := 0.0, 0.0
	for i, s := range c.brokers {
		n := leaders[i]
		g := metricValue(b, s, "go_goroutines")
		per := float64(rssAfter[i]-rssBefore[i]) / float64(max(n, 1))
		r.logf("broker %d: leads %d, RSS %d MiB (was %d MiB), %.0f B per led partition, %.0f goroutines",
			i, n, rssAfter[i]>>20, rssBefore[i]>>20, per, g)
		perPart, goroutines = max(perPart, per), max(goroutines, g)
	}
	b.ReportMetric(perPart, "rss-B/partition")
	b.ReportMetric(goroutines, "goroutines")

	keysAfter, dbAfter, _ := r.etcdStatus()
	r.logf("etcd: %d keys (was %d), DB %d MiB (was %d MiB)", keysAfter, keysBefore, dbAfter>>20, dbBefore>>20)
	b.ReportMetric(float64(keysAfter-keysBefore)/float64(partitions), "etcd-keys/partition")
	b.ReportMetric(float64(dbAfter-dbBefore)/float64(partitions), "etcd-B/partition")

	p50, p99 := r.metadataLatency()
	r.logf("Metadata (all topics, %d calls): p50 %.1f ms, p99 %.1f ms", manyPartsMetadataCalls, p50, p99)
	b.ReportMetric(p50, "metadata-p50-ms")
	b.ReportMetric(p99, "metadata-p99-ms")
	lo := r.listOffsets()
	r.logf("ListOffsets (all partitions): %.1f ms", lo)
	b.ReportMetric(lo, "listoffsets-ms")

	_, _, revBefore := r.etcdStatus()
	putsBefore, sealsBefore := r.sumMetric("strata_objectstore_operations_total", `op="put"`, `result="ok"`), r.sumMetric("strata_tiering_segments_uploaded_total")
	t0 := time.Now()
	rate, _ := r.produce(counts)
	elapsed := time.Since(t0)
	keysWritten, dbWritten, revAfter := r.etcdStatus()
	puts, seals := r.sumMetric("strata_objectstore_operations_total", `op="put"`, `result="ok"`)-putsBefore,
		r.sumMetric("strata_tiering_segments_uploaded_total")-sealsBefore
	revs := float64(revAfter - revBefore)
	r.logf("produce %d records over %d partitions: %.0f records/s (%.2f× the 16's), %.0f PUTs for %.0f seals, %.0f etcd revisions",
		manyPartsRecords, partitions, rate, rate/refRate, puts, seals, revs)
	b.ReportMetric(rate, "rec/s")
	b.ReportMetric(rate/refRate, "produce/ref")
	b.ReportMetric(puts/max(seals, 1), "puts/seal")
	b.ReportMetric(puts/elapsed.Seconds(), "puts/s")
	b.ReportMetric(revs/elapsed.Seconds()/float64(partitions), "etcd-revs/s/partition")
	b.ReportMetric(revs/manyPartsRecords, "etcd-revs/record")
	r.logf("etcd after the produce: %d keys, DB %d MiB", keysWritten, dbWritten>>20)
	b.ReportMetric(float64(keysWritten-keysBefore)/float64(partitions), "etcd-keys/written-partition")
	b.ReportMetric(float64(dbWritten-dbBefore)/float64(partitions), "etcd-B/written-partition")

	// Restart: SIGKILL the last broker (not the controller, which the
	// first one started usually is), start it again at once, and produce
	// to every partition until all are acknowledged.
	victim := c.brokers[len(c.brokers)-1]
	victim.Kill()
	t1 := time.Now()
	victim.Restart()
	up := time.Since(t1)
	all := withTopic(counts, "ref", manyPartsRefPartitions)
	_, served := r.produceOnce(all)
	served += up
	r.logf("after SIGKILL and restart of %s: ready in %.2fs, every partition acknowledged a produce %.2fs after the restart (TTL %s)",
		victim.Addr, up.Seconds(), served.Seconds(), manyPartsTTL)
	b.ReportMetric(served.Seconds(), "s/restart-served")
	b.ReportMetric(up.Seconds(), "s/restart-ready")
	b.ReportMetric(served.Seconds()/manyPartsTTL.Seconds(), "restart/ttl")
	if len(c.brokers) > 1 {
		r.settle(counts)
		b.ReportMetric(time.Since(t1).Seconds(), "s/rebalanced")
	}
}

// withTopic is counts with one more topic.
func withTopic(counts map[string]int, topic string, n int) map[string]int {
	out := map[string]int{topic: n}
	for t, c := range counts {
		out[t] = c
	}
	return out
}

// logf prints a line of detail on stderr, named after the sub-benchmark:
// the testing package keeps only ten lines of a benchmark's log.
func (r *manyPartsRun) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", r.b.Name(), fmt.Sprintf(format, args...))
}

// createAndLead creates topics of partitions each, in CreateTopics requests
// of at most manyPartsPerRequest partitions sent at once, and returns the
// time until Metadata shows every partition of them led by a live broker.
func (r *manyPartsRun) createAndLead(topics []string, partitions int) time.Duration {
	r.b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), manyPartsWait)
	defer cancel()
	// Requests with a timeout as long as the wait: the broker answers once
	// every topic of a request is led or after its leaders wait
	// (partition.leadersWait, 10 s), which the topics share.
	var reqs []*kmsg.CreateTopicsRequest
	for i, name := range topics {
		if i == 0 || len(reqs[len(reqs)-1].Topics)*partitions+partitions > manyPartsPerRequest {
			req := kmsg.NewPtrCreateTopicsRequest()
			req.TimeoutMillis = int32(manyPartsWait.Milliseconds())
			reqs = append(reqs, req)
		}
		req := reqs[len(reqs)-1]
		ct := kmsg.NewCreateTopicsRequestTopic()
		ct.Topic, ct.NumPartitions, ct.ReplicationFactor = name, int32(partitions), -1
		req.Topics = append(req.Topics, ct)
	}
	t0 := time.Now()
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Go(func() {
			resp, err := req.RequestWith(ctx, r.c.cl)
			if err != nil {
				errs[i] = err
				return
			}
			for _, t := range resp.Topics {
				if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
					errs[i] = fmt.Errorf("%s: %w", t.Topic, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		r.b.Fatalf("create topics: %v", err)
	}
	created := time.Since(t0)
	want := map[string]int{}
	for _, t := range topics {
		want[t] = partitions
	}
	r.await("every partition of "+strings.Join(topics, ",")+" to be led", func(md *kmsg.MetadataResponse) error {
		_, err := ledBy(md, want, r.c.addrs())
		return err
	})
	led := time.Since(t0)
	r.logf("CreateTopics of %d×%d partitions (%d requests at once) answered in %.2fs, all led %.2fs after it was sent", len(topics), partitions, len(reqs), created.Seconds(), led.Seconds())
	return led
}

// settle waits until every partition of counts is led and each broker
// leads at least its share; it returns how many each leads.
func (r *manyPartsRun) settle(counts map[string]int) []int {
	r.b.Helper()
	total := 0
	for _, n := range counts {
		total += n
	}
	var led []int
	r.await("the partitions to spread over every broker", func(md *kmsg.MetadataResponse) error {
		var err error
		if led, err = ledBy(md, counts, r.c.addrs()); err != nil {
			return err
		}
		if slices.Min(led) < total/len(r.c.brokers) {
			return fmt.Errorf("partitions led by broker: %v", led)
		}
		return nil
	})
	return led
}

// await asks for Metadata (all topics) until cond accepts it, failing after
// manyPartsWait with cond's last error.
func (r *manyPartsRun) await(what string, cond func(*kmsg.MetadataResponse) error) {
	r.b.Helper()
	deadline := time.Now().Add(manyPartsWait)
	for {
		md, err := r.metadata()
		if err == nil {
			err = cond(md)
		}
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			r.b.Fatalf("waited %s for %s: %v", manyPartsWait, what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ledBy returns how many of want's partitions each broker (of addrs) leads,
// or an error naming one that is not led by one of them.
func ledBy(md *kmsg.MetadataResponse, want map[string]int, addrs []string) ([]int, error) {
	byID := map[int32]int{}
	for _, br := range md.Brokers {
		if i := slices.Index(addrs, hostPort(br.Host, br.Port)); i >= 0 {
			byID[br.NodeID] = i
		}
	}
	if len(md.Brokers) != len(addrs) || len(byID) != len(addrs) {
		return nil, fmt.Errorf("Metadata lists %d brokers, want %v", len(md.Brokers), addrs)
	}
	led := make([]int, len(addrs))
	seen := 0
	for _, t := range md.Topics {
		if t.Topic == nil {
			continue
		}
		n, ok := want[*t.Topic]
		if !ok {
			continue
		}
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return nil, fmt.Errorf("%s: %w", *t.Topic, err)
		}
		if len(t.Partitions) != n {
			return nil, fmt.Errorf("%s: %d partitions listed, want %d", *t.Topic, len(t.Partitions), n)
		}
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, fmt.Errorf("%s/%d: %w", *t.Topic, p.Partition, err)
			}
			i, ok := byID[p.Leader]
			if !ok {
				return nil, fmt.Errorf("%s/%d: leader %d is not listed", *t.Topic, p.Partition, p.Leader)
			}
			led[i]++
		}
		seen++
	}
	if seen != len(want) {
		return nil, fmt.Errorf("Metadata describes %d of %d topics", seen, len(want))
	}
	return led, nil
}

// metadata asks a broker for Metadata of all topics.
func (r *manyPartsRun) metadata() (*kmsg.MetadataResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return kmsg.NewPtrMetadataRequest().RequestWith(ctx, r.c.cl)
}

// metadataLatency is the p50 and p99 in ms of Metadata for all topics.
func (r *manyPartsRun) metadataLatency() (p50, p99 float64) {
	r.b.Helper()
	var ms []float64
	for range manyPartsMetadataCalls {
		t0 := time.Now()
		if _, err := r.metadata(); err != nil {
			r.b.Fatalf("Metadata: %v", err)
		}
		ms = append(ms, float64(time.Since(t0).Microseconds())/1000)
	}
	slices.Sort(ms)
	return ms[len(ms)/2], ms[(len(ms)*99-1)/100]
}

// listOffsets sends ListOffsets (latest) for every partition, one request
// per leader at once, a few times, and returns the median time in ms of a
// round. It fails unless every partition Metadata lists answers.
func (r *manyPartsRun) listOffsets() float64 {
	r.b.Helper()
	md, err := r.metadata()
	if err != nil {
		r.b.Fatal(err)
	}
	// leader → topic → partitions
	byLeader := map[int32]map[string][]int32{}
	want := 0
	for _, t := range md.Topics {
		for _, p := range t.Partitions {
			if byLeader[p.Leader] == nil {
				byLeader[p.Leader] = map[string][]int32{}
			}
			byLeader[p.Leader][*t.Topic] = append(byLeader[p.Leader][*t.Topic], p.Partition)
			want++
		}
	}
	reqs := map[int32]*kmsg.ListOffsetsRequest{}
	for leader, topics := range byLeader {
		req := kmsg.NewPtrListOffsetsRequest()
		req.ReplicaID = -1
		for topic, parts := range topics {
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = topic
			for _, p := range parts {
				rp := kmsg.NewListOffsetsRequestTopicPartition()
				rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = p, -1, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
		}
		reqs[leader] = req
	}
	var rounds []float64
	for range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		t0 := time.Now()
		var wg sync.WaitGroup
		var mu sync.Mutex
		answered, firstErr := 0, error(nil)
		for leader, req := range reqs {
			wg.Go(func() {
				resp, err := req.RequestWith(ctx, r.c.cl.Broker(int(leader)))
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					firstErr = cmpErr(firstErr, err)
					return
				}
				for _, t := range resp.Topics {
					for _, p := range t.Partitions {
						if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
							firstErr = cmpErr(firstErr, fmt.Errorf("%s/%d: %w", t.Topic, p.Partition, err))
							continue
						}
						answered++
					}
				}
			})
		}
		wg.Wait()
		rounds = append(rounds, float64(time.Since(t0).Microseconds())/1000)
		cancel()
		if firstErr != nil || answered != want {
			r.b.Fatalf("ListOffsets: %d of %d partitions answered: %v", answered, want, firstErr)
		}
	}
	slices.Sort(rounds)
	return rounds[len(rounds)/2]
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// produceClient is an acks=all producer on the cluster that retries and
// refreshes metadata every 100 ms.
func (r *manyPartsRun) produceClient() *kgo.Client {
	r.b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.c.addrs()...), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MaxBufferedRecords(1<<20),
		kgo.MetadataMinAge(100*time.Millisecond), kgo.ProduceRequestTimeout(time.Minute),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	if err != nil {
		r.b.Fatal(err)
	}
	return cl
}

// produce sends manyPartsRecords records spread evenly over the partitions
// of counts (after one record to each, to warm the client up) and returns
// the records per second and the time of the warm-up.
func (r *manyPartsRun) produce(counts map[string]int) (float64, time.Duration) {
	r.b.Helper()
	cl := r.produceClient()
	defer cl.Close()
	_, warm := r.produceWith(cl, counts, 0)
	t0 := time.Now()
	r.produceWith(cl, counts, manyPartsRecords)
	return manyPartsRecords / time.Since(t0).Seconds(), warm
}

// produceOnce sends one record to every partition of counts with a new
// client and returns when all are acknowledged.
func (r *manyPartsRun) produceOnce(counts map[string]int) (int, time.Duration) {
	r.b.Helper()
	cl := r.produceClient()
	defer cl.Close()
	return r.produceWith(cl, counts, 0)
}

// produceWith produces n records round-robin over the partitions of
// counts (n = 0: one to each partition) and waits for every
// acknowledgement, bounded by manyPartsWait.
func (r *manyPartsRun) produceWith(cl *kgo.Client, counts map[string]int, n int) (int, time.Duration) {
	r.b.Helper()
	type tp struct {
		topic string
		p     int32
	}
	var all []tp
	for _, t := range slices.Sorted(maps.Keys(counts)) {
		for p := range counts[t] {
			all = append(all, tp{t, int32(p)})
		}
	}
	if n == 0 {
		n = len(all)
	}
	ctx, cancel := context.WithTimeout(context.Background(), manyPartsWait)
	defer cancel()
	t0 := time.Now()
	var wg sync.WaitGroup
	var once sync.Once
	var firstErr error
	wg.Add(n)
	for i := range n {
		to := all[i%len(all)]
		cl.Produce(ctx, &kgo.Record{Topic: to.topic, Partition: to.p, Value: r.value}, func(_ *kgo.Record, err error) {
			if err != nil {
				once.Do(func() { firstErr = err })
			}
			wg.Done()
		})
	}
	wg.Wait()
	if firstErr != nil {
		r.b.Fatalf("produce %d records over %d partitions: %v", n, len(all), firstErr)
	}
	return n, time.Since(t0)
}

// rss is each broker's resident set size in bytes.
func (r *manyPartsRun) rss() []int64 {
	r.b.Helper()
	var out []int64
	for _, s := range r.c.brokers {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.proc.Cmd.Process.Pid))
		if err != nil {
			r.b.Fatal(err)
		}
		var kb int64
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, err = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				if err != nil {
					r.b.Fatalf("VmRSS %q: %v", v, err)
				}
			}
		}
		out = append(out, kb<<10)
	}
	return out
}

// etcdStatus is etcd's key count, database size and revision.
func (r *manyPartsRun) etcdStatus() (keys, dbBytes, rev int64) {
	r.b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := r.ecl.Get(ctx, "", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		r.b.Fatal(err)
	}
	st, err := r.ecl.Status(ctx, r.etcd.Endpoint)
	if err != nil {
		r.b.Fatal(err)
	}
	return resp.Count, st.DbSize, resp.Header.Revision
}

// sumMetric sums, over the brokers, the samples of metric name whose labels
// contain every one of labels (e.g. `op="put"`).
func (r *manyPartsRun) sumMetric(name string, labels ...string) float64 {
	r.b.Helper()
	sum := 0.0
	for _, s := range r.c.brokers {
		resp, err := http.Get("http://" + s.HTTPAddr + "/metrics")
		if err != nil {
			r.b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			r.b.Fatal(err)
		}
	lines:
		for _, line := range strings.Split(string(body), "\n") {
			rest, ok := strings.CutPrefix(line, name)
			if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
				continue
			}
			for _, l := range labels {
				if !strings.Contains(rest, l) {
					continue lines
				}
			}
			f, err := strconv.ParseFloat(rest[strings.LastIndexByte(rest, ' ')+1:], 64)
			if err != nil {
				r.b.Fatalf("metric %s: %q: %v", name, line, err)
			}
			sum += f
		}
	}
	return sum
}
