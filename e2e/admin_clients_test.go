package e2e

// Admin clients against a real `strata serve`: franz-go's kadm, sarama's
// ClusterAdmin and confluent-kafka-python's AdminClient (python/admin.py)
// each create a topic with a broad set of Kafka's topic configs (several of
// which change nothing on Strata), read them back with DescribeConfigs
// (values and sources, for every topic config Kafka 3.9 has), alter them
// incrementally and by whole-set replacement, describe broker configs, and
// get Kafka's INVALID_CONFIG with its message for bad values and unknown
// names. (KafkaJS is not covered: no npm registry on the build machines.)
//
// TestAdminClientsRecompressZstd checks compression.type on produce: a topic
// with compression.type=zstd takes gzip, lz4, snappy and uncompressed
// batches from franz-go, sarama and kcat, and stores every batch as zstd (a
// raw Fetch shows each batch's codec) holding the records produced, which
// franz-go, sarama and kcat consumers all read back.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/internal/testenv"
	"github.com/strata-io/strata/partition"
)

// acStep bounds one admin step; a liveness guard, not a performance check.
const acStep = time.Minute

// acCreate are the configs each client creates its topic with: Kafka's
// names and values, some with effect on Strata (compression.type,
// cleanup.policy, retention.ms, max.message.bytes, message.timestamp.type),
// most without (stored and reported only).
var acCreate = map[string]string{
	"min.insync.replicas":                     "2",
	"unclean.leader.election.enable":          "true",
	"segment.index.bytes":                     "2097152",
	"message.format.version":                  "2.8",
	"compression.type":                        "lz4",
	"cleanup.policy":                          "compact,delete",
	"retention.ms":                            "86400000",
	"max.message.bytes":                       "2097152",
	"message.timestamp.type":                  "LogAppendTime",
	"flush.messages":                          "10000",
	"preallocate":                             "true",
	"min.cleanable.dirty.ratio":               "0.25",
	"follower.replication.throttled.replicas": "*",
}

// acReplace is the whole new set AlterConfigs gives the topic: every config
// not in it returns to its default.
var acReplace = map[string]string{"retention.ms": "1000", "segment.bytes": "1048576"}

// acKafkaDefaults are Kafka 3.9's documented defaults of the topic configs
// the tests set, so that a config returning to its default is checked
// against Kafka's value, not only against Strata's own table.
var acKafkaDefaults = map[string]string{
	"min.insync.replicas":                     "1",
	"unclean.leader.election.enable":          "false",
	"segment.index.bytes":                     "10485760",
	"message.format.version":                  "3.0-IV1",
	"compression.type":                        "producer",
	"cleanup.policy":                          "delete",
	"retention.ms":                            "604800000",
	"retention.bytes":                         "-1",
	"max.message.bytes":                       "1048588",
	"message.timestamp.type":                  "CreateTime",
	"flush.messages":                          "9223372036854775807",
	"preallocate":                             "false",
	"min.cleanable.dirty.ratio":               "0.5",
	"segment.bytes":                           "1073741824",
	"segment.ms":                              "604800000",
	"follower.replication.throttled.replicas": "",
}

// acBad are values Kafka rejects and a name it does not know, with the
// start of Kafka's INVALID_CONFIG message for each.
var acBad = []struct{ name, value, msg string }{
	{"retention.ms", "abc", "Invalid value abc for configuration retention.ms: Not a number of type LONG"},
	{"cleanup.policy", "bogus", "Invalid value bogus for configuration cleanup.policy: String must be one of: compact, delete"},
	{"min.insync.replicas", "0", "Invalid value 0 for configuration min.insync.replicas: Value must be at least 1"},
	{"no.such.config", "1", "Unknown topic config name: no.such.config"},
}

// acBrokerArgs are the broker flags of the admin tests, and acBroker what
// DescribeConfigs must then say of these broker configs.
var acBrokerArgs = []string{"--default-partitions=3", "--auto-create-topics=false"}

