package objectstore

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// Faulty wraps a bucket and injects failures and latency, for tests of code
// that must survive object-store outages. Its zero configuration passes every
// call through; the methods below change that at any time, from any
// goroutine.
//
// For each call it applies, in order: the latency (SetLatency), the outage
// (SetDown), the hook (SetHook), then the FailNext queue for the call's
// operation; if none fails the call, it runs on the wrapped bucket, and then
// the FailNextAfter queue may replace a success with an error (the operation
// took effect but the caller cannot know: a timeout after the write).
//
// Operations are named by the Op constants; "" means any operation. Close is
// never faulted.
type Faulty struct {
	b Bucket

	mu       sync.Mutex
	down     bool
	latency  time.Duration
	hook     func(op, name string) error
	before   []fault // FailNext, in the order given
	after    []fault // FailNextAfter
	calls    map[string]int
	injected int
}

type fault struct {
	op  string
	n   int
	err error
}

var _ Bucket = (*Faulty)(nil)

// NewFaulty wraps b; nothing is injected until configured.
func NewFaulty(b Bucket) *Faulty {
	return &Faulty{b: b, calls: make(map[string]int)}
}

func checkOp(op string) {
	if op != "" && !slices.Contains(allOps, op) {
		panic(fmt.Sprintf("objectstore: Faulty: unknown operation %q; use the Op constants or \"\"", op))
	}
}

func injectedErr(err error, what string) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: %s", ErrInjected, what)
}

// FailNext makes the next n calls of op ("" for any) fail with err, without
// reaching the wrapped bucket. A nil err means an error wrapping ErrInjected.
// Calls add up: FailNext(OpPut, 1, a) then FailNext(OpPut, 1, b) fails the
// next Put with a and the one after with b.
func (f *Faulty) FailNext(op string, n int, err error) {
	f.queue(&f.before, "FailNext", op, n, err)
}

// FailNextAfter makes the next n calls of op ("" for any) run on the wrapped
// bucket and then, if they succeeded, return err instead (readers returned by
// Get and GetRange are closed). A nil err means an error wrapping ErrInjected.
func (f *Faulty) FailNextAfter(op string, n int, err error) {
	f.queue(&f.after, "FailNextAfter", op, n, err)
}

// queue adds the fault of the next n calls of op to q, for the method
// named what.
func (f *Faulty) queue(q *[]fault, what, op string, n int, err error) {
	checkOp(op)
	if n <= 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	*q = append(*q, fault{op, n, injectedErr(err, what+" "+opOrAny(op))})
}

func opOrAny(op string) string {
	if op == "" {
		return "any operation"
	}
	return op
}

// SetDown makes every call fail (true) with an error wrapping ErrInjected,
// as if the store were unreachable, or restores service (false).
func (f *Faulty) SetDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

// SetLatency delays every call by d before it does anything else; the delay
// ends early, failing the call, if the call's context is done.
func (f *Faulty) SetLatency(d time.Duration) {
	f.mu.Lock()
	f.latency = d
	f.mu.Unlock()
}

// SetHook installs fn (nil removes it), called with the operation and object
// name (the prefix for Iter) of every call; a non-nil result fails the call
// with that error. It can fail one path, fail with a probability (with a
// seeded random source), or block until the test releases it. fn runs
// without Faulty's lock held and may be called concurrently.
func (f *Faulty) SetHook(fn func(op, name string) error) {
	f.mu.Lock()
	f.hook = fn
	f.mu.Unlock()
}

// Reset removes every fault, the latency and the hook.
func (f *Faulty) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down, f.latency, f.hook, f.before, f.after = false, 0, nil, nil, nil
}

// Calls returns how many calls of op ("" for all) Faulty has seen, failed
// or not.
func (f *Faulty) Calls(op string) int {
	checkOp(op)
	f.mu.Lock()
	defer f.mu.Unlock()
	if op == "" {
		n := 0
		for _, c := range f.calls {
			n += c
		}
		return n
	}
	return f.calls[op]
}

// Injected returns how many calls failed because of Faulty.
func (f *Faulty) Injected() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.injected
}

// take removes one use of the first fault in q matching op.
func take(q []fault, op string) ([]fault, error) {
	for i := range q {
		if q[i].op != "" && q[i].op != op {
			continue
		}
		err := q[i].err
		if q[i].n--; q[i].n <= 0 {
			q = slices.Delete(q, i, i+1)
		}
		return q, err
	}
	return q, nil
}

// beforeCall runs the faults that apply before the call reaches the bucket.
func (f *Faulty) beforeCall(ctx context.Context, op, name string) error {
	f.mu.Lock()
	f.calls[op]++
	latency, hook := f.latency, f.hook
	f.mu.Unlock()

	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	f.mu.Lock()
	down := f.down
	f.mu.Unlock()
	if down {
		return f.count(fmt.Errorf("objectstore: %s %q: %w: store down", op, name, ErrInjected))
	}
	if hook != nil {
		if err := hook(op, name); err != nil {
			return f.count(err)
		}
	}
	f.mu.Lock()
	var err error
	f.before, err = take(f.before, op)
	if err != nil {
		f.injected++
	}
	f.mu.Unlock()
	return err
}

func (f *Faulty) count(err error) error {
	f.mu.Lock()
	f.injected++
	f.mu.Unlock()
	return err
}

// afterCall may replace the result of a successful call with an error.
func (f *Faulty) afterCall(op string, err error) error {
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.after, err = take(f.after, op)
	if err != nil {
		f.injected++
	}
	return err
}

// Put implements Bucket.
func (f *Faulty) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := f.beforeCall(ctx, OpPut, name); err != nil {
		return err
	}
	return f.afterCall(OpPut, f.b.Put(ctx, name, r, size))
}

// Get implements Bucket.
func (f *Faulty) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := f.beforeCall(ctx, OpGet, name); err != nil {
		return nil, err
	}
	rc, err := f.b.Get(ctx, name)
	return f.afterRead(OpGet, rc, err)
}

// GetRange implements Bucket.
func (f *Faulty) GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	if err := f.beforeCall(ctx, OpGetRange, name); err != nil {
		return nil, err
	}
	rc, err := f.b.GetRange(ctx, name, off, length)
	return f.afterRead(OpGetRange, rc, err)
}

func (f *Faulty) afterRead(op string, rc io.ReadCloser, err error) (io.ReadCloser, error) {
	if err != nil {
		return nil, err
	}
	if err := f.afterCall(op, nil); err != nil {
		rc.Close()
		return nil, err
	}
	return rc, nil
}

// Size implements Bucket.
func (f *Faulty) Size(ctx context.Context, name string) (int64, error) {
	if err := f.beforeCall(ctx, OpSize, name); err != nil {
		return 0, err
	}
	n, err := f.b.Size(ctx, name)
	if err = f.afterCall(OpSize, err); err != nil {
		return 0, err
	}
	return n, nil
}

// Iter implements Bucket.
func (f *Faulty) Iter(ctx context.Context, prefix string, fn func(name string) error) error {
	if err := f.beforeCall(ctx, OpIter, prefix); err != nil {
		return err
	}
	return f.afterCall(OpIter, f.b.Iter(ctx, prefix, fn))
}

// Delete implements Bucket.
func (f *Faulty) Delete(ctx context.Context, name string) error {
	if err := f.beforeCall(ctx, OpDelete, name); err != nil {
		return err
	}
	return f.afterCall(OpDelete, f.b.Delete(ctx, name))
}

// Close implements Bucket; it closes the wrapped bucket.
func (f *Faulty) Close() error { return f.b.Close() }
