package broker_test

// Handler tests through an in-process broker (brokertest): each asserts what
// Kafka promises a client, not how Strata keeps the promise.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker/brokertest"
	"github.com/strata-io/strata/internal/batch/batchtest"
)

func ptr[T any](v T) *T { return &v }

func TestProduceAcks(t *testing.T) {
	b := brokertest.Start(t)
	createTopic(t, b, "acks", 1, nil)
	c := b.Dial(t)
	// In order on one connection: each batch's base offset follows the
	// batches before it, the acks=0 one included, which gets no response.
	cases := []struct {
		acks     int16
		wantBase int64
	}{
		{acks: 1, wantBase: 0},
		{acks: 0},
		{acks: -1, wantBase: 6},
		{acks: 1, wantBase: 9},
	}
	for _, tc := range cases {
		sp := produce(t, c, tc.acks, "acks", 0, records(t, plain(3, 1_000)))
		if tc.acks == 0 {
			if sp != nil {
				t.Fatalf("acks=0 got a response")
			}
			continue
		}
		wantCode(t, "produce", sp.ErrorCode, nil)
		if sp.BaseOffset != tc.wantBase {
			t.Errorf("acks=%d: base offset %d, want %d", tc.acks, sp.BaseOffset, tc.wantBase)
		}
		if tc.acks == -1 {
			// acks=all answers once the batch is committed: the high
			// watermark has passed it.
			if lo := listOffset(t, c, "acks", 0, -1); lo.Offset < tc.wantBase+3 {
				t.Errorf("acks=all answered at high watermark %d, before the batch's end %d", lo.Offset, tc.wantBase+3)
			}
		}
	}
}

func TestProduceIdempotentRetry(t *testing.T) {
	b := brokertest.Start(t)
	createTopic(t, b, "idem", 1, nil)
	c := b.Dial(t)
	initReq := kmsg.NewPtrInitProducerIDRequest()
	initReq.TransactionTimeoutMillis = 60_000
	ir := c.RoundTrip(initReq).(*kmsg.InitProducerIDResponse)
	wantCode(t, "InitProducerID", ir.ErrorCode, nil)

	wantCode(t, "plain produce", produce(t, c, -1, "idem", 0, records(t, plain(2, 1_000))).ErrorCode, nil)
	first := records(t, batchtest.Idempotent(ir.ProducerID, ir.ProducerEpoch, 0, 3))
	steps := []struct {
		name     string
		records  []byte
		wantBase int64
	}{
		{"first batch", first, 2},
		{"retry of the first batch", first, 2},
		{"next batch", records(t, batchtest.Idempotent(ir.ProducerID, ir.ProducerEpoch, 3, 1)), 5},
		{"retry of the first batch after the next", first, 2},
	}
	for _, s := range steps {
		sp := produce(t, c, -1, "idem", 0, s.records)
		wantCode(t, s.name, sp.ErrorCode, nil)
		if sp.BaseOffset != s.wantBase {
			t.Errorf("%s: base offset %d, want %d", s.name, sp.BaseOffset, s.wantBase)
		}
	}
	// A retry is not written twice.
	if lo := listOffset(t, c, "idem", 0, -1); lo.Offset != 6 {
		t.Errorf("high watermark %d after 6 records, want 6", lo.Offset)
	}
}

func TestProduceRejected(t *testing.T) {
	b := brokertest.Start(t)
	createTopic(t, b, "small", 1, map[string]*string{"max.message.bytes": ptr("1024")})
	c := b.Dial(t)
	cases := []struct {
		name    string
		topic   string
		records []byte
		want    error
	}{
		{"batch within max.message.bytes", "small", records(t, sized(plain(1, 1_000), 100)), nil},
		{"batch over max.message.bytes", "small", records(t, sized(plain(1, 1_000), 2048)), kerr.MessageTooLarge},
		{"internal topic", "__consumer_offsets", records(t, plain(1, 1_000)), kerr.InvalidTopicException},
		{"unknown partition", "nosuch", records(t, plain(1, 1_000)), kerr.UnknownTopicOrPartition},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, acks := range []int16{1, -1} {
				sp := produce(t, c, acks, tc.topic, 0, tc.records)
				wantCode(t, tc.name, sp.ErrorCode, tc.want)
				if tc.want != nil && sp.BaseOffset != -1 {
					t.Errorf("rejected produce answered base offset %d, want -1", sp.BaseOffset)
				}
			}
		})
	}
}

