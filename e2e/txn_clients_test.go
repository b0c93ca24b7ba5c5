package e2e

// Consume-transform-produce with transactions (issue 19), with three real
// clients against a three-broker cluster on a shared etcd and MinIO:
// franz-go's GroupTransactSession, sarama's transactional producer with a
// sarama consumer group, and confluent-kafka-python (librdkafka,
// python/txn_ctp.py).
//
// Each test fills an input topic with txnRecords numbered records (acks=all),
// then runs one ETL loop: a consumer-group member reading the input with
// read_committed that, per poll, begins a transaction, produces one
// transformed record per input record to the output topic, adds the
// consumed offsets to the transaction and commits it. Every record produced
// carries its input record's number and the tag of the transaction that
// produced it, and the loop keeps a ledger of each transaction's outcome as
// the client reported it (committed, aborted, or unknown when the client
// gave up with an error) and of how many of its records were acknowledged.
// One transaction is aborted on purpose (after its records were
// acknowledged), so that aborted records are always in the log.
//
// While the loop runs it is paused inside a transaction (its records
// produced and acknowledged, the transaction not yet ended); the test then
// SIGKILLs a broker (the transaction coordinator, which FindCoordinator
// with key type 1 names, and, for franz-go, then the leader of an output
// partition), lets the loop end the transaction against the survivors, and
// restarts the broker once the loop has committed again. When the loop has
// consumed and committed the whole input, txnVerify reads the output with
// read_committed and read_uncommitted and checks that every input record is
// there exactly once under read_committed, that no record of an aborted
// transaction is, that every record of a committed transaction is, and that
// read_uncommitted sees everything read_committed sees, at the same offsets,
// plus the aborted transaction's records.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/internal/testenv"
)

const (
	txnBrokers       = 3
	txnSessionTTL    = 3 * time.Second
	txnInPartitions  = 4
	txnOutPartitions = 3
	// txnRecords input records, at most txnBatch of them per transaction:
	// a few dozen transactions per test.
	txnRecords = 400
	txnBatch   = 25
	// Liveness bounds, far above what a healthy cluster needs.
	txnStepWithin = 90 * time.Second
	// The group members' session timeout: the broker's minimum, so that a
	// member that could not leave (its coordinator was killed) is soon
	// replaced.
	txnGroupSession = 6 * time.Second
	txnRunWithin    = 150 * time.Second
)

// --- the cluster --------------------------------------------------------------

// txnCluster is three brokers on one etcd and one MinIO.
type txnCluster struct {
	brokerSet
}

func startTxnCluster(t *testing.T, bucket string) *txnCluster {
	t.Helper()
	etcd := testenv.StartEtcd(t)
	minio := testenv.StartMinIO(t)
	c := &txnCluster{brokerSet{t: t, start: time.Now(), clientLog: newRingLog(t, "clients", 600)}}
	opts := Options{
		EtcdEndpoints: etcd.Endpoint,
		ObjectStore:   minio.S3URL(bucket),
		Args:          []string{"--session-ttl", txnSessionTTL.String(), "--log-level", "info"},
	}
	for range txnBrokers {
		c.brokers = append(c.brokers, StartStrata(t, opts))
	}
	c.logf("brokers %s", strings.Join(c.addrs(), ", "))
	return c
}

// client is a franz-go client of the cluster (clientOpts), closed at the
// end of the test.
func (c *txnCluster) client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	cl := c.brokerSet.client(opts...)
	c.t.Cleanup(cl.Close)
	return cl
}

// clientOpts are clusterClientOpts, logging to the cluster's client log.
func (c *txnCluster) clientOpts() []kgo.Opt { return clusterClientOpts(c.addrs(), c.clientLog) }

