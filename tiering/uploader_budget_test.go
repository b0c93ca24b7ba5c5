package tiering

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/objectstore"
)

// TestPutBudget: the token bucket holds at most one token, fills at rate,
// and a PUT takes a token or what there is of one.
func TestPutBudget(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	b := newPutBudget(5, t0) // a token every 200ms
	if d := b.wait(t0); d != 0 {
		t.Fatalf("a new budget makes an early seal wait %v", d)
	}
	b.take(t0)
	if d := b.wait(t0); d <= 190*time.Millisecond || d > 201*time.Millisecond {
		t.Fatalf("after a PUT an early seal waits %v, want 200ms", d)
	}
	if d := b.wait(t0.Add(100 * time.Millisecond)); d <= 90*time.Millisecond || d > 101*time.Millisecond {
		t.Fatalf("half a token later an early seal waits %v, want 100ms", d)
	}
	if d := b.wait(t0.Add(200 * time.Millisecond)); d != 0 {
		t.Fatalf("a whole token later an early seal waits %v", d)
	}
	// Idle time does not pile up tokens: one PUT spends the whole budget.
	t1 := t0.Add(time.Hour)
	b.take(t1)
	if d := b.wait(t1); d == 0 {
		t.Fatal("an hour idle left more than one token")
	}
	// A PUT the WAL sealed on its own spends what there is, never more.
	b.take(t1)
	if d := b.wait(t1); d > 201*time.Millisecond {
		t.Fatalf("a PUT without a token put the budget in debt: wait %v", d)
	}

	// Early seals alone, as often as the budget allows over 10s of
	// simulated time in 1ms steps: at most 1 + rate × t.
	b = newPutBudget(5, t0)
	seals := 0
	for ms := range 10_000 {
		now := t0.Add(time.Duration(ms) * time.Millisecond)
		if b.wait(now) == 0 {
			b.take(now)
			seals++
		}
	}
	if seals > 1+5*10 || seals < 5*10 {
		t.Fatalf("%d early seals in 10s at 5 PUTs/s, want 50 or 51", seals)
	}
}

func TestUploaderSealsOnDemand(t *testing.T) {
	runUpCases(t, []upCase{
		{"SealsWhenSomethingWaits", testSealsWhenSomethingWaits},
		{"WaitsForAToken", testEarlySealWaitsForAToken},
		{"NothingWaitingNothingSealed", testNoDemandNoEarlySeal},
		{"SealsDuringPut", testSealsDuringPut},
	})
}

// testDemand is a tiering.Demand the test turns on and off; asked counts
// the uploader's calls of Waiting.
type testDemand struct {
	waiting atomic.Bool
	changed chan struct{}
	asked   chan struct{}
}

func newTestDemand() *testDemand {
	return &testDemand{changed: make(chan struct{}, 1), asked: make(chan struct{}, 1)}
}

func (d *testDemand) Waiting() bool {
	select {
	case d.asked <- struct{}{}:
	default:
	}
	return d.waiting.Load()
}

func (d *testDemand) Changed() <-chan struct{} { return d.changed }

func (d *testDemand) set(on bool) {
	d.waiting.Store(on)
	select {
	case d.changed <- struct{}{}:
	default:
	}
}

// settled returns once the uploader has looked at the demand twice after
// the call, waking it each time: the first look, which saw everything the
// test did before the call, was acted on before the second began.
func (d *testDemand) settled(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // a hang guard, not a performance bound
	defer cancel()
	select {
	case <-d.asked:
	default:
	}
	for range 2 {
		d.set(d.waiting.Load()) // wake it
		select {
		case <-d.asked:
		case <-ctx.Done():
			t.Fatal("the uploader stopped looking at the demand")
		}
	}
}

// fakeClock is the budget's clock, moved by the test.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// startBudgeted starts an uploader with a PUT budget of rate, the test's
// Demand and clock; the WAL seals only when asked (SealInterval is an hour).
func (env *upEnv) startBudgeted(rate float64, d *testDemand, clock *fakeClock) (*Uploader, *commits, func()) {
	c := newCommits()
	var u *Uploader
	opts := env.options()
	opts.MaxPutRate, opts.Demand = rate, d
	opts.Registerer, opts.OnCommit = prometheus.NewPedanticRegistry(), c.onCommit
	u, stop := env.startWith(opts, func(u *Uploader) { u.now = clock.Now })
	return u, c, stop
}

// A produce waiting for its commit gets its segment sealed and committed
// at once, long before the WAL's SealInterval (an hour); each early seal
// spends one PUT of the budget.
func testSealsWhenSomethingWaits(t *testing.T, env *upEnv) {
	k := testKey(1, 0)
	env.lead(k)
	d, clock := newTestDemand(), &fakeClock{now: time.Unix(1_700_000_000, 0)}
	u, c, stop := env.startBudgeted(10, d, clock)
	d.set(true)
	for i := range 3 {
		env.write(k, batchSpec{})
		c.wait(t, i+1) // would take an hour without the early seal
		clock.advance(100 * time.Millisecond)
	}
	d.set(false)
	stop()
	env.checkCommitted(k)
	segs, _ := c.all()
	if got := counterValue(t, u.earlySeals); got != 3 || len(segs) != 3 {
		t.Fatalf("%v early seals, %d segments committed; want 3 and 3", got, len(segs))
	}
}

