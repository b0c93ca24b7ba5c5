package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/internal/testenv"
)

// The mirror tests run the real `strata mirror` binary between real
// clusters: two Strata clusters (one the plain single-node default with
// embedded etcd and a filesystem store, one on its own etcd and MinIO
// bucket), and franz-go's kfake as a foreign source.

// mirrorProc is a running `strata mirror`.
type mirrorProc struct {
	t           testing.TB
	args        []string
	metricsAddr string
	proc        *testenv.Process
}

// mirrorTestBatch is the tests' --batch-records: small rounds, so that a
// copy takes many and a kill lands mid-copy.
const mirrorTestBatch = 500

// startMirror runs `strata mirror` with args and a metrics endpoint.
func startMirror(t testing.TB, label string, args ...string) *mirrorProc {
	t.Helper()
	m := &mirrorProc{t: t, args: args, metricsAddr: "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))}
	m.start(label)
	return m
}

func (m *mirrorProc) start(label string) {
	m.t.Helper()
	args := append([]string{"mirror", "--metrics-addr", m.metricsAddr, "--sync-interval", "500ms",
		"--progress-interval", "2s", "--session-timeout", "6s", "--batch-records", strconv.Itoa(mirrorTestBatch)}, m.args...)
	m.proc = testenv.Start(m.t, label, nil, strataBin, args...)
}

// kill SIGKILLs the mirror: a crash.
func (m *mirrorProc) kill() { m.t.Helper(); m.proc.Kill(m.t) }

// metric sums the series of a metric on the mirror's /metrics (0 if none
// yet, or the endpoint is not up yet).
func (m *mirrorProc) metric(name string) (float64, bool) {
	resp, err := http.Get("http://" + m.metricsAddr + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var sum float64
	found := false
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name+" ") && !strings.HasPrefix(line, name+"{") {
			continue
		}
		f, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			sum, found = sum+f, true
		}
	}
	return sum, found
}