// request sends req to the first broker that is running, and to no other.
func (c *txnCluster) request(req kmsg.Request) (kmsg.Response, error) {
	for _, s := range c.brokers {
		if _, exited := s.Exited(); exited {
			continue
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(s.Addr), kgo.WithLogger(kgo.BasicLogger(c.clientLog, kgo.LogLevelInfo, nil)))
		if err != nil {
			return nil, err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return cl.SeedBrokers()[0].Request(ctx, req)
	}
	return nil, errors.New("no broker is running")
}

// coordinator asks a running broker which node coordinates key (keyType 0:
// a group, 1: a transactional id) and returns the node id and the index of
// its broker.
func (c *txnCluster) coordinator(key string, keyType int8) (int32, int, error) {
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKey, req.CoordinatorKeys, req.CoordinatorType = key, []string{key}, keyType
	resp, err := c.request(req)
	if err != nil {
		return -1, -1, fmt.Errorf("FindCoordinator: %w", err)
	}
	fr := resp.(*kmsg.FindCoordinatorResponse)
	code, id, host, port := fr.ErrorCode, fr.NodeID, fr.Host, fr.Port
	if len(fr.Coordinators) > 0 {
		co := fr.Coordinators[0]
		code, id, host, port = co.ErrorCode, co.NodeID, co.Host, co.Port
	}
	if err := kerr.ErrorForCode(code); err != nil {
		return -1, -1, fmt.Errorf("FindCoordinator %s (type %d): %w", key, keyType, err)
	}
	i := slices.Index(c.addrs(), hostPort(host, port))
	if i < 0 {
		return -1, -1, fmt.Errorf("FindCoordinator %s (type %d): node %d at %s is not a broker of ours", key, keyType, id, hostPort(host, port))
	}
	return id, i, nil
}

// awaitCoordinator waits until FindCoordinator names a running broker for
// the transactional id and returns its index.
func (c *txnCluster) awaitCoordinator(txnID string) int {
	c.t.Helper()
	deadline := time.Now().Add(txnStepWithin)
	for {
		id, i, err := c.coordinator(txnID, 1)
		if err == nil {
			if _, exited := c.brokers[i].Exited(); !exited {
				c.logf("node %d (%s) coordinates transactional id %s", id, c.brokers[i].Addr, txnID)
				return i
			}
			err = fmt.Errorf("node %d (%s) is named but not running", id, c.brokers[i].Addr)
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("no running coordinator for transactional id %s within %s: %v", txnID, txnStepWithin, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// leaders is the index of the broker leading each partition of topic.
func (c *txnCluster) leaders(topic string) map[int32]int {
	c.t.Helper()
	adm := kadm.NewClient(c.client())
	deadline := time.Now().Add(txnStepWithin)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		md, err := adm.Metadata(ctx, topic)
		cancel()
		out := map[int32]int{}
		if err == nil {
			err = md.Topics[topic].Err
		}
		if err == nil {
			byID := brokerIndexes(md, c.addrs())
			for p, pd := range md.Topics[topic].Partitions {
				if i, ok := byID[pd.Leader]; ok {
					out[p] = i
				}
			}
			if len(out) == len(md.Topics[topic].Partitions) && len(out) > 0 {
				return out
			}
			err = fmt.Errorf("leaders %v of %d partitions", out, len(md.Topics[topic].Partitions))
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("Metadata %s: %v", topic, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// fillInput creates topic and produces n numbered records to it, record i to
// partition i mod partitions (acks=all, idempotent); it returns each
// partition's end offset.
func (c *txnCluster) fillInput(topic string, partitions int32, n int) map[int32]int64 {
	c.t.Helper()
	ensureTopic(c.t, c.brokers[0], topic, partitions, nil)
	cl := c.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()))
	var rs []*kgo.Record
	ends := map[int32]int64{}
	for i := range n {
		p := int32(i) % partitions
		rs = append(rs, &kgo.Record{Topic: topic, Partition: p, Key: []byte(fmt.Sprintf("k%d", i%50)), Value: txnInValue(i)})
		ends[p]++
	}
	ctx := testContext(c.t, txnStepWithin)
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		c.t.Fatalf("produce the input: %v", err)
	}
	return ends
}

// finished reports whether group has committed, as read back with
// require_stable, every partition of topic up to ends.
func (c *txnCluster) finished(adm *kadm.Client, group, topic string, ends map[int32]int64) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := adm.FetchOffsets(kadm.RequireStable(ctx), group)
	if err != nil || offs.Error() != nil {
		return false
	}
	for p, end := range ends {
		o, ok := offs.Lookup(topic, p)
		if !ok || o.Err != nil || o.At < end {
			return false
		}
	}
	return true
}

// --- records and the ledger ----------------------------------------------------

// txnInValue is the value of input record i.
func txnInValue(i int) []byte { return fmt.Appendf(nil, "in-%05d", i) }

// txnOutValue is the value an ETL loop produces for input value in within
// the transaction tagged tag.
func txnOutValue(in []byte, tag string) []byte { return fmt.Appendf(nil, "%s|%s", in, tag) }

// parseTxnOut returns the input record number and transaction tag of an
// output value.
func parseTxnOut(v string) (int, string, bool) {
	in, tag, ok := strings.Cut(v, "|")
	n, err := strconv.Atoi(strings.TrimPrefix(in, "in-"))
	if !ok || err != nil || !strings.HasPrefix(in, "in-") || tag == "" {
		return 0, "", false
	}
	return n, tag, true
}

type txnOutcome int

const (
	txnUnknown   txnOutcome = iota // the client gave up with an error: it may or may not have committed
	txnCommitted                   // the client reported the commit
	txnAborted                     // the client reported the abort
)

func (o txnOutcome) String() string {
	return [...]string{"unknown", "committed", "aborted"}[o]
}

// txnLedger is what an ETL loop did, as its client reported it.
type txnLedger struct {
	mu         sync.Mutex
	order      []string
	outcome    map[string]txnOutcome
	acked      map[string]int // records acknowledged within each transaction
	deliberate string         // the transaction aborted on purpose
	commits    int
}

func newTxnLedger() *txnLedger {
	return &txnLedger{outcome: map[string]txnOutcome{}, acked: map[string]int{}}
}

func (l *txnLedger) produced(tag string, acked int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.outcome[tag]; !ok {
		l.order = append(l.order, tag)
	}
	l.outcome[tag] = txnUnknown
	l.acked[tag] = acked
}

func (l *txnLedger) ended(tag string, o txnOutcome, deliberate bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.outcome[tag] = o
	if o == txnCommitted {
		l.commits++
	}
	if deliberate && o == txnAborted {
		l.deliberate = tag
	}
}

func (l *txnLedger) committedTxns() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.commits
}

func (l *txnLedger) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	counts := map[txnOutcome]int{}
	for _, o := range l.outcome {
		counts[o]++
	}
	return fmt.Sprintf("%d transactions: %d committed, %d aborted (%s on purpose), %d open or unknown",
		len(l.outcome), counts[txnCommitted], counts[txnAborted], l.deliberate, counts[txnUnknown])
}

// --- pausing a loop inside a transaction ---------------------------------------

// txnGate lets the test stop an ETL loop inside a transaction: the loop
// calls pause once its transaction's records are acknowledged and before it
// ends the transaction; at the stages the test asked for, pause blocks
// until the test has injected its fault.
type txnGate struct {
	stages []int // pause in the first transaction that begins once this many input records are committed
	next   int   // the loop's next stage (the loop's goroutine only)
	paused chan int
	resume chan struct{}
	done   chan error // the loop's end
}

func newTxnGate(stages ...int) *txnGate {
	return &txnGate{stages: stages, paused: make(chan int), resume: make(chan struct{}), done: make(chan error, 1)}
}

// pause is called by the loop inside a transaction that it means to commit,
// with the number of input records committed before it.
func (g *txnGate) pause(ctx context.Context, committed int) {
	if g.next >= len(g.stages) || committed < g.stages[g.next] {
		return
	}
	stage := g.next
	select {
	case g.paused <- stage:
		g.next++
	case <-ctx.Done():
		return
	}
	select {
	case <-g.resume:
	case <-ctx.Done():
	}
}

// txnFault is one fault: it picks the broker to kill while the loop is
// paused, and says why.
type txnFault func() (int, string)

// drive waits for each stage of the loop, SIGKILLs the broker the fault
// picks, resumes the loop, waits until the loop has committed two more
// transactions, and restarts the broker; then it waits for the loop's end.
// Two, because the paused transaction's EndTxn may be answered before
// anything moves (the coordinator records the outcome; the killed leader's
// marker waits in etcd), while the next transaction cannot begin until
// every marker of the paused one is written: by the broker that took over
// the killed one's partitions and shards, since its lease has to expire
// first (a restart within it would resume them itself).
func (c *txnCluster) drive(g *txnGate, l *txnLedger, faults ...txnFault) {
	c.t.Helper()
	var endErr error
	ended := false
	for stage, pick := range faults {
		select {
		case got := <-g.paused:
			if got != stage {
				c.t.Fatalf("the loop paused at stage %d, want %d", got, stage)
			}
		case endErr = <-g.done:
			c.t.Fatalf("the loop ended before stage %d (%v); %s", stage, endErr, l.summary())
		case <-time.After(txnRunWithin):
			c.t.Fatalf("the loop did not reach stage %d within %s; %s", stage, txnRunWithin, l.summary())
		}
		i, why := pick()
		s := c.brokers[i]
		before := l.committedTxns()
		c.logf("stage %d: SIGKILL %s (%s) with a transaction open; %s", stage, s.Addr, why, l.summary())
		s.Kill()
		g.resume <- struct{}{}
		deadline := time.Now().Add(txnStepWithin)
		for l.committedTxns() < before+2 && !ended {
			select {
			case endErr = <-g.done:
				ended = true
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("stage %d: not two transactions committed within %s after the SIGKILL of %s; %s", stage, txnStepWithin, s.Addr, l.summary())
			}
		}
		c.logf("stage %d: the loop committed two transactions after the SIGKILL; restarting %s", stage, s.Addr)
		s.Restart()
	}
	if !ended {
		select {
		case endErr = <-g.done:
		case <-time.After(txnRunWithin):
			c.t.Fatalf("the loop did not consume and commit the whole input within %s; %s", txnRunWithin, l.summary())
		}
	}
	if endErr != nil {
		c.t.Fatalf("the loop failed: %v; %s", endErr, l.summary())
	}
	c.logf("the loop consumed and committed the whole input: %s", l.summary())
}

// killCoordinator is the fault that picks the coordinator of txnID.
func (c *txnCluster) killCoordinator(txnID string) txnFault {
	return func() (int, string) {
		return c.awaitCoordinator(txnID), "the coordinator of " + txnID
	}
}

// killOutputLeader is the fault that picks the leader of a partition of
// topic, one that does not coordinate txnID if there is one.
func (c *txnCluster) killOutputLeader(topic, txnID string) txnFault {
	return func() (int, string) {
		co := c.awaitCoordinator(txnID)
		leaders := c.leaders(topic)
		ps := slices.Sorted(maps.Keys(leaders))
		pick := ps[0]
		for _, p := range ps {
			if leaders[p] != co {
				pick = p
				break
			}
		}
		return leaders[pick], fmt.Sprintf("the leader of %s/%d", topic, pick)
	}
}

// txnSetup is what each client's test starts from: the cluster, the input
// filled, the output created (the topics, group and transactional id named
// after the test), the ledger, and the gate that pauses the loop at a
// quarter and at half of the input.
type txnSetup struct {
	c                     *txnCluster
	in, out, group, txnID string
	ends                  map[int32]int64 // the input's end offsets
	l                     *txnLedger
	g                     *txnGate
}

func newTxnSetup(t *testing.T, name string) *txnSetup {
	t.Helper()
	c := startTxnCluster(t, name)
	s := &txnSetup{c: c, in: name + "-in", out: name + "-out", group: name + "-etl", txnID: name + "-etl-id",
		l: newTxnLedger(), g: newTxnGate(txnRecords/4, txnRecords/2)}
	s.ends = c.fillInput(s.in, txnInPartitions, txnRecords)
	ensureTopic(t, c.brokers[0], s.out, txnOutPartitions, nil)
	return s
}

// runLoop runs loop, SIGKILLs the coordinator of the transactional id inside
// one transaction and the leader of an output partition inside another
// (drive), and verifies the output. cancel, ctx's, stops the loop before
// runLoop waits for it to return.
func (s *txnSetup) runLoop(ctx context.Context, cancel context.CancelFunc, loop func(context.Context) error) {
	s.c.t.Helper()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { s.g.done <- loop(ctx) })
	s.c.drive(s.g, s.l, s.c.killCoordinator(s.txnID), s.c.killOutputLeader(s.out, s.txnID))
	s.c.txnVerify(s.out, txnOutPartitions, txnRecords, s.l)
}

// txnLoop is the state a Go client's loop keeps besides its client's: its
// progress and the transaction it aborts on purpose.
type txnLoop struct {
	*txnSetup
	adm      *kadm.Client
	abortAt  int             // abort the first transaction that begins once this many records are committed
	aborted  bool            // it did
	progress map[int32]int64 // input offsets committed, as the client reported
}

func newTxnLoop(t *testing.T, name string) txnLoop {
	t.Helper()
	s := newTxnSetup(t, name)
	return txnLoop{txnSetup: s, adm: kadm.NewClient(s.c.client()), abortAt: txnRecords / 8, progress: map[int32]int64{}}
}

func (e *txnLoop) committed() int {
	n := int64(0)
	for _, o := range e.progress {
		n += o
	}
	return int(n)
}

// incarnations runs incarnation 0, 1, ... of a client's loop (what names
// one) until one has consumed and committed the whole input, or ctx ends.
// The next incarnation starts at once after one that ended with restart (it
// aborted on purpose to start again), else after the failure is logged and
// a moment has passed.
func (e *txnLoop) incarnations(ctx context.Context, what string, restart error, incarnation func(context.Context, int) (bool, error)) error {
	for inc := 0; ; inc++ {
		done, err := incarnation(ctx, inc)
		if done {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s %d: %w (%v)", what, inc, ctx.Err(), err)
		}
		if restart == nil || !errors.Is(err, restart) {
			e.c.logf("%s %d ended: %v; starting another", what, inc, err)
			time.Sleep(250 * time.Millisecond) // not a tight loop while a broker is down
		}
	}
}

// finished reports whether the group has committed the whole input.
func (e *txnLoop) finished() bool { return e.c.finished(e.adm, e.group, e.in, e.ends) }

// deliberate reports whether a transaction that would commit is to be
// aborted on purpose instead.
func (e *txnLoop) deliberate(commit bool) bool {
	return commit && !e.aborted && e.committed() >= e.abortAt
}

// committedTxn records that transaction tag committed, with the input
// offsets next.
func (e *txnLoop) committedTxn(tag string, next map[int32]int64) {
	e.l.ended(tag, txnCommitted, false)
	for p, o := range next {
		e.progress[p] = max(e.progress[p], o)
	}
}

// abortedTxn records that transaction tag aborted, deliberately or not.
func (e *txnLoop) abortedTxn(tag string, deliberate bool) {
	e.l.ended(tag, txnAborted, deliberate)
	e.aborted = e.aborted || deliberate
}

// --- verification ----------------------------------------------------------------

type txnRead struct {
	Partition int32
	Offset    int64
	Key       string
	Value     string
}

// txnReadAll reads every partition of topic from its start with the
// isolation level until it has read the record at until[p] of each.
func (c *txnCluster) txnReadAll(topic string, level kgo.IsolationLevel, name string, until map[int32]int64) []txnRead {
	c.t.Helper()
	parts := map[int32]kgo.Offset{}
	for p := range until {
		parts[p] = kgo.NewOffset().AtStart()
	}
	cl, err := kgo.NewClient(append(c.clientOpts(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchIsolationLevel(level), kgo.FetchMaxWait(500*time.Millisecond))...)
	if err != nil {
		c.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), txnStepWithin)
	defer cancel()
	next := map[int32]int64{}
	var out []txnRead
	for {
		var waiting []string
		for p, o := range until {
			if next[p] <= o {
				waiting = append(waiting, fmt.Sprintf("%d at %d of %d", p, next[p], o+1))
			}
		}
		if len(waiting) == 0 {
			return out
		}
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			slices.Sort(waiting)
			c.t.Fatalf("%s read of %s not at its end within %s: partitions %s", name, topic, txnStepWithin, strings.Join(waiting, ", "))
		}
		fs.EachError(func(t string, p int32, err error) {
			c.logf("%s read of %s/%d: %v", name, t, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < next[r.Partition] {
				c.t.Errorf("%s read of %s/%d: offset %d after %d", name, topic, r.Partition, r.Offset, next[r.Partition]-1)
			}
			next[r.Partition] = r.Offset + 1
			out = append(out, txnRead{r.Partition, r.Offset, string(r.Key), string(r.Value)})
		})
	}
}

// txnVerify checks the output topic of an ETL loop that consumed n input
// records, against the loop's ledger.
func (c *txnCluster) txnVerify(out string, partitions int32, n int, l *txnLedger) {
	c.t.Helper()
	t := c.t
	// A sentinel record at the end of each partition, produced (not in a
	// transaction) after every transaction ended: a reader that has read it
	// has read everything before it, and under read_committed it becomes
	// readable only once every transaction before it has its marker.
	cl := c.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var rs []*kgo.Record
	for p := range partitions {
		rs = append(rs, &kgo.Record{Topic: out, Partition: p, Key: []byte("sentinel"), Value: []byte("sentinel")})
	}
	ctx := testContext(t, txnStepWithin)
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatalf("produce the sentinels: %v", err)
	}
	until := map[int32]int64{}
	for _, r := range rs {
		until[r.Partition] = r.Offset
	}
	committed := c.txnReadAll(out, kgo.ReadCommitted(), "read_committed", until)
	uncommitted := c.txnReadAll(out, kgo.ReadUncommitted(), "read_uncommitted", until)

	l.mu.Lock()
	defer l.mu.Unlock()
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	type at struct {
		p int32
		o int64
	}
	all := map[at]string{}
	uncommittedByTag := map[string]int{}
	for _, r := range uncommitted {
		all[at{r.Partition, r.Offset}] = r.Value
		if _, tag, ok := parseTxnOut(r.Value); ok {
			uncommittedByTag[tag]++
		}
	}
	count := make([]int, n)
	committedByTag := map[string]int{}
	inCommitted := map[at]bool{}
	for _, r := range committed {
		where := fmt.Sprintf("read_committed %s/%d@%d", out, r.Partition, r.Offset)
		inCommitted[at{r.Partition, r.Offset}] = true
		if v, ok := all[at{r.Partition, r.Offset}]; !ok || v != r.Value {
			add("%s: %q; read_uncommitted has %q there (present: %v)", where, r.Value, v, ok)
		}
		if r.Key == "sentinel" {
			continue
		}
		i, tag, ok := parseTxnOut(r.Value)
		if !ok || i < 0 || i >= n {
			add("%s: %q is not an output record", where, r.Value)
			continue
		}
		count[i]++
		committedByTag[tag]++
		o, known := l.outcome[tag]
		switch {
		case !known:
			add("%s: record of input %d from transaction %s, which the loop never ran", where, i, tag)
		case o == txnAborted:
			add("%s: record of input %d from transaction %s, which the client aborted", where, i, tag)
		}
	}
	lost, dups := 0, 0
	for i, k := range count {
		switch {
		case k == 0:
			if lost < 5 {
				add("input record %d is not in the output", i)
			}
			lost++
		case k > 1:
			if dups < 5 {
				add("input record %d is in the output %d times", i, k)
			}
			dups++
		}
	}
	if lost+dups > 0 {
		add("%d input records lost, %d duplicated, of %d", lost, dups, n)
	}
	for _, tag := range l.order {
		if l.outcome[tag] == txnCommitted && committedByTag[tag] != l.acked[tag] {
			add("transaction %s committed with %d records acknowledged; read_committed has %d of them", tag, l.acked[tag], committedByTag[tag])
		}
	}
	// What only read_uncommitted sees is from transactions not committed.
	extra := 0
	for _, r := range uncommitted {
		if inCommitted[at{r.Partition, r.Offset}] {
			continue
		}
		extra++
		if _, tag, ok := parseTxnOut(r.Value); !ok {
			add("read_uncommitted %s/%d@%d: %q is not an output record", out, r.Partition, r.Offset, r.Value)
		} else if l.outcome[tag] == txnCommitted {
			add("read_uncommitted %s/%d@%d: record of committed transaction %s, missing under read_committed", out, r.Partition, r.Offset, tag)
		}
	}
	switch d := l.deliberate; {
	case d == "":
		add("no transaction was aborted on purpose (the loop did not get that far)")
	case l.acked[d] == 0:
		add("the transaction aborted on purpose (%s) had no record acknowledged", d)
	case uncommittedByTag[d] != l.acked[d]:
		add("the transaction aborted on purpose (%s) had %d records acknowledged; read_uncommitted has %d of them", d, l.acked[d], uncommittedByTag[d])
	}
	c.logf("read_committed: %d records (%d output, sentinels included); read_uncommitted: %d (%d only there); ledger: %d transactions",
		len(committed), len(committed)-int(partitions), len(uncommitted), extra, len(l.outcome))
	if len(problems) > 0 {
		t.Errorf("output %s is not exactly once:%s", out, problemList(problems, 30))
	}
}