var acBroker = map[string]acEntry{
	"num.partitions":             {"3", kmsg.ConfigSourceStaticBrokerConfig},
	"auto.create.topics.enable":  {"false", kmsg.ConfigSourceStaticBrokerConfig},
	"message.max.bytes":          {"1048588", kmsg.ConfigSourceDefaultConfig},
	"log.retention.ms":           {"604800000", kmsg.ConfigSourceDefaultConfig},
	"log.cleanup.policy":         {"delete", kmsg.ConfigSourceDefaultConfig},
	"default.replication.factor": {"1", kmsg.ConfigSourceDefaultConfig},
}

// acEntry is a described config, whatever the client.
type acEntry struct {
	Value  string
	Source kmsg.ConfigSource
}

// acEdit is a copy of set with changed set and removed left out.
func acEdit(set map[string]string, changed map[string]string, removed ...string) map[string]string {
	out := maps.Clone(set)
	maps.Copy(out, changed)
	for _, n := range removed {
		delete(out, n)
	}
	return out
}

// acCheckTopic checks that a topic's described configs are every topic
// config Kafka 3.9 has, those in set with their value and source
// DYNAMIC_TOPIC_CONFIG, the others with their default and source
// DEFAULT_CONFIG.
func acCheckTopic(t *testing.T, who string, got map[string]acEntry, set map[string]string) {
	t.Helper()
	names := partition.TopicConfigNames()
	if len(names) < 36 {
		t.Fatalf("Strata knows only %d topic configs", len(names))
	}
	for _, name := range names {
		e, ok := got[name]
		if !ok {
			t.Errorf("%s: DescribeConfigs does not list %s", who, name)
			continue
		}
		want := acEntry{set[name], kmsg.ConfigSourceDynamicTopicConfig}
		if _, isSet := set[name]; !isSet {
			def, ok := acKafkaDefaults[name]
			if !ok {
				def, _, _ = partition.TopicConfigDefault(name)
			}
			want = acEntry{def, kmsg.ConfigSourceDefaultConfig}
		}
		if e != want {
			t.Errorf("%s: %s = %q (source %v), want %q (source %v)", who, name, e.Value, e.Source, want.Value, want.Source)
		}
	}
}

// acCheckBroker checks the broker configs of acBroker.
func acCheckBroker(t *testing.T, who string, got map[string]acEntry) {
	t.Helper()
	for name, want := range acBroker {
		if e, ok := got[name]; !ok || e != want {
			t.Errorf("%s: broker config %s = %+v (listed %v), want %+v", who, name, e, ok, want)
		}
	}
}

// acCheckErr checks that err is INVALID_CONFIG (isInvalid) with msg in its text.
func acCheckErr(t *testing.T, who string, isInvalid bool, text, msg string) {
	t.Helper()
	if !isInvalid || !strings.Contains(text, msg) {
		t.Errorf("%s: got %q, want INVALID_CONFIG with %q", who, text, msg)
	}
}

// --- franz-go kadm ------------------------------------------------------------

func kadmEntries(t *testing.T, rcs kadm.ResourceConfigs, err error) map[string]acEntry {
	t.Helper()
	if err == nil && len(rcs) == 1 {
		err = rcs[0].Err
	}
	if err != nil || len(rcs) != 1 {
		t.Fatalf("kadm: describe configs: %v (%d resources)", err, len(rcs))
	}
	out := map[string]acEntry{}
	for _, c := range rcs[0].Configs {
		out[c.Key] = acEntry{c.MaybeValue(), c.Source}
	}
	return out
}

func kadmAlterErr(resps kadm.AlterConfigsResponses, err error) (string, error) {
	if err != nil {
		return err.Error(), err
	}
	if len(resps) != 1 {
		return fmt.Sprintf("%d responses", len(resps)), errors.New("not one response")
	}
	if resps[0].Err == nil {
		return "", nil
	}
	return resps[0].Err.Error() + ": " + resps[0].ErrMessage, resps[0].Err
}