// mirrorStatus runs `strata mirror status` and returns its output.
func mirrorStatus(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(strataBin, append([]string{"mirror", "status"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("strata mirror status: %v\n%s", err, out)
	}
	return string(out)
}

// mirrorRecord is the value of the seq-th record of a partition; the
// tests' records carry their partition and sequence number, a key, a
// header and a timestamp derived from them.
func mirrorRecord(topic string, p int32, seq int, base time.Time) *kgo.Record {
	val := fmt.Sprintf("%d:%d:", p, seq)
	val += strings.Repeat("x", 120-len(val))
	return &kgo.Record{
		Topic: topic, Partition: p,
		Key:       []byte("k" + strconv.Itoa(seq%97)),
		Value:     []byte(val),
		Headers:   []kgo.RecordHeader{{Key: "seq", Value: []byte(strconv.Itoa(seq))}},
		Timestamp: base.Add(time.Duration(seq) * time.Millisecond),
	}
}

// seqOf parses a test record's partition and sequence number.
func seqOf(t testing.TB, r *kgo.Record) (int32, int) {
	t.Helper()
	parts := strings.SplitN(string(r.Value), ":", 3)
	p, err1 := strconv.Atoi(parts[0])
	s, err2 := strconv.Atoi(parts[1])
	if len(parts) < 3 || err1 != nil || err2 != nil {
		t.Fatalf("record %s/%d@%d: value %q is not a test record", r.Topic, r.Partition, r.Offset, r.Value)
	}
	return int32(p), s
}

// produceSeq writes records from..to-1 to every partition, with the
// partition's records in order.
func produceSeq(t testing.TB, cl *kgo.Client, topic string, partitions int32, from, to int, base time.Time) {
	t.Helper()
	ctx := testContext(t, 2*time.Minute)
	var rs []*kgo.Record
	for seq := from; seq < to; seq++ {
		for p := int32(0); p < partitions; p++ {
			rs = append(rs, mirrorRecord(topic, p, seq, base))
		}
	}
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// readPartitions reads every committed record of topic up to its end
// offsets, by partition.
func readPartitions(t testing.TB, addr, topic string) map[int32][]*kgo.Record {
	t.Helper()
	ctx := testContext(t, 2*time.Minute)
	ends, err := kadm.NewClient(mirrorClient(t, addr)).ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	return readToEnds(t, ctx, cl, topic, ends)
}

// readToEnds polls cl until every partition of topic is read up to its
// end in ends: its last record is the one before the end, or (a
// transaction's commit marker can follow it) the one before that, and
// nothing more comes for a second.
func readToEnds(t testing.TB, ctx context.Context, cl *kgo.Client, topic string, ends kadm.ListedOffsets) map[int32][]*kgo.Record {
	t.Helper()
	out := make(map[int32][]*kgo.Record)
	for {
		complete, nearly := true, true
		ends.Each(func(o kadm.ListedOffset) {
			rs := out[o.Partition]
			last := int64(-1)
			if len(rs) > 0 {
				last = rs[len(rs)-1].Offset
			}
			if last < o.Offset-1 {
				complete = false
			}
			if last < o.Offset-2 {
				nearly = false
			}
		})
		if complete {
			return out
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		idle := errors.Is(pctx.Err(), context.DeadlineExceeded)
		cancel()
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v", topic, ctx.Err())
		}
		got := 0
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := ends.Lookup(topic, r.Partition); ok && r.Offset < end.Offset {
				out[r.Partition] = append(out[r.Partition], r)
				got++
			}
		})
		if got == 0 && idle && nearly {
			return out
		}
	}
}

// checkCopy checks a partition's copy against the source's records
// 0..n-1: every record is there, with its key, headers, timestamp, and
// in order; an at-least-once copy may repeat a stretch after each
// restart (runs counts the stretches), an exactly-once copy may not.
func checkCopy(t testing.TB, topic string, p int32, got []*kgo.Record, n int, base time.Time) (dups int) {
	t.Helper()
	next, runs := 0, 0
	seen := make([]bool, n)
	for i, r := range got {
		rp, seq := seqOf(t, r)
		want := mirrorRecord(topic, p, seq, base)
		if rp != p || seq >= n || !bytes.Equal(r.Key, want.Key) || !r.Timestamp.Equal(want.Timestamp) ||
			len(r.Headers) == 0 || r.Headers[0].Key != "seq" || string(r.Headers[0].Value) != strconv.Itoa(seq) {
			t.Fatalf("%s/%d record %d (offset %d): partition %d seq %d key %q ts %v headers %v; want key %q ts %v",
				topic, p, i, r.Offset, rp, seq, r.Key, r.Timestamp, r.Headers, want.Key, want.Timestamp)
		}
		if seq != next {
			if seq > next {
				t.Fatalf("%s/%d: record seq %d follows %d: records %d..%d are missing or out of order", topic, p, seq, next-1, next, seq-1)
			}
			runs++ // went back: a repeated stretch
		}
		if seen[seq] {
			dups++
		}
		seen[seq] = true
		next = seq + 1
	}
	for seq, ok := range seen {
		if !ok {
			t.Fatalf("%s/%d: record seq %d is missing", topic, p, seq)
		}
	}
	if runs > 0 {
		t.Logf("%s/%d: %d repeated stretches, %d duplicates", topic, p, runs, dups)
	}
	return dups
}

// waitTarget waits until the target topic's end offsets sum to at least
// n and the mirror reports no lag.
func waitCopied(t testing.TB, adm *kadm.Client, topic string, n int64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var sum int64
	for time.Now().Before(deadline) {
		ends, err := adm.ListEndOffsets(context.Background(), topic)
		if err == nil && ends.Error() == nil {
			sum = 0
			ends.Each(func(o kadm.ListedOffset) { sum += o.Offset })
			if sum >= n {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("target topic %s holds %d records after %s, want at least %d", topic, sum, within, n)
}

// endSum is the sum of a topic's end offsets.
func endSum(t testing.TB, adm *kadm.Client, topic string) int64 {
	ends, err := adm.ListEndOffsets(context.Background(), topic)
	if err != nil {
		return 0
	}
	var sum int64
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			sum += o.Offset
		}
	})
	return sum
}

// consumeGroupToEnd reads topic in group from its committed offsets up to
// the ends, and commits nothing.
func consumeGroupToEnd(t testing.TB, addr, group, topic string) map[int32][]*kgo.Record {
	t.Helper()
	ctx := testContext(t, 2*time.Minute)
	ends, err := kadm.NewClient(mirrorClient(t, addr)).ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	return readToEnds(t, ctx, cl, topic, ends)
}

func mirrorClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// killMidCopy waits until the mirror reports a first round copied, and
// SIGKILLs it at once; it returns how many records the mirror had reported
// copied. It reports (t.Errorf) a mirror that copied all total records
// before the kill, as the test did not then kill it mid-copy. (The mirror's
// own counter, not the target's end offsets: a client that looked the
// topic up before it existed holds that answer for seconds.)
func killMidCopy(t testing.TB, m *mirrorProc, total int64) int64 {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		if v, _ := m.metric("strata_mirror_records_total"); v > 0 {
			m.kill()
			if int64(v) >= total {
				t.Errorf("the mirror copied all %d records before it was killed: the test did not kill it mid-copy", total)
			}
			return int64(v)
		}
		time.Sleep(2 * time.Millisecond)
	}
	m.kill()
	t.Errorf("the mirror reported no record copied within 90s")
	return 0
}