// --- franz-go ---------------------------------------------------------------------

// TestTxnConsumeTransformProduceFranz: a franz-go GroupTransactSession ETL
// loop, the transaction coordinator SIGKILLed inside one transaction and the
// leader of an output partition inside another.
func TestTxnConsumeTransformProduceFranz(t *testing.T) {
	e := &franzETL{txnLoop: newTxnLoop(t, "txn-franz")}
	ctx, cancel := context.WithTimeout(context.Background(), 4*txnRunWithin)
	defer cancel()
	e.runLoop(ctx, cancel, e.run)
}

// franzETL is the franz-go loop.
type franzETL struct {
	txnLoop
}

// run runs sessions until one has consumed and committed the whole input. A
// session whose End fails is closed and replaced by a new one on the same
// transactional id (which fences the old producer), as the client's
// documentation asks.
func (e *franzETL) run(ctx context.Context) error {
	return e.incarnations(ctx, "franz-go session", nil, e.session)
}

func (e *franzETL) session(ctx context.Context, inc int) (bool, error) {
	sess, err := kgo.NewGroupTransactSession(append(e.c.clientOpts(),
		kgo.TransactionalID(e.txnID),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), // franz-go's group consumers fetch offsets with require_stable
		kgo.ConsumerGroup(e.group),
		kgo.ConsumeTopics(e.in),
		kgo.DefaultProduceTopic(e.out),
		kgo.FetchMaxWait(500*time.Millisecond),
		// A member of a session that ended without leaving the group
		// (its coordinator was killed) holds the next session's join
		// until its session times out: the broker's minimum.
		kgo.SessionTimeout(txnGroupSession), kgo.HeartbeatInterval(time.Second),
		kgo.RebalanceTimeout(2*txnGroupSession),
	)...)
	if err != nil {
		return false, err
	}
	defer sess.Close()
	// InitProducerId now, as a Java client's initTransactions does: it
	// fences the previous session's producer and aborts a transaction it
	// left open, whose pending offsets would otherwise hold the group's
	// offset fetch (require_stable) until that transaction timed out.
	for tries := 0; ; tries++ {
		_, _, err := sess.Client().ProducerID(ctx)
		if err == nil {
			break
		}
		if tries == 100 || ctx.Err() != nil {
			return false, fmt.Errorf("InitProducerId: %w", err)
		}
		time.Sleep(250 * time.Millisecond) // while a broker fails over
	}
	for n := 0; ; n++ {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		fs := sess.PollRecords(pctx, txnBatch)
		cancel()
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				e.c.logf("franz-go poll %s/%d: %v", t, p, err)
			}
		})
		recs := fs.Records()
		if len(recs) == 0 {
			if e.finished() {
				return true, nil
			}
			continue
		}
		tag := fmt.Sprintf("franz-%d-%d", inc, n)
		if err := sess.Begin(); err != nil {
			return false, fmt.Errorf("begin: %w", err)
		}
		var acked atomic.Int64
		fe := kgo.AbortingFirstErrPromise(sess.Client())
		next := map[int32]int64{}
		for _, r := range recs {
			promise := fe.Promise()
			sess.Produce(ctx, &kgo.Record{Key: r.Key, Value: txnOutValue(r.Value, tag)}, func(r *kgo.Record, err error) {
				if err == nil {
					acked.Add(1)
				}
				promise(r, err)
			})
			next[r.Partition] = max(next[r.Partition], r.Offset+1)
		}
		// The records are in the log (acknowledged) before the
		// transaction ends, so that an abort leaves them there.
		flushErr := sess.Client().Flush(ctx)
		produceErr := fe.Err()
		e.l.produced(tag, int(acked.Load()))
		commit := flushErr == nil && produceErr == nil
		deliberate := e.deliberate(commit)
		if deliberate {
			commit = false
		}
		if commit {
			e.g.pause(ctx, e.committed())
		}
		committed, err := sess.End(ctx, kgo.TransactionEndTry(commit))
		switch {
		case err != nil:
			e.l.ended(tag, txnUnknown, false)
			return false, fmt.Errorf("end transaction %s (commit %v; flush %v, produce %v): %w", tag, commit, flushErr, produceErr, err)
		case committed:
			e.committedTxn(tag, next)
		default:
			e.abortedTxn(tag, deliberate)
		}
	}
}

