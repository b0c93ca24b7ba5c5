package e2e

// TestGroupCoordinatorFailover: a consumer group keeps consuming, at least
// once, while the broker coordinating it dies. Three `strata serve`
// processes share a real etcd and a real MinIO; a producer writes numbered
// records (seqValue) to every partition of one topic, and a franz-go group
// of three members processes them, committing each poll's offsets after
// processing it. The coordinator (the leader of the group's shard of
// __consumer_offsets) is killed with SIGKILL and, once the cluster is whole
// again, stopped with SIGTERM (a graceful hand-off); each time it is then
// restarted. After each fault: the new coordinator knows every member under
// its member id and generation (it resumed the generation etcd holds; a
// member may still rejoin, under its id, if its client gave up on the dead
// broker), it has the offsets a member-less group on the same shard
// committed before the fault, the members commit again and what they had
// committed reads back, and the group is Stable with the three members. At
// the end, with the producer stopped and the members drained: every
// acknowledged record was processed, at the offset it was acknowledged at;
// a record processed twice lies at or after every offset committed for its
// partition before it was processed again (the at-least-once window); and
// the committed offsets are the high watermarks. Brokers that do not
// coordinate the group answer group requests with NOT_COORDINATOR.
//
// Group requests of the checks go to the broker FindCoordinator names and
// no other (gfRun.request), so that they measure the brokers rather than a
// client's coordinator cache.

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

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/internal/testenv"
)

const (
	gfBrokers    = 3
	gfMembers    = 3
	gfPartitions = 6
	gfSessionTTL = 3 * time.Second
	// One record per partition every gfInterval: 200 records a second.
	gfInterval = 30 * time.Millisecond
	// How long the group runs undisturbed before each fault.
	gfSteady = 2 * time.Second
	// Liveness deadlines, far above what a healthy cluster needs.
	gfRecoverWithin = 60 * time.Second
	gfSettleWithin  = 60 * time.Second
)

func TestGroupCoordinatorFailover(t *testing.T) {
	etcd := testenv.StartEtcd(t)
	minio := testenv.StartMinIO(t)
	r := &gfRun{brokerSet: brokerSet{t: t, start: time.Now()}, topic: "group-failover", group: "failover-group"}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r.ctx = ctx
	opts := Options{
		EtcdEndpoints: etcd.Endpoint,
		ObjectStore:   minio.S3URL("strata-groups"),
		Args:          []string{"--session-ttl", gfSessionTTL.String(), "--log-level", "info"},
	}
	for range gfBrokers {
		r.brokers = append(r.brokers, StartStrata(t, opts))
	}
	r.clientLog = newRingLog(t, "franz-go clients", 400)
	adm := r.client()
	defer adm.Close()
	r.admin = kadm.NewClient(adm)
	ensureTopic(t, r.brokers[0], r.topic, gfPartitions, nil)
	r.logf("brokers %s; etcd %s; MinIO %s", strings.Join(r.addrs(), ", "), etcd.Endpoint, minio.Endpoint)

	r.startProducer()
	for i := range gfMembers {
		r.startMember(i)
	}
	defer r.report()

	r.settle()
	r.idle = r.sameShard()
	r.checkNotCoordinator()
	r.fault("SIGKILL coordinator", func(s *Strata) { s.Kill() })
	r.settle()
	r.fault("SIGTERM coordinator", func(s *Strata) {
		if code := s.Stop(); code != 0 {
			r.t.Errorf("SIGTERM: %s exited %d, want 0", s.Addr, code)
		}
	})
	r.settle()
	r.checkNotCoordinator()
	r.drain()
}

// gfRun is the state of one TestGroupCoordinatorFailover.
type gfRun struct {
	brokerSet
	ctx    context.Context
	admin  *kadm.Client // Metadata and ListOffsets: group requests go through request
	pinned [gfBrokers]*kgo.Client
	topic  string
	group  string
	idle   string // a group without members on the same shard as group

	stopProducing func() // stops the producer and waits for its acknowledgements
	members       []*gfMember

	mu         sync.Mutex
	acks       [gfPartitions][]ack              // acknowledged records by partition, in sequence order
	produced   [gfPartitions]int64              // records issued by partition
	prodErrs   map[string]int                   // produce failures by message
	processed  [gfPartitions]map[int64][]gfProc // sequence number → each time it was processed
	malformed  []string                         // records that are not what the producer wrote there
	commits    [gfPartitions][]gfCommit         // acknowledged commits by partition, in order of acknowledgement
	commitErrs map[string]int                   // commit failures by message
	fetchErrs  map[string]int                   // errors the members' polls returned, by message
	faults     []gfFault
}

// gfProc is one processing of a record.
type gfProc struct {
	member  int
	offset  int64
	at      time.Time // when the poll that returned it did
	polling time.Time // when that poll began
}

// gfCommit is one committed offset that the coordinator acknowledged.
type gfCommit struct {
	member int
	offset int64     // the next offset to process
	issued time.Time // when the commit was issued
	at     time.Time // when its response arrived
}

// gfMember is one franz-go client in the group.
type gfMember struct {
	i    int
	cl   *kgo.Client
	done chan struct{}

	mu       sync.Mutex
	assigned int // OnPartitionsAssigned calls with partitions
	revoked  int // OnPartitionsRevoked calls with partitions
	lost     int // OnPartitionsLost calls with partitions
}

