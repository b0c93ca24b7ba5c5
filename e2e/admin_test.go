package e2e

import (
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker/brokertest"
)

// TestAdminTopicLifecycle drives the admin APIs with franz-go's kadm, as an
// operator's tooling would: create with configs, describe, alter
// incrementally and wholesale, add partitions, describe the cluster, delete
// and re-create.
func TestAdminTopicLifecycle(t *testing.T) {
	s := StartStrata(t, Options{Args: []string{"--auto-create-topics=false"}})
	ctx := testContext(t, 2*time.Minute)
	cl := s.Client()
	adm := kadm.NewClient(cl)

	created, err := adm.CreateTopic(ctx, 2, -1, map[string]*string{
		"retention.ms":           kadm.StringPtr("3600000"),
		"message.timestamp.type": kadm.StringPtr("LogAppendTime"),
	}, "admin")
	if err != nil || created.Err != nil {
		t.Fatalf("create: %v %v", err, created.Err)
	}
	if created.ID == [16]byte{} {
		t.Fatal("CreateTopics returned no topic id")
	}
	firstID := created.ID

	wantConfig := func(t *testing.T, name, value string, source kmsg.ConfigSource) {
		t.Helper()
		c := brokertest.TopicConfig(t, adm, "admin", name)
		if c.MaybeValue() != value || c.Source != source {
			t.Errorf("%s = %q (source %v), want %q (source %v)", name, c.MaybeValue(), c.Source, value, source)
		}
	}
	wantConfig(t, "retention.ms", "3600000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, "cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig)
	wantConfig(t, "max.message.bytes", "1048588", kmsg.ConfigSourceDefaultConfig)

	// LogAppendTime: the broker's clock replaces the producer's timestamp.
	before := time.Now().Add(-time.Second)
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "admin", Partition: 0, Value: []byte("v"), Timestamp: old}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	got := consumeN(t, s, "admin", 1)
	if got[0].Timestamp.Before(before) {
		t.Errorf("LogAppendTime topic kept the producer's timestamp %v", got[0].Timestamp)
	}

	// Incremental: SET, APPEND to a list, DELETE back to the default.
	resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("1000")},
		{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")},
		{Op: kadm.DeleteConfig, Name: "message.timestamp.type"},
	}, "admin")
	if err != nil || resps[0].Err != nil {
		t.Fatalf("incremental alter: %v %v", err, resps[0].Err)
	}
	wantConfig(t, "retention.ms", "1000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, "cleanup.policy", "delete,compact", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, "message.timestamp.type", "CreateTime", kmsg.ConfigSourceDefaultConfig)

	for _, bad := range []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("soon")},
		{Op: kadm.SetConfig, Name: "no.such.config", Value: kadm.StringPtr("1")},
		{Op: kadm.AppendConfig, Name: "retention.ms", Value: kadm.StringPtr("1")},
	} {
		resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{bad}, "admin")
		if err != nil || !errors.Is(resps[0].Err, kerr.InvalidConfig) {
			t.Errorf("alter %s %v: %v %v, want INVALID_CONFIG", bad.Name, bad.Op, err, resps[0].Err)
		}
	}
	wantConfig(t, "retention.ms", "1000", kmsg.ConfigSourceDynamicTopicConfig) // unchanged by the bad ones

	// Non-incremental AlterConfigs replaces the whole set.
	resps, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "segment.ms", Value: kadm.StringPtr("60000")}}, "admin")
	if err != nil || resps[0].Err != nil {
		t.Fatalf("alter: %v %v", err, resps[0].Err)
	}
	wantConfig(t, "segment.ms", "60000", kmsg.ConfigSourceDynamicTopicConfig)
	wantConfig(t, "retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)

	// Partitions only grow; new ones take records at once.
	cps, err := adm.CreatePartitions(ctx, 2, "admin")
	if err != nil || cps["admin"].Err != nil {
		t.Fatalf("create partitions: %v %v", err, cps["admin"].Err)
	}
	md, err := adm.Metadata(ctx, "admin")
	if err != nil || len(md.Topics["admin"].Partitions) != 4 {
		t.Fatalf("metadata after adding partitions: %v %+v", err, md.Topics["admin"])
	}
	// A new client, so that it sees the four partitions at once.
	manual := s.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if r, err := manual.ProduceSync(ctx, &kgo.Record{Topic: "admin", Partition: 3, Value: []byte("p3")}).First(); err != nil || r.Partition != 3 {
		t.Fatalf("produce to a new partition: %v", err)
	}
	cps, err = adm.UpdatePartitions(ctx, 3, "admin")
	if err != nil || !errors.Is(cps["admin"].Err, kerr.InvalidPartitions) {
		t.Errorf("shrinking partitions: %v %v, want INVALID_PARTITIONS", err, cps["admin"].Err)
	}

	// The cluster as DescribeCluster and broker configs describe it.
	dc, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl)
	if err != nil || dc.ErrorCode != 0 {
		t.Fatalf("describe cluster: %v %d", err, dc.ErrorCode)
	}
	host, port, _ := net.SplitHostPort(s.Addr)
	if dc.ClusterID == "" || len(dc.Brokers) != 1 || dc.Brokers[0].Host != host || strconv.Itoa(int(dc.Brokers[0].Port)) != port || dc.ControllerID != dc.Brokers[0].NodeID {
		t.Errorf("describe cluster: %+v", dc)
	}
	bcs, err := adm.DescribeBrokerConfigs(ctx, dc.Brokers[0].NodeID)
	if err != nil || len(bcs) != 1 || bcs[0].Err != nil {
		t.Fatalf("describe broker configs: %v %+v", err, bcs)
	}
	found := false
	for _, c := range bcs[0].Configs {
		if c.Key == "auto.create.topics.enable" {
			found = c.MaybeValue() == "false"
		}
	}
	if !found {
		t.Errorf("broker configs do not say auto.create.topics.enable=false: %+v", bcs[0].Configs)
	}

	// Delete, then the name is unknown; re-create gives a new id and offsets from 0.
	dts, err := adm.DeleteTopics(ctx, "admin")
	if err != nil || dts["admin"].Err != nil {
		t.Fatalf("delete: %v %v", err, dts["admin"].Err)
	}
	md, err = adm.Metadata(ctx, "admin")
	if err != nil || !errors.Is(md.Topics["admin"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("metadata after delete: %v %v", err, md.Topics["admin"].Err)
	}
	dts, err = adm.DeleteTopics(ctx, "admin")
	if err != nil || !errors.Is(dts["admin"].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("deleting twice: %v %v, want UNKNOWN_TOPIC_OR_PARTITION", err, dts["admin"].Err)
	}
	created, err = adm.CreateTopic(ctx, 1, -1, nil, "admin")
	if err != nil || created.Err != nil || created.ID == firstID {
		t.Fatalf("re-create: %v %v (id %v, first %v)", err, created.Err, created.ID, firstID)
	}
	cl.PurgeTopicsFromClient("admin")
	res := cl.ProduceSync(ctx, &kgo.Record{Topic: "admin", Value: []byte("again")})
	if r, err := res.First(); err != nil || r.Offset != 0 {
		t.Fatalf("produce to the re-created topic: offset %v, %v", r, err)
	}
}