// --- sarama -----------------------------------------------------------------------

// TestTxnConsumeTransformProduceSarama: sarama's transactional producer
// (BeginTxn, AddOffsetsToTxn, CommitTxn/AbortTxn) with a sarama consumer
// group, the transaction coordinator SIGKILLed inside one transaction and
// the leader of an output partition inside another.
func TestTxnConsumeTransformProduceSarama(t *testing.T) {
	e := &saramaETL{txnLoop: newTxnLoop(t, "txn-sarama")}
	ctSaramaLog(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*txnRunWithin)
	defer cancel()
	e.runLoop(ctx, cancel, e.run)
}

// saramaETL is the sarama loop. A sarama claim cannot go back to an
// earlier offset, so after an aborted transaction (or any error) the loop
// closes its consumer group and producer and starts both again: the new
// member starts from the committed offsets (sarama asks for them with
// require_stable when it reads with read_committed), and the new producer's
// InitProducerId fences the old one.
type saramaETL struct {
	txnLoop // its aborted and progress under mu

	mu     sync.Mutex // one transaction at a time, across claims
	failed error      // the incarnation's first failure
	inc, n int
	prod   sarama.AsyncProducer
	cancel context.CancelFunc
}

var errSaramaRestart = errors.New("transaction aborted: restart from the committed offsets")

