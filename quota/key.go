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

// Key is a stable string naming e, unique among valid entities and safe as
// one segment group of an etcd key: "user=<u>", "client-id=<c>" or
// "user=<u>/client-id=<c>", where each name is escaped (bytes outside
// [A-Za-z0-9._-] become %XX, upper-case hex) and a default component is
// spelled "<default>". ParseKey is its inverse. The format is stored in
// etcd: it is frozen. Key of an invalid entity is not meaningful (an empty
// entity gives "").
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

// ParseKey is the inverse of Entity.Key. It accepts only the canonical
// spelling Key produces, so ParseKey(s).Key() == s for every s it accepts,
// and the entity it returns is valid.
func ParseKey(s string) (Entity, error) {
	var e Entity
	rest := s
	if v, ok := strings.CutPrefix(rest, EntityTypeUser+"="); ok {
		name, tail, _ := strings.Cut(v, "/")
		c, err := parseComponent(name)
		if err != nil {
			return Entity{}, fmt.Errorf("%w %q: %s: %w", ErrBadKey, s, EntityTypeUser, err)
		}
		e.User = c
		if !strings.Contains(v, "/") {
			rest = ""
		} else {
			rest = tail
			if rest == "" {
				return Entity{}, fmt.Errorf("%w %q: trailing '/'", ErrBadKey, s)
			}
		}
	}
	if rest != "" {
		v, ok := strings.CutPrefix(rest, EntityTypeClientID+"=")
		if !ok {
			return Entity{}, fmt.Errorf("%w %q: want user=<name>, client-id=<name> or both joined by a slash", ErrBadKey, s)
		}
		c, err := parseComponent(v)
		if err != nil {
			return Entity{}, fmt.Errorf("%w %q: %s: %w", ErrBadKey, s, EntityTypeClientID, err)
		}
		e.ClientID = c
	}
	if err := e.Validate(); err != nil {
		return Entity{}, fmt.Errorf("%w %q: %w", ErrBadKey, s, err)
	}
	if e.Key() != s {
		return Entity{}, fmt.Errorf("%w %q: not in canonical form", ErrBadKey, s)
	}
	return e, nil
}

func parseComponent(v string) (*Component, error) {
	if v == defaultName {
		return &Component{Default: true}, nil
	}
	var b []byte
	for i := 0; i < len(v); i++ {
		ch := v[i]
		switch {
		case isUnreserved(ch):
			b = append(b, ch)
		case ch == '%':
			if i+2 >= len(v) {
				return nil, fmt.Errorf("truncated escape at byte %d", i)
			}
			hi, ok1 := unhex(v[i+1])
			lo, ok2 := unhex(v[i+2])
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("bad escape at byte %d", i)
			}
			b = append(b, hi<<4|lo)
			i += 2
		default:
			return nil, fmt.Errorf("unescaped byte %q at %d", ch, i)
		}
	}
	return &Component{Name: string(b)}, nil
}

// unhex decodes an upper-case hex digit; lower case is not canonical.
func unhex(ch byte) (byte, bool) {
	switch {
	case '0' <= ch && ch <= '9':
		return ch - '0', true
	case 'A' <= ch && ch <= 'F':
		return ch - 'A' + 10, true
	}
	return 0, false
}
