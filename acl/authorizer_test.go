package acl

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// request is one question put to Authorize.
type request struct {
	principal, host string
	op              kmsg.ACLOperation
	rt              kmsg.ACLResourceType
	name            string
}

func aliceFrom(host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) request {
	return request{"User:alice", host, op, rt, name}
}

func alice(op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) request {
	return aliceFrom("10.0.0.1", op, rt, name)
}

func TestAuthorize(t *testing.T) {
	for _, tc := range []struct {
		name         string
		bindings     []Binding
		allowIfNoACL bool
		req          request
		want         bool
	}{
		{"a super user needs no binding", nil, false,
			request{"User:admin", "10.0.0.1", opAlter, cluster, ClusterName}, true},
		{"a super user is not stopped by a deny", []Binding{bind(deny, "User:admin", opAll, topic, literal, "t")}, false,
			request{"User:admin", "10.0.0.1", opWrite, topic, "t"}, true},
		{"super users are matched by the whole principal", nil, false,
			request{"User:Admin", "10.0.0.1", opRead, topic, "t"}, false},

		{"an allow of the operation allows", []Binding{bind(allow, "User:alice", opRead, topic, literal, "t")}, false,
			alice(opRead, topic, "t"), true},
		{"an allow of another operation does not", []Binding{bind(allow, "User:alice", opRead, topic, literal, "t")}, false,
			alice(opWrite, topic, "t"), false},
		{"an allow for another principal does not", []Binding{bind(allow, "User:bob", opRead, topic, literal, "t")}, true,
			alice(opRead, topic, "t"), false},
		{"an allow for User:* allows everyone", []Binding{bind(allow, "User:*", opRead, topic, literal, "t")}, false,
			alice(opRead, topic, "t"), true},
		{"operation ANY is not a request: denied even under ALL", []Binding{bind(allow, "User:alice", opAll, topic, literal, "t")}, true,
			alice(kmsg.ACLOperationAny, topic, "t"), false},
		{"an allow of ALL allows every operation", []Binding{bind(allow, "User:alice", opAll, topic, literal, "t")}, false,
			alice(opAlterConfigs, topic, "t"), true},

		{"deny beats allow", []Binding{
			bind(allow, "User:alice", opRead, topic, literal, "t"),
			bind(deny, "User:alice", opRead, topic, literal, "t")}, false,
			alice(opRead, topic, "t"), false},
		{"a deny of ALL denies every operation", []Binding{
			bind(allow, "User:alice", opWrite, topic, literal, "t"),
			bind(deny, "User:alice", opAll, topic, literal, "t")}, false,
			alice(opWrite, topic, "t"), false},
		{"a deny of another operation does not deny", []Binding{
			bind(allow, "User:alice", opAll, topic, literal, "t"),
			bind(deny, "User:alice", opWrite, topic, literal, "t")}, false,
			alice(opRead, topic, "t"), true},
		{"a deny for User:* denies alice", []Binding{
			bind(allow, "User:alice", opRead, topic, literal, "t"),
			bind(deny, "User:*", opRead, topic, literal, "t")}, false,
			alice(opRead, topic, "t"), false},
		{"a wildcard-resource deny beats a literal allow", []Binding{
			bind(allow, "User:alice", opRead, topic, literal, "t"),
			bind(deny, "User:alice", opRead, topic, literal, "*")}, false,
			alice(opRead, topic, "t"), false},
		{"a prefixed deny beats a literal allow", []Binding{
			bind(allow, "User:alice", opRead, topic, literal, "secret-t"),
			bind(deny, "User:alice", opRead, topic, prefixed, "secret-")}, false,
			alice(opRead, topic, "secret-t"), false},
		{"a deny from another host does not deny", []Binding{
			bind(allow, "User:alice", opRead, topic, literal, "t"),
			bind(deny, "User:alice", opRead, topic, literal, "t").at("10.9.9.9")}, false,
			alice(opRead, topic, "t"), true},

		{"READ implies DESCRIBE", []Binding{bind(allow, "User:alice", opRead, topic, literal, "t")}, false,
			alice(opDescribe, topic, "t"), true},
		{"WRITE implies DESCRIBE", []Binding{bind(allow, "User:alice", opWrite, topic, literal, "t")}, false,
			alice(opDescribe, topic, "t"), true},
		{"DELETE implies DESCRIBE", []Binding{bind(allow, "User:alice", opDelete, group, literal, "g")}, false,
			alice(opDescribe, group, "g"), true},
		{"ALTER implies DESCRIBE", []Binding{bind(allow, "User:alice", opAlter, cluster, literal, ClusterName)}, false,
			alice(opDescribe, cluster, ClusterName), true},
		{"CREATE does not imply DESCRIBE", []Binding{bind(allow, "User:alice", opCreate, topic, literal, "t")}, false,
			alice(opDescribe, topic, "t"), false},
		{"ALTER_CONFIGS implies DESCRIBE_CONFIGS", []Binding{bind(allow, "User:alice", opAlterConfigs, topic, literal, "t")}, false,
			alice(opDescribeConfigs, topic, "t"), true},
		{"ALTER does not imply DESCRIBE_CONFIGS", []Binding{bind(allow, "User:alice", opAlter, topic, literal, "t")}, false,
			alice(opDescribeConfigs, topic, "t"), false},
		{"DESCRIBE does not imply READ", []Binding{bind(allow, "User:alice", opDescribe, topic, literal, "t")}, false,
			alice(opRead, topic, "t"), false},
		{"a deny of READ does not deny DESCRIBE", []Binding{
			bind(allow, "User:alice", opDescribe, topic, literal, "t"),
			bind(deny, "User:alice", opRead, topic, literal, "t")}, false,
			alice(opDescribe, topic, "t"), true},

		{"a prefixed allow covers names that start with it", []Binding{bind(allow, "User:alice", opRead, topic, prefixed, "orders-")}, false,
			alice(opRead, topic, "orders-eu"), true},
		{"a prefixed allow covers its own name", []Binding{bind(allow, "User:alice", opRead, topic, prefixed, "orders")}, false,
			alice(opRead, topic, "orders"), true},
		{"a prefixed allow does not cover a shorter name", []Binding{bind(allow, "User:alice", opRead, topic, prefixed, "orders-")}, false,
			alice(opRead, topic, "orders"), false},
		{"a prefixed allow does not cover other names", []Binding{bind(allow, "User:alice", opRead, topic, prefixed, "orders-")}, false,
			alice(opRead, topic, "payments"), false},
		{"a prefixed * is a prefix, not a wildcard", []Binding{bind(allow, "User:alice", opRead, topic, prefixed, "*")}, false,
			alice(opRead, topic, "t"), false},
		{"the literal * covers every name of its type", []Binding{bind(allow, "User:alice", opRead, topic, literal, "*")}, false,
			alice(opRead, topic, "anything"), true},
		{"the literal * does not cover another type", []Binding{bind(allow, "User:alice", opRead, topic, literal, "*")}, false,
			alice(opRead, group, "anything"), false},
		{"a literal binding is not a prefix", []Binding{bind(allow, "User:alice", opRead, topic, literal, "t")}, false,
			alice(opRead, topic, "t2"), false},

		{"an allow from the client's host", []Binding{bind(allow, "User:alice", opRead, topic, literal, "t").at("10.0.0.1")}, false,
			alice(opRead, topic, "t"), true},
		{"an allow from another host", []Binding{bind(allow, "User:alice", opRead, topic, literal, "t").at("10.0.0.2")}, false,
			alice(opRead, topic, "t"), false},
		{"hosts compare as addresses", []Binding{bind(allow, "User:alice", opRead, topic, literal, "t").at("0:0:0:0:0:0:0:1")}, false,
			aliceFrom("::1", opRead, topic, "t"), true},
		{"an IPv4-mapped binding host matches the IPv4 client", []Binding{bind(allow, "User:alice", opRead, topic, literal, "t").at("::ffff:10.0.0.1")}, false,
			alice(opRead, topic, "t"), true},

		{"no binding at all, allowIfNoACL", nil, true, alice(opWrite, topic, "t"), true},
		{"no binding at all, not allowIfNoACL", nil, false, alice(opWrite, topic, "t"), false},
		{"bindings only on another resource, allowIfNoACL", []Binding{bind(allow, "User:bob", opRead, topic, literal, "other")}, true,
			alice(opWrite, topic, "t"), true},
		{"bindings only on another resource type, allowIfNoACL", []Binding{bind(deny, "User:alice", opAll, group, literal, "t")}, true,
			alice(opWrite, topic, "t"), true},
		{"a binding for another principal on the resource, allowIfNoACL", []Binding{bind(allow, "User:bob", opRead, topic, literal, "t")}, true,
			alice(opRead, topic, "t"), false},
		{"a binding for another operation on the resource, allowIfNoACL", []Binding{bind(allow, "User:alice", opRead, topic, literal, "t")}, true,
			alice(opWrite, topic, "t"), false},
		{"a wildcard binding for another principal counts, allowIfNoACL", []Binding{bind(allow, "User:bob", opRead, topic, literal, "*")}, true,
			alice(opRead, topic, "t"), false},
		{"a prefixed binding for another principal counts, allowIfNoACL", []Binding{bind(allow, "User:bob", opRead, topic, prefixed, "t")}, true,
			alice(opRead, topic, "t1"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAuthorizer([]string{"User:admin"}, tc.allowIfNoACL)
			a.SetBindings(NewSet(tc.bindings))
			r := tc.req
			if got := a.Authorize(r.principal, r.host, r.op, r.rt, r.name); got != tc.want {
				t.Fatalf("Authorize(%+v) = %v, want %v", r, got, tc.want)
			}
		})
	}
}

