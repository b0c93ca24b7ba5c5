package acl

import (
	"regexp"
	"testing"
)

// TestKeyIsFrozen pins the encoding Key hashes: the store names bindings by
// key, so a change here would duplicate every stored binding.
func TestKeyIsFrozen(t *testing.T) {
	for _, tc := range []struct {
		b    Binding
		want string
	}{
		{bind(allow, "User:alice", opRead, topic, literal, "orders"), "854c72bf43ab74269cad8379c806765d961c37fa11d28537b0d8dca67e9054c8"},
		{bind(deny, "User:*", opAll, cluster, literal, ClusterName).at("10.0.0.1"), "d5beb2360c0bd666025cb4a0a52c93bcd2641b0c0a05652a0663360848079da3"},
	} {
		if got := tc.b.Key(); got != tc.want {
			t.Errorf("%+v.Key() = %s, want %s", tc.b, got, tc.want)
		}
	}
}

func TestKeyIsUniqueAndPathSafe(t *testing.T) {
	base := bind(allow, "User:alice", opRead, topic, literal, "orders")
	with := func(f func(*Binding)) Binding { b := base; f(&b); return b }
	distinct := []Binding{
		base,
		with(func(b *Binding) { b.ResourceType = group }),
		with(func(b *Binding) { b.PatternType = prefixed }),
		with(func(b *Binding) { b.Operation = opWrite }),
		with(func(b *Binding) { b.Permission = deny }),
		with(func(b *Binding) { b.Host = "10.0.0.1" }),
		with(func(b *Binding) { b.Principal = "User:bob" }),
		with(func(b *Binding) { b.ResourceName = "orders2" }),
		// The same bytes split differently between the string fields.
		with(func(b *Binding) { b.ResourceName = "ordersUser:alice"; b.Principal = "" }),
		with(func(b *Binding) { b.ResourceName = ""; b.Principal = "ordersUser:alice" }),
	}
	pathSafe := regexp.MustCompile(`^[0-9a-f]{64}$`)
	seen := make(map[string]Binding)
	for _, b := range distinct {
		k := b.Key()
		if !pathSafe.MatchString(k) {
			t.Errorf("%+v.Key() = %q, not 64 lowercase hex digits", b, k)
		}
		if other, ok := seen[k]; ok {
			t.Errorf("%+v and %+v share the key %s", b, other, k)
		}
		seen[k] = b
		if again := b.Key(); again != k {
			t.Errorf("%+v.Key() changed from %s to %s", b, k, again)
		}
	}
}
