package coordinator

import (
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/metadata"
)

// TestConsumerConfigValidation: the bounds of each config, the session
// timeout above the heartbeat interval (with the defaults for what is not
// set), and what a stored set parses to.
func TestConsumerConfigValidation(t *testing.T) {
	for _, c := range []struct {
		name, value string
		ok          bool
	}{
		{ConfigConsumerSessionTimeout, "45000", true},
		{ConfigConsumerSessionTimeout, "1000", true},
		{ConfigConsumerSessionTimeout, "60000", true},
		{ConfigConsumerSessionTimeout, "999", false},
		{ConfigConsumerSessionTimeout, "60001", false},
		{ConfigConsumerSessionTimeout, "ten", false},
		{ConfigConsumerSessionTimeout, "", false},
		{ConfigConsumerHeartbeat, "100", true},
		{ConfigConsumerHeartbeat, "15000", true},
		{ConfigConsumerHeartbeat, "99", false},
		{ConfigConsumerHeartbeat, "15001", false},
		{"consumer.nonsense.ms", "1", false},
	} {
		err := ValidateConsumerConfig(c.name, c.value)
		if (err == nil) != c.ok {
			t.Errorf("%s=%q: error %v, want ok %v", c.name, c.value, err, c.ok)
		}
		if err != nil && !strings.Contains(err.Error(), c.name) {
			t.Errorf("%s=%q: message %q does not name the config", c.name, c.value, err)
		}
	}
	for _, c := range []struct {
		set map[string]string
		ok  bool
	}{
		{map[string]string{}, true},
		{map[string]string{ConfigConsumerSessionTimeout: "6000"}, true},
		{map[string]string{ConfigConsumerSessionTimeout: "5000"}, false}, // not above the default interval
		{map[string]string{ConfigConsumerSessionTimeout: "3000", ConfigConsumerHeartbeat: "500"}, true},
		{map[string]string{ConfigConsumerSessionTimeout: "3000", ConfigConsumerHeartbeat: "3000"}, false},
		{map[string]string{ConfigConsumerHeartbeat: "15000"}, true},
		{map[string]string{ConfigConsumerHeartbeat: "15000", "share.session.timeout.ms": "1000"}, true}, // other families are not looked at
		{map[string]string{ConfigConsumerSessionTimeout: "0"}, false},
	} {
		if err := ValidateConsumerConfigs(c.set); (err == nil) != c.ok {
			t.Errorf("%v: error %v, want ok %v", c.set, err, c.ok)
		}
	}
	if got := parseConsumerConfig(nil); got != DefaultConsumerConfig() {
		t.Errorf("no configs: %+v, want the defaults", got)
	}
	if got := parseConsumerConfig(map[string]string{ConfigConsumerSessionTimeout: "3000", ConfigConsumerHeartbeat: "500"}); got.SessionTimeout != 3*time.Second || got.HeartbeatInterval != 500*time.Millisecond {
		t.Errorf("3000/500: %+v", got)
	}
	// An invalid stored value counts as unset.
	if got := parseConsumerConfig(map[string]string{ConfigConsumerSessionTimeout: "12", ConfigConsumerHeartbeat: "500"}); got.SessionTimeout != ConsumerSessionTimeout || got.HeartbeatInterval != 500*time.Millisecond {
		t.Errorf("invalid session timeout stored: %+v", got)
	}
	// A stored pair that is not consistent gives both defaults.
	if got := parseConsumerConfig(map[string]string{ConfigConsumerSessionTimeout: "3000", ConfigConsumerHeartbeat: "3000"}); got != DefaultConsumerConfig() {
		t.Errorf("3000/3000 stored: %+v, want the defaults", got)
	}
	if ConsumerConfigDefaults[ConfigConsumerSessionTimeout] != "45000" || ConsumerConfigDefaults[ConfigConsumerHeartbeat] != "5000" {
		t.Errorf("defaults %v, want Kafka's 45000 and 5000", ConsumerConfigDefaults)
	}
}

