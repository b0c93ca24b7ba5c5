package e2e

// The online migration between a classic group and a KIP-848 consumer
// group (group.consumer.migration.policy=bidirectional, Kafka 4's
// default), with real processes: `strata serve` on a real etcd and MinIO,
// franz-go consumers, a producer writing throughout.
//
// TestGroup848Upgrade: a classic group of three cooperative-sticky
// members consumes a topic; its members are replaced one by one by
// members of the consumer protocol (kgo.ServerSideBalancer). The first of
// them upgrades the group: the classic members stay, served through
// JoinGroup/SyncGroup/Heartbeat with assignments the server computes, and
// give partitions up by rejoining without them. The group ends as a
// consumer group of three; every acknowledged record was processed by it
// exactly once (members commit each poll before a rebalance may proceed).
//
// TestGroup848Downgrade: the reverse. Two classic members join a
// consumer group of two members of the consumer protocol, which then
// leave: when the last of them leaves, the group is a classic group again
// and its members rebalance as one; every acknowledged record processed
// exactly once.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/internal/testenv"
)

// migrateSetup starts etcd, MinIO and one broker, a topic, a producer
// and the tally.
func migrateSetup(t *testing.T, bucket, topic string) (*g848Brokers, *g848Tally, func()) {
	etcd := testenv.StartEtcd(t)
	minio := testenv.StartMinIO(t)
	b := &brokerSet{t: t, start: time.Now()}
	b.brokers = append(b.brokers, StartStrata(t, Options{
		EtcdEndpoints: etcd.Endpoint,
		ObjectStore:   minio.S3URL(bucket),
		Args:          []string{"--log-level", "info"},
	}))
	b.clientLog = newRingLog(t, "franz-go clients", 400)
	ensureTopic(t, b.brokers[0], topic, g848Partitions, nil)
	adm := b.client()
	t.Cleanup(adm.Close)
	tally := newG848Tally()
	stop := g848Producer(t, b, tally, topic, 50*time.Millisecond)
	return &g848Brokers{brokerSet: b, adm: adm, dead: map[int]bool{}}, tally, stop
}

// listed is the group's type and state as ListGroups reports them ("" if
// it is not listed).
func (g *g848Brokers) listed(ctx context.Context, group string) (string, error) {
	resp, err := kmsg.NewPtrListGroupsRequest().RequestWith(ctx, g.adm)
	if err != nil {
		return "", err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return "", err
	}
	for _, lg := range resp.Groups {
		if lg.Group == group {
			return lg.GroupType + "/" + lg.GroupState, nil
		}
	}
	return "", nil
}

