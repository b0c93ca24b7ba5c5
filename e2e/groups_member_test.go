package e2e

// The Go consumer-group members of TestGroupClients (groups_clients_test.go).
// Each runs in a process of its own — this test binary, started again with
// groupMemberEnv set, which TestMain hands to groupMemberMain — so that the
// test can SIGKILL it: a member that dies that way never sends LeaveGroup.
//
// A member subscribes to one topic in one group (6 s session timeout, 1 s
// heartbeat), and commits by hand after processing (at-least-once): every
// gcCommitEvery, and before partitions are revoked. It prints one JSON line
// per event on stdout (gmEvent; e2e/python/group_member.py prints the same
// for confluent-kafka-python): what it was assigned and revoked, every record
// it processed, and every commit the coordinator acknowledged. A record's
// line is written before its offset is committed, with one write(2) each, so
// the test sees everything a member did up to its SIGKILL. Client logs go to
// stderr. SIGTERM closes the client, which leaves the group.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupMemberEnv holds a member's groupMemberConfig, as JSON.
const groupMemberEnv = "STRATA_E2E_GROUP_MEMBER"

const (
	gcSessionTimeout = 6 * time.Second // the broker's group.min.session.timeout.ms, as Kafka's
	gcHeartbeat      = time.Second
	gcCommitEvery    = 200 * time.Millisecond
	// gcPollWait bounds one poll, so that a member commits what it processed
	// even when no more records come.
	gcPollWait = 250 * time.Millisecond
)

// groupMemberConfig says which client a member runs and where.
type groupMemberConfig struct {
	Client   string   `json:"client"`             // franz-go, sarama, kafka-go
	Balancer string   `json:"balancer,omitempty"` // franz-go: cooperative-sticky, roundrobin
	Brokers  []string `json:"brokers"`
	Topic    string   `json:"topic"`
	Group    string   `json:"group"`
	ClientID string   `json:"client_id"`
}

// gmEvent is one line a member prints.
type gmEvent struct {
	T     int64   `json:"t"`               // when, in Unix nanoseconds (one clock for every process on the machine)
	Ev    string  `json:"ev"`              // assigned, revoked, lost, record, commit, error
	P     int32   `json:"p"`               // record, commit: the partition
	O     int64   `json:"o"`               // record: its offset; commit: the next offset to consume
	V     string  `json:"v,omitempty"`     // record: its value
	Parts []int32 `json:"parts,omitempty"` // assigned, revoked, lost: the partitions
	Err   string  `json:"err,omitempty"`   // error: what the client reported
	// Unconfirmed marks a commit the client does not confirm (sarama
	// reports failed commits on its Errors channel, later, if at all).
	Unconfirmed bool `json:"unconfirmed,omitempty"`
}

// groupMemberMain runs one member until SIGTERM and returns the process's
// exit code.
func groupMemberMain(config string) int {
	var cfg groupMemberConfig
	if err := json.Unmarshal([]byte(config), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", groupMemberEnv, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	out := &gmOut{w: os.Stdout}
	var err error
	switch cfg.Client {
	case "franz-go":
		err = runFranzMember(ctx, cfg, out)
	case "sarama":
		err = runSaramaMember(ctx, cfg, out)
	case "kafka-go":
		err = runKafkaGoMember(ctx, cfg, out)
	default:
		err = fmt.Errorf("unknown client %q", cfg.Client)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "group member %s: %v\n", cfg.ClientID, err)
		return 1
	}
	return 0
}

// gmOut prints a member's events, one write per line.
type gmOut struct {
	mu sync.Mutex
	w  io.Writer
}

func (o *gmOut) emit(e gmEvent) {
	o.mu.Lock()
	defer o.mu.Unlock()
	e.T = time.Now().UnixNano() // under the lock: times follow the order of the lines
	b, _ := json.Marshal(e)
	_, _ = o.w.Write(append(b, '\n'))
}

func (o *gmOut) partitions(ev string, parts []int32) {
	if len(parts) == 0 {
		return
	}
	parts = slices.Sorted(slices.Values(parts))
	o.emit(gmEvent{Ev: ev, Parts: parts})
}

func (o *gmOut) record(p int32, offset int64, value []byte) {
	o.emit(gmEvent{Ev: "record", P: p, O: offset, V: string(value)})
}

func (o *gmOut) commit(p int32, next int64) { o.emit(gmEvent{Ev: "commit", P: p, O: next}) }

func (o *gmOut) errorf(format string, args ...any) {
	o.emit(gmEvent{Ev: "error", Err: fmt.Sprintf(format, args...)})
}

// --- franz-go ----------------------------------------------------------------

