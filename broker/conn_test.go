package broker

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// servedVersions lists every (key, version) at the edges of the apis table,
// in key order.
func servedVersions() [][2]int16 {
	var out [][2]int16
	for _, key := range slices.Sorted(maps.Keys(apis)) {
		a := apis[key]
		out = append(out, [2]int16{key, a.min})
		if a.max != a.min {
			out = append(out, [2]int16{key, a.max})
		}
	}
	return out
}

// richRequests are requests with non-empty bodies (topics, partitions,
// records, configs), at the highest version this broker serves.
func richRequests(t testing.TB) []kmsg.Request {
	t.Helper()
	records, _ := makeBatch(t, plain(3))

	produce := kmsg.NewPtrProduceRequest()
	produce.Acks = -1
	produce.TimeoutMillis = 5000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "orders"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = records
	pt.Partitions = append(pt.Partitions, pp)
	produce.Topics = append(produce.Topics, pt)

	fetch := kmsg.NewPtrFetchRequest()
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "orders"
	ft.TopicID = [16]byte{1, 2, 3}
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.FetchOffset, fp.PartitionMaxBytes = 42, 1<<20
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)

	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = ptr("orders")
	meta.Topics = append(meta.Topics, mt)

	create := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = "orders", 3, 1
	cc := kmsg.NewCreateTopicsRequestTopicConfig()
	cc.Name, cc.Value = "cleanup.policy", ptr("compact")
	ct.Configs = append(ct.Configs, cc)
	create.Topics = append(create.Topics, ct)

	alter := kmsg.NewPtrIncrementalAlterConfigsRequest()
	ar := kmsg.NewIncrementalAlterConfigsRequestResource()
	ar.ResourceType, ar.ResourceName = kmsg.ConfigResourceTypeTopic, "orders"
	ac := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	ac.Name, ac.Op, ac.Value = "cleanup.policy", kmsg.IncrementalAlterConfigOpAppend, ptr("compact")
	ar.Configs = append(ar.Configs, ac)
	alter.Resources = append(alter.Resources, ar)

	versions := kmsg.NewPtrApiVersionsRequest()
	versions.ClientSoftwareName, versions.ClientSoftwareVersion = "kgo", "1.0.0"

	reqs := []kmsg.Request{produce, fetch, meta, create, alter, versions}
	for _, r := range reqs {
		r.SetVersion(apis[r.Key()].max)
	}
	return reqs
}

// parseWant is what parseRequest must return for a frame.
type parseWant struct {
	err          bool // a framing error: the connection closes
	key, version int16
	corr         int32
	clientID     *string
	noReq        bool                                 // a too-new ApiVersions: answered without a parsed request
	check        func(t *testing.T, req kmsg.Request) // more checks of the parsed request
}

