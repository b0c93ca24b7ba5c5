package broker_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/broker/brokertest"
	"github.com/strata-io/strata/internal/testenv"
	"github.com/strata-io/strata/objectstore"
)

// startBrokers starts n brokers on one etcd and one bucket, and a client
// seeded with all of them.
func startBrokers(t *testing.T, n int) ([]*brokertest.Broker, *kgo.Client) {
	t.Helper()
	etcd := testenv.StartEtcd(t)
	bucket := objectstore.NewMem()
	shared := func(c *broker.Config) { c.EtcdEndpoints, c.Bucket = []string{etcd.Endpoint}, bucket }
	var bs []*brokertest.Broker
	var seeds []string
	for range n {
		b := brokertest.Start(t, shared)
		bs = append(bs, b)
		seeds = append(seeds, b.Addr())
	}
	// Every broker sees them all before the test names them.
	for _, b := range bs {
		c := b.Dial(t)
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			req := kmsg.NewPtrMetadataRequest()
			req.SetVersion(12)
			if len(c.RoundTrip(req).(*kmsg.MetadataResponse).Brokers) == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("broker %d does not see %d brokers", b.ID(), n)
			}
		}
	}
	return bs, bs[0].Client(t, kgo.SeedBrokers(seeds...))
}

// createAssigned creates topic with the given replica lists by partition
// and returns the topic's error.
func createAssigned(t *testing.T, cl *kgo.Client, topic string, replicas [][]int32, partitions int32, rf int16) *kmsg.CreateTopicsResponseTopic {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 10000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, partitions, rf
	for p, r := range replicas {
		ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		ra.Partition, ra.Replicas = int32(p), r
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(t.Context(), cl)
	if err != nil {
		t.Fatalf("create %s: %v", topic, err)
	}
	return &resp.Topics[0]
}

// awaitLeaders waits until Metadata says partition p of topic is led by want[p].
func awaitLeaders(t *testing.T, adm *kadm.Client, topic string, want []int32) {
	t.Helper()
	var got []int32
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		md, err := adm.Metadata(t.Context(), topic)
		if err != nil {
			continue
		}
		got = make([]int32, len(want))
		for _, p := range md.Topics[topic].Partitions {
			if int(p.Partition) < len(got) {
				got[p.Partition] = p.Leader
				if p.Leader >= 0 && (!slices.Equal(p.Replicas, []int32{p.Leader}) || !slices.Equal(p.ISR, []int32{p.Leader})) {
					t.Fatalf("partition %d: replicas %v, isr %v; want only the leader %d", p.Partition, p.Replicas, p.ISR, p.Leader)
				}
			}
		}
		if slices.Equal(got, want) {
			return
		}
	}
	t.Fatalf("leaders of %s = %v, want %v", topic, got, want)
}

