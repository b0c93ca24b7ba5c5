package e2e

// Partition reassignment on a real three-broker cluster (one etcd, one
// MinIO), under load: CreateTopics with an explicit replica assignment makes
// the first broker of each list its partition's leader; then, while an
// idempotent acks=all franz-go producer keeps writing,
// AlterPartitionReassignments (kadm) moves one partition's leadership to
// another broker, `strata leaders move` (the binary) moves the other, and
// CreatePartitions adds a partition on a chosen broker. The test checks that
// the producer saw no error but retriable ones, that every acknowledged
// record is read back once where it was acknowledged (idempotence: no
// duplicates), that ListPartitionReassignments lists a move until it is
// over, and that DescribeLogDirs reports each partition on its leader only,
// with a size (object store + WAL, broker/35_describe_log_dirs.go) within
// the bounds of the record batches produced.

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// raWait bounds each wait for the cluster (a leader to move, records to
	// be acknowledged); a liveness guard, not a performance check.
	raWait = time.Minute
	// raBurst is how many records the producer must have acknowledged
	// before, between and after the moves, so each runs under load.
	raBurst = 300
	// Stored size bounds of an uncompressed record beyond its key and value:
	// at least its 7 one-byte fields (length, attributes, timestamp and
	// offset deltas, key and value lengths, header count); at most those as
	// the longest varints (32 bytes) plus a 61-byte batch header of its own.
	raMinOverhead = 7
	raMaxOverhead = 32 + 61
)

// raProducer is a continuous producer and what it was told.
type raProducer struct {
	cl   *kgo.Client
	stop chan struct{}
	done chan struct{}

	mu        sync.Mutex
	acked     map[int]raAck // by sequence number
	retriable []error       // records given up on with a retriable error
	fatal     []error       // with any other error
	// clientErrs are the errors the client logged (those it retried and
	// those it gave up on), counted by text.
	clientErrs map[string]int
	badErrs    []error // of them, the ones that are not retriable Kafka errors
	sent       int
}

type raAck struct {
	partition int32
	offset    int64
	value     string
}

func raValue(seq int) string {
	return fmt.Sprintf("seq-%07d %s", seq, strings.Repeat("x", 64+seq%64))
}

// start produces a record every 2ms to partitions 0 and 1 by turns until stop.
func (p *raProducer) start(topic string) {
	p.stop, p.done, p.acked = make(chan struct{}), make(chan struct{}), map[int]raAck{}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for seq := 0; ; seq++ {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			r := &kgo.Record{Topic: topic, Partition: int32(seq % 2), Key: []byte(strconv.Itoa(seq)), Value: []byte(raValue(seq))}
			p.mu.Lock()
			p.sent++
			p.mu.Unlock()
			p.cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
				p.mu.Lock()
				defer p.mu.Unlock()
				switch {
				case err == nil:
					p.acked[seq] = raAck{r.Partition, r.Offset, string(r.Value)}
				case kerr.IsRetriable(err):
					p.retriable = append(p.retriable, fmt.Errorf("record %d: %w", seq, err))
				default:
					p.fatal = append(p.fatal, fmt.Errorf("record %d: %w", seq, err))
				}
			})
		}
	}()
}

func (p *raProducer) ackedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.acked)
}

