package e2e

// Client compatibility: real Kafka clients (franz-go, sarama, segmentio/kafka-go,
// librdkafka through kcat and confluent-kafka-python) produce records to a real
// `strata serve` and read them back. Every client keeps its default settings;
// where a test has to set something, a comment says why.
//
// Every test checks the same things with ctVerify: each record comes back once
// with its key, value and headers; offsets are contiguous from 0 in each
// partition and follow the order in which the records were produced; a key
// always lands on one partition; and, where the client reports them, the
// acknowledged partition and offset are the ones the consumer sees.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/strata-io/strata/internal/testenv"
)

// ctStep bounds one produce or consume step. It is a liveness guard, not a
// performance assertion: a healthy broker finishes each step in seconds.
const ctStep = 90 * time.Second

// ctRecord is a record as produced or as consumed, whatever the client.
type ctRecord struct {
	Partition int32 // -1 when the producer does not report it
	Offset    int64 // -1 when the producer does not report it
	Key       string
	Value     string
	Headers   []ctHeader
}

type ctHeader struct {
	Key   string
	Value string
}

// ctMakeRecords returns n records with a fixed seed. Record i has key
// "key-<i % keys>" (or "key-<i>" when keys is 0), a unique value starting with
// its index followed by a compressible body of 0–511 letters, and i%3 headers.
// Everything is printable ASCII without ':', tab or newline, so the same
// records work as kcat input lines.
func ctMakeRecords(n, keys int) []ctRecord {
	rng := rand.New(rand.NewPCG(20240917, uint64(n)))
	recs := make([]ctRecord, n)
	for i := range recs {
		k := i
		if keys > 0 {
			k = i % keys
		}
		body := make([]byte, rng.IntN(512))
		for j := range body {
			body[j] = "abcdefghij"[rng.IntN(10)]
		}
		r := ctRecord{
			Partition: -1,
			Offset:    -1,
			Key:       "key-" + strconv.Itoa(k),
			Value:     fmt.Sprintf("value-%05d-%s", i, body),
		}
		for h := range i % 3 {
			r.Headers = append(r.Headers, ctHeader{Key: "h" + strconv.Itoa(h), Value: fmt.Sprintf("hv-%d-%d", i, h)})
		}
		recs[i] = r
	}
	return recs
}

// ctVerify compares what a client consumed (in the order it was delivered)
// with what was produced (in production order). acked says whether want
// carries the partition and offset the producer was acknowledged with.
func ctVerify(t *testing.T, who string, want, got []ctRecord, acked bool) {
	t.Helper()
	ctVerifyRequests(t, who, want, got, acked, 0)
}

// ctVerifyRequests is ctVerify for a producer that does not order its
// requests: records are produced perRequest to a request (0: the producer
// orders everything), and each request must land whole, in order and not
// interleaved with another, while the requests may land in any order.
func ctVerifyRequests(t *testing.T, who string, want, got []ctRecord, acked bool, perRequest int) {
	t.Helper()
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if len(got) != len(want) {
		add("consumed %d records, produced %d", len(got), len(want))
	}
	index := make(map[string]int, len(want))
	for i, w := range want {
		index[w.Value] = i
	}
	seen := make([]bool, len(want))
	nextOffset := map[int32]int64{}
	lastIndex := map[int32]int{}
	keyPartition := map[string]int32{}
	for _, g := range got {
		at := fmt.Sprintf("partition %d offset %d", g.Partition, g.Offset)
		if next := nextOffset[g.Partition]; g.Offset != next {
			add("%s: expected offset %d next (offsets must be contiguous from 0)", at, next)
		}
		nextOffset[g.Partition] = g.Offset + 1
		if p, ok := keyPartition[g.Key]; ok && p != g.Partition {
			add("%s: key %q also seen in partition %d", at, g.Key, p)
		}
		keyPartition[g.Key] = g.Partition

		i, ok := index[g.Value]
		if !ok {
			add("%s: unexpected value %.40q", at, g.Value)
			continue
		}
		w := want[i]
		if seen[i] {
			add("%s: record %d delivered twice", at, i)
		}
		seen[i] = true
		if last, ok := lastIndex[g.Partition]; !ok && perRequest > 0 && i%perRequest != 0 {
			add("%s: record %d starts the partition, in the middle of its request", at, i)
		} else if ok {
			switch {
			case perRequest == 0 && i < last:
				add("%s: record %d after record %d (out of production order)", at, i, last)
			case perRequest > 0 && i/perRequest == last/perRequest && i != last+1:
				add("%s: record %d after record %d (out of its request's order)", at, i, last)
			case perRequest > 0 && i/perRequest != last/perRequest && (i%perRequest != 0 || (last+1)%perRequest != 0 && last != len(want)-1):
				add("%s: record %d after record %d (requests interleaved)", at, i, last)
			}
		}
		lastIndex[g.Partition] = i
		if g.Key != w.Key {
			add("%s: record %d key %q, want %q", at, i, g.Key, w.Key)
		}
		if !slices.Equal(g.Headers, w.Headers) {
			add("%s: record %d headers %v, want %v", at, i, g.Headers, w.Headers)
		}
		if acked && (g.Partition != w.Partition || g.Offset != w.Offset) {
			add("%s: record %d was acknowledged at partition %d offset %d", at, i, w.Partition, w.Offset)
		}
	}
	missing := 0
	for i, ok := range seen {
		if !ok {
			if missing < 5 {
				add("record %d (key %q, acknowledged at partition %d offset %d) never consumed",
					i, want[i].Key, want[i].Partition, want[i].Offset)
			}
			missing++
		}
	}
	if missing > 0 {
		add("%d records missing in all", missing)
	}
	if len(problems) == 0 {
		return
	}
	t.Errorf("%s: %d records produced, %d consumed, not intact:%s", who, len(want), len(got), problemList(problems, 20))
}

