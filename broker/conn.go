package broker

// Client connections: reading requests, their order, their answers.
//
// Each connection has a read loop (serve's goroutine) and a write loop. The
// read loop reads one request at a time, parses it and runs the ordered part
// of its handler; each request's wait part then runs on a goroutine of its
// own; the write loop writes the responses in request order.
//
// # Order
//
// Kafka's contract (ARCHITECTURE 6a): the effects and the responses of one
// connection's requests happen in request order, while connections run in
// parallel. Every handler (api.handle) is split in two:
//
//   - The ordered part runs on the read loop, in request order, one request
//     at a time. It validates the request and makes its effects: the append
//     of a Produce, a group membership change (JoinGroup, SyncGroup,
//     Heartbeat, LeaveGroup), a topic or config change written to etcd
//     (CreateTopics and the other admin requests), or the queueing of a
//     group write (OffsetCommit, OffsetDelete, DeleteGroups) on the
//     coordinator's writer, which commits writes in the order they were
//     queued, so that pipelined commits still share etcd transactions.
//   - The wait part, the function the ordered part returns, runs
//     concurrently with the connection's later requests and returns the
//     response. It waits for what an effect needs before it is answered
//     (Produce's acks, the end of a rebalance, a group write landing in
//     etcd), or it reads: Fetch (and its long poll) and ListOffsets, which
//     may read the object store, run whole in their wait part.
//
// Responses are written in request order, whatever order the wait parts
// finish in. A read never misses the effects of the connection's earlier
// requests: an ordered read runs after their ordered parts; a read in a
// wait part starts after them; and a read of group state (OffsetFetch,
// DescribeGroups, ListGroups) first waits for the group writes that earlier
// requests of the connection queued to land (conn.groupWrites). A read in a
// wait part may also see the effects of later requests. An ordered part
// that waits (the etcd round trips of an admin request; OffsetDelete, which
// waits for earlier commits before it looks at the offsets) holds up the
// connection's later requests, as Kafka does with every request: it mutes a
// connection while one of its requests is being handled.
//
// # Bounds (docs/limits.md)
//
//   - A request's size prefix must be within [8, Config.MaxRequestBytes]; its
//     buffer starts at 64 KiB at most and grows as its bytes arrive
//     (readBody), so a size a client claims allocates nothing by itself.
//   - Per broker, the bytes of requests being read or in their ordered part,
//     over every connection, are bounded by Config.QueuedMaxRequestBytes
//     (Kafka's queued.max.request.bytes): a buffer grows only once the
//     budget (byteBudget) grants the bytes; when it is short one request at
//     a time may go past it, so that requests that each hold part of it do
//     not wait on each other forever and one larger than the whole budget is
//     still read. The bytes held stay under the budget plus one request.
//   - Per connection, at most maxInFlight requests wait for their responses,
//     and at most Config.MaxRequestBytes of request bytes among them: the
//     read loop stops reading until earlier requests finish.
//   - A connection with nothing in flight that receives nothing for
//     Config.ConnectionsMaxIdle is closed, and so is one whose client does
//     not read a MiB of a response for that long.
//
// # Goroutines and state
//
// The read loop owns clientID and groupWrites and runs every ordered part.
// The wait parts and the write loop share only the inflight values (a
// response on its done channel), the counters waiting and pending, and
// freed. ctx ends when the client goes away (the read or a write failed)
// or, after the graceful part of a shutdown, with the broker's.

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/auth"
	"github.com/strata-io/strata/coordinator"
	"github.com/strata-io/strata/metadata"
)

const (
	// maxInFlight bounds the requests of one connection waiting for their
	// responses; the read loop stops reading when it is reached.
	maxInFlight = 16
	// firstChunk is the largest buffer a request gets before its bytes
	// arrive; growAhead is how far past the bytes received it then grows
	// (at least doubling), so that a request of up to about 1 MiB is read
	// with one copy.
	firstChunk = 64 << 10
	growAhead  = 1 << 20
	// writeChunk is how much of a response a client must read within the
	// idle time.
	writeChunk = 1 << 20
)

var errIdle = errors.New("broker: connection idle for longer than connections.max.idle")

