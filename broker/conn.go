package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxInFlight bounds the requests of one connection being worked on at once;
// the reader stops reading when it is reached (backpressure).
const maxInFlight = 16

// api is one Kafka API this broker serves.
type api struct {
	min, max int16
	// handle runs in the connection's read loop, in request order, and must
	// be quick; the function it returns runs concurrently and produces the
	// response (nil: send nothing, as for acks=0).
	handle func(c *conn, req kmsg.Request) func(ctx context.Context) kmsg.Response
}

// apis is filled by the init functions of the NN_name.go files.
var apis = map[int16]api{}

func register(key int16, min, max int16, handle func(c *conn, req kmsg.Request) func(ctx context.Context) kmsg.Response) {
	apis[key] = api{min: min, max: max, handle: handle}
}

// async adapts a handler with no ordered part.
func async[R kmsg.Request](fn func(ctx context.Context, c *conn, req R) kmsg.Response) func(c *conn, req kmsg.Request) func(ctx context.Context) kmsg.Response {
	return func(c *conn, req kmsg.Request) func(ctx context.Context) kmsg.Response {
		return func(ctx context.Context) kmsg.Response { return fn(ctx, c, req.(R)) }
	}
}

// conn serves one client connection: requests are read in order, worked on
// concurrently (bounded), and answered strictly in request order.
type conn struct {
	b        *Broker
	nc       net.Conn
	ctx      context.Context
	cancel   context.CancelFunc
	queue    chan *inflight
	clientID string
}

type inflight struct {
	corr int32
	done chan kmsg.Response // receives the response, or nil for none
}

func newConn(b *Broker, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(b.ctx)
	return &conn{b: b, nc: nc, ctx: ctx, cancel: cancel, queue: make(chan *inflight, maxInFlight)}
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
	err := c.readLoop()
	if !c.b.isClosing() {
		// The client went away: stop work nobody will read, such as long
		// polls. (At shutdown, in-flight requests are finished and answered.)
		c.cancel()
	}
	close(c.queue)
	wg.Wait()
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		c.b.log.Info("closing client connection", "remote", c.nc.RemoteAddr().String(), "client_id", c.clientID, "reason", err)
	}
}

// errFraming covers requests after which the stream cannot be trusted.
type errFraming struct{ msg string }

func (e *errFraming) Error() string { return e.msg }

func (c *conn) readLoop() error {
	var size [4]byte
	for {
		if _, err := io.ReadFull(c.nc, size[:]); err != nil {
			return err
		}
		n := int32(binary.BigEndian.Uint32(size[:]))
		if n < 8 || n > c.b.cfg.MaxRequestBytes {
			c.b.metrics.badRequests.Inc()
			return &errFraming{msg: "request size " + itoa(int64(n)) + " outside [8, max request bytes " + itoa(int64(c.b.cfg.MaxRequestBytes)) + "]"}
		}
		body := make([]byte, n)
		if _, err := io.ReadFull(c.nc, body); err != nil {
			return err
		}
		c.b.metrics.bytesIn.Add(float64(n + 4))
		if err := c.dispatch(body); err != nil {
			c.b.metrics.badRequests.Inc()
			return err
		}
	}
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

func (c *conn) dispatch(body []byte) error {
	pr, err := parseRequest(body)
	if err != nil {
		return err
	}
	if pr.clientID != nil {
		c.clientID = *pr.clientID
	}
	if pr.req == nil {
		c.enqueue(pr.corr, func(context.Context) kmsg.Response { return apiVersionsUnsupported() })
		return nil
	}
	start := time.Now()
	fn := apis[pr.key].handle(c, pr.req)
	c.enqueue(pr.corr, func(ctx context.Context) kmsg.Response {
		resp := fn(ctx)
		c.b.metrics.observeRequest(pr.key, start)
		return resp
	})
	return nil
}

// enqueue runs fn concurrently and queues its response in request order.
func (c *conn) enqueue(corr int32, fn func(context.Context) kmsg.Response) {
	f := &inflight{corr: corr, done: make(chan kmsg.Response, 1)}
	c.queue <- f // blocks at maxInFlight
	go func() { f.done <- fn(c.ctx) }()
}

func (c *conn) writeLoop() {
	var buf []byte
	broken := false
	for f := range c.queue {
		resp := <-f.done
		if resp == nil || broken {
			continue
		}
		if n := responseSizeHint(resp); cap(buf) < n {
			buf = make([]byte, 0, n) // one allocation, not a doubling per MiB
		}
		buf = append(buf[:0], 0, 0, 0, 0, 0, 0, 0, 0) // size, correlation id
		if resp.IsFlexible() && resp.Key() != 18 {
			buf = append(buf, 0) // empty tagged fields of the response header
		}
		buf = resp.AppendTo(buf)
		binary.BigEndian.PutUint32(buf[0:], uint32(len(buf)-4))
		binary.BigEndian.PutUint32(buf[4:], uint32(f.corr))
		if _, err := c.nc.Write(buf); err != nil {
			broken = true
			c.nc.Close() // stops the read loop too
			continue
		}
		c.b.metrics.bytesOut.Add(float64(len(buf)))
		if cap(buf) > 1<<20 {
			buf = nil // do not pin a large fetch response's buffer
		}
	}
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
