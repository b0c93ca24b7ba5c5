package e2e

// Faults at the connection level: what clients do to a broker's sockets and
// memory (too many connections, idle ones, lying size prefixes, requests
// dribbled a byte at a time, a process out of file descriptors), and the
// order of one connection's pipelined requests. Each test runs a real
// `strata serve` process and ends by checking that an ordinary client is
// still served. docs/limits.md describes the bounds these tests check.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker/brokertest"
	"github.com/strata-io/strata/internal/testenv"
)

// TestConnPipelinedOffsetCommits: 50 OffsetCommits for offsets 1..50 of one
// partition, then an OffsetFetch, written back-to-back on one connection
// (as librdkafka's asynchronous commits are): every response comes back in
// request order, every commit succeeds, and the OffsetFetch (pipelined, and
// again afterwards) answers 50, because a connection's effects happen in
// request order and a read sees the effects of the requests before it.
func TestConnPipelinedOffsetCommits(t *testing.T) {
	s := startBadInputBroker(t)
	const topic, group, commits = "e2e-pipelined", "e2e-pipelined-group", 50
	ensureTopic(t, s, topic, 1, nil)
	k := dialKafka(t, s)

	version := func(key kmsg.Key, want int16) int16 {
		if max, ok := k.max[key.Int16()]; ok && max < want {
			return max
		}
		return want
	}
	// Right after the start the group's coordinator shard may still be
	// loading (COORDINATOR_LOAD_IN_PROGRESS, which clients retry): wait
	// until an OffsetFetch of the group is answered, so that the burst
	// tests request order, not the start.
	code := txnRetry(t, "OffsetFetch "+group, func() int16 {
		resp := k.request(offsetFetchRequest(group, topic, 0), 8).(*kmsg.OffsetFetchResponse)
		if len(resp.Groups) != 1 {
			t.Fatalf("OffsetFetch: %d groups in the answer", len(resp.Groups))
		}
		return resp.Groups[0].ErrorCode
	})
	wantCode(t, "OffsetFetch "+group+" before the burst", code, nil)

	format := kmsg.NewRequestFormatter(kmsg.FormatterClientID("strata-e2e"))
	var out []byte
	var reqs []kmsg.Request
	for i := int64(1); i <= commits; i++ {
		req := groupsCommitRequest(group, -1, "", topic, 0, i) // a simple consumer's commit
		req.SetVersion(version(kmsg.OffsetCommit, 8))
		reqs = append(reqs, req)
	}
	fetch := offsetFetchRequest(group, topic, version(kmsg.OffsetFetch, 8))
	reqs = append(reqs, fetch)
	const firstCorr = 1000
	for i, req := range reqs {
		// AppendRequest writes the size prefix at the start of dst: one frame each.
		out = append(out, format.AppendRequest(nil, req, int32(firstCorr+i))...)
	}
	_ = k.c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := k.c.Write(out); err != nil {
		t.Fatalf("write %d pipelined requests: %v", len(reqs), err)
	}
	for i, req := range reqs {
		body, err := readFrame(k.c)
		if err != nil {
			t.Fatalf("response %d of %d: %v", i+1, len(reqs), err)
		}
		if corr := int32(binary.BigEndian.Uint32(body)); corr != int32(firstCorr+i) {
			t.Fatalf("response %d has correlation id %d, want %d: responses out of request order", i+1, corr, firstCorr+i)
		}
		resp := decodeResponse(t, req, body[4:])
		switch r := resp.(type) {
		case *kmsg.OffsetCommitResponse:
			for _, rt := range r.Topics {
				for _, rp := range rt.Partitions {
					wantCode(t, fmt.Sprintf("OffsetCommit of offset %d", i+1), rp.ErrorCode, nil)
				}
			}
		case *kmsg.OffsetFetchResponse:
			if got := fetchedOffset(t, r, topic); got != commits {
				t.Errorf("pipelined OffsetFetch after %d commits answers %d, want %d", commits, got, commits)
			}
		}
	}
	again := k.request(offsetFetchRequest(group, topic, 0), 8).(*kmsg.OffsetFetchResponse)
	if got := fetchedOffset(t, again, topic); got != commits {
		t.Errorf("OffsetFetch after every commit was answered: %d, want %d", got, commits)
	}
}