func TestAdminClientsKadm(t *testing.T) {
	s := StartStrata(t, Options{Args: acBrokerArgs})
	ctx := testContext(t, 3*acStep)
	adm := kadm.NewClient(s.Client())
	const topic = "kadm-configs"
	topicConfigs := func() map[string]acEntry {
		rcs, err := adm.DescribeTopicConfigs(ctx, topic)
		return kadmEntries(t, rcs, err)
	}

	create := map[string]*string{}
	for k, v := range acCreate {
		create[k] = kadm.StringPtr(v)
	}
	created, err := adm.CreateTopic(ctx, 1, -1, create, topic)
	if err != nil || created.Err != nil {
		t.Fatalf("kadm: create %s: %v %v %s", topic, err, created.Err, created.ErrMessage)
	}
	acCheckTopic(t, "kadm after create", topicConfigs(), acCreate)

	// Incremental: SET one, DELETE one (back to its default), SUBTRACT from
	// a list, APPEND to another; the others stay as they are.
	alter := []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("3600000")},
		{Op: kadm.DeleteConfig, Name: "min.insync.replicas"},
		{Op: kadm.SubtractConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")},
		{Op: kadm.SetConfig, Name: "compression.type", Value: kadm.StringPtr("zstd")},
	}
	if text, err := kadmAlterErr(adm.AlterTopicConfigs(ctx, alter, topic)); err != nil {
		t.Fatalf("kadm: incremental alter: %s", text)
	}
	incremented := acEdit(acCreate, map[string]string{"retention.ms": "3600000", "cleanup.policy": "delete", "compression.type": "zstd"}, "min.insync.replicas")
	acCheckTopic(t, "kadm after incremental alter", topicConfigs(), incremented)

	// AlterConfigs replaces the whole set.
	replace := []kadm.AlterConfig{}
	for k, v := range acReplace {
		replace = append(replace, kadm.AlterConfig{Name: k, Value: kadm.StringPtr(v)})
	}
	if text, err := kadmAlterErr(adm.AlterTopicConfigsState(ctx, replace, topic)); err != nil {
		t.Fatalf("kadm: alter (replace): %s", text)
	}
	acCheckTopic(t, "kadm after replace", topicConfigs(), acReplace)

	// Bad values and an unknown name: on create, incremental and whole-set
	// alter, each INVALID_CONFIG with Kafka's message, changing nothing.
	for i, bad := range acBad {
		name := fmt.Sprintf("%s-bad-%d", topic, i)
		cs, err := adm.CreateTopics(ctx, 1, -1, map[string]*string{bad.name: kadm.StringPtr(bad.value)}, name)
		c, ok := cs[name]
		if err != nil || !ok {
			t.Fatalf("kadm: create %s: %v (answered %v)", name, err, ok)
		}
		acCheckErr(t, "kadm create with "+bad.name+"="+bad.value, errors.Is(c.Err, kerr.InvalidConfig), fmt.Sprint(c.Err)+": "+c.ErrMessage, bad.msg)
		text, err := kadmAlterErr(adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: bad.name, Value: kadm.StringPtr(bad.value)}}, topic))
		acCheckErr(t, "kadm incremental alter "+bad.name+"="+bad.value, errors.Is(err, kerr.InvalidConfig), text, bad.msg)
		text, err = kadmAlterErr(adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: bad.name, Value: kadm.StringPtr(bad.value)}}, topic))
		acCheckErr(t, "kadm alter (replace) "+bad.name+"="+bad.value, errors.Is(err, kerr.InvalidConfig), text, bad.msg)
	}
	acCheckTopic(t, "kadm after the bad alters", topicConfigs(), acReplace)
	md, err := adm.Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for name := range md.Topics {
		if strings.HasPrefix(name, topic+"-bad-") {
			t.Errorf("kadm: a create with a bad config made topic %s", name)
		}
	}

	// Broker configs, then a cluster-wide dynamic default (broker resource
	// ""): every broker and every topic without its own value sees it.
	brokerConfigs := func() map[string]acEntry {
		rcs, err := adm.DescribeBrokerConfigs(ctx, md.Brokers[0].NodeID)
		return kadmEntries(t, rcs, err)
	}
	acCheckBroker(t, "kadm", brokerConfigs())
	dyn := []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "log.retention.bytes", Value: kadm.StringPtr("1073741824")}}
	if text, err := kadmAlterErr(adm.AlterBrokerConfigs(ctx, dyn)); err != nil {
		t.Fatalf("kadm: set a cluster-wide default: %s", text)
	}
	if e := brokerConfigs()["log.retention.bytes"]; e != (acEntry{"1073741824", kmsg.ConfigSourceDynamicDefaultBrokerConfig}) {
		t.Errorf("kadm: broker's log.retention.bytes after the cluster-wide SET: %+v", e)
	}
	rcs, err := adm.DescribeBrokerConfigs(ctx) // the resource ""
	if got := kadmEntries(t, rcs, err); len(got) != 1 || got["log.retention.bytes"] != (acEntry{"1073741824", kmsg.ConfigSourceDynamicDefaultBrokerConfig}) {
		t.Errorf("kadm: cluster-wide configs: %+v, want log.retention.bytes only", got)
	}
	if e := topicConfigs()["retention.bytes"]; e != (acEntry{"1073741824", kmsg.ConfigSourceDynamicDefaultBrokerConfig}) {
		t.Errorf("kadm: topic's retention.bytes under the cluster-wide default: %+v", e)
	}
	// Its synonyms, most specific first, as kafka-configs --describe --all
	// shows them: the cluster-wide value, then the broker config's default.
	type syn struct {
		name, value string
		source      kmsg.ConfigSource
	}
	var got []syn
	if rcs, err := adm.DescribeTopicConfigs(ctx, topic); err == nil && len(rcs) == 1 {
		for _, c := range rcs[0].Configs {
			if c.Key == "retention.bytes" {
				for _, sy := range c.Synonyms {
					v := ""
					if sy.Value != nil {
						v = *sy.Value
					}
					got = append(got, syn{sy.Key, v, sy.Source})
				}
			}
		}
	}
	if want := []syn{{"log.retention.bytes", "1073741824", kmsg.ConfigSourceDynamicDefaultBrokerConfig}, {"log.retention.bytes", "-1", kmsg.ConfigSourceDefaultConfig}}; !slices.Equal(got, want) {
		t.Errorf("kadm: retention.bytes synonyms: %+v, want %+v", got, want)
	}
	// A static broker config cannot be altered at run time.
	static := []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "num.partitions", Value: kadm.StringPtr("5")}}
	if text, err := kadmAlterErr(adm.AlterBrokerConfigs(ctx, static)); !errors.Is(err, kerr.InvalidRequest) {
		t.Errorf("kadm: altering num.partitions: %s, want INVALID_REQUEST", text)
	}
	dyn[0] = kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "log.retention.bytes"}
	if text, err := kadmAlterErr(adm.AlterBrokerConfigs(ctx, dyn)); err != nil {
		t.Fatalf("kadm: delete the cluster-wide default: %s", text)
	}
	acCheckBroker(t, "kadm after the cluster-wide DELETE", brokerConfigs())
	acCheckTopic(t, "kadm after the cluster-wide DELETE", topicConfigs(), acReplace)
}