// consumeN reads n records of topic from the start, with a fresh client.
func consumeN(t *testing.T, s *Strata, topic string, n int) []*kgo.Record {
	t.Helper()
	ctx := testContext(t, time.Minute)
	cl := s.Client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records of %s", len(out), n, topic)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Logf("fetch: %v", err) })
		out = append(out, fs.Records()...)
	}
	return out
}

// TestAdminTopicAboveTenThousandPartitions grows a topic past 10,000
// partitions as Kafka lets one: at most 10,000 new partitions per request
// (POLICY_VIOLATION above, for CreateTopics and CreatePartitions alike,
// creating nothing), as many requests as it takes. Every partition is led
// and the last one takes and serves records.
func TestAdminTopicAboveTenThousandPartitions(t *testing.T) {
	const topic, first, total = "wide", 10_000, 12_001
	s := StartStrata(t, Options{Args: []string{"--auto-create-topics=false"}})
	ctx := testContext(t, 4*time.Minute)
	cl := s.Client()
	adm := kadm.NewClient(cl)

	// One request over the bound, in two topics: neither is created.
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 60_000
	for _, name := range []string{"over-a", "over-b"} {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 5_001, -1
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range resp.Topics {
		if rt.ErrorCode != kerr.PolicyViolation.Code {
			t.Errorf("CreateTopics of 10,002 partitions in one request: %s got %v, want POLICY_VIOLATION", rt.Topic, kerr.ErrorForCode(rt.ErrorCode))
		}
	}
	if tds, err := adm.ListTopics(ctx); err != nil || tds.Has("over-a") || tds.Has("over-b") {
		t.Fatalf("a refused request created topics: %v %v", err, tds.Names())
	}

	if created, err := adm.CreateTopic(ctx, first, -1, nil, topic); err != nil || created.Err != nil {
		t.Fatalf("create %d partitions: %v %v", first, err, created.Err)
	}
	cps, err := adm.CreatePartitions(ctx, 10_001, topic)
	if err != nil || !errors.Is(cps[topic].Err, kerr.PolicyViolation) {
		t.Fatalf("adding 10,001 partitions in one request: %v %v, want POLICY_VIOLATION", err, cps[topic].Err)
	}
	if cps, err = adm.CreatePartitions(ctx, total-first, topic); err != nil || cps[topic].Err != nil {
		t.Fatalf("growing to %d partitions: %v %v", total, err, cps[topic].Err)
	}

	// Metadata shows every partition, each led.
	for {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		td := md.Topics[topic]
		if len(td.Partitions) != total {
			t.Fatalf("metadata shows %d partitions, want %d", len(td.Partitions), total)
		}
		unled := 0
		for _, p := range td.Partitions {
			if p.Leader < 0 || p.Err != nil {
				unled++
			}
		}
		if unled == 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%d partitions still without a leader", unled)
		}
		time.Sleep(200 * time.Millisecond)
	}
	manual := s.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if r, err := manual.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: total - 1, Value: []byte("last")}).First(); err != nil || r.Partition != total-1 {
		t.Fatalf("produce to partition %d: %v", total-1, err)
	}
	c, err := kgo.NewClient(kgo.SeedBrokers(s.Addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {total - 1: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fs := c.PollFetches(ctx)
	if err := fs.Err(); err != nil {
		t.Fatal(err)
	}
	if rs := fs.Records(); len(rs) != 1 || string(rs[0].Value) != "last" || rs[0].Partition != total-1 {
		t.Fatalf("consumed %d records from partition %d, want the one produced", len(rs), total-1)
	}
}