func bits(ops ...kmsg.ACLOperation) int32 {
	var b int32
	for _, op := range ops {
		b |= 1 << uint(op)
	}
	return b
}

func TestAuthorizedOperations(t *testing.T) {
	for _, tc := range []struct {
		name         string
		bindings     []Binding
		allowIfNoACL bool
		req          request // op is ignored
		want         int32
	}{
		{"read on a topic: read and the implied describe", []Binding{bind(allow, "User:alice", opRead, topic, literal, "t")}, false,
			alice(0, topic, "t"), bits(opRead, opDescribe)},
		{"alter configs on a topic: alter and describe configs", []Binding{bind(allow, "User:alice", opAlterConfigs, topic, prefixed, "")}, false,
			alice(0, topic, "t"), bits(opAlterConfigs, opDescribeConfigs)},
		{"ALL on a topic but a deny of write", []Binding{
			bind(allow, "User:alice", opAll, topic, literal, "*"),
			bind(deny, "User:alice", opWrite, topic, literal, "t")}, false,
			alice(0, topic, "t"), bits(opRead, opCreate, opDelete, opAlter, opDescribe, opDescribeConfigs, opAlterConfigs)},
		{"ALL on a group: the group operations only", []Binding{bind(allow, "User:*", opAll, group, literal, "g")}, false,
			alice(0, group, "g"), bits(opRead, opDelete, opDescribe)},
		{"ALL on the cluster: the cluster operations only", []Binding{bind(allow, "User:alice", opAll, cluster, literal, ClusterName)}, false,
			alice(0, cluster, ClusterName), bits(opCreate, opAlter, opDescribe, opClusterAction, opDescribeConfigs, opAlterConfigs, opIdempotentWrite)},
		{"write on a transactional id", []Binding{bind(allow, "User:alice", opWrite, txnID, literal, "tx")}, false,
			alice(0, txnID, "tx"), bits(opWrite, opDescribe)},
		{"no binding, allowIfNoACL: every topic operation", nil, true,
			alice(0, topic, "t"), bits(Operations(topic)...)},
		{"no binding, not allowIfNoACL: none", nil, false, alice(0, topic, "t"), 0},
		{"a super user: every operation", nil, false,
			request{"User:admin", "10.0.0.1", 0, group, "g"}, bits(Operations(group)...)},
		{"an unsupported type: none", nil, true, alice(0, kmsg.ACLResourceTypeDelegationToken, "d"), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAuthorizer([]string{"User:admin"}, tc.allowIfNoACL)
			a.SetBindings(NewSet(tc.bindings))
			r := tc.req
			if got := a.AuthorizedOperations(r.principal, r.host, r.rt, r.name); got != tc.want {
				t.Fatalf("AuthorizedOperations(%+v) = %#x, want %#x", r, got, tc.want)
			}
		})
	}
}