// --- sarama ClusterAdmin ------------------------------------------------------

// saramaDescribe describes one resource with ClusterAdmin.DescribeConfigs.
func saramaDescribe(t *testing.T, adm sarama.ClusterAdmin, res sarama.ConfigResource) map[string]acEntry {
	t.Helper()
	rs, err := adm.DescribeConfigs([]*sarama.ConfigResource{&res}, sarama.DescribeConfigsOptions{})
	if err == nil && len(rs) == 1 && rs[0].ErrorCode != sarama.ErrNoError {
		err = fmt.Errorf("%w: %s", rs[0].ErrorCode, rs[0].ErrorMsg)
	}
	if err != nil || len(rs) != 1 {
		t.Fatalf("sarama: describe %v %s: %v (%d resources)", res.Type, res.Name, err, len(rs))
	}
	out := map[string]acEntry{}
	for _, e := range rs[0].Configs {
		out[e.Name] = acEntry{e.Value, kmsg.ConfigSource(e.Source)}
	}
	return out
}

func TestAdminClientsSarama(t *testing.T) {
	s := StartStrata(t, Options{Args: acBrokerArgs})
	ctSaramaLog(t)
	// The defaults but for a bounded admin timeout; sarama's default
	// protocol version (2.8) asks for DescribeConfigs v4, with sources.
	cfg := sarama.NewConfig()
	cfg.Admin.Timeout = acStep
	adm, err := sarama.NewClusterAdmin([]string{s.Addr}, cfg)
	if err != nil {
		t.Fatalf("sarama: new cluster admin: %v", err)
	}
	defer adm.Close()
	const topic = "sarama-configs"
	topicRes := sarama.ConfigResource{Type: sarama.TopicResource, Name: topic}
	topicConfigs := func() map[string]acEntry {
		return saramaDescribe(t, adm, topicRes)
	}
	ptrs := func(m map[string]string) map[string]*string {
		out := map[string]*string{}
		for k, v := range m {
			out[k] = &v
		}
		return out
	}

	if err := adm.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: -1, ConfigEntries: ptrs(acCreate)}, false); err != nil {
		t.Fatalf("sarama: create %s: %v", topic, err)
	}
	acCheckTopic(t, "sarama after create", topicConfigs(), acCreate)

	set := func(v string) sarama.IncrementalAlterConfigsEntry {
		return sarama.IncrementalAlterConfigsEntry{Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &v}
	}
	appendCompact := "compact"
	err = adm.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{
		"retention.ms":        set("7200000"),
		"max.message.bytes":   set("4194304"),
		"segment.index.bytes": {Operation: sarama.IncrementalAlterConfigsOperationDelete},
		"cleanup.policy":      {Operation: sarama.IncrementalAlterConfigsOperationAppend, Value: &appendCompact}, // already there: unchanged
	}, false)
	if err != nil {
		t.Fatalf("sarama: incremental alter: %v", err)
	}
	acCheckTopic(t, "sarama after incremental alter", topicConfigs(),
		acEdit(acCreate, map[string]string{"retention.ms": "7200000", "max.message.bytes": "4194304"}, "segment.index.bytes"))

	if err := adm.AlterConfig(sarama.TopicResource, topic, ptrs(acReplace), false); err != nil {
		t.Fatalf("sarama: alter (replace): %v", err)
	}
	acCheckTopic(t, "sarama after replace", topicConfigs(), acReplace)

	for i, bad := range acBad {
		name := fmt.Sprintf("%s-bad-%d", topic, i)
		what := bad.name + "=" + bad.value
		err := adm.CreateTopic(name, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: -1, ConfigEntries: ptrs(map[string]string{bad.name: bad.value})}, false)
		acCheckErr(t, "sarama create with "+what, errors.Is(err, sarama.ErrInvalidConfig), fmt.Sprint(err), bad.msg)
		err = adm.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{bad.name: set(bad.value)}, false)
		acCheckErr(t, "sarama incremental alter "+what, errors.Is(err, sarama.ErrInvalidConfig), fmt.Sprint(err), bad.msg)
		err = adm.AlterConfig(sarama.TopicResource, topic, ptrs(map[string]string{bad.name: bad.value}), false)
		acCheckErr(t, "sarama alter (replace) "+what, errors.Is(err, sarama.ErrInvalidConfig), fmt.Sprint(err), bad.msg)
	}
	acCheckTopic(t, "sarama after the bad alters", topicConfigs(), acReplace)

	brokers, _, err := adm.DescribeCluster()
	if err != nil || len(brokers) != 1 {
		t.Fatalf("sarama: describe cluster: %v (%d brokers)", err, len(brokers))
	}
	acCheckBroker(t, "sarama", saramaDescribe(t, adm, sarama.ConfigResource{Type: sarama.BrokerResource, Name: strconv.Itoa(int(brokers[0].ID()))}))
}