func TestFetch(t *testing.T) {
	b := brokertest.Start(t)
	createTopic(t, b, "fetch", 1, nil)
	c := b.Dial(t)
	for range 2 {
		wantCode(t, "produce", produce(t, c, -1, "fetch", 0, records(t, plain(3, 1_000))).ErrorCode, nil)
	}

	cases := []struct {
		name    string
		offset  int64
		want    []int64
		wantErr error
	}{
		{"from the start", 0, []int64{0, 1, 2, 3, 4, 5}, nil},
		// A batch is returned whole: a fetch inside it starts at its first record.
		{"inside a batch", 4, []int64{3, 4, 5}, nil},
		{"at the high watermark", 6, nil, nil},
		{"past the high watermark", 7, nil, kerr.OffsetOutOfRange},
		{"far past the high watermark", 1_000, nil, kerr.OffsetOutOfRange},
		{"before the log start", -5, nil, kerr.OffsetOutOfRange},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fp := fetch(t, c, "fetch", 0, tc.offset, 10*time.Millisecond)
			wantCode(t, "fetch", fp.ErrorCode, tc.wantErr)
			if tc.wantErr != nil {
				return
			}
			if fp.HighWatermark != 6 {
				t.Errorf("high watermark %d, want 6", fp.HighWatermark)
			}
			if got := recordOffsets(t, fp.RecordBatches); !slices.Equal(got, tc.want) {
				t.Errorf("fetched offsets %v, want %v", got, tc.want)
			}
		})
	}
}

// TestFetchWaitsForData: a fetch at the high watermark with MinBytes 1
// does not answer empty before its MaxWaitMs: it answers with what is
// produced meanwhile.
func TestFetchWaitsForData(t *testing.T) {
	b := brokertest.Start(t)
	createTopic(t, b, "wait", 1, nil)
	c := b.Dial(t)
	// MaxWaitMs far longer than the test takes: only new data ends it.
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(fetchVersion)
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 10*60_000, 1, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "wait"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = 1<<20, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	c.Send(req)

	p := b.Dial(t)
	wantCode(t, "produce", produce(t, p, -1, "wait", 0, records(t, plain(2, 1_000))).ErrorCode, nil)
	resp := c.Receive(req).(*kmsg.FetchResponse)
	fp := resp.Topics[0].Partitions[0]
	wantCode(t, "fetch", fp.ErrorCode, nil)
	if got := recordOffsets(t, fp.RecordBatches); !slices.Equal(got, []int64{0, 1}) {
		t.Errorf("long-polling fetch returned offsets %v, want [0 1]", got)
	}
}

func TestListOffsets(t *testing.T) {
	b := brokertest.Start(t)
	createTopic(t, b, "times", 1, nil)
	c := b.Dial(t)
	// Offsets 0-2 at 1000-1002, 3-4 at 5000-5001.
	wantCode(t, "produce", produce(t, c, -1, "times", 0, records(t, plain(3, 1_000))).ErrorCode, nil)
	wantCode(t, "produce", produce(t, c, -1, "times", 0, records(t, plain(2, 5_000))).ErrorCode, nil)

	cases := []struct {
		name       string
		timestamp  int64
		wantOffset int64
		wantTime   int64
	}{
		{"earliest", -2, 0, -1},
		{"latest", -1, 5, -1},
		{"before every record", 0, 0, 1_000},
		{"the first record's time", 1_000, 0, 1_000},
		{"inside a batch", 1_001, 1, 1_001},
		{"between batches", 2_000, 3, 5_000},
		{"the last record's time", 5_001, 4, 5_001},
		{"after every record", 5_002, -1, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lo := listOffset(t, c, "times", 0, tc.timestamp)
			wantCode(t, "list offsets", lo.ErrorCode, nil)
			if lo.Offset != tc.wantOffset || (tc.timestamp >= 0 && lo.Timestamp != tc.wantTime) {
				t.Errorf("timestamp %d: offset %d at %d, want %d at %d", tc.timestamp, lo.Offset, lo.Timestamp, tc.wantOffset, tc.wantTime)
			}
		})
	}
	t.Run("unknown partition", func(t *testing.T) {
		wantCode(t, "list offsets", listOffset(t, c, "times", 1, -1).ErrorCode, kerr.UnknownTopicOrPartition)
	})
}

