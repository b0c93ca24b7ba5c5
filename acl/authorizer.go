package acl

import (
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Authorizer decides whether a principal may perform an operation on a
// resource, as Kafka's StandardAuthorizer does. It holds an immutable *Set
// that SetBindings replaces atomically, so Authorize takes no lock and is
// safe to call from any goroutine while the bindings change.
//
// A nil *Authorizer is the authorizer switched off: it allows everything.
type Authorizer struct {
	superUsers   map[string]struct{}
	allowIfNoACL bool
	set          atomic.Pointer[Set] // nil until SetBindings: no bindings
}

// NewAuthorizer returns an Authorizer with no bindings. superUsers are
// principals ("User:admin") allowed everything; allowIfNoACL is Kafka's
// allow.everyone.if.no.acl.found: whether an operation on a resource that
// no binding applies to is allowed.
func NewAuthorizer(superUsers []string, allowIfNoACL bool) *Authorizer {
	a := &Authorizer{superUsers: make(map[string]struct{}, len(superUsers)), allowIfNoACL: allowIfNoACL}
	for _, u := range superUsers {
		a.superUsers[u] = struct{}{}
	}
	return a
}

// SetBindings makes s the bindings every later Authorize decides with; calls
// already running finish with the set they loaded. A nil s means no
// bindings. It does nothing on a nil Authorizer.
func (a *Authorizer) SetBindings(s *Set) {
	if a == nil {
		return
	}
	a.set.Store(s)
}

// Bindings returns the set Authorize currently decides with, or nil.
func (a *Authorizer) Bindings() *Set {
	if a == nil {
		return nil
	}
	return a.set.Load()
}

// Authorize reports whether principal ("User:alice"), connected from host
// (the client's IP address as netip.Addr.String gives it, IPv4-mapped
// addresses unmapped), may perform op on the resource of type rt named name
// (ClusterName for the cluster). The rules are Kafka's:
//
//  1. a super user is allowed;
//  2. the bindings that apply are those on the resource: literal of that
//     name, literal "*", and prefixed whose name is a prefix of it; of those,
//     a binding matches the request when its principal is principal or
//     "User:*" and its host is host or "*";
//  3. a matching DENY of op or ALL denies;
//  4. a matching ALLOW of op or ALL allows; so does an ALLOW of READ, WRITE,
//     DELETE or ALTER when op is DESCRIBE, and of ALTER_CONFIGS when op is
//     DESCRIBE_CONFIGS;
//  5. otherwise, if no binding at all applies to the resource, whatever its
//     principal, host or operation, allowIfNoACL decides;
//  6. otherwise the request is denied.
//
// op must be a concrete operation: UNKNOWN and ANY are denied to everyone
// but super users.
//
// Its cost grows with the bindings on the resource and the number of
// distinct prefix lengths, not with the size of the set.
func (a *Authorizer) Authorize(principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	if a == nil {
		return true
	}
	if a.isSuper(principal) {
		return true
	}
	return a.decide(a.set.Load(), principal, host, op, rt, name)
}

func (a *Authorizer) decide(s *Set, principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	if op == kmsg.ACLOperationUnknown || op == kmsg.ACLOperationAny {
		return false // not an operation a request performs
	}
	var applies, allowed, denied bool
	s.forResource(rt, name, func(es []entry) bool {
		applies = true
		for i := range es {
			e := &es[i]
			if e.principal != principal && e.principal != WildcardPrincipal {
				continue
			}
			if e.host != host && e.host != WildcardHost {
				continue
			}
			switch e.perm {
			case kmsg.ACLPermissionTypeDeny:
				if e.op == op || e.op == kmsg.ACLOperationAll {
					denied = true
					return false
				}
			case kmsg.ACLPermissionTypeAllow:
				if implies(e.op, op) {
					allowed = true
				}
			}
		}
		return true
	})
	switch {
	case denied:
		return false
	case allowed:
		return true
	case !applies:
		return a.allowIfNoACL
	default:
		return false
	}
}

// implies reports whether an ALLOW of granted allows op (KIP-253's implied
// DESCRIBE and DESCRIBE_CONFIGS). Implication never applies to DENY.
func implies(granted, op kmsg.ACLOperation) bool {
	if granted == op || granted == kmsg.ACLOperationAll {
		return true
	}
	switch op {
	case kmsg.ACLOperationDescribe:
		switch granted {
		case kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationDelete, kmsg.ACLOperationAlter:
			return true
		}
	case kmsg.ACLOperationDescribeConfigs:
		return granted == kmsg.ACLOperationAlterConfigs
	}
	return false
}

// AuthorizedOperations returns KIP-430's authorized-operations bit field for
// the resource: bit i is set when Authorize allows operation i, for each
// operation Operations(rt) lists (never ALL, as in Kafka). On a nil
// Authorizer every one of those bits is set. A type without operations
// (delegation token, user) gives 0.
func (a *Authorizer) AuthorizedOperations(principal, host string, rt kmsg.ACLResourceType, name string) int32 {
	var bits int32
	var s *Set
	if a != nil {
		s = a.set.Load()
	}
	for _, op := range Operations(rt) {
		if a == nil || a.isSuper(principal) || a.decide(s, principal, host, op, rt, name) {
			bits |= 1 << uint(op)
		}
	}
	return bits
}

func (a *Authorizer) isSuper(principal string) bool {
	_, ok := a.superUsers[principal]
	return ok
}
