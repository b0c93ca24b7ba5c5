package tiering

import (
	"time"
)

// DefaultMaxPutRate is the PUT budget of a broker that sets none: segment
// PUTs per second that seals on demand may spend (UploaderOptions.MaxPutRate).
const DefaultMaxPutRate = 5

// Demand tells the uploader whether anything waits for the next commit: an
// acks=all produce waiting for its records to be committed, or a fetch
// waiting at the high watermark. Its methods are called from the
// uploader's goroutine and must never wait.
type Demand interface {
	// Waiting reports whether anything waits for the next commit now.
	Waiting() bool
	// Changed receives (it has a buffer of one) after Waiting may have
	// turned true.
	Changed() <-chan struct{}
}

// putBudget is a token bucket of segment PUTs: it fills at rate tokens a
// second up to one token. An early seal (sealEarly) waits until a whole
// token is there and takes it when it asks the WAL to seal (the segment's
// PUT then takes nothing); every other segment PUT takes one, or what is
// there when less is (a seal the WAL makes on its own, full or
// SealInterval old, never waits for the budget, but it spends it). So early
// seals alone make at most 1 + rate × t PUTs in any t, and a segment the WAL
// seals on its own delays the next early seal rather than adding to them.
// Taking the token at the seal rather than at the PUT lets the next early
// seal come one token after this one, while this segment is still being
// PUT (uploads are pipelined). It is used from Run's goroutine only.
type putBudget struct {
	rate   float64 // tokens a second; > 0
	tokens float64 // 0 ≤ tokens ≤ 1 as of last
	last   time.Time
}

func newPutBudget(rate float64, now time.Time) *putBudget {
	return &putBudget{rate: rate, tokens: 1, last: now}
}

// fill adds the tokens earned since the last call.
func (b *putBudget) fill(now time.Time) {
	if now.After(b.last) {
		b.tokens = min(1, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
	}
}

// wait is how long until a whole token is there (0: now).
func (b *putBudget) wait(now time.Time) time.Duration {
	b.fill(now)
	if b.tokens >= 1 {
		return 0
	}
	// Rounded up, so that the token is there when the wait is over.
	return time.Duration((1-b.tokens)/b.rate*float64(time.Second)) + time.Microsecond
}

// take spends a token for a PUT, or what there is of one.
func (b *putBudget) take(now time.Time) {
	b.fill(now)
	b.tokens = max(0, b.tokens-1)
}

// sealEarly asks the WAL to seal its open segment now if the uploader may
// spend a PUT on it: something waits for the next commit (Demand) and the
// budget holds a token, which the seal takes. The caller is Run, between two
// segments' PUTs or during one (put): the previous segment has been
// received, so the uploader takes the new one as soon as it can PUT it; the
// WAL itself refuses while a sealed segment has not been received yet, or
// the open one is empty. It returns how long until
// the budget has a token if that is all that is missing (0 otherwise), for
// Run to look again then.
func (u *Uploader) sealEarly() time.Duration {
	if u.budget == nil || !u.opts.Demand.Waiting() {
		return 0
	}
	if d := u.budget.wait(u.now()); d > 0 {
		return d
	}
	if seq := u.opts.WAL.SealEarly(); seq > u.asked {
		u.asked = seq // asked again until it is sealed: counted and spent once
		u.budget.take(u.now())
		u.earlySeals.Inc()
	}
	return 0
}

// spend takes a token from the budget for a PUT of segment seq, unless it
// is the first PUT of a segment sealed early (its seal took the token; a
// segment PUT again, a redo, pays again).
func (u *Uploader) spend(seq uint64) {
	if u.budget == nil {
		return
	}
	if seq == u.asked && seq != u.paid {
		u.paid = seq
		return
	}
	u.budget.take(u.now())
}