func TestNilAuthorizerAllowsEverything(t *testing.T) {
	var a *Authorizer
	a.SetBindings(NewSet([]Binding{bind(deny, "User:*", opAll, topic, literal, "*")})) // no effect, no panic
	if a.Bindings() != nil {
		t.Fatal("nil Authorizer has bindings")
	}
	if !a.Authorize("User:alice", "10.0.0.1", opWrite, topic, "t") {
		t.Fatal("nil Authorizer denied a write")
	}
	for _, rt := range []kmsg.ACLResourceType{topic, group, cluster, txnID} {
		if got, want := a.AuthorizedOperations("User:alice", "10.0.0.1", rt, "x"), bits(Operations(rt)...); got != want {
			t.Fatalf("AuthorizedOperations(%s) = %#x, want %#x", rt, got, want)
		}
	}
}

func TestAuthorizerBeforeSetBindings(t *testing.T) {
	for _, allowIfNoACL := range []bool{true, false} {
		a := NewAuthorizer(nil, allowIfNoACL)
		if got := a.Authorize("User:alice", "10.0.0.1", opRead, topic, "t"); got != allowIfNoACL {
			t.Fatalf("allowIfNoACL=%v: Authorize with no set = %v", allowIfNoACL, got)
		}
	}
}

// TestSetBindingsConcurrentWithAuthorize is meant for -race: swapping the
// set while other goroutines decide is not a data race, and the last set
// swapped in is the one in effect.
func TestSetBindingsConcurrentWithAuthorize(t *testing.T) {
	allowSet := NewSet([]Binding{bind(allow, "User:alice", opRead, topic, literal, "t")})
	denySet := NewSet([]Binding{bind(deny, "User:alice", opRead, topic, literal, "t")})
	a := NewAuthorizer(nil, false)
	a.SetBindings(allowSet)

	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				a.Authorize("User:alice", "10.0.0.1", opRead, topic, "t")
				a.AuthorizedOperations("User:alice", "10.0.0.1", topic, "t")
			}
		})
	}
	for i := range 2000 {
		if i%2 == 0 {
			a.SetBindings(denySet)
		} else {
			a.SetBindings(allowSet)
		}
	}
	close(stop)
	wg.Wait()
	if a.Authorize("User:alice", "10.0.0.1", opRead, topic, "t") != true {
		t.Fatal("the last set (allow) is not in effect")
	}
}