func (m *gfMember) rebalances() (assigned, revoked, lost int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.assigned, m.revoked, m.lost
}

// gfFault is one fault, for the report.
type gfFault struct {
	name                              string
	coordinator, next                 int32         // node ids
	resumed                           time.Duration // until the new coordinator answered for the members
	commitAfter, procAfter, everyPart time.Duration
	rejoined                          bool
	generations                       string
}

// startProducer issues one record to every partition every gfInterval,
// idempotent and acks=all (with unlimited retries, franz-go's default),
// until stopProducing, which waits for every record issued to be answered.
func (r *gfRun) startProducer() {
	r.prodErrs, r.commitErrs, r.fetchErrs = map[string]int{}, map[string]int{}, map[string]int{}
	for p := range r.processed {
		r.processed[p] = map[int64][]gfProc{}
	}
	cl := r.client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.MaxBufferedRecords(workloadMaxBuffered))
	loop, stopLoop := context.WithCancel(r.ctx)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for range ticks(loop, gfInterval) {
			if cl.BufferedProduceRecords()+gfPartitions > workloadMaxBuffered {
				continue // a stalled partition must not block the loop
			}
			for p := range int32(gfPartitions) {
				r.produceOne(cl, p)
			}
		}
	}()
	var once sync.Once
	r.stopProducing = func() {
		once.Do(func() {
			stopLoop()
			<-stopped
			ctx, cancel := context.WithTimeout(r.ctx, 60*time.Second)
			defer cancel()
			if err := cl.Flush(ctx); err != nil {
				r.t.Errorf("producer: records still unanswered 60s after it stopped: %v", err)
			}
			cl.Close()
		})
	}
	r.t.Cleanup(r.stopProducing)
}

func (r *gfRun) produceOne(cl *kgo.Client, p int32) {
	r.mu.Lock()
	seq := r.produced[p]
	r.produced[p]++
	r.mu.Unlock()
	produced := time.Now()
	// The test's context: records issued are answered even after the
	// producing loop stopped.
	cl.Produce(r.ctx, &kgo.Record{Topic: r.topic, Partition: p, Value: seqValue(tp{r.topic, p}, seq)}, func(rec *kgo.Record, err error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if err != nil {
			r.prodErrs[err.Error()]++
			return
		}
		r.acks[p] = append(r.acks[p], ack{Seq: seq, Offset: rec.Offset, Produced: produced, Acked: time.Now()})
	})
}

// startMember starts group member i: it polls, processes what it got (notes
// it), commits the offsets past it and waits for the commit before it polls
// again (BlockRebalanceOnPoll: no rebalance between a poll and its commit).
func (r *gfRun) startMember(i int) {
	m := &gfMember{i: i, done: make(chan struct{})}
	count := func(n *int) func(context.Context, *kgo.Client, map[string][]int32) {
		return func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
			if len(ps) > 0 {
				m.mu.Lock()
				*n++
				m.mu.Unlock()
			}
		}
	}
	m.cl = r.client(kgo.ClientID(fmt.Sprintf("member-%d", i)),
		kgo.ConsumerGroup(r.group), kgo.ConsumeTopics(r.topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
		kgo.FetchMaxWait(500*time.Millisecond),
		kgo.OnPartitionsAssigned(count(&m.assigned)),
		kgo.OnPartitionsRevoked(count(&m.revoked)),
		kgo.OnPartitionsLost(count(&m.lost)))
	r.members = append(r.members, m)
	ctx, cancel := context.WithCancel(r.ctx)
	go func() {
		defer close(m.done)
		r.consume(ctx, m)
	}()
	r.t.Cleanup(func() {
		cancel()
		<-m.done
		m.cl.Close() // leaves the group
	})
}

func (r *gfRun) consume(ctx context.Context, m *gfMember) {
	for {
		polling := time.Now()
		fs := m.cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			m.cl.AllowRebalance()
			return
		}
		at := time.Now()
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.Canceled) {
				r.mu.Lock()
				r.fetchErrs[err.Error()]++
				r.mu.Unlock()
			}
		})
		next := map[string]map[int32]kgo.EpochOffset{}
		fs.EachRecord(func(rec *kgo.Record) {
			r.process(m.i, rec, polling, at)
			if next[rec.Topic] == nil {
				next[rec.Topic] = map[int32]kgo.EpochOffset{}
			}
			next[rec.Topic][rec.Partition] = kgo.EpochOffset{Epoch: rec.LeaderEpoch, Offset: rec.Offset + 1}
		})
		if len(next) > 0 {
			cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			issued := time.Now()
			m.cl.CommitOffsetsSync(cctx, next, func(_ *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
				r.committed(m.i, issued, req, resp, err)
			})
			cancel()
		}
		m.cl.AllowRebalance()
	}
}

// process notes that member processed rec.
func (r *gfRun) process(member int, rec *kgo.Record, polling, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, seq, ok := parseSeqValue(string(rec.Value))
	if !ok || p != (tp{r.topic, rec.Partition}) || rec.Partition < 0 || rec.Partition >= gfPartitions {
		r.malformed = append(r.malformed, fmt.Sprintf("%s/%d@%d: %.40q", rec.Topic, rec.Partition, rec.Offset, rec.Value))
		return
	}
	r.processed[rec.Partition][seq] = append(r.processed[rec.Partition][seq], gfProc{member: member, offset: rec.Offset, at: at, polling: polling})
}

