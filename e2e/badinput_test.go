package e2e

// Bad input from clients: malformed frames, unknown APIs and versions, corrupt
// or oversized batches, invalid topics and configs, idempotent retries and
// sequence gaps, fetches past the end. Each case asserts Kafka's answer (an
// error code, or a closed connection where Kafka closes it) and then that the
// broker still serves an ordinary franz-go client on a fresh connection.
//
// Requests are built with kmsg and written on a raw connection (kafkaConn), so
// the test controls every byte and every version.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker/brokertest"
)

// startBadInputBroker starts a single-node default broker (embedded etcd,
// filesystem object store) with topic auto-creation off.
func startBadInputBroker(t *testing.T) *Strata {
	t.Helper()
	return StartStrata(t, Options{Args: []string{"--auto-create-topics=false"}})
}

// startBadInputTopic starts a broker (startBadInputBroker), dials it and
// creates topic there.
func startBadInputTopic(t *testing.T, topic string, partitions int32, configs map[string]string) (*Strata, *kafkaConn) {
	t.Helper()
	s := startBadInputBroker(t)
	k := dialKafka(t, s)
	wantCode(t, "CreateTopics "+topic, createTopicRaw(t, k, topic, partitions, configs), nil)
	return s, k
}

const healthTopic = "e2e-health"

var healthSeq atomic.Int64

// assertStillServes produces one record with a new franz-go client (a fresh
// connection, default acks=all and idempotence) and reads it back.
func assertStillServes(t *testing.T, s *Strata) {
	t.Helper()
	ensureTopic(t, s, healthTopic, 1, nil)
	ctx := testContext(t, 60*time.Second)
	value := fmt.Sprintf("health-%d", healthSeq.Add(1))
	prod := newClient(t, s, kgo.DefaultProduceTopic(healthTopic))
	defer prod.Close()
	res := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(value)})
	if err := res.FirstErr(); err != nil {
		t.Fatalf("broker no longer serves: produce to %s: %v", healthTopic, err)
	}
	rec := res[0].Record
	cons := newClient(t, s, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		healthTopic: {rec.Partition: kgo.NewOffset().At(rec.Offset)},
	}))
	defer cons.Close()
	for {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("broker no longer serves: record %d/%d not fetched: %v", rec.Partition, rec.Offset, ctx.Err())
		}
		fs.EachError(func(topic string, p int32, err error) {
			t.Logf("fetch %s/%d: %v", topic, p, err)
		})
		for _, r := range fs.Records() {
			if r.Offset == rec.Offset {
				if string(r.Value) != value {
					t.Fatalf("read back %q at %d/%d, produced %q", r.Value, r.Partition, r.Offset, value)
				}
				return
			}
		}
	}
}

