package quota

import (
	"fmt"
	"strings"
	"testing"
)

// precedence is Kafka's order for user "alice" and client id "app".
var precedence = []struct {
	key   string
	scope sensorKey
}{
	{"user=alice/client-id=app", sensorKey{user: "alice", client: "app", scope: scopeUserClient}},
	{"user=alice/client-id=<default>", sensorKey{user: "alice", client: "app", scope: scopeUserClient}},
	{"user=alice", sensorKey{user: "alice", scope: scopeUser}},
	{"user=<default>/client-id=app", sensorKey{user: "alice", client: "app", scope: scopeUserClient}},
	{"user=<default>/client-id=<default>", sensorKey{user: "alice", client: "app", scope: scopeUserClient}},
	{"user=<default>", sensorKey{user: "alice", scope: scopeUser}},
	{"client-id=app", sensorKey{client: "app", scope: scopeClient}},
	{"client-id=<default>", sensorKey{client: "app", scope: scopeClient}},
}

// mustParse is the entity that Key names k, for names without escapes.
func mustParse(t testing.TB, k string) Entity {
	t.Helper()
	var e Entity
	for _, part := range strings.Split(k, "/") {
		typ, name, _ := strings.Cut(part, "=")
		c := &Component{Name: name}
		if name == "<default>" {
			c = &Component{Default: true}
		}
		switch typ {
		case EntityTypeUser:
			e.User = c
		case EntityTypeClientID:
			e.ClientID = c
		default:
			t.Fatalf("entity %q: unknown type %q", k, typ)
		}
	}
	if err := e.Validate(); err != nil || e.Key() != k {
		t.Fatalf("entity %q: %v, or not as Key spells it", k, err)
	}
	return e
}

// TestPrecedence sets a quota on every level from i down and checks that
// level i wins, and that the rate is tracked with Kafka's tags.
func TestPrecedence(t *testing.T) {
	for i, lvl := range precedence {
		t.Run(lvl.key, func(t *testing.T) {
			all := map[Entity]Quotas{}
			for j := i; j < len(precedence); j++ {
				all[mustParse(t, precedence[j].key)] = Quotas{ProducerByteRate: float64(100 * (j + 1))}
			}
			// Another key set on a more specific level must not hide this one.
			if i > 0 {
				all[mustParse(t, precedence[0].key)] = Quotas{ConsumerByteRate: 1}
			}
			m := NewManager(nil)
			m.SetQuotas(all)
			limit, ok := m.Lookup("alice", "app", ProducerByteRate)
			if !ok || limit != float64(100*(i+1)) {
				t.Fatalf("Lookup = %v, %v; want %v", limit, ok, 100*(i+1))
			}
			_, sk, _ := m.cfg.Load().resolve(ProducerByteRate, "alice", "app")
			want := lvl.scope
			want.key = ProducerByteRate
			if sk != want {
				t.Fatalf("sensor %+v, want %+v", sk, want)
			}
		})
	}
}

func TestLookupUnset(t *testing.T) {
	m := NewManager(nil)
	m.SetQuotas(map[Entity]Quotas{
		mustParse(t, "user=bob"):        {ProducerByteRate: 10},
		mustParse(t, "client-id=other"): {ProducerByteRate: 10},
		mustParse(t, "user=alice"):      {ProducerByteRate: -1}, // ignored
		{}:                              {ProducerByteRate: 10}, // invalid, ignored
	})
	for _, tc := range []struct{ user, client, key string }{
		{"alice", "app", ProducerByteRate},
		{"bob", "app", ConsumerByteRate},
		{"", "", ProducerByteRate},
	} {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			if l, ok := m.Lookup(tc.user, tc.client, tc.key); ok {
				t.Fatalf("Lookup = %v, want unlimited", l)
			}
			if d := m.Record(tc.key, tc.user, tc.client, 1e12); d != 0 {
				t.Fatalf("Record = %v, want 0", d)
			}
		})
	}
}

func TestDuplicateEntitiesMerge(t *testing.T) {
	m := NewManager(nil)
	m.SetQuotas(map[Entity]Quotas{
		mustParse(t, "user=a"): {ProducerByteRate: 10, ConsumerByteRate: 5},
		mustParse(t, "user=a"): {ProducerByteRate: 20},
	})
	if l, _ := m.Lookup("a", "c", ProducerByteRate); l != 10 {
		t.Fatalf("producer limit %v, want the stricter 10", l)
	}
	if l, _ := m.Lookup("a", "c", ConsumerByteRate); l != 5 {
		t.Fatalf("consumer limit %v, want 5", l)
	}
}
