package brokertest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxResponseBytes bounds a response frame Conn accepts.
const maxResponseBytes = 64 << 20

// ioTimeout bounds each write and read of a Conn, so that a broker that
// never answers fails the test rather than hanging it.
const ioTimeout = time.Minute

// Conn is one raw Kafka connection to the broker. Unlike a kgo client,
// which may spread requests over several connections, everything sent on a
// Conn travels on one TCP connection, in order: Send several requests, then
// Receive their responses, to test what Kafka promises about pipelined
// requests. Requests go at the version set on them (kmsg's zero value is
// version 0).
type Conn struct {
	t    testing.TB
	nc   net.Conn
	fmt  *kmsg.RequestFormatter
	corr int32
	sent []int32 // correlation ids sent and not yet received, in order
}

// Dial opens a Conn, closed when the test ends.
func (b *Broker) Dial(t testing.TB) *Conn {
	t.Helper()
	return dial(t, b.Addr())
}

// DialListener opens a connection to the plaintext (PLAINTEXT or
// SASL_PLAINTEXT) listener named name.
func (b *Broker) DialListener(t testing.TB, name string) *Conn {
	t.Helper()
	addr := b.ListenerAddr(name)
	if addr == "" {
		t.Fatalf("brokertest: no listener %s", name)
	}
	return dial(t, addr)
}

// Net is the connection itself, for tests that write or read bare bytes
// (a SaslHandshake v0 exchange).
func (c *Conn) Net() net.Conn { return c.nc }

func dial(t testing.TB, addr string) *Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("brokertest: dial: %v", err)
	}
	c := &Conn{t: t, nc: nc, fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID("brokertest"))}
	t.Cleanup(func() { c.nc.Close() })
	return c
}

// Send writes req without waiting for its response. A Produce with acks=0
// has none, as in Kafka: it is not waited for by Receive.
func (c *Conn) Send(req kmsg.Request) {
	c.t.Helper()
	c.corr++
	_ = c.nc.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := c.nc.Write(c.fmt.AppendRequest(nil, req, c.corr)); err != nil {
		c.t.Fatalf("brokertest: send %s: %v", name(req), err)
	}
	if p, ok := req.(*kmsg.ProduceRequest); ok && p.Acks == 0 {
		return
	}
	c.sent = append(c.sent, c.corr)
}

// Receive reads the response to the oldest request sent and not yet
// received, which must be req, and decodes it at req's version.
func (c *Conn) Receive(req kmsg.Request) kmsg.Response {
	c.t.Helper()
	if len(c.sent) == 0 {
		c.t.Fatalf("brokertest: receive %s: nothing was sent", name(req))
	}
	want := c.sent[0]
	c.sent = c.sent[1:]
	_ = c.nc.SetReadDeadline(time.Now().Add(ioTimeout))
	body, err := ReadFrame(c.nc)
	if err != nil {
		c.t.Fatalf("brokertest: receive %s: %v", name(req), err)
	}
	if corr := int32(binary.BigEndian.Uint32(body)); corr != want {
		c.t.Fatalf("brokertest: %s: response correlation id %d, want %d (responses out of order)", name(req), corr, want)
	}
	resp, err := DecodeResponse(req, body[4:])
	if err != nil {
		c.t.Fatalf("brokertest: %s: %v", name(req), err)
	}
	return resp
}

// DecodeResponse decodes the body of req's response frame after the
// correlation id, at req's version.
func DecodeResponse(req kmsg.Request, body []byte) (kmsg.Response, error) {
	// Flexible responses have a tag section in their header, except
	// ApiVersions, whose response header stays v0.
	if req.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		var err error
		if body, err = skipTags(body); err != nil {
			return nil, fmt.Errorf("response header: %w", err)
		}
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decode response: %w", err)
	}
	return resp, nil
}

// RoundTrip sends req and returns its response.
func (c *Conn) RoundTrip(req kmsg.Request) kmsg.Response {
	c.t.Helper()
	c.Send(req)
	return c.Receive(req)
}

func name(req kmsg.Request) string {
	return fmt.Sprintf("%s v%d", kmsg.NameForKey(req.Key()), req.GetVersion())
}

// ReadFrame reads one size-prefixed response frame (correlation id first).
func ReadFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > maxResponseBytes {
		return nil, fmt.Errorf("response frame of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return body, nil
}

// skipTags skips a tagged-field section.
func skipTags(b []byte) ([]byte, error) {
	n, l := binary.Uvarint(b)
	if l <= 0 {
		return nil, errors.New("bad tag count")
	}
	b = b[l:]
	for range n {
		if _, l = binary.Uvarint(b); l <= 0 {
			return nil, errors.New("bad tag")
		}
		b = b[l:]
		size, l := binary.Uvarint(b)
		if l <= 0 || uint64(len(b)-l) < size {
			return nil, errors.New("bad tag size")
		}
		b = b[l+int(size):]
	}
	return b, nil
}
