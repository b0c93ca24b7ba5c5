package quota

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock that tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newTestManager(t *testing.T, q map[string]Quotas) (*Manager, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	m := NewManager(clk.Now)
	all := map[Entity]Quotas{}
	for k, v := range q {
		all[mustParse(t, k)] = v
	}
	m.SetQuotas(all)
	return m, clk
}

// produce records rate bytes/s for d in steps of 100 ms and returns the
// last throttle time.
func produce(m *Manager, clk *fakeClock, user, client string, rate float64, d time.Duration) time.Duration {
	var last time.Duration
	for step := time.Duration(0); step < d; step += 100 * time.Millisecond {
		last = m.Record(ProducerByteRate, user, client, rate/10)
		clk.Advance(100 * time.Millisecond)
	}
	return last
}

func TestThrottle(t *testing.T) {
	const limit = 1000
	for _, tc := range []struct {
		name     string
		rate     float64
		d        time.Duration
		min, max time.Duration
	}{
		// At twice the limit the throttle is about one measured span
		// (10-12 s) times (2-1).
		{"twice the limit", 2 * limit, 30 * time.Second, 9 * time.Second, 13 * time.Second},
		{"three times", 3 * limit, 30 * time.Second, 19 * time.Second, 25 * time.Second},
		{"just under", 0.9 * limit, 60 * time.Second, 0, 0},
		{"half", 0.5 * limit, 30 * time.Second, 0, 0},
		// A new client is measured as if quiet for 10 windows before, so a
		// burst of 5× the limit for one second does not throttle.
		{"first burst", 5 * limit, time.Second, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, clk := newTestManager(t, map[string]Quotas{"user=alice": {ProducerByteRate: limit}})
			got := produce(m, clk, "alice", "app", tc.rate, tc.d)
			if got < tc.min || got > tc.max {
				t.Fatalf("throttle %v, want in [%v, %v]", got, tc.min, tc.max)
			}
		})
	}
}

// TestThrottleFormula checks one exact case: an empty sensor given 20000
// bytes at once against 1000 B/s is measured over 10 s (Windows-1 padded
// windows), 2000 B/s, so the throttle is (2000-1000)/1000 × 10 s.
func TestThrottleFormula(t *testing.T) {
	m, _ := newTestManager(t, map[string]Quotas{"client-id=<default>": {ProducerByteRate: 1000}})
	if got := m.Record(ProducerByteRate, "u", "c", 20000); got != 10*time.Second {
		t.Fatalf("throttle %v, want 10s", got)
	}
	if got := m.Rate(ProducerByteRate, "u", "c"); got != 2000 {
		t.Fatalf("rate %v, want 2000", got)
	}
}

func TestRequestPercentage(t *testing.T) {
	m, clk := newTestManager(t, map[string]Quotas{"user=<default>": {RequestPercentage: 10}})
	// 100 ms of handler time per 100 ms is 100% of a thread: ten times
	// the quota, but the throttle is capped at one window.
	var got time.Duration
	for range 200 {
		got = m.RecordRequestTime("alice", "app", 100*time.Millisecond)
		clk.Advance(100 * time.Millisecond)
	}
	if got != WindowSize {
		t.Fatalf("throttle %v, want the cap %v", got, WindowSize)
	}
	if r := m.Rate(RequestPercentage, "alice", "app"); r < 80 || r > 110 {
		t.Fatalf("rate %v%%, want about 100%%", r)
	}
	// Another user has its own rate against the default-user quota.
	if got := m.RecordRequestTime("bob", "app", 5*time.Millisecond); got != 0 {
		t.Fatalf("bob throttled %v", got)
	}
}

func TestDecay(t *testing.T) {
	m, clk := newTestManager(t, map[string]Quotas{"user=alice": {ProducerByteRate: 1000}})
	if produce(m, clk, "alice", "app", 2000, 20*time.Second) == 0 {
		t.Fatal("not throttled at twice the limit")
	}
	prev := m.Rate(ProducerByteRate, "alice", "app")
	for i := range Windows + 1 {
		clk.Advance(WindowSize)
		r := m.Rate(ProducerByteRate, "alice", "app")
		if r > prev {
			t.Fatalf("after %d idle windows the rate rose from %v to %v", i+1, prev, r)
		}
		prev = r
	}
	if prev != 0 {
		t.Fatalf("rate %v after %d idle windows, want 0", prev, Windows+1)
	}
	if got := m.Record(ProducerByteRate, "alice", "app", 500); got != 0 {
		t.Fatalf("throttle %v after the rate decayed", got)
	}
}

