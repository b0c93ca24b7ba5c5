package e2e

// KIP-932 share groups against real `strata serve` processes, with
// franz-go's share consumers (kgo.ShareGroup).
//
// TestShareGroupEveryRecordOnce: three members of one share group on a
// topic of three partitions get every record once and acknowledge it; the
// share-partition start offsets (DescribeShareGroupOffsets) reach the high
// watermarks; ShareGroupDescribe and ListGroups show the group.
//
// TestShareGroupRedeliveryAndReject: a member that takes records and dies
// without acknowledging them (its client is closed without a poll, or its
// process killed) has them delivered again to another member once their
// acquisition lock (share.record.lock.duration.ms, set short) expires; a
// rejected record is never delivered again; a record released over and
// over is delivered share.delivery.count.limit times and then archived.
//
// TestShareGroupBrokerDeath: in a three-broker cluster, SIGKILL the broker
// that leads the topic's partition and then the one coordinating the group
// while members consume: every record is acknowledged, none that was
// acknowledged is delivered again (the share state in etcd survives the
// leader), and only records not acknowledged are redelivered: records a
// member acquired at a killed leader come back at once, without waiting for
// their lock (acquisitions are not stored, as in Kafka: their delivery
// count starts again).
//
// TestShareGroupConnectionClose: a member whose connection closes without
// acknowledging has its records delivered again at once, not after their
// 10-minute lock: the share session ends with its connection.
//
// TestShareGroupAdmin: AlterShareGroupOffsets, DeleteShareGroupOffsets and
// DeleteGroups of a share group: NON_EMPTY_GROUP while members are active;
// an altered start offset is what DescribeShareGroupOffsets shows and where
// the next member starts, although the partition's leader held the old
// state in memory; deleted offsets start again by share.auto.offset.reset;
// DeleteGroups takes the states and the configs; DescribeGroups answers a
// share group id as Kafka does up to v5 (Dead); the groups metric counts
// share groups.

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/internal/testenv"
)

// shareTrack records what the members of a share group were delivered and
// what they acknowledged, by record value.
type shareTrack struct {
	mu        sync.Mutex
	delivered map[string]int   // value → deliveries seen
	counts    map[string][]int // value → the delivery counts the broker gave
	accepted  map[string]int   // value → accepts sent
	rejected  map[string]bool
}

func newShareTrack() *shareTrack {
	return &shareTrack{delivered: map[string]int{}, counts: map[string][]int{}, accepted: map[string]int{}, rejected: map[string]bool{}}
}

// acceptedCount is the number of distinct values accepted.
func (tr *shareTrack) acceptedCount() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.accepted)
}

// shareMember is one share consumer polling in its own goroutine; decide
// says what it does with each record (AckAccept, AckRelease, AckReject, or
// 0: take it and never acknowledge, as a member that dies).
type shareMember struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
	gate   sync.Mutex // held by each poll; pause takes it
}

func startShareMember(t *testing.T, addrs []string, group, topic string, tr *shareTrack, decide func(value string, delivery int) kgo.AckStatus, extra ...kgo.Opt) *shareMember {
	t.Helper()
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(addrs...),
		kgo.MetadataMinAge(500 * time.Millisecond),
		kgo.ShareGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.FetchMaxWait(500 * time.Millisecond),
	}, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &shareMember{cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			m.gate.Lock()
			pctx, pcancel := context.WithTimeout(ctx, 300*time.Millisecond)
			fs := cl.PollFetches(pctx)
			pcancel()
			fs.EachRecord(func(r *kgo.Record) {
				v := string(r.Value)
				st := decide(v, int(r.DeliveryCount()))
				tr.mu.Lock()
				tr.delivered[v]++
				tr.counts[v] = append(tr.counts[v], int(r.DeliveryCount()))
				switch st {
				case kgo.AckAccept:
					tr.accepted[v]++
				case kgo.AckReject:
					tr.rejected[v] = true
				}
				tr.mu.Unlock()
				if st != 0 {
					r.Ack(st)
				} else {
					r.Ack(kgo.AckRenew) // hold it: not acknowledged at the next poll
				}
			})
			m.gate.Unlock()
		}
	}()
	return m
}