// conn serves one client connection.
type conn struct {
	srv      *server
	nc       net.Conn
	listener *listener
	ctx      context.Context
	cancel   context.CancelFunc
	queue    chan *inflight // to the write loop, in request order
	// idle is Config.ConnectionsMaxIdle.
	idle time.Duration

	// Owned by the read loop; id changes only before the requests it
	// governs are read (security.go).
	clientID string
	id       identity
	sasl     saslState
	// closeAfter, set by an ordered part, closes the connection once the
	// request's answer is written (a failed SASL authentication).
	closeAfter error
	// groupWrites is closed once every group write queued by the requests
	// read so far has landed (or failed); trackGroupWrite replaces it.
	groupWrites chan struct{}

	// throttledUntil (Unix nanoseconds) is when the client's quota lets the
	// read loop read its next request (quotas.go).
	throttledUntil atomic.Int64

	// waiting counts requests read and not yet answered (or dropped): a
	// connection with one is not idle. pending is their request bytes;
	// freed is signalled when pending goes down.
	waiting atomic.Int32
	pending atomic.Int64
	freed   chan struct{}

	// hold is the share of the broker's request-byte budget that the
	// request being read holds; the read loop reuses it.
	hold budgetHold

	// shares are the KIP-932 share sessions the connection opened; they
	// end with it (78_share_fetch.go).
	shares connShares
}

type inflight struct {
	corr int32
	done chan kmsg.Response // receives the response, or nil for none
	raw  []byte             // a bare SASL token to write instead (SaslHandshake v0)
}

func newConn(b *server, nc net.Conn, l *listener) *conn {
	ctx, cancel := context.WithCancel(b.ctx)
	landed := make(chan struct{})
	close(landed)
	if l.tls != nil {
		nc = tls.Server(nc, l.tls)
	}
	c := &conn{
		srv: b, nc: nc, listener: l, ctx: ctx, cancel: cancel,
		queue:       make(chan *inflight, maxInFlight),
		idle:        b.cfg.ConnectionsMaxIdle,
		groupWrites: landed,
		freed:       make(chan struct{}, 1),
		hold:        budgetHold{b: b.front.queued},
	}
	c.id.host = remoteIP(nc)
	c.id.set(auth.Anonymous)
	return c
}

// closeWhenIdle stops reading new requests; what is in flight is answered.
func (c *conn) closeWhenIdle() {
	if tc, ok := c.nc.(*net.TCPConn); ok {
		_ = tc.CloseRead()
		return
	}
	c.nc.Close()
}

func (c *conn) serve() {
	defer c.cancel()
	defer c.nc.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.writeLoop()
	}()
	err := c.handshakeTLS()
	if err == nil {
		err = c.readLoop()
	}
	if !c.srv.isClosing() {
		// The client went away: stop work nobody will read, such as long
		// polls. (At shutdown, in-flight requests are finished and answered.)
		c.cancel()
	}
	close(c.queue)
	wg.Wait()
	c.shares.end(c) // KIP-932: every request is answered; the share sessions end with the connection
	switch {
	case errors.Is(err, errIdle):
		c.srv.metrics.idleClosed.Inc()
		c.srv.log.Debug("closing idle client connection", "remote", c.nc.RemoteAddr().String(), "client_id", c.clientID, "idle", c.idle)
	case !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, context.Canceled):
		c.srv.log.Info("closing client connection", "remote", c.nc.RemoteAddr().String(), "client_id", c.clientID, "reason", err)
	}
}

// errFraming covers requests after which the stream cannot be trusted.
type errFraming struct{ msg string }

func (e *errFraming) Error() string { return e.msg }

func (c *conn) readLoop() error {
	var size [4]byte
	maxBytes := c.srv.cfg.MaxRequestBytes
	for {
		if err := c.waitThrottle(); err != nil {
			return err
		}
		if err := c.readFull(size[:]); err != nil {
			return err
		}
		n := int32(binary.BigEndian.Uint32(size[:]))
		limit := maxBytes
		if c.listener.Protocol.SASL() && !c.sasl.authenticated {
			limit = min(limit, saslMaxReceive)
		}
		least := int32(8) // a request header
		if c.sasl.raw {
			least = 0 // a bare SASL token
		}
		if n < least || int64(n) > limit {
			c.srv.metrics.badRequests.Inc()
			return &errFraming{msg: "request size " + itoa(int64(n)) + " outside [" + itoa(int64(least)) + ", max request bytes " + itoa(limit) + "]"}
		}
		if err := c.waitRoom(int64(n), maxBytes); err != nil {
			return err
		}
		hold := &c.hold
		body, err := c.readBody(hold, int(n))
		if err != nil {
			hold.release()
			return err
		}
		c.srv.metrics.bytesIn.Add(float64(n + 4))
		if c.sasl.raw {
			// SaslHandshake v0: the frame is a bare SASL token.
			hold.release()
			c.rawToken(body)
			if c.closeAfter != nil {
				return c.closeAfter
			}
			continue
		}
		corr, wait, err := c.handle(body)
		// The ordered part is done: the bytes are no longer queued (what a
		// wait part keeps of them is counted in pending until it ends).
		hold.release()
		if err != nil {
			c.srv.metrics.badRequests.Inc()
			return err
		}
		c.enqueue(corr, int64(n), wait)
		if c.closeAfter != nil {
			return c.closeAfter
		}
	}
}

