package e2e

// Durability through the binary, with a real external etcd and a real MinIO:
// what a producer saw acknowledged is there, at the same partition and offset,
// after SIGKILL and the loss of the data directory (acks=all), after SIGKILL
// with the data directory kept (acks=1: WAL recovery), after a restart later
// than the lease TTL (the tenure resumed and the WAL uploaded; quarantined
// instead when another broker led the partition meanwhile), after a graceful stop
// and the loss of the data directory (acks=1), and after a torn WAL tail. And
// the broker refuses to start, with one line saying why, when its data
// directory is in use or etcd or the object store cannot be reached.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/strata-io/strata/internal/testenv"
	"github.com/strata-io/strata/tiering"
)

// walOnlyArgs keep acknowledged acks=1 records in the WAL only: nothing seals
// (so nothing is uploaded) within a test's lifetime unless the broker stops.
var walOnlyArgs = []string{"--seal-interval=30s", "--seal-bytes=64MiB"}

// externalDeps starts an etcd and a MinIO for one broker's cluster.
func externalDeps(t *testing.T, bucket string, args ...string) Options {
	t.Helper()
	e := testenv.StartEtcd(t)
	m := testenv.StartMinIO(t)
	return Options{EtcdEndpoints: e.Endpoint, ObjectStore: m.S3URL(bucket), Args: args}
}

// startExternal starts one broker with args on an etcd and a MinIO of its
// own (bucket), and returns them too, for tests that reach them directly.
func startExternal(t *testing.T, bucket string, args ...string) (*Strata, *testenv.Etcd, *testenv.MinIO) {
	t.Helper()
	etcd := testenv.StartEtcd(t)
	minio := testenv.StartMinIO(t)
	return StartStrata(t, Options{EtcdEndpoints: etcd.Endpoint, ObjectStore: minio.S3URL(bucket), Args: args}), etcd, minio
}

// TestDurabilityAcksAllSurvivesDiskLoss: acks=all records are in object
// storage and etcd when acknowledged, so SIGKILL plus the loss of the whole
// data directory loses none of them and duplicates none.
func TestDurabilityAcksAllSurvivesDiskLoss(t *testing.T) {
	s := StartStrata(t, externalDeps(t, "strata"))
	const topic, partitions, n = "acks-all", 4, 800
	ensureTopic(t, s, topic, partitions, nil)

	acked := produceNumbered(t, s, topic, partitions, n, "all") // idempotent, acks=all
	if len(acked) != n {
		t.Fatalf("%d of %d records acknowledged", len(acked), n)
	}

	s.Kill()
	checkAllBackWithoutDisk(t, s, topic, partitions, acked, "all")
}

// TestDurabilityAcksOneRecoversWAL: with acks=1 a record is acknowledged once
// the local WAL holds it. SIGKILL in the middle of a stream and a restart on
// the same data directory recover the WAL and upload it: every acknowledged
// record is there at its offset.
func TestDurabilityAcksOneRecoversWAL(t *testing.T) {
	s := StartStrata(t, externalDeps(t, "strata", walOnlyArgs...))
	const topic, partitions = "acks-one", 4
	ensureTopic(t, s, topic, partitions, nil)

	cl := newClient(t, s, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerLinger(time.Millisecond))
	var log ackLog
	var inflight sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for i := 0; ctx.Err() == nil; i++ {
			inflight.Add(1)
			p := int32(i % partitions)
			cl.Produce(ctx, &kgo.Record{Partition: p, Value: numbered("one", i)}, func(r *kgo.Record, err error) {
				defer inflight.Done()
				if err == nil {
					log.add(r)
				}
			})
		}
	}()
	var closeOnce sync.Once
	stopProducing := func() {
		cancel()
		<-stopped
		closeOnce.Do(cl.Close) // fails whatever is buffered or in flight
	}
	t.Cleanup(stopProducing)
	waitUntil(t, 60*time.Second, "2000 acknowledgements", func() bool { return log.len() >= 2000 })
	assertNothingVisible(t, s, topic, partitions, "before SIGKILL")

	s.Kill()
	stopProducing()
	waitGroup(t, &inflight, 60*time.Second, "produce callbacks after Close")
	acked := log.snapshot()
	t.Logf("%d records acknowledged before SIGKILL", len(acked))

	s.Restart()
	got := readBack(t, s, topic, partitions, endsOf(acked, nil))
	checkAcked(t, acked, got, "one")
	if lines := grepLines(scrubTemp(s.Output(), s.DataDir()), `(?i)recover`); len(lines) == 0 {
		t.Errorf("broker's log after restart does not mention recovering the WAL")
	} else {
		t.Logf("broker logged:\n%s", strings.Join(lines, "\n"))
	}
}

