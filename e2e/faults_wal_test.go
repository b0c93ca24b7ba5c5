package e2e

// Faults of the data path, each with real etcd, MinIO and broker processes:
// the object store stops while producers outrun it until the WAL is full
// (backpressure, never a deadlock, nothing lost); a sustained overload
// against a slow object store (acks=1 settles at what the uploader
// sustains, verified); etcd stalled past the session TTL while acks=1
// records are produced (the broker resumes its leaderships and loses
// nothing); and a broker whose leadership another broker took while it
// was stalled (its records are set aside in the quarantine, not deleted).

import (
	"context"
	"encoding/binary"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/internal/testenv"
	"github.com/strata-io/strata/loadgen"
	"github.com/strata-io/strata/tiering"
)

// smallWAL bounds the WAL low enough for a test to fill it in seconds.
var smallWAL = []string{"--wal-max-bytes=16MiB", "--seal-bytes=2MiB", "--log-level=info"}

// ackProducer produces numbered records with acks=1, up to 50,000 a second
// (more than the uploads of a stalled or slowed object store, few enough to
// read back), until stop, logging what was acknowledged.
type ackProducer struct {
	acked  ackLog
	failed ackLog
	errMu  sync.Mutex
	errs   map[string]int // failures by error
	stop   func()         // stops producing and waits for every outstanding record
}

func startProducer(t *testing.T, s *Strata, topic string, partitions int, prefix string) *ackProducer {
	t.Helper()
	// Uncompressed: the WAL fills with bytes, and the numbered values
	// compress so well that it would take millions of records.
	cl := newClient(t, s, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.MaxBufferedRecords(20000), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	ctx, cancel := context.WithCancel(context.Background())
	p := &ackProducer{errs: map[string]int{}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ctx.Err() == nil; i++ {
			if i%500 == 0 {
				select {
				case <-tick.C:
				case <-ctx.Done():
					return
				}
			}
			r := &kgo.Record{Partition: int32(i % partitions), Value: numbered(prefix, i)}
			cl.Produce(ctx, r, func(r *kgo.Record, err error) {
				if err != nil {
					p.failed.add(r)
					p.errMu.Lock()
					p.errs[err.Error()]++
					p.errMu.Unlock()
					return
				}
				p.acked.add(r)
			})
		}
	}()
	var once sync.Once
	p.stop = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			flushCtx, done := context.WithTimeout(context.Background(), 2*time.Minute)
			defer done()
			if err := cl.Flush(flushCtx); err != nil {
				t.Errorf("flush the producer: %v", err)
			}
			cl.Close()
			t.Logf("%d records acknowledged; failed (never acknowledged): %v", p.acked.len(), p.errs)
		})
	}
	t.Cleanup(p.stop)
	return p
}

// waitAcked waits until the producer has n more acknowledgements than now.
func (p *ackProducer) waitAcked(t *testing.T, n int, what string) {
	t.Helper()
	want := p.acked.len() + n
	waitUntil(t, 2*time.Minute, what, func() bool { return p.acked.len() >= want })
}