// settleClassic waits until group is a Stable classic group of n members
// that own every partition of the topic between them.
func (g *g848Brokers) settleClassic(group string, n int) {
	g.t.Helper()
	ctx := testContext(g.t, g848Within)
	var last string
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		typ, err := g.listed(rctx, group)
		var d *kmsg.DescribeGroupsResponseGroup
		if err == nil {
			req := kmsg.NewPtrDescribeGroupsRequest()
			req.Groups = []string{group}
			var resp *kmsg.DescribeGroupsResponse
			if resp, err = req.RequestWith(rctx, g.adm); err == nil && len(resp.Groups) == 1 {
				d = &resp.Groups[0]
			}
		}
		cancel()
		if d != nil {
			owned := 0
			for _, m := range d.Members {
				var a kmsg.ConsumerMemberAssignment
				if a.ReadFrom(m.MemberAssignment) == nil {
					for _, t := range a.Topics {
						owned += len(t.Partitions)
					}
				}
			}
			last = fmt.Sprintf("listed %s, described %s with %d members owning %d partitions (%v)", typ, d.State, len(d.Members), owned, kerr.ErrorForCode(d.ErrorCode))
			if typ == "classic/Stable" && d.ErrorCode == 0 && len(d.Members) == n && owned == g848Partitions {
				g.logf("group %s settled: %s", group, last)
				return
			}
		} else if err != nil {
			last = err.Error()
		}
		if ctx.Err() != nil {
			g.t.Fatalf("classic group %s did not settle with %d members: %s", group, n, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// memberTypes counts a consumer group's members by protocol: classic
// (MemberType 0) and consumer (1).
func memberTypes(d *kmsg.ConsumerGroupDescribeResponseGroup) (classic, consumer int) {
	for _, m := range d.Members {
		switch m.MemberType {
		case 0:
			classic++
		case 1:
			consumer++
		}
	}
	return classic, consumer
}

// drainExactlyOnce stops the producer, waits until the group processed
// every acknowledged record, stops the members, and checks none was
// processed twice.
func drainExactlyOnce(t *testing.T, b *brokerSet, tally *g848Tally, group string, stopProducing func(), members *g848Members) {
	t.Helper()
	stopProducing()
	ctx := testContext(t, g848Within)
	for tally.missing(group) > 0 {
		if ctx.Err() != nil {
			t.Fatalf("group %s did not process %d acknowledged records", group, tally.missing(group))
		}
		time.Sleep(200 * time.Millisecond)
	}
	members.stopAll()
	tally.mu.Lock()
	defer tally.mu.Unlock()
	b.logf("%d records acknowledged; errors seen (retried): %v", len(tally.acked), tally.errs)
	if len(tally.acked) == 0 {
		t.Fatal("no record was acknowledged")
	}
	tally.checkOnce(t, group)
}

// g848Members are the members of one group a test starts and stops by
// name; stopAll stops those left.
type g848Members struct {
	t      *testing.T
	b      *brokerSet
	tally  *g848Tally
	group  string
	topic  string
	byName map[string]*g848Member
}

func (ms *g848Members) start(name string, serverSide bool) {
	ms.byName[name] = startG848Member(ms.t, ms.b, ms.tally, name, ms.group, serverSide, kgo.ConsumeTopics(ms.topic))
}

func (ms *g848Members) stop(name string) {
	ms.byName[name].stop()
	delete(ms.byName, name)
}

func (ms *g848Members) stopAll() {
	for name := range ms.byName {
		ms.stop(name)
	}
}

func TestGroup848Upgrade(t *testing.T) {
	const topic, group = "g848up-topic", "g848up-group"
	gb, tally, stopProducing := migrateSetup(t, "strata-groups848up", topic)
	b := gb.brokerSet
	ms := &g848Members{t: t, b: b, tally: tally, group: group, topic: topic, byName: map[string]*g848Member{}}
	defer ms.stopAll()
	start, stop := ms.start, ms.stop
	for i := range 3 {
		start(fmt.Sprintf("classic-%d", i), false)
	}
	gb.settleClassic(group, 3)

	for i := range 3 {
		b.logf("member new-%d of the consumer protocol joins", i)
		start(fmt.Sprintf("new-%d", i), true)
		d := gb.settle(group, 4, g848Partitions)
		if classic, consumer := memberTypes(d); classic != 3-i || consumer != i+1 {
			t.Fatalf("after new-%d joined: %d classic and %d consumer members, want %d and %d", i, classic, consumer, 3-i, i+1)
		}
		b.logf("classic-%d leaves", i)
		stop(fmt.Sprintf("classic-%d", i))
		gb.settle(group, 3, g848Partitions)
	}
	ctx := testContext(t, g848Within)
	if typ, err := gb.listed(ctx, group); err != nil || typ != "consumer/Stable" {
		t.Errorf("ListGroups lists %s as %q (%v), want consumer/Stable", group, typ, err)
	}
	drainExactlyOnce(t, b, tally, group, stopProducing, ms)
}

func TestGroup848Downgrade(t *testing.T) {
	const topic, group = "g848down-topic", "g848down-group"
	gb, tally, stopProducing := migrateSetup(t, "strata-groups848down", topic)
	b := gb.brokerSet
	ms := &g848Members{t: t, b: b, tally: tally, group: group, topic: topic, byName: map[string]*g848Member{}}
	defer ms.stopAll()
	start, stop := ms.start, ms.stop
	start("new-0", true)
	start("new-1", true)
	gb.settle(group, 2, g848Partitions)
	b.logf("two classic members join the consumer group")
	start("classic-0", false)
	start("classic-1", false)
	d := gb.settle(group, 4, g848Partitions)
	if classic, consumer := memberTypes(d); classic != 2 || consumer != 2 {
		t.Fatalf("%d classic and %d consumer members, want 2 and 2", classic, consumer)
	}
	for _, m := range d.Members {
		owned := 0
		for _, tp := range m.Assignment.TopicPartitions {
			owned += len(tp.Partitions)
		}
		if owned == 0 {
			t.Errorf("member %s (type %d) owns no partition of a 4-member group of %d partitions", m.MemberID, m.MemberType, g848Partitions)
		}
	}
	b.logf("new-0 leaves: the group stays a consumer group")
	stop("new-0")
	gb.settle(group, 3, g848Partitions)
	b.logf("new-1, the last member of the consumer protocol, leaves: the group is classic again")
	stop("new-1")
	gb.settleClassic(group, 2)
	ctx := testContext(t, g848Within)
	req := kmsg.NewPtrConsumerGroupDescribeRequest()
	req.Groups = []string{group}
	if resp, err := req.RequestWith(ctx, gb.adm); err != nil || len(resp.Groups) != 1 || resp.Groups[0].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Errorf("ConsumerGroupDescribe of the downgraded group: %+v, %v; want GROUP_ID_NOT_FOUND", resp, err)
	}
	if got := slices.Sorted(maps.Keys(ms.byName)); !slices.Equal(got, []string{"classic-0", "classic-1"}) {
		t.Fatalf("members left running: %v", got)
	}
	drainExactlyOnce(t, b, tally, group, stopProducing, ms)
}