// TestDurabilityRestartAfterLeaseExpired: a single broker that comes back
// after its lease expired finds that no one led its partition since: it
// resumes its last tenure and uploads what its WAL held, so every acks=1
// record is there at its offset, under the same Kafka leader epoch.
func TestDurabilityRestartAfterLeaseExpired(t *testing.T) {
	e := testenv.StartEtcd(t)
	s := StartStrata(t, Options{EtcdEndpoints: e.Endpoint, Args: append([]string{shortTTL}, walOnlyArgs...)})
	const topic = "lease-expired"
	ensureTopic(t, s, topic, 1, nil)
	acked := produceAcksOne(t, s, topic, "wal", 0, 20)
	s.Kill()
	waitLeaseExpired(t, e.Endpoint)

	s.opts.Args = []string{shortTTL} // seal at the default interval again
	s.Restart()
	got := readBack(t, s, topic, 1, endsOf(acked, nil))
	checkAcked(t, acked, got, "wal")
	k := dialKafka(t, s)
	if got := metadataLeaderEpoch(t, k, topic); got != 0 {
		t.Errorf("leader epoch %d after resuming, want 0 (the same tenure, as far as clients can tell)", got)
	}
	if lines := grepLines(s.Output(), `quarantine=`); len(lines) > 0 {
		t.Errorf("nothing should be quarantined, the broker logged:\n%s", strings.Join(lines, "\n"))
	}
}

// TestDurabilityRestartAfterLeaseExpiredTakenOver: a broker that comes back
// after its lease expired, to a partition another broker led and wrote in
// the meantime, does not upload what its WAL held for it: it sets those
// records aside in <data-dir>/quarantine/ (every one of them, byte for
// byte), says so in its log, and the partition holds exactly what the other
// broker committed, then new records. The first broker's acks=1 records that
// were only in its WAL are not in the partition, as docs/durability.md says.
func TestDurabilityRestartAfterLeaseExpiredTakenOver(t *testing.T) {
	e := testenv.StartEtcd(t)
	opts := Options{EtcdEndpoints: e.Endpoint, ObjectStore: "file://" + filepath.Join(t.TempDir(), "objects"),
		Args: append([]string{shortTTL}, walOnlyArgs...)}
	brokers := []*Strata{StartStrata(t, opts), StartStrata(t, opts)}
	const topic = "taken-over"
	ensureTopic(t, brokers[0], topic, 1, nil)
	first := brokers[leaderIndex(t, brokers, topic)]
	second := brokers[0]
	if second == first {
		second = brokers[1]
	}
	lost := produceAcksOne(t, first, topic, "first", 0, 20)
	first.Kill()

	// The second broker takes the partition over and commits its own
	// records (a graceful stop uploads them), so its tenure is the last.
	waitUntil(t, 60*time.Second, "the second broker to lead the partition", func() bool {
		return leaderIndex(t, []*Strata{second}, topic) == 0
	})
	taken := produceAcksOne(t, second, topic, "kept", 0, 5)
	if code := second.Stop(); code != 0 {
		t.Fatalf("graceful stop of the second broker exited %d", code)
	}
	waitLeaseExpired(t, e.Endpoint)

	first.opts.Args = []string{shortTTL}
	first.Restart()
	after := produceAcksOne(t, first, topic, "kept", 5, 1) // waits until the partition is led again
	got := readBack(t, first, topic, 1, endsOf(after, nil))
	checkAcked(t, append(taken, after...), got, "kept")
	if len(got) != len(taken)+1 {
		t.Errorf("read %d records, want the second broker's %d and one more: the first broker's WAL records were uploaded",
			len(got), len(taken))
	}
	if lines := grepLines(first.Output(), `level=WARN.*set aside in the quarantine`); len(lines) == 0 {
		t.Errorf("the log does not say that WAL records were set aside:\n%s", tail(first.Output(), 20))
	}
	checkAcked(t, lost, waitQuarantined(t, first, len(lost)), "first")
}