// awaitMore waits until n more records than now are acknowledged.
func (p *raProducer) awaitMore(t *testing.T, n int) {
	t.Helper()
	want := p.ackedCount() + n
	deadline := time.Now().Add(raWait)
	for p.ackedCount() < want {
		if time.Now().After(deadline) {
			t.Fatalf("producer: %d records acknowledged within %v, want %d", p.ackedCount(), raWait, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReassignUnderLoad(t *testing.T) {
	c := startGroupCluster(t)
	ctx := testContext(t, 5*time.Minute)
	cl := c.client(t, kgo.MetadataMinAge(250*time.Millisecond))
	adm := kadm.NewClient(cl)
	md, err := adm.Metadata(ctx)
	if err != nil || len(md.Brokers) != 3 {
		t.Fatalf("metadata: %v (%d brokers)", err, len(md.Brokers))
	}
	ids := md.Brokers.NodeIDs()
	slices.Sort(ids)
	a, b, cc := ids[0], ids[1], ids[2]
	const topic = "reassigned"

	// Partition 0 on [b a] (b leads), partition 1 on [cc b] (cc leads).
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = topic, -1, -1
	for p, replicas := range [][]int32{{b, a}, {cc, b}} {
		ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		ra.Partition, ra.Replicas = int32(p), replicas
		ct.ReplicaAssignment = append(ct.ReplicaAssignment, ra)
	}
	req.Topics = append(req.Topics, ct)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Topics) != 1 {
		t.Fatalf("create %s: %v", topic, err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("create %s with replica assignments: %v %v", topic, err, resp.Topics[0].ErrorMessage)
	}
	raAwaitLeaders(t, ctx, adm, topic, map[int32]int32{0: b, 1: cc})

	p := &raProducer{}
	p.cl = c.client(t,
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()), // stored sizes are then bounded by the bytes produced
		kgo.MetadataMinAge(250*time.Millisecond),
		kgo.WithLogger(&raLogger{kgo.BasicLogger(t.Output(), kgo.LogLevelInfo, nil), p}),
	) // franz-go's defaults: acks=all, idempotent
	p.start(topic)
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			close(p.stop)
			<-p.done
		}
	}
	defer stop()
	p.awaitMore(t, raBurst)

	// Move partition 0 from b to a with kadm.
	var move kadm.AlterPartitionAssignmentsReq
	move.Assign(topic, 0, []int32{a})
	moved, err := adm.AlterPartitionAssignments(ctx, move)
	if err == nil {
		err = moved.Error()
	}
	if err != nil {
		t.Fatalf("alter partition reassignments: %v", err)
	}
	listed := raListed(t, ctx, adm, topic)
	if r, ok := listed[0]; ok {
		// Under way: the new list, nothing added (a was in the list), b removed.
		if !slices.Equal(r.Replicas, []int32{a}) || len(r.AddingReplicas) != 0 || !slices.Equal(r.RemovingReplicas, []int32{b}) {
			t.Errorf("list reassignments of %s/0 under way: replicas %v adding %v removing %v, want [%d] [] [%d]", topic, r.Replicas, r.AddingReplicas, r.RemovingReplicas, a, b)
		}
		t.Logf("%s/0: reassignment listed while under way", topic)
	} else {
		t.Logf("%s/0: reassignment already over when listed", topic)
	}
	if _, ok := listed[1]; ok {
		t.Errorf("list reassignments lists %s/1, which was not reassigned", topic)
	}
	raAwaitLeaders(t, ctx, adm, topic, map[int32]int32{0: a, 1: cc})
	if listed := raListed(t, ctx, adm, topic); len(listed) != 0 {
		t.Errorf("list reassignments after the move: %+v, want none", listed)
	}
	p.awaitMore(t, raBurst)

	// Move partition 1 from cc to b with the strata binary.
	out, err := exec.CommandContext(ctx, strataBin, "leaders", "move", "--bootstrap-server", strings.Join(c.addrs, ","),
		"--topic", topic, "--partition", "1", "--broker", strconv.Itoa(int(b))).CombinedOutput()
	if err != nil || !strings.Contains(string(out), topic+"/1\t") {
		t.Fatalf("strata leaders move: %v\n%s", err, out)
	}
	t.Logf("strata leaders move: %s", strings.TrimSpace(string(out)))
	raAwaitLeaders(t, ctx, adm, topic, map[int32]int32{0: a, 1: b})
	out, err = exec.CommandContext(ctx, strataBin, "leaders", "list", "--bootstrap-server", c.addrs[0]).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "no reassignment under way") {
		t.Errorf("strata leaders list after the moves: %v\n%s", err, out)
	}
	out, err = exec.CommandContext(ctx, strataBin, "leaders", "elect", "--bootstrap-server", c.addrs[2], "--topic", topic).CombinedOutput()
	for part := range 2 {
		if line := fmt.Sprintf("%s/%d\talready led by its preferred leader", topic, part); err != nil || !strings.Contains(string(out), line) {
			t.Errorf("strata leaders elect after the moves: %v, want %q in\n%s", err, line, out)
		}
	}
	// CreatePartitions with an assignment: the new partition is led by the
	// broker named first.
	cp := kmsg.NewPtrCreatePartitionsRequest()
	cp.TimeoutMillis = 30000
	cpt := kmsg.NewCreatePartitionsRequestTopic()
	cpt.Topic, cpt.Count = topic, 3
	cpa := kmsg.NewCreatePartitionsRequestTopicAssignment()
	cpa.Replicas = []int32{cc, a}
	cpt.Assignment = append(cpt.Assignment, cpa)
	cp.Topics = append(cp.Topics, cpt)
	cpResp, err := cp.RequestWith(ctx, cl)
	if err != nil || len(cpResp.Topics) != 1 {
		t.Fatalf("create partitions: %v", err)
	}
	if err := kerr.ErrorForCode(cpResp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("create partitions with an assignment: %v %v", err, cpResp.Topics[0].ErrorMessage)
	}
	raAwaitLeaders(t, ctx, adm, topic, map[int32]int32{0: a, 1: b, 2: cc})
	// Nothing to cancel once a move is over.
	var cancelMove kadm.AlterPartitionAssignmentsReq
	cancelMove.CancelAssign(topic, 0)
	if res, err := adm.AlterPartitionAssignments(ctx, cancelMove); err != nil || !errors.Is(res[topic][0].Err, kerr.NoReassignmentInProgress) {
		t.Errorf("cancelling a finished reassignment: %v %+v, want NO_REASSIGNMENT_IN_PROGRESS", err, res[topic][0])
	}
	p.awaitMore(t, raBurst)
	stop()
	if err := p.cl.Flush(ctx); err != nil {
		t.Fatalf("producer flush: %v", err)
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	t.Logf("producer: %d sent, %d acknowledged, %d given up on with retriable errors", p.sent, len(p.acked), len(p.retriable))
	for _, err := range p.retriable[:min(5, len(p.retriable))] {
		t.Logf("producer (retriable): %v", err)
	}
	for _, err := range p.fatal {
		t.Errorf("producer: %v", err)
	}
	t.Logf("errors the producer's client logged (and retried): %v", p.clientErrs)
	for _, err := range p.badErrs {
		t.Errorf("producer's client logged an error that is not a retriable Kafka error: %v", err)
	}
	if len(p.acked)+len(p.retriable)+len(p.fatal) != p.sent {
		t.Errorf("producer: %d sent, %d answered", p.sent, len(p.acked)+len(p.retriable)+len(p.fatal))
	}

	payload, records := raCheckLog(t, ctx, c.client(t), adm, topic, p.acked)
	raCheckLogDirs(t, ctx, adm, topic, map[int32]int32{0: a, 1: b}, ids, payload, records)
}

// raLogger is the producer's logger: it passes everything on, and records
// the errors the client logs while it runs.
type raLogger struct {
	kgo.Logger
	p *raProducer
}

func (l *raLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	l.Logger.Log(level, msg, keyvals...)
	for i := 1; i < len(keyvals); i += 2 {
		err, ok := keyvals[i].(error)
		if !ok || keyvals[i-1] != "err" || errors.Is(err, context.Canceled) {
			continue
		}
		l.p.mu.Lock()
		if l.p.clientErrs == nil {
			l.p.clientErrs = map[string]int{}
		}
		l.p.clientErrs[err.Error()]++
		if !kerr.IsRetriable(err) {
			l.p.badErrs = append(l.p.badErrs, err)
		}
		l.p.mu.Unlock()
	}
}

// raAwaitLeaders waits until Metadata shows each partition of topic led by
// the broker leaders names.
func raAwaitLeaders(t *testing.T, ctx context.Context, adm *kadm.Client, topic string, leaders map[int32]int32) {
	t.Helper()
	deadline := time.Now().Add(raWait)
	for {
		md, err := adm.Metadata(ctx, topic)
		problem := fmt.Sprint(err)
		if err == nil {
			problem = ""
			for p, want := range leaders {
				pd, ok := md.Topics[topic].Partitions[p]
				if !ok || pd.Err != nil || pd.Leader != want {
					problem += fmt.Sprintf(" %s/%d: leader %d (%v), want %d;", topic, p, pd.Leader, pd.Err, want)
				}
			}
		}
		if problem == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("leaders not as assigned within %v:%s", raWait, problem)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// raListed is topic's reassignments under way, by partition.
func raListed(t *testing.T, ctx context.Context, adm *kadm.Client, topic string) map[int32]kadm.ListPartitionReassignmentsResponse {
	t.Helper()
	res, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: {}, 1: {}}})
	if err != nil {
		t.Fatalf("list partition reassignments: %v", err)
	}
	for name := range res {
		if name != topic {
			t.Errorf("list partition reassignments of %s answers for %s", topic, name)
		}
	}
	return res[topic]
}

