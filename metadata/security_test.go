package metadata

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/strata-io/strata/acl"
	"github.com/strata-io/strata/auth"
	"github.com/strata-io/strata/quota"
)

// securitySuite runs with the store suite (runStoreSuite), against an
// embedded etcd and a real etcd process.
var securitySuite = []storeCase{
	{"ScramRoundTrip", testScramRoundTrip},
	{"ScramEnsure", testScramEnsure},
	{"ScramStoredValue", testScramStoredValue},
	{"ScramInvalid", testScramInvalid},
	{"ACLRoundTrip", testACLRoundTrip},
	{"ACLDeleteMatching", testACLDeleteMatching},
	{"ACLDeleteKeepsRecreated", testACLDeleteKeepsRecreated},
	{"QuotaAlter", testQuotaAlter},
	{"QuotaConcurrent", testQuotaConcurrent},
	{"QuotaInvalid", testQuotaInvalid},
	{"WatchSecurity", testWatchSecurity},
	{"SecurityProgress", testSecurityProgress},
}

// credential is a SCRAM credential made by hand: fixed bytes that depend
// on seed, not derived from any password.
func credential(m auth.Mechanism, seed byte) auth.Credential {
	n := 32
	if m == auth.ScramSHA512 {
		n = 64
	}
	fill := func(b byte, n int) []byte {
		out := make([]byte, n)
		for i := range out {
			out[i] = b + byte(i)
		}
		return out
	}
	return auth.Credential{Mechanism: m, Iterations: 4096 + int32(seed), Salt: fill(seed, 16), StoredKey: fill(seed+1, n), ServerKey: fill(seed+2, n)}
}

func putCredential(t *testing.T, s *Store, user string, c auth.Credential) {
	t.Helper()
	if err := s.PutScramCredential(t.Context(), user, c); err != nil {
		t.Fatalf("put credential of %q: %v", user, err)
	}
}