// problemList is the first show problems, one a line, and how many more.
func problemList(problems []string, show int) string {
	more := ""
	if len(problems) > show {
		more = fmt.Sprintf("\n\t... and %d more", len(problems)-show)
		problems = problems[:show]
	}
	return "\n\t" + strings.Join(problems, "\n\t") + more
}

// ctPartitionCounts counts records per partition.
func ctPartitionCounts(recs []ctRecord) map[int32]int64 {
	m := map[int32]int64{}
	for _, r := range recs {
		m[r.Partition]++
	}
	return m
}

// ctLog collects a client's own log lines and prints them if the test fails.
type ctLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func ctNewLog(t *testing.T, name string) *ctLog {
	t.Helper()
	l := &ctLog{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- %s client log ---\n%s", name, l.String())
		}
	})
	return l
}

func (l *ctLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *ctLog) Printf(format string, args ...any) {
	fmt.Fprintf(l, format+"\n", args...)
}

func (l *ctLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// --- franz-go ---------------------------------------------------------------

// ctFranzClient is a franz-go client with default settings plus opts, whose
// log is printed if the test fails. It is closed at the end of the test.
func ctFranzClient(t *testing.T, s *Strata, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	l := ctNewLog(t, "franz-go")
	return s.Client(append([]kgo.Opt{kgo.WithLogger(kgo.BasicLogger(l, kgo.LogLevelInfo, nil))}, opts...)...)
}

// ctFranzProduce produces recs in order and fills in the partitions and
// offsets they were acknowledged with.
func ctFranzProduce(t *testing.T, cl *kgo.Client, topic string, recs []ctRecord) {
	t.Helper()
	ctx := testContext(t, ctStep)
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		kr := &kgo.Record{Topic: topic, Key: []byte(r.Key), Value: []byte(r.Value)}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: []byte(h.Value)})
		}
		krs[i] = kr
	}
	var errs []error
	for _, res := range cl.ProduceSync(ctx, krs...) {
		if res.Err != nil {
			errs = append(errs, res.Err)
		}
	}
	if len(errs) > 0 {
		t.Fatalf("franz-go: produce to %s: %d of %d records failed; first error: %v",
			topic, len(errs), len(recs), errs[0])
	}
	for i, kr := range krs {
		recs[i].Partition, recs[i].Offset = kr.Partition, kr.Offset
	}
}

// ctFranzConsume reads topic from the start of every partition with a new
// default franz-go consumer (no group) until it has n records.
func ctFranzConsume(t *testing.T, s *Strata, topic string, n int) []ctRecord {
	t.Helper()
	l := ctNewLog(t, "franz-go consumer")
	// ConsumeTopics is what makes a client a consumer; the reset offset is
	// franz-go's default, the start of each partition.
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.Addr), kgo.ConsumeTopics(topic),
		kgo.WithLogger(kgo.BasicLogger(l, kgo.LogLevelInfo, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	return ctPollRecords(t, cl, topic, n)
}

// ctPollRecords polls the consumer cl until it has n records of topic.
func ctPollRecords(t *testing.T, cl *kgo.Client, topic string, n int) []ctRecord {
	t.Helper()
	ctx := testContext(t, ctStep)
	var got []ctRecord
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("franz-go: consumed %d of %d records of %s within %s", len(got), n, topic, ctStep)
		}
		for _, fe := range fs.Errors() {
			t.Fatalf("franz-go: fetch %s partition %d: %v (after %d of %d records)", fe.Topic, fe.Partition, fe.Err, len(got), n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			c := ctRecord{Partition: r.Partition, Offset: r.Offset, Key: string(r.Key), Value: string(r.Value)}
			for _, h := range r.Headers {
				c.Headers = append(c.Headers, ctHeader{Key: h.Key, Value: string(h.Value)})
			}
			got = append(got, c)
		})
	}
	return got
}

// ctEndOffsets lists every partition's end offset (high watermark) with kadm.
func ctEndOffsets(t *testing.T, cl *kgo.Client, topic string) map[int32]int64 {
	t.Helper()
	ctx := testContext(t, ctStep)
	offs, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err == nil {
		err = offs.Error()
	}
	if err != nil {
		t.Fatalf("kadm: list end offsets of %s: %v", topic, err)
	}
	m := map[int32]int64{}
	offs.Each(func(o kadm.ListedOffset) { m[o.Partition] = o.Offset })
	return m
}