func TestMetadataAutoCreate(t *testing.T) {
	cases := []struct {
		name        string
		autoCreate  bool // the broker's auto.create.topics.enable
		allow       bool // the request's AllowAutoTopicCreation
		wantCreated bool
	}{
		{"broker off, request allows", false, true, false},
		{"broker on, request disallows", true, false, false},
		{"broker on, request allows", true, true, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := brokertest.Start(t, brokertest.AutoCreateTopics(tc.autoCreate), brokertest.Partitions(2))
			cl := b.Client(t)
			req := kmsg.NewPtrMetadataRequest()
			mt := kmsg.NewMetadataRequestTopic()
			mt.Topic = ptr("auto")
			req.Topics = append(req.Topics, mt)
			req.AllowAutoTopicCreation = tc.allow
			resp, err := req.RequestWith(context.Background(), cl)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Topics) != 1 {
				t.Fatalf("metadata for one topic answered %d", len(resp.Topics))
			}
			code := resp.Topics[0].ErrorCode
			if !tc.wantCreated {
				wantCode(t, "metadata", code, kerr.UnknownTopicOrPartition)
			} else if err := kerr.ErrorForCode(code); err != nil && err != kerr.LeaderNotAvailable {
				t.Errorf("metadata of an auto-created topic: %v", err)
			}
			// Whether it was created shows in a listing.
			topics, err := kadm.NewClient(cl).ListTopics(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got := topics.Has("auto"); got != tc.wantCreated {
				t.Errorf("topic exists: %v, want %v", got, tc.wantCreated)
			} else if got && len(topics["auto"].Partitions) != 2 {
				t.Errorf("auto-created topic has %d partitions, want the default 2", len(topics["auto"].Partitions))
			}
		})
	}
}

func TestCreateAndDeleteTopics(t *testing.T) {
	b := brokertest.Start(t)
	adm := b.Admin(t)
	ctx := context.Background()
	createTopic(t, b, "exists", 1, nil)

	creates := []struct {
		name       string
		topic      string
		partitions int32
		configs    map[string]*string
		want       error
	}{
		{"new topic", "fresh", 3, nil, nil},
		{"exists", "exists", 1, nil, kerr.TopicAlreadyExists},
		{"space in the name", "bad name", 1, nil, kerr.InvalidTopicException},
		{"dot", ".", 1, nil, kerr.InvalidTopicException},
		{"empty name", "", 1, nil, kerr.InvalidTopicException},
		{"zero partitions", "zero", 0, nil, kerr.InvalidPartitions},
		{"unknown config", "badconfig", 1, map[string]*string{"no.such.config": ptr("1")}, kerr.InvalidConfig},
		{"bad config value", "badvalue", 1, map[string]*string{"retention.ms": ptr("soon")}, kerr.InvalidConfig},
	}
	for _, tc := range creates {
		t.Run("create/"+tc.name, func(t *testing.T) {
			// kadm returns the topic's error as its own.
			_, err := adm.CreateTopic(ctx, tc.partitions, -1, tc.configs, tc.topic)
			if !errors.Is(err, tc.want) {
				t.Errorf("create %q: %v, want %v", tc.topic, err, tc.want)
			}
		})
	}

	deletes := []struct {
		name  string
		topic string
		want  error
	}{
		{"existing topic", "exists", nil},
		{"deleted topic", "exists", kerr.UnknownTopicOrPartition},
		{"unknown topic", "nosuch", kerr.UnknownTopicOrPartition},
		{"internal topic", "__consumer_offsets", kerr.InvalidTopicException},
	}
	for _, tc := range deletes {
		t.Run("delete/"+tc.name, func(t *testing.T) {
			_, err := adm.DeleteTopic(ctx, tc.topic)
			if !errors.Is(err, tc.want) {
				t.Errorf("delete %q: %v, want %v", tc.topic, err, tc.want)
			}
		})
	}
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if topics.Has("exists") || !topics.Has("fresh") {
		t.Errorf("after the deletes the topics are %v, want fresh and not exists", topics.Names())
	}
}