// offsetFetchRequest asks for a group's offset of partition 0 of topic, at
// version (v8+ for groups in the request body).
func offsetFetchRequest(group, topic string, version int16) *kmsg.OffsetFetchRequest {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.SetVersion(version)
	rg := kmsg.NewOffsetFetchRequestGroup()
	rt := kmsg.NewOffsetFetchRequestGroupTopic()
	rt.Topic, rt.Partitions = topic, []int32{0}
	rg.Group, rg.Topics = group, append(rg.Topics, rt)
	req.Groups = append(req.Groups, rg)
	return req
}

// fetchedOffset is the offset an OffsetFetch (v8+) answers for partition 0.
func fetchedOffset(t *testing.T, resp *kmsg.OffsetFetchResponse, topic string) int64 {
	t.Helper()
	if len(resp.Groups) != 1 {
		t.Fatalf("OffsetFetch: %d groups in the answer", len(resp.Groups))
	}
	g := resp.Groups[0]
	wantCode(t, "OffsetFetch", g.ErrorCode, nil)
	for _, gt := range g.Topics {
		for _, gp := range gt.Partitions {
			if gt.Topic == topic && gp.Partition == 0 {
				wantCode(t, "OffsetFetch "+topic+"/0", gp.ErrorCode, nil)
				return gp.Offset
			}
		}
	}
	t.Fatalf("OffsetFetch: no answer for %s/0", topic)
	return -1
}

// decodeResponse decodes a response body (after the correlation id) to req.
func decodeResponse(t *testing.T, req kmsg.Request, body []byte) kmsg.Response {
	t.Helper()
	resp, err := brokertest.DecodeResponse(req, body)
	if err != nil {
		t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp
}

// startStrataWithFileLimit starts a broker as StartStrata does, under an
// open-file limit of nofile (a shell's ulimit, then exec).
func startStrataWithFileLimit(t *testing.T, nofile int, args ...string) *Strata {
	t.Helper()
	sh := testenv.Require(t, "sh", "a POSIX shell, to set the broker's open-file limit")
	s := &Strata{t: t, opts: Options{DataDir: filepath.Join(t.TempDir(), "data"), Args: args}}
	s.Addr = "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	s.HTTPAddr = "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	full := []string{"-c", `ulimit -n ` + strconv.Itoa(nofile) + ` && exec "$0" "$@"`, strataBin,
		"serve", "--data-dir", s.opts.DataDir, "--listen", s.Addr, "--http-listen", s.HTTPAddr,
		"--seal-interval", "50ms", "--log-level", "debug"}
	s.proc = testenv.Start(t, "strata "+s.Addr, nil, sh, append(full, args...)...)
	testenv.WaitHTTP(t, "http://"+s.HTTPAddr+"/readyz", 60*time.Second)
	return s
}

// keepAliveHTTP asks the broker's HTTP port over one kept-alive connection,
// opened while the broker still has file descriptors to accept it.
type keepAliveHTTP struct {
	t      *testing.T
	s      *Strata
	client *http.Client
}

func newKeepAliveHTTP(t *testing.T, s *Strata) *keepAliveHTTP {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1}
	t.Cleanup(tr.CloseIdleConnections)
	h := &keepAliveHTTP{t: t, s: s, client: &http.Client{Transport: tr, Timeout: 5 * time.Second}}
	if code, err := h.readyz(); err != nil || code != http.StatusOK {
		t.Fatalf("/readyz before the test: %d, %v", code, err)
	}
	return h
}