// ctCheckEndOffsets checks that each partition ends right after the records
// produced to it: nothing more, nothing less.
func ctCheckEndOffsets(t *testing.T, cl *kgo.Client, topic string, recs []ctRecord) {
	t.Helper()
	want := ctPartitionCounts(recs)
	got := ctEndOffsets(t, cl, topic)
	for p, end := range got {
		if end != want[p] {
			t.Errorf("kadm: %s partition %d ends at offset %d, %d records were produced to it", topic, p, end, want[p])
		}
	}
	for p := range want {
		if _, ok := got[p]; !ok {
			t.Errorf("kadm: %s partition %d missing from ListOffsets", topic, p)
		}
	}
}

// ctCreateTopic creates a topic with kadm, with replication factor 1 (Strata
// does not replicate between brokers; durability comes from object storage).
func ctCreateTopic(t *testing.T, s *Strata, topic string, partitions int32) {
	t.Helper()
	cl := ctFranzClient(t, s)
	ctx := testContext(t, ctStep)
	resps, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, 1, nil, topic)
	if err != nil {
		t.Fatalf("kadm: create topic %s: %v", topic, err)
	}
	for _, r := range resps {
		if r.Err != nil {
			t.Fatalf("kadm: create topic %s: %v (%s)", r.Topic, r.Err, r.ErrMessage)
		}
	}
}

func TestClientsFranzGoCodecs(t *testing.T) { forEachBackend(t, testClientsFranzGoCodecs) }

func testClientsFranzGoCodecs(t *testing.T, opts Options) {
	s := StartStrata(t, opts)
	for _, tc := range []struct {
		name  string
		codec kgo.CompressionCodec
	}{
		{"none", kgo.NoCompression()},
		{"gzip", kgo.GzipCompression()},
		{"snappy", kgo.SnappyCompression()},
		{"lz4", kgo.Lz4Compression()},
		{"zstd", kgo.ZstdCompression()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "franz-" + tc.name
			// The codec is what this case tests; AllowAutoTopicCreation because
			// franz-go does not ask the broker to create topics by default and
			// this test is about an auto-created topic.
			cl := ctFranzClient(t, s, kgo.ProducerBatchCompression(tc.codec), kgo.AllowAutoTopicCreation())
			recs := ctMakeRecords(1000, 0)
			ctFranzProduce(t, cl, topic, recs)
			got := ctFranzConsume(t, s, topic, len(recs))
			ctVerify(t, "franz-go "+tc.name, recs, got, true)
			ctCheckEndOffsets(t, cl, topic, recs)
		})
	}
}

func TestClientsFranzGoPartitions(t *testing.T) { forEachBackend(t, testClientsFranzGoPartitions) }

func testClientsFranzGoPartitions(t *testing.T, opts Options) {
	s := StartStrata(t, opts)
	const topic, partitions = "franz-partitions", 4
	ctCreateTopic(t, s, topic, partitions)
	cl := ctFranzClient(t, s)
	recs := ctMakeRecords(1200, 37) // 37 keys, each repeated, hashed onto the partitions
	ctFranzProduce(t, cl, topic, recs)
	counts := ctPartitionCounts(recs)
	for p := range int32(partitions) {
		if counts[p] == 0 {
			t.Errorf("no record was produced to partition %d; counts per partition: %v", p, counts)
		}
	}
	for p := range counts {
		if p < 0 || p >= partitions {
			t.Errorf("record acknowledged on partition %d of a %d-partition topic", p, partitions)
		}
	}
	got := ctFranzConsume(t, s, topic, len(recs))
	ctVerify(t, "franz-go 4 partitions", recs, got, true)
	ctCheckEndOffsets(t, cl, topic, recs)
}