// TestCreateTopicsAssignment: a replica assignment makes its first broker
// each partition's leader, whatever the balance; bad assignments get
// Kafka's errors; an election for a partition whose preferred leader is
// gone is PREFERRED_LEADER_NOT_AVAILABLE.
func TestCreateTopicsAssignment(t *testing.T) {
	bs, cl := startBrokers(t, 3)
	adm := kadm.NewClient(cl)
	n3, n2 := bs[2].ID(), bs[1].ID()
	if rt := createAssigned(t, cl, "pinned", [][]int32{{n3, n2}, {n3, n2}, {n2, n3}}, -1, -1); rt.ErrorCode != 0 {
		t.Fatalf("create: %v %v", kerr.ErrorForCode(rt.ErrorCode), rt.ErrorMessage)
	} else if rt.NumPartitions != 3 || rt.ReplicationFactor != 1 {
		t.Errorf("created with %d partitions, rf %d; want 3, 1", rt.NumPartitions, rt.ReplicationFactor)
	}
	awaitLeaders(t, adm, "pinned", []int32{n3, n3, n2})

	for _, tc := range []struct {
		name         string
		replicas     [][]int32
		partitions   int32
		rf           int16
		want         *kerr.Error
		wantMsgStart string
	}{
		{"unknown broker", [][]int32{{n3}, {999}}, -1, -1, kerr.InvalidReplicaAssignment, "The manual partition assignment includes broker 999, but no such broker is registered."},
		{"broker twice", [][]int32{{n3, n3}}, -1, -1, kerr.InvalidReplicaAssignment, "The manual partition assignment includes the broker"},
		{"empty list", [][]int32{{}}, -1, -1, kerr.InvalidReplicaAssignment, "The manual partition assignment includes an empty replica list."},
		{"uneven lists", [][]int32{{n3}, {n3, n2}}, -1, -1, kerr.InvalidReplicaAssignment, "The manual partition assignment includes a partition with 2 replica(s)"},
		{"with a partition count", [][]int32{{n3}}, 1, -1, kerr.InvalidRequest, "Both numPartitions or replicationFactor and replicasAssignments were set."},
	} {
		rt := createAssigned(t, cl, "bad", tc.replicas, tc.partitions, tc.rf)
		msg := ""
		if rt.ErrorMessage != nil {
			msg = *rt.ErrorMessage
		}
		if err := kerr.ErrorForCode(rt.ErrorCode); err != tc.want || len(msg) < len(tc.wantMsgStart) || msg[:len(tc.wantMsgStart)] != tc.wantMsgStart {
			t.Errorf("%s: %v %q, want %v %q…", tc.name, err, msg, tc.want, tc.wantMsgStart)
		}
	}

	// CreatePartitions with an assignment.
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.TimeoutMillis = 10000
	rt := kmsg.NewCreatePartitionsRequestTopic()
	rt.Topic, rt.Count = "pinned", 4
	a := kmsg.NewCreatePartitionsRequestTopicAssignment()
	a.Replicas = []int32{n2, n3}
	rt.Assignment = append(rt.Assignment, a)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(t.Context(), cl)
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create partitions: %v %v", err, resp)
	}
	awaitLeaders(t, adm, "pinned", []int32{n3, n3, n2, n2})

	// Every partition led by its preferred leader: nothing to elect.
	res, err := adm.ElectLeaders(t.Context(), kadm.ElectPreferredReplica, kadm.TopicsSet{"pinned": {0: {}, 1: {}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res["pinned"] {
		if !errors.Is(r.Err, kerr.ElectionNotNeeded) {
			t.Errorf("elect %d: %v, want ELECTION_NOT_NEEDED", r.Partition, r.Err)
		}
	}

	// Broker 3 leaves: its partitions go elsewhere, and electing it is
	// PREFERRED_LEADER_NOT_AVAILABLE.
	if err := bs[2].Close(); err != nil {
		t.Fatal(err)
	}
	res, err = adm.ElectLeaders(t.Context(), kadm.ElectPreferredReplica, kadm.TopicsSet{"pinned": {0: {}}, "nosuch": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if r := res["pinned"][0]; !errors.Is(r.Err, kerr.PreferredLeaderNotAvailable) {
		t.Errorf("elect with its preferred leader gone: %v, want PREFERRED_LEADER_NOT_AVAILABLE", r.Err)
	}
	if r := res["nosuch"][0]; !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("elect unknown topic: %v, want UNKNOWN_TOPIC_OR_PARTITION", r.Err)
	}
}

// TestReassignMovesLeadership: reassignments move partitions between two
// brokers by hand-off while an idempotent acks=all producer runs: it sees
// no error but retriable ones and every acknowledged record is there once.
func TestReassignMovesLeadership(t *testing.T) {
	bs, cl := startBrokers(t, 2)
	adm := kadm.NewClient(cl)
	n1, n2 := bs[0].ID(), bs[1].ID()
	if rt := createAssigned(t, cl, "moving", [][]int32{{n1}, {n1}}, -1, -1); rt.ErrorCode != 0 {
		t.Fatalf("create: %v", kerr.ErrorForCode(rt.ErrorCode))
	}
	awaitLeaders(t, adm, "moving", []int32{n1, n1})

	prod := bs[0].Client(t, kgo.SeedBrokers(bs[0].Addr(), bs[1].Addr()), kgo.DefaultProduceTopic("moving"),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.RecordRetries(1000))
	var acked atomic.Int64
	var failed sync.Map
	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			r := prod.ProduceSync(ctx, kgo.StringRecord("v"))
			if err := r.FirstErr(); err != nil {
				if ctx.Err() == nil {
					failed.Store(err.Error(), true)
				}
				continue
			}
			acked.Add(1)
		}
	}()
	time.Sleep(200 * time.Millisecond)

	var req kadm.AlterPartitionAssignmentsReq
	req.Assign("moving", 0, []int32{n2, n1})
	ares, err := adm.AlterPartitionAssignments(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if err := ares.Error(); err != nil {
		t.Fatalf("reassign: %v", err)
	}
	awaitLeaders(t, adm, "moving", []int32{n2, n1})
	lres, err := adm.ListPartitionReassignments(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(lres) != 0 {
		t.Errorf("reassignments listed after the move: %v", lres)
	}
	// And back: a reassignment, then the election waits for it.
	req = nil
	req.Assign("moving", 0, []int32{n1})
	req.Assign("moving", 1, []int32{n2})
	if ares, err = adm.AlterPartitionAssignments(t.Context(), req); err != nil || ares.Error() != nil {
		t.Fatalf("reassign back: %v %v", err, ares.Error())
	}
	eres, err := adm.ElectLeaders(t.Context(), kadm.ElectPreferredReplica, kadm.TopicsSet{"moving": {0: {}, 1: {}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range eres["moving"] {
		if r.Err != nil && !errors.Is(r.Err, kerr.ElectionNotNeeded) {
			t.Errorf("elect %d: %v", r.Partition, r.Err)
		}
	}
	awaitLeaders(t, adm, "moving", []int32{n1, n2})
	time.Sleep(200 * time.Millisecond)
	stop()
	wg.Wait()

	failed.Range(func(k, _ any) bool {
		t.Errorf("produce error: %v", k)
		return true
	})
	// Cancelling a reassignment that is over: NO_REASSIGNMENT_IN_PROGRESS.
	req = nil
	req.CancelAssign("moving", 0)
	ares, err = adm.AlterPartitionAssignments(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	if err := ares.Error(); !errors.Is(err, kerr.NoReassignmentInProgress) {
		t.Errorf("cancel after the move: %v, want NO_REASSIGNMENT_IN_PROGRESS", err)
	}

	offs, err := adm.ListEndOffsets(t.Context(), "moving")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	offs.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != acked.Load() || total == 0 {
		t.Errorf("end offsets sum to %d, %d acknowledged", total, acked.Load())
	}
}

// TestDescribeLogDirs: the broker's one log dir lists each partition it
// leads with the bytes produced to it, and its file system's sizes.
func TestDescribeLogDirs(t *testing.T) {
	b := brokertest.Start(t)
	createTopic(t, b, "sizes", 2, nil)
	c := b.Dial(t)
	want := map[int32]int64{}
	for i, n := range []int{1, 7, 30, 2} {
		p := int32(i % 2)
		raw := records(t, sized(plain(n, 1000), 100+i))
		if rp := produce(t, c, -1, "sizes", p, raw); rp.ErrorCode != 0 {
			t.Fatalf("produce: %v", kerr.ErrorForCode(rp.ErrorCode))
		}
		want[p] += int64(len(raw))
	}
	dirs, err := b.Admin(t).DescribeAllLogDirs(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs[b.ID()]) != 1 {
		t.Fatalf("log dirs = %+v, want one, the data dir", dirs)
	}
	var d kadm.DescribedLogDir
	for _, d = range dirs[b.ID()] {
	}
	if d.Err != nil || d.Dir == "" {
		t.Fatalf("log dir %+v", d)
	}
	if d.TotalBytes <= 0 || d.UsableBytes <= 0 || d.UsableBytes > d.TotalBytes {
		t.Errorf("total %d, usable %d bytes", d.TotalBytes, d.UsableBytes)
	}
	for p, size := range want {
		got, ok := d.Topics["sizes"][p]
		if !ok || got.Size != size || got.IsFuture || got.OffsetLag != 0 {
			t.Errorf("partition %d: %+v, want size %d", p, got, size)
		}
	}

	// DESCRIBE on the cluster is needed: without ACLs, anyone may.
	req := kmsg.NewPtrDescribeLogDirsRequest()
	rt := kmsg.NewDescribeLogDirsRequestTopic()
	rt.Topic, rt.Partitions = "sizes", []int32{1, 5}
	req.Topics = append(req.Topics, rt)
	resp := c.RoundTrip(req).(*kmsg.DescribeLogDirsResponse)
	if len(resp.Dirs) != 1 || len(resp.Dirs[0].Topics) != 1 || len(resp.Dirs[0].Topics[0].Partitions) != 1 || resp.Dirs[0].Topics[0].Partitions[0].Size != want[1] {
		t.Errorf("describe partitions 1 and 5: %+v", resp.Dirs)
	}
}

// TestDescribeTopicPartitions: pages of at most the limit, each cursor
// naming the first partition left, cover every partition once.
func TestDescribeTopicPartitions(t *testing.T) {
	b := brokertest.Start(t)
	createTopic(t, b, "dtp-a", 3, nil)
	createTopic(t, b, "dtp-b", 2, nil)
	c := b.Dial(t)
	page := func(cursor *kmsg.DescribeTopicPartitionsRequestCursor, limit int32, topics ...string) *kmsg.DescribeTopicPartitionsResponse {
		req := kmsg.NewPtrDescribeTopicPartitionsRequest()
		req.ResponsePartitionLimit, req.Cursor = limit, cursor
		for _, name := range topics {
			rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
			rt.Topic = name
			req.Topics = append(req.Topics, rt)
		}
		return c.RoundTrip(req).(*kmsg.DescribeTopicPartitionsResponse)
	}
	var got []string
	var cursor *kmsg.DescribeTopicPartitionsRequestCursor
	for range 10 {
		resp := page(cursor, 2, "dtp-b", "dtp-a", "dtp-none")
		for _, rt := range resp.Topics {
			if *rt.Topic == "dtp-none" {
				if rt.ErrorCode != kerr.UnknownTopicOrPartition.Code {
					t.Errorf("unknown topic: %v", kerr.ErrorForCode(rt.ErrorCode))
				}
				continue
			}
			for _, p := range rt.Partitions {
				if p.ErrorCode != 0 || p.LeaderID != b.ID() || !slices.Equal(p.Replicas, []int32{b.ID()}) || !slices.Equal(p.ISR, []int32{b.ID()}) {
					t.Errorf("%s/%d: %+v", *rt.Topic, p.Partition, p)
				}
				got = append(got, *rt.Topic+"/"+string(rune('0'+p.Partition)))
			}
		}
		if n := len(resp.Topics); n > 0 && resp.NextCursor != nil && len(resp.Topics[n-1].Partitions) > 2 {
			t.Errorf("page over its limit: %+v", resp.Topics)
		}
		if resp.NextCursor == nil {
			break
		}
		cursor = &kmsg.DescribeTopicPartitionsRequestCursor{Topic: resp.NextCursor.Topic, Partition: resp.NextCursor.Partition}
	}
	want := []string{"dtp-a/0", "dtp-a/1", "dtp-a/2", "dtp-b/0", "dtp-b/1"}
	if !slices.Equal(got, want) {
		t.Errorf("pages listed %v, want %v", got, want)
	}
	resp := page(&kmsg.DescribeTopicPartitionsRequestCursor{Topic: "elsewhere"}, 0, "dtp-a")
	if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("cursor not in the request: %+v", resp.Topics)
	}
}
