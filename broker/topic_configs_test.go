package broker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker/brokertest"
	"github.com/strata-io/strata/internal/batch"
	"github.com/strata-io/strata/partition"
)

// kafkaTopicConfigs is what provisioning tools set: configs with effect on
// Strata and many without (partition/config.go says which).
var kafkaTopicConfigs = map[string]string{
	"cleanup.policy":                          "delete",
	"compression.type":                        "lz4",
	"compression.lz4.level":                   "12",
	"retention.ms":                            "86400000",
	"retention.bytes":                         "1073741824",
	"max.message.bytes":                       "2097152",
	"message.timestamp.type":                  "CreateTime",
	"min.insync.replicas":                     "2",
	"unclean.leader.election.enable":          "false",
	"segment.bytes":                           "536870912",
	"segment.ms":                              "3600000",
	"segment.index.bytes":                     "1048576",
	"segment.jitter.ms":                       "10",
	"index.interval.bytes":                    "8192",
	"flush.messages":                          "10000",
	"flush.ms":                                "1000",
	"preallocate":                             "true",
	"file.delete.delay.ms":                    "30000",
	"message.format.version":                  "3.0-IV1",
	"message.downconversion.enable":           "false",
	"message.timestamp.difference.max.ms":     "3600000",
	"message.timestamp.before.max.ms":         "86400000",
	"message.timestamp.after.max.ms":          "3600000",
	"min.cleanable.dirty.ratio":               "0.3",
	"max.compaction.lag.ms":                   "604800000",
	"leader.replication.throttled.replicas":   "0:1",
	"follower.replication.throttled.replicas": "*",
	"remote.storage.enable":                   "true",
	"local.retention.ms":                      "60000",
	"local.retention.bytes":                   "-2",
}

// describeTopic returns a topic's configs as DescribeConfigs v4 answers
// them, with documentation.
func describeTopic(t *testing.T, cl *kgo.Client, topic string) map[string]kmsg.DescribeConfigsResponseResourceConfig {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeDocumentation = true
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, topic
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("describe %s: %+v", topic, resp.Resources)
	}
	out := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range resp.Resources[0].Configs {
		out[c.Name] = c
	}
	return out
}

// checkConfigs checks that every topic config is reported: those in set
// with their value from DYNAMIC_TOPIC_CONFIG, the others with Kafka's
// default from DEFAULT_CONFIG, each with its type and documentation.
func checkConfigs(t *testing.T, got map[string]kmsg.DescribeConfigsResponseResourceConfig, set map[string]string) {
	t.Helper()
	for _, name := range partition.TopicConfigNames() {
		spec, _ := partition.TopicConfigInfo(name)
		c, ok := got[name]
		if !ok {
			t.Errorf("%s not described", name)
			continue
		}
		wantValue, wantSource := spec.Default, kmsg.ConfigSourceDefaultConfig
		if v, ok := set[name]; ok {
			wantValue, wantSource = v, kmsg.ConfigSourceDynamicTopicConfig
		}
		if c.Value == nil || *c.Value != wantValue || c.Source != wantSource {
			t.Errorf("%s: %v from %v, want %q from %v", name, valueOf(c.Value), c.Source, wantValue, wantSource)
		}
		if c.ReadOnly || c.IsSensitive || c.ConfigType != kmsg.ConfigType(spec.Type) || c.Documentation == nil || *c.Documentation == "" {
			t.Errorf("%s: read-only %v, sensitive %v, type %v, documentation %v", name, c.ReadOnly, c.IsSensitive, c.ConfigType, c.Documentation)
		}
	}
	if len(got) != len(partition.TopicConfigNames()) {
		t.Errorf("%d configs described, want %d", len(got), len(partition.TopicConfigNames()))
	}
}