// raCheckLog reads both partitions of topic to their high watermarks and
// checks every acknowledged record is there once, where it was
// acknowledged; it returns the key and value bytes and the records in each
// partition.
func raCheckLog(t *testing.T, ctx context.Context, cl *kgo.Client, adm *kadm.Client, topic string, acked map[int]raAck) (payload, records map[int32]int64) {
	t.Helper()
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil || ends.Error() != nil {
		t.Fatalf("list end offsets: %v %v", err, ends.Error())
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { want[o.Partition] = o.Offset })
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart(), 1: kgo.NewOffset().AtStart()}})
	payload, records = map[int32]int64{}, map[int32]int64{}
	seen := map[int]raAck{}
	next := map[int32]int64{0: 0, 1: 0}
	readCtx, cancel := context.WithTimeout(ctx, raWait)
	defer cancel()
	for next[0] < want[0] || next[1] < want[1] {
		fs := cl.PollFetches(readCtx)
		if readCtx.Err() != nil {
			t.Fatalf("read %v of %v records", next, want)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch: %v", err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset != next[r.Partition] {
				t.Errorf("%s/%d: record at offset %d after %d", topic, r.Partition, r.Offset, next[r.Partition]-1)
			}
			next[r.Partition] = r.Offset + 1
			payload[r.Partition] += int64(len(r.Key) + len(r.Value))
			records[r.Partition]++
			seq, err := strconv.Atoi(string(r.Key))
			if err != nil || string(r.Value) != raValue(seq) {
				t.Errorf("%s/%d@%d: record %q is not one produced", topic, r.Partition, r.Offset, r.Key)
				return
			}
			if prev, dup := seen[seq]; dup {
				t.Errorf("record %d twice: %s/%d@%d and @%d", seq, topic, prev.partition, prev.offset, r.Offset)
			}
			seen[seq] = raAck{r.Partition, r.Offset, string(r.Value)}
		})
	}
	lost := 0
	for seq, ack := range acked {
		if got, ok := seen[seq]; !ok || got != ack {
			if lost < 5 {
				t.Errorf("acknowledged record %d at %s/%d@%d: read %+v (found %v)", seq, topic, ack.partition, ack.offset, got, ok)
			}
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged records not read back where acknowledged", lost, len(acked))
	}
	t.Logf("read %d records (%d acknowledged) from %s: %v records, %v key and value bytes", len(seen), len(acked), topic, records, payload)
	return payload, records
}

