package e2e

// KIP-848 consumer groups (ConsumerGroupHeartbeat) with real processes:
// franz-go consumers with kgo.ServerSideBalancer, beside classic ones.
//
// TestGroup848ExactlyOnce: three `strata serve` on a real etcd and MinIO;
// a producer writes to a topic while a KIP-848 group and a classic group
// consume it. Members join and leave, and the KIP-848 group's coordinator
// is SIGKILLed and restarted. Each member processes a poll, commits it
// (retrying until the commit is acknowledged) and only then lets a
// rebalance proceed (BlockRebalanceOnPoll), so each group must process
// every acknowledged record exactly once. Across the SIGKILL the new
// coordinator must know the same members with the same assignments
// (resumed from etcd, nothing reassigned).
//
// TestGroup848Regex: a member subscribed by a regular expression (resolved
// by the broker) gets the partitions of a topic created after it joined.

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/internal/testenv"
)

const (
	g848Partitions = 6
	g848SessionTTL = 3 * time.Second
	g848Within     = 90 * time.Second // liveness bound of each step
)

// g848Record names one record.
type g848Record struct {
	topic     string
	partition int32
	offset    int64
}

// g848Tally counts the records each group processed, and the records the
// producer had acknowledged.
type g848Tally struct {
	mu        sync.Mutex
	acked     map[g848Record]bool
	processed map[string]map[g848Record]int // group → record → times
	errs      map[string]int
}

func newG848Tally() *g848Tally {
	return &g848Tally{acked: map[g848Record]bool{}, processed: map[string]map[g848Record]int{}, errs: map[string]int{}}
}

func (t *g848Tally) process(group string, r *kgo.Record) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.processed[group] == nil {
		t.processed[group] = map[g848Record]int{}
	}
	t.processed[group][g848Record{r.Topic, r.Partition, r.Offset}]++
}

func (t *g848Tally) fail(what string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.errs[what+": "+err.Error()]++
}

// missing is how many acknowledged records group has not processed.
// checkOnce fails t for each record group processed more than once (the
// first five named). The caller holds tally.mu.
func (tally *g848Tally) checkOnce(t *testing.T, group string) {
	t.Helper()
	twice := 0
	for r, n := range tally.processed[group] {
		if n > 1 {
			if twice < 5 {
				t.Errorf("group %s processed %s/%d@%d %d times", group, r.topic, r.partition, r.offset, n)
			}
			twice++
		}
	}
	if twice > 0 {
		t.Errorf("group %s processed %d records more than once", group, twice)
	}
}

func (t *g848Tally) missing(group string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for r := range t.acked {
		if t.processed[group][r] == 0 {
			n++
		}
	}
	return n
}

// g848Member is one consumer: a franz-go client and its poll loop.
type g848Member struct {
	name   string
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
}