// TestKafkaTopicConfigs: a topic created with many of Kafka's configs, with
// and without effect here, reads them back with their sources; bad values
// get Kafka's INVALID_CONFIG and message; IncrementalAlterConfigs edits
// them and AlterConfigs replaces the whole set.
func TestKafkaTopicConfigs(t *testing.T) {
	b := brokertest.Start(t)
	cl := b.Client(t)
	adm := kadm.NewClient(cl)
	ctx := context.Background()

	set := map[string]*string{}
	for k, v := range kafkaTopicConfigs {
		set[k] = &v
	}
	created, err := adm.CreateTopic(ctx, 2, -1, set, "provisioned")
	if err != nil || created.Err != nil {
		t.Fatalf("create: %v, %v %s", err, created.Err, created.ErrMessage)
	}
	if len(created.Configs) != len(partition.TopicConfigNames()) {
		t.Errorf("CreateTopics answered %d configs, want %d", len(created.Configs), len(partition.TopicConfigNames()))
	}
	for k, v := range kafkaTopicConfigs {
		if c := created.Configs[k]; c.MaybeValue() != v || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
			t.Errorf("CreateTopics answered %s=%q from %v, want %q", k, c.MaybeValue(), c.Source, v)
		}
	}
	checkConfigs(t, describeTopic(t, cl, "provisioned"), kafkaTopicConfigs)

	t.Run("bad values", func(t *testing.T) {
		for _, c := range []struct{ name, value, msg string }{
			{"compression.type", "brotli", "Invalid value brotli for configuration compression.type: String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"},
			{"min.insync.replicas", "0", "Invalid value 0 for configuration min.insync.replicas: Value must be at least 1"},
			{"preallocate", "yes", "Invalid value yes for configuration preallocate: Expected value to be either true or false"},
			{"compression.zstd.level", "23", "Invalid value 23 for configuration compression.zstd.level: Value must be no more than 22"},
			{"no.such.config", "1", "Unknown topic config name: no.such.config"},
		} {
			r, err := adm.CreateTopic(ctx, 1, -1, map[string]*string{c.name: &c.value}, "bad-"+c.name)
			if err != nil && !errors.Is(err, kerr.InvalidConfig) { // kadm returns the topic's error too
				t.Fatal(err)
			}
			if !errors.Is(r.Err, kerr.InvalidConfig) || r.ErrMessage != c.msg {
				t.Errorf("%s=%s: %v %q, want INVALID_CONFIG %q", c.name, c.value, r.Err, r.ErrMessage, c.msg)
			}
		}
	})

	t.Run("incremental", func(t *testing.T) {
		resps, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
			{Op: kadm.SetConfig, Name: "compression.type", Value: ptr("zstd")},
			{Op: kadm.SetConfig, Name: "compression.zstd.level", Value: ptr("9")},
			{Op: kadm.DeleteConfig, Name: "min.insync.replicas"},
			{Op: kadm.DeleteConfig, Name: "compression.lz4.level"},
			{Op: kadm.AppendConfig, Name: "leader.replication.throttled.replicas", Value: ptr("1:1")},
			{Op: kadm.SetConfig, Name: "unclean.leader.election.enable", Value: ptr("true")},
		}, "provisioned")
		if err != nil {
			t.Fatal(err)
		}
		if r, err := resps.On("provisioned", nil); err != nil || r.Err != nil {
			t.Fatalf("alter: %v, %v %s", err, r.Err, r.ErrMessage)
		}
		want := map[string]string{}
		for k, v := range kafkaTopicConfigs {
			want[k] = v
		}
		want["compression.type"], want["compression.zstd.level"], want["unclean.leader.election.enable"] = "zstd", "9", "true"
		want["leader.replication.throttled.replicas"] = "0:1,1:1"
		delete(want, "min.insync.replicas")
		delete(want, "compression.lz4.level")
		checkConfigs(t, describeTopic(t, cl, "provisioned"), want)

		for _, c := range []struct {
			alter kadm.AlterConfig
			msg   string
		}{
			{kadm.AlterConfig{Op: kadm.SetConfig, Name: "segment.index.bytes", Value: ptr("2")}, "Invalid value 2 for configuration segment.index.bytes: Value must be at least 4"},
			{kadm.AlterConfig{Op: kadm.AppendConfig, Name: "preallocate", Value: ptr("true")}, "Config value append is not allowed for config key: preallocate"},
			{kadm.AlterConfig{Op: kadm.AppendConfig, Name: "follower.replication.throttled.replicas", Value: ptr("x")}, "Invalid value *,x for configuration follower.replication.throttled.replicas: must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."},
		} {
			resps, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{c.alter}, "provisioned")
			if err != nil {
				t.Fatal(err)
			}
			r, _ := resps.On("provisioned", nil)
			if !errors.Is(r.Err, kerr.InvalidConfig) || r.ErrMessage != c.msg {
				t.Errorf("%+v: %v %q, want INVALID_CONFIG %q", c.alter, r.Err, r.ErrMessage, c.msg)
			}
		}
		checkConfigs(t, describeTopic(t, cl, "provisioned"), want) // the bad ones changed nothing
	})

	t.Run("whole-set replace", func(t *testing.T) {
		replace := map[string]string{"retention.ms": "1000", "preallocate": "true", "message.format.version": "2.8", "cleanup.policy": "compact,delete"}
		var alters []kadm.AlterConfig
		for k, v := range replace {
			alters = append(alters, kadm.AlterConfig{Name: k, Value: &v})
		}
		resps, err := adm.AlterTopicConfigsState(ctx, alters, "provisioned")
		if err != nil {
			t.Fatal(err)
		}
		if r, err := resps.On("provisioned", nil); err != nil || r.Err != nil {
			t.Fatalf("alter: %v, %v %s", err, r.Err, r.ErrMessage)
		}
		checkConfigs(t, describeTopic(t, cl, "provisioned"), replace)
	})
}