// TestClientsFranzGoMinIO runs the franz-go round trip with external etcd and
// MinIO and checks that the data and metadata really went there.
func TestClientsFranzGoMinIO(t *testing.T) {
	e := testenv.StartEtcd(t)
	m := testenv.StartMinIO(t)
	const bucket = "strata"

	ctx := testContext(t, ctStep)
	mc, err := minio.New(m.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(testenv.MinIOUser, testenv.MinIOPassword, ""),
		Region: "us-east-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	// The bucket is provisioned beforehand, as terraform does in production.
	if err := mc.MakeBucket(ctx, bucket, minio.MakeBucketOptions{Region: "us-east-1"}); err != nil {
		t.Fatalf("minio: make bucket: %v", err)
	}
	listObjects := func() (n int, size int64) {
		t.Helper()
		for o := range mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Recursive: true}) {
			if o.Err != nil {
				t.Fatalf("minio: list %s: %v", bucket, o.Err)
			}
			n++
			size += o.Size
		}
		return n, size
	}

	s := StartStrata(t, Options{EtcdEndpoints: e.Endpoint, ObjectStore: m.S3URL(bucket)})
	beforeN, beforeSize := listObjects()

	const topic = "franz-minio"
	// AllowAutoTopicCreation: franz-go does not ask for it by default, and
	// the topic here is auto-created. zstd makes the bucket hold compressed
	// batches as clients sent them.
	cl := ctFranzClient(t, s, kgo.AllowAutoTopicCreation(), kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	recs := ctMakeRecords(1000, 0)
	ctFranzProduce(t, cl, topic, recs) // acks=all: acknowledged only once in MinIO and etcd

	afterN, afterSize := listObjects()
	t.Logf("bucket %s: %d objects (%d bytes) before producing, %d objects (%d bytes) after", bucket, beforeN, beforeSize, afterN, afterSize)
	if afterN <= beforeN || afterSize <= beforeSize {
		t.Errorf("acks=all produce acknowledged but the bucket did not grow: %d objects (%d bytes) before, %d (%d bytes) after",
			beforeN, beforeSize, afterN, afterSize)
	}
	// The filesystem object store must not have been used instead.
	_ = filepath.WalkDir(filepath.Join(s.DataDir(), "objects"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			t.Errorf("object store is MinIO but %s exists", p)
		}
		return nil
	})

	ec, err := clientv3.New(clientv3.Config{Endpoints: []string{e.Endpoint}, DialTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	keys, err := ec.Get(ctx, "", clientv3.WithFromKey(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatalf("etcd: count keys: %v", err)
	}
	if keys.Count == 0 {
		t.Errorf("external etcd holds no keys after the broker produced with acks=all")
	}

	got := ctFranzConsume(t, s, topic, len(recs))
	ctVerify(t, "franz-go MinIO", recs, got, true)
	ctCheckEndOffsets(t, cl, topic, recs)
}

// TestClientsFranzGoRestart consumes everything after a graceful restart on
// the same data dir, and keeps producing with the same (idempotent) producer
// across the restart, as a long-lived application would.
func TestClientsFranzGoRestart(t *testing.T) {
	s := StartStrata(t, Options{})
	const topic = "franz-restart"
	// AllowAutoTopicCreation: franz-go does not ask for it by default.
	cl := ctFranzClient(t, s, kgo.AllowAutoTopicCreation())
	first := ctMakeRecords(1000, 0)
	ctFranzProduce(t, cl, topic, first)
	ctVerify(t, "franz-go before restart", first, ctFranzConsume(t, s, topic, len(first)), true)

	if code := s.Stop(); code != 0 {
		t.Errorf("strata exited with code %d after SIGTERM, want 0", code)
	}
	s.Restart()

	ctVerify(t, "franz-go after restart", first, ctFranzConsume(t, s, topic, len(first)), true)

	// The producer that was connected before the restart carries on; its
	// records follow the first ones.
	second := ctMakeRecords(1500, 0)[len(first):]
	ctFranzProduce(t, cl, topic, second)
	all := append(slices.Clone(first), second...)
	ctVerify(t, "franz-go produce after restart", all, ctFranzConsume(t, s, topic, len(all)), true)
	ctCheckEndOffsets(t, cl, topic, all)
}

// --- sarama -----------------------------------------------------------------

// ctSaramaLog sends sarama's package-wide logger to the test's client log for
// the duration of the test (the e2e tests do not run in parallel).
func ctSaramaLog(t *testing.T) {
	t.Helper()
	l := ctNewLog(t, "sarama")
	old := sarama.Logger
	sarama.Logger = log.New(l, "[sarama] ", log.Lmicroseconds)
	t.Cleanup(func() { sarama.Logger = old })
}

func TestClientsSarama(t *testing.T) { forEachBackend(t, testClientsSarama) }

// ctProduceCases are the producer settings the sarama and kafka-go tests
// run: the client's defaults, acks=all, and each codec (gzip and snappy with
// the default acks, lz4 and zstd with acks=all).
var ctProduceCases = []struct {
	name    string
	acksAll bool   // else the client's default
	codec   string // "": none
}{
	{"defaults", false, ""},
	{"acks=all", true, ""},
	{"gzip", false, "gzip"},
	{"snappy", false, "snappy"},
	{"lz4", true, "lz4"},
	{"zstd", true, "zstd"},
}

func testClientsSarama(t *testing.T, opts Options) {
	s := StartStrata(t, opts)
	ctSaramaLog(t)
	// sarama's default protocol version (2.8 in this release) supports record
	// headers and zstd, so Version is left alone.
	codecs := map[string]sarama.CompressionCodec{"": sarama.CompressionNone, "gzip": sarama.CompressionGZIP,
		"snappy": sarama.CompressionSnappy, "lz4": sarama.CompressionLZ4, "zstd": sarama.CompressionZSTD}
	for _, tc := range ctProduceCases {
		t.Run(tc.name, func(t *testing.T) {
			topic := "sarama-" + strings.ReplaceAll(tc.name, "=", "-")
			recs := ctMakeRecords(800, 0)

			cfg := sarama.NewConfig()
			// A SyncProducer refuses to start without Return.Successes: it
			// is how it learns that a message was acknowledged.
			cfg.Producer.Return.Successes = true
			cfg.Producer.RequiredAcks = sarama.WaitForLocal // sarama's default acks=1
			if tc.acksAll {
				cfg.Producer.RequiredAcks = sarama.WaitForAll
			}
			cfg.Producer.Compression = codecs[tc.codec]
			prod, err := sarama.NewSyncProducer([]string{s.Addr}, cfg)
			if err != nil {
				t.Fatalf("sarama: new sync producer: %v", err)
			}
			defer prod.Close()
			msgs := ctSaramaMessages(topic, recs)
			// sarama has no context; a stuck broker shows up as the test's
			// own timeout, with the client log.
			if err := prod.SendMessages(msgs); err != nil {
				var perrs sarama.ProducerErrors
				if errors.As(err, &perrs) && len(perrs) > 0 {
					t.Fatalf("sarama: send %d messages to %s: %d failed; first: %v", len(msgs), topic, len(perrs), perrs[0].Err)
				}
				t.Fatalf("sarama: send %d messages to %s: %v", len(msgs), topic, err)
			}
			for i, m := range msgs {
				recs[i].Partition, recs[i].Offset = m.Partition, m.Offset
			}

			got := ctSaramaConsume(t, s, topic, recs)
			ctVerify(t, "sarama "+tc.name, recs, got, true)
		})
	}
}

// ctSaramaMessages are recs as sarama producer messages to topic.
func ctSaramaMessages(topic string, recs []ctRecord) []*sarama.ProducerMessage {
	msgs := make([]*sarama.ProducerMessage, len(recs))
	for i, r := range recs {
		m := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(r.Key), Value: sarama.StringEncoder(r.Value)}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: []byte(h.Value)})
		}
		msgs[i] = m
	}
	return msgs
}