// --- confluent-kafka-python AdminClient ---------------------------------------

// acPyConfigs are a resource's configs as admin.py reports them, or its error.
type acPyConfigs struct {
	Configs map[string][3]any `json:"configs"` // name -> [value, source, is_default]
	Error   []any             `json:"error"`   // [code, name, message]
}

func (c acPyConfigs) entries(t *testing.T, who string) map[string]acEntry {
	t.Helper()
	if c.Error != nil {
		t.Fatalf("confluent-kafka-python: %s: %v", who, c.Error)
	}
	out := map[string]acEntry{}
	for name, e := range c.Configs {
		v, _ := e[0].(string) // null for no value
		src, _ := e[1].(float64)
		out[name] = acEntry{v, kmsg.ConfigSource(src)}
		if isDefault, _ := e[2].(bool); isDefault != (kmsg.ConfigSource(src) == kmsg.ConfigSourceDefaultConfig) {
			t.Errorf("confluent-kafka-python: %s: %s is_default %v with source %v", who, name, isDefault, src)
		}
	}
	return out
}

// acPyErr is [code, name, message] or null.
type acPyErr []any

func (e acPyErr) check(t *testing.T, who, msg string) {
	t.Helper()
	code, _ := e.get()
	acCheckErr(t, "confluent-kafka-python "+who, code == int(kerr.InvalidConfig.Code), fmt.Sprint([]any(e)), msg)
}