// pause stops the member's polling and waits until the broker answered
// every acknowledgement it made.
func (m *shareMember) pause(t *testing.T) {
	t.Helper()
	m.gate.Lock()
	if err := m.cl.FlushAcks(testContext(t, 30*time.Second)); err != nil {
		t.Fatalf("flush acks: %v", err)
	}
}

func (m *shareMember) resume() { m.gate.Unlock() }

// stop acknowledges what is pending and leaves the group.
func (m *shareMember) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m.cancel()
	<-m.done
	_ = m.cl.FlushAcks(ctx)
	m.cl.Close()
}

// setGroupConfigs sets share group configs with IncrementalAlterConfigs.
func setGroupConfigs(t testing.TB, cl *kgo.Client, group string, set map[string]string) {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	for k, v := range set {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = k, kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr(v)
		rr.Configs = append(rr.Configs, c)
	}
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(testContext(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.Resources[0].ErrorCode); err != nil {
		t.Fatalf("set group configs: %v %v", err, resp.Resources[0].ErrorMessage)
	}
}

// createShareTopic creates a topic and produces n records "<i>" to its
// partitions, round robin (cl has the manual partitioner).
func createShareTopic(t *testing.T, cl *kgo.Client, topic string, partitions int32, n int) {
	t.Helper()
	ctx := testContext(t, 60*time.Second)
	resp, err := createTopicsRequest(topic, partitions, nil).RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatal(err)
	}
	produceShare(t, cl, topic, partitions, 0, n)
}

func produceShare(t *testing.T, cl *kgo.Client, topic string, partitions int32, from, to int) {
	t.Helper()
	ctx := testContext(t, 60*time.Second)
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i) % partitions, Value: []byte(strconv.Itoa(i))})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// shareStartOffsets asks DescribeShareGroupOffsets for the group's start
// offset of each partition of topic; nil when the request failed.
func shareStartOffsets(t *testing.T, cl *kgo.Client, group, topic string) map[int32]int64 {
	t.Helper()
	req := kmsg.NewPtrDescribeShareGroupOffsetsRequest()
	g := kmsg.NewDescribeShareGroupOffsetsRequestGroup()
	g.GroupID = group
	rt := kmsg.NewDescribeShareGroupOffsetsRequestGroupTopic()
	rt.Topic = topic
	g.Topics = append(g.Topics, rt)
	req.Groups = append(req.Groups, g)
	resp, err := req.RequestWith(testContext(t, 10*time.Second), cl)
	if err != nil {
		t.Logf("describe share group offsets: %v", err) // a connection to a killed broker: asked again
		return nil
	}
	out := map[int32]int64{}
	for _, g := range resp.Groups {
		if err := kerr.ErrorForCode(g.ErrorCode); err != nil {
			t.Fatalf("describe share group offsets: %v", err)
		}
		for _, rt := range g.Topics {
			for _, p := range rt.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					t.Fatalf("describe share group offsets of %d: %v", p.Partition, err)
				}
				out[p.Partition] = p.StartOffset
			}
		}
	}
	return out
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestShareGroupEveryRecordOnce(t *testing.T) {
	s := StartStrata(t, Options{})
	admin := s.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	const topic, group, n, parts = "share-once", "share-once-g", 600, 3
	setGroupConfigs(t, admin, group, map[string]string{"share.auto.offset.reset": "earliest"})
	createShareTopic(t, admin, topic, parts, n)

	tr := newShareTrack()
	accept := func(string, int) kgo.AckStatus { return kgo.AckAccept }
	var members []*shareMember
	for range 3 {
		members = append(members, startShareMember(t, []string{s.Addr}, group, topic, tr, accept))
	}
	waitFor(t, 60*time.Second, "every record accepted", func() bool { return tr.acceptedCount() == n })

	// The group is a Stable share group of three members, its three
	// partitions one to each (no more members than partitions).
	waitFor(t, 30*time.Second, "three members, each with one partition", func() bool {
		req := kmsg.NewPtrShareGroupDescribeRequest()
		req.GroupIDs = []string{group}
		resp, err := req.RequestWith(testContext(t, 10*time.Second), admin)
		if err != nil || len(resp.Groups) != 1 || resp.Groups[0].ErrorCode != 0 {
			t.Logf("describe: %v %+v", err, resp)
			return false
		}
		g := resp.Groups[0]
		seen := map[int32]bool{}
		for _, m := range g.Members {
			for _, tp := range m.Assignment.TopicPartitions {
				if tp.Topic != topic || len(tp.Partitions) != 1 {
					return false
				}
				seen[tp.Partitions[0]] = true
			}
		}
		return g.GroupState == "Stable" && len(g.Members) == 3 && len(seen) == parts
	})
	lreq := kmsg.NewPtrListGroupsRequest()
	lreq.TypesFilter = []string{"share"}
	lresp, err := lreq.RequestWith(testContext(t, 10*time.Second), admin)
	if err != nil {
		t.Fatal(err)
	}
	if len(lresp.Groups) != 1 || lresp.Groups[0].Group != group || lresp.Groups[0].GroupType != "share" || lresp.Groups[0].GroupState != "Stable" {
		t.Errorf("ListGroups of type share: %+v", lresp.Groups)
	}

	for _, m := range members {
		m.stop()
	}
	tr.mu.Lock()
	for i := range n {
		v := strconv.Itoa(i)
		if tr.delivered[v] != 1 || tr.accepted[v] != 1 {
			t.Errorf("record %s: delivered %d times, accepted %d times; want once", v, tr.delivered[v], tr.accepted[v])
		}
	}
	tr.mu.Unlock()
	// Every acknowledgement is stored: the start offsets are the ends.
	waitFor(t, 10*time.Second, "start offsets at the high watermarks", func() bool {
		got := shareStartOffsets(t, admin, group, topic)
		for p := range int32(parts) {
			if got[p] != n/parts {
				t.Logf("start offsets %v", got)
				return false
			}
		}
		return true
	})
}