// startG848Member starts a member of group: KIP-848 if serverSide, else
// classic (franz-go's default cooperative-sticky balancer). It processes
// a poll, commits it, then allows a rebalance.
func startG848Member(t *testing.T, b *brokerSet, tally *g848Tally, name, group string, serverSide bool, opts ...kgo.Opt) *g848Member {
	t.Helper()
	all := []kgo.Opt{
		kgo.ConsumerGroup(group), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(), kgo.ClientID(name),
		kgo.FetchMaxWait(500 * time.Millisecond),
	}
	if serverSide {
		all = append(all, kgo.ServerSideBalancer())
	}
	cl := b.client(append(all, opts...)...)
	ctx, cancel := context.WithCancel(context.Background())
	m := &g848Member{name: name, cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			fs := cl.PollRecords(ctx, 1000)
			fs.EachError(func(topic string, p int32, err error) {
				if !errors.Is(err, context.Canceled) {
					tally.fail(name+" poll", err)
				}
			})
			fs.EachRecord(func(r *kgo.Record) { tally.process(group, r) })
			// Commit what was processed before any rebalance may move
			// it, retrying until acknowledged (a coordinator may be
			// failing over).
			commitCtx, commitCancel := context.WithTimeout(context.Background(), g848Within)
			for {
				err := cl.CommitUncommittedOffsets(commitCtx)
				if err == nil {
					break
				}
				tally.fail(name+" commit", err)
				if commitCtx.Err() != nil {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			commitCancel()
			cl.AllowRebalance()
		}
	}()
	return m
}

// stop ends the member's loop and closes its client (a leave).
func (m *g848Member) stop() {
	m.cancel()
	<-m.done
	m.cl.Close()
}

// g848Producer writes one record to every partition of topic every
// interval until stopped, recording the acknowledged ones.
func g848Producer(t *testing.T, b *brokerSet, tally *g848Tally, topic string, interval time.Duration) (stop func()) {
	cl := b.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		seq := 0
		for range ticks(ctx, interval) {
			for p := range int32(g848Partitions) {
				seq++
				r := &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%d", seq)}
				cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
					if err != nil {
						tally.fail("produce", err)
						return
					}
					tally.mu.Lock()
					tally.acked[g848Record{r.Topic, r.Partition, r.Offset}] = true
					tally.mu.Unlock()
				})
			}
		}
	}()
	return func() {
		cancel()
		wg.Wait()
		fctx, fcancel := context.WithTimeout(context.Background(), g848Within)
		defer fcancel()
		if err := cl.Flush(fctx); err != nil {
			t.Errorf("flush producer: %v", err)
		}
		cl.Close()
	}
}

// g848Brokers reaches the live brokers of a brokerSet directly, so that
// a check measures the brokers rather than a client's coordinator cache.
type g848Brokers struct {
	*brokerSet
	adm  *kgo.Client
	dead map[int]bool
}

// broker is the live broker at index i, by the node id Metadata lists it
// under.
func (g *g848Brokers) broker(ctx context.Context, i int) (*kgo.Broker, error) {
	resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, g.adm)
	if err != nil {
		return nil, err
	}
	for _, br := range resp.Brokers {
		if hostPort(br.Host, br.Port) == g.brokers[i].Addr {
			return g.adm.Broker(int(br.NodeID)), nil
		}
	}
	return nil, fmt.Errorf("Metadata does not list broker %s", g.brokers[i].Addr)
}

// coordinator is the index of the broker coordinating group, asked of a
// live broker.
func (g *g848Brokers) coordinator(ctx context.Context, group string) (int, error) {
	live := slices.IndexFunc(g.brokers, func(*Strata) bool { return true })
	for i := range g.brokers {
		if !g.dead[i] {
			live = i
			break
		}
	}
	br, err := g.broker(ctx, live)
	if err != nil {
		return -1, err
	}
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKeys = []string{group}
	resp, err := req.RequestWith(ctx, br)
	if err != nil {
		return -1, err
	}
	if len(resp.Coordinators) != 1 {
		return -1, fmt.Errorf("FindCoordinator: %d coordinators in the answer", len(resp.Coordinators))
	}
	c := resp.Coordinators[0]
	if err := kerr.ErrorForCode(c.ErrorCode); err != nil {
		return -1, err
	}
	i := slices.Index(g.addrs(), hostPort(c.Host, c.Port))
	if i < 0 {
		return -1, fmt.Errorf("FindCoordinator names %s, not a broker of ours", hostPort(c.Host, c.Port))
	}
	return i, nil
}

// describe asks group's coordinator for the group's description.
func (g *g848Brokers) describe(ctx context.Context, group string) (*kmsg.ConsumerGroupDescribeResponseGroup, error) {
	i, err := g.coordinator(ctx, group)
	if err != nil {
		return nil, err
	}
	br, err := g.broker(ctx, i)
	if err != nil {
		return nil, err
	}
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(ctx, br)
	if err != nil {
		return nil, err
	}
	if len(resp.Groups) != 1 {
		return nil, fmt.Errorf("ConsumerGroupDescribe: %d groups in the answer", len(resp.Groups))
	}
	d := resp.Groups[0]
	if err := kerr.ErrorForCode(d.ErrorCode); err != nil {
		return nil, err
	}
	return &d, nil
}