func (e acPyErr) get() (int, string) {
	if len(e) != 3 {
		return 0, ""
	}
	code, _ := e[0].(float64)
	return int(code), fmt.Sprint(e[2])
}

type acPySummary struct {
	Version     string      `json:"version"`
	Librdkafka  string      `json:"librdkafka"`
	Incremental bool        `json:"incremental"`
	Brokers     []int32     `json:"brokers"`
	Create      acPyErr     `json:"create"`
	Created     acPyConfigs `json:"created"`
	Replace     acPyErr     `json:"replace"`
	Replaced    acPyConfigs `json:"replaced"`
	BadCreate   []acPyErr   `json:"bad_create"`
	BadAlter    []acPyErr   `json:"bad_alter"`
	AfterBad    acPyConfigs `json:"after_bad"`
	Broker      acPyConfigs `json:"broker"`
	Errors      []string    `json:"errors"`
}

func TestAdminClientsConfluentKafkaPython(t *testing.T) {
	ctRequirePython(t)
	s := StartStrata(t, Options{Args: acBrokerArgs})
	spec := map[string]any{
		"topic":          "python-configs",
		"create":         acCreate,
		"replace":        acReplace,
		"bad":            [][2]string{},
		"bad_alter":      [][2]string{},
		"broker_configs": slices.Sorted(maps.Keys(acBroker)),
	}
	for _, b := range acBad {
		spec["bad"] = append(spec["bad"].([][2]string), [2]string{b.name, b.value})
		spec["bad_alter"] = append(spec["bad_alter"].([][2]string), [2]string{b.name, b.value})
	}
	in, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t, 3*acStep)
	out := ctRun(t, ctx, bytes.NewReader(in), ctPython, "python/admin.py", "--bootstrap", s.Addr,
		"--timeout", strconv.Itoa(int(acStep/time.Second)))
	var sum acPySummary
	if err := json.Unmarshal(out, &sum); err != nil {
		t.Fatalf("admin.py output: %v\n%s", err, out)
	}
	t.Logf("confluent-kafka-python %s, librdkafka %s; incremental_alter_configs: %v", sum.Version, sum.Librdkafka, sum.Incremental)
	for _, e := range sum.Errors {
		t.Logf("confluent-kafka-python reported: %s", e)
	}
	if sum.Create != nil {
		t.Fatalf("confluent-kafka-python: create: %v", []any(sum.Create))
	}
	acCheckTopic(t, "confluent-kafka-python after create", sum.Created.entries(t, "describe after create"), acCreate)
	if sum.Replace != nil {
		t.Fatalf("confluent-kafka-python: alter (replace): %v", []any(sum.Replace))
	}
	acCheckTopic(t, "confluent-kafka-python after replace", sum.Replaced.entries(t, "describe after replace"), acReplace)
	if len(sum.BadCreate) != len(acBad) || len(sum.BadAlter) != len(acBad) {
		t.Fatalf("confluent-kafka-python: %d bad creates and %d bad alters reported, want %d", len(sum.BadCreate), len(sum.BadAlter), len(acBad))
	}
	for i, bad := range acBad {
		sum.BadCreate[i].check(t, "create with "+bad.name+"="+bad.value, bad.msg)
		sum.BadAlter[i].check(t, "alter (replace) "+bad.name+"="+bad.value, bad.msg)
	}
	acCheckTopic(t, "confluent-kafka-python after the bad alters", sum.AfterBad.entries(t, "describe after the bad alters"), acReplace)
	acCheckBroker(t, "confluent-kafka-python", sum.Broker.entries(t, "describe broker"))
}