// TestBadInputFrames sends frames no Kafka client sends. Kafka closes the
// connection for frames it cannot parse and for unknown API keys, and answers
// an unsupported ApiVersions version with UNSUPPORTED_VERSION in a v0 body.
func TestBadInputFrames(t *testing.T) {
	s := startBadInputBroker(t)

	header := func(key kmsg.Key, version int16, corr int32) []byte {
		b := binary.BigEndian.AppendUint16(nil, uint16(key))
		b = binary.BigEndian.AppendUint16(b, uint16(version))
		b = binary.BigEndian.AppendUint32(b, uint32(corr))
		return binary.BigEndian.AppendUint16(b, 0xffff) // null client id
	}
	frame := func(body ...[]byte) []byte {
		b := bytes.Join(body, nil)
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
	}
	rnd := rand.New(rand.NewSource(1))
	garbage := func(n int) []byte {
		b := make([]byte, n)
		rnd.Read(b)
		return b
	}

	cases := []struct {
		name  string
		bytes []byte
		// closeOnly: the connection must be closed. Otherwise an error
		// response to the request is accepted too.
		closeOnly bool
		// hangUp: the client closes its side after writing (never finishing
		// the frame); only the broker's health is checked.
		hangUp bool
	}{
		{name: "size prefix 0x7fffffff", bytes: []byte{0x7f, 0xff, 0xff, 0xff, 0, 18, 0, 0}, closeOnly: true},
		{name: "negative size prefix", bytes: []byte{0xff, 0xff, 0xff, 0xff, 0, 18, 0, 0}, closeOnly: true},
		{name: "frame shorter than a request header", bytes: frame([]byte{0, 18, 0}), closeOnly: true},
		{name: "unknown api key 999", bytes: frame(header(999, 0, 7)), closeOnly: true},
		{name: "produce v7 with a truncated body", bytes: frame(header(kmsg.Produce, 7, 7), []byte{0xff, 0xff, 0, 1, 0, 0, 0x75, 0x30, 0, 0, 0, 1, 0, 5, 't'})},
		{name: "produce v7 with a garbage body", bytes: frame(header(kmsg.Produce, 7, 7), garbage(200))},
		{name: "metadata v9 with a garbage body", bytes: frame(header(kmsg.Metadata, 9, 7), garbage(64))},
		{name: "half a frame then hang up", bytes: append(binary.BigEndian.AppendUint32(nil, 100), header(kmsg.ApiVersions, 0, 7)...), hangUp: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := s.Dial()
			if _, err := c.Write(tc.bytes); err != nil {
				t.Fatalf("write: %v", err)
			}
			switch {
			case tc.hangUp:
				c.Close()
			case tc.closeOnly:
				expectClosed(t, c)
			default:
				expectClosedOrErrorResponse(t, c, 7)
			}
			assertStillServes(t, s)
		})
	}

	t.Run("ApiVersions v99", func(t *testing.T) {
		// As Java clients do: the request is written in the newest format
		// the client knows; the broker must answer in v0 so any client can
		// read the error and the supported ranges.
		c := s.Dial()
		req := kmsg.NewPtrApiVersionsRequest()
		req.ClientSoftwareName = "strata-e2e"
		req.ClientSoftwareVersion = "1"
		req.SetVersion(99)
		if _, err := c.Write(kmsg.NewRequestFormatter(kmsg.FormatterClientID("e2e")).AppendRequest(nil, req, 42)); err != nil {
			t.Fatal(err)
		}
		body, err := readFrame(c)
		if err != nil {
			t.Fatalf("no response to ApiVersions v99: %v", err)
		}
		if corr := int32(binary.BigEndian.Uint32(body)); corr != 42 {
			t.Fatalf("correlation id %d, want 42", corr)
		}
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.SetVersion(0)
		if err := resp.ReadFrom(body[4:]); err != nil {
			t.Fatalf("response is not an ApiVersions v0 body: %v (% x)", err, body[4:])
		}
		wantCode(t, "ApiVersions v99", resp.ErrorCode, kerr.UnsupportedVersion)
		var apiVersions *kmsg.ApiVersionsResponseApiKey
		for i := range resp.ApiKeys {
			if resp.ApiKeys[i].ApiKey == req.Key() {
				apiVersions = &resp.ApiKeys[i]
			}
		}
		if apiVersions == nil {
			t.Fatalf("UNSUPPORTED_VERSION response lists no range for ApiVersions (%d keys listed)", len(resp.ApiKeys))
		}
		if apiVersions.MinVersion != 0 || apiVersions.MaxVersion < 3 {
			t.Errorf("ApiVersions range %d-%d, want 0-3 or wider", apiVersions.MinVersion, apiVersions.MaxVersion)
		}
		assertStillServes(t, s)
	})
}