// TestOffsetCommitPipelined: requests pipelined on one connection are
// answered in order, and an OffsetFetch reads the commits sent before it.
func TestOffsetCommitPipelined(t *testing.T) {
	b := brokertest.Start(t)
	createTopic(t, b, "offsets", 2, nil)
	c := b.Dial(t)
	commit := func(offset int64, topic string) *kmsg.OffsetCommitRequest {
		return offsetCommit(8, "pipelined", topic, offset)
	}
	fetchOffsets := offsetFetchReq(7, "pipelined", "offsets", false)

	// The group's coordinator shard loads after start-up; a client retries
	// COORDINATOR_LOAD_IN_PROGRESS, so wait for it before pipelining.
	fetchLoaded(t, c, offsetFetchReq(7, "pipelined", "", false))

	reqs := []struct {
		req  *kmsg.OffsetCommitRequest
		want error
	}{
		{commit(5, "offsets"), nil},
		{commit(9, "nosuch"), kerr.UnknownTopicOrPartition},
		{commit(7, "offsets"), nil},
	}
	for _, r := range reqs {
		c.Send(r.req)
	}
	c.Send(fetchOffsets)
	for i, r := range reqs {
		resp := c.Receive(r.req).(*kmsg.OffsetCommitResponse)
		wantCode(t, fmt.Sprintf("commit %d", i), resp.Topics[0].Partitions[0].ErrorCode, r.want)
	}
	resp := c.Receive(fetchOffsets).(*kmsg.OffsetFetchResponse)
	wantCode(t, "offset fetch", resp.ErrorCode, nil)
	got := map[int32]int64{}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			wantCode(t, "offset fetch partition", rp.ErrorCode, nil)
			got[rp.Partition] = rp.Offset
		}
	}
	// The last commit wins; a partition never committed reads -1.
	if want := map[int32]int64{0: 7, 1: -1}; got[0] != want[0] || got[1] != want[1] || len(got) != 2 {
		t.Errorf("fetched offsets %v, want %v", got, want)
	}

	t.Run("unknown group", func(t *testing.T) {
		resp := c.RoundTrip(offsetFetchReq(7, "nosuch", "offsets", false)).(*kmsg.OffsetFetchResponse)
		wantCode(t, "offset fetch", resp.ErrorCode, nil)
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if rp.Offset != -1 {
					t.Errorf("partition %d of an unknown group: offset %d, want -1", rp.Partition, rp.Offset)
				}
			}
		}
	})
}