// committed notes the outcome of one commit.
func (r *gfRun) committed(member int, issued time.Time, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			r.commitErrs[err.Error()]++
		}
		return
	}
	asked := map[int32]int64{}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			asked[rp.Partition] = rp.Offset
		}
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				r.commitErrs[err.Error()]++
				continue
			}
			if rt.Topic == r.topic && rp.Partition >= 0 && rp.Partition < gfPartitions {
				r.commits[rp.Partition] = append(r.commits[rp.Partition], gfCommit{member: member, offset: asked[rp.Partition], issued: issued, at: now})
			}
		}
	}
}

// lastCommits is, per partition, the highest offset committed so far.
func (r *gfRun) lastCommits() map[int32]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[int32]int64{}
	for p, cs := range r.commits {
		for _, c := range cs {
			out[int32(p)] = max(out[int32(p)], c.offset)
		}
	}
	return out
}

// gfMemberGen is a member's member id and generation, as its client knows
// them.
type gfMemberGen struct {
	id  string
	gen int32
}

func (g gfMemberGen) String() string { return fmt.Sprintf("%s@%d", g.id, g.gen) }

func (r *gfRun) memberGens() []gfMemberGen {
	var out []gfMemberGen
	for _, m := range r.members {
		id, gen := m.cl.GroupMetadata()
		out = append(out, gfMemberGen{id, gen})
	}
	return out
}

// metadata describes the workload topic and the coordinator shards.
func (r *gfRun) metadata() (kadm.Metadata, error) {
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	md, err := r.admin.Metadata(ctx, r.topic, groupsOffsetsTopic)
	if err == nil {
		for _, td := range md.Topics {
			if td.Err != nil {
				return md, fmt.Errorf("Metadata %s: %w", td.Topic, td.Err)
			}
		}
	}
	return md, err
}

const groupsOffsetsTopic = "__consumer_offsets"

// request sends req to broker i and to no other, whatever a client has
// cached of coordinators (franz-go keeps a coordinator cached after dial
// errors in some requests, which would measure the client, not the
// broker).
func (r *gfRun) request(i int, req kmsg.Request) (kmsg.Response, error) {
	if r.pinned[i] == nil {
		cl, err := kgo.NewClient(kgo.SeedBrokers(r.brokers[i].Addr),
			kgo.WithLogger(kgo.BasicLogger(r.clientLog, kgo.LogLevelInfo, nil)))
		if err != nil {
			return nil, err
		}
		r.pinned[i] = cl
		r.t.Cleanup(cl.Close)
	}
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	return r.pinned[i].SeedBrokers()[0].Request(ctx, req)
}

// coordinators asks a running broker which node coordinates each group,
// and returns the node ids and the indexes of their brokers.
func (r *gfRun) coordinators(groups ...string) ([]int32, []int, error) {
	asked := -1
	for i, s := range r.brokers {
		if _, exited := s.Exited(); !exited {
			asked = i
			break
		}
	}
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKeys = groups
	resp, err := r.request(asked, req)
	if err != nil {
		return nil, nil, fmt.Errorf("FindCoordinator to %s: %w", r.brokers[asked].Addr, err)
	}
	var ids []int32
	var idx []int
	for _, c := range resp.(*kmsg.FindCoordinatorResponse).Coordinators {
		if err := kerr.ErrorForCode(c.ErrorCode); err != nil {
			return nil, nil, fmt.Errorf("FindCoordinator %s: %w", c.Key, err)
		}
		i := slices.Index(r.addrs(), hostPort(c.Host, c.Port))
		if i < 0 {
			return nil, nil, fmt.Errorf("FindCoordinator %s: node %d at %s is not a broker of ours", c.Key, c.NodeID, hostPort(c.Host, c.Port))
		}
		ids, idx = append(ids, c.NodeID), append(idx, i)
	}
	return ids, idx, nil
}

// coordinator is the node id of the group's coordinator and the index of
// its broker.
func (r *gfRun) coordinator() (int32, int, error) {
	ids, idx, err := r.coordinators(r.group)
	if err != nil {
		return -1, -1, err
	}
	return ids[0], idx[0], nil
}

// sameShard names a group on the same coordinator shard as the group, and
// checks that FindCoordinator agrees.
func (r *gfRun) sameShard() string {
	r.t.Helper()
	md, err := r.metadata()
	if err != nil {
		r.t.Fatal(err)
	}
	idle := gfSameShardGroup(r.group, len(md.Topics[groupsOffsetsTopic].Partitions))
	ids, _, err := r.coordinators(r.group, idle)
	if err != nil || ids[0] != ids[1] {
		r.t.Fatalf("FindCoordinator %s and %s: %v, %v: the same shard should have the same coordinator", r.group, idle, ids, err)
	}
	return idle
}

// describe is the group as its coordinator describes it.
func (r *gfRun) describe() (kmsg.DescribeGroupsResponseGroup, error) {
	_, i, err := r.coordinator()
	if err != nil {
		return kmsg.DescribeGroupsResponseGroup{}, err
	}
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{r.group}
	resp, err := r.request(i, req)
	if err != nil {
		return kmsg.DescribeGroupsResponseGroup{}, fmt.Errorf("DescribeGroups: %w", err)
	}
	g := resp.(*kmsg.DescribeGroupsResponse).Groups[0]
	if err := kerr.ErrorForCode(g.ErrorCode); err != nil {
		return g, fmt.Errorf("DescribeGroups: %w", err)
	}
	return g, nil
}