// TestBadInputProduce sends batches the leader must refuse with a
// per-partition error while the rest of the request succeeds.
func TestBadInputProduce(t *testing.T) {
	const topic, small = "e2e-produce", "e2e-small-max"
	s, k := startBadInputTopic(t, topic, 2, nil)
	wantCode(t, "CreateTopics "+small, createTopicRaw(t, k, small, 1, map[string]string{"max.message.bytes": "1024"}), nil)

	good := encodeBatch(noProducer, [][]byte{[]byte("good-1"), []byte("good-2")})
	badCRC := encodeBatch(noProducer, [][]byte{[]byte("bad-crc")})
	badCRC[len(badCRC)-3] ^= 0xff // inside the value, after the CRC was computed
	big := func(n int) []byte { return encodeBatch(noProducer, [][]byte{bytes.Repeat([]byte("m"), n)}) }

	cases := []struct {
		name  string
		topic string
		parts map[int32][]byte
		want  map[int32]*kerr.Error // nil: no error
	}{
		{name: "bad CRC", topic: topic, parts: map[int32][]byte{0: badCRC}, want: map[int32]*kerr.Error{0: kerr.CorruptMessage}},
		{name: "batch over the topic's max.message.bytes", topic: small, parts: map[int32][]byte{0: big(2048)}, want: map[int32]*kerr.Error{0: kerr.MessageTooLarge}},
		{name: "batch over the default max.message.bytes", topic: topic, parts: map[int32][]byte{0: big(1100 << 10)}, want: map[int32]*kerr.Error{0: kerr.MessageTooLarge}},
		{
			name:  "valid, corrupt and unknown partitions in one request",
			topic: topic,
			parts: map[int32][]byte{0: good, 1: badCRC, 99: good},
			want:  map[int32]*kerr.Error{0: nil, 1: kerr.CorruptMessage, 99: kerr.UnknownTopicOrPartition},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := dialKafka(t, s)
			resp := k.produce(-1, tc.topic, tc.parts)
			for p, want := range tc.want {
				pr := producePartition(t, resp, tc.topic, p)
				wantCode(t, fmt.Sprintf("Produce %s/%d", tc.topic, p), pr.ErrorCode, want)
				if want == nil {
					// The accepted batch is stored, whole, at its offset.
					got := k.fetchBatches(tc.topic, p, pr.BaseOffset)
					if !bytes.Contains(got, []byte("good-1")) || !bytes.Contains(got, []byte("good-2")) {
						t.Errorf("fetch %s/%d at %d: accepted batch not returned", tc.topic, p, pr.BaseOffset)
					}
				}
			}
			assertStillServes(t, s)
		})
	}

	t.Run("corrupt batch is not stored", func(t *testing.T) {
		// Partition 1 only ever received corrupt batches.
		k := dialKafka(t, s)
		if end := k.listOffset(topic, 1, -1); end != 0 {
			t.Errorf("%s/1 end offset %d after only corrupt batches, want 0", topic, end)
		}
	})
}

// TestBadInputUnknownTopic: with auto-creation off, an unknown topic is an
// error for Metadata and for Produce, never a new topic.
func TestBadInputUnknownTopic(t *testing.T) {
	s := startBadInputBroker(t)
	k := dialKafka(t, s)
	const topic = "e2e-no-such-topic"

	md := k.metadata(topic)
	if len(md.Topics) != 1 {
		t.Fatalf("Metadata for %s: %d topics in response, want 1", topic, len(md.Topics))
	}
	wantCode(t, "Metadata "+topic, md.Topics[0].ErrorCode, kerr.UnknownTopicOrPartition)

	resp := k.produce(-1, topic, map[int32][]byte{0: encodeBatch(noProducer, [][]byte{[]byte("x")})})
	wantCode(t, "Produce "+topic+"/0", producePartition(t, resp, topic, 0).ErrorCode, kerr.UnknownTopicOrPartition)

	md = k.metadata(topic)
	if len(md.Topics) != 1 || md.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("topic %s exists after Metadata and Produce with auto-creation off", topic)
	}
	assertStillServes(t, s)
}