// rawProduce sends one Produce request of one record on its own connection
// and returns the partition's error code.
func rawProduce(t *testing.T, s *Strata, topic string, acks int16, timeout time.Duration) int16 {
	t.Helper()
	cl := newClient(t, s)
	defer cl.Close()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = acks, int32(timeout/time.Millisecond)
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = encodeBatch(noProducer, [][]byte{numbered("raw", 0)})
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testContext(t, timeout+30*time.Second), cl)
	if err != nil {
		t.Fatalf("produce: %v", err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// TestFaultWALFullWhileObjectStorePaused: producers outrun a stopped object
// store until the WAL holds --wal-max-bytes. The broker keeps serving
// everything but produces: Metadata, fetches of committed data and a
// produce (which waits for room and times out with REQUEST_TIMED_OUT,
// nothing appended). Once the store is back the WAL drains, producers go
// on, an acks=all produce completes, and every acknowledged record is
// there exactly once.
func TestFaultWALFullWhileObjectStorePaused(t *testing.T) {
	s, _, minio := startExternal(t, "walfull", smallWAL...)
	const topic, other = "wal-full", "wal-full-other"
	ensureTopic(t, s, topic, 4, nil)
	ensureTopic(t, s, other, 1, nil)
	before := produceNumbered(t, s, other, 1, 50, "other")

	if err := minio.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := minio.Signal(syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(resume)
	p := startProducer(t, s, topic, 4, "wal")
	waitUntil(t, 2*time.Minute, "produces to wait for WAL room", func() bool {
		return metricValue(t, s, "strata_wal_room_waiting") > 0
	})
	if used, bound := metricValue(t, s, "strata_wal_bytes"), metricValue(t, s, "strata_wal_max_bytes"); used < bound {
		t.Errorf("produces wait for room with the WAL at %.0f of %.0f bytes", used, bound)
	}

	// Everything else carries on while the WAL is full.
	k := dialKafka(t, s)
	if md := k.metadata(topic); len(md.Topics) != 1 || md.Topics[0].ErrorCode != 0 {
		t.Errorf("Metadata while the WAL is full: %+v", md.Topics)
	}
	got := readBack(t, s, other, 1, endsOf(before, nil))
	checkAcked(t, before, got, "other")
	if code := rawProduce(t, s, topic, 1, time.Second); code != kerr.RequestTimedOut.Code {
		t.Errorf("a produce while the WAL stays full: %v, want REQUEST_TIMED_OUT", kerr.ErrorForCode(code))
	}

	resume()
	p.waitAcked(t, 5000, "acks=1 produces to go on after the object store is back")
	p.stop()
	if code := rawProduce(t, s, topic, -1, 30*time.Second); code != 0 {
		t.Errorf("an acks=all produce after the object store is back: %v", kerr.ErrorForCode(code))
	}
	acked := p.acked.snapshot()
	got = readBack(t, s, topic, 4, endsOf(acked, nil))
	checkProduced(t, acked, got, "wal")
}

// checkProduced is checkAcked for a topic that also holds records of other
// writers: only values with prefix are checked.
func checkProduced(t *testing.T, acked, got []ackedRecord, prefix string) {
	t.Helper()
	mine := got[:0:0]
	for _, g := range got {
		if strings.HasPrefix(g.Value, prefix+"-") {
			mine = append(mine, g)
		}
	}
	checkAcked(t, acked, mine, prefix)
}

// TestFaultSustainedOverload: `strata loadgen run --acks 1 --verify` outruns
// an object store that answers only part of the time (MinIO stopped for
// 300ms of every 500ms) for 30 seconds. Produces wait for room again and
// again, the run never stalls for good (it ends on its own), and the
// verifier finds every acknowledged record, in order, exactly once.
func TestFaultSustainedOverload(t *testing.T) {
	s, _, minio := startExternal(t, "overload", smallWAL...)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // a slow object store: stopped 300ms of every 500ms
		defer wg.Done()
		for ctx.Err() == nil {
			_ = minio.Signal(syscall.SIGSTOP)
			time.Sleep(300 * time.Millisecond)
			_ = minio.Signal(syscall.SIGCONT)
			time.Sleep(200 * time.Millisecond)
		}
	}()
	defer func() {
		cancel()
		wg.Wait()
		_ = minio.Signal(syscall.SIGCONT)
	}()

	out := filepath.Join(t.TempDir(), "out")
	args := []string{"loadgen", "run", "--bootstrap", s.Addr, "--topic", "overload", "--partitions", "8",
		"--producers", "2", "--consumers", "1", "--acks", "1", "--message-size", "1KiB",
		"--warmup", "0s", "--duration", "30s", "--drain-timeout", "2m", "--verify", "--out", out, "--quiet"}
	runCtx, stop := context.WithTimeout(context.Background(), 6*time.Minute)
	defer stop()
	output, err := exec.CommandContext(runCtx, strataBin, args...).CombinedOutput()
	cancel()
	if err != nil {
		t.Fatalf("strata %s: %v\n%s", strings.Join(args, " "), err, output)
	}
	res, err := loadgen.ReadResult(out)
	if err != nil {
		t.Fatal(err)
	}
	if waits := metricValue(t, s, "strata_wal_room_wait_seconds_count"); waits == 0 {
		t.Errorf("no produce ever waited for WAL room: the run did not overload the broker, the test proves nothing")
	}
	if res.Produce.Records == 0 || res.Produce.Errors != 0 {
		t.Errorf("produced %d records with %d errors (%s)", res.Produce.Records, res.Produce.Errors, res.Produce.FirstError)
	}
	if v := res.Verify; v == nil || !v.OK || len(v.Groups) != 1 || v.Groups[0].Faulty() || v.Groups[0].Produced != res.Produce.Records {
		t.Errorf("verification: %+v", res.Verify)
	}
	if res.CutShort {
		t.Errorf("the run was cut short: %s", res.Error)
	}
	t.Logf("%d records in %.1fs through a stuttering object store", res.Produce.Records, res.MeasuredSeconds)
}

// TestFaultEtcdPausedPastTTL: etcd stops for three session TTLs while acks=1
// records are produced. The broker's lease ends; it stops serving, joins
// again when etcd is back and resumes its leaderships (no other broker led
// them), so every acknowledged record is committed and read back exactly
// once, and nothing is set aside.
func TestFaultEtcdPausedPastTTL(t *testing.T) {
	s, etcd, _ := startExternal(t, "etcdstall", shortTTL, "--log-level=info")
	const topic = "etcd-stall"
	ensureTopic(t, s, topic, 4, nil)
	p := startProducer(t, s, topic, 4, "stall")
	p.waitAcked(t, 2000, "acks=1 produces before the stall")

	if err := etcd.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(6 * time.Second) // three TTLs: the lease ends on the broker's side
	if err := etcd.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, time.Minute, "the broker to see its lease end", func() bool {
		return strings.Contains(s.Output(), "etcd lease ended")
	})
	p.waitAcked(t, 2000, "acks=1 produces after etcd is back")
	p.stop()
	acked := p.acked.snapshot()
	got := readBack(t, s, topic, 4, endsOf(acked, nil))
	checkAcked(t, acked, got, "stall")
	if notes, err := tiering.ReadQuarantine(filepath.Join(s.DataDir(), "quarantine")); err != nil || len(notes) > 0 {
		t.Errorf("records set aside although no other broker led the partitions: %+v, %v", notes, err)
	}
}

// TestFaultLeaseLostTakenOver: a broker stalls (SIGSTOP) past its lease
// while its acks=1 records are only in its WAL (the object store is
// stopped too), and another broker takes its partition and writes to it.
// When the first broker runs again it must not commit its records over
// the second broker's: it sets them aside in its quarantine, where `strata
// quarantine list` and `export` find every one of them, byte for byte,
// and the partition holds exactly what the second broker acknowledged.
func TestFaultLeaseLostTakenOver(t *testing.T) {
	etcd := testenv.StartEtcd(t)
	minio := testenv.StartMinIO(t)
	opts := Options{EtcdEndpoints: etcd.Endpoint, ObjectStore: minio.S3URL("takenover"), Args: []string{shortTTL, "--log-level=info"}}
	brokers := []*Strata{StartStrata(t, opts), StartStrata(t, opts)}
	const topic = "taken-live"
	ensureTopic(t, brokers[0], topic, 1, nil)
	first := brokers[leaderIndex(t, brokers, topic)]
	second := brokers[0]
	if second == first {
		second = brokers[1]
	}

	// The first broker's records stay in its WAL: the object store is stopped.
	if err := minio.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	lost := produceAcksOne(t, first, topic, "first", 0, 20)
	first.Pause()
	if err := minio.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, time.Minute, "the second broker to lead the partition", func() bool {
		return leaderIndex(t, []*Strata{second}, topic) == 0
	})
	kept := produceAcksOne(t, second, topic, "kept", 0, 5)
	first.Resume()

	checkAcked(t, lost, waitQuarantined(t, first, len(lost)), "first")

	listed, err := exec.Command(strataBin, "quarantine", "list", "--data-dir", first.DataDir()).CombinedOutput()
	if err != nil || !strings.Contains(string(listed), topic) {
		t.Errorf("strata quarantine list: %v\n%s", err, listed)
	}
	more := produceAcksOne(t, second, topic, "kept", 5, 5)
	got := readBack(t, second, topic, 1, endsOf(more, nil))
	checkAcked(t, append(kept, more...), got, "kept")
}