// ctFromSarama is a record sarama consumed.
func ctFromSarama(m *sarama.ConsumerMessage) ctRecord {
	c := ctRecord{Partition: m.Partition, Offset: m.Offset, Key: string(m.Key), Value: string(m.Value)}
	for _, h := range m.Headers {
		c.Headers = append(c.Headers, ctHeader{Key: string(h.Key), Value: string(h.Value)})
	}
	return c
}

// ctSaramaConsume reads every partition recs were produced to from
// OffsetOldest with a default sarama consumer, and checks the high watermarks.
func ctSaramaConsume(t *testing.T, s *Strata, topic string, recs []ctRecord) []ctRecord {
	t.Helper()
	consumer, err := sarama.NewConsumer([]string{s.Addr}, sarama.NewConfig())
	if err != nil {
		t.Fatalf("sarama: new consumer: %v", err)
	}
	defer consumer.Close()

	parts, err := consumer.Partitions(topic)
	if err != nil {
		t.Fatalf("sarama: partitions of %s: %v", topic, err)
	}
	counts := ctPartitionCounts(recs)
	// All partition consumers run at once and are closed together at the
	// end: closing one waits for its fetch in flight (a long poll).
	pcs := map[int32]sarama.PartitionConsumer{}
	defer func() {
		for _, pc := range pcs {
			pc.AsyncClose()
		}
		for _, pc := range pcs {
			for range pc.Messages() {
			}
			for range pc.Errors() {
			}
		}
	}()
	for _, p := range parts {
		if counts[p] == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("sarama: consume %s/%d from oldest: %v", topic, p, err)
		}
		pcs[p] = pc
	}
	ctx := testContext(t, ctStep)
	var got []ctRecord
	for p, pc := range pcs {
		for n := range counts[p] {
			select {
			case m := <-pc.Messages():
				got = append(got, ctFromSarama(m))
			case <-ctx.Done():
				t.Fatalf("sarama: consumed %d of %d records of %s partition %d within %s", n, counts[p], topic, p, ctStep)
			}
		}
	}
	// Only now: with acks=1 the high watermark follows the acknowledgement
	// (it moves once the data is in object storage, see ARCHITECTURE.md §3).
	for p, pc := range pcs {
		if hwm := pc.HighWaterMarkOffset(); hwm != counts[p] {
			t.Errorf("sarama: %s partition %d: fetch reported high watermark %d, %d records were produced to it", topic, p, hwm, counts[p])
		}
	}
	client, err := sarama.NewClient([]string{s.Addr}, sarama.NewConfig())
	if err != nil {
		t.Fatalf("sarama: new client: %v", err)
	}
	defer client.Close()
	for _, p := range parts {
		hwm, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatalf("sarama: newest offset of %s/%d: %v", topic, p, err)
		}
		if hwm != counts[p] {
			t.Errorf("sarama: %s partition %d: newest offset %d, %d records were produced to it", topic, p, hwm, counts[p])
		}
	}
	return got
}

// --- segmentio/kafka-go -----------------------------------------------------

// ctKafkaGoMessages are recs as kafka-go messages.
func ctKafkaGoMessages(recs []ctRecord) []kafkago.Message {
	msgs := make([]kafkago.Message, len(recs))
	for i, r := range recs {
		m := kafkago.Message{Key: []byte(r.Key), Value: []byte(r.Value)}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, kafkago.Header{Key: h.Key, Value: []byte(h.Value)})
		}
		msgs[i] = m
	}
	return msgs
}

// ctFromKafkaGo is a record kafka-go read.
func ctFromKafkaGo(m kafkago.Message) ctRecord {
	c := ctRecord{Partition: int32(m.Partition), Offset: m.Offset, Key: string(m.Key), Value: string(m.Value)}
	for _, h := range m.Headers {
		c.Headers = append(c.Headers, ctHeader{Key: h.Key, Value: string(h.Value)})
	}
	return c
}

// ctKafkaGoWrite writes recs with w and closes it; the records' partition
// becomes 0, as the Writer reports no offsets and the tests' topics have one
// partition.
func ctKafkaGoWrite(t *testing.T, ctx context.Context, w *kafkago.Writer, recs []ctRecord) {
	t.Helper()
	msgs := ctKafkaGoMessages(recs)
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		w.Close()
		t.Fatalf("kafka-go: write %d messages to %s: %v", len(msgs), w.Topic, err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("kafka-go: close writer: %v", err)
	}
	for i := range recs {
		recs[i].Partition = 0
	}
}