// TestBadInputCreateTopics checks CreateTopics' per-topic validation.
func TestBadInputCreateTopics(t *testing.T) {
	s := startBadInputBroker(t)
	k := dialKafka(t, s)
	wantCode(t, "CreateTopics e2e-exists", createTopicRaw(t, k, "e2e-exists", 1, nil), nil)

	cases := []struct {
		name       string
		topic      string
		partitions int32
		configs    map[string]string
		want       *kerr.Error
	}{
		{name: "slash in name", topic: "bad/name", partitions: 1, want: kerr.InvalidTopicException},
		{name: "empty name", topic: "", partitions: 1, want: kerr.InvalidTopicException},
		{name: "dot", topic: ".", partitions: 1, want: kerr.InvalidTopicException},
		{name: "dot dot", topic: "..", partitions: 1, want: kerr.InvalidTopicException},
		{name: "250 characters", topic: strings.Repeat("a", 250), partitions: 1, want: kerr.InvalidTopicException},
		{name: "unknown config", topic: "e2e-unknown-config", partitions: 1, configs: map[string]string{"no.such.config": "1"}, want: kerr.InvalidConfig},
		{name: "retention.ms=abc", topic: "e2e-bad-retention", partitions: 1, configs: map[string]string{"retention.ms": "abc"}, want: kerr.InvalidConfig},
		{name: "zero partitions", topic: "e2e-zero-partitions", partitions: 0, want: kerr.InvalidPartitions},
		{name: "10,001 partitions in one request", topic: "e2e-too-many-partitions", partitions: 10_001, want: kerr.PolicyViolation},
		{name: "existing name", topic: "e2e-exists", partitions: 1, want: kerr.TopicAlreadyExists},
		{name: "249 characters is valid", topic: strings.Repeat("b", 249), partitions: 1, want: nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := dialKafka(t, s)
			wantCode(t, fmt.Sprintf("CreateTopics %q", tc.topic), createTopicRaw(t, k, tc.topic, tc.partitions, tc.configs), tc.want)
			if tc.want != nil && tc.want != kerr.TopicAlreadyExists && tc.topic != "" {
				md := k.metadata(tc.topic)
				if len(md.Topics) == 1 && md.Topics[0].ErrorCode == 0 {
					t.Errorf("refused topic %q exists anyway", tc.topic)
				}
			}
		})
	}

	t.Run("one bad topic does not fail the others", func(t *testing.T) {
		k := dialKafka(t, s)
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 30000
		for _, name := range []string{"e2e-mixed-good", "bad/mixed"} {
			ct := kmsg.NewCreateTopicsRequestTopic()
			ct.Topic, ct.NumPartitions, ct.ReplicationFactor = name, 1, -1
			req.Topics = append(req.Topics, ct)
		}
		resp := k.request(req, 0).(*kmsg.CreateTopicsResponse)
		got := map[string]int16{}
		for _, rt := range resp.Topics {
			got[rt.Topic] = rt.ErrorCode
		}
		wantCode(t, "CreateTopics e2e-mixed-good", got["e2e-mixed-good"], nil)
		wantCode(t, "CreateTopics bad/mixed", got["bad/mixed"], kerr.InvalidTopicException)
	})
	assertStillServes(t, s)
}

// TestBadInputIdempotent: a retried idempotent batch is acknowledged with its
// first offset and stored once; a sequence gap is refused.
func TestBadInputIdempotent(t *testing.T) {
	const topic = "e2e-idempotent"
	s, k := startBadInputTopic(t, topic, 1, nil)

	ipid := kmsg.NewPtrInitProducerIDRequest()
	ipid.TransactionTimeoutMillis = 60000
	ipid.ProducerID, ipid.ProducerEpoch = -1, -1
	pidResp := k.request(ipid, 0).(*kmsg.InitProducerIDResponse)
	wantCode(t, "InitProducerId", pidResp.ErrorCode, nil)
	pr := producer{id: pidResp.ProducerID, epoch: pidResp.ProducerEpoch}
	if pr.id < 0 {
		t.Fatalf("InitProducerId returned producer id %d", pr.id)
	}

	values := [][]byte{[]byte("idem-0"), []byte("idem-1"), []byte("idem-2")}
	first := k.produce(-1, topic, map[int32][]byte{0: encodeBatch(pr, values)})
	p1 := producePartition(t, first, topic, 0)
	wantCode(t, "Produce seq 0", p1.ErrorCode, nil)

	// The same batch again, as a producer retrying after a lost response.
	again := k.produce(-1, topic, map[int32][]byte{0: encodeBatch(pr, values)})
	p2 := producePartition(t, again, topic, 0)
	wantCode(t, "Produce seq 0 again", p2.ErrorCode, nil)
	if p2.BaseOffset != p1.BaseOffset {
		t.Errorf("retried batch acknowledged at offset %d, first at %d", p2.BaseOffset, p1.BaseOffset)
	}
	if end := k.listOffset(topic, 0, -1); end != p1.BaseOffset+int64(len(values)) {
		t.Errorf("end offset %d after a batch of %d at %d and its retry: stored twice?", end, len(values), p1.BaseOffset)
	}
	if n := bytes.Count(k.fetchBatches(topic, 0, 0), []byte("idem-1")); n != 1 {
		t.Errorf("fetched %d copies of the idempotent batch, want 1", n)
	}

	// Next expected sequence is 3; 10 leaves a gap.
	pr.seq = 10
	gap := k.produce(-1, topic, map[int32][]byte{0: encodeBatch(pr, [][]byte{[]byte("idem-gap")})})
	wantCode(t, "Produce seq 10 after 0-2", producePartition(t, gap, topic, 0).ErrorCode, kerr.OutOfOrderSequenceNumber)

	// The producer carries on from where it really was.
	pr.seq = 3
	next := k.produce(-1, topic, map[int32][]byte{0: encodeBatch(pr, [][]byte{[]byte("idem-3")})})
	p3 := producePartition(t, next, topic, 0)
	wantCode(t, "Produce seq 3", p3.ErrorCode, nil)
	if p3.BaseOffset != p1.BaseOffset+3 {
		t.Errorf("seq 3 stored at offset %d, want %d", p3.BaseOffset, p1.BaseOffset+3)
	}
	assertStillServes(t, s)
}