// With the budget spent, an early seal waits for the next token; the PUTs
// over a window are at most 1 + rate × window.
func testEarlySealWaitsForAToken(t *testing.T, env *upEnv) {
	k := testKey(1, 0)
	env.lead(k)
	d, clock := newTestDemand(), &fakeClock{now: time.Unix(1_700_000_000, 0)}
	u, c, stop := env.startBudgeted(10, d, clock) // a token every 100ms
	d.set(true)
	env.write(k, batchSpec{})
	c.wait(t, 1) // the first token
	env.write(k, batchSpec{})
	d.settled(t)
	if got := counterValue(t, u.earlySeals); got != 1 {
		t.Fatalf("%v early seals with the budget spent, want 1", got)
	}
	clock.advance(60 * time.Millisecond)
	d.settled(t)
	if got := counterValue(t, u.earlySeals); got != 1 {
		t.Fatalf("%v early seals with 0.6 of a token, want 1", got)
	}
	clock.advance(40 * time.Millisecond)
	c.wait(t, 2) // the second token
	// 20 more produces waiting while the clock moves 1s (10 tokens) in
	// steps of 50ms: at most 10 more PUTs.
	for range 20 {
		env.write(k, batchSpec{})
		clock.advance(50 * time.Millisecond)
		d.settled(t)
	}
	if got := counterValue(t, u.earlySeals); got > 2+10 {
		t.Fatalf("%v early seals in 1.1s of a 10 PUTs/s budget, want at most 12", got)
	}
	d.set(false)
	stop()
	env.checkCommitted(k)
}

// Records nothing waits for stay in the open segment, however much
// budget there is, and an idle WAL is never sealed.
func testNoDemandNoEarlySeal(t *testing.T, env *upEnv) {
	k := testKey(1, 0)
	env.lead(k)
	d, clock := newTestDemand(), &fakeClock{now: time.Unix(1_700_000_000, 0)}
	u, c, stop := env.startBudgeted(1000, d, clock)
	d.set(true) // something waits, but nothing is written
	d.settled(t)
	d.set(false)
	env.write(k, batchSpec{})
	clock.advance(time.Second)
	d.settled(t)
	if got := counterValue(t, u.earlySeals); got != 0 {
		t.Fatalf("%v early seals with nothing waiting or nothing written", got)
	}
	if segs, _ := c.all(); len(segs) != 0 {
		t.Fatalf("segments %v committed with nothing waiting", segs)
	}
	stop() // Close seals the record: nothing lost
	env.checkCommitted(k)
}

// With something waiting and a token in the budget, the next segment is
// sealed while the previous one's PUT is in flight (its WAL fsync overlaps
// the PUT); an early seal takes its token when it is asked for, so without
// one nothing is sealed, and its PUT takes none. Checked to fail with
// sealDuringPut off (the uploader then does not look at the demand until
// the PUT ends).
func testSealsDuringPut(t *testing.T, env *upEnv) {
	k := testKey(1, 0)
	env.lead(k)
	release, putting := make(chan struct{}), make(chan struct{}, 10)
	env.bucket.SetHook(func(op, name string) error {
		if op == objectstore.OpPut {
			putting <- struct{}{}
			select {
			case <-release:
			case <-t.Context().Done(): // the test failed and stops
			}
		}
		return nil
	})
	d, clock := newTestDemand(), &fakeClock{now: time.Unix(1_700_000_000, 0)}
	u, c, stop := env.startBudgeted(10, d, clock) // a token every 100ms
	d.set(true)
	env.write(k, batchSpec{}) // sealed early at once: the first token
	if err := await(t.Context(), putting); err != nil {
		t.Fatalf("the first segment was not PUT: %v", err)
	}
	env.write(k, batchSpec{})
	d.settled(t)
	if got := counterValue(t, u.earlySeals); got != 1 {
		t.Fatalf("%v early seals with the budget spent by the first seal, want 1", got)
	}
	clock.advance(100 * time.Millisecond)
	d.settled(t)
	if got := counterValue(t, u.earlySeals); got != 2 {
		t.Fatalf("%v early seals once a token came during the first PUT, want 2", got)
	}
	close(release)
	c.wait(t, 2)
	d.set(false)
	stop()
	env.checkCommitted(k)
	if puts := env.bucket.Calls(objectstore.OpPut); puts != 2 {
		t.Fatalf("%d PUTs for 2 early seals", puts)
	}
}