// TestCompressionTypeRecompresses: producers send gzip, lz4 and
// uncompressed batches to a compression.type=zstd topic; every batch
// fetched is zstd and holds the records produced, at their offsets, with
// their keys, values, headers and timestamps.
func TestCompressionTypeRecompresses(t *testing.T) {
	b := brokertest.Start(t)
	ctx := context.Background()
	const topic = "zstd-topic"
	created, err := b.Admin(t).CreateTopic(ctx, 1, -1, map[string]*string{"compression.type": ptr("zstd")}, topic)
	if err != nil || created.Err != nil {
		t.Fatalf("create: %v %v", err, created.Err)
	}
	type sent struct {
		key, value string
		ts         time.Time
	}
	var want []sent
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
	}{{"gzip", kgo.GzipCompression()}, {"lz4", kgo.Lz4Compression()}, {"none", kgo.NoCompression()}, {"zstd", kgo.ZstdCompression()}}
	base := time.UnixMilli(1_700_000_000_000)
	for ci, c := range codecs {
		cl := b.Client(t, kgo.ProducerBatchCompression(c.codec), kgo.ProducerLinger(50*time.Millisecond))
		var recs []*kgo.Record
		for i := range 200 {
			s := sent{fmt.Sprintf("%s-%d", c.name, i), strings.Repeat(fmt.Sprintf("value %d of %s ", i, c.name), 5), base.Add(time.Duration(ci*1000+i) * time.Millisecond)}
			want = append(want, s)
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(s.key), Value: []byte(s.value), Timestamp: s.ts,
				Headers: []kgo.RecordHeader{{Key: "codec", Value: []byte(c.name)}}})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	}

	// The batches as stored: each zstd.
	cl := b.Client(t)
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MaxBytes = 100, 64<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, created.ID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.PartitionMaxBytes = 64 << 20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	var batches, records int
	for next := int64(0); next < int64(len(want)); {
		req.Topics[0].Partitions[0].FetchOffset = next
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 {
			t.Fatalf("fetch: %v", kerr.ErrorForCode(p.ErrorCode))
		}
		err = batch.Iter(p.RecordBatches, func(h batch.Header, raw []byte) error {
			batches++
			records += int(h.NumRecords)
			if h.Codec() != batch.CodecZstd {
				t.Errorf("batch at %d has codec %d, want zstd", h.BaseOffset, h.Codec())
			}
			if !h.Idempotent() {
				t.Errorf("batch at %d lost its producer id", h.BaseOffset)
			}
			next = h.LastOffset() + 1
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if records != len(want) || batches < len(codecs) {
		t.Errorf("%d records in %d batches, want %d records", records, batches, len(want))
	}

	// What a consumer reads: the records produced.
	consumer := b.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []*kgo.Record
	fctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for len(got) < len(want) && fctx.Err() == nil {
		fs := consumer.PollFetches(fctx)
		for _, e := range fs.Errors() {
			if !errors.Is(e.Err, context.DeadlineExceeded) {
				t.Fatalf("consume: %v", e.Err)
			}
		}
		got = append(got, fs.Records()...)
	}
	if len(got) != len(want) {
		t.Fatalf("consumed %d records, want %d", len(got), len(want))
	}
	for i, r := range got {
		w := want[i]
		if r.Offset != int64(i) || string(r.Key) != w.key || string(r.Value) != w.value || !r.Timestamp.Equal(w.ts) ||
			len(r.Headers) != 1 || !bytes.HasPrefix([]byte(w.key), r.Headers[0].Value) {
			t.Fatalf("record %d: offset %d key %q value %q ts %v headers %v, want %+v", i, r.Offset, r.Key, r.Value, r.Timestamp, r.Headers, w)
		}
	}
}

func valueOf(v *string) string {
	if v == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%q", *v)
}

// TestRecompressedTooLarge: max.message.bytes applies to the batch as
// recompressed too, as in Kafka: a gzip batch that fits, stored
// uncompressed, does not.
func TestRecompressedTooLarge(t *testing.T) {
	b := brokertest.Start(t)
	ctx := context.Background()
	const topic = "uncompressed-topic"
	cfg := map[string]*string{"compression.type": ptr("uncompressed"), "max.message.bytes": ptr("10000")}
	if r, err := b.Admin(t).CreateTopic(ctx, 1, -1, cfg, topic); err != nil || r.Err != nil {
		t.Fatalf("create: %v %v", err, r.Err)
	}
	cl := b.Client(t, kgo.ProducerBatchCompression(kgo.GzipCompression()), kgo.ProducerLinger(50*time.Millisecond), kgo.RecordRetries(1))
	recs := make([]*kgo.Record, 50)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Value: make([]byte, 1000)}
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); !errors.Is(err, kerr.MessageTooLarge) {
		t.Errorf("50 KB of zeros, gzip-compressed, to an uncompressed topic of max.message.bytes 10000: %v, want MESSAGE_TOO_LARGE", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: make([]byte, 1000)}).FirstErr(); err != nil {
		t.Errorf("a small batch: %v", err)
	}
}