func TestSharedUserQuota(t *testing.T) {
	m, clk := newTestManager(t, map[string]Quotas{
		"user=alice":          {ProducerByteRate: 1000},
		"client-id=<default>": {ProducerByteRate: 1000},
	})
	// Two of alice's clients at 0.75× each share her user quota and
	// together exceed it; bob's two clients, under the client-id default,
	// are measured per client id and are within it.
	var a1, a2, b1, b2 time.Duration
	for range 300 {
		a1 = m.Record(ProducerByteRate, "alice", "one", 75)
		a2 = m.Record(ProducerByteRate, "alice", "two", 75)
		b1 = m.Record(ProducerByteRate, "bob", "one", 75)
		b2 = m.Record(ProducerByteRate, "bob", "two", 75)
		clk.Advance(100 * time.Millisecond)
	}
	if a1 == 0 || a2 == 0 {
		t.Fatalf("alice's clients not throttled: %v, %v", a1, a2)
	}
	// Both of bob's client ids are shared with alice's: "one" carries
	// only bob's 750 B/s since alice's traffic is on her user sensor.
	if b1 != 0 || b2 != 0 {
		t.Fatalf("bob's clients throttled: %v, %v", b1, b2)
	}
	if r := m.Rate(ProducerByteRate, "alice", "whatever"); r < 1300 || r > 1700 {
		t.Fatalf("alice's rate %v, want about 1500", r)
	}
}

func TestIdleSensorsDropped(t *testing.T) {
	m, clk := newTestManager(t, map[string]Quotas{"user=<default>": {ProducerByteRate: 1000}})
	m.Record(ProducerByteRate, "old", "c", 1)
	clk.Advance(SensorIdleExpiry / 2)
	m.Record(ProducerByteRate, "young", "c", 1)
	clk.Advance(SensorIdleExpiry / 2)
	m.Record(ProducerByteRate, "new", "c", 1)
	if n := sensorCount(m); n != 2 {
		t.Fatalf("%d sensors after an hour, want 2 (old dropped)", n)
	}
	if r := m.Rate(ProducerByteRate, "old", "c"); r != 0 {
		t.Fatalf("old's rate %v, want 0", r)
	}
}

func TestMaxSensors(t *testing.T) {
	if testing.Short() {
		t.Skip("records MaxSensors+1 sensors")
	}
	m, _ := newTestManager(t, map[string]Quotas{"client-id=<default>": {ConsumerByteRate: 1000}})
	m.Record(ConsumerByteRate, "", "first", 1)
	for i := range MaxSensors {
		m.Record(ConsumerByteRate, "", string(rune(0x10000+i)), 1)
	}
	if n := sensorCount(m); n != MaxSensors {
		t.Fatalf("%d sensors, want %d", n, MaxSensors)
	}
	m.mu.Lock()
	_, ok := m.sensors[sensorKey{key: ConsumerByteRate, client: "first", scope: scopeClient}]
	m.mu.Unlock()
	if ok {
		t.Fatal("least recently used sensor kept")
	}
}

func sensorCount(m *Manager) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.sensors) != m.recent.Len() {
		panic("sensor map and list disagree")
	}
	return len(m.sensors)
}

func TestConcurrentSetQuotasRecord(t *testing.T) {
	m, clk := newTestManager(t, nil)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			m.SetQuotas(map[Entity]Quotas{{User: def()}: {ProducerByteRate: float64(1 + i%5)}})
		}
	}()
	var rec sync.WaitGroup
	for g := range 4 {
		rec.Add(1)
		go func() {
			defer rec.Done()
			for i := range 2000 {
				m.Record(ProducerByteRate, string(rune('a'+g)), "c", float64(i%7))
				m.Lookup("a", "c", ProducerByteRate)
				if i%100 == 0 {
					clk.Advance(time.Millisecond)
				}
			}
		}()
	}
	rec.Wait()
	close(stop)
	wg.Wait()
}