// readFull fills p, with the idle rule.
func (c *conn) readFull(p []byte) error {
	for got := 0; got < len(p); {
		n, err := c.read(p[got:])
		got += n
		if err != nil {
			if errors.Is(err, io.EOF) && got > 0 {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// readBody reads a request body of n bytes into a buffer that grows as the
// bytes arrive, each growth granted by hold's budget first.
func (c *conn) readBody(hold *budgetHold, n int) ([]byte, error) {
	size := min(n, firstChunk)
	if err := hold.grow(c.ctx, int64(size)); err != nil {
		return nil, err
	}
	buf := make([]byte, size)
	for got := 0; got < n; {
		if got == len(buf) {
			next := min(n, got+max(got, growAhead))
			if err := hold.grow(c.ctx, int64(next-len(buf))); err != nil {
				return nil, err
			}
			grown := make([]byte, next)
			copy(grown, buf)
			buf = grown
		}
		m, err := c.read(buf[got:])
		got += m
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return buf, nil
}

// read reads what has arrived into p. It returns errIdle once nothing has
// arrived for the idle time while no request of the connection is in
// flight; a connection waiting for its responses is not idle.
func (c *conn) read(p []byte) (int, error) {
	for {
		_ = c.nc.SetReadDeadline(time.Now().Add(c.idle))
		n, err := c.nc.Read(p)
		if n > 0 || err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		if c.waiting.Load() == 0 {
			return 0, errIdle
		}
	}
}

// waitRoom waits until a request of n bytes fits in the connection's
// in-flight budget: the bytes of its requests awaiting their responses stay
// within limit, or it is alone.
func (c *conn) waitRoom(n, limit int64) error {
	for p := c.pending.Load(); p > 0 && p+n > limit; p = c.pending.Load() {
		select {
		case <-c.freed:
		case <-c.ctx.Done():
			return c.ctx.Err()
		}
	}
	return nil
}

// request is a parsed request frame.
type request struct {
	key, version int16
	corr         int32
	clientID     *string
	req          kmsg.Request // nil for a too-new ApiVersions, answered with UNSUPPORTED_VERSION
}

// parseRequest decodes a request frame's body (after the size prefix): the
// header, then the body of a known API at a version this broker serves.
// An error means the stream cannot be trusted and the connection must close.
func parseRequest(body []byte) (request, error) {
	r := kbin.Reader{Src: body}
	pr := request{key: r.Int16(), version: r.Int16(), corr: r.Int32()}
	pr.clientID = r.NullableString()
	if !r.Ok() {
		return pr, &errFraming{msg: "malformed request header"}
	}
	a, known := apis[pr.key]
	if !known {
		return pr, &errFraming{msg: "unsupported API key " + itoa(int64(pr.key))}
	}
	if pr.key == 18 && pr.version > a.max {
		// Kafka answers a too-new ApiVersions with a v0 response carrying
		// UNSUPPORTED_VERSION and the ranges, so the client can retry.
		return pr, nil
	}
	if pr.version < a.min || pr.version > a.max {
		return pr, &errFraming{msg: "unsupported version " + itoa(int64(pr.version)) + " of API key " + itoa(int64(pr.key))}
	}
	req := kmsg.RequestForKey(pr.key)
	req.SetVersion(pr.version)
	if req.IsFlexible() {
		kmsg.SkipTags(&r)
		if !r.Ok() {
			return pr, &errFraming{msg: "malformed request header tags"}
		}
	}
	if err := req.ReadFrom(r.Src); err != nil {
		return pr, &errFraming{msg: "malformed " + kmsg.NameForKey(pr.key) + " v" + itoa(int64(pr.version)) + " request: " + err.Error()}
	}
	pr.req = req
	return pr, nil
}

// handle parses a request and runs its ordered part; it returns the
// request's correlation id and its wait part.
func (c *conn) handle(body []byte) (int32, func(context.Context) kmsg.Response, error) {
	pr, err := parseRequest(body)
	if err != nil {
		return 0, nil, err
	}
	if pr.clientID != nil {
		c.clientID = *pr.clientID
	}
	if pr.req == nil {
		return pr.corr, func(context.Context) kmsg.Response { return apiVersionsUnsupported() }, nil
	}
	if err := c.saslGate(pr.key); err != nil {
		return 0, nil, err
	}
	start := time.Now()
	wait := apis[pr.key].handle(c, pr.req)
	use := usage{key: pr.key, clientID: c.clientID, requestBytes: len(body), handling: time.Since(start)}
	throttle := c.charge(use)
	return pr.corr, func(ctx context.Context) kmsg.Response {
		resp := wait(ctx)
		c.srv.metrics.observeRequest(pr.key, start)
		c.throttle(use, throttle, resp)
		return resp
	}, nil
}

// enqueue runs a request's wait part concurrently and queues its response
// in request order; size is the request's bytes, counted in pending until
// the wait part returns.
func (c *conn) enqueue(corr int32, size int64, wait func(context.Context) kmsg.Response) {
	f := &inflight{corr: corr, done: make(chan kmsg.Response, 1)}
	c.waiting.Add(1)
	c.pending.Add(size)
	c.queue <- f // blocks at maxInFlight
	go func() {
		resp := wait(c.ctx)
		c.pending.Add(-size)
		select {
		case c.freed <- struct{}{}:
		default: // already signalled
		}
		f.done <- resp
	}()
}

// queueGroupWrite queues w on shard s, in the ordered part, and returns
// what the wait part calls: it waits for the write to land (or fail) and
// then lets the connection's later reads of group state go on.
func (c *conn) queueGroupWrite(s *coordinator.Shard, w metadata.GroupWrite) (wait func(context.Context) error) {
	queued := s.QueueWrite(w)
	landed := c.trackGroupWrite()
	return func(ctx context.Context) error {
		defer landed()
		return queued.Wait(ctx)
	}
}

// queueOffsets queues, in the ordered part, an offset write (committed or
// transactional offsets) that the request's checks let through (err and
// code nil, something to write). The wait part calls the function it
// returns: the request's outcome, code or the write's error.
func (c *conn) queueOffsets(s *coordinator.Shard, w metadata.GroupWrite, err error, code *kerr.Error) func(context.Context) *kerr.Error {
	var wait func(context.Context) error
	if err == nil && code == nil && (len(w.Offsets) > 0 || w.TxnOffsets != nil && len(w.TxnOffsets.Offsets) > 0) {
		wait = c.queueGroupWrite(s, w)
	}
	return func(ctx context.Context) *kerr.Error {
		if wait != nil {
			err = wait(ctx)
		}
		if err != nil {
			return asKerr(err)
		}
		return code
	}
}

// trackGroupWrite notes, in the ordered part, that the request queued a
// group write; the wait part calls the function it returns once the write
// has landed or failed. Later reads of group state wait for it.
func (c *conn) trackGroupWrite() (landed func()) {
	prev, mine := c.groupWrites, make(chan struct{})
	c.groupWrites = mine
	return func() {
		// Writes land in the order they were queued; waiting for the one
		// before keeps the chain in order even if an answer came early.
		select {
		case <-prev:
		case <-c.ctx.Done():
		}
		close(mine)
	}
}

// awaitGroupWrites waits, in an ordered part, until the group writes
// queued by the connection's earlier requests have landed. The
// connection's later requests wait meanwhile.
func (c *conn) awaitGroupWrites() error {
	select {
	case <-c.groupWrites:
		return nil
	case <-c.ctx.Done():
		return c.ctx.Err()
	}
}

func (c *conn) writeLoop() {
	var buf []byte
	broken := false
	for f := range c.queue {
		resp := <-f.done
		if (resp != nil || f.raw != nil) && !broken {
			if err := c.write(&buf, f, resp); err != nil {
				broken = true
				c.cancel()   // stop the work of a client that is gone
				c.nc.Close() // stops the read loop too
			}
		}
		c.waiting.Add(-1)
	}
}

// write encodes and writes one response. A client that does not read a
// chunk of it for the idle time is gone.
func (c *conn) write(buf *[]byte, f *inflight, resp kmsg.Response) error {
	b := *buf
	if f.raw != nil {
		b = binary.BigEndian.AppendUint32(b[:0], uint32(len(f.raw)))
		b = append(b, f.raw...)
	} else {
		if n := responseSizeHint(resp); cap(b) < n {
			b = make([]byte, 0, n) // one allocation, not a doubling per MiB
		}
		b = append(b[:0], 0, 0, 0, 0, 0, 0, 0, 0) // size, correlation id
		if resp.IsFlexible() && resp.Key() != 18 {
			b = append(b, 0) // empty tagged fields of the response header
		}
		b = resp.AppendTo(b)
		binary.BigEndian.PutUint32(b[0:], uint32(len(b)-4))
		binary.BigEndian.PutUint32(b[4:], uint32(f.corr))
	}
	for off := 0; off < len(b); off += writeChunk {
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.idle))
		if _, err := c.nc.Write(b[off:min(len(b), off+writeChunk)]); err != nil {
			return err
		}
	}
	c.srv.metrics.bytesOut.Add(float64(len(b)))
	if cap(b) > 1<<20 {
		b = nil // do not pin a large fetch response's buffer
	}
	*buf = b
	return nil
}

// responseSizeHint is a little more than the encoded size of a fetch
// response (its record batches and their framing), 0 for the others.
func responseSizeHint(resp kmsg.Response) int {
	f, ok := resp.(*kmsg.FetchResponse)
	if !ok {
		return 0
	}
	n := 256
	for _, t := range f.Topics {
		n += 64 + len(t.Topic)
		for _, p := range t.Partitions {
			n += 96 + len(p.RecordBatches) + 24*len(p.AbortedTransactions)
		}
	}
	return n
}

// byteBudget bounds bytes held by many goroutines: the request bytes of
// every connection (Kafka's queued.max.request.bytes). Holders grow their
// share as they need it; waiters are served in arrival order. When the
// budget is short, one holder at a time may go past the limit (over), so
// that holders that each have part of the budget and need more cannot wait
// on each other forever, and one larger than the whole budget still
// proceeds: what is held stays below the limit plus one holder's share.
type byteBudget struct {
	limit int64
	inUse prometheus.Gauge   // used, or nil
	waits prometheus.Counter // grows that had to wait, or nil

	mu      sync.Mutex
	used    int64
	over    *budgetHold // the holder allowed past limit, nil if none
	waiters []*budgetWaiter
}

// budgetHold is one holder's share of a byteBudget.
type budgetHold struct {
	b *byteBudget
	n int64 // guarded by b.mu
}

type budgetWaiter struct {
	h       *budgetHold
	n       int64
	granted chan struct{} // closed once granted
}

func newByteBudget(limit int64, inUse prometheus.Gauge, waits prometheus.Counter) *byteBudget {
	return &byteBudget{limit: limit, inUse: inUse, waits: waits}
}

// grow adds n bytes to h's share, waiting until the budget grants them or
// ctx ends.
func (h *budgetHold) grow(ctx context.Context, n int64) error {
	b := h.b
	b.mu.Lock()
	if b.over == h || (len(b.waiters) == 0 && b.fitsLocked(n)) {
		b.takeLocked(h, n)
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{h: h, n: n, granted: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	if b.waits != nil {
		b.waits.Inc()
	}
	select {
	case <-w.granted:
		return nil
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.granted:
		return nil // granted meanwhile: h holds it, and its release returns it
	default:
	}
	for i, o := range b.waiters {
		if o == w {
			b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
			break
		}
	}
	b.grantLocked() // the waiters behind w may fit
	return ctx.Err()
}

// release returns h's whole share. h may grow again afterwards.
func (h *budgetHold) release() {
	b := h.b
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= h.n
	h.n = 0
	if b.over == h {
		b.over = nil
	}
	b.setGaugeLocked()
	b.grantLocked()
}

// fitsLocked reports whether n more bytes can be granted to a new holder:
// they fit under the limit, or nobody is past it yet.
func (b *byteBudget) fitsLocked(n int64) bool {
	return b.used+n <= b.limit || b.over == nil
}

func (b *byteBudget) takeLocked(h *budgetHold, n int64) {
	if b.used+n > b.limit {
		b.over = h
	}
	b.used += n
	h.n += n
	b.setGaugeLocked()
}

// grantLocked serves waiters in order while they fit.
func (b *byteBudget) grantLocked() {
	for len(b.waiters) > 0 {
		w := b.waiters[0]
		if b.over != w.h && !b.fitsLocked(w.n) {
			return
		}
		b.waiters = b.waiters[1:]
		b.takeLocked(w.h, w.n)
		close(w.granted)
	}
}

func (b *byteBudget) setGaugeLocked() {
	if b.inUse != nil {
		b.inUse.Set(float64(b.used))
	}
}

// kerrCode returns the Kafka error code for err: a *kerr.Error's own code,
// or UNKNOWN_SERVER_ERROR.
func kerrCode(err error) int16 {
	if err == nil {
		return 0
	}
	return asKerr(err).Code
}

// asKerr is err as a Kafka error, UNKNOWN_SERVER_ERROR if it is none.
func asKerr(err error) *kerr.Error {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke
	}
	return kerr.UnknownServerError
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