// readyz is /readyz's status code.
func (h *keepAliveHTTP) readyz() (int, error) {
	resp, err := h.client.Get("http://" + h.s.HTTPAddr + "/readyz")
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// waitReadyz polls /readyz until it answers want; the bound only keeps the
// test from hanging.
func (h *keepAliveHTTP) waitReadyz(want int, why string) {
	h.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		code, err := h.readyz()
		if err == nil && code == want {
			return
		}
		last = fmt.Sprintf("%d %v", code, err)
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatalf("/readyz never answered %d %s (last: %s)", want, why, last)
}

// metric reads a metric (labels included in name, as /metrics writes
// them) over the kept-alive connection.
func (h *keepAliveHTTP) metric(name string) float64 {
	h.t.Helper()
	resp, err := h.client.Get("http://" + h.s.HTTPAddr + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				h.t.Fatalf("metric %s: %q: %v", name, v, err)
			}
			return f
		}
	}
	h.t.Fatalf("no metric %s on /metrics (HTTP %d)", name, resp.StatusCode)
	return 0
}

// waitMetric polls a metric until ok holds for its value.
func waitMetric(t *testing.T, s *Strata, name string, ok func(float64) bool, what string) float64 {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var v float64
	for time.Now().Before(deadline) {
		if v = metricValue(t, s, name); ok(v) {
			return v
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: %s is %v", what, name, v)
	return v
}

// flood opens n connections to the Kafka listener (the kernel completes
// them whether or not the broker accepts them) and closes them at the end
// of the test.
func flood(t *testing.T, s *Strata, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() { closeAll(conns) })
	for range n {
		c, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
		if err != nil {
			t.Fatalf("dial %d: %v", len(conns)+1, err)
		}
		conns = append(conns, c)
	}
	return conns
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// TestConnOutOfFileDescriptors: a broker under `ulimit -n 256` gets 400
// connections. With --max-connections=-1 (unlimited) it runs out of file
// descriptors: accept fails with EMFILE, the listener backs off instead of
// dying, /readyz says not ready while accepting fails and ready again once
// the connections are gone, and clients are served again. With the
// default, --max-connections is derived from the open-file limit: the
// connections past it are closed right after accept, accept never fails and
// the broker stays ready.
func TestConnOutOfFileDescriptors(t *testing.T) {
	const nofile, conns = 256, 400
	t.Run("unlimited connections run out of descriptors and recover", func(t *testing.T) {
		s := startStrataWithFileLimit(t, nofile, "--max-connections=-1")
		h := newKeepAliveHTTP(t, s)
		open := flood(t, s, conns)
		h.waitReadyz(http.StatusServiceUnavailable, "while the broker has no file descriptor left to accept with")
		closeAll(open)
		h.waitReadyz(http.StatusOK, "once the connections are closed")
		if n := h.metric("strata_accept_errors_total"); n < 1 {
			t.Errorf("strata_accept_errors_total = %v, want accept errors counted", n)
		}
		if !strings.Contains(s.Output(), "too many open files") {
			t.Errorf("the broker did not log EMFILE (too many open files)")
		}
		assertStillServes(t, s)
	})
	t.Run("the default limit keeps descriptors for the broker", func(t *testing.T) {
		s := startStrataWithFileLimit(t, nofile)
		h := newKeepAliveHTTP(t, s)
		open := flood(t, s, conns)
		limit := float64(conns - 128) // AutoMaxConnections(256) is 128: the rest are refused
		waitMetric(t, s, `strata_connections_rejected_total{reason="max_connections"}`, func(v float64) bool { return v >= limit }, "connections past the derived limit")
		if code, err := h.readyz(); err != nil || code != http.StatusOK {
			t.Errorf("/readyz with the connection limit reached: %d, %v; want 200", code, err)
		}
		if n := h.metric("strata_accept_errors_total"); n != 0 {
			t.Errorf("strata_accept_errors_total = %v, want 0: the limit leaves descriptors to accept with", n)
		}
		closeAll(open)
		waitMetric(t, s, "strata_connections", func(v float64) bool { return v == 0 }, "connections closed by the clients")
		assertStillServes(t, s)
	})
}

// dialFrom opens a raw Kafka connection from a local address (127.0.0.x:
// Linux routes all of 127/8 to the loopback interface) and checks that the
// broker serves it with an ApiVersions round trip.
func dialFrom(t *testing.T, s *Strata, ip string) *kafkaConn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c, err := d.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", ip, err)
	}
	t.Cleanup(func() { c.Close() })
	return &kafkaConn{t: t, c: c, corr: 1, max: map[int16]int16{}}
}