func (e *saramaETL) config() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.ClientID = "txn-sarama"
	// What sarama requires of a transactional producer.
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Transaction.ID = e.txnID
	// Enough retries to ride out a failover (the session TTL and a bit).
	cfg.Producer.Transaction.Retry.Max = 200
	cfg.Producer.Transaction.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.Retry.Max = 40
	cfg.Producer.Retry.Backoff = 250 * time.Millisecond
	cfg.Metadata.Retry.Max = 40
	cfg.Metadata.Retry.Backoff = 250 * time.Millisecond
	// The loop waits for each record's acknowledgement.
	cfg.Producer.Return.Successes = true
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false // offsets go through the transactions
	cfg.Consumer.MaxWaitTime = 500 * time.Millisecond
	// A member that did not leave (its coordinator was killed) holds the
	// next incarnation's join until its session times out: the broker's
	// minimum.
	cfg.Consumer.Group.Session.Timeout = txnGroupSession
	cfg.Consumer.Group.Heartbeat.Interval = time.Second
	cfg.Consumer.Group.Rebalance.Timeout = 2 * txnGroupSession
	return cfg
}

func (e *saramaETL) run(ctx context.Context) error {
	return e.incarnations(ctx, "sarama incarnation", errSaramaRestart, e.incarnation)
}