// TestParseRequest: every served API parses at both ends of its version range;
// a too-new ApiVersions is answered without parsing; anything else outside
// the table, or cut short, is a framing error that closes the connection.
func TestParseRequest(t *testing.T) {
	type tc struct {
		name string
		body []byte
		want parseWant
	}
	var cases []tc
	for _, kv := range servedVersions() {
		key, v := kv[0], kv[1]
		cases = append(cases, tc{
			name: kmsg.NameForKey(key) + " v" + itoa(int64(v)) + " is parsed",
			body: frame(requestAt(key, v), 7, ptr("client")),
			want: parseWant{key: key, version: v, corr: 7, clientID: ptr("client")},
		})
	}
	for _, r := range richRequests(t) {
		want := r.AppendTo(nil)
		cases = append(cases, tc{
			name: kmsg.NameForKey(r.Key()) + " with a body keeps every field",
			body: frame(r, 9, nil),
			want: parseWant{key: r.Key(), version: r.GetVersion(), corr: 9, check: func(t *testing.T, req kmsg.Request) {
				if got := req.AppendTo(nil); !slices.Equal(got, want) {
					t.Errorf("re-encoded body\n got %x\nwant %x", got, want)
				}
			}},
		})
	}

	versions := kmsg.NewPtrApiVersionsRequest()
	versions.Version, versions.ClientSoftwareName, versions.ClientSoftwareVersion = 3, "kgo", "1.0.0"
	checkSoftware := func(t *testing.T, req kmsg.Request) {
		r := req.(*kmsg.ApiVersionsRequest)
		if r.ClientSoftwareName != "kgo" || r.ClientSoftwareVersion != "1.0.0" {
			t.Errorf("client software = %q %q, want kgo 1.0.0", r.ClientSoftwareName, r.ClientSoftwareVersion)
		}
	}
	// A flexible header whose tag section holds one tag (key 0, 3 bytes).
	taggedHeader := append(header(18, 3, 5, ptr("c")), 1, 0, 3, 'a', 'b', 'c')
	// A Metadata request naming a topic, to cut short.
	var metadataBody []byte
	for _, r := range richRequests(t) {
		if r.Key() == 3 {
			metadataBody = frame(r, 1, nil)
		}
	}

	cases = append(cases,
		tc{
			name: "ApiVersions v3 has a flexible request header (only its response header is not)",
			body: frame(versions, 3, ptr("c")),
			want: parseWant{key: 18, version: 3, corr: 3, clientID: ptr("c"), check: checkSoftware},
		},
		tc{
			name: "tagged fields in a flexible request header are skipped",
			body: versions.AppendTo(taggedHeader),
			want: parseWant{key: 18, version: 3, corr: 5, clientID: ptr("c"), check: checkSoftware},
		},
		tc{
			name: "an empty client id is not a null one",
			body: frame(requestAt(3, 12), 1, ptr("")),
			want: parseWant{key: 3, version: 12, corr: 1, clientID: ptr("")},
		},
		tc{
			name: "a too-new ApiVersions is answered without parsing its body",
			body: append(header(18, 4, 11, ptr("c")), 0xff, 0xff, 0xff),
			want: parseWant{key: 18, version: 4, corr: 11, clientID: ptr("c"), noReq: true},
		},
		tc{
			name: "ApiVersions at the largest version is too new, not an error",
			body: header(18, 1<<15-1, 12, nil),
			want: parseWant{key: 18, version: 1<<15 - 1, corr: 12, noReq: true},
		},
		tc{name: "ApiVersions below v0", body: header(18, -1, 1, nil), want: parseWant{err: true}},
		tc{name: "unknown key LeaderAndIsr", body: frame(requestAt(4, 0), 1, nil), want: parseWant{err: true}},
		tc{name: "unknown key 9999", body: header(9999, 0, 1, nil), want: parseWant{err: true}},
		tc{name: "negative key", body: header(-1, 0, 1, nil), want: parseWant{err: true}},
		tc{name: "Produce v2 is below the served range", body: frame(requestAt(0, 2), 1, nil), want: parseWant{err: true}},
		tc{name: "Produce v12 is above the served range", body: frame(requestAt(0, 12), 1, nil), want: parseWant{err: true}},
		tc{name: "Fetch v3 is below the served range", body: frame(requestAt(1, 3), 1, nil), want: parseWant{err: true}},
		tc{name: "Metadata v13 is above the served range", body: frame(requestAt(3, 13), 1, nil), want: parseWant{err: true}},
		tc{name: "empty frame", body: nil, want: parseWant{err: true}},
		tc{name: "header without a client id", body: header(18, 0, 1, nil)[:8], want: parseWant{err: true}},
		tc{name: "header cut inside the client id", body: header(18, 0, 1, ptr("client"))[:12], want: parseWant{err: true}},
		tc{name: "flexible header cut before its tag section", body: header(18, 3, 1, nil), want: parseWant{err: true}},
		tc{name: "flexible header cut inside a tag", body: append(header(18, 3, 1, nil), 1, 0, 5, 'a'), want: parseWant{err: true}},
		tc{name: "body cut short", body: metadataBody[:len(metadataBody)-3], want: parseWant{err: true}},
	)

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseRequest(c.body)
			if c.want.err {
				var fe *errFraming
				if !errors.As(err, &fe) {
					t.Fatalf("err = %v, want a framing error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v, want none", err)
			}
			if got.key != c.want.key || got.version != c.want.version || got.corr != c.want.corr {
				t.Errorf("key, version, corr = %d, %d, %d; want %d, %d, %d", got.key, got.version, got.corr, c.want.key, c.want.version, c.want.corr)
			}
			if !equalPtr(got.clientID, c.want.clientID) {
				t.Errorf("client id = %v, want %v", fmtPtr(got.clientID), fmtPtr(c.want.clientID))
			}
			if c.want.noReq {
				if got.req != nil {
					t.Errorf("req = %T, want nil", got.req)
				}
				return
			}
			if got.req == nil {
				t.Fatal("req = nil")
			}
			if got.req.Key() != c.want.key || got.req.GetVersion() != c.want.version {
				t.Errorf("req is %s v%d, want key %d v%d", kmsg.NameForKey(got.req.Key()), got.req.GetVersion(), c.want.key, c.want.version)
			}
			if c.want.check != nil {
				c.want.check(t, got.req)
			}
		})
	}
}