// runFranzMember polls with BlockRebalanceOnPoll, so that no rebalance runs
// between processing records and committing them, and commits what is left
// of revoked partitions in OnPartitionsRevoked.
func runFranzMember(ctx context.Context, cfg groupMemberConfig, out *gmOut) error {
	var balancer kgo.GroupBalancer
	switch cfg.Balancer {
	case "cooperative-sticky":
		balancer = kgo.CooperativeStickyBalancer()
	case "roundrobin":
		balancer = kgo.RoundRobinBalancer()
	default:
		return fmt.Errorf("unknown franz-go balancer %q", cfg.Balancer)
	}
	var mu sync.Mutex
	pending := map[int32]kgo.EpochOffset{} // processed, not committed yet
	commit := func(cl *kgo.Client, only []int32) {
		mu.Lock()
		offsets := map[int32]kgo.EpochOffset{}
		for p, eo := range pending {
			if only == nil || slices.Contains(only, p) {
				offsets[p] = eo
			}
		}
		mu.Unlock()
		if len(offsets) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{cfg.Topic: offsets},
			func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
				if err != nil {
					out.errorf("commit: %v", err)
					return
				}
				for _, rt := range resp.Topics {
					for _, rp := range rt.Partitions {
						if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
							out.errorf("commit partition %d: %v", rp.Partition, err)
							continue
						}
						eo := offsets[rp.Partition]
						out.commit(rp.Partition, eo.Offset)
						mu.Lock()
						if pending[rp.Partition] == eo {
							delete(pending, rp.Partition)
						}
						mu.Unlock()
					}
				}
			})
	}
	forget := func(parts []int32) {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range parts {
			delete(pending, p)
		}
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(cfg.ClientID),
		kgo.ConsumerGroup(cfg.Group),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.Balancers(balancer),
		kgo.SessionTimeout(gcSessionTimeout),
		kgo.HeartbeatInterval(gcHeartbeat),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
			out.partitions("assigned", assigned[cfg.Topic])
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, cl *kgo.Client, revoked map[string][]int32) {
			commit(cl, revoked[cfg.Topic])
			forget(revoked[cfg.Topic])
			out.partitions("revoked", revoked[cfg.Topic])
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
			forget(lost[cfg.Topic])
			out.partitions("lost", lost[cfg.Topic])
		}),
		kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelInfo, nil)),
	)
	if err != nil {
		return err
	}
	lastCommit := time.Now()
	for ctx.Err() == nil {
		pollCtx, cancel := context.WithTimeout(ctx, gcPollWait)
		fs := cl.PollRecords(pollCtx, 1000)
		cancel()
		if fs.IsClientClosed() {
			break
		}
		fs.EachError(func(topic string, p int32, err error) {
			if pollCtx.Err() == nil {
				out.errorf("fetch %s/%d: %v", topic, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			out.record(r.Partition, r.Offset, r.Value)
			mu.Lock()
			pending[r.Partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
			mu.Unlock()
		})
		if time.Since(lastCommit) >= gcCommitEvery {
			commit(cl, nil)
			lastCommit = time.Now()
		}
		cl.AllowRebalance()
	}
	commit(cl, nil)
	cl.Close() // revokes (OnPartitionsRevoked) and leaves the group
	return nil
}

// --- sarama ------------------------------------------------------------------

// runSaramaMember runs sarama's ConsumerGroup with its defaults (the range
// strategy, eager), marking each record after processing it and committing
// the marks every gcCommitEvery and when the session ends.
func runSaramaMember(ctx context.Context, cfg groupMemberConfig, out *gmOut) error {
	sarama.Logger = log.New(os.Stderr, "sarama: ", log.LstdFlags|log.Lmicroseconds)
	sc := sarama.NewConfig()
	sc.ClientID = cfg.ClientID
	sc.Consumer.Group.Session.Timeout = gcSessionTimeout
	sc.Consumer.Group.Heartbeat.Interval = gcHeartbeat
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest // a new group reads from the start (sarama's default is the end)
	sc.Consumer.Offsets.AutoCommit.Enable = false     // at-least-once: commits after processing, below
	sc.Consumer.Return.Errors = true
	cg, err := sarama.NewConsumerGroup(cfg.Brokers, cfg.Group, sc)
	if err != nil {
		return err
	}
	errsDone := make(chan struct{})
	go func() {
		defer close(errsDone)
		for err := range cg.Errors() {
			out.errorf("sarama: %v", err)
		}
	}()
	h := &saramaMember{out: out}
	for ctx.Err() == nil {
		if err := cg.Consume(ctx, []string{cfg.Topic}, h); err != nil && ctx.Err() == nil {
			out.errorf("consume: %v", err)
			time.Sleep(gcPollWait)
		}
	}
	err = cg.Close() // leaves the group
	<-errsDone
	return err
}

// saramaMember is the ConsumerGroupHandler: one session at a time.
type saramaMember struct {
	out *gmOut

	mu       sync.Mutex
	marked   map[int32]int64 // next offset to consume, marked in this session
	reported map[int32]int64 // what commit lines said
	stop     chan struct{}
	stopped  chan struct{}
}

func (h *saramaMember) Setup(s sarama.ConsumerGroupSession) error {
	h.marked, h.reported = map[int32]int64{}, map[int32]int64{}
	h.stop, h.stopped = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(h.stopped)
		tick := time.NewTicker(gcCommitEvery)
		defer tick.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-tick.C:
				h.commit(s)
			}
		}
	}()
	return nil
}