func (e *saramaETL) incarnation(ctx context.Context, inc int) (bool, error) {
	cfg := e.config()
	prod, err := sarama.NewAsyncProducer(e.c.addrs(), cfg) // InitProducerId
	if err != nil {
		return false, fmt.Errorf("new producer: %w", err)
	}
	var drained sync.WaitGroup
	drained.Go(func() {
		for m := range prod.Successes() {
			if ch, ok := m.Metadata.(chan error); ok {
				ch <- nil
			}
		}
	})
	drained.Go(func() {
		for pe := range prod.Errors() {
			if ch, ok := pe.Msg.Metadata.(chan error); ok {
				ch <- pe.Err
			}
		}
	})
	defer drained.Wait()
	defer prod.Close()
	group, err := sarama.NewConsumerGroup(e.c.addrs(), e.group, cfg)
	if err != nil {
		return false, fmt.Errorf("new consumer group: %w", err)
	}
	defer group.Close()

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	e.mu.Lock()
	e.inc, e.n, e.prod, e.failed, e.cancel = inc, 0, prod, nil, cancel
	e.mu.Unlock()
	var finished atomic.Bool
	var watch sync.WaitGroup
	defer watch.Wait()
	defer cancel()
	watch.Go(func() {
		for cctx.Err() == nil {
			if e.finished() {
				finished.Store(true)
				cancel()
				return
			}
			select {
			case <-cctx.Done():
			case <-time.After(time.Second):
			}
		}
	})
	for cctx.Err() == nil {
		if err := group.Consume(cctx, []string{e.in}, (*saramaTxnHandler)(e)); err != nil && cctx.Err() == nil {
			e.c.logf("sarama consume: %v", err)
			time.Sleep(250 * time.Millisecond)
		}
	}
	if finished.Load() {
		return true, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return false, e.failed
}

// fail ends the incarnation.
func (e *saramaETL) fail(err error) {
	if e.failed == nil {
		e.failed = err
	}
	e.cancel()
}

// transact runs one transaction over batch.
func (e *saramaETL) transact(ctx context.Context, batch []*sarama.ConsumerMessage) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failed != nil || ctx.Err() != nil {
		return
	}
	tag := fmt.Sprintf("sarama-%d-%d", e.inc, e.n)
	e.n++
	prod := e.prod
	if err := prod.BeginTxn(); err != nil {
		e.fail(fmt.Errorf("begin %s: %w", tag, err))
		return
	}
	results := make(chan error, len(batch))
	for _, m := range batch {
		prod.Input() <- &sarama.ProducerMessage{Topic: e.out, Key: sarama.ByteEncoder(m.Key),
			Value: sarama.ByteEncoder(txnOutValue(m.Value, tag)), Metadata: results}
	}
	acked := 0
	var produceErr error
	for range batch {
		if err := <-results; err != nil {
			produceErr = err
		} else {
			acked++
		}
	}
	e.l.produced(tag, acked)
	commit := produceErr == nil
	deliberate := e.deliberate(commit)
	if deliberate {
		commit = false
	}
	next := map[int32]int64{}
	for _, m := range batch {
		next[m.Partition] = max(next[m.Partition], m.Offset+1)
	}
	if commit {
		e.g.pause(ctx, e.committed())
		offsets := map[string][]*sarama.PartitionOffsetMetadata{}
		for p, o := range next {
			offsets[e.in] = append(offsets[e.in], &sarama.PartitionOffsetMetadata{Partition: p, Offset: o})
		}
		err := prod.AddOffsetsToTxn(offsets, e.group)
		if err == nil {
			err = prod.CommitTxn()
		}
		if err == nil {
			e.committedTxn(tag, next)
			return
		}
		e.abortAfter(tag, fmt.Errorf("commit %s: %w", tag, err))
		return
	}
	if err := prod.AbortTxn(); err != nil {
		e.l.ended(tag, txnUnknown, false)
		e.fail(fmt.Errorf("abort %s (produce error %v): %w", tag, produceErr, err))
		return
	}
	e.abortedTxn(tag, deliberate)
	e.fail(errSaramaRestart)
}

