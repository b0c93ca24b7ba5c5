package acl

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Set is an immutable set of bindings, indexed so that the bindings that
// apply to one resource are found without looking at the others: literal
// bindings by (type, name), prefixed bindings by type and prefix, with the
// distinct prefix lengths of each type kept so that a lookup costs one map
// probe per distinct length, not one per binding. A nil *Set is empty.
type Set struct {
	all      []Binding
	literal  map[resource][]entry
	prefixed map[kmsg.ACLResourceType]*prefixIndex
}

// resource is a resource type and name, the key of the literal index.
type resource struct {
	typ  kmsg.ACLResourceType
	name string
}

// prefixIndex holds the prefixed bindings of one resource type.
type prefixIndex struct {
	byPrefix map[string][]entry
	lengths  []int // distinct len(prefix) in byPrefix, ascending
}

// entry is the part of a binding Authorize compares once the resource
// matched; host is in netip's canonical form when it is an address.
type entry struct {
	principal string
	host      string
	op        kmsg.ACLOperation
	perm      kmsg.ACLPermissionType
}

// NewSet returns the set of bs, without duplicates, in a stable order. Every
// binding is kept for Bindings and Matching; only literal and prefixed ones
// take part in authorization (Validate refuses any other). NewSet does not
// keep bs.
func NewSet(bs []Binding) *Set {
	all := slices.Clone(bs)
	slices.SortFunc(all, compareBindings)
	all = slices.Compact(all)
	s := &Set{
		all:      all,
		literal:  make(map[resource][]entry),
		prefixed: make(map[kmsg.ACLResourceType]*prefixIndex),
	}
	for _, b := range all {
		e := entry{principal: b.Principal, host: canonicalHost(b.Host), op: b.Operation, perm: b.Permission}
		switch b.PatternType {
		case kmsg.ACLResourcePatternTypeLiteral:
			k := resource{b.ResourceType, b.ResourceName}
			s.literal[k] = append(s.literal[k], e)
		case kmsg.ACLResourcePatternTypePrefixed:
			p := s.prefixed[b.ResourceType]
			if p == nil {
				p = &prefixIndex{byPrefix: make(map[string][]entry)}
				s.prefixed[b.ResourceType] = p
			}
			if _, ok := p.byPrefix[b.ResourceName]; !ok {
				p.lengths = append(p.lengths, len(b.ResourceName))
			}
			p.byPrefix[b.ResourceName] = append(p.byPrefix[b.ResourceName], e)
		}
	}
	for _, p := range s.prefixed {
		slices.Sort(p.lengths)
		p.lengths = slices.Compact(p.lengths)
	}
	return s
}

// canonicalHost returns an address host in the form netip.Addr.String gives
// it (IPv4-mapped IPv6 addresses as IPv4), and any other host unchanged.
func canonicalHost(h string) string {
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap().String()
	}
	return h
}

func compareBindings(a, b Binding) int {
	return cmp.Or(
		cmp.Compare(a.ResourceType, b.ResourceType),
		strings.Compare(a.ResourceName, b.ResourceName),
		cmp.Compare(a.PatternType, b.PatternType),
		strings.Compare(a.Principal, b.Principal),
		strings.Compare(a.Host, b.Host),
		cmp.Compare(a.Operation, b.Operation),
		cmp.Compare(a.Permission, b.Permission),
	)
}

// Len returns the number of bindings in s.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.all)
}

// Bindings returns a copy of the bindings of s, ordered by resource type,
// resource name, pattern type, principal, host, operation and permission.
func (s *Set) Bindings() []Binding {
	if s == nil {
		return nil
	}
	return slices.Clone(s.all)
}

// Matching returns the bindings of s that f selects, in the order of
// Bindings: the answer to DescribeAcls, and what DeleteAcls deletes.
func (s *Set) Matching(f Filter) []Binding {
	if s == nil {
		return nil
	}
	var out []Binding
	for _, b := range s.all {
		if f.Matches(b) {
			out = append(out, b)
		}
	}
	return out
}

// forResource calls fn with each group of entries that applies to the
// resource (rt, name): literal name, literal "*", and every prefix of name,
// stopping when fn returns false.
func (s *Set) forResource(rt kmsg.ACLResourceType, name string, fn func([]entry) bool) {
	if s == nil {
		return
	}
	if es := s.literal[resource{rt, name}]; len(es) > 0 && !fn(es) {
		return
	}
	if name != WildcardResource {
		if es := s.literal[resource{rt, WildcardResource}]; len(es) > 0 && !fn(es) {
			return
		}
	}
	p := s.prefixed[rt]
	if p == nil {
		return
	}
	for _, n := range p.lengths {
		if n > len(name) {
			return
		}
		if es := p.byPrefix[name[:n]]; len(es) > 0 && !fn(es) {
			return
		}
	}
}