func scramCredentials(t *testing.T, s *Store, users ...string) map[string][]auth.Credential {
	t.Helper()
	got, err := s.ScramCredentials(t.Context(), users...)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// testScramRoundTrip: what PutScramCredential writes ScramCredentials
// reads back, for all users or the ones asked for, user names with the
// key separator and one that is a prefix of another included; a put
// replaces; a delete removes one mechanism, and a second delete is
// ErrNoCredential.
func testScramRoundTrip(t *testing.T, env *storeEnv) {
	s := env.store(t)
	want := map[string][]auth.Credential{
		"a":          {credential(auth.ScramSHA256, 1), credential(auth.ScramSHA512, 2)},
		"ab":         {credential(auth.ScramSHA512, 3)},
		"with/slash": {credential(auth.ScramSHA256, 4)},
		"ünï cödé%":  {credential(auth.ScramSHA256, 5), credential(auth.ScramSHA512, 6)},
	}
	for user, cs := range want {
		for _, c := range slices.Backward(cs) { // stored out of mechanism order
			putCredential(t, s, user, c)
		}
	}
	if got := scramCredentials(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("all credentials = %v, want %v", got, want)
	}
	got := scramCredentials(t, s, "a", "with/slash", "nobody", "a")
	if w := map[string][]auth.Credential{"a": want["a"], "with/slash": want["with/slash"]}; !reflect.DeepEqual(got, w) {
		t.Fatalf("credentials of a, with/slash, nobody = %v, want %v", got, w)
	}

	replaced := credential(auth.ScramSHA256, 40)
	putCredential(t, s, "a", replaced)
	if err := s.DeleteScramCredential(t.Context(), "a", auth.ScramSHA512); err != nil {
		t.Fatal(err)
	}
	if got := scramCredentials(t, s, "a")["a"]; !reflect.DeepEqual(got, []auth.Credential{replaced}) {
		t.Fatalf("credentials of a after a put and a delete = %v, want %v", got, []auth.Credential{replaced})
	}
	if err := s.DeleteScramCredential(t.Context(), "a", auth.ScramSHA512); !errors.Is(err, ErrNoCredential) {
		t.Fatalf("second delete: %v, want ErrNoCredential", err)
	}
	if err := s.DeleteScramCredential(t.Context(), "nobody", auth.ScramSHA256); !errors.Is(err, ErrNoCredential) {
		t.Fatalf("delete of an unknown user: %v, want ErrNoCredential", err)
	}
	if got := scramCredentials(t, s, "ab")["ab"]; !reflect.DeepEqual(got, want["ab"]) {
		t.Fatalf("credentials of ab = %v, want %v", got, want["ab"])
	}
}

// testScramEnsure: EnsureScramCredential writes only when the user has no
// credential for the mechanism, so a restart does not rotate the salt.
func testScramEnsure(t *testing.T, env *storeEnv) {
	s := env.store(t)
	first, second := credential(auth.ScramSHA256, 1), credential(auth.ScramSHA256, 9)
	for i, tc := range []struct {
		c           auth.Credential
		wantCreated bool
	}{{first, true}, {second, false}, {first, false}} {
		created, err := s.EnsureScramCredential(t.Context(), "admin", tc.c)
		if err != nil || created != tc.wantCreated {
			t.Fatalf("ensure %d: created %v, %v; want %v", i, created, err, tc.wantCreated)
		}
	}
	other := credential(auth.ScramSHA512, 9)
	if created, err := s.EnsureScramCredential(t.Context(), "admin", other); err != nil || !created {
		t.Fatalf("ensure another mechanism: created %v, %v", created, err)
	}
	want := []auth.Credential{first, other}
	if got := scramCredentials(t, s, "admin")["admin"]; !reflect.DeepEqual(got, want) {
		t.Fatalf("credentials = %v, want %v", got, want)
	}
}

// testScramStoredValue: the raw values under security/scram/ hold exactly
// the credential's fields, and nothing of the password.
func testScramStoredValue(t *testing.T, env *storeEnv) {
	s := env.store(t)
	const password = "correct-horse-battery-staple"
	// The salt and keys are fixed bytes, as a hash of password would be:
	// nothing derived from the password reaches the store in clear.
	for _, m := range []auth.Mechanism{auth.ScramSHA256, auth.ScramSHA512} {
		putCredential(t, s, "alice", credential(m, byte(m)))
	}
	resp, err := s.Client().Get(t.Context(), env.prefix+"security/scram/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 2 {
		t.Fatalf("%d keys under security/scram/, want 2", len(resp.Kvs))
	}
	wantFields := []string{"iterations", "mechanism", "salt", "serverKey", "storedKey"}
	for _, kv := range resp.Kvs {
		for _, secret := range []string{password, base64.StdEncoding.EncodeToString([]byte(password)), fmt.Sprintf("%x", password)} {
			if strings.Contains(string(kv.Value), secret) || strings.Contains(string(kv.Key), secret) {
				t.Errorf("%s holds the password (%q): %s", kv.Key, secret, kv.Value)
			}
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(kv.Value, &fields); err != nil {
			t.Fatalf("%s: %v", kv.Key, err)
		}
		if got := slices.Sorted(maps.Keys(fields)); !slices.Equal(got, wantFields) {
			t.Errorf("%s has fields %v, want %v", kv.Key, got, wantFields)
		}
	}
	if k := string(resp.Kvs[0].Key); k != env.prefix+"security/scram/alice/1" {
		t.Errorf("first key %q, want %q", k, env.prefix+"security/scram/alice/1")
	}
}

// testScramInvalid: credentials no exchange could use are refused.
func testScramInvalid(t *testing.T, env *storeEnv) {
	s := env.store(t)
	good := credential(auth.ScramSHA256, 1)
	bad := func(f func(*auth.Credential)) auth.Credential {
		c := good
		f(&c)
		return c
	}
	for _, tc := range []struct {
		name string
		user string
		c    auth.Credential
	}{
		{"empty user", "", good},
		{"unknown mechanism", "u", bad(func(c *auth.Credential) { c.Mechanism = 3 })},
		{"no iterations", "u", bad(func(c *auth.Credential) { c.Iterations = 0 })},
		{"no salt", "u", bad(func(c *auth.Credential) { c.Salt = nil })},
		{"no stored key", "u", bad(func(c *auth.Credential) { c.StoredKey = nil })},
		{"no server key", "u", bad(func(c *auth.Credential) { c.ServerKey = nil })},
	} {
		if err := s.PutScramCredential(t.Context(), tc.user, tc.c); !errors.Is(err, ErrInvalid) {
			t.Errorf("put with %s: %v, want ErrInvalid", tc.name, err)
		}
		if _, err := s.EnsureScramCredential(t.Context(), tc.user, tc.c); !errors.Is(err, ErrInvalid) {
			t.Errorf("ensure with %s: %v, want ErrInvalid", tc.name, err)
		}
	}
	if got := scramCredentials(t, s); len(got) != 0 {
		t.Fatalf("credentials after invalid puts: %v", got)
	}
}

func binding(principal, topic string, op kmsg.ACLOperation) acl.Binding {
	return acl.Binding{
		ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: topic, PatternType: kmsg.ACLResourcePatternTypeLiteral,
		Principal: principal, Host: "*", Operation: op, Permission: kmsg.ACLPermissionTypeAllow,
	}
}

func storedACLs(t *testing.T, s *Store) []acl.Binding {
	t.Helper()
	got, err := s.ACLs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// sortBindings orders bindings by their JSON form, to compare sets.
func sortBindings(bs []acl.Binding) []acl.Binding {
	bs = slices.Clone(bs)
	slices.SortFunc(bs, func(a, b acl.Binding) int {
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		return strings.Compare(string(ja), string(jb))
	})
	return bs
}

// manyBindings is n distinct bindings: more than one transaction takes
// when n > 128.
func manyBindings(n int) []acl.Binding {
	var bs []acl.Binding
	for i := range n {
		principal := "User:alice"
		if i%3 == 0 {
			principal = "User:bob"
		}
		bs = append(bs, binding(principal, fmt.Sprintf("topic/%d", i), kmsg.ACLOperationRead))
	}
	return bs
}

// testACLRoundTrip: CreateACLs stores bindings across several transactions,
// duplicates once; creating them again changes nothing.
func testACLRoundTrip(t *testing.T, env *storeEnv) {
	s := env.store(t)
	bs := manyBindings(300)
	bs = append(bs, bs[7], bs[200]) // duplicates within one call
	deny := binding("User:*", "secret", kmsg.ACLOperationAll)
	deny.PatternType, deny.Permission, deny.Host = kmsg.ACLResourcePatternTypePrefixed, kmsg.ACLPermissionTypeDeny, "10.0.0.1"
	bs = append(bs, deny)
	if err := s.CreateACLs(t.Context(), bs); err != nil {
		t.Fatal(err)
	}
	want := sortBindings(append(manyBindings(300), deny))
	if got := sortBindings(storedACLs(t, s)); !reflect.DeepEqual(got, want) {
		t.Fatalf("stored %d bindings, want %d", len(got), len(want))
	}
	if err := s.CreateACLs(t.Context(), bs[:150]); err != nil {
		t.Fatal(err)
	}
	if got := storedACLs(t, s); len(got) != len(want) {
		t.Fatalf("stored %d bindings after creating again, want %d", len(got), len(want))
	}
	if err := s.CreateACLs(t.Context(), nil); err != nil {
		t.Fatalf("create none: %v", err)
	}
}

// testACLDeleteMatching: DeleteACLs deletes exactly the bindings the
// matcher picks, across several transactions, and returns them.
func testACLDeleteMatching(t *testing.T, env *storeEnv) {
	s := env.store(t)
	all := manyBindings(400)
	if err := s.CreateACLs(t.Context(), all); err != nil {
		t.Fatal(err)
	}
	isBob := func(b acl.Binding) bool { return b.Principal == "User:bob" }
	var wantDeleted, wantKept []acl.Binding
	for _, b := range all {
		if isBob(b) {
			wantDeleted = append(wantDeleted, b)
		} else {
			wantKept = append(wantKept, b)
		}
	}
	deleted, err := s.DeleteACLs(t.Context(), isBob)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sortBindings(deleted), sortBindings(wantDeleted); !reflect.DeepEqual(got, want) {
		t.Fatalf("deleted %d bindings, want %d", len(got), len(want))
	}
	if got, want := sortBindings(storedACLs(t, s)), sortBindings(wantKept); !reflect.DeepEqual(got, want) {
		t.Fatalf("kept %d bindings, want %d", len(got), len(want))
	}
	deleted, err = s.DeleteACLs(t.Context(), isBob)
	if err != nil || len(deleted) != 0 {
		t.Fatalf("second delete: %d deleted, %v; want none", len(deleted), err)
	}
}

// testACLDeleteKeepsRecreated: a binding created again after DeleteACLs
// read it (here: while the matcher runs, on another broker) stays, and is
// not reported deleted.
func testACLDeleteKeepsRecreated(t *testing.T, env *storeEnv) {
	a, b := env.store(t), env.store(t)
	keep := binding("User:carol", "t", kmsg.ACLOperationWrite)
	gone := binding("User:carol", "t", kmsg.ACLOperationRead)
	if err := a.CreateACLs(t.Context(), []acl.Binding{keep, gone}); err != nil {
		t.Fatal(err)
	}
	deleted, err := a.DeleteACLs(t.Context(), func(x acl.Binding) bool {
		if x == keep {
			if err := b.CreateACLs(t.Context(), []acl.Binding{keep}); err != nil {
				t.Error(err)
			}
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(deleted, []acl.Binding{gone}) {
		t.Fatalf("deleted %v, want only %v", deleted, gone)
	}
	if got := storedACLs(t, a); !reflect.DeepEqual(got, []acl.Binding{keep}) {
		t.Fatalf("stored %v, want %v", got, []acl.Binding{keep})
	}
}

func user(name string) *quota.Component   { return &quota.Component{Name: name} }
func client(name string) *quota.Component { return &quota.Component{Name: name} }

var defaultComponent = &quota.Component{Default: true}

func alterQuotas(t *testing.T, s *Store, ops ...QuotaAlteration) {
	t.Helper()
	if err := s.AlterQuotas(t.Context(), ops); err != nil {
		t.Fatal(err)
	}
}

func storedQuotas(t *testing.T, s *Store) []QuotaEntry {
	t.Helper()
	got, err := s.Quotas(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestSecurityQuotaEntityKey: every kind of entity has a key of its own,
// however its names look.
func TestSecurityQuotaEntityKey(t *testing.T) {
	for _, tc := range []struct {
		e    quota.Entity
		want string
	}{
		{quota.Entity{User: user("alice")}, "u=alice/c-"},
		{quota.Entity{ClientID: client("app")}, "u-/c=app"},
		{quota.Entity{User: user("alice"), ClientID: client("app")}, "u=alice/c=app"},
		{quota.Entity{User: defaultComponent}, "u*/c-"},
		{quota.Entity{User: user("")}, "u=/c-"},
		{quota.Entity{User: user("*")}, "u=%2A/c-"},
		{quota.Entity{User: user("-")}, "u=-/c-"},
		{quota.Entity{User: defaultComponent, ClientID: defaultComponent}, "u*/c*"},
		{quota.Entity{User: user("a/c=b")}, "u=a%2Fc=b/c-"},
		{quota.Entity{User: user("<default>"), ClientID: client("x y")}, "u=%3Cdefault%3E/c=x%20y"},
	} {
		got, err := quotaEntityKey(tc.e)
		if err != nil || got != tc.want {
			t.Errorf("key of %s = %q, %v; want %q", entityString(tc.e), got, err, tc.want)
		}
	}
}

func entityString(e quota.Entity) string {
	j, _ := json.Marshal(e)
	return string(j)
}

// testQuotaAlter: sets and removes land, in order within one call; an
// entity left without quotas is deleted; entities of every kind are
// stored apart and listed in key order.
func testQuotaAlter(t *testing.T, env *storeEnv) {
	s := env.store(t)
	alice := quota.Entity{User: user("alice")}
	aliceApp := quota.Entity{User: user("alice"), ClientID: client("app/1")}
	defUser := quota.Entity{User: defaultComponent}
	app := quota.Entity{ClientID: client("app/1")}
	alterQuotas(t, s,
		QuotaAlteration{Entity: alice, Set: map[string]float64{quota.ProducerByteRate: 1024, quota.ConsumerByteRate: 2048}},
		QuotaAlteration{Entity: aliceApp, Set: map[string]float64{quota.RequestPercentage: 50}},
		QuotaAlteration{Entity: defUser, Set: map[string]float64{quota.ProducerByteRate: 100}},
		QuotaAlteration{Entity: app, Set: map[string]float64{quota.ConsumerByteRate: 7}},
		QuotaAlteration{Entity: alice, Set: map[string]float64{quota.ProducerByteRate: 4096}, Remove: []string{quota.ConsumerByteRate}},
	)
	want := []QuotaEntry{ // key order: u*/c-, u-/c=app%2F1, u=alice/c-, u=alice/c=app%2F1
		{defUser, quota.Quotas{quota.ProducerByteRate: 100}},
		{app, quota.Quotas{quota.ConsumerByteRate: 7}},
		{alice, quota.Quotas{quota.ProducerByteRate: 4096}},
		{aliceApp, quota.Quotas{quota.RequestPercentage: 50}},
	}
	if got := storedQuotas(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("quotas = %s, want %s", quotasString(got), quotasString(want))
	}

	alterQuotas(t, s,
		QuotaAlteration{Entity: alice, Remove: []string{quota.ProducerByteRate, "no_such_key"}},
		QuotaAlteration{Entity: app, Remove: []string{quota.ConsumerByteRate}},
		QuotaAlteration{Entity: quota.Entity{User: user("nobody")}, Remove: []string{quota.ProducerByteRate}},
	)
	want = []QuotaEntry{want[0], want[3]}
	if got := storedQuotas(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("quotas after removals = %s, want %s", quotasString(got), quotasString(want))
	}
	resp, err := s.Client().Get(t.Context(), env.prefix+"security/quotas/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 2 {
		t.Fatalf("%d keys under security/quotas/, want 2", len(resp.Kvs))
	}
}

func quotasString(es []QuotaEntry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "%s=%v ", entityString(e.Entity), e.Quotas)
	}
	return b.String()
}

// testQuotaConcurrent: alterations of one entity from two brokers at once
// all land.
func testQuotaConcurrent(t *testing.T, env *storeEnv) {
	stores := []*Store{env.store(t), env.store(t)}
	e := quota.Entity{User: user("shared"), ClientID: defaultComponent}
	const each = 20
	var wg sync.WaitGroup
	errs := make(chan error, len(stores)*each)
	for g, s := range stores {
		wg.Go(func() {
			for i := range each {
				k := fmt.Sprintf("key-%d-%d", g, i)
				errs <- s.AlterQuotas(t.Context(), []QuotaAlteration{{Entity: e, Set: map[string]float64{k: float64(i)}}})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := storedQuotas(t, stores[0])
	if len(got) != 1 || len(got[0].Quotas) != len(stores)*each {
		t.Fatalf("quotas = %s, want one entity with %d keys", quotasString(got), len(stores)*each)
	}
}

// testQuotaInvalid: an entity or a value the store cannot hold is refused
// and nothing of the call is written.
func testQuotaInvalid(t *testing.T, env *storeEnv) {
	s := env.store(t)
	ok := QuotaAlteration{Entity: quota.Entity{User: user("u")}, Set: map[string]float64{"k": 1}}
	for _, tc := range []struct {
		name string
		op   QuotaAlteration
	}{
		{"no component", QuotaAlteration{Set: map[string]float64{"k": 1}}},
		{"default with a name", QuotaAlteration{Entity: quota.Entity{User: &quota.Component{Name: "x", Default: true}}, Set: map[string]float64{"k": 1}}},
		{"empty key", QuotaAlteration{Entity: ok.Entity, Set: map[string]float64{"": 1}}},
		{"set and removed", QuotaAlteration{Entity: ok.Entity, Set: map[string]float64{"k": 1}, Remove: []string{"k"}}},
	} {
		if err := s.AlterQuotas(t.Context(), []QuotaAlteration{ok, tc.op}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", tc.name, err)
		}
	}
	if got := storedQuotas(t, s); len(got) != 0 {
		t.Fatalf("quotas after invalid alterations: %s", quotasString(got))
	}
}

// testWatchSecurity: two brokers' watches deliver the current state, then
// a put, a delete and an alteration made after they started; snapshots
// already delivered do not change.
func testWatchSecurity(t *testing.T, env *storeEnv) {
	a, b := env.store(t), env.store(t)
	old := binding("User:dave", "t", kmsg.ACLOperationRead)
	if err := a.CreateACLs(t.Context(), []acl.Binding{old}); err != nil {
		t.Fatal(err)
	}
	putCredential(t, a, "dave", credential(auth.ScramSHA256, 1))

	ctx, cancel := context.WithTimeout(t.Context(), within)
	type watch struct {
		snaps chan *Security
		last  *Security
		err   error
	}
	var watches []*watch
	var wg sync.WaitGroup
	for _, s := range []*Store{a, b} {
		w := &watch{snaps: make(chan *Security)}
		watches = append(watches, w)
		wg.Go(func() {
			w.err = s.WatchSecurity(ctx, func(sec *Security) {
				select {
				case w.snaps <- sec:
				case <-ctx.Done():
				}
			})
		})
	}
	t.Cleanup(func() { cancel(); wg.Wait() }) // before the stores close
	next := func(w *watch, what string, pred func(*Security) bool) *Security {
		t.Helper()
		for {
			select {
			case sec := <-w.snaps:
				if w.last != nil && sec.Revision < w.last.Revision {
					t.Fatalf("snapshot at revision %d after one at %d", sec.Revision, w.last.Revision)
				}
				w.last = sec
				if pred(sec) {
					return sec
				}
			case <-ctx.Done():
				t.Fatalf("watch did not deliver %s within %s", what, within)
			}
		}
	}

	var firsts []*Security
	for _, w := range watches {
		first := next(w, "the current state", func(*Security) bool { return true })
		if len(first.Credentials["dave"]) != 1 || !reflect.DeepEqual(first.ACLs, []acl.Binding{old}) || len(first.Quotas) != 0 {
			t.Fatalf("first snapshot: credentials %v, ACLs %v, quotas %s", first.Credentials, first.ACLs, quotasString(first.Quotas))
		}
		firsts = append(firsts, first)
	}

	erin := credential(auth.ScramSHA512, 7)
	putCredential(t, b, "erin", erin)
	for _, w := range watches {
		next(w, "erin's credential", func(sec *Security) bool {
			return reflect.DeepEqual(sec.Credentials["erin"], []auth.Credential{erin})
		})
	}
	if _, err := b.DeleteACLs(t.Context(), func(acl.Binding) bool { return true }); err != nil {
		t.Fatal(err)
	}
	for _, w := range watches {
		next(w, "no ACLs", func(sec *Security) bool { return len(sec.ACLs) == 0 })
	}
	e := quota.Entity{User: user("dave")}
	alterQuotas(t, a, QuotaAlteration{Entity: e, Set: map[string]float64{quota.ProducerByteRate: 10}})
	alterQuotas(t, b, QuotaAlteration{Entity: e, Set: map[string]float64{quota.ConsumerByteRate: 20}})
	want := []QuotaEntry{{e, quota.Quotas{quota.ProducerByteRate: 10, quota.ConsumerByteRate: 20}}}
	for _, w := range watches {
		sec := next(w, "dave's quotas", func(sec *Security) bool { return reflect.DeepEqual(sec.Quotas, want) })
		if len(sec.Credentials) != 2 || len(sec.ACLs) != 0 {
			t.Errorf("last snapshot: credentials %v, ACLs %v", sec.Credentials, sec.ACLs)
		}
	}
	if err := a.DeleteScramCredential(t.Context(), "dave", auth.ScramSHA256); err != nil {
		t.Fatal(err)
	}
	for _, w := range watches {
		next(w, "dave's credential gone", func(sec *Security) bool { _, ok := sec.Credentials["dave"]; return !ok })
	}
	for _, first := range firsts {
		if len(first.Credentials) != 1 || len(first.ACLs) != 1 || len(first.Quotas) != 0 {
			t.Errorf("a delivered snapshot changed: credentials %v, ACLs %v, quotas %s", first.Credentials, first.ACLs, quotasString(first.Quotas))
		}
	}

	cancel()
	wg.Wait()
	for _, w := range watches {
		if !errors.Is(w.err, context.Canceled) {
			t.Errorf("WatchSecurity = %v, want context.Canceled", w.err)
		}
	}
}

// testSecurityProgress: after a write outside security/, a progress request
// brings WatchSecurity's snapshot to that write's revision although
// nothing under security/ changed (a broker waiting for its own change
// does not wait for the next one).
func testSecurityProgress(t *testing.T, env *storeEnv) {
	s := env.store(t)
	ctx, cancel := context.WithTimeout(t.Context(), within)
	snaps := make(chan *Security, 16)
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = s.WatchSecurity(ctx, func(sec *Security) {
			select {
			case snaps <- sec:
			case <-ctx.Done():
			}
		})
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	first := <-snaps
	put, err := s.Client().Put(ctx, env.prefix+"elsewhere", "x")
	if err != nil {
		t.Fatal(err)
	}
	want := put.Header.Revision
	if want <= first.Revision {
		t.Fatalf("the unrelated write's revision %d is not past the snapshot's %d", want, first.Revision)
	}
	for {
		if err := s.RequestSecurityProgress(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case sec := <-snaps:
			if sec.Revision >= want {
				if len(sec.ACLs) != len(first.ACLs) || len(sec.Credentials) != len(first.Credentials) {
					t.Errorf("a progress notification changed the snapshot's contents")
				}
				return
			}
		case <-time.After(time.Second):
		case <-ctx.Done():
			t.Fatalf("no snapshot at revision %d within %s", want, within)
		}
	}
}