// g848Assignment is a group's members and what each owns, as text.
func g848Assignment(g *kmsg.ConsumerGroupDescribeResponseGroup) map[string]string {
	out := map[string]string{}
	for _, m := range g.Members {
		var parts []string
		for _, tp := range m.Assignment.TopicPartitions {
			ps := slices.Clone(tp.Partitions)
			slices.Sort(ps)
			parts = append(parts, fmt.Sprintf("%s%v", tp.Topic, ps))
		}
		sort.Strings(parts)
		out[m.MemberID] = strings.Join(parts, " ")
	}
	return out
}

// settle waits until the consumer group is Stable with n members that
// own partitions partitions together; it returns the description.
func (g *g848Brokers) settle(group string, n, partitions int) *kmsg.ConsumerGroupDescribeResponseGroup {
	g.t.Helper()
	ctx := testContext(g.t, g848Within)
	var last string
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		d, err := g.describe(rctx, group)
		cancel()
		if err == nil {
			owned := 0
			for _, m := range d.Members {
				for _, tp := range m.Assignment.TopicPartitions {
					owned += len(tp.Partitions)
				}
			}
			last = fmt.Sprintf("state %s, epoch %d, %d members, %d partitions owned: %v", d.State, d.Epoch, len(d.Members), owned, g848Assignment(d))
			if d.State == "Stable" && len(d.Members) == n && owned == partitions {
				g.logf("group %s settled: %s", group, last)
				return d
			}
		} else {
			last = err.Error()
		}
		if ctx.Err() != nil {
			g.t.Fatalf("group %s did not settle with %d members: %s", group, n, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func TestGroup848ExactlyOnce(t *testing.T) {
	etcd := testenv.StartEtcd(t)
	minio := testenv.StartMinIO(t)
	b := &brokerSet{t: t, start: time.Now()}
	opts := Options{
		EtcdEndpoints: etcd.Endpoint,
		ObjectStore:   minio.S3URL("strata-groups848"),
		Args:          []string{"--session-ttl", g848SessionTTL.String(), "--log-level", "info"},
	}
	for range 3 {
		b.brokers = append(b.brokers, StartStrata(t, opts))
	}
	b.clientLog = newRingLog(t, "franz-go clients", 400)
	const topic, group, classic = "g848-topic", "g848-group", "g848-classic"
	ensureTopic(t, b.brokers[0], topic, g848Partitions, nil)
	adm := b.client()
	defer adm.Close()
	gb := &g848Brokers{brokerSet: b, adm: adm, dead: map[int]bool{}}

	tally := newG848Tally()
	stopProducing := g848Producer(t, b, tally, topic, 50*time.Millisecond)
	members := map[string]*g848Member{}
	start := func(name, group string, serverSide bool) {
		members[name] = startG848Member(t, b, tally, name, group, serverSide, kgo.ConsumeTopics(topic))
	}
	defer func() {
		for _, m := range members {
			m.stop()
		}
	}()
	start("new-a", group, true)
	start("new-b", group, true)
	start("classic-a", classic, false)
	start("classic-b", classic, false)
	gb.settle(group, 2, g848Partitions)

	b.logf("a third member joins each group")
	start("new-c", group, true)
	start("classic-c", classic, false)
	gb.settle(group, 3, g848Partitions)

	b.logf("a member leaves each group")
	members["new-a"].stop()
	delete(members, "new-a")
	members["classic-a"].stop()
	delete(members, "classic-a")
	before := g848Assignment(gb.settle(group, 2, g848Partitions))

	i, err := gb.coordinator(testContext(t, g848Within), group)
	if err != nil {
		t.Fatal(err)
	}
	b.logf("SIGKILL the coordinator of %s, broker %d (%s)", group, i, b.brokers[i].Addr)
	b.brokers[i].Kill()
	gb.dead[i] = true
	// The members keep their places and partitions: the new coordinator
	// resumed them from etcd.
	after := g848Assignment(gb.settle(group, 2, g848Partitions))
	if !maps.Equal(before, after) {
		t.Errorf("after the coordinator's SIGKILL the group's members and assignments are %v, want them as before: %v", after, before)
	}
	b.logf("restart broker %d", i)
	b.brokers[i].Restart()
	delete(gb.dead, i)
	start("new-d", group, true)
	gb.settle(group, 3, g848Partitions)

	b.logf("stop producing; drain")
	stopProducing()
	ctx := testContext(t, g848Within)
	for _, g := range []string{group, classic} {
		for tally.missing(g) > 0 {
			if ctx.Err() != nil {
				t.Fatalf("group %s did not process %d acknowledged records", g, tally.missing(g))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	for _, m := range members {
		m.stop()
	}
	members = nil

	tally.mu.Lock()
	defer tally.mu.Unlock()
	b.logf("%d records acknowledged; errors seen (retried): %v", len(tally.acked), tally.errs)
	if len(tally.acked) == 0 {
		t.Fatal("no record was acknowledged")
	}
	for _, g := range []string{group, classic} {
		tally.checkOnce(t, g)
	}
}

func TestGroup848Regex(t *testing.T) {
	s := StartStrata(t, Options{})
	b := &brokerSet{t: t, start: time.Now(), brokers: []*Strata{s}}
	b.clientLog = newRingLog(t, "franz-go clients", 200)
	adm := b.client()
	defer adm.Close()
	gb := &g848Brokers{brokerSet: b, adm: adm, dead: map[int]bool{}}
	ensureTopic(t, s, "g848re-a", 2, nil)
	tally := newG848Tally()
	const group = "g848-regex"
	m := startG848Member(t, b, tally, "regex", group, true, kgo.ConsumeRegex(), kgo.ConsumeTopics("^g848re-.*"))
	defer m.stop()
	gb.settle(group, 1, 2)

	b.logf("create g848re-b, which the member's expression matches")
	ensureTopic(t, s, "g848re-b", 3, nil)
	g := gb.settle(group, 1, 5)
	if subs := g.Members[0].SubscribedTopicRegex; subs == nil || !strings.Contains(*subs, "g848re-") {
		t.Errorf("the member's regular expression is %v", subs)
	}

	prod := b.client()
	defer prod.Close()
	ctx := testContext(t, g848Within)
	for _, topic := range []string{"g848re-a", "g848re-b"} {
		for i := range 20 {
			r := &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "%d", i)}
			res := prod.ProduceSync(ctx, r)
			if err := res.FirstErr(); err != nil {
				t.Fatal(err)
			}
			tally.mu.Lock()
			tally.acked[g848Record{r.Topic, r.Partition, r.Offset}] = true
			tally.mu.Unlock()
		}
	}
	for tally.missing(group) > 0 {
		if ctx.Err() != nil {
			t.Fatalf("the member did not consume %d records of the matched topics", tally.missing(group))
		}
		time.Sleep(100 * time.Millisecond)
	}

	// ListGroups reports the group as a consumer group, and the type
	// filter selects it.
	lreq := kmsg.NewPtrListGroupsRequest()
	lreq.TypesFilter = []string{"consumer"}
	lresp, err := lreq.RequestWith(ctx, adm)
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, lg := range lresp.Groups {
		listed = append(listed, lg.Group+"/"+lg.GroupType+"/"+lg.GroupState)
	}
	if !slices.Contains(listed, group+"/consumer/Stable") {
		t.Errorf("ListGroups(type consumer) lists %v, want %s as a Stable consumer group", listed, group)
	}
	// The metrics count the group by type, and its epochs: the join and
	// the new topic at least.
	if n := metricValue(t, s, `strata_groups_coordinated{state="Stable",type="consumer"}`); n != 1 {
		t.Errorf("strata_groups_coordinated of Stable consumer groups is %v, want 1", n)
	}
	if n := metricValue(t, s, "strata_consumer_group_epochs_total"); n < 2 {
		t.Errorf("strata_consumer_group_epochs_total is %v, want at least 2", n)
	}
}