// TestMirrorStrataToStrata: 4 partitions × 25,000 records and two groups
// committed at half, mirrored between two Strata clusters by three
// mirrors at once: at least once, exactly once and with the offsets
// preserved, each SIGKILLed mid-copy and restarted. Every copy holds every
// record in order with its key, headers and timestamp; the exactly-once and
// the offset-preserving copies hold no duplicate; the translated groups read
// exactly the second half on the target.
func TestMirrorStrataToStrata(t *testing.T) {
	start := time.Now()
	source := StartStrata(t, Options{}) // the plain single-node default
	etcd := testenv.StartEtcd(t)
	store := testenv.StartMinIO(t)
	target := StartStrata(t, Options{EtcdEndpoints: etcd.Endpoint, ObjectStore: store.S3URL("mirror-target")})
	logElapsed(t, start, "clusters up")

	const topic, partitions, perPart = "orders", 4, 25000
	const total = partitions * perPart
	base := time.UnixMilli(1_700_000_000_000)
	ctx := testContext(t, 3*time.Minute)
	srcCl := source.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	srcAdm := kadm.NewClient(srcCl)
	if _, err := srcAdm.CreateTopic(ctx, partitions, -1, map[string]*string{"retention.ms": kadmStr("86400000")}, topic); err != nil {
		t.Fatal(err)
	}
	produceSeq(t, srcCl, topic, partitions, 0, perPart, base)
	for _, g := range []string{"app-alo", "app-eos", "app-keep"} {
		offs := make(kadm.Offsets)
		for p := int32(0); p < partitions; p++ {
			offs.Add(kadm.Offset{Topic: topic, Partition: p, At: perPart / 2, LeaderEpoch: -1})
		}
		if err := srcAdm.CommitAllOffsets(ctx, g, offs); err != nil {
			t.Fatalf("commit %s at half: %v", g, err)
		}
	}
	logElapsed(t, start, "%d records produced, groups committed at half", total)

	tgtAdm := kadm.NewClient(target.Client())
	common := []string{"--source-bootstrap", source.Addr, "--target-bootstrap", target.Addr, "--topics", "ord.*"}
	alo := startMirror(t, "mirror alo", append(common, "--name", "m-alo", "--instance-id", "a", "--groups", "app-alo")...)
	eos := startMirror(t, "mirror eos", append(common, "--name", "m-eos", "--instance-id", "a", "--groups", "app-eos",
		"--exactly-once", "--target-prefix", "eos.", "--batch-records", "5000")...) // a transaction waits for durability: larger rounds
	keep := startMirror(t, "mirror keep", append(common, "--name", "m-keep", "--instance-id", "a", "--groups", "app-keep",
		"--preserve-offsets", "--target-prefix", "keep.")...)
	mirrors := []struct {
		m      *mirrorProc
		topic  string
		group  string
		exact  bool
		status []string
	}{
		{alo, topic, "app-alo", false, []string{"--name", "m-alo"}},
		{eos, "eos." + topic, "app-eos", true, []string{"--name", "m-eos", "--exactly-once", "--target-prefix", "eos."}},
		{keep, "keep." + topic, "app-keep", true, []string{"--name", "m-keep", "--preserve-offsets", "--target-prefix", "keep."}},
	}
	var wg sync.WaitGroup
	for _, mm := range mirrors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := killMidCopy(t, mm.m, total)
			t.Logf("%s: killed after it reported %d of %d records copied", mm.topic, n, total)
			mm.m.start("mirror " + mm.topic + " restarted")
		}()
	}
	wg.Wait()
	logElapsed(t, start, "mirrors killed mid-copy and restarted")

	for _, mm := range mirrors {
		waitCopied(t, tgtAdm, mm.topic, total, 2*time.Minute)
	}
	logElapsed(t, start, "copied")
	for _, mm := range mirrors {
		// The status: no lag.
		var out string
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			out = mirrorStatus(t, append(append([]string{}, common...), mm.status...)...)
			if strings.Contains(out, "total lag 0 records") {
				break
			}
			time.Sleep(250 * time.Millisecond)
		}
		if !strings.Contains(out, "total lag 0 records") || !strings.Contains(out, mm.topic) {
			t.Fatalf("%s: strata mirror status did not reach lag 0:\n%s", mm.topic, out)
		}
		// The records: all, in order, with keys, headers and timestamps.
		got := readPartitions(t, target.Addr, mm.topic)
		dups := 0
		for p := int32(0); p < partitions; p++ {
			dups += checkCopy(t, mm.topic, p, got[p], perPart, base)
		}
		if mm.exact && dups > 0 {
			t.Errorf("%s: %d duplicates in an exactly-once (or offset-preserving) copy", mm.topic, dups)
		}
		// At least once: at most the round in flight when the mirror was
		// killed (--batch-records, over all partitions) comes twice.
		if !mm.exact && dups > mirrorTestBatch {
			t.Errorf("%s: %d duplicates after one crash, more than the one round (%d records) in flight", mm.topic, dups, mirrorTestBatch)
		}
		t.Logf("%s: %d duplicates after one SIGKILL", mm.topic, dups)
		if strings.HasPrefix(mm.topic, "keep.") {
			for p := int32(0); p < partitions; p++ {
				for _, r := range got[p] {
					if _, seq := seqOf(t, r); int64(seq) != r.Offset {
						t.Fatalf("%s/%d: seq %d at offset %d: offsets not preserved", mm.topic, p, seq, r.Offset)
					}
				}
			}
		}

		if v, ok := mm.m.metric("strata_mirror_records_total"); !ok || v <= 0 {
			t.Errorf("%s: strata_mirror_records_total = %v (found %v) after copying", mm.topic, v, ok)
		}

		// The group, translated, reads exactly the second half on the target.
		waitGroupCommitted(t, tgtAdm, mm.group, mm.topic, partitions, 2*time.Minute)
		read := consumeGroupToEnd(t, target.Addr, mm.group, mm.topic)
		for p := int32(0); p < partitions; p++ {
			seen := make(map[int]bool)
			for _, r := range read[p] {
				_, seq := seqOf(t, r)
				if seq < perPart/2 {
					t.Fatalf("%s: group %s read seq %d of partition %d, from the half it had read on the source", mm.topic, mm.group, seq, p)
				}
				if mm.exact && seen[seq] {
					t.Fatalf("%s: group %s read seq %d of partition %d twice", mm.topic, mm.group, seq, p)
				}
				seen[seq] = true
			}
			if len(seen) != perPart/2 {
				t.Fatalf("%s: group %s read %d distinct records of partition %d, want the second half, %d", mm.topic, mm.group, len(seen), p, perPart/2)
			}
		}
	}
	logElapsed(t, start, "verified")
}