// TestBadInputFetch: a fetch past the high watermark is OFFSET_OUT_OF_RANGE;
// at the high watermark it is an empty answer.
func TestBadInputFetch(t *testing.T) {
	const topic = "e2e-fetch"
	s, k := startBadInputTopic(t, topic, 1, nil)
	resp := k.produce(-1, topic, map[int32][]byte{0: encodeBatch(noProducer, [][]byte{[]byte("a"), []byte("b")})})
	wantCode(t, "Produce", producePartition(t, resp, topic, 0).ErrorCode, nil)

	for _, tc := range []struct {
		offset int64
		want   *kerr.Error
	}{
		{offset: 2, want: nil},
		{offset: 3, want: kerr.OffsetOutOfRange},
		{offset: 1000, want: kerr.OffsetOutOfRange},
		{offset: -5, want: kerr.OffsetOutOfRange},
	} {
		t.Run(fmt.Sprintf("offset %d", tc.offset), func(t *testing.T) {
			fp := k.fetch(topic, 0, tc.offset, 0)
			wantCode(t, fmt.Sprintf("Fetch %s/0 at %d (high watermark %d)", topic, tc.offset, fp.HighWatermark), fp.ErrorCode, tc.want)
			if fp.HighWatermark != 2 {
				t.Errorf("high watermark %d, want 2", fp.HighWatermark)
			}
		})
	}
	assertStillServes(t, s)
}

// wantCode fails the test unless code is want's (nil: no error).
func wantCode(t *testing.T, what string, code int16, want *kerr.Error) {
	t.Helper()
	var w int16
	if want != nil {
		w = want.Code
	}
	if code != w {
		t.Errorf("%s: got %s, want %s", what, codeName(code), codeName(w))
	}
}

func codeName(code int16) string {
	if code == 0 {
		return "NONE (0)"
	}
	if e := kerr.TypedErrorForCode(code); e != nil {
		return fmt.Sprintf("%s (%d)", e.Message, code)
	}
	return fmt.Sprintf("unknown error code %d", code)
}

// expectClosed fails unless the broker closes c without answering.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 512)
	n, err := c.Read(b)
	switch {
	case n > 0:
		t.Errorf("broker answered (% x) instead of closing the connection", b[:n])
	case isClosed(err):
	default:
		t.Errorf("connection not closed by the broker: %v", err)
	}
}

// expectClosedOrErrorResponse accepts a closed connection or a response with
// the request's correlation id.
func expectClosedOrErrorResponse(t *testing.T, c net.Conn, corr int32) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	body, err := readFrame(c)
	switch {
	case err == nil:
		if got := int32(binary.BigEndian.Uint32(body)); got != corr {
			t.Errorf("response with correlation id %d to request %d", got, corr)
		}
		t.Logf("broker answered a malformed request with a %d-byte response", len(body))
	case isClosed(err):
	default:
		t.Errorf("neither closed nor answered: %v", err)
	}
}

func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// kafkaConn speaks the Kafka protocol on one raw connection, choosing each
// request's version from the broker's ApiVersions answer.
type kafkaConn struct {
	t    *testing.T
	c    net.Conn
	corr int32
	max  map[int16]int16
}

func dialKafka(t *testing.T, s *Strata) *kafkaConn {
	t.Helper()
	k := &kafkaConn{t: t, c: s.Dial(), corr: 100, max: map[int16]int16{}}
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(0)
	resp := k.roundTrip(req).(*kmsg.ApiVersionsResponse)
	wantCode(t, "ApiVersions v0", resp.ErrorCode, nil)
	for _, key := range resp.ApiKeys {
		k.max[key.ApiKey] = key.MaxVersion
	}
	return k
}

// Version caps: Produce and Fetch v13+ name topics by id only.
var versionCaps = map[int16]int16{kmsg.Produce.Int16(): 12, kmsg.Fetch.Int16(): 12}