// Cleanup runs once every ConsumeClaim of the session has returned.
func (h *saramaMember) Cleanup(s sarama.ConsumerGroupSession) error {
	close(h.stop)
	<-h.stopped
	h.commit(s)
	return nil
}

// commit commits the session's marks and prints what was marked before the
// commit began, as unconfirmed: sarama reports a failure on Errors only.
func (h *saramaMember) commit(s sarama.ConsumerGroupSession) {
	h.mu.Lock()
	marked := maps.Clone(h.marked)
	h.mu.Unlock()
	s.Commit()
	for _, p := range slices.Sorted(maps.Keys(marked)) {
		if h.reported[p] != marked[p] {
			h.out.emit(gmEvent{Ev: "commit", P: p, O: marked[p], Unconfirmed: true})
			h.reported[p] = marked[p]
		}
	}
}

func (h *saramaMember) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	p := claim.Partition()
	h.out.partitions("assigned", []int32{p})
	defer h.out.partitions("revoked", []int32{p})
	for {
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			h.out.record(m.Partition, m.Offset, m.Value)
			s.MarkMessage(m, "")
			h.mu.Lock()
			h.marked[p] = m.Offset + 1
			h.mu.Unlock()
		case <-s.Context().Done():
			return nil
		}
	}
}

// --- segmentio/kafka-go ------------------------------------------------------

// runKafkaGoMember runs kafka-go's ConsumerGroup (its defaults: the range
// balancer, then round-robin), which hands out one Generation at a time;
// each assigned partition is read by a Reader of its own from the
// generation's offset and committed through the generation. The generation
// ends, when the group rebalances, once every partition's reader has
// returned, so each commits what it processed first.
func runKafkaGoMember(ctx context.Context, cfg groupMemberConfig, out *gmOut) error {
	logf := kafkago.LoggerFunc(func(format string, args ...any) {
		if strings.HasPrefix(format, "committed offsets") {
			return // one per commit: too many to keep the joins and leaves in view
		}
		fmt.Fprintf(os.Stderr, "kafka-go: "+format+"\n", args...)
	})
	dialer := &kafkago.Dialer{ClientID: cfg.ClientID, Timeout: 10 * time.Second}
	cg, err := kafkago.NewConsumerGroup(kafkago.ConsumerGroupConfig{
		ID:                cfg.Group,
		Brokers:           cfg.Brokers,
		Dialer:            dialer,
		Topics:            []string{cfg.Topic},
		SessionTimeout:    gcSessionTimeout,
		HeartbeatInterval: gcHeartbeat,
		Logger:            logf,
		ErrorLogger:       logf,
	})
	if err != nil {
		return err
	}
	for {
		gen, err := cg.Next(ctx)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			out.errorf("next generation: %v", err)
			continue
		}
		assigned := gen.Assignments[cfg.Topic]
		var parts []int32
		for _, pa := range assigned {
			parts = append(parts, int32(pa.ID))
		}
		out.partitions("assigned", parts)
		for _, pa := range assigned {
			gen.Start(func(gctx context.Context) { kafkaGoPartition(gctx, gen, cfg, dialer, pa, out) })
		}
	}
	return cg.Close() // ends the generation (each partition commits) and leaves the group
}

func kafkaGoPartition(ctx context.Context, gen *kafkago.Generation, cfg groupMemberConfig, dialer *kafkago.Dialer, pa kafkago.PartitionAssignment, out *gmOut) {
	p := int32(pa.ID)
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:   cfg.Brokers,
		Topic:     cfg.Topic,
		Partition: pa.ID,
		Dialer:    dialer,
		MaxWait:   gcPollWait, // so that Close, which waits for the fetch in flight, is quick
		ErrorLogger: kafkago.LoggerFunc(func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "kafka-go reader: "+format+"\n", args...)
		}),
	})
	defer r.Close()
	if err := r.SetOffset(pa.Offset); err != nil {
		out.errorf("partition %d: set offset %d: %v", p, pa.Offset, err)
	}
	next, committed := pa.Offset, pa.Offset // FirstOffset (negative) until a record is processed
	commit := func() {
		if next < 0 || next == committed {
			return
		}
		if err := gen.CommitOffsets(map[string]map[int]int64{cfg.Topic: {pa.ID: next}}); err != nil {
			out.errorf("commit partition %d: %v", p, err)
			return
		}
		out.commit(p, next)
		committed = next
	}
	lastCommit := time.Now()
	for ctx.Err() == nil {
		fetchCtx, cancel := context.WithTimeout(ctx, gcPollWait)
		m, err := r.FetchMessage(fetchCtx)
		cancel()
		switch {
		case err == nil:
			out.record(int32(m.Partition), m.Offset, m.Value)
			next = m.Offset + 1
		case fetchCtx.Err() == nil:
			out.errorf("partition %d: fetch: %v", p, err)
			time.Sleep(gcPollWait)
		}
		if time.Since(lastCommit) >= gcCommitEvery {
			commit()
			lastCommit = time.Now()
		}
	}
	commit()
	out.partitions("revoked", []int32{p})
}