func kadmStr(s string) *string { return &s }

// waitGroupCommitted waits until group has committed offsets on every
// partition of topic on the target.
func waitGroupCommitted(t testing.TB, adm *kadm.Client, group, topic string, partitions int32, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		offs, err := adm.FetchOffsets(context.Background(), group)
		if err == nil {
			n := int32(0)
			offs.Each(func(o kadm.OffsetResponse) {
				if o.Topic == topic && o.Err == nil && o.At >= 0 {
					n++
				}
			})
			if n == partitions {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("group %s has no committed offsets on all %d partitions of %s on the target after %s", group, partitions, topic, within)
}

// TestMirrorLiveSource: a source that keeps producing while the mirror
// runs, and changes under it: the lag stays bounded and reaches zero
// once the producer stops; a config change, added partitions and a new
// matching topic appear on the target.
func TestMirrorLiveSource(t *testing.T) {
	start := time.Now()
	source := StartStrata(t, Options{})
	target := StartStrata(t, Options{})
	ctx := testContext(t, 3*time.Minute)
	srcCl := source.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(2*time.Millisecond))
	srcAdm, tgtAdm := kadm.NewClient(srcCl), kadm.NewClient(target.Client())
	const topic = "live"
	if _, err := srcAdm.CreateTopic(ctx, 2, -1, map[string]*string{"retention.ms": kadmStr("3600000")}, topic); err != nil {
		t.Fatal(err)
	}
	m := startMirror(t, "mirror live", "--source-bootstrap", source.Addr, "--target-bootstrap", target.Addr,
		"--topics", "live.*", "--name", "m-live", "--instance-id", "a", "--batch-records", "10000")

	// Produce for a while, in rounds of 500 records per partition, and
	// sample the lag the mirror reports.
	base := time.UnixMilli(1_700_000_000_000)
	var produced atomic.Int64
	stop := make(chan struct{})
	prodDone := make(chan struct{})
	go func() {
		defer close(prodDone)
		for seq := 0; ; seq += 500 {
			select {
			case <-stop:
				return
			default:
			}
			var rs []*kgo.Record
			for s := seq; s < seq+500; s++ {
				for p := int32(0); p < 2; p++ {
					rs = append(rs, mirrorRecord(topic, p, s, base))
				}
			}
			if err := srcCl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			produced.Add(int64(len(rs)))
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var maxLag float64
	samples := 0
	for i := 0; i < 40; i++ { // ~8 s
		time.Sleep(200 * time.Millisecond)
		if v, ok := m.metric("strata_mirror_lag_records"); ok {
			maxLag = max(maxLag, v)
			samples++
		}
	}

	// Changes: a config, more partitions, a new matching topic.
	if _, err := srcAdm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: kadmStr("7200000")}}, topic); err != nil {
		t.Fatal(err)
	}
	if _, err := srcAdm.CreateTopic(ctx, 3, -1, nil, "live-new"); err != nil {
		t.Fatal(err)
	}
	close(stop)
	<-prodDone
	if _, err := srcAdm.UpdatePartitions(ctx, 4, topic); err != nil {
		t.Fatal(err)
	}
	total := produced.Load()
	if samples == 0 {
		t.Fatal("the mirror never reported strata_mirror_lag_records")
	}
	if maxLag >= float64(total) {
		t.Fatalf("lag reached %.0f records of the %d produced: not bounded", maxLag, total)
	}
	t.Logf("produced %d records; the largest lag sampled was %.0f records (%d samples)", total, maxLag, samples)
	waitCopied(t, tgtAdm, topic, total, 2*time.Minute)
	deadline := time.Now().Add(time.Minute)
	for {
		v, _ := m.metric("strata_mirror_lag_records")
		if v == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lag still %.0f a minute after the producer stopped", v)
		}
		time.Sleep(200 * time.Millisecond)
	}
	logElapsed(t, start, "lag converged to zero")

	// The config and the partitions reach the target.
	deadline = time.Now().Add(time.Minute)
	for {
		tds, err := tgtAdm.ListTopics(ctx, topic, "live-new")
		rcs, err2 := tgtAdm.DescribeTopicConfigs(ctx, topic)
		var retention string
		if err2 == nil && len(rcs) == 1 {
			for _, c := range rcs[0].Configs {
				if c.Key == "retention.ms" {
					retention = c.MaybeValue()
				}
			}
		}
		if err == nil && len(tds[topic].Partitions) == 4 && len(tds["live-new"].Partitions) == 3 && retention == "7200000" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("target: %s has %d partitions (want 4), live-new %d (want 3), retention.ms %q (want 7200000)",
				topic, len(tds[topic].Partitions), len(tds["live-new"].Partitions), retention)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Records of a new partition land in the same partition on the target.
	fresh := mirrorClient(t, source.Addr, kgo.RecordPartitioner(kgo.ManualPartitioner())) // sees the 4 partitions
	if err := fresh.ProduceSync(ctx, mirrorRecord(topic, 3, 0, base)).FirstErr(); err != nil {
		t.Fatal(err)
	}
	waitCopied(t, tgtAdm, topic, total+1, time.Minute)
	got := readPartitions(t, target.Addr, topic)
	if len(got[3]) != 1 {
		t.Fatalf("target partition 3 holds %d records, want the 1 produced to source partition 3", len(got[3]))
	}
	for p := int32(0); p < 2; p++ {
		checkCopy(t, topic, p, got[p], int(total/2), base)
	}
	logElapsed(t, start, "changes mirrored")
}