// ctKafkaGoRead reads n messages of topic with r.
func ctKafkaGoRead(t *testing.T, ctx context.Context, r *kafkago.Reader, topic string, n int) []ctRecord {
	t.Helper()
	var got []ctRecord
	for len(got) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("kafka-go: read %s after %d of %d messages: %v", topic, len(got), n, err)
		}
		got = append(got, ctFromKafkaGo(m))
	}
	return got
}

// kafkaGoBatch is the records in each of kafka-go's produce requests (its
// Writer's default, set explicitly because the test relies on it).
const kafkaGoBatch = 100

func TestClientsKafkaGo(t *testing.T) { forEachBackend(t, testClientsKafkaGo) }

func testClientsKafkaGo(t *testing.T, opts Options) {
	s := StartStrata(t, opts)
	// Reader.Close waits for the fetch in flight, a long poll of up to the
	// Reader's MaxWait (10s by default), so the cases close their readers in
	// the background and the test waits for all of them once.
	var closing sync.WaitGroup
	t.Cleanup(closing.Wait)
	codecs := map[string]kafkago.Compression{"": 0, "gzip": kafkago.Gzip, "snappy": kafkago.Snappy,
		"lz4": kafkago.Lz4, "zstd": kafkago.Zstd}
	for _, tc := range ctProduceCases {
		acks := kafkago.RequireNone // kafka-go's Writer defaults to acks=0, no compression
		if tc.acksAll {
			acks = kafkago.RequireAll
		}
		t.Run(tc.name, func(t *testing.T) {
			topic := "kafkago-" + strings.ReplaceAll(tc.name, "=", "-")
			// kafka-go's Writer does not ask for topic creation by default.
			ctCreateTopic(t, s, topic, 1)
			l := ctNewLog(t, "kafka-go")
			recs := ctMakeRecords(800, 0)

			// A Transport of its own, with default settings: the package's
			// DefaultTransport is shared by every Writer in the process and
			// caches metadata for 6s, so it would not yet know a topic created
			// by the previous case a moment ago (UNKNOWN_TOPIC_OR_PARTITION).
			tr := &kafkago.Transport{}
			defer tr.CloseIdleConnections()
			w := &kafkago.Writer{
				Addr:         kafkago.TCP(s.Addr),
				Transport:    tr,
				Topic:        topic,
				RequiredAcks: acks,
				Compression:  codecs[tc.codec],
				BatchSize:    kafkaGoBatch,
				ErrorLogger:  kafkago.LoggerFunc(l.Printf),
			}
			ctx := testContext(t, ctStep)
			ctKafkaGoWrite(t, ctx, w, recs)

			r := kafkago.NewReader(kafkago.ReaderConfig{
				Brokers:     []string{s.Addr},
				Topic:       topic,
				Partition:   0,
				StartOffset: kafkago.FirstOffset,
				ErrorLogger: kafkago.LoggerFunc(l.Printf),
			})
			defer closing.Go(func() { _ = r.Close() })
			got := ctKafkaGoRead(t, ctx, r, topic, len(recs))
			// With acks=0 kafka-go hands its connection back only after it
			// has returned the write to the Writer, which then sends the
			// next request on a second connection: requests may land in
			// any order, as they would on Kafka.
			perRequest := 0
			if acks == kafkago.RequireNone {
				perRequest = kafkaGoBatch
			}
			ctVerifyRequests(t, "kafka-go "+tc.name, recs, got, false, perRequest)

			conn, err := kafkago.DialLeader(ctx, "tcp", s.Addr, topic, 0)
			if err != nil {
				t.Fatalf("kafka-go: dial leader of %s/0: %v", topic, err)
			}
			defer conn.Close()
			last, err := conn.ReadLastOffset()
			if err != nil {
				t.Fatalf("kafka-go: last offset of %s/0: %v", topic, err)
			}
			if last != int64(len(recs)) {
				t.Errorf("kafka-go: %s partition 0 last offset %d, want %d", topic, last, len(recs))
			}
		})
	}
}

// --- kcat (librdkafka) ------------------------------------------------------

// ctRun runs a client program and returns its stdout; it fails the test with
// stderr if the program fails, and logs stderr when the test fails later.
func ctRun(t *testing.T, ctx context.Context, stdin io.Reader, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	label := filepath.Base(name) + " " + strings.Join(args, " ")
	if err != nil {
		t.Fatalf("%s: %v\nstderr:\n%s", label, err, stderr.String())
	}
	t.Cleanup(func() {
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("--- stderr of %s ---\n%s", label, stderr.String())
		}
	})
	return stdout.Bytes()
}

// ctKcatMetadata is the part of `kcat -L -J` the test looks at.
type ctKcatMetadata struct {
	Brokers []struct {
		ID   int32  `json:"id"`
		Name string `json:"name"`
	} `json:"brokers"`
	Topics []struct {
		Topic      string `json:"topic"`
		Error      string `json:"error"`
		Partitions []struct {
			Partition int32  `json:"partition"`
			Leader    int32  `json:"leader"`
			Error     string `json:"error"`
		} `json:"partitions"`
	} `json:"topics"`
}