// request sends req at the highest version both sides support (at most
// maxVersion when it is above 0) and returns the response.
func (k *kafkaConn) request(req kmsg.Request, maxVersion int16) kmsg.Response {
	k.t.Helper()
	brokerMax, ok := k.max[req.Key()]
	if !ok {
		k.t.Fatalf("broker does not list %s in ApiVersions", kmsg.NameForKey(req.Key()))
	}
	v := min(req.MaxVersion(), brokerMax)
	if c, ok := versionCaps[req.Key()]; ok {
		v = min(v, c)
	}
	if maxVersion > 0 {
		v = min(v, maxVersion)
	}
	req.SetVersion(v)
	return k.roundTrip(req)
}

func (k *kafkaConn) roundTrip(req kmsg.Request) kmsg.Response {
	k.t.Helper()
	k.corr++
	name := fmt.Sprintf("%s v%d", kmsg.NameForKey(req.Key()), req.GetVersion())
	_ = k.c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := k.c.Write(kmsg.NewRequestFormatter(kmsg.FormatterClientID("strata-e2e")).AppendRequest(nil, req, k.corr)); err != nil {
		k.t.Fatalf("%s: write: %v", name, err)
	}
	body, err := readFrame(k.c)
	if err != nil {
		k.t.Fatalf("%s: read response: %v", name, err)
	}
	if corr := int32(binary.BigEndian.Uint32(body)); corr != k.corr {
		k.t.Fatalf("%s: response correlation id %d, want %d", name, corr, k.corr)
	}
	resp, err := brokertest.DecodeResponse(req, body[4:])
	if err != nil {
		k.t.Fatalf("%s: %v", name, err)
	}
	return resp
}

// readFrame reads one size-prefixed response frame.
var readFrame = brokertest.ReadFrame

func (k *kafkaConn) produce(acks int16, topic string, parts map[int32][]byte) *kmsg.ProduceResponse {
	k.t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = acks, 30000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	for p, records := range parts {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = p, records
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return k.request(req, 0).(*kmsg.ProduceResponse)
}

func producePartition(t *testing.T, resp *kmsg.ProduceResponse, topic string, p int32) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rt.Topic == topic && rp.Partition == p {
				if rp.ErrorMessage != nil {
					t.Logf("Produce %s/%d: %s: %s", topic, p, codeName(rp.ErrorCode), *rp.ErrorMessage)
				}
				return rp
			}
		}
	}
	t.Fatalf("Produce response has no partition %s/%d", topic, p)
	return kmsg.ProduceResponseTopicPartition{}
}

func (k *kafkaConn) fetch(topic string, p int32, offset int64, maxWaitMs int32) kmsg.FetchResponseTopicPartition {
	k.t.Helper()
	return k.fetchAtEpoch(topic, p, offset, maxWaitMs, -1)
}

// fetchAtEpoch fetches with the client's current leader epoch (-1: unchecked).
func (k *kafkaConn) fetchAtEpoch(topic string, p int32, offset int64, maxWaitMs, leaderEpoch int32) kmsg.FetchResponseTopicPartition {
	k.t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, maxWaitMs, 1, 8<<20
	req.SessionID, req.SessionEpoch = 0, -1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes = p, offset, 4<<20
	fp.CurrentLeaderEpoch, fp.LogStartOffset, fp.LastFetchedEpoch = leaderEpoch, -1, -1
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	resp := k.request(req, 0).(*kmsg.FetchResponse)
	wantCode(k.t, "Fetch (top level)", resp.ErrorCode, nil)
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rt.Topic == topic && rp.Partition == p {
				return rp
			}
		}
	}
	k.t.Fatalf("Fetch response has no partition %s/%d", topic, p)
	return kmsg.FetchResponseTopicPartition{}
}

// fetchBatches returns the record batch bytes from offset to the high
// watermark, failing on any error.
func (k *kafkaConn) fetchBatches(topic string, p int32, offset int64) []byte {
	k.t.Helper()
	fp := k.fetch(topic, p, offset, 500)
	wantCode(k.t, fmt.Sprintf("Fetch %s/%d at %d", topic, p, offset), fp.ErrorCode, nil)
	return fp.RecordBatches
}