// TestConsumerConfigApplies: a change of a group's configs applies to each
// member at its next heartbeat: the response carries the new interval
// (and no more than it while the group reconciles), and the member's
// session timer restarts with the new timeout, while a member that has not
// heartbeated since keeps the timer it had. A classic member of the group
// keeps its own session timeout.
func TestConsumerConfigApplies(t *testing.T) {
	ct := newCGTest(t)
	ct.topics.add("t", 4)
	c := ct.s.c
	if got := c.ConsumerConfig("g"); got != DefaultConsumerConfig() {
		t.Fatalf("a group that set nothing: %+v, want the defaults", got)
	}

	r := ct.hb("m1", 0, []string{"t"}, nil)
	wantCode(t, "m1 joins", r, nil)
	all := owned(r.Assignment)
	r = ct.hb("m1", r.MemberEpoch, nil, all)
	if r.HeartbeatIntervalMillis != int32(ConsumerHeartbeatInterval/time.Millisecond) {
		t.Fatalf("interval %d ms in a Stable group with the defaults, want %v", r.HeartbeatIntervalMillis, ConsumerHeartbeatInterval)
	}
	r = ct.hb("m2", 0, []string{"t"}, nil)
	if r.HeartbeatIntervalMillis != int32(ReconcilingHeartbeatInterval/time.Millisecond) {
		t.Fatalf("interval %d ms while reconciling with the defaults, want %v", r.HeartbeatIntervalMillis, ReconcilingHeartbeatInterval)
	}
	m2Epoch := r.MemberEpoch

	// The group's configs change (as IncrementalAlterConfigs and the
	// broker's read before the heartbeat leave them).
	cfg := ConsumerConfig{SessionTimeout: 300 * time.Millisecond, HeartbeatInterval: 50 * time.Millisecond}
	c.consumerConfigs.put("g", cfg)
	if got := c.ConsumerConfig("g"); got != cfg {
		t.Fatalf("ConsumerConfig %+v, want %+v", got, cfg)
	}
	ct.s.mu.Lock()
	if got := ct.g.consumer.sessionTimeout(ct.g.consumer.members["m2"]); got != ConsumerSessionTimeout {
		ct.s.mu.Unlock()
		t.Fatalf("m2's session timeout %v before its next heartbeat, want the default %v", got, ConsumerSessionTimeout)
	}
	ct.s.mu.Unlock()

	// m1's next heartbeat: told to revoke (the group reconciles), with the
	// group's shorter interval; its session is now 300 ms.
	r = ct.hb("m1", 1, nil, all)
	wantCode(t, "m1 after the change", r, nil)
	if r.HeartbeatIntervalMillis != 50 {
		t.Fatalf("interval %d ms after the change, want 50", r.HeartbeatIntervalMillis)
	}
	ct.s.mu.Lock()
	m1 := ct.g.consumer.members["m1"]
	if got := ct.g.consumer.sessionTimeout(m1); got != cfg.SessionTimeout {
		ct.s.mu.Unlock()
		t.Fatalf("m1's session timeout %v after its heartbeat, want %v", got, cfg.SessionTimeout)
	}
	// A classic member keeps its own.
	classic := &consumerMember{ConsumerGroupMember: metadata.ConsumerGroupMember{ID: "c", Classic: &metadata.ClassicMember{SessionTimeoutMs: 10000}}}
	if got := ct.g.consumer.sessionTimeout(classic); got != 10*time.Second {
		ct.s.mu.Unlock()
		t.Fatalf("classic member's session timeout %v, want its own 10s", got)
	}
	ct.s.mu.Unlock()

	// m1 stops heartbeating: it is removed after the new timeout, while m2,
	// whose timer started under the default, is still a member then.
	removed := func(id string) bool {
		ct.s.mu.Lock()
		defer ct.s.mu.Unlock()
		_, still := ct.g.consumer.members[id]
		return !still
	}
	deadline := time.Now().Add(2 * ConsumerSessionTimeout) // liveness only
	for !removed("m1") {
		if time.Now().After(deadline) {
			t.Fatal("m1 was never removed")
		}
		if removed("m2") {
			t.Fatal("m2 was removed before m1: the default session timeout ran out first")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if removed("m2") {
		t.Fatal("m2 was removed with m1, before its next heartbeat")
	}
	// m2 heartbeats: it gets m1's partitions, the new interval, and the
	// new session timeout, after which it is removed too.
	r = ct.hb("m2", m2Epoch, nil, metadata.ConsumerAssignment{})
	wantCode(t, "m2 after m1 was removed", r, nil)
	if count(r.Assignment) != 4 {
		t.Fatalf("m2 has %d partitions after m1 was removed, want 4", count(r.Assignment))
	}
	r = ct.hb("m2", r.MemberEpoch, nil, owned(r.Assignment))
	if r.HeartbeatIntervalMillis != 50 {
		t.Fatalf("m2's interval %d ms, want 50", r.HeartbeatIntervalMillis)
	}
	for !removed("m2") {
		if time.Now().After(deadline) {
			t.Fatal("m2 was never removed")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Back to the defaults (the configs deleted): the next member gets
	// them.
	c.consumerConfigs.put("g", DefaultConsumerConfig())
	r = ct.hb("m3", 0, []string{"t"}, nil)
	r = ct.hb("m3", r.MemberEpoch, nil, owned(r.Assignment))
	if r.HeartbeatIntervalMillis != int32(ConsumerHeartbeatInterval/time.Millisecond) {
		t.Fatalf("interval %d ms with the defaults again, want %v", r.HeartbeatIntervalMillis, ConsumerHeartbeatInterval)
	}
	c.InvalidateConsumerConfig("g")
	if got := c.cachedConsumerConfig("g"); got != DefaultConsumerConfig() {
		t.Fatalf("after invalidation: %+v, want the defaults", got)
	}
}
