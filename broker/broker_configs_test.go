package broker_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/broker/brokertest"
)

// brokerConfigs describes the broker resource name (nil: "") and returns
// its configs by name.
func brokerConfigs(t *testing.T, adm *kadm.Client, id *int32) map[string]kadm.Config {
	t.Helper()
	var ids []int32
	if id != nil {
		ids = append(ids, *id)
	}
	rcs, err := adm.DescribeBrokerConfigs(context.Background(), ids...)
	if err != nil || len(rcs) != 1 || rcs[0].Err != nil {
		t.Fatalf("describe broker configs: %v %+v", err, rcs)
	}
	out := map[string]kadm.Config{}
	for _, c := range rcs[0].Configs {
		out[c.Key] = c
	}
	return out
}

func TestDescribeBrokerConfigs(t *testing.T) {
	b := brokertest.Start(t, brokertest.Partitions(1), func(c *broker.Config) {
		c.Rack = "rack-a"
		// As cmd/strata says when a flag sets num.partitions to its default.
		c.SetOptions = map[string]bool{"default-partitions": true}
	})
	adm := b.Admin(t)
	id := b.ID()
	cfgs := brokerConfigs(t, adm, &id)

	type syn struct {
		value  string
		source kmsg.ConfigSource
	}
	cases := []struct {
		name     string
		value    *string
		source   kmsg.ConfigSource
		readOnly bool
		typ      kmsg.ConfigType
		synonyms []syn
	}{
		{"broker.id", ptr(strconv.Itoa(int(id))), kmsg.ConfigSourceStaticBrokerConfig, true, kmsg.ConfigTypeInt, nil},
		{"broker.rack", ptr("rack-a"), kmsg.ConfigSourceStaticBrokerConfig, true, kmsg.ConfigTypeString, nil},
		// Set by a flag to the default value: still static, as in Kafka.
		{"num.partitions", ptr("1"), kmsg.ConfigSourceStaticBrokerConfig, true, kmsg.ConfigTypeInt,
			[]syn{{"1", kmsg.ConfigSourceStaticBrokerConfig}, {"1", kmsg.ConfigSourceDefaultConfig}}},
		{"default.replication.factor", ptr("1"), kmsg.ConfigSourceDefaultConfig, true, kmsg.ConfigTypeInt, nil},
		{"min.insync.replicas", ptr("1"), kmsg.ConfigSourceDefaultConfig, true, kmsg.ConfigTypeInt, nil},
		{"log.retention.ms", ptr("604800000"), kmsg.ConfigSourceDefaultConfig, false, kmsg.ConfigTypeLong,
			[]syn{{"604800000", kmsg.ConfigSourceDefaultConfig}}},
		{"log.retention.hours", ptr("168"), kmsg.ConfigSourceDefaultConfig, true, kmsg.ConfigTypeInt, nil},
		{"message.max.bytes", ptr("1048588"), kmsg.ConfigSourceDefaultConfig, false, kmsg.ConfigTypeInt, nil},
		{"log.cleanup.policy", ptr("delete"), kmsg.ConfigSourceDefaultConfig, false, kmsg.ConfigTypeList, nil},
		{"auto.create.topics.enable", ptr("true"), kmsg.ConfigSourceDefaultConfig, true, kmsg.ConfigTypeBoolean, nil},
		{"offsets.topic.num.partitions", ptr(strconv.Itoa(brokertest.DefaultOffsetsPartitions)), kmsg.ConfigSourceStaticBrokerConfig, true, kmsg.ConfigTypeInt, nil},
		{"socket.request.max.bytes", ptr(strconv.Itoa(broker.DefaultMaxRequestBytes)), kmsg.ConfigSourceDefaultConfig, true, kmsg.ConfigTypeInt, nil},
		{"listeners", ptr("PLAINTEXT://127.0.0.1:0"), kmsg.ConfigSourceDefaultConfig, true, kmsg.ConfigTypeString, nil},
		{"advertised.listeners", nil, kmsg.ConfigSourceDefaultConfig, true, kmsg.ConfigTypeString, nil},
		{"sasl.enabled.mechanisms", ptr("PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"), kmsg.ConfigSourceDefaultConfig, true, kmsg.ConfigTypeList, nil},
		// brokertest seals every 20ms; the default is longer.
		{"strata.seal.interval.ms", ptr(strconv.FormatInt(brokertest.DefaultSealInterval.Milliseconds(), 10)), kmsg.ConfigSourceStaticBrokerConfig, true, kmsg.ConfigTypeLong,
			[]syn{{strconv.FormatInt(brokertest.DefaultSealInterval.Milliseconds(), 10), kmsg.ConfigSourceStaticBrokerConfig}, {strconv.FormatInt(broker.DefaultConfig().SealInterval.Milliseconds(), 10), kmsg.ConfigSourceDefaultConfig}}},
		{"strata.session.ttl.ms", ptr(strconv.FormatInt(broker.DefaultConfig().SessionTTL.Milliseconds(), 10)), kmsg.ConfigSourceDefaultConfig, true, kmsg.ConfigTypeLong, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, ok := cfgs[tc.name]
			if !ok {
				t.Fatalf("not described")
			}
			if (c.Value == nil) != (tc.value == nil) || (c.Value != nil && *c.Value != *tc.value) || c.Source != tc.source {
				t.Errorf("value %q from %v, want %q from %v (empty: null)", c.MaybeValue(), c.Source, deref(tc.value), tc.source)
			}
			if c.Sensitive {
				t.Errorf("reported as sensitive")
			}
			if tc.synonyms != nil {
				var got []syn
				for _, s := range c.Synonyms {
					if s.Key != tc.name {
						t.Errorf("synonym named %s", s.Key)
					}
					got = append(got, syn{deref(s.Value), s.Source})
				}
				if len(got) != len(tc.synonyms) {
					t.Fatalf("synonyms %+v, want %+v", got, tc.synonyms)
				}
				for i := range got {
					if got[i] != tc.synonyms[i] {
						t.Errorf("synonyms %+v, want %+v", got, tc.synonyms)
					}
				}
			}
		})
	}

	// Secrets are never sent: value null, is_sensitive true.
	if c := cfgs["strata.etcd.password"]; c.Value != nil || !c.Sensitive {
		t.Errorf("strata.etcd.password: %+v, want null and sensitive", c)
	}

	// Read-only and types need DescribeConfigs v3+ and the raw response.
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeBroker, strconv.Itoa(int(id))
	rr.ConfigNames = []string{"log.retention.ms", "num.partitions"}
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(context.Background(), b.Client(t))
	if err != nil || len(resp.Resources) != 1 || resp.Resources[0].ErrorCode != 0 {
		t.Fatalf("describe: %v %+v", err, resp)
	}
	got := map[string]kmsg.DescribeConfigsResponseResourceConfig{}
	for _, c := range resp.Resources[0].Configs {
		got[c.Name] = c
	}
	if len(got) != 2 {
		t.Errorf("asked for 2 configs, got %d", len(got))
	}
	for _, tc := range cases {
		if c, ok := got[tc.name]; ok && (c.ReadOnly != tc.readOnly || c.ConfigType != tc.typ) {
			t.Errorf("%s: read-only %v, type %v; want %v, %v", tc.name, c.ReadOnly, c.ConfigType, tc.readOnly, tc.typ)
		}
	}

	// Another broker's id is that broker's to answer.
	other := id + 1
	rcs, err := adm.DescribeBrokerConfigs(context.Background(), other)
	if err == nil && (len(rcs) != 1 || rcs[0].Err == nil) {
		t.Errorf("describe broker %d from broker %d: %+v, want an error", other, id, rcs)
	}
}

