package quota

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FilterComponent is one component of a DescribeClientQuotas filter.
type FilterComponent struct {
	// EntityType is "user" or "client-id".
	EntityType string
	// MatchType is exact (Match names the entity), default (the default
	// entity of this type) or any (any entity with this type, the default
	// included, as in Kafka's ClientQuotasImage).
	MatchType kmsg.QuotasMatchType
	// Match is the name for an exact match; ignored otherwise. An exact
	// match on "" matches nothing, since no entity has an empty name.
	Match string
}

// The match types of kmsg.QuotasMatchType.
const (
	matchExact   kmsg.QuotasMatchType = 0
	matchDefault kmsg.QuotasMatchType = 1
	matchAny     kmsg.QuotasMatchType = 2
)

// Match returns the entries of all that a DescribeClientQuotas request with
// these components and strict flag describes. Every component must hold for
// an entity to match; with strict, an entity must also have no component
// type that the filter does not name (so an empty strict filter matches
// nothing, and an empty non-strict one everything). Unknown entity types
// give ErrUnknownEntityType; a type named twice, ErrDuplicateEntityType; an
// unknown match type, ErrBadFilter. The returned map shares its keys and
// values with all.
func Match(all map[Entity]Quotas, components []FilterComponent, strict bool) (map[Entity]Quotas, error) {
	var user, client *FilterComponent
	for i := range components {
		c := &components[i]
		var slot **FilterComponent
		switch c.EntityType {
		case EntityTypeUser:
			slot = &user
		case EntityTypeClientID:
			slot = &client
		default:
			return nil, fmt.Errorf("%w %q in filter", ErrUnknownEntityType, c.EntityType)
		}
		if *slot != nil {
			return nil, fmt.Errorf("%w: %q appears more than once in the filter", ErrDuplicateEntityType, c.EntityType)
		}
		switch c.MatchType {
		case matchExact, matchDefault, matchAny:
		default:
			return nil, fmt.Errorf("%w: unknown match type %d for %q", ErrBadFilter, c.MatchType, c.EntityType)
		}
		*slot = c
	}
	out := make(map[Entity]Quotas)
	for e, q := range all {
		if componentMatches(e.User, user, strict) && componentMatches(e.ClientID, client, strict) {
			out[e] = q
		}
	}
	return out, nil
}

// componentMatches reports whether an entity's component c satisfies the
// filter component f (nil: the filter does not name this type).
func componentMatches(c *Component, f *FilterComponent, strict bool) bool {
	if f == nil {
		return c == nil || !strict
	}
	if c == nil {
		return false
	}
	switch f.MatchType {
	case matchExact:
		return !c.Default && c.Name == f.Match && f.Match != ""
	case matchDefault:
		return c.Default
	default: // matchAny
		return true
	}
}

// FiltersFromKmsg converts a DescribeClientQuotas request's components,
// checking what Kafka checks of them that FilterComponent cannot express:
// an exact match needs a match string and the other match types must not
// have one (ErrBadFilter). Entity types are checked by Match.
func FiltersFromKmsg(components []kmsg.DescribeClientQuotasRequestComponent) ([]FilterComponent, error) {
	out := make([]FilterComponent, 0, len(components))
	for _, c := range components {
		f := FilterComponent{EntityType: c.EntityType, MatchType: c.MatchType}
		switch c.MatchType {
		case matchExact:
			if c.Match == nil {
				return nil, fmt.Errorf("%w: exact match on %q without a match string", ErrBadFilter, c.EntityType)
			}
			f.Match = *c.Match
		case matchDefault, matchAny:
			if c.Match != nil {
				return nil, fmt.Errorf("%w: %s match on %q with a match string", ErrBadFilter, c.MatchType, c.EntityType)
			}
		default:
			return nil, fmt.Errorf("%w: unknown match type %d for %q", ErrBadFilter, c.MatchType, c.EntityType)
		}
		out = append(out, f)
	}
	return out, nil
}