// topicID returns a topic's id from Metadata.
func topicID(t *testing.T, cl *kgo.Client, topic string) [16]byte {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testContext(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].TopicID
}

// rawShareAcquire joins member to the share group (one ShareGroupHeartbeat,
// to the coordinator: ShareFetch serves members only) and acquires records
// of partition 0 of topic for it, with raw ShareFetch requests to addr, as
// a member process would before it hangs: it never acknowledges nor closes
// its session. It returns the offsets acquired and the client's close: its
// connection keeps the session open until then (a closed connection ends
// the session and releases the records at once); the test's end closes it
// too.
func rawShareAcquire(t *testing.T, addr, group, member, topic string, id [16]byte, want int) ([]int64, func()) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	closeClient := sync.OnceFunc(cl.Close)
	t.Cleanup(closeClient)
	joinShareGroup(t, cl, group, member, topic)
	var got []int64
	epoch := int32(0)
	deadline := time.Now().Add(30 * time.Second)
	for len(got) < want {
		if time.Now().After(deadline) {
			t.Fatalf("acquired %d records, want %d", len(got), want)
		}
		req := kmsg.NewPtrShareFetchRequest()
		req.GroupID, req.MemberID, req.ShareSessionEpoch = kmsg.StringPtr(group), kmsg.StringPtr(member), epoch
		req.MaxWaitMillis, req.MaxBytes, req.MaxRecords, req.BatchSize = 500, 1<<20, int32(want-len(got)), int32(want)
		rt := kmsg.NewShareFetchRequestTopic()
		rt.TopicID = id
		rp := kmsg.NewShareFetchRequestTopicPartition()
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		raw, err := cl.SeedBrokers()[0].Request(testContext(t, 10*time.Second), req) // to addr, the leader
		if err != nil {
			t.Fatal(err)
		}
		resp := raw.(*kmsg.ShareFetchResponse)
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			t.Fatalf("share fetch: %v", err)
		}
		epoch++
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					t.Fatalf("share fetch partition: %v", err)
				}
				for _, ar := range rp.AcquiredRecords {
					if ar.DeliveryCount != 1 {
						t.Errorf("first acquisition of %d..%d has delivery count %d", ar.FirstOffset, ar.LastOffset, ar.DeliveryCount)
					}
					for o := ar.FirstOffset; o <= ar.LastOffset; o++ {
						got = append(got, o)
					}
				}
			}
		}
	}
	return got, closeClient
}

