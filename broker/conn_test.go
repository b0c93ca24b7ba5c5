package broker

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"math/rand/v2"
	"net"
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
			body: append(header(18, 5, 11, ptr("c")), 0xff, 0xff, 0xff),
			want: parseWant{key: 18, version: 5, corr: 11, clientID: ptr("c"), noReq: true},
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
		tc{name: "Produce v13 is above the served range", body: frame(requestAt(0, 13), 1, nil), want: parseWant{err: true}},
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

// TestParseRequestBoundsTagCounts: a flexible request claiming 2^32-1
// tagged fields in a frame of a few bytes is rejected at once, whether the
// count is in the header's tag section or in the body's (here an
// ApiVersions v3, the first request of every client). Before kmsg v1.15.1
// both loops went on over the claimed count after the bytes ran out, which
// kept one connection's read loop on a CPU for seconds per frame.
func TestParseRequestBoundsTagCounts(t *testing.T) {
	body := append(header(18, 3, 1, nil), 0)       // flexible header, no tags
	body = kbin.AppendCompactString(body, "kgo")   // client software name
	body = kbin.AppendCompactString(body, "1.0.0") // client software version
	body = kbin.AppendUvarint(body, 1<<32-1)       // tag count, and no tags
	for name, frame := range map[string][]byte{
		"header": kbin.AppendUvarint(header(18, 3, 1, nil), 1<<32-1),
		"body":   body,
	} {
		t.Run(name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := parseRequest(frame)
				done <- err
			}()
			// Not a performance threshold: the work is a few bytes' worth,
			// and the unbounded loop takes orders of magnitude longer than
			// this watchdog.
			select {
			case err := <-done:
				var fe *errFraming
				if !errors.As(err, &fe) {
					t.Fatalf("err = %v, want a framing error", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("parseRequest still reading 2^32-1 tags in a %d-byte frame after 5s", len(frame))
			}
		})
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

// budgetStep is one call on a byteBudget: holder h grows by n (want: granted
// at once, or waiting), or releases everything it holds.
type budgetStep struct {
	h       int
	grow    int64
	release bool
	wait    bool  // the grow must wait
	granted []int // holders whose waiting grows must be granted after this step, in order
	used    int64 // the budget's use after the step
}

// TestByteBudget: grows within the limit are granted at once; past it one
// holder at a time may go over (so holders that each have part of the
// budget, or one larger than it, still make progress); the others wait and
// are served in order as the over holder and the others release.
func TestByteBudget(t *testing.T) {
	cases := []struct {
		name  string
		limit int64
		steps []budgetStep
	}{
		{"within the limit", 100, []budgetStep{
			{h: 0, grow: 40, used: 40},
			{h: 1, grow: 60, used: 100},
			{h: 0, release: true, used: 60},
		}},
		{"one holder may go past the limit, the next waits for a release", 100, []budgetStep{
			{h: 0, grow: 80, used: 80},
			{h: 1, grow: 50, used: 130}, // over: nobody was
			{h: 2, grow: 10, wait: true, used: 130},
			{h: 1, grow: 500, used: 630}, // the over holder keeps going: one request larger than the budget
			{h: 1, release: true, granted: []int{2}, used: 90},
		}},
		{"two holders that each need more than what is left cannot block each other", 100, []budgetStep{
			{h: 0, grow: 50, used: 50},
			{h: 1, grow: 50, used: 100},
			{h: 0, grow: 20, used: 120}, // over
			{h: 1, grow: 20, wait: true, used: 120},
			{h: 0, grow: 20, used: 140},
			{h: 0, release: true, granted: []int{1}, used: 70},
		}},
		{"waiters are served in arrival order; a small one does not pass a large one", 100, []budgetStep{
			{h: 0, grow: 90, used: 90},
			{h: 1, grow: 30, used: 120}, // over
			{h: 2, grow: 80, wait: true, used: 120},
			{h: 3, grow: 5, wait: true, used: 120},
			{h: 0, release: true, used: 30}, // 2 does not fit and 1 is over: both keep waiting
			{h: 1, release: true, granted: []int{2, 3}, used: 85},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newByteBudget(tc.limit, nil, nil)
			holds := map[int]*budgetHold{}
			pending := map[int]chan error{}
			for i, s := range tc.steps {
				h := holds[s.h]
				if h == nil {
					h = &budgetHold{b: b}
					holds[s.h] = h
				}
				if s.release {
					h.release()
				} else {
					done := make(chan error, 1)
					go func() { done <- h.grow(context.Background(), s.grow) }()
					if s.wait {
						pending[s.h] = done
						waitFor(t, func() bool { return budgetWaiting(b) == len(pending) })
					} else if err := <-done; err != nil {
						t.Fatalf("step %d: grow: %v", i, err)
					}
				}
				for _, g := range s.granted {
					select {
					case err := <-pending[g]:
						if err != nil {
							t.Fatalf("step %d: holder %d: %v", i, g, err)
						}
					case <-time.After(10 * time.Second):
						t.Fatalf("step %d: holder %d still waits", i, g)
					}
					delete(pending, g)
				}
				if got := budgetUsed(b); got != s.used {
					t.Fatalf("step %d: used %d, want %d", i, got, s.used)
				}
				if budgetWaiting(b) != len(pending) {
					t.Fatalf("step %d: %d waiting, want %d", i, budgetWaiting(b), len(pending))
				}
			}
			for _, h := range holds {
				h.release()
			}
			for g, done := range pending {
				if err := <-done; err != nil {
					t.Fatalf("holder %d: %v", g, err)
				}
			}
		})
	}
}

// TestByteBudgetCancel: a grow whose context ends stops waiting, holds
// nothing, and lets the waiters behind it in.
func TestByteBudgetCancel(t *testing.T) {
	b := newByteBudget(100, nil, nil)
	full, over := &budgetHold{b: b}, &budgetHold{b: b}
	for _, g := range []struct {
		h *budgetHold
		n int64
	}{{full, 100}, {over, 10}} {
		if err := g.h.grow(context.Background(), g.n); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	large, small := &budgetHold{b: b}, &budgetHold{b: b}
	largeDone, smallDone := make(chan error, 1), make(chan error, 1)
	go func() { largeDone <- large.grow(ctx, 95) }()
	waitFor(t, func() bool { return budgetWaiting(b) == 1 })
	go func() { smallDone <- small.grow(context.Background(), 5) }()
	waitFor(t, func() bool { return budgetWaiting(b) == 2 })
	cancel()
	if err := <-largeDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled grow: %v, want context.Canceled", err)
	}
	if budgetWaiting(b) != 1 || budgetUsed(b) != 110 {
		t.Fatalf("after the cancel: %d waiting, %d used; want 1 (small), 110", budgetWaiting(b), budgetUsed(b))
	}
	full.release()
	if err := <-smallDone; err != nil {
		t.Fatal(err)
	}
	if budgetUsed(b) != 15 {
		t.Fatalf("used %d, want 15 (over 10, small 5): the cancelled grow holds nothing", budgetUsed(b))
	}
	for _, h := range []*budgetHold{full, over, small, large} {
		h.release()
	}
	if budgetUsed(b) != 0 {
		t.Fatalf("all released: %d used", budgetUsed(b))
	}
}

func budgetUsed(b *byteBudget) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

func budgetWaiting(b *byteBudget) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.waiters)
}