// listOffset returns the partition's offset for timestamp (-1 latest, -2 earliest).
func (k *kafkaConn) listOffset(topic string, p int32, timestamp int64) int64 {
	k.t.Helper()
	rp, version := k.listOffsetsAt(topic, p, timestamp, -1)
	wantCode(k.t, fmt.Sprintf("ListOffsets %s/%d", topic, p), rp.ErrorCode, nil)
	if version == 0 && len(rp.OldStyleOffsets) > 0 {
		return rp.OldStyleOffsets[0]
	}
	return rp.Offset
}

// listOffsetsAt asks for the partition's offset for timestamp with the
// client's current leader epoch (-1: unchecked) and returns the answer and
// the version it was asked at.
func (k *kafkaConn) listOffsetsAt(topic string, p int32, timestamp int64, leaderEpoch int32) (kmsg.ListOffsetsResponseTopicPartition, int16) {
	k.t.Helper()
	req := listOffsetsRequest(topic, p, timestamp)
	req.Topics[0].Partitions[0].CurrentLeaderEpoch = leaderEpoch
	resp := k.request(req, 0).(*kmsg.ListOffsetsResponse)
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rt.Topic == topic && rp.Partition == p {
				return rp, req.GetVersion()
			}
		}
	}
	k.t.Fatalf("ListOffsets response has no partition %s/%d", topic, p)
	return kmsg.ListOffsetsResponseTopicPartition{}, 0
}

func (k *kafkaConn) metadata(topic string) *kmsg.MetadataResponse {
	k.t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, mt)
	req.AllowAutoTopicCreation = true // the broker's setting must win
	return k.request(req, 0).(*kmsg.MetadataResponse)
}

// createTopicRaw creates one topic and returns the topic's error code.
func createTopicRaw(t *testing.T, k *kafkaConn, topic string, partitions int32, configs map[string]string) int16 {
	t.Helper()
	req := createTopicsRequest(topic, partitions, configs)
	resp := k.request(req, 0).(*kmsg.CreateTopicsResponse)
	if req.GetVersion() < 4 {
		t.Fatalf("broker's CreateTopics is at most v%d; v4+ (default replication factor) expected", req.GetVersion())
	}
	if len(resp.Topics) != 1 {
		t.Fatalf("CreateTopics %q: %d topics in response", topic, len(resp.Topics))
	}
	if m := resp.Topics[0].ErrorMessage; m != nil {
		t.Logf("CreateTopics %q: %s: %s", topic, codeName(resp.Topics[0].ErrorCode), *m)
	}
	return resp.Topics[0].ErrorCode
}

// producer is an idempotent producer's identity and next sequence.
type producer struct {
	id    int64
	epoch int16
	seq   int32
}

var noProducer = producer{id: -1, epoch: -1, seq: -1}

// encodeBatch builds an uncompressed v2 record batch of values, as a client
// would send it (base offset 0).
func encodeBatch(pr producer, values [][]byte) []byte {
	var records []byte
	for i, v := range values {
		var r []byte
		r = append(r, 0)                     // attributes
		r = binary.AppendVarint(r, 0)        // timestamp delta
		r = binary.AppendVarint(r, int64(i)) // offset delta
		r = binary.AppendVarint(r, -1)       // null key
		r = binary.AppendVarint(r, int64(len(v)))
		r = append(r, v...)
		r = binary.AppendVarint(r, 0) // no headers
		records = binary.AppendVarint(records, int64(len(r)))
		records = append(records, r...)
	}
	ts := time.Now().UnixMilli()
	b := make([]byte, 61, 61+len(records))
	be := binary.BigEndian
	be.PutUint64(b[0:], 0)
	be.PutUint32(b[8:], uint32(49+len(records)))
	be.PutUint32(b[12:], 0xffffffff) // partition leader epoch -1
	b[16] = 2                        // magic
	be.PutUint16(b[21:], 0)          // attributes: no compression, create time
	be.PutUint32(b[23:], uint32(len(values)-1))
	be.PutUint64(b[27:], uint64(ts))
	be.PutUint64(b[35:], uint64(ts))
	be.PutUint64(b[43:], uint64(pr.id))
	be.PutUint16(b[51:], uint16(pr.epoch))
	be.PutUint32(b[53:], uint32(pr.seq))
	be.PutUint32(b[57:], uint32(len(values)))
	b = append(b, records...)
	be.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
	return b
}
