package quota

import (
	"container/list"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Kafka's defaults for measuring quotas and forgetting idle clients.
const (
	// Windows is quota.window.num: the rate is measured over this many
	// samples (Kafka keeps one more, as this package does).
	Windows = 11
	// WindowSize is quota.window.size.seconds: the span of one sample.
	WindowSize = time.Second
	// SensorIdleExpiry is how long a rate that nothing is recorded to is
	// kept (Kafka's inactive sensor expiry).
	SensorIdleExpiry = time.Hour
	// MaxSensors bounds the rates tracked at once (one per quota key and
	// resolved entity; about 400 bytes each). When it is reached, the rate
	// recorded to least recently is dropped, which forgets that client's
	// history: it is measured afresh, as after an idle hour.
	MaxSensors = 100_000
)

// Manager measures clients' rates against the quotas it is given and
// computes throttle times as Kafka's ClientQuotaManager does.
//
// Concurrency: the configuration is an immutable value swapped atomically
// by SetQuotas and read without locks. mu guards the sensors (the map and
// the recency list, and every sensor's samples); it is held only for map
// and arithmetic work, never while calling out.
type Manager struct {
	clock func() time.Time
	epoch time.Time // clock() at NewManager; times are ms since it
	cfg   atomic.Pointer[config]

	mu      sync.Mutex
	sensors map[sensorKey]*list.Element // of *sensor
	recent  list.List                   // *sensor, most recently recorded first
}

// NewManager returns a Manager with no quotas (everyone unlimited) that
// reads the time from clock; nil means time.Now.
func NewManager(clock func() time.Time) *Manager {
	if clock == nil {
		clock = time.Now
	}
	m := &Manager{clock: clock, sensors: make(map[sensorKey]*list.Element)}
	m.epoch = clock()
	m.cfg.Store(newConfig(nil))
	return m
}

// now is the time in ms since the Manager's epoch; with time.Now it is
// monotonic.
func (m *Manager) now() int64 { return m.clock().Sub(m.epoch).Milliseconds() }

// SetQuotas replaces the whole configuration at once; Records running
// concurrently see either the old or the new one. Invalid entities and
// values that are not greater than 0 are ignored. Rates already measured
// are kept, as Kafka keeps its sensors when quotas change: a changed limit
// applies to the rate measured so far. all is copied.
func (m *Manager) SetQuotas(all map[Entity]Quotas) {
	m.cfg.Store(newConfig(all))
}

// Lookup returns the limit for key that applies to a connection of user
// and clientID: the value set on the most specific entity, in Kafka's
// order of precedence, that sets key; ok is false if none does
// (unlimited). Pass the authenticated principal's name as user ("ANONYMOUS"
// when unauthenticated, as Kafka does) and the request header's client id.
func (m *Manager) Lookup(user, clientID, key string) (limit float64, ok bool) {
	limit, _, ok = m.cfg.Load().resolve(key, user, clientID)
	return limit, ok
}

// Record adds amount to the rate of the entity that key's quota resolves
// to for (user, clientID) and returns how long Kafka would throttle the
// client: 0 within the limit or with no limit, otherwise
// (rate - limit) / limit × the span the rate was measured over, rounded to
// a millisecond. Only request_percentage throttles are capped, at
// WindowSize, as in Kafka's ClientRequestQuotaManager.
//
// Units of amount: for producer_byte_rate and consumer_byte_rate, bytes
// (the produce request's size, or the fetch response's); for
// request_percentage, the milliseconds of handler (request thread) time
// the request took (see RecordRequestTime); for other keys, units per
// second of their limit. Negative or NaN amounts count as 0.
func (m *Manager) Record(key, user, clientID string, amount float64) time.Duration {
	limit, sk, ok := m.cfg.Load().resolve(key, user, clientID)
	if !ok {
		return 0
	}
	if !(amount > 0) {
		amount = 0
	}
	if key == RequestPercentage {
		// Kafka records thread time as percent-seconds, so that the rate
		// per second is a percentage of one thread: 1 ms is 0.1.
		amount /= 10
	}
	now := m.now()
	m.mu.Lock()
	s := m.sensorLocked(sk, now)
	s.record(amount, now)
	rate := s.rate(now)
	span := s.windowSize(now)
	m.mu.Unlock()
	if rate <= limit {
		return 0
	}
	ms := math.Round((rate - limit) / limit * float64(span))
	if key == RequestPercentage {
		ms = math.Min(ms, float64(WindowSize/time.Millisecond))
	}
	if ms > float64(math.MaxInt64/int64(time.Millisecond)) {
		ms = float64(math.MaxInt64 / int64(time.Millisecond))
	}
	return time.Duration(ms) * time.Millisecond
}

// RecordRequestTime records d of request-handler time against the
// request_percentage quota; it is Record(RequestPercentage, user,
// clientID, milliseconds of d).
func (m *Manager) RecordRequestTime(user, clientID string, d time.Duration) time.Duration {
	return m.Record(RequestPercentage, user, clientID, float64(d)/float64(time.Millisecond))
}

// Rate is the rate measured now for key's resolved entity of (user,
// clientID), in the units of key's limit (bytes/s, or percent); 0 if
// nothing is tracked.
func (m *Manager) Rate(key, user, clientID string) float64 {
	_, sk, ok := m.cfg.Load().resolve(key, user, clientID)
	if !ok {
		return 0
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	el, ok := m.sensors[sk]
	if !ok {
		return 0
	}
	return el.Value.(*sensor).rate(now)
}

// sensorLocked returns the sensor for k, creating it, first dropping
// sensors idle for SensorIdleExpiry and, at MaxSensors, the least recently
// used one. mu must be held.
func (m *Manager) sensorLocked(k sensorKey, now int64) *sensor {
	idle := SensorIdleExpiry.Milliseconds()
	for el := m.recent.Back(); el != nil; el = m.recent.Back() {
		s := el.Value.(*sensor)
		if now-s.lastRecord < idle {
			break
		}
		m.dropLocked(el)
	}
	if el, ok := m.sensors[k]; ok {
		m.recent.MoveToFront(el)
		s := el.Value.(*sensor)
		s.lastRecord = now
		return s
	}
	if len(m.sensors) >= MaxSensors {
		m.dropLocked(m.recent.Back())
	}
	s := &sensor{key: k, lastRecord: now}
	m.sensors[k] = m.recent.PushFront(s)
	return s
}

func (m *Manager) dropLocked(el *list.Element) {
	delete(m.sensors, el.Value.(*sensor).key)
	m.recent.Remove(el)
}

// sensor is Kafka's Rate over a SampledStat summing values, with Kafka's
// quota configuration: Windows samples of WindowSize, one more kept.
type sensor struct {
	key        sensorKey
	lastRecord int64 // ms
	samples    [Windows + 1]sample
	n          int // samples in use
	current    int
}

type sample struct {
	value     float64
	start     int64 // ms
	lastEvent int64 // ms
}

func (s *sample) reset(now int64) { *s = sample{start: now, lastEvent: now} }

var windowMs = WindowSize.Milliseconds()

func (s *sensor) cur(now int64) *sample {
	if s.n == 0 {
		s.samples[0].reset(now)
		s.n = 1
	}
	return &s.samples[s.current]
}

// record adds v at now, starting a new sample when the current one is a
// window old (samples start when first recorded to, not on a grid).
func (s *sensor) record(v float64, now int64) {
	c := s.cur(now)
	if now-c.start >= windowMs {
		s.current = (s.current + 1) % len(s.samples)
		if s.current >= s.n {
			s.n++
		}
		c = &s.samples[s.current]
		c.reset(now)
	}
	c.value += v
	c.lastEvent = now
}

// purge resets samples with no event in the last Windows windows.
func (s *sensor) purge(now int64) {
	for i := 0; i < s.n; i++ {
		if now-s.samples[i].lastEvent >= Windows*windowMs {
			s.samples[i].reset(now)
		}
	}
}

// windowSize is the span in ms the rate is measured over: from the start
// of the oldest sample to now, but never less than Windows-1 whole windows
// plus the current one's elapsed part, so that a new or long-idle client is
// measured as if it had been quiet before (Kafka's Rate.windowSize).
func (s *sensor) windowSize(now int64) int64 {
	s.purge(now)
	s.cur(now)
	oldest := s.samples[0].start
	for i := 1; i < s.n; i++ {
		oldest = min(oldest, s.samples[i].start)
	}
	elapsed := now - oldest
	if full := elapsed / windowMs; full < Windows-1 {
		elapsed += (Windows - 1 - full) * windowMs
	}
	return max(elapsed, 1)
}

// rate is the sum of the samples per second of windowSize.
func (s *sensor) rate(now int64) float64 {
	span := s.windowSize(now)
	var sum float64
	for i := 0; i < s.n; i++ {
		sum += s.samples[i].value
	}
	return sum / (float64(span) / 1000)
}