func TestShareGroupRedeliveryAndReject(t *testing.T) {
	s := StartStrata(t, Options{})
	admin := s.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	const topic, group = "share-redeliver", "share-redeliver-g"
	const lock = 2 * time.Second
	setGroupConfigs(t, admin, group, map[string]string{
		"share.auto.offset.reset":       "earliest",
		"share.record.lock.duration.ms": strconv.Itoa(int(lock / time.Millisecond)),
		"share.delivery.count.limit":    "3",
	})
	createShareTopic(t, admin, topic, 1, 20)
	id := topicID(t, admin, topic)

	// A member takes every record and hangs: its connection stays open
	// (a closed one would release the records at once).
	taken := time.Now()
	offsets, hung := rawShareAcquire(t, s.Addr, group, "dead-member-000000000001", topic, id, 20)
	if len(offsets) != 20 {
		t.Fatalf("dead member acquired %v", offsets)
	}

	// A live member gets them once their locks expire, second delivery.
	tr := newShareTrack()
	firstSeen := make(chan time.Time, 1)
	live := startShareMember(t, []string{s.Addr}, group, topic, tr, func(v string, delivery int) kgo.AckStatus {
		select {
		case firstSeen <- time.Now():
		default:
		}
		switch {
		case len(v) > 4 && v[:4] == "rej-":
			return kgo.AckReject
		case len(v) > 4 && v[:4] == "rel-":
			return kgo.AckRelease
		}
		return kgo.AckAccept
	})
	defer live.stop()
	waitFor(t, 30*time.Second, "the dead member's records accepted", func() bool { return tr.acceptedCount() == 20 })
	if at := <-firstSeen; at.Sub(taken) < lock-200*time.Millisecond {
		t.Errorf("a locked record was delivered again %v after it was acquired, before its %v lock expired", at.Sub(taken), lock)
	}
	hung()
	tr.mu.Lock()
	for i := range 20 {
		v := strconv.Itoa(i)
		if c := tr.counts[v]; len(c) != 1 || c[0] != 2 {
			t.Errorf("record %s: delivery counts %v, want [2] (the dead member had the first)", v, c)
		}
	}
	tr.mu.Unlock()

	// REJECT: never delivered again. RELEASE: delivered up to the limit (3),
	// then archived.
	var recs []*kgo.Record
	for i := range 5 {
		recs = append(recs,
			&kgo.Record{Topic: topic, Value: []byte("rej-" + strconv.Itoa(i))},
			&kgo.Record{Topic: topic, Value: []byte("rel-" + strconv.Itoa(i))},
			&kgo.Record{Topic: topic, Value: []byte("acc-" + strconv.Itoa(i))})
	}
	if err := admin.ProduceSync(testContext(t, 30*time.Second), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	const end = 20 + 15
	waitFor(t, 30*time.Second, "the share partition to move past every record", func() bool {
		return shareStartOffsets(t, admin, group, topic)[0] == end
	})
	// Nothing comes back after the start moved past it: give a redelivery
	// the time of two locks to show up.
	time.Sleep(2 * lock)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for i := range 5 {
		if c := tr.counts["rej-"+strconv.Itoa(i)]; len(c) != 1 {
			t.Errorf("rejected record %d delivered with counts %v, want once", i, c)
		}
		if c := tr.counts["rel-"+strconv.Itoa(i)]; fmt.Sprint(c) != "[1 2 3]" {
			t.Errorf("released record %d delivered with counts %v, want [1 2 3] (the limit)", i, c)
		}
		if c := tr.counts["acc-"+strconv.Itoa(i)]; len(c) != 1 || tr.accepted["acc-"+strconv.Itoa(i)] != 1 {
			t.Errorf("accepted record %d delivered with counts %v", i, c)
		}
	}
}

// brokerAt returns the broker of brokers listening at host:port.
func brokerAt(t *testing.T, brokers []*Strata, host string, port int32) int {
	t.Helper()
	for i, b := range brokers {
		if b.Addr == net.JoinHostPort(host, strconv.Itoa(int(port))) {
			return i
		}
	}
	t.Fatalf("no broker at %s:%d", host, port)
	return -1
}

// partitionLeader returns the index in brokers of the leader of partition
// 0 of topic.
func partitionLeader(t *testing.T, cl *kgo.Client, brokers []*Strata, topic string) int {
	t.Helper()
	for {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(testContext(t, 10*time.Second), cl)
		if err == nil && len(resp.Topics) == 1 && len(resp.Topics[0].Partitions) == 1 && resp.Topics[0].Partitions[0].Leader >= 0 {
			leader := resp.Topics[0].Partitions[0].Leader
			for _, b := range resp.Brokers {
				if b.NodeID == leader {
					return brokerAt(t, brokers, b.Host, b.Port)
				}
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// groupCoordinator returns the index in brokers of group's coordinator.
func groupCoordinator(t *testing.T, cl *kgo.Client, brokers []*Strata, group string) int {
	t.Helper()
	for {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKeys = []string{group}
		resp, err := req.RequestWith(testContext(t, 10*time.Second), cl)
		if err == nil && len(resp.Coordinators) == 1 && resp.Coordinators[0].ErrorCode == 0 {
			c := resp.Coordinators[0]
			return brokerAt(t, brokers, c.Host, c.Port)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestShareGroupBrokerDeath(t *testing.T) {
	etcd := testenv.StartEtcd(t)
	minio := testenv.StartMinIO(t)
	opts := Options{
		EtcdEndpoints: etcd.Endpoint,
		ObjectStore:   minio.S3URL("strata-share"),
		Args:          []string{"--session-ttl", "3s", "--log-level", "info"},
	}
	var brokers []*Strata
	for range 3 {
		brokers = append(brokers, StartStrata(t, opts))
	}
	addrs := brokerAddrs(brokers)
	admin, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.MetadataMinAge(500*time.Millisecond),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	const topic, group, step = "share-death", "share-death-g", 200
	setGroupConfigs(t, admin, group, map[string]string{"share.auto.offset.reset": "earliest", "share.record.lock.duration.ms": "600000"})
	createShareTopic(t, admin, topic, 1, step)
	id := topicID(t, admin, topic)

	// held: records a member process acquired at the leader, which is
	// then killed. Their lock (share.record.lock.duration.ms, 10 min here)
	// outlasts the test: only the new leader, which restores the stored
	// state with every record not acknowledged available, delivers them
	// again within it.
	held := map[string]bool{}
	leader := partitionLeader(t, admin, brokers, topic)
	offsets, _ := rawShareAcquire(t, brokers[leader].Addr, group, "held-member-000000000001", topic, id, 20) // its connection dies with the leader
	for _, o := range offsets {
		held[strconv.FormatInt(o, 10)] = true
	}
	t.Logf("SIGKILL broker %d (the partition leader), %d records held", leader, len(held))
	brokers[leader].Kill()
	brokers[leader].Restart()

	tr := newShareTrack()
	accept := func(string, int) kgo.AckStatus { return kgo.AckAccept }
	var members []*shareMember
	for range 2 {
		members = append(members, startShareMember(t, addrs, group, topic, tr, accept))
	}
	defer func() {
		for _, m := range members {
			m.stop()
		}
	}()

	// Before each fault, the members stop and every acknowledgement they
	// made is answered: none of those records may be delivered again.
	answered := map[string]bool{}
	fault := func(what string, victim int, total int) {
		waitFor(t, 90*time.Second, fmt.Sprintf("%d records accepted before %s", total, what), func() bool { return tr.acceptedCount() == total })
		for _, m := range members {
			m.pause(t)
		}
		tr.mu.Lock()
		for v := range tr.accepted {
			answered[v] = true
		}
		tr.mu.Unlock()
		t.Logf("SIGKILL broker %d (%s); %d acknowledgements answered", victim, what, len(answered))
		brokers[victim].Kill()
		brokers[victim].Restart()
		for _, m := range members {
			m.resume()
		}
		produceShare(t, admin, topic, 1, total, total+step)
	}
	fault("the partition leader", partitionLeader(t, admin, brokers, topic), step)
	fault("the group coordinator", groupCoordinator(t, admin, brokers, group), 2*step)
	fault("the partition leader again", partitionLeader(t, admin, brokers, topic), 3*step)
	waitFor(t, 90*time.Second, "every record accepted", func() bool { return tr.acceptedCount() == 4*step })

	tr.mu.Lock()
	redelivered := 0
	for i := range 4 * step {
		v := strconv.Itoa(i)
		n := tr.delivered[v]
		switch {
		case n == 0:
			t.Errorf("record %s never delivered", v)
		case answered[v] && n != 1:
			t.Errorf("record %s delivered %d times (counts %v) although its acknowledgement was answered before the fault", v, n, tr.counts[v])
		case held[v] && n != 1:
			t.Errorf("held record %s delivered %d times (counts %v), want once", v, n, tr.counts[v])
		case n > 1:
			redelivered++
		}
	}
	tr.mu.Unlock()
	t.Logf("%d records redelivered (acquired, not acknowledged, at a fault)", redelivered)
	waitFor(t, 30*time.Second, "the start offset at the end", func() bool {
		got := shareStartOffsets(t, admin, group, topic)
		if got[0] != 4*step {
			t.Logf("start offsets %v", got)
			return false
		}
		return true
	})
}

func TestShareGroupConnectionClose(t *testing.T) {
	s := StartStrata(t, Options{})
	admin := s.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	const topic, group = "share-connclose", "share-connclose-g"
	// A lock that outlasts the test: only the end of the session brings
	// the records back within it.
	setGroupConfigs(t, admin, group, map[string]string{"share.auto.offset.reset": "earliest", "share.record.lock.duration.ms": "600000"})
	createShareTopic(t, admin, topic, 1, 20)
	id := topicID(t, admin, topic)

	offsets, closeClient := rawShareAcquire(t, s.Addr, group, "closed-member-0000000001", topic, id, 20)
	if len(offsets) != 20 {
		t.Fatalf("acquired %v", offsets)
	}
	closeClient() // the connection closes; nothing was acknowledged

	tr := newShareTrack()
	live := startShareMember(t, []string{s.Addr}, group, topic, tr, func(string, int) kgo.AckStatus { return kgo.AckAccept })
	defer live.stop()
	waitFor(t, 60*time.Second, "the closed member's records accepted by another member", func() bool { return tr.acceptedCount() == 20 })
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for i := range 20 {
		v := strconv.Itoa(i)
		if c := tr.counts[v]; len(c) != 1 || c[0] != 2 {
			t.Errorf("record %s: delivery counts %v, want [2] (the closed member had the first)", v, c)
		}
	}
}

// shareAdminCodes are the error codes of a share group admin request: the
// top level and each partition (Alter) or topic (Delete).
type shareAdminCodes struct {
	top   int16
	parts map[int32]int16
}

// alterShareOffsets asks AlterShareGroupOffsets to move group's start on
// partitions of topic.
func alterShareOffsets(t *testing.T, cl *kgo.Client, group, topic string, starts map[int32]int64) shareAdminCodes {
	t.Helper()
	req := kmsg.NewPtrAlterShareGroupOffsetsRequest()
	req.GroupID = group
	rt := kmsg.NewAlterShareGroupOffsetsRequestTopic()
	rt.Topic = topic
	for p, o := range starts {
		rp := kmsg.NewAlterShareGroupOffsetsRequestTopicPartition()
		rp.Partition, rp.StartOffset = p, o
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testContext(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	out := shareAdminCodes{top: resp.ErrorCode, parts: map[int32]int16{}}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			out.parts[rp.Partition] = rp.ErrorCode
		}
	}
	return out
}

// deleteShareOffsets asks DeleteShareGroupOffsets to delete group's states
// of topic; parts[0] is the topic's code.
func deleteShareOffsets(t *testing.T, cl *kgo.Client, group, topic string) shareAdminCodes {
	t.Helper()
	req := kmsg.NewPtrDeleteShareGroupOffsetsRequest()
	req.GroupID = group
	rt := kmsg.NewDeleteShareGroupOffsetsRequestTopic()
	rt.Topic = topic
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(testContext(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	out := shareAdminCodes{top: resp.ErrorCode, parts: map[int32]int16{}}
	for _, rt := range resp.Topics {
		out.parts[0] = rt.ErrorCode
	}
	return out
}

// deleteGroup asks DeleteGroups to delete group and returns its code.
func deleteGroup(t *testing.T, cl *kgo.Client, group string) int16 {
	t.Helper()
	req := kmsg.NewPtrDeleteGroupsRequest()
	req.Groups = []string{group}
	resp, err := req.RequestWith(testContext(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Groups) != 1 {
		t.Fatalf("DeleteGroups answered %+v", resp.Groups)
	}
	return resp.Groups[0].ErrorCode
}

// waitShareEmpty waits until the share group has no members.
func waitShareEmpty(t *testing.T, cl *kgo.Client, group string) {
	t.Helper()
	waitFor(t, 30*time.Second, "the share group without members", func() bool {
		req := kmsg.NewPtrShareGroupDescribeRequest()
		req.GroupIDs = []string{group}
		resp, err := req.RequestWith(testContext(t, 10*time.Second), cl)
		return err == nil && len(resp.Groups) == 1 && resp.Groups[0].ErrorCode == 0 && len(resp.Groups[0].Members) == 0
	})
}

// consumeShare runs one member that accepts everything until want distinct
// records are accepted, stops it, and returns what it was delivered.
func consumeShare(t *testing.T, s *Strata, group, topic string, want int) *shareTrack {
	t.Helper()
	tr := newShareTrack()
	m := startShareMember(t, []string{s.Addr}, group, topic, tr, func(string, int) kgo.AckStatus { return kgo.AckAccept })
	waitFor(t, 60*time.Second, fmt.Sprintf("%d records accepted", want), func() bool { return tr.acceptedCount() >= want })
	m.stop()
	return tr
}

func TestShareGroupAdmin(t *testing.T) {
	s := StartStrata(t, Options{})
	admin := s.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	const topic, group, n = "share-admin", "share-admin-g", 100
	// Counted by type before any share group exists.
	if v := metricValue(t, s, `strata_groups_coordinated{state="Stable",type="share"}`); v != 0 {
		t.Errorf("Stable share groups before any: %v", v)
	}
	setGroupConfigs(t, admin, group, map[string]string{"share.auto.offset.reset": "earliest"})
	createShareTopic(t, admin, topic, 1, n)
	if c := alterShareOffsets(t, admin, "no-such-share-group", topic, map[int32]int64{0: 5}); c.top != kerr.GroupIDNotFound.Code {
		t.Errorf("AlterShareGroupOffsets of no group: %v, want GROUP_ID_NOT_FOUND", kerr.ErrorForCode(c.top))
	}

	// While a member is active, the group's offsets and the group stay.
	tr := newShareTrack()
	m := startShareMember(t, []string{s.Addr}, group, topic, tr, func(string, int) kgo.AckStatus { return kgo.AckAccept })
	waitFor(t, 60*time.Second, "every record accepted", func() bool { return tr.acceptedCount() == n })
	if v := metricValue(t, s, `strata_groups_coordinated{state="Stable",type="share"}`); v != 1 {
		t.Errorf("Stable share groups with a member: %v, want 1", v)
	}
	if c := alterShareOffsets(t, admin, group, topic, map[int32]int64{0: 30}); c.top != kerr.NonEmptyGroup.Code {
		t.Errorf("AlterShareGroupOffsets with a member: %v, want NON_EMPTY_GROUP", kerr.ErrorForCode(c.top))
	}
	if c := deleteShareOffsets(t, admin, group, topic); c.top != kerr.NonEmptyGroup.Code {
		t.Errorf("DeleteShareGroupOffsets with a member: %v, want NON_EMPTY_GROUP", kerr.ErrorForCode(c.top))
	}
	if code := deleteGroup(t, admin, group); code != kerr.NonEmptyGroup.Code {
		t.Errorf("DeleteGroups with a member: %v, want NON_EMPTY_GROUP", kerr.ErrorForCode(code))
	}
	m.stop()
	waitShareEmpty(t, admin, group)
	waitFor(t, 10*time.Second, "the start offset at the end", func() bool { return shareStartOffsets(t, admin, group, topic)[0] == n })

	// Alter back to 30: DescribeShareGroupOffsets shows it, and the next
	// member starts there (the leader held the state at 100 in memory),
	// each record a first delivery.
	c := alterShareOffsets(t, admin, group, topic, map[int32]int64{0: 30, 7: 0})
	if c.top != 0 || c.parts[0] != 0 || c.parts[7] != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("AlterShareGroupOffsets: top %v, partitions %v (want 0 ok, 7 UNKNOWN_TOPIC_OR_PARTITION)", kerr.ErrorForCode(c.top), c.parts)
	}
	if got := shareStartOffsets(t, admin, group, topic)[0]; got != 30 {
		t.Errorf("start offset after the alter: %d, want 30", got)
	}
	tr = consumeShare(t, s, group, topic, n-30)
	tr.mu.Lock()
	for i := range n {
		v := strconv.Itoa(i)
		switch c := tr.counts[v]; {
		case i < 30 && len(c) > 0:
			t.Errorf("record %s, below the altered start, delivered (%v)", v, c)
		case i >= 30 && (len(c) != 1 || c[0] != 1):
			t.Errorf("record %s: delivery counts %v after the alter, want [1]", v, c)
		}
	}
	tr.mu.Unlock()

	// Delete the offsets: the next member starts by share.auto.offset.reset
	// (earliest: the log start).
	waitShareEmpty(t, admin, group)
	if c := deleteShareOffsets(t, admin, group, topic); c.top != 0 || c.parts[0] != 0 {
		t.Fatalf("DeleteShareGroupOffsets: top %v, topic %v", kerr.ErrorForCode(c.top), kerr.ErrorForCode(c.parts[0]))
	}
	if got := shareStartOffsets(t, admin, group, topic)[0]; got != -1 {
		t.Errorf("start offset after the delete: %d, want -1 (none)", got)
	}
	if c := deleteShareOffsets(t, admin, group, topic); c.top != 0 || c.parts[0] != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("DeleteShareGroupOffsets of nothing: top %v, topic %v, want UNKNOWN_TOPIC_OR_PARTITION", kerr.ErrorForCode(c.top), kerr.ErrorForCode(c.parts[0]))
	}
	tr = consumeShare(t, s, group, topic, n)
	tr.mu.Lock()
	for i := range n {
		if c := tr.counts[strconv.Itoa(i)]; len(c) != 1 || c[0] != 1 {
			t.Errorf("record %d: delivery counts %v after the delete, want [1]", i, c)
		}
	}
	tr.mu.Unlock()

	// DescribeGroups answers a share group id as Kafka does up to v5.
	waitShareEmpty(t, admin, group)
	dreq := kmsg.NewPtrDescribeGroupsRequest()
	dreq.Groups = []string{group}
	dresp, err := dreq.RequestWith(testContext(t, 10*time.Second), admin)
	if err != nil {
		t.Fatal(err)
	}
	if g := dresp.Groups[0]; g.ErrorCode != 0 || g.State != "Dead" || len(g.Members) != 0 {
		t.Errorf("DescribeGroups of a share group: %v %q %d members, want Dead", kerr.ErrorForCode(g.ErrorCode), g.State, len(g.Members))
	}
	if v := metricValue(t, s, `strata_groups_coordinated{state="Empty",type="share"}`); v != 1 {
		t.Errorf("Empty share groups: %v, want 1", v)
	}

	// DeleteGroups of the empty share group: its states and configs go.
	if code := deleteGroup(t, admin, group); code != 0 {
		t.Fatalf("DeleteGroups of the empty share group: %v", kerr.ErrorForCode(code))
	}
	if got := shareStartOffsets(t, admin, group, topic)[0]; got != -1 {
		t.Errorf("start offset after DeleteGroups: %d, want -1", got)
	}
	creq := kmsg.NewPtrDescribeConfigsRequest()
	cr := kmsg.NewDescribeConfigsRequestResource()
	cr.ResourceType, cr.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	creq.Resources = append(creq.Resources, cr)
	cresp, err := creq.RequestWith(testContext(t, 10*time.Second), admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, rc := range cresp.Resources[0].Configs {
		if rc.Name == "share.auto.offset.reset" && (rc.Value == nil || *rc.Value != "latest") {
			t.Errorf("share.auto.offset.reset after DeleteGroups: %v, want the default", rc.Value)
		}
	}
	lreq := kmsg.NewPtrListGroupsRequest()
	lreq.TypesFilter = []string{"share"}
	lresp, err := lreq.RequestWith(testContext(t, 10*time.Second), admin)
	if err != nil {
		t.Fatal(err)
	}
	if len(lresp.Groups) != 0 {
		t.Errorf("ListGroups after DeleteGroups: %+v", lresp.Groups)
	}
	if code := deleteGroup(t, admin, group); code != kerr.GroupIDNotFound.Code {
		t.Errorf("DeleteGroups of a deleted share group: %v, want GROUP_ID_NOT_FOUND", kerr.ErrorForCode(code))
	}
}