func TestClusterBrokerConfigs(t *testing.T) {
	b := brokertest.Start(t, func(c *broker.Config) { c.RetentionCheckInterval = 50 * time.Millisecond })
	createTopic(t, b, "plain", 1, nil)
	createTopic(t, b, "own", 1, map[string]*string{"retention.ms": ptr("86400000")})
	adm := b.Admin(t)
	ctx := context.Background()
	id := b.ID()

	// Records from two hours ago, in the bucket.
	cl := b.Client(t)
	old := time.Now().Add(-2 * time.Hour)
	for _, topic := range []string{"plain", "own"} {
		for range 3 {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v"), Timestamp: old}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}

	alter := func(t *testing.T, resource *int32, ac ...kadm.AlterConfig) error {
		t.Helper()
		var ids []int32
		if resource != nil {
			ids = append(ids, *resource)
		}
		resps, err := adm.AlterBrokerConfigs(ctx, ac, ids...)
		if err != nil {
			t.Fatal(err)
		}
		if len(resps) != 1 {
			t.Fatalf("alter: %+v", resps)
		}
		return resps[0].Err
	}

	t.Run("bad values", func(t *testing.T) {
		for _, ac := range []kadm.AlterConfig{
			{Op: kadm.SetConfig, Name: "log.retention.ms", Value: ptr("soon")},
			{Op: kadm.SetConfig, Name: "log.retention.ms", Value: ptr("-2")},
			{Op: kadm.SetConfig, Name: "log.cleanup.policy", Value: ptr("forever")},
			{Op: kadm.AppendConfig, Name: "log.retention.bytes", Value: ptr("1")},
		} {
			if err := alter(t, nil, ac); !errors.Is(err, kerr.InvalidConfig) {
				t.Errorf("%v %s=%s: %v, want INVALID_CONFIG", ac.Op, ac.Name, *ac.Value, err)
			}
		}
	})
	t.Run("static settings", func(t *testing.T) {
		for _, tc := range []struct {
			resource *int32
			name     string
		}{
			{nil, "num.partitions"},
			{nil, "listeners"},
			{&id, "num.partitions"},
			{&id, "log.retention.ms"}, // dynamic cluster-wide only
			{nil, "no.such.config"},
		} {
			err := alter(t, tc.resource, kadm.AlterConfig{Op: kadm.SetConfig, Name: tc.name, Value: ptr("3")})
			var ke *kerr.Error
			if !errors.As(err, &ke) || ke != kerr.InvalidRequest {
				t.Errorf("alter %s on %v: %v, want INVALID_REQUEST", tc.name, tc.resource, err)
			}
		}
		if cfgs := brokerConfigs(t, adm, nil); len(cfgs) != 0 {
			t.Errorf("cluster-wide configs after failed alters: %+v", cfgs)
		}
	})

	t.Run("validate only", func(t *testing.T) {
		resps, err := adm.ValidateAlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "log.retention.ms", Value: ptr("60000")}})
		if err != nil || len(resps) != 1 || resps[0].Err != nil {
			t.Fatalf("validate: %v %+v", err, resps)
		}
		if cfgs := brokerConfigs(t, adm, nil); len(cfgs) != 0 {
			t.Errorf("cluster-wide configs after validate only: %+v", cfgs)
		}
	})

	// A cluster-wide default retention of one hour: the topic without its
	// own reports it and applies it (its two-hour-old records go); the
	// topic with its own keeps its own.
	if err := alter(t, nil, kadm.AlterConfig{Op: kadm.SetConfig, Name: "log.retention.ms", Value: ptr("3600000")}); err != nil {
		t.Fatalf("alter log.retention.ms: %v", err)
	}
	awaitConfig(t, "plain retention.ms from the cluster default", func() bool {
		c := brokertest.TopicConfig(t, adm, "plain", "retention.ms")
		return c.MaybeValue() == "3600000" && c.Source == kmsg.ConfigSourceDynamicDefaultBrokerConfig
	})
	if c := brokertest.TopicConfig(t, adm, "own", "retention.ms"); c.MaybeValue() != "86400000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("own retention.ms: %q from %v", c.MaybeValue(), c.Source)
	}
	// Synonyms as Kafka lists them, most specific first.
	type syn struct {
		name, value string
		source      kmsg.ConfigSource
	}
	synonyms := func(c kadm.Config) []syn {
		var out []syn
		for _, s := range c.Synonyms {
			out = append(out, syn{s.Key, deref(s.Value), s.Source})
		}
		return out
	}
	clusterSyn := syn{"log.retention.ms", "3600000", kmsg.ConfigSourceDynamicDefaultBrokerConfig}
	defaultSyn := syn{"log.retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig}
	for _, tc := range []struct {
		topic, config string
		want          []syn
	}{
		{"plain", "retention.ms", []syn{clusterSyn, defaultSyn}},
		{"own", "retention.ms", []syn{{"retention.ms", "86400000", kmsg.ConfigSourceDynamicTopicConfig}, clusterSyn, defaultSyn}},
		{"plain", "segment.ms", []syn{{"segment.ms", "604800000", kmsg.ConfigSourceDefaultConfig}}}, // no broker config holds its default
	} {
		if got := synonyms(brokertest.TopicConfig(t, adm, tc.topic, tc.config)); !slices.Equal(got, tc.want) {
			t.Errorf("%s %s synonyms: %+v, want %+v", tc.topic, tc.config, got, tc.want)
		}
	}
	cluster := brokerConfigs(t, adm, nil)
	if c, ok := cluster["log.retention.ms"]; !ok || len(cluster) != 1 || deref(c.Value) != "3600000" || c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Errorf("cluster-wide configs: %+v", cluster)
	}
	if c := brokerConfigs(t, adm, &id)["log.retention.ms"]; deref(c.Value) != "3600000" || c.Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig ||
		len(c.Synonyms) != 2 || c.Synonyms[0].Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig || deref(c.Synonyms[1].Value) != "604800000" {
		t.Errorf("broker %d's log.retention.ms: %+v", id, c)
	}
	awaitConfig(t, "plain's old records deleted by the default retention", func() bool {
		starts, err := adm.ListStartOffsets(ctx, "plain")
		if err != nil {
			t.Fatal(err)
		}
		o, _ := starts.Lookup("plain", 0)
		return o.Offset == 3
	})
	starts, err := adm.ListStartOffsets(ctx, "own")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup("own", 0); o.Offset != 0 {
		t.Errorf("own's start offset %d, want 0: its own retention keeps the records", o.Offset)
	}

	// AlterConfigs replaces the whole set; DELETE returns to the default.
	resps, err := adm.AlterBrokerConfigsState(ctx, []kadm.AlterConfig{{Name: "log.cleanup.policy", Value: ptr("compact")}})
	if err != nil || len(resps) != 1 || resps[0].Err != nil {
		t.Fatalf("alter state: %v %+v", err, resps)
	}
	awaitConfig(t, "the replaced set", func() bool {
		cfgs := brokerConfigs(t, adm, nil)
		return len(cfgs) == 1 && deref(cfgs["log.cleanup.policy"].Value) == "compact"
	})
	if err := alter(t, nil, kadm.AlterConfig{Op: kadm.AppendConfig, Name: "log.cleanup.policy", Value: ptr("delete")}); err != nil {
		t.Fatal(err)
	}
	awaitConfig(t, "appended cleanup.policy", func() bool {
		c := brokertest.TopicConfig(t, adm, "plain", "cleanup.policy")
		return c.MaybeValue() == "compact,delete"
	})
	if err := alter(t, nil, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "log.cleanup.policy"}); err != nil {
		t.Fatal(err)
	}
	awaitConfig(t, "the default again", func() bool {
		c := brokertest.TopicConfig(t, adm, "plain", "cleanup.policy")
		return c.MaybeValue() == "delete" && c.Source == kmsg.ConfigSourceDefaultConfig && len(brokerConfigs(t, adm, nil)) == 0
	})
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// awaitConfig polls until cond holds: brokers apply cluster-wide configs
// when their watch of etcd sees them.
func awaitConfig(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not seen within 15s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