// raCheckLogDirs checks that DescribeLogDirs lists each partition on its
// leader only, sized within the bounds of the records it holds.
func raCheckLogDirs(t *testing.T, ctx context.Context, adm *kadm.Client, topic string, leaders map[int32]int32, brokers []int32, payload, records map[int32]int64) {
	t.Helper()
	for _, id := range brokers {
		dirs, err := adm.DescribeBrokerLogDirs(ctx, id, kadm.TopicsSet{topic: {0: {}, 1: {}}})
		if err == nil {
			err = dirs.Error()
		}
		if err != nil || len(dirs) != 1 {
			t.Fatalf("describe log dirs of broker %d: %v (%d dirs)", id, err, len(dirs))
		}
		for _, dir := range dirs {
			if dir.TotalBytes <= 0 || dir.UsableBytes < 0 || dir.UsableBytes > dir.TotalBytes {
				t.Errorf("broker %d log dir %s: total %d usable %d bytes", id, dir.Dir, dir.TotalBytes, dir.UsableBytes)
			}
			for p, leader := range leaders {
				dp, listed := dir.Topics[topic][p]
				if listed != (leader == id) {
					t.Errorf("broker %d lists %s/%d: %v, led by %d", id, topic, p, listed, leader)
				}
				if !listed {
					continue
				}
				lo := payload[p] + raMinOverhead*records[p]
				hi := payload[p] + raMaxOverhead*records[p]
				if dp.Size < lo || dp.Size > hi {
					t.Errorf("broker %d: %s/%d size %d, want within [%d, %d] for %d records of %d key and value bytes", id, topic, p, dp.Size, lo, hi, records[p], payload[p])
				} else {
					t.Logf("broker %d: %s/%d size %d for %d records of %d key and value bytes", id, topic, p, dp.Size, records[p], payload[p])
				}
			}
		}
	}
}