func TestSet(t *testing.T) {
	b1 := bind(allow, "User:bob", opRead, topic, literal, "b")
	b2 := bind(allow, "User:alice", opRead, topic, literal, "a")
	b3 := bind(deny, "User:alice", opWrite, group, prefixed, "a")
	s := NewSet([]Binding{b1, b3, b2, b1})
	if s.Len() != 3 {
		t.Fatalf("Len() = %d, want 3 (duplicates dropped)", s.Len())
	}
	want := []Binding{b2, b1, b3} // by type, then name
	got := s.Bindings()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Bindings() = %v, want %v", got, want)
	}
	got[0] = b3 // a copy: the set is unchanged
	if s.Bindings()[0] != b2 {
		t.Fatal("Bindings() exposed the set's slice")
	}
	f := anyFilter
	f.Principal = ptr("User:alice")
	if got, want := s.Matching(f), []Binding{b2, b3}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Matching(alice) = %v, want %v", got, want)
	}
	var empty *Set
	if empty.Len() != 0 || empty.Bindings() != nil || empty.Matching(anyFilter) != nil {
		t.Fatal("a nil Set is not empty")
	}
}

// TestAuthorizeAgreesWithScan checks the index against the definition:
// a scan of every binding with Filter-free matching, on random sets.
func TestAuthorizeAgreesWithScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"", "a", "ab", "abc", "abd", "b", "ba", "*"}
	principals := []string{"User:alice", "User:bob", "User:*"}
	hosts := []string{"*", "10.0.0.1", "10.0.0.2"}
	ops := []kmsg.ACLOperation{opAll, opRead, opWrite, opDescribe, opAlterConfigs, opDescribeConfigs}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	for range 300 {
		var bs []Binding
		for range rng.IntN(8) {
			b := bind(allow, pick(principals), ops[rng.IntN(len(ops))], topic, literal, pick(names[1:])).at(pick(hosts))
			if rng.IntN(2) == 0 {
				b.Permission = deny
			}
			if rng.IntN(2) == 0 {
				b.PatternType = prefixed
			}
			bs = append(bs, b)
		}
		allowIfNoACL := rng.IntN(2) == 0
		a := NewAuthorizer(nil, allowIfNoACL)
		a.SetBindings(NewSet(bs))
		for _, name := range names[1:] {
			for _, op := range ops[1:] {
				got := a.Authorize("User:alice", "10.0.0.1", op, topic, name)
				if want := scan(bs, allowIfNoACL, "User:alice", "10.0.0.1", op, topic, name); got != want {
					t.Fatalf("bindings %v: Authorize(%s %q) = %v, scan says %v", bs, op, name, got, want)
				}
			}
		}
	}
}