// abortAfter aborts the transaction after a failed commit if sarama says it
// can be aborted, and ends the incarnation.
func (e *saramaETL) abortAfter(tag string, err error) {
	if e.prod.TxnStatus()&sarama.ProducerTxnFlagAbortableError != 0 {
		if aerr := e.prod.AbortTxn(); aerr == nil {
			e.l.ended(tag, txnAborted, false)
			e.fail(fmt.Errorf("%w; aborted", err))
			return
		}
	}
	e.l.ended(tag, txnUnknown, false)
	e.fail(err)
}

// saramaTxnHandler is the loop's sarama.ConsumerGroupHandler.
type saramaTxnHandler saramaETL

func (h *saramaTxnHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaTxnHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *saramaTxnHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	e := (*saramaETL)(h)
	for {
		var batch []*sarama.ConsumerMessage
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			batch = append(batch, m)
		case <-sess.Context().Done():
			return nil
		}
	more:
		for len(batch) < txnBatch {
			select {
			case m, ok := <-claim.Messages():
				if !ok {
					break more
				}
				batch = append(batch, m)
			default:
				break more
			}
		}
		e.transact(sess.Context(), batch)
	}
}

// --- confluent-kafka-python (librdkafka) -------------------------------------------

// txnPyEvent is one line python/txn_ctp.py prints.
type txnPyEvent struct {
	Ev         string `json:"ev"` // txn, paused, log, done
	Tag        string `json:"tag"`
	Acked      int    `json:"acked"`
	Outcome    string `json:"outcome"` // committed, aborted, unknown
	Deliberate bool   `json:"deliberate"`
	Stage      int    `json:"stage"`
	Msg        string `json:"msg"`
	Version    string `json:"version"`
	Librdkafka string `json:"librdkafka"`
}