// offsets is what the group's coordinator has of group's offsets of the
// topic: offset and metadata by partition (-1: none).
func (r *gfRun) offsets(group string) (map[int32]int64, map[int32]string, error) {
	ids, idx, err := r.coordinators(group)
	if err != nil {
		return nil, nil, err
	}
	req := kmsg.NewPtrOffsetFetchRequest()
	rg := kmsg.NewOffsetFetchRequestGroup()
	rt := kmsg.NewOffsetFetchRequestGroupTopic()
	rt.Topic = r.topic
	for p := range int32(gfPartitions) {
		rt.Partitions = append(rt.Partitions, p)
	}
	rg.Group, rg.Topics = group, append(rg.Topics, rt)
	req.Groups = append(req.Groups, rg)
	resp, err := r.request(idx[0], req)
	if err != nil {
		return nil, nil, fmt.Errorf("OffsetFetch %s from node %d: %w", group, ids[0], err)
	}
	fr := resp.(*kmsg.OffsetFetchResponse)
	if len(fr.Groups) != 1 {
		return nil, nil, fmt.Errorf("OffsetFetch %s (v%d): %d groups in the answer", group, fr.Version, len(fr.Groups))
	}
	if err := kerr.ErrorForCode(fr.Groups[0].ErrorCode); err != nil {
		return nil, nil, fmt.Errorf("OffsetFetch %s from node %d: %w", group, ids[0], err)
	}
	offsets, metadata := map[int32]int64{}, map[int32]string{}
	for _, gt := range fr.Groups[0].Topics {
		for _, gp := range gt.Partitions {
			if err := kerr.ErrorForCode(gp.ErrorCode); err != nil {
				return nil, nil, fmt.Errorf("OffsetFetch %s %s/%d: %w", group, gt.Topic, gp.Partition, err)
			}
			offsets[gp.Partition] = gp.Offset
			if gp.Metadata != nil {
				metadata[gp.Partition] = *gp.Metadata
			}
		}
	}
	return offsets, metadata, nil
}

// groupProblem says what keeps the group from being Stable with every
// member, each partition assigned to one of them, and the members agreeing
// on the generation, or "".
func (r *gfRun) groupProblem() string {
	g, err := r.describe()
	if err != nil {
		return err.Error()
	}
	if g.State != "Stable" {
		return fmt.Sprintf("group %s, want Stable", g.State)
	}
	var described, known []string
	for _, dm := range g.Members {
		described = append(described, dm.MemberID)
	}
	gens := map[int32]bool{}
	for _, m := range r.members {
		id, gen := m.cl.GroupMetadata()
		known = append(known, id)
		gens[gen] = true
	}
	slices.Sort(described)
	slices.Sort(known)
	if !slices.Equal(described, known) {
		return fmt.Sprintf("members %v, the clients are %v", described, known)
	}
	if len(gens) != 1 {
		return fmt.Sprintf("the members are in generations %v", slices.Collect(maps.Keys(gens)))
	}
	assigned := map[int32]bool{}
	for _, dm := range g.Members {
		var a kmsg.ConsumerMemberAssignment
		if err := a.ReadFrom(dm.MemberAssignment); err != nil {
			return fmt.Sprintf("member %s: assignment: %v", dm.MemberID, err)
		}
		for _, at := range a.Topics {
			for _, p := range at.Partitions {
				if at.Topic == r.topic {
					assigned[p] = true
				}
			}
		}
	}
	if len(assigned) != gfPartitions {
		return fmt.Sprintf("%d of %d partitions assigned", len(assigned), gfPartitions)
	}
	return ""
}

// settle waits until Metadata lists every broker, each partition and shard
// has a live leader and the leaders are balanced (hand-offs are over), the
// group is Stable with every member, and every partition has had a commit
// since settle began.
func (r *gfRun) settle() {
	r.t.Helper()
	t0 := time.Now()
	deadline := t0.Add(gfSettleWithin)
	for {
		problem := r.clusterProblem()
		if problem == "" {
			problem = r.groupProblem()
		}
		if problem == "" {
			problem = r.commitsSince(t0)
		}
		if problem == "" {
			break
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("not settled within %s: %s%s", gfSettleWithin, problem, r.clientReport())
		}
		time.Sleep(250 * time.Millisecond)
	}
	r.logf("settled after %s: generations %v", time.Since(t0).Round(time.Millisecond), r.memberGens())
}

func (r *gfRun) clusterProblem() string {
	md, err := r.metadata()
	if err != nil {
		return err.Error()
	}
	live := brokerIndexes(md, r.addrs())
	if len(md.Brokers) != gfBrokers || len(live) != gfBrokers {
		return fmt.Sprintf("Metadata lists %d brokers, want %v", len(md.Brokers), r.addrs())
	}
	for _, topic := range []string{r.topic, groupsOffsetsTopic} {
		counts := map[int32]int{}
		for id := range live {
			counts[id] = 0
		}
		for _, pd := range md.Topics[topic].Partitions {
			if _, ok := live[pd.Leader]; !ok || pd.Err != nil {
				return fmt.Sprintf("%s/%d: leader %d, %v", topic, pd.Partition, pd.Leader, pd.Err)
			}
			counts[pd.Leader]++
		}
		if lo, hi := slices.Min(slices.Collect(maps.Values(counts))), slices.Max(slices.Collect(maps.Values(counts))); hi-lo > 1 {
			return fmt.Sprintf("%s: leaders not balanced yet: %v", topic, counts)
		}
	}
	return ""
}

