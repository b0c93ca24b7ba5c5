package acl

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Matches reports whether f selects b, as Kafka's AclBindingFilter does:
//
//   - ResourceType, Operation and Permission match b's equal value, or
//     anything when ANY;
//   - Principal and Host, when set, match only b's equal string: a filter
//     for "User:*" selects the wildcard bindings, not every principal's;
//   - PatternType ANY with a name selects the bindings of that exact name
//     whatever their pattern; LITERAL or PREFIXED select bindings of that
//     pattern and exact name (LITERAL "*" selects only the literal wildcard
//     binding); MATCH selects the bindings that would apply to a resource of
//     that name: literal of that name, literal "*", and prefixed bindings
//     whose name is a prefix of it;
//   - a nil ResourceName matches every name (MATCH then selects every
//     literal and prefixed binding).
func (f Filter) Matches(b Binding) bool {
	if f.ResourceType != kmsg.ACLResourceTypeAny && f.ResourceType != b.ResourceType {
		return false
	}
	if f.PatternType != kmsg.ACLResourcePatternTypeAny &&
		f.PatternType != kmsg.ACLResourcePatternTypeMatch &&
		f.PatternType != b.PatternType {
		return false
	}
	if f.ResourceName != nil && !f.nameMatches(b) {
		return false
	}
	if f.Principal != nil && *f.Principal != b.Principal {
		return false
	}
	if f.Host != nil && *f.Host != b.Host {
		return false
	}
	if f.Operation != kmsg.ACLOperationAny && f.Operation != b.Operation {
		return false
	}
	return f.Permission == kmsg.ACLPermissionTypeAny || f.Permission == b.Permission
}

// nameMatches applies a non-nil filter name, once the pattern types are
// known to be compatible.
func (f Filter) nameMatches(b Binding) bool {
	name := *f.ResourceName
	if f.PatternType != kmsg.ACLResourcePatternTypeMatch {
		return name == b.ResourceName
	}
	switch b.PatternType {
	case kmsg.ACLResourcePatternTypeLiteral:
		return name == b.ResourceName || b.ResourceName == WildcardResource
	case kmsg.ACLResourcePatternTypePrefixed:
		return strings.HasPrefix(name, b.ResourceName)
	default:
		return false
	}
}