// TestTxnConsumeTransformProducePython: confluent-kafka-python's
// transactional producer (init_transactions, begin_transaction, produce,
// send_offsets_to_transaction, commit_transaction) with a consumer group
// reading with read_committed, the transaction coordinator SIGKILLed
// inside one transaction and the leader of an output partition inside
// another.
func TestTxnConsumeTransformProducePython(t *testing.T) {
	ctRequirePython(t)
	s := newTxnSetup(t, "txn-python") // the script pauses by itself (--pause-at); the gate relays it
	var endArg []string
	for p, o := range s.ends {
		endArg = append(endArg, fmt.Sprintf("%d:%d", p, o))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*txnRunWithin)
	defer cancel()
	cmd := exec.CommandContext(ctx, ctPython, "python/txn_ctp.py",
		"--bootstrap", strings.Join(s.c.addrs(), ","), "--input", s.in, "--output", s.out,
		"--group", s.group, "--transactional-id", s.txnID, "--ends", strings.Join(endArg, ","),
		"--batch", strconv.Itoa(txnBatch), "--session-timeout-ms", strconv.Itoa(int(txnGroupSession/time.Millisecond)), "--abort-at", strconv.Itoa(txnRecords/8),
		"--pause-at", fmt.Sprintf("%d,%d", txnRecords/4, txnRecords/2), "--timeout", strconv.Itoa(int(3*txnRunWithin/time.Second)))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- stderr of txn_ctp.py ---\n%s", stderr.String())
		}
	})
	s.runLoop(ctx, cancel, func(ctx context.Context) error {
		return pyRelay(ctx, s.c, cmd, stdin, stdout, s.l, s.g)
	})
}

// pyRelay reads the script's events into the ledger and the gate, and
// returns when the script has exited.
func pyRelay(ctx context.Context, c *txnCluster, cmd *exec.Cmd, stdin io.WriteCloser, stdout io.Reader, l *txnLedger, g *txnGate) error {
	defer stdin.Close()
	done := false
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev txnPyEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			c.logf("txn_ctp.py: %s", sc.Text())
			continue
		}
		switch ev.Ev {
		case "start":
			c.logf("confluent-kafka-python %s, librdkafka %s", ev.Version, ev.Librdkafka)
		case "produced":
			l.produced(ev.Tag, ev.Acked)
		case "txn":
			o := map[string]txnOutcome{"committed": txnCommitted, "aborted": txnAborted}[ev.Outcome]
			l.ended(ev.Tag, o, ev.Deliberate)
		case "paused":
			select {
			case g.paused <- ev.Stage:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case <-g.resume:
			case <-ctx.Done():
				return ctx.Err()
			}
			if _, err := io.WriteString(stdin, "go\n"); err != nil {
				return fmt.Errorf("resume the script: %w", err)
			}
		case "done":
			done = true
		default:
			c.logf("txn_ctp.py: %s", ev.Msg)
		}
	}
	err := cmd.Wait()
	switch {
	case err != nil:
		return fmt.Errorf("txn_ctp.py: %w", err)
	case !done:
		return errors.New("txn_ctp.py exited without consuming the whole input")
	}
	return nil
}