// batchRecords decodes the records of concatenated v2 batches of one
// partition.
func batchRecords(t *testing.T, partition int32, data []byte) []ackedRecord {
	t.Helper()
	var out []ackedRecord
	for len(data) > 0 {
		size := int(binary.BigEndian.Uint32(data[8:])) + 12
		var b kmsg.RecordBatch
		if err := b.ReadFrom(data[:size]); err != nil {
			t.Fatalf("quarantined batch: %v", err)
		}
		rest, err := kgo.DefaultDecompressor().Decompress(b.Records, kgo.CompressionCodecType(b.Attributes&0x7))
		if err != nil {
			t.Fatalf("quarantined batch at %d: %v", b.FirstOffset, err)
		}
		for range b.NumRecords {
			n, used := binary.Varint(rest)
			if used <= 0 || n < 0 || int(n) > len(rest)-used {
				t.Fatalf("quarantined batch at %d: truncated record", b.FirstOffset)
			}
			var r kmsg.Record
			if err := r.ReadFrom(rest[:used+int(n)]); err != nil {
				t.Fatal(err)
			}
			out = append(out, ackedRecord{Partition: partition, Offset: b.FirstOffset + int64(r.OffsetDelta), Value: string(r.Value)})
			rest = rest[used+int(n):]
		}
		data = data[size:]
	}
	return out
}