// TestConsumerGroup drives JoinGroup, SyncGroup, Heartbeat, OffsetCommit
// and LeaveGroup through kgo's group consumer: a group's only member is
// assigned every partition and reads every record.
func TestConsumerGroup(t *testing.T) {
	b := brokertest.Start(t)
	const partitions = 3
	createTopic(t, b, "grouped", partitions, nil)
	ctx := context.Background()

	prod := b.Client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var records []*kgo.Record
	for p := range int32(partitions) {
		records = append(records, &kgo.Record{Topic: "grouped", Partition: p, Value: []byte{byte(p)}})
	}
	if err := prod.ProduceSync(ctx, records...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	cons := b.Client(t,
		kgo.ConsumerGroup("readers"),
		kgo.ConsumeTopics("grouped"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
	)
	seen := map[int32]bool{}
	for len(seen) < partitions {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) { seen[r.Partition] = true })
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}

	adm := b.Admin(t)
	groups, err := adm.DescribeGroups(ctx, "readers")
	if err != nil {
		t.Fatal(err)
	}
	g := groups["readers"]
	if g.Err != nil || g.State != "Stable" || len(g.Members) != 1 {
		t.Fatalf("group: state %q, %d members, error %v; want Stable with one member", g.State, len(g.Members), g.Err)
	}
	assigned, ok := g.Members[0].Assigned.AsConsumer()
	if !ok {
		t.Fatalf("member assignment is not a consumer assignment")
	}
	var got []int32
	for _, at := range assigned.Topics {
		if at.Topic == "grouped" {
			got = append(got, at.Partitions...)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, []int32{0, 1, 2}) {
		t.Errorf("the only member is assigned %v, want every partition", got)
	}

	offsets, err := adm.FetchOffsets(ctx, "readers")
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(partitions) {
		if o, ok := offsets.Lookup("grouped", p); !ok || o.At != 1 {
			t.Errorf("committed offset of partition %d: %+v, want 1", p, o)
		}
	}
}

func TestConfigs(t *testing.T) {
	b := brokertest.Start(t)
	createTopic(t, b, "configured", 1, map[string]*string{"retention.ms": ptr("60000")})
	adm := b.Admin(t)
	ctx := context.Background()

	// describe returns one topic config's value and source.
	describe := func(t *testing.T, name string) (string, kmsg.ConfigSource) {
		t.Helper()
		c := brokertest.TopicConfig(t, adm, "configured", name)
		return c.MaybeValue(), c.Source
	}
	if v, src := describe(t, "retention.ms"); v != "60000" || src != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("retention.ms set at creation: %q from %v", v, src)
	}
	if v, src := describe(t, "cleanup.policy"); v != "delete" || src != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("cleanup.policy by default: %q from %v", v, src)
	}

	alters := []struct {
		name       string
		alter      kadm.AlterConfig
		want       error
		config     string
		wantValue  string
		wantSource kmsg.ConfigSource
	}{
		{"set", kadm.AlterConfig{Op: kadm.SetConfig, Name: "retention.ms", Value: ptr("1234")}, nil,
			"retention.ms", "1234", kmsg.ConfigSourceDynamicTopicConfig},
		{"delete back to the default", kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "retention.ms"}, nil,
			"retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig},
		{"append to a list", kadm.AlterConfig{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: ptr("compact")}, nil,
			"cleanup.policy", "delete,compact", kmsg.ConfigSourceDynamicTopicConfig},
		{"subtract from a list", kadm.AlterConfig{Op: kadm.SubtractConfig, Name: "cleanup.policy", Value: ptr("delete")}, nil,
			"cleanup.policy", "compact", kmsg.ConfigSourceDynamicTopicConfig},
		{"unknown config", kadm.AlterConfig{Op: kadm.SetConfig, Name: "no.such.config", Value: ptr("1")}, kerr.InvalidConfig,
			"cleanup.policy", "compact", kmsg.ConfigSourceDynamicTopicConfig},
		{"bad value", kadm.AlterConfig{Op: kadm.SetConfig, Name: "retention.ms", Value: ptr("soon")}, kerr.InvalidConfig,
			"retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig},
		{"append to a non-list", kadm.AlterConfig{Op: kadm.AppendConfig, Name: "retention.ms", Value: ptr("1")}, kerr.InvalidConfig,
			"retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig},
	}
	for _, tc := range alters {
		t.Run(tc.name, func(t *testing.T) {
			resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{tc.alter}, "configured")
			if err != nil {
				t.Fatal(err)
			}
			r, err := resps.On("configured", nil)
			if err != nil {
				t.Fatal(err)
			}
			if !errors.Is(r.Err, tc.want) {
				t.Errorf("alter: %v, want %v", r.Err, tc.want)
			}
			if v, src := describe(t, tc.config); v != tc.wantValue || src != tc.wantSource {
				t.Errorf("%s after the alter: %q from %v, want %q from %v", tc.config, v, src, tc.wantValue, tc.wantSource)
			}
		})
	}

	t.Run("broker configs are read-only", func(t *testing.T) {
		resps, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "log.retention.ms", Value: ptr("1")}}, b.ID())
		if err != nil {
			t.Fatal(err)
		}
		if len(resps) != 1 || !errors.Is(resps[0].Err, kerr.InvalidRequest) {
			t.Errorf("alter broker config: %+v, want INVALID_REQUEST", resps)
		}
	})
}
