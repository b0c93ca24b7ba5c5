package quota

import (
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// EntityFromKmsg converts an AlterClientQuotas entry's entity: types "user"
// and "client-id", each at most once, a nil name meaning the default. The
// result is validated (Kafka also rejects empty names and empty entities).
func EntityFromKmsg(ents []kmsg.AlterClientQuotasRequestEntryEntity) (Entity, error) {
	var e Entity
	for _, x := range ents {
		c := &Component{Default: x.Name == nil}
		if x.Name != nil {
			c.Name = *x.Name
		}
		var slot **Component
		switch x.Type {
		case EntityTypeUser:
			slot = &e.User
		case EntityTypeClientID:
			slot = &e.ClientID
		default:
			return Entity{}, fmt.Errorf("%w %q", ErrUnknownEntityType, x.Type)
		}
		if *slot != nil {
			return Entity{}, fmt.Errorf("%w: %q", ErrDuplicateEntityType, x.Type)
		}
		*slot = c
	}
	if err := e.Validate(); err != nil {
		return Entity{}, err
	}
	return e, nil
}

// DescribeKmsg is e as a DescribeClientQuotas response entry's entity, user
// first, a default component having a nil name.
func (e Entity) DescribeKmsg() []kmsg.DescribeClientQuotasResponseEntryEntity {
	var out []kmsg.DescribeClientQuotasResponseEntryEntity
	add := func(typ string, c *Component) {
		if c == nil {
			return
		}
		x := kmsg.NewDescribeClientQuotasResponseEntryEntity()
		x.Type = typ
		if !c.Default {
			x.Name = kmsg.StringPtr(c.Name)
		}
		out = append(out, x)
	}
	add(EntityTypeUser, e.User)
	add(EntityTypeClientID, e.ClientID)
	return out
}

// DescribeKmsg is q as a DescribeClientQuotas response entry's values,
// sorted by key.
func (q Quotas) DescribeKmsg() []kmsg.DescribeClientQuotasResponseEntryValue {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]kmsg.DescribeClientQuotasResponseEntryValue, 0, len(keys))
	for _, k := range keys {
		v := kmsg.NewDescribeClientQuotasResponseEntryValue()
		v.Key, v.Value = k, q[k]
		out = append(out, v)
	}
	return out
}