// apiVersions sends an ApiVersions v0 and returns the error of the round
// trip (a closed connection, usually), without failing the test.
func (k *kafkaConn) apiVersions() error {
	req := kmsg.NewPtrApiVersionsRequest()
	k.corr++
	_ = k.c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := k.c.Write(kmsg.NewRequestFormatter().AppendRequest(nil, req, k.corr)); err != nil {
		return err
	}
	body, err := readFrame(k.c)
	if err != nil {
		return err
	}
	if corr := int32(binary.BigEndian.Uint32(body)); corr != k.corr {
		return fmt.Errorf("correlation id %d, want %d", corr, k.corr)
	}
	return nil
}

// TestConnLimitsAndIdle: --max-connections-per-ip and --max-connections
// close the connections past them right after accept; connections idle for
// --connections-max-idle are closed, while one that keeps sending requests
// stays; a normal client is served afterwards.
func TestConnLimitsAndIdle(t *testing.T) {
	const perIP, total, idle = 8, 12, 2 * time.Second
	s := StartStrata(t, Options{Args: []string{"--auto-create-topics=false",
		"--max-connections-per-ip=" + strconv.Itoa(perIP), "--max-connections=" + strconv.Itoa(total),
		"--connections-max-idle=" + idle.String()}})

	var served []*kafkaConn
	serve := func(ip string) {
		t.Helper()
		k := dialFrom(t, s, ip)
		if err := k.apiVersions(); err != nil {
			t.Fatalf("connection %d (from %s) not served: %v", len(served)+1, ip, err)
		}
		served = append(served, k)
	}
	refused := func(ip, limit string) {
		t.Helper()
		k := dialFrom(t, s, ip)
		if err := k.apiVersions(); err == nil || !(isClosed(err) || errors.Is(err, syscall.EPIPE)) {
			t.Fatalf("a connection from %s past the %s limit: %v, want it closed", ip, limit, err)
		}
		waitMetric(t, s, `strata_connections_rejected_total{reason="`+limit+`"}`, func(v float64) bool { return v >= 1 }, "refused connection counted")
	}
	for range perIP {
		serve("127.0.0.1")
	}
	refused("127.0.0.1", "max_connections_per_ip")
	for len(served) < total {
		serve("127.0.0.2")
	}
	refused("127.0.0.2", "max_connections")

	// One connection keeps sending requests for a few idle periods; the
	// others send nothing and are closed.
	active, quiet := served[len(served)-1], served[:len(served)-1]
	var wg sync.WaitGroup
	var activeErr error
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(idle / 4):
			}
			if activeErr = active.apiVersions(); activeErr != nil {
				return
			}
		}
	}()
	for i, k := range quiet {
		_ = k.c.SetReadDeadline(time.Now().Add(60 * time.Second))
		if _, err := k.c.Read(make([]byte, 1)); !isClosed(err) {
			t.Fatalf("idle connection %d: read %v, want it closed by the broker", i+1, err)
		}
	}
	close(stop)
	wg.Wait()
	if activeErr != nil {
		t.Fatalf("the connection sending a request every %s was closed: %v", idle/4, activeErr)
	}
	if n := metricValue(t, s, "strata_connections_idle_closed_total"); n < float64(len(quiet)) {
		t.Errorf("strata_connections_idle_closed_total = %v, want at least %d", n, len(quiet))
	}
	active.c.Close()
	assertStillServes(t, s)
}