func TestClientsKcat(t *testing.T) { forEachBackend(t, testClientsKcat) }

func testClientsKcat(t *testing.T, opts Options) {
	kcat := testenv.Require(t, "kcat", "make debs")
	s := StartStrata(t, opts)
	codecs := []string{"none", "gzip", "snappy", "lz4", "zstd"}
	produced := map[string]int{} // topic -> partitions the records were consumed from
	for _, codec := range codecs {
		t.Run(codec, func(t *testing.T) {
			topic := "kcat-" + codec
			recs := ctMakeRecords(800, 0)
			var in bytes.Buffer
			for i := range recs {
				// kcat -H puts the same headers on every message.
				recs[i].Headers = []ctHeader{{Key: "trace", Value: "kcat-" + codec}}
				fmt.Fprintf(&in, "%s:%s\n", recs[i].Key, recs[i].Value)
			}
			ctx := testContext(t, ctStep)
			// librdkafka's producer defaults: acks=all, not idempotent,
			// and it asks the broker to auto-create the topic.
			ctRun(t, ctx, &in, kcat, "-b", s.Addr, "-t", topic, "-P", "-K:",
				"-H", "trace=kcat-"+codec, "-X", "compression.codec="+codec)

			// The format adds partition, offset and headers to the brief
			// '%k:%s' so offsets and order can be checked as well.
			out := ctRun(t, ctx, nil, kcat, "-b", s.Addr, "-t", topic, "-C", "-o", "beginning", "-e",
				"-f", `%p\t%o\t%k\t%s\t%h\n`)
			var got []ctRecord
			sc := bufio.NewScanner(bytes.NewReader(out))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				f := strings.Split(sc.Text(), "\t")
				if len(f) != 5 {
					t.Fatalf("kcat: unexpected output line %q", sc.Text())
				}
				p, err1 := strconv.ParseInt(f[0], 10, 32)
				o, err2 := strconv.ParseInt(f[1], 10, 64)
				if err1 != nil || err2 != nil {
					t.Fatalf("kcat: unexpected output line %q", sc.Text())
				}
				c := ctRecord{Partition: int32(p), Offset: o, Key: f[2], Value: f[3]}
				for _, kv := range strings.Split(f[4], ",") {
					if k, v, ok := strings.Cut(kv, "="); ok {
						c.Headers = append(c.Headers, ctHeader{Key: k, Value: v})
					}
				}
				got = append(got, c)
			}
			ctVerify(t, "kcat "+codec, recs, got, false)
			produced[topic] = len(ctPartitionCounts(got))
		})
	}

	t.Run("metadata", func(t *testing.T) {
		ctx := testContext(t, ctStep)
		plain := ctRun(t, ctx, nil, kcat, "-b", s.Addr, "-L")
		if !bytes.Contains(plain, []byte("at "+s.Addr)) {
			t.Errorf("kcat -L does not list a broker at %s:\n%s", s.Addr, plain)
		}
		var md ctKcatMetadata
		out := ctRun(t, ctx, nil, kcat, "-b", s.Addr, "-L", "-J")
		if err := json.Unmarshal(out, &md); err != nil {
			t.Fatalf("kcat -L -J: %v\n%s", err, out)
		}
		brokers := map[int32]bool{}
		for _, b := range md.Brokers {
			brokers[b.ID] = true
			if b.Name != s.Addr {
				t.Errorf("kcat -L: broker %d advertised as %q, want %q", b.ID, b.Name, s.Addr)
			}
		}
		if len(md.Brokers) != 1 {
			t.Errorf("kcat -L: %d brokers listed, want 1: %s", len(md.Brokers), out)
		}
		topics := map[string]bool{}
		for _, tp := range md.Topics {
			topics[tp.Topic] = true
			used, ours := produced[tp.Topic]
			if !ours {
				continue
			}
			if tp.Error != "" {
				t.Errorf("kcat -L: topic %s: error %s", tp.Topic, tp.Error)
			}
			if len(tp.Partitions) < used {
				t.Errorf("kcat -L: topic %s lists %d partitions, records were consumed from %d", tp.Topic, len(tp.Partitions), used)
			}
			for _, p := range tp.Partitions {
				if p.Error != "" || !brokers[p.Leader] {
					t.Errorf("kcat -L: %s partition %d: leader %d, error %q", tp.Topic, p.Partition, p.Leader, p.Error)
				}
			}
		}
		for topic := range produced {
			if !topics[topic] {
				t.Errorf("kcat -L does not list topic %s", topic)
			}
		}
	})
}

// --- confluent-kafka-python (librdkafka) ------------------------------------

// ctPython is Debian's interpreter, where python3-confluent-kafka is installed.
const ctPython = "/usr/bin/python3"