// waitQuarantined waits until a broker has set aside at least n records
// (they may span WAL segments, each set aside on its own) and returns them.
func waitQuarantined(t *testing.T, s *Strata, n int) []ackedRecord {
	t.Helper()
	var got []ackedRecord
	waitUntil(t, time.Minute, "the broker to set its records aside", func() bool {
		got = quarantinedRecords(t, s)
		return len(got) >= n
	})
	return got
}

// quarantinedRecords reads every record a broker set aside in its quarantine.
func quarantinedRecords(t *testing.T, s *Strata) []ackedRecord {
	t.Helper()
	dir := filepath.Join(s.DataDir(), "quarantine")
	notes, err := tiering.ReadQuarantine(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []ackedRecord
	for _, n := range notes {
		for _, r := range n.Partitions {
			data, err := tiering.ReadQuarantined(dir, n, r)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, batchRecords(t, r.Partition, data)...)
		}
	}
	return out
}

const shortTTL = "--session-ttl=2s"

// produceAcksOne produces n records numbered from from with acks=1, one at a
// time, retrying until the partition is served, and returns them.
func produceAcksOne(t *testing.T, s *Strata, topic, prefix string, from, n int) []ackedRecord {
	t.Helper()
	cl := newClient(t, s, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	defer cl.Close()
	ctx := testContext(t, 60*time.Second)
	var acked []ackedRecord
	for i := from; i < from+n; i++ {
		r := &kgo.Record{Value: numbered(prefix, i)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("acks=1 produce %d to %s: %v", i, s.Addr, err)
		}
		acked = append(acked, ackedRecord{Partition: r.Partition, Offset: r.Offset, Value: string(r.Value)})
	}
	return acked
}

// waitLeaseExpired waits until etcd has ended every broker's lease: no
// broker is registered.
func waitLeaseExpired(t *testing.T, endpoint string) {
	t.Helper()
	etcd, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Close()
	ctx := testContext(t, 30*time.Second)
	waitUntil(t, 30*time.Second, "the brokers' leases to expire", func() bool {
		resp, err := etcd.Get(ctx, "/strata/cluster/brokers/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		return err == nil && resp.Count == 0
	})
}

// leaderIndex is the index in brokers of the one that Metadata (asked of
// the first) names as the leader of partition 0 of topic, or -1.
func leaderIndex(t *testing.T, brokers []*Strata, topic string) int {
	t.Helper()
	resp := dialKafka(t, brokers[0]).metadata(topic)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		return -1
	}
	leader := resp.Topics[0].Partitions[0].Leader
	for _, b := range resp.Brokers {
		if b.NodeID != leader {
			continue
		}
		return slices.IndexFunc(brokers, func(s *Strata) bool { return s.Addr == hostPort(b.Host, b.Port) })
	}
	return -1
}

// TestDurabilityGracefulStop: SIGTERM seals, uploads and commits what is open
// and exits 0, so acks=1 records survive the loss of the data directory.
func TestDurabilityGracefulStop(t *testing.T) {
	s := StartStrata(t, externalDeps(t, "strata", walOnlyArgs...))
	const topic, partitions, n = "graceful", 4, 1000
	ensureTopic(t, s, topic, partitions, nil)

	acked := produceNumbered(t, s, topic, partitions, n, "one", kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	if len(acked) != n {
		t.Fatalf("%d of %d records acknowledged", len(acked), n)
	}
	assertNothingVisible(t, s, topic, partitions, "before SIGTERM")

	if code := s.Stop(); code != 0 {
		t.Errorf("SIGTERM: exit code %d, want 0", code)
	}
	checkAllBackWithoutDisk(t, s, topic, partitions, acked, "one")
}

// checkAllBackWithoutDisk removes the data directory of the stopped broker
// s, starts it again and checks that it serves every record produced, all
// of which were acknowledged, from the object store alone.
func checkAllBackWithoutDisk(t *testing.T, s *Strata, topic string, partitions int, acked []ackedRecord, prefix string) {
	t.Helper()
	if err := os.RemoveAll(s.DataDir()); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	got := readBack(t, s, topic, partitions, endsOf(acked, nil))
	checkAcked(t, acked, got, prefix)
	if len(got) != len(acked) {
		t.Errorf("read %d records, acknowledged %d (all produced records were acknowledged)", len(got), len(acked))
	}
}

// TestDurabilityTornWALTail damages the tail of the WAL segment that holds the
// last acknowledged records after SIGKILL. The broker must start, say that it
// cut the tail, and serve every record before the damage and nothing damaged.
func TestDurabilityTornWALTail(t *testing.T) {
	m := testenv.StartMinIO(t)
	cases := []struct {
		name string
		// damage changes the segment file; last is where the last record's
		// value is in it. It reports whether that record is damaged.
		damage func(t *testing.T, path string, last int, value []byte) (lastDamaged bool)
	}{
		{
			name: "garbage appended",
			damage: func(t *testing.T, path string, _ int, _ []byte) bool {
				junk := make([]byte, 4096)
				rand.New(rand.NewSource(7)).Read(junk)
				f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if _, err := f.Write(junk); err != nil {
					t.Fatal(err)
				}
				return false
			},
		},
		{
			name: "last record cut in half",
			damage: func(t *testing.T, path string, last int, value []byte) bool {
				if err := os.Truncate(path, int64(last+len(value)/2)); err != nil {
					t.Fatal(err)
				}
				return true
			},
		},
		{
			name: "last record overwritten",
			damage: func(t *testing.T, path string, last int, value []byte) bool {
				f, err := os.OpenFile(path, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				if _, err := f.WriteAt(bytes.Repeat([]byte("X"), len(value)), int64(last)); err != nil {
					t.Fatal(err)
				}
				return true
			},
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := testenv.StartEtcd(t)
			s := StartStrata(t, Options{EtcdEndpoints: e.Endpoint, ObjectStore: m.S3URL(fmt.Sprintf("torn-%d", i)), Args: walOnlyArgs})
			const topic, n = "torn", 40
			ensureTopic(t, s, topic, 1, nil)

			// One record per request, so each lands in its own WAL record.
			cl := newClient(t, s, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.LeaderAck()),
				kgo.DisableIdempotentWrite(), kgo.ProducerBatchCompression(kgo.NoCompression()))
			ctx := testContext(t, 60*time.Second)
			var acked []ackedRecord
			for i := range n {
				r, err := cl.ProduceSync(ctx, &kgo.Record{Value: numbered("torn", i)}).First()
				if err != nil {
					t.Fatalf("produce %d: %v", i, err)
				}
				acked = append(acked, ackedRecord{r.Partition, r.Offset, string(r.Value)})
			}
			cl.Close()
			assertNothingVisible(t, s, topic, 1, "before SIGKILL")
			s.Kill()

			lastValue := []byte(acked[n-1].Value)
			path, pos := walFileHolding(t, s.DataDir(), lastValue)
			st, _ := os.Stat(path)
			t.Logf("last record at byte %d of %s (%d bytes)", pos, path, st.Size())
			required := acked
			if tc.damage(t, path, pos, lastValue) {
				required = acked[:n-1]
			}

			s.Restart()
			if lines := grepLines(scrubTemp(s.Output(), s.DataDir()), `(?i)corrupt|truncat|torn`); len(lines) == 0 {
				t.Errorf("broker's log does not mention the cut WAL tail (no line with corrupt/truncat/torn)")
			} else {
				t.Logf("broker logged:\n%s", strings.Join(lines, "\n"))
			}
			got := readBack(t, s, topic, 1, endsOf(required, nil))
			checkAcked(t, required, got, "torn")
			for _, g := range got {
				if g.Offset < int64(n) && g.Value != acked[g.Offset].Value {
					t.Errorf("offset %d: served %.40q, acknowledged %.40q", g.Offset, g.Value, acked[g.Offset].Value)
				}
			}
		})
	}
}

// TestDurabilityDataDirLocked: a second broker on a data directory in use
// exits non-zero saying so, and the first carries on.
func TestDurabilityDataDirLocked(t *testing.T) {
	for _, tc := range []struct {
		name     string
		external bool
	}{
		{name: "embedded etcd and filesystem store"},
		{name: "external etcd and MinIO", external: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts Options
			if tc.external {
				opts = externalDeps(t, "strata")
			}
			s := StartStrata(t, opts)
			second := opts
			second.DataDir = s.DataDir()
			code, out := runToExit(t, 60*time.Second, nil, serveArgs(t, second)...)
			if code == 0 {
				t.Errorf("second broker on %s exited 0", s.DataDir())
			}
			assertOneLineReason(t, scrubTemp(out, s.DataDir()), `(?i)lock`)
			assertStillServes(t, s)
		})
	}
}