// TestConnLyingSizePrefixes: connections that announce 100 MiB requests,
// send 1 MiB of them and stall cost the broker the bytes they sent, not
// what they claimed: the Go heap stays far below the 3 GiB claimed, and a
// normal client is served meanwhile.
func TestConnLyingSizePrefixes(t *testing.T) {
	const liars, claimed, sent = 30, 100 << 20, 1 << 20
	// The bound: the bytes sent, the buffers they grew into (at most 1 MiB
	// ahead, doubling), their garbage until the next GC, and the broker's
	// own heap; the claims (3000 MiB) are more than twenty times it.
	const heapBound = 128 << 20
	s := startBadInputBroker(t)
	before := metricValue(t, s, "go_memstats_heap_inuse_bytes")
	header := kmsg.NewRequestFormatter().AppendRequest(nil, kmsg.NewPtrApiVersionsRequest(), 1)[4:]
	for i := range liars {
		c := s.Dial()
		frame := binary.BigEndian.AppendUint32(nil, claimed)
		frame = append(append(frame, header...), make([]byte, sent-len(header))...)
		_ = c.SetWriteDeadline(time.Now().Add(60 * time.Second))
		if _, err := c.Write(frame); err != nil {
			t.Fatalf("liar %d: write: %v", i, err)
		}
	}
	// The broker has read what the liars sent: it holds it in its
	// request-byte budget.
	queued := waitMetric(t, s, "strata_queued_request_bytes", func(v float64) bool { return v >= liars*sent }, "the liars' bytes read")
	assertStillServes(t, s)
	heap := metricValue(t, s, "go_memstats_heap_inuse_bytes")
	t.Logf("%d connections claiming %d MiB each, %d MiB sent each: queued request bytes %.1f MiB, heap in use %.1f MiB (%.1f MiB before)",
		liars, claimed>>20, sent>>20, queued/(1<<20), heap/(1<<20), before/(1<<20))
	if heap > heapBound {
		t.Errorf("heap in use %.0f MiB with %d lying connections, want under %d MiB (they claimed %d MiB, sent %d MiB)",
			heap/(1<<20), liars, heapBound>>20, liars*claimed>>20, liars*sent>>20)
	}
}

// TestConnSlowSockets: connections that dribble a Produce request a byte at
// a time do not hold up other clients: with every slow request still one
// byte short, a normal client produces and consumes; then the slow requests
// end and each is answered.
func TestConnSlowSockets(t *testing.T) {
	const slow, topic = 8, "e2e-slow"
	s := startBadInputBroker(t)
	ensureTopic(t, s, topic, 1, nil)
	type dribbler struct {
		k    *kafkaConn
		req  *kmsg.ProduceRequest
		rest []byte // the request's last byte, sent at the end
	}
	var ds []*dribbler
	var wg sync.WaitGroup
	errs := make(chan error, slow)
	for i := range slow {
		k := dialKafka(t, s)
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(min(k.max[kmsg.Produce.Int16()], 9))
		req.Acks, req.TimeoutMillis = 1, 30000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = encodeBatch(noProducer, [][]byte{[]byte(fmt.Sprintf("slow-%d", i))})
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		k.corr++
		frame := kmsg.NewRequestFormatter().AppendRequest(nil, req, k.corr)
		d := &dribbler{k: k, req: req, rest: frame[len(frame)-1:]}
		ds = append(ds, d)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, b := range frame[:len(frame)-1] {
				if _, err := k.c.Write([]byte{b}); err != nil {
					errs <- err
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	// While every slow request is still arriving (and then waits for its
	// last byte), a normal client is served.
	assertStillServes(t, s)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("dribbling a request: %v", err)
	}
	for i, d := range ds {
		_ = d.k.c.SetDeadline(time.Now().Add(60 * time.Second))
		if _, err := d.k.c.Write(d.rest); err != nil {
			t.Fatalf("slow connection %d: last byte: %v", i, err)
		}
		body, err := readFrame(d.k.c)
		if err != nil {
			t.Fatalf("slow connection %d: response: %v", i, err)
		}
		if corr := int32(binary.BigEndian.Uint32(body)); corr != d.k.corr {
			t.Fatalf("slow connection %d: correlation id %d, want %d", i, corr, d.k.corr)
		}
		resp := decodeResponse(t, d.req, body[4:]).(*kmsg.ProduceResponse)
		wantCode(t, fmt.Sprintf("slow Produce %d", i), producePartition(t, resp, topic, 0).ErrorCode, nil)
	}
}