// --- compression.type=zstd recompresses on produce ----------------------------

// acRecord is a record as produced and as consumed.
type acRecord struct {
	Offset     int64
	Key, Value string
}

func TestAdminClientsRecompressZstd(t *testing.T) {
	kcat := testenv.Require(t, "kcat", "make debs")
	s := StartStrata(t, Options{})
	ctx := testContext(t, 4*acStep)
	cl := s.Client()
	const topic = "zstd-stored"
	created, err := kadm.NewClient(cl).CreateTopic(ctx, 1, -1, map[string]*string{"compression.type": kadm.StringPtr("zstd")}, topic)
	if err != nil || created.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, created.Err)
	}

	var want []acRecord
	records := func(producer string, n int) []acRecord {
		var out []acRecord
		for i := range n {
			out = append(out, acRecord{
				Offset: int64(len(want) + i),
				Key:    fmt.Sprintf("%s-%04d", producer, i),
				Value:  fmt.Sprintf("%s record %d %s", producer, i, strings.Repeat("compressible ", 10+i%20)),
			})
		}
		want = append(want, out...)
		return out
	}

	// franz-go with each codec, in batches of 50 records.
	for _, codec := range []struct {
		name  string
		codec kgo.CompressionCodec
	}{{"none", kgo.NoCompression()}, {"gzip", kgo.GzipCompression()}, {"lz4", kgo.Lz4Compression()}, {"snappy", kgo.SnappyCompression()}} {
		p := s.Client(kgo.ProducerBatchCompression(codec.codec), kgo.DefaultProduceTopic(topic))
		recs := records("franz-"+codec.name, 200)
		for i := 0; i < len(recs); i += 50 {
			var krs []*kgo.Record
			for _, r := range recs[i : i+50] {
				krs = append(krs, &kgo.Record{Key: []byte(r.Key), Value: []byte(r.Value)})
			}
			if err := p.ProduceSync(ctx, krs...).FirstErr(); err != nil {
				t.Fatalf("franz-go %s: produce: %v", codec.name, err)
			}
		}
	}

	// sarama with gzip.
	ctSaramaLog(t)
	cfg := sarama.NewConfig()
	cfg.Producer.Return.Successes = true // a SyncProducer needs it
	cfg.Producer.Compression = sarama.CompressionGZIP
	sp, err := sarama.NewSyncProducer([]string{s.Addr}, cfg)
	if err != nil {
		t.Fatalf("sarama: new sync producer: %v", err)
	}
	var msgs []*sarama.ProducerMessage
	for _, r := range records("sarama-gzip", 200) {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(r.Key), Value: sarama.StringEncoder(r.Value)})
	}
	if err := sp.SendMessages(msgs); err != nil {
		t.Fatalf("sarama: send: %v", err)
	}
	sp.Close()

	// kcat (librdkafka) with lz4.
	var in strings.Builder
	for _, r := range records("kcat-lz4", 200) {
		fmt.Fprintf(&in, "%s:%s\n", r.Key, r.Value)
	}
	ctRun(t, ctx, strings.NewReader(in.String()), kcat, "-b", s.Addr, "-t", topic, "-P", "-K:", "-X", "compression.codec=lz4")

	// Every stored batch is zstd, and together they hold every offset.
	batches, counted := 0, int64(0)
	for off := int64(0); off < int64(len(want)); {
		for _, rb := range acFetchBatches(t, ctx, cl, topic, created.ID, off) {
			if codec := rb.Attributes & 0x7; codec != 4 {
				t.Errorf("batch at offset %d (%d records) stored with codec %d, want 4 (zstd)", rb.FirstOffset, rb.NumRecords, codec)
			}
			if rb.FirstOffset != off {
				t.Fatalf("batch at offset %d, want %d", rb.FirstOffset, off)
			}
			batches++
			counted += int64(rb.NumRecords)
			off = rb.FirstOffset + int64(rb.LastOffsetDelta) + 1
		}
	}
	if counted != int64(len(want)) {
		t.Errorf("stored batches hold %d records, want %d", counted, len(want))
	}
	t.Logf("%d records in %d zstd batches", counted, batches)

	// Every consumer reads the records produced, in order.
	var got []acRecord
	for _, r := range consumeN(t, s, topic, len(want)) {
		got = append(got, acRecord{r.Offset, string(r.Key), string(r.Value)})
	}
	acCheckRecords(t, "franz-go", want, got)

	consumer, err := sarama.NewConsumer([]string{s.Addr}, sarama.NewConfig())
	if err != nil {
		t.Fatalf("sarama: new consumer: %v", err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatalf("sarama: consume partition: %v", err)
	}
	defer pc.Close()
	got = got[:0]
	for len(got) < len(want) {
		select {
		case m := <-pc.Messages():
			got = append(got, acRecord{m.Offset, string(m.Key), string(m.Value)})
		case err := <-pc.Errors():
			t.Fatalf("sarama: consume: %v", err)
		case <-ctx.Done():
			t.Fatalf("sarama: consumed %d of %d records", len(got), len(want))
		}
	}
	acCheckRecords(t, "sarama", want, got)

	out := ctRun(t, ctx, nil, kcat, "-b", s.Addr, "-t", topic, "-C", "-o", "beginning", "-e", "-f", `%o\t%k\t%s\n`)
	got = got[:0]
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), "\t", 3)
		o, err := strconv.ParseInt(f[0], 10, 64)
		if len(f) != 3 || err != nil {
			t.Fatalf("kcat: unexpected output line %q", sc.Text())
		}
		got = append(got, acRecord{o, f[1], f[2]})
	}
	acCheckRecords(t, "kcat", want, got)
}