// scan is Authorize written as the plain definition, for comparison.
func scan(bs []Binding, allowIfNoACL bool, principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	var applies, allowed bool
	for _, b := range bs {
		f := Filter{ResourceType: rt, ResourceName: &name, PatternType: match,
			Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}
		if !f.Matches(b) {
			continue
		}
		applies = true
		if (b.Principal != principal && b.Principal != "User:*") || (b.Host != host && b.Host != "*") {
			continue
		}
		if b.Permission == deny && (b.Operation == op || b.Operation == opAll) {
			return false
		}
		if b.Permission == allow && implies(b.Operation, op) {
			allowed = true
		}
	}
	return allowed || (!applies && allowIfNoACL)
}

// BenchmarkAuthorize decides requests against 10,000 bindings: 9,000
// literal topic reads for 500 principals and 1,000 prefixed topic writes
// over 60 distinct prefix lengths.
func BenchmarkAuthorize(b *testing.B) {
	bs := make([]Binding, 0, 10_000)
	for i := range 9_000 {
		bs = append(bs, bind(allow, fmt.Sprintf("User:u%d", i%500), opRead, topic, literal, fmt.Sprintf("topic-%d", i)))
	}
	for i := range 1_000 {
		prefix := strings.Repeat("x", i%20) + fmt.Sprintf("%d-", i)
		bs = append(bs, bind(allow, fmt.Sprintf("User:u%d", i%500), opWrite, topic, prefixed, prefix))
	}
	a := NewAuthorizer([]string{"User:admin"}, false)
	a.SetBindings(NewSet(bs))
	for _, bc := range []struct {
		name string
		req  request
		want bool
	}{
		{"literal allow", request{"User:u42", "10.0.0.1", opRead, topic, "topic-42"}, true},
		{"prefixed allow, long name", request{"User:u19", "10.0.0.1", opWrite, topic, strings.Repeat("x", 19) + "19-orders-eu-west-1"}, true},
		{"no match, long name", request{"User:u1", "10.0.0.1", opRead, topic, strings.Repeat("x", 30) + "-unknown-topic"}, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := bc.req
			if got := a.Authorize(r.principal, r.host, r.op, r.rt, r.name); got != bc.want {
				b.Fatalf("Authorize(%+v) = %v, want %v", r, got, bc.want)
			}
			b.ReportAllocs()
			for b.Loop() {
				a.Authorize(r.principal, r.host, r.op, r.rt, r.name)
			}
		})
	}
}
