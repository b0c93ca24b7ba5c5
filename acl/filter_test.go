package acl

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// anyFilter matches every binding; tests narrow one field at a time.
var anyFilter = Filter{
	ResourceType: kmsg.ACLResourceTypeAny,
	PatternType:  anyPat,
	Operation:    kmsg.ACLOperationAny,
	Permission:   kmsg.ACLPermissionTypeAny,
}

func TestFilterMatches(t *testing.T) {
	var (
		litFoo     = bind(allow, "User:alice", opRead, topic, literal, "foo")
		litStar    = bind(allow, "User:alice", opRead, topic, literal, "*")
		preFo      = bind(allow, "User:alice", opRead, topic, prefixed, "fo")
		preFoo     = bind(allow, "User:alice", opRead, topic, prefixed, "foo")
		preFoobar  = bind(allow, "User:alice", opRead, topic, prefixed, "foobar")
		preStar    = bind(allow, "User:alice", opRead, topic, prefixed, "*")
		litBar     = bind(allow, "User:alice", opRead, topic, literal, "bar")
		groupFoo   = bind(allow, "User:alice", opRead, group, literal, "foo")
		bobFoo     = bind(allow, "User:bob", opRead, topic, literal, "foo")
		anyoneFoo  = bind(allow, "User:*", opRead, topic, literal, "foo")
		fromHost   = bind(allow, "User:alice", opRead, topic, literal, "foo").at("10.0.0.1")
		writeFoo   = bind(allow, "User:alice", opWrite, topic, literal, "foo")
		allFoo     = bind(allow, "User:alice", opAll, topic, literal, "foo")
		denyFoo    = bind(deny, "User:alice", opRead, topic, literal, "foo")
		everything = []Binding{litFoo, litStar, preFo, preFoo, preFoobar, preStar, litBar, groupFoo, bobFoo, anyoneFoo, fromHost, writeFoo, allFoo, denyFoo}
	)
	with := func(f func(*Filter)) Filter { g := anyFilter; f(&g); return g }
	pattern := func(p kmsg.ACLResourcePatternType, name *string) Filter {
		return with(func(f *Filter) { f.ResourceType = topic; f.PatternType = p; f.ResourceName = name })
	}
	for _, tc := range []struct {
		name string
		f    Filter
		want []Binding // of everything, the bindings f matches
	}{
		{"all ANY matches every binding", anyFilter, everything},
		{"a resource type", with(func(f *Filter) { f.ResourceType = group }), []Binding{groupFoo}},

		{"ANY pattern, no name: every topic binding", pattern(anyPat, nil),
			[]Binding{litFoo, litStar, preFo, preFoo, preFoobar, preStar, litBar, bobFoo, anyoneFoo, fromHost, writeFoo, allFoo, denyFoo}},
		{"ANY pattern, a name: that exact name, literal or prefixed", pattern(anyPat, ptr("foo")),
			[]Binding{litFoo, preFoo, bobFoo, anyoneFoo, fromHost, writeFoo, allFoo, denyFoo}},
		{"ANY pattern, name *: only bindings named *", pattern(anyPat, ptr("*")), []Binding{litStar, preStar}},

		{"LITERAL, no name: every literal", pattern(literal, nil),
			[]Binding{litFoo, litStar, litBar, bobFoo, anyoneFoo, fromHost, writeFoo, allFoo, denyFoo}},
		{"LITERAL, a name: that literal only, not the wildcard", pattern(literal, ptr("foo")),
			[]Binding{litFoo, bobFoo, anyoneFoo, fromHost, writeFoo, allFoo, denyFoo}},
		{"LITERAL, name *: only the literal wildcard", pattern(literal, ptr("*")), []Binding{litStar}},

		{"PREFIXED, no name: every prefixed", pattern(prefixed, nil), []Binding{preFo, preFoo, preFoobar, preStar}},
		{"PREFIXED, a name: that prefix only, not shorter ones", pattern(prefixed, ptr("foo")), []Binding{preFoo}},
		{"PREFIXED, name *: the prefixed binding named *", pattern(prefixed, ptr("*")), []Binding{preStar}},

		{"MATCH, no name: every literal and prefixed", pattern(match, nil),
			[]Binding{litFoo, litStar, preFo, preFoo, preFoobar, preStar, litBar, bobFoo, anyoneFoo, fromHost, writeFoo, allFoo, denyFoo}},
		{"MATCH, a name: literal, literal *, and prefixes of the name", pattern(match, ptr("foo")),
			[]Binding{litFoo, litStar, preFo, preFoo, bobFoo, anyoneFoo, fromHost, writeFoo, allFoo, denyFoo}},
		{"MATCH, a longer name: prefixes fo, foo and foobar", pattern(match, ptr("foobarbaz")),
			[]Binding{litStar, preFo, preFoo, preFoobar}},
		{"MATCH, a name with no binding: the literal wildcard only", pattern(match, ptr("zzz")), []Binding{litStar}},
		{"MATCH, name *: literal * and prefixed *", pattern(match, ptr("*")), []Binding{litStar, preStar}},

		{"a principal matches that principal only", with(func(f *Filter) { f.Principal = ptr("User:bob") }), []Binding{bobFoo}},
		{"principal User:* matches the wildcard binding, not every principal", with(func(f *Filter) { f.Principal = ptr("User:*") }), []Binding{anyoneFoo}},
		{"a host matches that host only", with(func(f *Filter) { f.Host = ptr("10.0.0.1") }), []Binding{fromHost}},
		{"host * matches the wildcard-host bindings only", with(func(f *Filter) {
			f.Host = ptr("*")
			f.Principal = ptr("User:alice")
			f.ResourceName = ptr("foo")
			f.PatternType = literal
		}),
			[]Binding{litFoo, groupFoo, writeFoo, allFoo, denyFoo}},
		{"an operation matches that operation, not ALL", with(func(f *Filter) { f.Operation = opWrite }), []Binding{writeFoo}},
		{"operation ALL matches ALL bindings only", with(func(f *Filter) { f.Operation = opAll }), []Binding{allFoo}},
		{"a permission", with(func(f *Filter) { f.Permission = deny }), []Binding{denyFoo}},
		{"UNKNOWN matches nothing", with(func(f *Filter) { f.Operation = kmsg.ACLOperationUnknown }), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := make(map[Binding]bool)
			for _, b := range tc.want {
				want[b] = true
			}
			for _, b := range everything {
				if got := tc.f.Matches(b); got != want[b] {
					t.Errorf("Matches(%+v) = %v, want %v", b, got, want[b])
				}
			}
		})
	}
}