// TestRefuse: a broker that cannot reach etcd or the object store exits
// non-zero with one line naming what it could not reach.
func TestRefuse(t *testing.T) {
	closed := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	for _, tc := range []struct {
		name   string
		opts   Options
		reason string
	}{
		{name: "etcd unreachable", opts: Options{EtcdEndpoints: "http://" + closed}, reason: `(?i)etcd`},
		// A valid bucket name, so that only the endpoint is wrong.
		{name: "object store unreachable", opts: Options{ObjectStore: "s3://strata?endpoint=" + closed + "&insecure=true"}, reason: `(?i)object.?store`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Credentials in the environment keep minio-go from probing
			// instance metadata endpoints.
			env := []string{"AWS_ACCESS_KEY_ID=strata-test", "AWS_SECRET_ACCESS_KEY=strata-test-secret"}
			tc.opts.DataDir = filepath.Join(t.TempDir(), "data")
			start := time.Now()
			code, out := runToExit(t, 90*time.Second, env, serveArgs(t, tc.opts)...)
			t.Logf("exited %d after %s", code, time.Since(start).Round(time.Millisecond))
			if code == 0 {
				t.Errorf("exit code 0, want non-zero")
			}
			assertOneLineReason(t, scrubTemp(out, tc.opts.DataDir), tc.reason)
		})
	}
}