// waitFor polls cond until it holds; the bound only keeps a broken test from
// hanging.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// pipeConn is a conn on one end of a net.Pipe, enough for its read path.
func pipeConn(t *testing.T, idle time.Duration) (*conn, net.Conn) {
	t.Helper()
	server, client := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		cancel()
		server.Close()
		client.Close()
	})
	return &conn{nc: server, ctx: ctx, cancel: cancel, idle: idle}, client
}

// TestReadBodyGrowsAsBytesArrive: a body's buffer, and what it holds of the
// request-byte budget, follows the bytes that arrived, never the size the
// client claimed: a 100 MiB claim followed by 10 KiB holds 64 KiB, and one
// byte past the first chunk grows it by about 1 MiB.
func TestReadBodyGrowsAsBytesArrive(t *testing.T) {
	c, client := pipeConn(t, time.Minute)
	b := newByteBudget(1<<30, nil, nil)
	hold := &budgetHold{b: b}
	const claimed = 100 << 20
	type result struct {
		body []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		body, err := c.readBody(hold, claimed)
		done <- result{body, err}
	}()
	write := func(n int) {
		t.Helper()
		if _, err := client.Write(make([]byte, n)); err != nil {
			t.Fatal(err)
		}
	}
	write(10 << 10)
	waitFor(t, func() bool { return budgetUsed(b) == firstChunk })
	write(firstChunk - 10<<10 + 1)
	waitFor(t, func() bool { return budgetUsed(b) == firstChunk+growAhead })
	client.Close()
	r := <-done
	if !errors.Is(r.err, io.ErrUnexpectedEOF) {
		t.Fatalf("readBody of a body cut short: %v, want io.ErrUnexpectedEOF", r.err)
	}
	if used := budgetUsed(b); used != firstChunk+growAhead {
		t.Errorf("the budget holds %d bytes for a cut request of %d, want %d (the buffer's size); the claim was %d", used, firstChunk+1, firstChunk+growAhead, claimed)
	}
	hold.release()
}