// commitsSince says which partitions have no commit issued at or after t0
// acknowledged, or "".
func (r *gfRun) commitsSince(t0 time.Time) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var waiting []int
	for p, cs := range r.commits {
		if len(cs) == 0 || cs[len(cs)-1].issued.Before(t0) {
			waiting = append(waiting, p)
		}
	}
	if len(waiting) > 0 {
		return fmt.Sprintf("no commit since %s on partitions %v", t0.Format("15:04:05.000"), waiting)
	}
	return ""
}

// checkNotCoordinator sends group requests to every broker that does not
// coordinate the group: each answers NOT_COORDINATOR, and FindCoordinator
// gives every broker's client the same coordinator.
func (r *gfRun) checkNotCoordinator() {
	r.t.Helper()
	id, ci, err := r.coordinator()
	if err != nil {
		r.t.Fatal(err)
	}
	type groupCase struct {
		name string
		req  kmsg.Request
		code func(kmsg.Response) int16
	}
	cases := func() []groupCase {
		hb := kmsg.NewPtrHeartbeatRequest()
		hb.Group, hb.MemberID, hb.Generation = r.group, "member", 1
		jg := kmsg.NewPtrJoinGroupRequest()
		jg.Group, jg.SessionTimeoutMillis, jg.RebalanceTimeoutMillis, jg.ProtocolType = r.group, 30000, 30000, "consumer"
		jgp := kmsg.NewJoinGroupRequestProtocol()
		jgp.Name, jgp.Metadata = "range", groupsSubscription(r.topic)
		jg.Protocols = append(jg.Protocols, jgp)
		sg := kmsg.NewPtrSyncGroupRequest()
		sg.Group, sg.MemberID, sg.Generation = r.group, "member", 1
		oc := groupsCommitRequest(r.group, -1, "", r.topic, 0, 0)
		of := kmsg.NewPtrOffsetFetchRequest()
		ofg := kmsg.NewOffsetFetchRequestGroup()
		ofg.Group = r.group
		of.Group, of.Groups = r.group, append(of.Groups, ofg)
		lg := kmsg.NewPtrLeaveGroupRequest()
		lgm := kmsg.NewLeaveGroupRequestMember()
		lgm.MemberID = "member"
		lg.Group, lg.MemberID, lg.Members = r.group, "member", append(lg.Members, lgm)
		dg := kmsg.NewPtrDescribeGroupsRequest()
		dg.Groups = []string{r.group}
		del := kmsg.NewPtrDeleteGroupsRequest()
		del.Groups = []string{r.group}
		od := kmsg.NewPtrOffsetDeleteRequest()
		odt := kmsg.NewOffsetDeleteRequestTopic()
		odt.Topic = r.topic
		odp := kmsg.NewOffsetDeleteRequestTopicPartition()
		odt.Partitions = append(odt.Partitions, odp)
		od.Group, od.Topics = r.group, append(od.Topics, odt)
		return []groupCase{
			{"Heartbeat", hb, func(resp kmsg.Response) int16 { return resp.(*kmsg.HeartbeatResponse).ErrorCode }},
			{"JoinGroup", jg, func(resp kmsg.Response) int16 { return resp.(*kmsg.JoinGroupResponse).ErrorCode }},
			{"SyncGroup", sg, func(resp kmsg.Response) int16 { return resp.(*kmsg.SyncGroupResponse).ErrorCode }},
			{"OffsetCommit", oc, func(resp kmsg.Response) int16 {
				return resp.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
			}},
			{"OffsetFetch", of, func(resp kmsg.Response) int16 {
				if of := resp.(*kmsg.OffsetFetchResponse); len(of.Groups) > 0 {
					return of.Groups[0].ErrorCode
				} else {
					return of.ErrorCode
				}
			}},
			{"LeaveGroup", lg, func(resp kmsg.Response) int16 { return resp.(*kmsg.LeaveGroupResponse).ErrorCode }},
			{"DescribeGroups", dg, func(resp kmsg.Response) int16 { return resp.(*kmsg.DescribeGroupsResponse).Groups[0].ErrorCode }},
			{"DeleteGroups", del, func(resp kmsg.Response) int16 { return resp.(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode }},
			{"OffsetDelete", od, func(resp kmsg.Response) int16 { return resp.(*kmsg.OffsetDeleteResponse).ErrorCode }},
		}
	}
	for i, s := range r.brokers {
		k := dialKafka(r.t, s)
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.CoordinatorKey, fc.CoordinatorKeys = r.group, []string{r.group}
		resp := k.request(fc, 0).(*kmsg.FindCoordinatorResponse)
		got := resp.NodeID
		if len(resp.Coordinators) > 0 {
			got = resp.Coordinators[0].NodeID
		}
		if got != id {
			r.t.Errorf("FindCoordinator on %s: node %d, another broker said %d", s.Addr, got, id)
		}
		if i == ci {
			continue
		}
		for _, tc := range cases() {
			wantCode(r.t, fmt.Sprintf("%s to %s, not the coordinator", tc.name, s.Addr), tc.code(k.request(tc.req, 0)), kerr.NotCoordinator)
		}
	}
	r.logf("brokers other than the coordinator (node %d, %s) answer group requests with NOT_COORDINATOR", id, r.brokers[ci].Addr)
	if problem := r.groupProblem(); problem != "" {
		r.t.Errorf("after requests to the other brokers: %s", problem)
	}
}

// groupsSubscription is a consumer protocol subscription to topics.
func groupsSubscription(topics ...string) []byte {
	md := kmsg.NewConsumerMemberMetadata()
	md.Topics = topics
	return md.AppendTo(nil)
}

// fault injects a fault into the broker coordinating the group, waits for
// the group to recover, checks it, and restarts the broker.
func (r *gfRun) fault(name string, inject func(*Strata)) {
	r.t.Helper()
	time.Sleep(gfSteady)
	id, ci, err := r.coordinator()
	if err != nil {
		r.t.Fatal(err)
	}
	s := r.brokers[ci]
	res := gfFault{name: name, coordinator: id, next: -1}
	idle := r.commitIdle(name)
	before := r.lastCommits()
	gens := r.memberGens()
	var rebalances [gfMembers][3]int
	for i, m := range r.members {
		rebalances[i][0], rebalances[i][1], rebalances[i][2] = m.rebalances()
	}
	r.logf("=== %s: %s (node %d); members %v; committed %v", name, s.Addr, id, gens, before)
	t0 := time.Now()
	inject(s)
	r.logf("%s done after %s", name, time.Since(t0).Round(time.Millisecond))

	// The new coordinator knows the members and their generation, and
	// the offsets committed before the fault.
	res.next = r.checkResumed(name, id, gens)
	res.resumed = time.Since(t0)
	r.checkIdle(name, idle)

	// Recovery: a commit issued after the fault is acknowledged, a poll
	// begun after it returns records, and the first record produced after
	// it on every partition is processed.
	deadline := t0.Add(gfRecoverWithin)
	for {
		commit, proc, every, waiting := r.recovery(t0)
		if waiting == "" {
			res.commitAfter, res.procAfter, res.everyPart = commit.Sub(t0), proc.Sub(t0), every.Sub(t0)
			break
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: not recovered within %s: %s%s", name, gfRecoverWithin, waiting, r.clientReport())
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.logf("%s: first commit issued after the fault acknowledged after %s; first record processed by a poll begun after it after %s; every partition processed a record produced after it after %s",
		name, res.commitAfter.Round(time.Millisecond), res.procAfter.Round(time.Millisecond), res.everyPart.Round(time.Millisecond))
	r.checkCommittedAtLeast(name, before)

	// The group is Stable again with the same members, who kept their
	// member ids: the new coordinator resumed them (a member it did not
	// know would have had to join anew, under a new id).
	deadline = time.Now().Add(30 * time.Second)
	for problem := r.groupProblem(); problem != ""; problem = r.groupProblem() {
		if time.Now().After(deadline) {
			r.t.Errorf("%s: the group is not whole again within 30s: %s", name, problem)
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	after := r.memberGens()
	var calls []string
	for i, m := range r.members {
		if after[i].id != gens[i].id {
			r.t.Errorf("%s: member %d has member id %s, had %s before the fault", name, i, after[i].id, gens[i].id)
		}
		if after[i].gen != gens[i].gen {
			res.rejoined = true
		}
		a, v, l := m.rebalances()
		if d := [3]int{a - rebalances[i][0], v - rebalances[i][1], l - rebalances[i][2]}; d != [3]int{} {
			calls = append(calls, fmt.Sprintf("member %d: %d assigned, %d revoked, %d lost", i, d[0], d[1], d[2]))
		}
	}
	res.generations = fmt.Sprintf("%v → %v", gens, after)
	if res.rejoined {
		// Allowed: a member whose gbHeartbeat fails for good (franz-go gives
		// up on a dial error when it looks the coordinator up on the dead
		// broker, still listed until its lease ends) loses its partitions
		// and rejoins under its member id.
		res.generations += "; " + strings.Join(calls, "; ")
		r.logf("%s: members rejoined: generations %s", name, res.generations)
	} else {
		r.logf("%s: no member rejoined: generations %v", name, after)
	}
	r.mu.Lock()
	r.faults = append(r.faults, res)
	r.mu.Unlock()

	s.Restart()
	r.logf("restarted %s", s.Addr)
}

// checkResumed waits until a broker other than old coordinates the group,
// then heartbeats there for each member with the member id and generation
// it had before the fault: the new coordinator must know both (OK, or
// REBALANCE_IN_PROGRESS if a member already rejoined; ILLEGAL_GENERATION
// only once a member's client is in a newer generation). It returns the
// new coordinator's node id.
func (r *gfRun) checkResumed(what string, old int32, gens []gfMemberGen) int32 {
	r.t.Helper()
	deadline := time.Now().Add(gfRecoverWithin)
	for {
		id, ci, err := r.coordinator()
		if err == nil && id != old {
			var codes []int16
			for _, mg := range gens {
				hb := kmsg.NewPtrHeartbeatRequest()
				hb.Group, hb.MemberID, hb.Generation = r.group, mg.id, mg.gen
				resp, err := r.request(ci, hb)
				if err != nil {
					r.t.Fatalf("%s: Heartbeat to the new coordinator: %v", what, err)
				}
				codes = append(codes, resp.(*kmsg.HeartbeatResponse).ErrorCode)
			}
			if slices.ContainsFunc(codes, func(c int16) bool {
				return c == kerr.CoordinatorLoadInProgress.Code || c == kerr.NotCoordinator.Code || c == kerr.CoordinatorNotAvailable.Code
			}) && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			newer := !slices.Equal(r.memberGens(), gens)
			for i, c := range codes {
				switch {
				case c == 0, c == kerr.RebalanceInProgress.Code:
				case c == kerr.IllegalGeneration.Code && newer:
				default:
					r.t.Errorf("%s: Heartbeat of member %d (%s, generation %d) to the new coordinator (node %d): %s; it should know the member",
						what, i, gens[i].id, gens[i].gen, id, codeName(c))
				}
			}
			r.logf("%s: node %d coordinates the group now; heartbeats in the members' generations get %v", what, id, gfCodeNames(codes))
			return id
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s: no other broker coordinates the group within %s (%d, %v)", what, gfRecoverWithin, id, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func gfCodeNames(codes []int16) []string {
	var out []string
	for _, c := range codes {
		out = append(out, codeName(c))
	}
	return out
}

// commitIdle commits offsets for a group without members on the same shard
// as the group (so with the same coordinator), as a simple consumer does
// (generation -1, no member id), and returns them.
func (r *gfRun) commitIdle(what string) map[int32]int64 {
	r.t.Helper()
	_, idx, err := r.coordinators(r.idle)
	if err != nil {
		r.t.Fatal(err)
	}
	want := map[int32]int64{}
	req := groupsCommitRequest(r.idle, -1, "", r.topic, 0, 0)
	req.Topics[0].Partitions = nil
	for p := range int32(gfPartitions) {
		want[p] = int64(len(r.faults)*100) + int64(p)
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.Metadata = p, want[p], kmsg.StringPtr(what)
		req.Topics[0].Partitions = append(req.Topics[0].Partitions, rp)
	}
	resp, err := r.request(idx[0], req)
	if err != nil {
		r.t.Fatalf("OffsetCommit %s: %v", r.idle, err)
	}
	for _, rp := range resp.(*kmsg.OffsetCommitResponse).Topics[0].Partitions {
		wantCode(r.t, fmt.Sprintf("OffsetCommit %s %s/%d", r.idle, r.topic, rp.Partition), rp.ErrorCode, nil)
	}
	return want
}

// checkIdle reads the idle group's offsets back from the new coordinator:
// it has every one, with its metadata.
func (r *gfRun) checkIdle(what string, want map[int32]int64) {
	r.t.Helper()
	got, metadata, err := r.offsets(r.idle)
	if err != nil {
		r.t.Errorf("%s: %v", what, err)
		return
	}
	for p, o := range want {
		if got[p] != o || metadata[p] != what {
			r.t.Errorf("%s: %s committed %s/%d at %d (%q) before the fault; the new coordinator has %d (%q)",
				what, r.idle, r.topic, p, o, what, got[p], metadata[p])
		}
	}
}

// gfSameShardGroup names a group that hashes onto the same coordinator shard
// as group among n shards (Kafka's hash: Java's String.hashCode, made
// non-negative, modulo n).
func gfSameShardGroup(group string, n int) string {
	shard := func(id string) int32 {
		var h int32
		for _, c := range id { // ASCII
			h = 31*h + c
		}
		if h == -1<<31 {
			h = 0
		} else if h < 0 {
			h = -h
		}
		return h % int32(n)
	}
	for i := 0; ; i++ {
		if id := fmt.Sprintf("%s-idle-%d", group, i); shard(id) == shard(group) {
			return id
		}
	}
}

// recovery reports, for a fault at t0, when the first commit issued after
// t0 was acknowledged, when the first poll begun after t0 returned records,
// and when the first record produced after t0 had been processed on every
// partition; waiting says what has not happened yet.
func (r *gfRun) recovery(t0 time.Time) (commit, processed, every time.Time, waiting string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, cs := range r.commits {
		for _, c := range cs {
			if !c.issued.Before(t0) && (commit.IsZero() || c.at.Before(commit)) {
				commit = c.at
			}
		}
	}
	var parts []int
	for p := range r.acks {
		acks := r.acks[p]
		i := sort.Search(len(acks), func(i int) bool { return !acks[i].Produced.Before(t0) })
		if i == len(acks) || len(r.processed[p][acks[i].Seq]) == 0 {
			parts = append(parts, p)
			continue
		}
		first := r.processed[p][acks[i].Seq][0]
		every = gfMaxTime(every, first.at)
		for _, pr := range r.processed[p] {
			for _, q := range pr {
				if !q.polling.Before(t0) && (processed.IsZero() || q.at.Before(processed)) {
					processed = q.at
				}
			}
		}
	}
	switch {
	case commit.IsZero():
		waiting = "no commit issued after the fault acknowledged"
	case len(parts) > 0:
		waiting = fmt.Sprintf("no record produced after the fault processed on partitions %v", parts)
	}
	return commit, processed, every, waiting
}

func gfMaxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// checkCommittedAtLeast reads the group's committed offsets back from its
// coordinator and fails the test unless each is at least the one in min.
func (r *gfRun) checkCommittedAtLeast(what string, least map[int32]int64) map[int32]int64 {
	r.t.Helper()
	var got map[int32]int64
	var err error
	deadline := time.Now().Add(30 * time.Second)
	for {
		if got, err = r.fetchOffsets(); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if err != nil {
		r.t.Errorf("%s: OffsetFetch: %v", what, err)
		return nil
	}
	for p, want := range least {
		if got[p] < want {
			r.t.Errorf("%s: partition %d: committed offset %d read back, %d was committed before", what, p, got[p], want)
		}
	}
	return got
}

func (r *gfRun) fetchOffsets() (map[int32]int64, error) {
	offsets, _, err := r.offsets(r.group)
	return offsets, err
}

// drain stops the producer, waits until the members have processed and
// committed everything, and checks what they processed.
func (r *gfRun) drain() {
	r.t.Helper()
	r.stopProducing()
	ctx, cancel := context.WithTimeout(r.ctx, 15*time.Second)
	defer cancel()
	listed, err := r.admin.ListEndOffsets(ctx, r.topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		r.t.Fatalf("list end offsets: %v", err)
	}
	ends := map[int32]int64{}
	for p := range int32(gfPartitions) {
		o, _ := listed.Lookup(r.topic, p)
		ends[p] = o.Offset
	}
	deadline := time.Now().Add(gfRecoverWithin)
	for {
		committed := r.lastCommits()
		var behind []string
		for p, end := range ends {
			if committed[p] < end {
				behind = append(behind, fmt.Sprintf("%d at %d of %d", p, committed[p], end))
			}
		}
		if len(behind) == 0 {
			break
		}
		if time.Now().After(deadline) {
			slices.Sort(behind)
			r.t.Fatalf("the members did not commit up to the high watermarks within %s: partitions %s%s",
				gfRecoverWithin, strings.Join(behind, ", "), r.clientReport())
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.logf("drained: committed up to the high watermarks %v", ends)
	if got := r.checkCommittedAtLeast("after draining", ends); got != nil && !maps.Equal(got, ends) {
		r.t.Errorf("after draining: committed offsets %v read back, want the high watermarks %v", got, ends)
	}
	if problem := r.groupProblem(); problem != "" {
		r.t.Errorf("after draining: %s", problem)
	}
	r.checkProcessed()
}

// checkProcessed fails the test for an acknowledged record that no member
// processed, or processed at another offset, and for a record processed
// again below an offset committed for its partition before that.
func (r *gfRun) checkProcessed() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var lost, moved, outside []string
	acked, dups := 0, 0
	for p := range r.acks {
		for _, a := range r.acks[p] {
			acked++
			procs := r.processed[p][a.Seq]
			if len(procs) == 0 {
				lost = append(lost, fmt.Sprintf("%d: record %d acknowledged at offset %d", p, a.Seq, a.Offset))
				continue
			}
			for _, q := range procs {
				if q.offset != a.Offset {
					moved = append(moved, fmt.Sprintf("%d: record %d acknowledged at offset %d, processed at %d", p, a.Seq, a.Offset, q.offset))
				}
			}
		}
		for seq, procs := range r.processed[p] {
			procs = slices.Clone(procs)
			slices.SortFunc(procs, func(a, b gfProc) int { return a.at.Compare(b.at) })
			for _, q := range procs[1:] {
				dups++
				// The commits acknowledged before the poll that returned
				// the record again began.
				var committed int64
				for _, c := range r.commits[p] {
					if c.at.Before(q.polling) {
						committed = max(committed, c.offset)
					}
				}
				if q.offset < committed {
					outside = append(outside, fmt.Sprintf("%d@%d: record %d processed again by member %d at %s, after offset %d was committed",
						p, q.offset, seq, q.member, q.at.Format("15:04:05.000"), committed))
				}
			}
		}
	}
	r.logf("%d records acknowledged; %d processed more than once, all within the at-least-once window unless reported", acked, dups)
	for _, l := range []struct {
		what  string
		lines []string
	}{
		{"acknowledged, never processed", lost},
		{"processed at another offset than acknowledged", moved},
		{"processed again below an offset committed before", outside},
		{"not a record the producer wrote", r.malformed},
	} {
		if len(l.lines) > 0 {
			slices.Sort(l.lines)
			r.t.Errorf("%d records %s; the first:\n%s", len(l.lines), l.what, strings.Join(l.lines[:min(len(l.lines), 10)], "\n"))
		}
	}
}

// clientReport lists the errors producer and members got.
func (r *gfRun) clientReport() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	top := func(what string, m map[string]int) {
		keys := slices.Collect(maps.Keys(m))
		slices.SortFunc(keys, func(a, b string) int { return m[b] - m[a] })
		for _, k := range keys[:min(len(keys), 5)] {
			fmt.Fprintf(&b, "\n  %s error ×%d: %s", what, m[k], k)
		}
	}
	top("produce", r.prodErrs)
	top("commit", r.commitErrs)
	top("fetch", r.fetchErrs)
	return b.String()
}

// report logs each fault's recovery.
func (r *gfRun) report() {
	r.mu.Lock()
	var b strings.Builder
	for _, f := range r.faults {
		fmt.Fprintf(&b, "\n  %s of node %d: node %d answered for the members %s after; commit acknowledged %s after, records processed %s after, every partition %s after; rejoined: %t (%s)",
			f.name, f.coordinator, f.next, f.resumed.Round(time.Millisecond), f.commitAfter.Round(time.Millisecond), f.procAfter.Round(time.Millisecond),
			f.everyPart.Round(time.Millisecond), f.rejoined, f.generations)
	}
	r.mu.Unlock()
	r.t.Logf("TestGroupCoordinatorFailover after %s:%s%s", time.Since(r.start).Round(time.Second), b.String(), r.clientReport())
}
