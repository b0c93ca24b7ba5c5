package quota

import (
	"fmt"
	"strings"
)

// Entity types as Kafka names them in DescribeClientQuotas and
// AlterClientQuotas.
const (
	EntityTypeUser     = "user"
	EntityTypeClientID = "client-id"
)

// defaultName is how Key spells a default component. A real name can never
// be spelled this way because Key escapes '<' and '>'.
const defaultName = "<default>"

// Validate reports whether e names something a quota can be set on: at
// least one component, and each component either the default or a
// non-empty name, never both (Kafka rejects empty names too).
func (e Entity) Validate() error {
	if e.User == nil && e.ClientID == nil {
		return ErrEmptyEntity
	}
	if err := e.User.validate(EntityTypeUser); err != nil {
		return err
	}
	return e.ClientID.validate(EntityTypeClientID)
}

func (c *Component) validate(typ string) error {
	switch {
	case c == nil:
		return nil
	case c.Default && c.Name != "":
		return fmt.Errorf("%w: %s is both the default and named %q", ErrBadComponent, typ, c.Name)
	case !c.Default && c.Name == "":
		return fmt.Errorf("%w: empty %s name is not supported", ErrBadComponent, typ)
	}
	return nil
}

// String is the entity as Key spells it.
func (e Entity) String() string { return e.Key() }

// Key is a string naming e, unique among valid entities, for logs and
// messages: "user=<u>", "client-id=<c>" or "user=<u>/client-id=<c>", where
// each name is escaped (bytes outside [A-Za-z0-9._-] become %XX, upper-case
// hex) and a default component is spelled "<default>". Key of an invalid
// entity is not meaningful (an empty entity gives ""). The etcd keys of
// quotas are package metadata's.
func (e Entity) Key() string {
	var b strings.Builder
	if e.User != nil {
		b.WriteString(EntityTypeUser)
		b.WriteByte('=')
		e.User.appendKey(&b)
	}
	if e.ClientID != nil {
		if e.User != nil {
			b.WriteByte('/')
		}
		b.WriteString(EntityTypeClientID)
		b.WriteByte('=')
		e.ClientID.appendKey(&b)
	}
	return b.String()
}

func (c *Component) appendKey(b *strings.Builder) {
	if c.Default {
		b.WriteString(defaultName)
		return
	}
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(c.Name); i++ {
		ch := c.Name[i]
		if isUnreserved(ch) {
			b.WriteByte(ch)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[ch>>4])
		b.WriteByte(hex[ch&15])
	}
}

func isUnreserved(ch byte) bool {
	return 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' ||
		ch == '.' || ch == '_' || ch == '-'
}