// TestParseRequestBoundsHeaderTagCount: a flexible request header claiming
// 2^32-1 tagged fields in a 15-byte frame must be rejected at once. Today
// kmsg.SkipTags loops over the claimed count even after the reader ran out of
// bytes, so one such frame keeps the connection's read loop on a CPU for tens
// of seconds (about 0.7 s per 2^26 claimed tags).
func TestParseRequestBoundsHeaderTagCount(t *testing.T) {
	body := kbin.AppendUvarint(header(18, 3, 1, nil), 1<<32-1)
	done := make(chan error, 1)
	go func() {
		_, err := parseRequest(body)
		done <- err
	}()
	// Not a performance threshold: the work is a few bytes' worth, and the
	// bug takes four orders of magnitude longer than this watchdog.
	select {
	case err := <-done:
		var fe *errFraming
		if !errors.As(err, &fe) {
			t.Fatalf("err = %v, want a framing error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("parseRequest still skipping 2^32-1 header tags in a 15-byte frame after 5s")
	}
}

// TestParseRequestBoundsBodyTagCount: the same for the tag section of a
// request body, here an ApiVersions v3 (the first request of every client)
// claiming 2^32-1 tagged fields. The loop is kmsg's (internalReadTags, used
// by every generated ReadFrom), which also keeps going after the bytes ran
// out: about 8 s of CPU per 24-byte frame.
func TestParseRequestBoundsBodyTagCount(t *testing.T) {
	body := append(header(18, 3, 1, nil), 0)       // flexible header, no tags
	body = kbin.AppendCompactString(body, "kgo")   // client software name
	body = kbin.AppendCompactString(body, "1.0.0") // client software version
	body = kbin.AppendUvarint(body, 1<<32-1)       // tag count, and no tags
	done := make(chan error, 1)
	go func() {
		_, err := parseRequest(body)
		done <- err
	}()
	select {
	case err := <-done:
		var fe *errFraming
		if !errors.As(err, &fe) {
			t.Fatalf("err = %v, want a framing error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("parseRequest still reading 2^32-1 body tags in a 24-byte frame after 5s")
	}
}

func equalPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func fmtPtr(s *string) string {
	if s == nil {
		return "null"
	}
	return "\"" + *s + "\""
}

// TestResponseSizeHint: a fetch response's hint covers its encoding in
// every version, so the write loop allocates its buffer once.
func TestResponseSizeHint(t *testing.T) {
	resp := kmsg.NewPtrFetchResponse()
	for ti := range 3 {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic = strings.Repeat("t", 200*ti+1)
		for p := range 20 {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition = int32(p)
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = 1<<40, 1<<40, 1<<39
			rp.RecordBatches = make([]byte, p*1000)
			for range p % 3 {
				rp.AbortedTransactions = append(rp.AbortedTransactions, kmsg.FetchResponseTopicPartitionAbortedTransaction{ProducerID: 1 << 50, FirstOffset: 1 << 40})
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	for v := int16(0); v <= resp.MaxVersion(); v++ {
		resp.SetVersion(v)
		if got, hint := 9+len(resp.AppendTo(nil)), responseSizeHint(resp); got > hint {
			t.Errorf("v%d: %d bytes encoded, hint %d", v, got, hint)
		}
	}
	if responseSizeHint(kmsg.NewPtrMetadataResponse()) != 0 {
		t.Error("a hint for a metadata response")
	}
}