// ctRequirePython fails in CI and skips elsewhere when confluent_kafka cannot
// be imported, like testenv.Require does for a missing tool.
func ctRequirePython(t *testing.T) {
	t.Helper()
	out, err := exec.Command(ctPython, "-c", "import confluent_kafka").CombinedOutput()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("%s cannot import confluent_kafka (make debs): %v %s", ctPython, err, bytes.TrimSpace(out))
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// ctPyRecord is one record in python/roundtrip.py's input and output.
type ctPyRecord struct {
	Partition int32       `json:"partition"`
	Offset    int64       `json:"offset"`
	Key       string      `json:"key"`
	Value     string      `json:"value"`
	Headers   [][2]string `json:"headers"`
	Error     string      `json:"error,omitempty"`
}

// ctPySummary is what python/roundtrip.py prints.
type ctPySummary struct {
	Version     string              `json:"version"`
	Librdkafka  string              `json:"librdkafka"`
	Delivered   []ctPyRecord        `json:"delivered"`   // in input order; partition/offset from the delivery report
	Undelivered int                 `json:"undelivered"` // still queued when flush gave up
	Consumed    []ctPyRecord        `json:"consumed"`    // in delivery order
	Watermarks  map[string][2]int64 `json:"watermarks"`  // partition -> [low, high]
	Errors      []string            `json:"errors"`      // error_cb and consumer errors
}

// ctPyInput is recs as roundtrip.py reads them: one JSON object a line.
func ctPyInput(t *testing.T, recs []ctRecord) *bytes.Buffer {
	t.Helper()
	var in bytes.Buffer
	enc := json.NewEncoder(&in)
	for _, r := range recs {
		pr := ctPyRecord{Key: r.Key, Value: r.Value, Headers: [][2]string{}}
		for _, h := range r.Headers {
			pr.Headers = append(pr.Headers, [2]string{h.Key, h.Value})
		}
		if err := enc.Encode(pr); err != nil {
			t.Fatal(err)
		}
	}
	return &in
}

// consumed is what the script read back.
func (sum *ctPySummary) consumed() []ctRecord {
	got := make([]ctRecord, len(sum.Consumed))
	for i, c := range sum.Consumed {
		got[i] = ctRecord{Partition: c.Partition, Offset: c.Offset, Key: c.Key, Value: c.Value}
		for _, h := range c.Headers {
			got[i].Headers = append(got[i].Headers, ctHeader{Key: h[0], Value: h[1]})
		}
	}
	return got
}

func TestClientsConfluentKafkaPython(t *testing.T) {
	forEachBackend(t, testClientsConfluentKafkaPython)
}

func testClientsConfluentKafkaPython(t *testing.T, opts Options) {
	ctRequirePython(t)
	s := StartStrata(t, opts)
	for _, tc := range []struct{ name, compression string }{
		{"defaults", ""},
		{"zstd", "zstd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "python-" + tc.name
			recs := ctMakeRecords(800, 0)
			in := ctPyInput(t, recs)
			ctx := testContext(t, ctStep+30*time.Second)
			args := []string{"python/roundtrip.py", "--bootstrap", s.Addr, "--topic", topic,
				"--timeout", strconv.Itoa(int(ctStep / time.Second))}
			if tc.compression != "" {
				args = append(args, "--compression", tc.compression)
			}
			out := ctRun(t, ctx, in, ctPython, args...)
			var sum ctPySummary
			if err := json.Unmarshal(out, &sum); err != nil {
				t.Fatalf("roundtrip.py output: %v\n%s", err, out)
			}
			t.Logf("confluent-kafka-python %s, librdkafka %s", sum.Version, sum.Librdkafka)
			for _, e := range sum.Errors {
				t.Logf("confluent-kafka-python reported: %s", e)
			}
			if len(sum.Delivered) != len(recs) {
				t.Fatalf("roundtrip.py reported %d deliveries for %d records", len(sum.Delivered), len(recs))
			}
			failed := 0
			for i, d := range sum.Delivered {
				if d.Error != "" {
					if failed == 0 {
						t.Errorf("confluent-kafka-python: record %d not delivered: %s", i, d.Error)
					}
					failed++
					continue
				}
				recs[i].Partition, recs[i].Offset = d.Partition, d.Offset
			}
			if failed > 0 || sum.Undelivered > 0 {
				t.Fatalf("confluent-kafka-python: %d delivery errors, %d still queued after flush", failed, sum.Undelivered)
			}
			got := sum.consumed()
			ctVerify(t, "confluent-kafka-python "+tc.name, recs, got, true)
			counts := ctPartitionCounts(recs)
			for p, wm := range sum.Watermarks {
				pi, _ := strconv.Atoi(p)
				if wm[0] != 0 || wm[1] != counts[int32(pi)] {
					t.Errorf("confluent-kafka-python: %s partition %s watermarks [%d, %d], want [0, %d]", topic, p, wm[0], wm[1], counts[int32(pi)])
				}
			}
		})
	}
}

// forEachBackend runs a client test against both ways of running Strata: the
// single-node default (embedded etcd, filesystem object store) and a real
// external etcd with a real MinIO.
func forEachBackend(t *testing.T, fn func(t *testing.T, opts Options)) {
	t.Run("embedded", func(t *testing.T) { fn(t, Options{}) })
	t.Run("etcd+minio", func(t *testing.T) {
		e := testenv.StartEtcd(t)
		m := testenv.StartMinIO(t)
		fn(t, Options{EtcdEndpoints: e.Endpoint, ObjectStore: m.S3URL("strata")})
	})
}