// TestReadBodyWhole: bodies around the growth steps arrive in uneven
// pieces and are read whole; the budget held is the final buffer's size.
func TestReadBodyWhole(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{8, firstChunk - 1, firstChunk, firstChunk + 1, firstChunk + growAhead, firstChunk + growAhead + 1, 5<<20 + 3} {
		t.Run(itoa(int64(n)), func(t *testing.T) {
			c, client := pipeConn(t, time.Minute)
			b := newByteBudget(1<<30, nil, nil)
			hold := &budgetHold{b: b}
			want := make([]byte, n)
			for i := range want {
				want[i] = byte(rng.IntN(256))
			}
			go func() {
				for rest := want; len(rest) > 0; {
					k := min(len(rest), 1+rng.IntN(300<<10))
					if _, err := client.Write(rest[:k]); err != nil {
						return
					}
					rest = rest[k:]
				}
			}()
			got, err := c.readBody(hold, n)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("body read differs from the body sent")
			}
			if used := budgetUsed(b); used != int64(len(got)) {
				t.Errorf("budget holds %d for a %d-byte body", used, len(got))
			}
			hold.release()
		})
	}
}

// TestReadIdle: a read that gets nothing for the idle time ends the
// connection, unless a request of it is waiting for its response.
func TestReadIdle(t *testing.T) {
	c, client := pipeConn(t, 20*time.Millisecond)
	buf := make([]byte, 4)
	if _, err := c.read(buf); !errors.Is(err, errIdle) {
		t.Fatalf("read on an idle connection: %v, want errIdle", err)
	}
	c.waiting.Store(1)
	done := make(chan error, 1)
	go func() {
		_, err := c.read(buf)
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // several idle periods, with a request in flight
	if _, err := client.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("read with a request in flight: %v, want the byte", err)
	}
}

// TestGroupWritesLandInOrder: a read of group state waits for every group
// write queued before it, even when a later one is answered first.
func TestGroupWritesLandInOrder(t *testing.T) {
	c, _ := pipeConn(t, time.Minute)
	landed := make(chan struct{})
	close(landed)
	c.groupWrites = landed
	first := c.trackGroupWrite()
	second := c.trackGroupWrite()
	barrier := c.groupWrites
	secondDone := make(chan struct{})
	go func() { second(); close(secondDone) }()
	select {
	case <-barrier:
		t.Fatal("a read waits for nothing while the first of two writes is in flight")
	case <-time.After(50 * time.Millisecond):
	}
	first()
	<-secondDone
	select {
	case <-barrier:
	case <-time.After(10 * time.Second):
		t.Fatal("both writes landed and the read still waits")
	}
}

// TestAutoMaxConnections: the default connection limit leaves a reserve of
// the open-file limit for the broker's own files.
func TestAutoMaxConnections(t *testing.T) {
	for _, tc := range []struct {
		nofile uint64
		want   int
	}{
		{1, 1}, {100, 50}, {256, 128}, {1024, 896}, {20000, 17500}, {1 << 20, 917504}, {1 << 40, 0},
	} {
		if got := AutoMaxConnections(tc.nofile); got != tc.want {
			t.Errorf("AutoMaxConnections(%d) = %d, want %d", tc.nofile, got, tc.want)
		}
	}
}