// TestMirrorFromKfake mirrors from franz-go's kfake, a foreign
// Kafka-compatible source, into Strata: records and a group's offsets.
func TestMirrorFromKfake(t *testing.T) {
	fake, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	faddr := fake.ListenAddrs()[0]
	target := StartStrata(t, Options{})
	ctx := testContext(t, 2*time.Minute)
	srcCl := mirrorClient(t, faddr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	srcAdm := kadm.NewClient(srcCl)
	const topic, partitions, perPart = "fake-events", 3, 4000
	if _, err := srcAdm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	base := time.UnixMilli(1_700_000_000_000)
	produceSeq(t, srcCl, topic, partitions, 0, perPart, base)
	offs := make(kadm.Offsets)
	for p := int32(0); p < partitions; p++ {
		offs.Add(kadm.Offset{Topic: topic, Partition: p, At: perPart / 4, LeaderEpoch: -1})
	}
	if err := srcAdm.CommitAllOffsets(ctx, "fake-app", offs); err != nil {
		t.Fatal(err)
	}
	startMirror(t, "mirror kfake", "--source-bootstrap", faddr, "--target-bootstrap", target.Addr,
		"--topics", "fake-.*", "--groups", "fake-.*", "--name", "m-fake", "--instance-id", "a")
	tgtAdm := kadm.NewClient(target.Client())
	waitCopied(t, tgtAdm, topic, partitions*perPart, time.Minute)
	got := readPartitions(t, target.Addr, topic)
	for p := int32(0); p < partitions; p++ {
		if dups := checkCopy(t, topic, p, got[p], perPart, base); dups > 0 {
			t.Errorf("%s/%d: %d duplicates without a crash", topic, p, dups)
		}
	}
	waitGroupCommitted(t, tgtAdm, "fake-app", topic, partitions, time.Minute)
	read := consumeGroupToEnd(t, target.Addr, "fake-app", topic)
	for p := int32(0); p < partitions; p++ {
		if n := len(read[p]); n != perPart-perPart/4 {
			t.Fatalf("group fake-app read %d records of partition %d on the target, want %d", n, p, perPart-perPart/4)
		}
		if _, seq := seqOf(t, read[p][0]); seq != perPart/4 {
			t.Fatalf("group fake-app resumed partition %d at seq %d on the target, want %d", p, seq, perPart/4)
		}
	}
}

// TestMirrorActiveActive: two clusters mirror the same topic into each
// other with origin headers (--source-alias, --target-alias): each ends
// with its own records and the other's, once, and nothing loops.
func TestMirrorActiveActive(t *testing.T) {
	east := StartStrata(t, Options{})
	west := StartStrata(t, Options{})
	ctx := testContext(t, 2*time.Minute)
	const topic, perSide = "events", 2000
	base := time.UnixMilli(1_700_000_000_000)
	for _, s := range []*Strata{east, west} {
		if _, err := kadm.NewClient(s.Client()).CreateTopic(ctx, 1, -1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	startMirror(t, "mirror east->west", "--source-bootstrap", east.Addr, "--target-bootstrap", west.Addr, "--topics", topic,
		"--name", "east-to-west", "--instance-id", "a", "--source-alias", "east", "--target-alias", "west")
	startMirror(t, "mirror west->east", "--source-bootstrap", west.Addr, "--target-bootstrap", east.Addr, "--topics", topic,
		"--name", "west-to-east", "--instance-id", "a", "--source-alias", "west", "--target-alias", "east")
	produceSeq(t, mirrorClient(t, east.Addr, kgo.RecordPartitioner(kgo.ManualPartitioner())), topic, 1, 0, perSide, base)
	produceSeq(t, mirrorClient(t, west.Addr, kgo.RecordPartitioner(kgo.ManualPartitioner())), topic, 1, perSide, 2*perSide, base)
	for _, s := range []*Strata{east, west} {
		waitCopied(t, kadm.NewClient(s.Client()), topic, 2*perSide, time.Minute)
	}
	// Several sync intervals and rounds later, nothing more has come.
	time.Sleep(3 * time.Second)
	for name, s := range map[string]*Strata{"east": east, "west": west} {
		got := readPartitions(t, s.Addr, topic)[0]
		if len(got) != 2*perSide {
			t.Fatalf("%s holds %d records, want %d: records looped", name, len(got), 2*perSide)
		}
		seen := make(map[int]bool)
		for _, r := range got {
			_, seq := seqOf(t, r)
			if seen[seq] {
				t.Fatalf("%s holds seq %d twice", name, seq)
			}
			seen[seq] = true
			origin := ""
			for _, h := range r.Headers {
				if h.Key == "strata-mirror-origin" {
					origin = string(h.Value)
				}
			}
			mine := (name == "east") == (seq < perSide)
			if mine && origin != "" || !mine && origin == name || !mine && origin == "" {
				t.Fatalf("%s: seq %d has origin %q", name, seq, origin)
			}
		}
	}
}

// TestMirrorTwoInstances: two instances of one mirror split the
// partitions through the source group; both copy, and the copy is whole.
func TestMirrorTwoInstances(t *testing.T) {
	source := StartStrata(t, Options{})
	target := StartStrata(t, Options{})
	ctx := testContext(t, 2*time.Minute)
	const topic, partitions, perPart = "split", 4, 5000
	srcCl := mirrorClient(t, source.Addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if _, err := kadm.NewClient(srcCl).CreateTopic(ctx, partitions, -1, nil, topic); err != nil {
		t.Fatal(err)
	}
	args := []string{"--source-bootstrap", source.Addr, "--target-bootstrap", target.Addr, "--topics", topic, "--name", "m-split"}
	a := startMirror(t, "mirror a", append(args, "--instance-id", "a")...)
	b := startMirror(t, "mirror b", append(args, "--instance-id", "b")...)
	// Both hold partitions once both report a lag series.
	deadline := time.Now().Add(time.Minute)
	for {
		_, okA := a.metric("strata_mirror_lag_records")
		_, okB := b.metric("strata_mirror_lag_records")
		if okA && okB {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a minute, partitions on instance a: %v, on b: %v", okA, okB)
		}
		time.Sleep(100 * time.Millisecond)
	}
	base := time.UnixMilli(1_700_000_000_000)
	produceSeq(t, srcCl, topic, partitions, 0, perPart, base)
	tgtAdm := kadm.NewClient(target.Client())
	waitCopied(t, tgtAdm, topic, partitions*perPart, time.Minute)
	got := readPartitions(t, target.Addr, topic)
	for p := int32(0); p < partitions; p++ {
		if dups := checkCopy(t, topic, p, got[p], perPart, base); dups > 0 {
			t.Errorf("%s/%d: %d duplicates without a crash", topic, p, dups)
		}
	}
	na, _ := a.metric("strata_mirror_records_total")
	nb, _ := b.metric("strata_mirror_records_total")
	if na == 0 || nb == 0 || na+nb != partitions*perPart {
		t.Fatalf("instance a copied %.0f records, b %.0f: want both some, %d in all", na, nb, partitions*perPart)
	}
	t.Logf("instance a copied %.0f records, b %.0f", na, nb)
}