// newClient is a franz-go client on s that the caller closes.
func newClient(t *testing.T, s *Strata, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.Addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// ensureTopic creates topic unless it exists, retrying while the broker is
// still taking up its duties.
func ensureTopic(t *testing.T, s *Strata, topic string, partitions int32, configs map[string]string) {
	t.Helper()
	cl := newClient(t, s)
	defer cl.Close()
	ctx := testContext(t, 60*time.Second)
	req := createTopicsRequest(topic, partitions, configs)
	for {
		resp, err := req.RequestWith(ctx, cl)
		if err == nil && len(resp.Topics) == 1 {
			code := resp.Topics[0].ErrorCode
			if code == 0 || code == kerr.TopicAlreadyExists.Code {
				return
			}
			err = kerr.ErrorForCode(code)
			if !kerr.IsRetriable(err) {
				t.Fatalf("CreateTopics %s: %v", topic, err)
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("CreateTopics %s: %v", topic, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ackedRecord is where the broker said a record is.
type ackedRecord struct {
	Partition int32
	Offset    int64
	Value     string
}

type ackLog struct {
	mu   sync.Mutex
	recs []ackedRecord
}

func (l *ackLog) add(r *kgo.Record) {
	l.mu.Lock()
	l.recs = append(l.recs, ackedRecord{r.Partition, r.Offset, string(r.Value)})
	l.mu.Unlock()
}

func (l *ackLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.recs)
}

func (l *ackLog) snapshot() []ackedRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.recs)
}

// numbered is record i's value: "<prefix>-<i, 6 digits>-" and padding.
func numbered(prefix string, i int) []byte {
	return fmt.Appendf(nil, "%s-%06d-%s", prefix, i, strings.Repeat("x", 80))
}

// wellFormed reports whether v is a value numbered made with prefix.
func wellFormed(prefix, v string) bool {
	rest, ok := strings.CutPrefix(v, prefix+"-")
	if !ok {
		return false
	}
	digits, pad, ok := strings.Cut(rest, "-")
	if !ok || len(digits) < 6 || strings.Trim(digits, "0123456789") != "" {
		return false
	}
	return pad == strings.Repeat("x", 80)
}

// produceNumbered produces n numbered records spread round robin over the
// partitions and returns those acknowledged; any failure fails the test.
func produceNumbered(t *testing.T, s *Strata, topic string, partitions, n int, prefix string, opts ...kgo.Opt) []ackedRecord {
	t.Helper()
	cl := newClient(t, s, append([]kgo.Opt{kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression())}, opts...)...)
	defer cl.Close()
	ctx := testContext(t, 120*time.Second)
	var log ackLog
	var errMu sync.Mutex
	var errs []error
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Partition: int32(i % partitions), Value: numbered(prefix, i)}, func(r *kgo.Record, err error) {
			if err != nil {
				errMu.Lock()
				errs = append(errs, fmt.Errorf("record %s/%d: %w", r.Topic, r.Partition, err))
				errMu.Unlock()
				return
			}
			log.add(r)
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	for _, err := range errs[:min(len(errs), 10)] {
		t.Errorf("produce: %v", err)
	}
	return log.snapshot()
}

// endsOf is, per partition, one past the highest offset in recs.
func endsOf(recs []ackedRecord, into map[int32]int64) map[int32]int64 {
	if into == nil {
		into = map[int32]int64{}
	}
	for _, r := range recs {
		into[r.Partition] = max(into[r.Partition], r.Offset+1)
	}
	return into
}

// endOffsets lists the partitions' high watermarks.
func endOffsets(ctx context.Context, cl *kgo.Client, topic string, partitions int) (map[int32]int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = topic
	for p := range partitions {
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Partition, lp.Timestamp, lp.CurrentLeaderEpoch = int32(p), -1, -1
		lt.Partitions = append(lt.Partitions, lp)
	}
	req.Topics = append(req.Topics, lt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	ends := map[int32]int64{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				return nil, fmt.Errorf("ListOffsets %s/%d: %w", rt.Topic, rp.Partition, err)
			}
			ends[rp.Partition] = rp.Offset
		}
	}
	if len(ends) != partitions {
		return nil, fmt.Errorf("ListOffsets: %d of %d partitions answered", len(ends), partitions)
	}
	return ends, nil
}

// assertNothingVisible checks the premise of a WAL test: with a long seal
// interval nothing has been uploaded, so no partition's high watermark moved.
func assertNothingVisible(t *testing.T, s *Strata, topic string, partitions int, when string) {
	t.Helper()
	cl := newClient(t, s)
	defer cl.Close()
	ends, err := endOffsets(testContext(t, 30*time.Second), cl, topic, partitions)
	if err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	for p, end := range ends {
		if end != 0 {
			t.Errorf("%s: %s/%d high watermark %d with --seal-interval=30s: records left the WAL early, the test does not exercise WAL recovery", when, topic, p, end)
		}
	}
}

// readBack waits until every partition's high watermark reaches need, then
// reads every partition from its start up to its high watermark.
func readBack(t *testing.T, s *Strata, topic string, partitions int, need map[int32]int64) []ackedRecord {
	t.Helper()
	ctx := testContext(t, 60*time.Second)
	admin := newClient(t, s)
	defer admin.Close()
	var ends map[int32]int64
	for {
		got, err := endOffsets(ctx, admin, topic, partitions)
		if err == nil {
			ends = got
			if covers(ends, need) {
				break
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("high watermarks %v (last listed) never reached %v (last error: %v)", ends, need, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	offsets := map[int32]kgo.Offset{}
	for p := range partitions {
		offsets[int32(p)] = kgo.NewOffset().AtStart()
	}
	cons := newClient(t, s, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.FetchMaxWait(500*time.Millisecond))
	defer cons.Close()
	next := map[int32]int64{}
	var got []ackedRecord
	for !covers(next, ends) {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read up to %v, high watermarks %v: %v", next, ends, ctx.Err())
		}
		fs.EachError(func(topic string, p int32, err error) {
			if kerr.IsRetriable(err) || errors.Is(err, context.Canceled) {
				t.Logf("fetch %s/%d: %v", topic, p, err)
				return
			}
			t.Errorf("fetch %s/%d: %v", topic, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			got = append(got, ackedRecord{r.Partition, r.Offset, string(r.Value)})
			next[r.Partition] = max(next[r.Partition], r.Offset+1)
		})
	}
	return got
}

func covers(have, need map[int32]int64) bool {
	for p, n := range need {
		if have[p] < n {
			return false
		}
	}
	return true
}

// checkAcked fails unless every acknowledged record was read at its partition
// and offset, nothing was read twice, and everything read is well formed.
func checkAcked(t *testing.T, acked, got []ackedRecord, prefix string) {
	t.Helper()
	type at struct {
		p   int32
		off int64
	}
	read := map[at]string{}
	seen := map[string]int{}
	var problems []string
	for _, g := range got {
		if prev, ok := read[at{g.Partition, g.Offset}]; ok {
			problems = append(problems, fmt.Sprintf("%d/%d read twice (%.20q, %.20q)", g.Partition, g.Offset, prev, g.Value))
		}
		read[at{g.Partition, g.Offset}] = g.Value
		seen[g.Value]++
		if !wellFormed(prefix, g.Value) {
			problems = append(problems, fmt.Sprintf("%d/%d: malformed value %.40q", g.Partition, g.Offset, g.Value))
		}
	}
	missing := 0
	for _, a := range acked {
		v, ok := read[at{a.Partition, a.Offset}]
		switch {
		case !ok:
			missing++
			problems = append(problems, fmt.Sprintf("acknowledged %d/%d (%.20q) missing", a.Partition, a.Offset, a.Value))
		case v != a.Value:
			problems = append(problems, fmt.Sprintf("acknowledged %d/%d holds %.20q, want %.20q", a.Partition, a.Offset, v, a.Value))
		}
	}
	for v, n := range seen {
		if n > 1 {
			problems = append(problems, fmt.Sprintf("value %.20q read %d times", v, n))
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		t.Errorf("%d acknowledged, %d read, %d acknowledged missing; %d problems, first ones:\n%s",
			len(acked), len(got), missing, len(problems), strings.Join(problems[:min(len(problems), 15)], "\n"))
	}
}

// walFileHolding finds the WAL segment file holding needle and the position of
// its last occurrence.
func walFileHolding(t *testing.T, dataDir string, needle []byte) (string, int) {
	t.Helper()
	var found []string
	pos := -1
	var all []string
	walk := func(root string) {
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			all = append(all, path)
			b, err := os.ReadFile(path)
			if err != nil {
				return nil
			}
			if i := bytes.LastIndex(b, needle); i >= 0 {
				found = append(found, path)
				pos = i
			}
			return nil
		})
	}
	walk(filepath.Join(dataDir, "wal"))
	if len(found) == 0 {
		walk(dataDir)
	}
	if len(found) != 1 {
		t.Fatalf("%q in %d files under %s (%v); files: %v", needle, len(found), dataDir, found, all)
	}
	return found[0], pos
}

// serveArgs are `strata serve` arguments for opts on fresh ports, at the
// default log level.
func serveArgs(t *testing.T, opts Options) []string {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = filepath.Join(t.TempDir(), "data")
	}
	args := []string{"serve", "--data-dir", opts.DataDir,
		"--listen", "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)),
		"--http-listen", "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))}
	if opts.EtcdEndpoints != "" {
		args = append(args, "--etcd-endpoints", opts.EtcdEndpoints)
	}
	if opts.ObjectStore != "" {
		args = append(args, "--object-store", opts.ObjectStore)
	}
	return append(args, opts.Args...)
}

// runToExit runs the strata binary and waits for it to exit on its own.
func runToExit(t *testing.T, within time.Duration, env []string, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(strataBin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(within):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		t.Fatalf("strata %s still running after %s; output:\n%s", strings.Join(args, " "), within, tail(out.String(), 30))
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// assertOneLineReason checks a refusal at the default log level: the output
// is one line, matching reason, and no panic.
func assertOneLineReason(t *testing.T, out, reason string) {
	t.Helper()
	if strings.Contains(out, "panic:") || strings.Contains(out, "goroutine ") {
		t.Errorf("output holds a panic or goroutine dump:\n%s", tail(out, 40))
		return
	}
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		t.Errorf("no output, want one line matching %s", reason)
		return
	}
	last := lines[len(lines)-1]
	if !regexp.MustCompile(reason).MatchString(last) {
		t.Errorf("last line %q does not match %s", last, reason)
	} else {
		t.Logf("reason: %s", last)
	}
	if len(lines) > 1 {
		t.Errorf("%d lines of output at the default log level, want only the reason:\n%s", len(lines), tail(out, 20))
	}
}

// scrubTemp replaces the test's temporary directory (whose name holds the
// test's name) in out, so that greps match what the broker said, not paths.
func scrubTemp(out, dataDir string) string {
	rel, err := filepath.Rel(os.TempDir(), dataDir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return out
	}
	root := filepath.Join(os.TempDir(), strings.Split(rel, string(filepath.Separator))[0])
	return strings.ReplaceAll(out, root, "<tmp>")
}

// grepLines returns the lines of s matching the regular expression re.
func grepLines(s, re string) []string {
	r := regexp.MustCompile(re)
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if r.MatchString(l) {
			lines = append(lines, l)
		}
	}
	return lines
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitGroup(t *testing.T, wg *sync.WaitGroup, within time.Duration, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(within):
		t.Fatalf("%s: not done within %s", what, within)
	}
}
