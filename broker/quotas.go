package broker

// Client quotas, enforced as Kafka enforces them (KIP-219): a request's
// bytes (produce) or its response's (fetch) and its handling time count
// against the quotas of the connection's principal and client id
// (package quota resolves which entity's); a client over a quota gets its
// response at once with throttle_time_ms set to how long it must stay
// quiet, and the connection reads nothing more from it until then. Clients
// since KIP-219 also wait on their own.
//
// The request time counted (request_percentage) is the ordered part's:
// what a request keeps the connection's read loop busy with, not the time
// a Produce waits for its acks or a Fetch for records.

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/quota"
)

// usage is what one request counts against the client's quotas.
type usage struct {
	key          int16
	clientID     string
	requestBytes int
	handling     time.Duration
}

// charge records, in the ordered part, what is known of a request once it
// is read (its bytes, for a produce, and its handling) and starts the
// client's quiet period at once if it is over a quota, so that the read
// loop does not read the requests it pipelined behind. It returns the
// throttle time so far.
func (c *conn) charge(u usage) time.Duration {
	q, user := c.srv.quotas, c.id.principal.Name
	var d time.Duration
	if u.key == 0 {
		d = q.Record(quota.ProducerByteRate, user, u.clientID, float64(u.requestBytes))
	}
	d = max(d, q.RecordRequestTime(user, u.clientID, u.handling))
	c.quietFor(d)
	return d
}

// throttle records what is known once the response is ready (a fetch's
// bytes), and sets the response's throttle time: d so far, or longer.
func (c *conn) throttle(u usage, d time.Duration, resp kmsg.Response) {
	if f, ok := resp.(*kmsg.FetchResponse); ok {
		fd := c.srv.quotas.Record(quota.ConsumerByteRate, c.id.principal.Name, u.clientID, float64(fetchedBytes(f)))
		c.quietFor(fd)
		d = max(d, fd)
	}
	if d <= 0 {
		return
	}
	c.srv.metrics.throttled.WithLabelValues(kmsg.NameForKey(u.key)).Inc()
	if st, ok := resp.(kmsg.SetThrottleResponse); ok {
		st.SetThrottle(int32(min(d.Milliseconds(), 1<<31-1)))
	}
}

// quietFor makes the read loop read nothing more for d from now (or
// longer, if an earlier request asked for longer).
func (c *conn) quietFor(d time.Duration) {
	if d <= 0 {
		return
	}
	until := time.Now().Add(d).UnixNano()
	for {
		cur := c.throttledUntil.Load()
		if cur >= until || c.throttledUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

// waitThrottle waits, on the read loop, until the client's quiet period
// is over.
func (c *conn) waitThrottle() error {
	d := time.Until(time.Unix(0, c.throttledUntil.Load()))
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-c.ctx.Done():
		return c.ctx.Err()
	}
}

// fetchedBytes are the record bytes of a fetch response.
func fetchedBytes(f *kmsg.FetchResponse) int {
	n := 0
	for _, t := range f.Topics {
		for _, p := range t.Partitions {
			n += len(p.RecordBatches)
		}
	}
	return n
}

// quotaConfig is the quotas of a security snapshot in the form
// quota.Manager takes.
func quotaConfig(entries []metadata.QuotaEntry) map[quota.Entity]quota.Quotas {
	all := make(map[quota.Entity]quota.Quotas, len(entries))
	for _, e := range entries {
		all[e.Entity] = e.Quotas
	}
	return all
}