// acFetchBatches fetches topic's partition 0 from offset with a raw Fetch
// and returns its record batches as stored.
func acFetchBatches(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, id [16]byte, offset int64) []kmsg.RecordBatch {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.SessionEpoch = -1, -1
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 500, 1, 64<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic, ft.TopicID = topic, id // by name up to v12, by id from v13
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes = 0, offset, 32<<20
	fp.CurrentLeaderEpoch, fp.LogStartOffset = -1, -1
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("fetch from %d: %v", offset, err)
	}
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch from %d: error %d, %d topics", offset, resp.ErrorCode, len(resp.Topics))
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		t.Fatalf("fetch from %d: %v", offset, err)
	}
	var out []kmsg.RecordBatch
	for data := p.RecordBatches; len(data) >= 12; {
		n := 12 + int(binary.BigEndian.Uint32(data[8:12])) // offset, length, then length bytes
		if n > len(data) {
			break // a partial batch at the end
		}
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(data[:n]); err != nil {
			t.Fatalf("fetch from %d: batch: %v", offset, err)
		}
		out = append(out, rb)
		data = data[n:]
	}
	if len(out) == 0 {
		t.Fatalf("fetch from %d returned no whole batch (%d bytes)", offset, len(p.RecordBatches))
	}
	return out
}

// acCheckRecords checks that got are want, at their offsets.
func acCheckRecords(t *testing.T, who string, want, got []acRecord) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: consumed %d records, want %d", who, len(got), len(want))
	}
	bad := 0
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			if bad < 5 {
				t.Errorf("%s: record %d: got %q/%q at offset %d, want %q/%q at %d", who, i, got[i].Key, got[i].Value[:min(30, len(got[i].Value))], got[i].Offset, want[i].Key, want[i].Value[:30], want[i].Offset)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d records differ", who, bad, len(want))
	}
}
